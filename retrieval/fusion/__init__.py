"""Fusion of ranked lists, chosen by name from a registry (``rrf``, ``wsum``)."""
from __future__ import annotations

from typing import Callable

from pydantic import BaseModel, Field, field_validator

from index.errors import TandemError
from retrieval.types import Component, Hit, Ranking

from .normalize import NORMALIZATIONS
from .rrf import rrf
from .wsum import wsum

FUSION_METHODS: dict[str, Callable[..., dict[str, float]]] = {"rrf": rrf, "wsum": wsum}


class FusionConfig(BaseModel):
    """How to merge retrievers; saved as ``fusion.json`` next to an index when tuned."""

    method: str = "rrf"
    rrf_k: float = 60.0
    normalization: str = "minmax"
    weights: dict[str, float] = Field(default_factory=dict, description="retriever -> weight (default 1)")
    depth: int = 100  # candidates taken from each retriever
    retrievers: list[str] | None = None  # None = every retriever the index has

    @field_validator("method")
    @classmethod
    def _known_method(cls, value: str) -> str:
        if value not in FUSION_METHODS:
            raise ValueError(f"unknown fusion method {value!r} (choose {', '.join(FUSION_METHODS)})")
        return value

    @field_validator("normalization")
    @classmethod
    def _known_normalization(cls, value: str) -> str:
        if value not in NORMALIZATIONS:
            raise ValueError(f"unknown normalization {value!r} (choose {', '.join(NORMALIZATIONS)})")
        return value

    @field_validator("depth")
    @classmethod
    def _positive_depth(cls, value: int) -> int:
        if value < 1:
            raise ValueError("depth must be at least 1")
        return value


def fuse(rankings: dict[str, Ranking], config: FusionConfig, k: int) -> list[Hit]:
    """Fuse ranked lists into the top-k hits; each hit carries every component's rank and score.

    Ties in the fused score are broken by doc id so results are deterministic.
    """
    if not rankings:
        raise TandemError("nothing to fuse: no retriever returned a list", "fusion")
    method = FUSION_METHODS[config.method]
    contributions = method(rankings, config.weights, k=config.rrf_k, normalization=config.normalization)
    fused = {doc_id: sum(parts.values()) for doc_id, parts in contributions.items()}
    ordered = sorted(fused.items(), key=lambda item: (-item[1], item[0]))[:k]
    positions = {name: {doc_id: rank for rank, doc_id in enumerate(ranking, start=1)} for name, ranking in rankings.items()}
    hits = []
    for rank, (doc_id, score) in enumerate(ordered, start=1):
        parts = contributions[doc_id]
        components = {
            name: Component(positions[name].get(doc_id), rankings[name].get(doc_id), parts.get(name, 0.0)) for name in rankings
        }
        hits.append(Hit(doc_id, float(score), rank, components))
    return hits


__all__ = ["FUSION_METHODS", "NORMALIZATIONS", "FusionConfig", "fuse", "rrf", "wsum"]
