"""Paired significance tests over per-query metric values (aligned on query ids)."""
from __future__ import annotations

import numpy as np
from scipy import stats


def _aligned(a: dict[str, float], b: dict[str, float]) -> tuple[np.ndarray, np.ndarray]:
    qids = sorted(set(a) | set(b))
    return np.array([a.get(q, 0.0) for q in qids]), np.array([b.get(q, 0.0) for q in qids])


def paired_t_test(a: dict[str, float], b: dict[str, float]) -> float:
    """Two-sided paired t-test p-value (1.0 when the two are identical)."""
    x, y = _aligned(a, b)
    if np.allclose(x, y):
        return 1.0
    return float(stats.ttest_rel(x, y).pvalue)


def permutation_test(a: dict[str, float], b: dict[str, float], permutations: int = 10_000, seed: int = 0) -> float:
    """Two-sided paired randomisation test: randomly swap each query's pair, compare |mean diff|."""
    x, y = _aligned(a, b)
    diff = x - y
    observed = abs(diff.mean())
    if observed == 0:
        return 1.0
    rng = np.random.default_rng(seed)
    signs = rng.choice(np.array([-1.0, 1.0]), size=(permutations, diff.size))
    extreme = np.count_nonzero(np.abs((signs * diff).mean(axis=1)) >= observed - 1e-12)
    return float((extreme + 1) / (permutations + 1))


def holm(p_values: list[float]) -> list[float]:
    """Holm–Bonferroni adjusted p-values for multiple comparisons."""
    order = np.argsort(p_values)
    adjusted = np.empty(len(p_values))
    running = 0.0
    for rank, i in enumerate(order):
        running = max(running, min(1.0, (len(p_values) - rank) * p_values[i]))
        adjusted[i] = running
    return adjusted.tolist()


def compare(a: dict[str, float], b: dict[str, float], permutations: int = 10_000) -> dict:
    x, y = _aligned(a, b)
    return {
        "mean_a": float(x.mean()),
        "mean_b": float(y.mean()),
        "diff": float((x - y).mean()),
        "wins": int(np.count_nonzero(x > y)),
        "losses": int(np.count_nonzero(x < y)),
        "p_ttest": paired_t_test(a, b),
        "p_permutation": permutation_test(a, b, permutations),
    }
