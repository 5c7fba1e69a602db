"""Fusion of ranked lists, chosen by name from a registry (``rrf``, ``wsum``)."""
from __future__ import annotations

import math
from typing import Any, Callable, Iterable, Sequence

from pydantic import BaseModel, Field, ValidationError, field_validator

from tandem.index.errors import TandemError, first_validation_error
from tandem.retrieval.types import Component, Hit, Ranking

from .normalize import NORMALIZATIONS
from .rrf import rrf
from .wsum import wsum

Contributions = dict[str, dict[str, float]]  # doc id -> retriever -> its share of the fused score

# Each method reads only the settings it uses: rrf its k, wsum its normalisation; both the weights.
FUSION_METHODS: dict[str, Callable[[dict[str, Ranking], "FusionConfig"], Contributions]] = {
    "rrf": lambda rankings, config: rrf(rankings, config.weights, k=config.rrf_k),
    "wsum": lambda rankings, config: wsum(rankings, config.weights, normalization=config.normalization),
}


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

    @field_validator("rrf_k")
    @classmethod
    def _positive_finite_rrf_k(cls, value: float) -> float:
        if not math.isfinite(value) or value <= 0:
            raise ValueError(f"rrf_k must be a finite number above 0, got {value}")
        return value

    @field_validator("weights")
    @classmethod
    def _finite_non_negative_weights(cls, value: dict[str, float]) -> dict[str, float]:
        for name, weight in value.items():
            if not math.isfinite(weight) or weight < 0:
                raise ValueError(f"weight of {name!r} must be a finite number >= 0, got {weight}")
        return value


def check_retriever_names(names: Iterable[str], retrievers: Sequence[str], where: str) -> None:
    """Refuse retriever names (in weights or a retriever list) that the index does not have."""
    unknown = [name for name in dict.fromkeys(names) if name not in retrievers]
    if unknown:
        raise TandemError(f"unknown retriever(s) {', '.join(map(repr, unknown))}; this index has {', '.join(retrievers)}", where)


def override_fusion(base: FusionConfig, overrides: dict[str, Any], retrievers: Sequence[str], where: Callable[[str], str]) -> FusionConfig:
    """``base`` with the given fields replaced, validated; the one check behind the CLI and REST overrides.

    ``overrides`` holds only the fields the user set. Weights are merged over the base weights (a
    retriever named nowhere keeps weight 1). Retriever names must be ones ``retrievers`` lists.
    ``where(field)`` names a field for the error (``--rrf-k``, ``fusion.rrf_k``); errors are
    :class:`TandemError`.
    """
    values = dict(overrides)
    if "weights" in values:
        check_retriever_names(values["weights"], retrievers, where("weights"))
        values["weights"] = {**base.weights, **values["weights"]}
    if values.get("retrievers") is not None:
        check_retriever_names(values["retrievers"], retrievers, where("retrievers"))
    try:
        return FusionConfig.model_validate({**base.model_dump(), **values})
    except ValidationError as exc:
        location, message = first_validation_error(exc)
        raise TandemError(message, where(location)) from None


def fuse(rankings: dict[str, Ranking], config: FusionConfig, k: int) -> list[Hit]:
    """Fuse ranked lists into the top-k hits; each hit carries every component's rank and score.

    Ties in the fused score are broken by doc id so results are deterministic.
    """
    if not rankings:
        raise TandemError("nothing to fuse: no retriever returned a list", "fusion")
    contributions = FUSION_METHODS[config.method](rankings, config)
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


__all__ = ["FUSION_METHODS", "NORMALIZATIONS", "FusionConfig", "check_retriever_names", "fuse", "override_fusion", "rrf", "wsum"]
