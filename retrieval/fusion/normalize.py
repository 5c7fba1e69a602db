"""Score normalisations for weighted-sum fusion, chosen by name."""
from __future__ import annotations

from typing import Callable

import numpy as np

Normalizer = Callable[[np.ndarray], np.ndarray]


def minmax(scores: np.ndarray) -> np.ndarray:
    """(s - min) / (max - min); all-equal scores map to 1 (the list is uninformative, not empty)."""
    if scores.size == 0:
        return scores
    low, high = scores.min(), scores.max()
    if high == low:
        return np.ones_like(scores)
    return (scores - low) / (high - low)


def zscore(scores: np.ndarray) -> np.ndarray:
    """(s - mean) / std; a constant list maps to 0."""
    if scores.size == 0:
        return scores
    std = scores.std()
    if std == 0:
        return np.zeros_like(scores)
    return (scores - scores.mean()) / std


def identity(scores: np.ndarray) -> np.ndarray:
    return scores


NORMALIZATIONS: dict[str, Normalizer] = {"minmax": minmax, "zscore": zscore, "none": identity}
