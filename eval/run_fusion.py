"""Fusing run files made elsewhere (other indexes, other tools) with the engine's one fusion
implementation, :func:`tandem.retrieval.fusion.fuse`: per query, each run's top ``config.depth`` hits in
file order (score descending, doc id ascending) are the ranked lists the searcher would fuse."""
from __future__ import annotations

from typing import Mapping

from tandem.index.errors import TandemError
from tandem.retrieval.fusion import FusionConfig, fuse

from .runs import Run, ranked


def check_weight_names(weights: Mapping[str, float], runs: Mapping[str, Run]) -> None:
    """Refuse weights for names that are not runs (they would silently weigh nothing)."""
    unknown = [name for name in weights if name not in runs]
    if unknown:
        raise TandemError(f"{', '.join(map(repr, unknown))} is not the name of a run (runs: {', '.join(runs)})", "--weights")


def fuse_runs(runs: Mapping[str, Run], config: FusionConfig, k: int) -> Run:
    """The fused run (qid -> doc -> fused score, top ``k`` per query) over every query of any run.

    Runs are named (the names ``config.weights`` refers to); a query missing from a run gets an
    empty list from it.
    """
    if len(runs) < 2:
        raise TandemError(f"fusion needs at least two runs, got {len(runs)}", "runs")
    check_weight_names(config.weights, runs)
    fused: Run = {}
    for qid in sorted(set().union(*runs.values())):
        rankings = {name: dict(ranked(run.get(qid, {}))[: config.depth]) for name, run in runs.items()}
        fused[qid] = {hit.doc_id: hit.score for hit in fuse(rankings, config, k)}
    return fused
