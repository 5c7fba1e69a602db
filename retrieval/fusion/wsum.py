"""Weighted sum of normalised scores (CombSUM with weights).

Each list is normalised on its own; a document missing from a list gets that list's
minimum normalised score (it ranked below everything the list returned).
"""
from __future__ import annotations

import numpy as np

from tandem.retrieval.types import Ranking

from .normalize import NORMALIZATIONS


def wsum(rankings: dict[str, Ranking], weights: dict[str, float], normalization: str = "minmax") -> dict[str, dict[str, float]]:
    """Per document, each list's contribution ``w_r * norm_r(score)`` (absent: the list's minimum)."""
    normalize = NORMALIZATIONS[normalization]
    all_docs: dict[str, None] = {}
    normalized: dict[str, tuple[dict[str, float], float]] = {}
    for name, ranking in rankings.items():
        ids = list(ranking)
        values = normalize(np.fromiter(ranking.values(), dtype=np.float64, count=len(ids)))
        normalized[name] = (dict(zip(ids, values.tolist())), float(values.min()) if values.size else 0.0)
        all_docs.update(dict.fromkeys(ids))
    return {
        doc_id: {name: weights.get(name, 1.0) * scores.get(doc_id, floor) for name, (scores, floor) in normalized.items()}
        for doc_id in all_docs
    }
