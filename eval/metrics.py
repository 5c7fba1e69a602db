"""Metrics with trec_eval semantics, computed by pytrec_eval (trec_eval's own C code).

User-facing names and the trec_eval measures behind them:

=============  ==========================  ==========================================================
name           pytrec_eval measure         notes
=============  ==========================  ==========================================================
``nDCG@k``     ``ndcg_cut.k``              linear gain = the grade as given; ideal DCG over *all*
                                           judged docs of the query (not only retrieved ones)
``nDCG``       ``ndcg``                    no cut-off
``R@k``        ``recall.k``                relevant = grade >= ``relevance_level`` (default 1)
``P@k``        ``P.k``                     idem
``MAP@k``      ``map_cut.k``               AP over the top k; ``MAP@1000`` equals ``-m map`` (what
                                           pyserini reports) on a top-1000 run, and BEIR's MAP@k
``MAP``        ``map``                     AP over the whole run
``MRR@k``      ``recip_rank`` on the top   trec_eval has no cut-off for RR: the run is cut to each
               k of each query             query's first k in trec_eval order before scoring (the
                                           MS MARCO MRR@10)
``MRR``        ``recip_rank``              whole run
=============  ==========================  ==========================================================

trec_eval order: score descending, ties broken by doc id descending (reverse lexical); scores are
passed as floats. Like ``trec_eval -c``: the mean is over every query in the qrels, a qrels query
absent from the run (or with no hits) scores 0, and so does a qrels query with no relevant
document (all grades 0); queries not in the qrels are ignored. Hits whose doc id equals the query
id are removed first by default (pyserini's ``--remove-query``, BEIR's ``ignore_identical_ids``).
``relevance_level`` (trec_eval ``-l``) applies to the binary measures (R, P, MAP, MRR); nDCG always
uses the grades as gains (TREC DL passage: ``relevance_level=2`` for MAP/R, as pyserini's ``-l 2``).
"""
from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Mapping, Sequence

import pytrec_eval

from tandem.index.errors import TandemError

Run = dict[str, dict[str, float]]
Qrels = dict[str, dict[str, int]]
DEFAULT_METRICS = ("nDCG@10", "R@100", "R@1000", "MRR@10", "MAP@1000")
_PATTERN = re.compile(r"^(nDCG|R|P|MAP|MRR)(?:@(\d+))?$", re.IGNORECASE)
_CANONICAL = {"ndcg": "nDCG", "r": "R", "p": "P", "map": "MAP", "mrr": "MRR"}
# kind -> (measure family with a cut, its result key; measure family without a cut)
_MEASURE = {
    "nDCG": ("ndcg_cut", "ndcg_cut_{k}", "ndcg"),
    "R": ("recall", "recall_{k}", None),
    "P": ("P", "P_{k}", None),
    "MAP": ("map_cut", "map_cut_{k}", "map"),
    "MRR": (None, None, "recip_rank"),
}


@dataclass
class EvalResult:
    mean: dict[str, float]
    per_query: dict[str, dict[str, float]] = field(repr=False)  # metric -> qid -> value (every qrels query)
    num_queries: int
    self_hits_removed: int


def parse_metric(name: str) -> tuple[str, int | None]:
    """``"nDCG@10"`` -> ``("nDCG", 10)``; ``"MAP"`` -> ``("MAP", None)``."""
    match = _PATTERN.match(name.strip())
    kind = _CANONICAL.get(match.group(1).lower()) if match else None
    k = int(match.group(2)) if match and match.group(2) else None
    if kind is None or (k is None and _MEASURE[kind][2] is None) or (k is not None and k < 1):
        raise TandemError(f"unknown metric {name!r} (use nDCG@k, R@k, P@k, MAP@k, MRR@k, nDCG, MAP, MRR)", "--metrics")
    return kind, k


def trec_measure(name: str) -> str:
    """The pytrec_eval result key a metric name maps to (``MRR@k`` -> ``recip_rank`` of the cut run)."""
    kind, k = parse_metric(name)
    family, key, whole = _MEASURE[kind]
    return key.format(k=k) if k is not None and key else whole


def drop_self_hits(run: Mapping[str, Mapping[str, float]]) -> tuple[Run, int]:
    """Remove hits whose doc id equals the query id; returns the run and how many were removed."""
    removed = 0
    cleaned = {}
    for qid, docs in run.items():
        if qid in docs:
            docs = {d: s for d, s in docs.items() if d != qid}
            removed += 1
        cleaned[qid] = dict(docs)
    return cleaned, removed


def trec_order(docs: Mapping[str, float]) -> list[tuple[str, float]]:
    """Hits in trec_eval's order: score descending, then doc id descending."""
    return sorted(docs.items(), key=lambda item: (item[1], item[0]), reverse=True)


def top_k_trec_order(docs: Mapping[str, float], k: int) -> dict[str, float]:
    """The first k documents in trec_eval's order: score descending, then doc id descending."""
    return dict(trec_order(docs)[:k])


def _as_run(run: Mapping[str, Mapping[str, float]], qrels: Qrels) -> Run:
    """Only judged queries; ids as str, scores as float (pytrec_eval needs both)."""
    out: Run = {}
    for qid, docs in run.items():
        qid = str(qid)
        if qid not in qrels:
            continue
        converted = {}
        for doc_id, score in docs.items():
            value = float(score)
            if value != value:
                raise TandemError(f"score of {doc_id!r} for query {qid!r} is NaN", "run")
            converted[str(doc_id)] = value
        out[qid] = converted
    return out


def evaluate(
    run: Mapping[str, Mapping[str, float]],
    qrels: Qrels,
    metrics: Sequence[str] = DEFAULT_METRICS,
    remove_self_hits: bool = True,
    relevance_level: int = 1,
) -> EvalResult:
    """Score a run against qrels; see the module docstring for the exact semantics."""
    if not qrels:
        raise TandemError("qrels are empty", "qrels")
    if isinstance(metrics, str):
        metrics = [metrics]
    qrels = {str(q): {str(d): int(r) for d, r in docs.items()} for q, docs in qrels.items()}
    run = _as_run(run, qrels)
    removed = 0
    if remove_self_hits:
        run, removed = drop_self_hits(run)
    parsed = [(name, *parse_metric(name)) for name in dict.fromkeys(metrics)]

    graded: set[str] = set()  # nDCG: gains as given, level 1
    binary: set[str] = set()  # R, P, MAP, MRR without cut: relevance_level
    for _, kind, k in parsed:
        family, _, whole = _MEASURE[kind]
        if kind == "MRR":
            continue
        measure = f"{family}.{k}" if k is not None else whole
        (graded if kind == "nDCG" else binary).add(measure)
    scored: dict[str, dict[str, dict[str, float]]] = {}
    if graded:
        scored["graded"] = pytrec_eval.RelevanceEvaluator(qrels, graded).evaluate(run)
    if binary:
        scored["binary"] = pytrec_eval.RelevanceEvaluator(qrels, binary, relevance_level=relevance_level).evaluate(run)
    rr_evaluator = None

    per_query: dict[str, dict[str, float]] = {}
    for name, kind, k in parsed:
        if kind == "MRR":
            rr_evaluator = rr_evaluator or pytrec_eval.RelevanceEvaluator(qrels, {"recip_rank"}, relevance_level=relevance_level)
            cut = run if k is None else {qid: top_k_trec_order(docs, k) for qid, docs in run.items()}
            values, key = rr_evaluator.evaluate(cut), "recip_rank"
        else:
            values = scored["graded" if kind == "nDCG" else "binary"]
            key = trec_measure(name)
        per_query[name] = {qid: float(values[qid][key]) if qid in values else 0.0 for qid in qrels}
    mean = {name: sum(values.values()) / len(qrels) for name, values in per_query.items()}
    return EvalResult(mean, per_query, len(qrels), removed)
