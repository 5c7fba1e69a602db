"""Reciprocal rank fusion (Cormack et al., SIGIR 2009): score(d) = sum_r w_r / (k + rank_r(d))."""
from __future__ import annotations

from tandem.retrieval.types import Ranking


def rrf(rankings: dict[str, Ranking], weights: dict[str, float], k: float = 60.0) -> dict[str, dict[str, float]]:
    """Per document, each list's contribution ``w_r / (k + rank)`` (absent lists contribute nothing)."""
    contributions: dict[str, dict[str, float]] = {}
    for name, ranking in rankings.items():
        weight = weights.get(name, 1.0)
        for rank, doc_id in enumerate(ranking, start=1):
            contributions.setdefault(doc_id, {})[name] = weight / (k + rank)
    return contributions
