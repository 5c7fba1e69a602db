"""Evaluation conditions: a retrieval mode, and for hybrids the retrievers and the fusion.

Spec grammar (``--modes``): a retriever name of the index (``sparse``, ``dense``, ``bm25``, ... —
names are the index's data, checked against it by :meth:`Condition.check`), ``hybrid`` (the
index's default fusion), or ``hybrid-<fusion>[:<r1>+<r2>...]`` with fusion ``rrf``, ``wsum``
(equal weights, min-max) or ``tuned`` (the config ``tandem tune-fusion`` saved next to the
index), e.g. ``hybrid-rrf:sparse+dense`` or ``hybrid-tuned:bm25+sparse+dense``.
"""
from __future__ import annotations

import json
import re
from dataclasses import dataclass
from pathlib import Path

from tandem.index.errors import TandemError
from tandem.retrieval.fusion import FusionConfig

RETRIEVER_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]*$")
FUSION_NAMES = ("rrf", "wsum", "tuned")
TUNED_DIR = "tuned-fusion"


@dataclass(frozen=True)
class Condition:
    name: str
    mode: str
    retrievers: tuple[str, ...] = ()
    fusion: str | None = None  # rrf | wsum | tuned | None (index default)

    @property
    def is_hybrid(self) -> bool:
        return self.mode == "hybrid"

    def check(self, retrievers: list[str]) -> None:
        """Refuse, before any work, a condition naming retrievers the index does not have."""
        names = list(self.retrievers) if self.is_hybrid else [self.mode]
        unknown = [n for n in names if n not in retrievers]
        if unknown:
            raise TandemError(f"condition {self.name!r} names retriever(s) {', '.join(unknown)} this index does not have ({', '.join(retrievers)})", "--modes")
        if self.is_hybrid and not self.retrievers and len(retrievers) < 2:
            raise TandemError(f"condition {self.name!r} needs at least two retrievers; this index has {', '.join(retrievers)}", "--modes")

    def searches(self, retrievers: list[str]) -> list[str]:
        """The retrievers this condition runs, of the index's ``retrievers`` (a hybrid without a list: all)."""
        if not self.is_hybrid:
            return [self.mode]
        return list(self.retrievers) or list(retrievers)

    def fusion_config(self, index_dir: Path, default: FusionConfig, tuned_dir: Path | None = None) -> FusionConfig | None:
        """The fusion to run; ``tuned`` reads ``tuned_dir`` (another index's tuning) when given, else ``index_dir``."""
        if self.mode != "hybrid":
            return None
        retrievers = list(self.retrievers) or None
        if self.fusion is None:
            return default if retrievers is None else default.model_copy(update={"retrievers": retrievers})
        if self.fusion == "rrf":
            return FusionConfig(method="rrf", retrievers=retrievers)
        if self.fusion == "wsum":
            return FusionConfig(method="wsum", normalization="minmax", retrievers=retrievers)
        path = tuned_fusion_path(tuned_dir or index_dir, self.retrievers)
        if not path.is_file():
            raise TandemError(f"no tuned fusion for {'+'.join(self.retrievers) or 'all retrievers'}: run `tandem tune-fusion` first", str(path))
        return FusionConfig.model_validate_json(path.read_text(encoding="utf-8"))


def tuned_fusion_path(index_dir: Path, retrievers: tuple[str, ...] | list[str]) -> Path:
    key = "+".join(retrievers) if retrievers else "all"
    return Path(index_dir) / TUNED_DIR / f"{key}.json"


def parse_condition(spec: str) -> Condition:
    spec = spec.strip()
    if spec == "hybrid":
        return Condition("hybrid", "hybrid")
    if not spec.startswith("hybrid") and RETRIEVER_NAME.match(spec):
        return Condition(spec, spec)
    head, _, tail = spec.partition(":")
    fusion = head[len("hybrid-") :] if head.startswith("hybrid-") else None
    if head not in ("hybrid",) and fusion not in FUSION_NAMES:
        raise TandemError(f"unknown condition {spec!r} (e.g. sparse, dense, bm25, hybrid, hybrid-rrf:sparse+dense, hybrid-tuned)", "--modes")
    retrievers = tuple(tail.split("+")) if tail else ()
    for name in retrievers:
        if not RETRIEVER_NAME.match(name):
            raise TandemError(f"bad retriever name {name!r} in {spec!r}", "--modes")
    if tail and len(retrievers) < 2:
        raise TandemError(f"a hybrid needs at least two retrievers: {spec!r}", "--modes")
    return Condition(spec, "hybrid", retrievers, fusion)


def parse_conditions(text: str) -> list[Condition]:
    return [parse_condition(part) for part in text.split(",") if part.strip()]


def save_tuned_fusion(index_dir: Path, retrievers: list[str], config: FusionConfig, details: dict) -> Path:
    path = tuned_fusion_path(index_dir, retrievers)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(config.model_dump_json(indent=2) + "\n", encoding="utf-8")
    path.with_suffix(".details.json").write_text(json.dumps(details, indent=2) + "\n", encoding="utf-8")
    return path
