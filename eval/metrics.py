"""Metrics with trec_eval semantics, computed by pytrec_eval (trec_eval's own code).

Names: ``nDCG@k`` (ndcg_cut.k), ``R@k`` (recall.k), ``P@k`` (P.k), ``MAP@k`` (map_cut.k),
``MRR@k`` (recip_rank over each query's top k). Gains are linear in the graded relevance as
given; a document counts as relevant for R, P, MAP and MRR when its grade is >= 1.

As ``trec_eval -c``: the mean is over every query in the qrels, and a query with no retrieved
documents scores 0. Queries not in the qrels are ignored. Hits whose doc id equals the query id
are removed first by default (pyserini's ``--remove-query``, BEIR's ``ignore_identical_ids``).
"""
from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Sequence

import pytrec_eval

from index.errors import TandemError

Run = dict[str, dict[str, float]]
Qrels = dict[str, dict[str, int]]
DEFAULT_METRICS = ("nDCG@10", "R@100", "R@1000", "MRR@10", "MAP@1000")
_PATTERN = re.compile(r"^(nDCG|R|P|MAP|MRR)@(\d+)$")
_MEASURE = {"nDCG": ("ndcg_cut", "ndcg_cut_{k}"), "R": ("recall", "recall_{k}"), "P": ("P", "P_{k}"), "MAP": ("map_cut", "map_cut_{k}")}


@dataclass
class EvalResult:
    mean: dict[str, float]
    per_query: dict[str, dict[str, float]] = field(repr=False)  # metric -> qid -> value
    num_queries: int
    self_hits_removed: int


def parse_metric(name: str) -> tuple[str, int]:
    match = _PATTERN.match(name.strip())
    if not match:
        raise TandemError(f"unknown metric {name!r} (use nDCG@k, R@k, P@k, MAP@k, MRR@k)", "--metrics")
    return match.group(1), int(match.group(2))


def drop_self_hits(run: Run) -> tuple[Run, int]:
    """Remove hits whose doc id equals the query id; returns the run and how many were removed."""
    removed = 0
    cleaned = {}
    for qid, docs in run.items():
        if qid in docs:
            docs = {d: s for d, s in docs.items() if d != qid}
            removed += 1
        cleaned[qid] = docs
    return cleaned, removed


def top_k_trec_order(docs: dict[str, float], k: int) -> dict[str, float]:
    """The first k documents in trec_eval's order: score descending, then doc id descending."""
    ordered = sorted(docs.items(), key=lambda item: (item[1], item[0]), reverse=True)
    return dict(ordered[:k])


def evaluate(run: Run, qrels: Qrels, metrics: Sequence[str] = DEFAULT_METRICS, remove_self_hits: bool = True) -> EvalResult:
    """Score a run against qrels; see the module docstring for the exact semantics."""
    if not qrels:
        raise TandemError("qrels are empty", "qrels")
    removed = 0
    if remove_self_hits:
        run, removed = drop_self_hits(run)
    run = {qid: {d: float(s) for d, s in docs.items()} for qid, docs in run.items() if qid in qrels}
    parsed = [(name, *parse_metric(name)) for name in metrics]
    per_query: dict[str, dict[str, float]] = {}
    trec_measures = {f"{_MEASURE[kind][0]}.{k}" for _, kind, k in parsed if kind != "MRR"}
    scored = pytrec_eval.RelevanceEvaluator(qrels, trec_measures).evaluate(run) if trec_measures else {}
    for name, kind, k in parsed:
        if kind == "MRR":
            cut = {qid: top_k_trec_order(docs, k) for qid, docs in run.items()}
            values = pytrec_eval.RelevanceEvaluator(qrels, {"recip_rank"}).evaluate(cut)
            key = "recip_rank"
        else:
            values, key = scored, _MEASURE[kind][1].format(k=k)
        per_query[name] = {qid: float(values[qid][key]) if qid in values else 0.0 for qid in qrels}
    mean = {name: sum(values.values()) / len(qrels) for name, values in per_query.items()}
    return EvalResult(mean, per_query, len(qrels), removed)
