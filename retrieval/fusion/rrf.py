"""Reciprocal rank fusion (Cormack et al., SIGIR 2009): score(d) = sum_r w_r / (k + rank_r(d))."""
from __future__ import annotations

from retrieval.types import Ranking


def rrf(rankings: dict[str, Ranking], weights: dict[str, float], k: float = 60.0, **_: object) -> dict[str, float]:
    fused: dict[str, float] = {}
    for name, ranking in rankings.items():
        weight = weights.get(name, 1.0)
        for rank, doc_id in enumerate(ranking, start=1):
            fused[doc_id] = fused.get(doc_id, 0.0) + weight / (k + rank)
    return fused
