"""`tandem eval`: run conditions over a dataset split, write run files, score, time, compare."""
from __future__ import annotations

import json
import re
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Iterator, Sequence

import numpy as np

from tandem.index.errors import TandemError
from tandem.index.progress import progress
from tandem.retrieval.searcher import Searcher
from tandem.retrieval.types import SearchResult

from .conditions import Condition

DEFAULT_METRICS = ("nDCG@10", "R@100", "R@1000", "MRR@10", "MAP@1000")


def is_hybrid(condition: str) -> bool:
    """Conditions are named by their spec: every hybrid starts with 'hybrid'; the rest are single retrievers."""
    return condition.startswith("hybrid")


@dataclass
class ConditionResult:
    dataset: str
    split: str
    condition: str
    num_queries: int
    metrics: dict[str, float]
    per_query: dict[str, dict[str, float]] = field(repr=False)
    latency_p50_ms: float
    latency_p99_ms: float
    throughput_qps: float
    self_hits_removed: int
    run_file: str

    def summary(self) -> dict:
        data = asdict(self)
        data.pop("per_query")
        return data


def iter_search(searcher: Searcher, queries, k: int, mode: str | None, fusion, batch_size: int = 64, desc: str = "search",
                leave: bool = True, source: str | None = None) -> Iterator[tuple[object, SearchResult]]:
    """``(query, result)`` for each query (``query_id``, ``text``), searched in batches under one progress bar.

    A query the searcher refuses is named by its id (and ``source``, e.g. the queries file), not
    by its position in a batch.
    """
    with progress(total=len(queries), desc=desc, unit="query", leave=leave) as bar:
        for start in range(0, len(queries), batch_size):
            part = queries[start : start + batch_size]
            try:
                results = searcher.batch_search([q.text for q in part], k=k, mode=mode, fusion=fusion)
            except TandemError as exc:
                match = re.fullmatch(r"query(?:\[(\d+)\])?", exc.where or "")
                if match is None:
                    raise
                query_id = part[int(match.group(1) or 0)].query_id
                raise TandemError(exc.message, f"{source}: query {query_id!r}" if source else f"query {query_id!r}") from None
            yield from zip(part, results)
            bar.update(len(part))


def retrieve_run(searcher: Searcher, queries, condition: Condition, fusion, k: int, batch_size: int = 64, desc: str = "") -> tuple[dict[str, dict[str, float]], float]:
    """The run (qid -> doc -> score) for all queries, and batch throughput in queries/s."""
    run: dict[str, dict[str, float]] = {}
    started = time.perf_counter()
    for query, result in iter_search(searcher, queries, k, condition.mode, fusion, batch_size, desc or condition.name, leave=False):
        run[query.query_id] = {hit.doc_id: hit.score for hit in result.hits}
    elapsed = time.perf_counter() - started
    return run, len(queries) / elapsed if elapsed > 0 else float("inf")


def single_query_latency(searcher: Searcher, queries, condition: Condition, fusion, k: int, sample: int) -> tuple[float, float]:
    """p50 and p99 wall time (ms) of one-query searches over a fixed sample of the queries."""
    if sample <= 0 or not queries:
        return float("nan"), float("nan")
    step = max(1, len(queries) // sample)
    chosen = queries[::step][:sample]
    searcher.search(chosen[0].text, k=k, mode=condition.mode, fusion=fusion)  # warm-up
    times = []
    for query in chosen:
        t0 = time.perf_counter()
        searcher.search(query.text, k=k, mode=condition.mode, fusion=fusion)
        times.append((time.perf_counter() - t0) * 1000)
    return float(np.percentile(times, 50)), float(np.percentile(times, 99))


def evaluate_conditions(
    searcher: Searcher,
    index_dir: Path,
    eval_set,
    dataset: str,
    split: str,
    conditions: Sequence[Condition],
    out_dir: Path,
    k: int = 1000,
    metrics: Sequence[str] = DEFAULT_METRICS,
    remove_self_hits: bool = True,
    latency_sample: int = 50,
    tuned_dir: Path | None = None,
) -> list[ConditionResult]:
    from .metrics import evaluate
    from .runs import write_run

    out_dir.mkdir(parents=True, exist_ok=True)
    results = []
    for condition in conditions:
        fusion = condition.fusion_config(index_dir, searcher.default_fusion, tuned_dir)
        if fusion is not None and fusion.depth < k:
            # Deep enough for R@k of the fused list. (Tuned configs are tuned at this depth by default,
            # so score normalisation sees the same candidate lists in tuning and in evaluation.)
            fusion = fusion.model_copy(update={"depth": k})
        run, qps = retrieve_run(searcher, eval_set.queries, condition, fusion, k, desc=f"{dataset}/{condition.name}")
        safe = lambda text: text.replace("/", "-").replace(":", "_").replace("+", "-")  # noqa: E731
        run_file = out_dir / f"{safe(dataset)}.{split}.{safe(condition.name)}.trec"
        write_run(run_file, run, tag=f"tandem-{condition.name}")
        scored = evaluate(run, eval_set.qrels, metrics, remove_self_hits=remove_self_hits)
        p50, p99 = single_query_latency(searcher, eval_set.queries, condition, fusion, min(k, 100), latency_sample)
        results.append(
            ConditionResult(
                dataset=dataset, split=split, condition=condition.name, num_queries=scored.num_queries,
                metrics=scored.mean, per_query=scored.per_query, latency_p50_ms=p50, latency_p99_ms=p99,
                throughput_qps=qps, self_hits_removed=scored.self_hits_removed, run_file=str(run_file),
            )
        )
    return results


def evaluate_runs(
    runs: dict[str, tuple[Path, dict[str, dict[str, float]]]],
    qrels,
    dataset: str,
    split: str,
    metrics: Sequence[str] = DEFAULT_METRICS,
    remove_self_hits: bool = False,
) -> list[ConditionResult]:
    """Score runs made elsewhere (``name -> (run file, run)``) as conditions; no latency is known."""
    from .metrics import evaluate

    results = []
    for name, (path, run) in runs.items():
        scored = evaluate(run, qrels, metrics, remove_self_hits=remove_self_hits)
        results.append(ConditionResult(
            dataset=dataset, split=split, condition=name, num_queries=scored.num_queries, metrics=scored.mean, per_query=scored.per_query,
            latency_p50_ms=float("nan"), latency_p99_ms=float("nan"), throughput_qps=float("nan"),
            self_hits_removed=scored.self_hits_removed, run_file=str(path),
        ))
    return results


def load_results(out_dir: Path) -> list[ConditionResult]:
    """The results a ``save_results`` call wrote to ``out_dir/metrics.json``, per-query values included."""
    data = json.loads((Path(out_dir) / "metrics.json").read_text(encoding="utf-8"))
    return [ConditionResult(**{**r, "per_query": data["per_query"][f"{r['dataset']}/{r['condition']}"]}) for r in data["results"]]


def save_results(results: list[ConditionResult], out_dir: Path, extra: dict | None = None) -> Path:
    """``metrics.json`` with means, per-query values, latency and provenance."""
    payload = {
        **(extra or {}),
        "results": [r.summary() for r in results],
        "per_query": {f"{r.dataset}/{r.condition}": r.per_query for r in results},
    }
    path = out_dir / "metrics.json"
    path.write_text(json.dumps(payload, indent=1) + "\n", encoding="utf-8")
    return path
