"""Result records shared by the searcher, the fusion registry, the evaluator and the service."""
from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(slots=True)
class Component:
    """One retriever's view of a hit: its 1-based rank and raw score (None if it did not retrieve it),
    and its contribution to the fused score (the fused score is the sum of contributions)."""

    rank: int | None
    score: float | None
    contribution: float | None = None


@dataclass(slots=True)
class Hit:
    doc_id: str
    score: float
    rank: int
    components: dict[str, Component] = field(default_factory=dict)


@dataclass(slots=True)
class SearchResult:
    query: str
    mode: str
    hits: list[Hit]
    timings_ms: dict[str, float] = field(default_factory=dict)


# A ranked list from one retriever: doc_id -> score, in rank order.
Ranking = dict[str, float]
