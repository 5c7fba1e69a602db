"""Paired significance tests over per-query metric values of two conditions.

Both conditions must be scored on the same query ids (as :func:`tandem.eval.metrics.evaluate` gives: one
value for every qrels query); values are aligned on the sorted query ids. Tests are two-sided.

* :func:`paired_t_test` — scipy's ``ttest_rel``.
* :func:`permutation_test` — paired randomisation test (Fisher; Smucker et al. 2007): each query's
  pair of values is swapped at random (the sign of its difference flipped), ``permutations`` times
  with a fixed seed; p = (1 + #{|mean diff| >= observed}) / (1 + permutations). With 2^n <=
  ``permutations`` (n queries) all sign assignments are enumerated and p is exact.
* :func:`adjust` — Bonferroni or Holm correction for several comparisons.
"""
from __future__ import annotations

from itertools import product
from typing import Mapping, Sequence

import numpy as np
from scipy import stats

from tandem.index.errors import TandemError

_TOLERANCE = 1e-12
_BLOCK = 1 << 22  # sign-matrix elements per chunk (32 MiB of float64)


def aligned(a: Mapping[str, float], b: Mapping[str, float]) -> tuple[list[str], np.ndarray, np.ndarray]:
    """Sorted common query ids and the two value vectors; the id sets must be equal."""
    if set(a) != set(b):
        only_a, only_b = sorted(set(a) - set(b)), sorted(set(b) - set(a))
        raise TandemError(
            f"per-query values are not on the same queries ({len(only_a)} only in the first, e.g. {only_a[:3]}; "
            f"{len(only_b)} only in the second, e.g. {only_b[:3]})",
            "significance",
        )
    qids = sorted(a)
    return qids, np.array([a[q] for q in qids], dtype=float), np.array([b[q] for q in qids], dtype=float)


def _aligned(a, b):  # backward-compatible name
    _, x, y = aligned(a, b)
    return x, y


def mean_difference(a: Mapping[str, float], b: Mapping[str, float]) -> float:
    """Mean over queries of a - b."""
    _, x, y = aligned(a, b)
    return float((x - y).mean()) if x.size else 0.0


def paired_t_test(a: Mapping[str, float], b: Mapping[str, float]) -> float:
    """Two-sided paired t-test p-value. 1.0 when every difference is 0; 0.0 when every difference is
    the same non-zero value (no variance); NaN with fewer than 2 queries."""
    _, x, y = aligned(a, b)
    diff = x - y
    if diff.size and np.all(np.abs(diff) <= _TOLERANCE):
        return 1.0
    if diff.size < 2:
        return float("nan")
    if np.ptp(diff) <= _TOLERANCE:
        return 0.0
    return float(stats.ttest_rel(x, y).pvalue)


def permutation_test(a: Mapping[str, float], b: Mapping[str, float], permutations: int = 10_000, seed: int = 0) -> float:
    """Two-sided paired randomisation test p-value (see the module docstring)."""
    if permutations < 1:
        raise TandemError("permutations must be >= 1", "permutations")
    _, x, y = aligned(a, b)
    diff = x - y
    n = diff.size
    observed = abs(diff.mean()) if n else 0.0
    if observed <= _TOLERANCE:
        return 1.0
    threshold = observed - _TOLERANCE
    if 2**n <= permutations:  # exact: every assignment of signs
        signs = np.array(list(product((1.0, -1.0), repeat=n)))
        return float(np.count_nonzero(np.abs(signs @ diff) / n >= threshold) / len(signs))
    rng = np.random.default_rng(seed)
    rows = max(1, _BLOCK // n)
    extreme = 0
    done = 0
    while done < permutations:
        m = min(rows, permutations - done)
        signs = rng.integers(0, 2, size=(m, n), dtype=np.int8).astype(np.float64) * 2.0 - 1.0
        extreme += int(np.count_nonzero(np.abs(signs @ diff) / n >= threshold))
        done += m
    return float((extreme + 1) / (permutations + 1))


def holm(p_values: Sequence[float]) -> list[float]:
    """Holm–Bonferroni adjusted p-values (step-down; monotone; capped at 1).

    A NaN p-value (a test that could not be run) stays NaN and does not count as a comparison.
    """
    p = np.asarray(p_values, dtype=float)
    adjusted = np.full(len(p), np.nan)
    tested = np.flatnonzero(~np.isnan(p))
    running = 0.0
    for rank, i in enumerate(tested[np.argsort(p[tested], kind="stable")]):
        running = max(running, min(1.0, (len(tested) - rank) * p[i]))
        adjusted[i] = running
    return adjusted.tolist()


def bonferroni(p_values: Sequence[float]) -> list[float]:
    """Bonferroni adjusted p-values (capped at 1); NaN stays NaN and does not count as a comparison."""
    p = np.asarray(p_values, dtype=float)
    return np.minimum(1.0, p * np.count_nonzero(~np.isnan(p))).tolist()


def adjust(p_values: Sequence[float], method: str | None = "holm") -> list[float]:
    """Adjust p-values for multiple comparisons: ``"holm"``, ``"bonferroni"`` or None (unchanged)."""
    if method is None or method == "none":
        return [float(v) for v in p_values]
    if method == "holm":
        return holm(p_values)
    if method == "bonferroni":
        return bonferroni(p_values)
    raise TandemError(f"unknown correction {method!r} (holm, bonferroni, none)", "correction")


def compare(a: Mapping[str, float], b: Mapping[str, float], permutations: int = 10_000, seed: int = 0) -> dict:
    """Means, mean difference (a - b), wins/losses/ties, and both p-values."""
    _, x, y = aligned(a, b)
    diff = x - y
    return {
        "num_queries": int(x.size),
        "mean_a": float(x.mean()) if x.size else 0.0,
        "mean_b": float(y.mean()) if y.size else 0.0,
        "diff": float(diff.mean()) if x.size else 0.0,
        "wins": int(np.count_nonzero(diff > _TOLERANCE)),
        "losses": int(np.count_nonzero(diff < -_TOLERANCE)),
        "ties": int(np.count_nonzero(np.abs(diff) <= _TOLERANCE)),
        "p_ttest": paired_t_test(a, b),
        "p_permutation": permutation_test(a, b, permutations, seed),
    }
