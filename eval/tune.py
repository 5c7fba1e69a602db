"""Fusion tuning: grid search over method, normalisation and weights on a non-test split.

Each retriever runs once per query (to ``depth``); every fusion candidate is then scored on the
cached lists by the same :func:`tandem.retrieval.fusion.fuse` that search uses, and evaluated with the
same metric code as `tandem eval`.
"""
from __future__ import annotations

import itertools
from typing import Sequence

from tandem.index.errors import TandemError
from tandem.index.progress import progress
from tandem.retrieval.fusion import FusionConfig, fuse
from tandem.retrieval.searcher import Searcher

FORBIDDEN_SPLITS = ("test",)


def weight_grid(num: int, step: float) -> list[tuple[float, ...]]:
    """All weight vectors with entries >= step in multiples of ``step`` summing to 1."""
    units = round(1 / step)
    grid = []
    for combo in itertools.product(range(1, units + 1), repeat=num):
        if sum(combo) == units:
            grid.append(tuple(round(c * step, 10) for c in combo))
    return grid


def tuning_retrievers(searcher: Searcher, split: str, retrievers: Sequence[str] | None = None) -> list[str]:
    """The retrievers a tuning fuses (default: all of the index's), checked before any work: at least two the
    index has, and a split tuning may use (never test)."""
    if split in FORBIDDEN_SPLITS:
        raise TandemError(f"refusing to tune fusion on the {split!r} split: use train or dev", "--split")
    names = list(retrievers or searcher.retrievers)
    missing = [n for n in names if n not in searcher.retrievers]
    if missing or len(names) < 2:
        raise TandemError(f"need at least two retrievers the index has ({', '.join(searcher.retrievers)}); got {', '.join(names)}", "--retrievers")
    return names


def tune_fusion(
    searcher: Searcher,
    eval_set,
    split: str,
    retrievers: Sequence[str] | None = None,
    metric: str = "nDCG@10",
    depth: int = 1000,
    k: int = 100,
    weight_step: float = 0.1,
    rrf_ks: Sequence[float] = (10, 20, 40, 60, 100),
    normalizations: Sequence[str] = ("minmax", "zscore"),
    remove_self_hits: bool = True,
) -> tuple[FusionConfig, list[dict]]:
    """Best fusion config for ``metric`` on the split's queries, and every candidate's score."""
    from .metrics import evaluate

    names = tuning_retrievers(searcher, split, retrievers)
    queries = eval_set.queries
    per_retriever: dict[str, list[dict[str, float]]] = {name: [] for name in names}
    for start in progress(range(0, len(queries), 64), desc="retrieve candidates", unit="batch"):
        texts = [q.text for q in queries[start : start + 64]]
        for name in names:
            per_retriever[name].extend(searcher.retrieve(name, texts, depth))
    candidates: list[FusionConfig] = [FusionConfig(method="rrf", rrf_k=rk, depth=depth, retrievers=names) for rk in rrf_ks]
    for norm in normalizations:
        for weights in weight_grid(len(names), weight_step):
            candidates.append(FusionConfig(method="wsum", normalization=norm, weights=dict(zip(names, weights)), depth=depth, retrievers=names))

    table = []
    for config in progress(candidates, desc="fusion grid", unit="config"):
        # the very fusion that search runs, on the cached lists of every retriever
        run = {query.query_id: {hit.doc_id: hit.score for hit in fuse({n: per_retriever[n][i] for n in names}, config, k)}
               for i, query in enumerate(queries)}
        value = evaluate(run, eval_set.qrels, [metric], remove_self_hits=remove_self_hits).mean[metric]
        table.append({"config": config.model_dump(), metric: value})
    best = max(range(len(candidates)), key=lambda i: (table[i][metric], -i))
    return candidates[best], table
