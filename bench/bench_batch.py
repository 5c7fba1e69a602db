"""Batch throughput of each sparse backend on one thread and on every core, and whether its per-query search
releases the GIL (issue 11: batch QPS of every engine).

    TANDEM_DATA_DIR=/work/shared/data .venv/bin/python bench/bench_batch.py \\
        --index native=DIR --index seismic=DIR --index bmp=DIR --queries 6980 --out bench/results/batch.json

Each ``--index NAME=DIR`` is a built Tandem index whose ``--retriever`` (default ``sparse``) is timed, whatever
backend its manifest names. The MS MARCO dev-small queries are encoded once per index beforehand; then, in each of
``--rounds`` rounds (the order of the modes alternating), one ``search_encoded(all queries, k)`` call with the
search threads set to 1 (``one-thread``), the same with every core (``batch``: Tandem's kernels split the batch
across threads, Seismic hands it to its ``batch_search`` pool, BMP loops on the calling thread), and two plain
Python threads each searching half the queries one by one with the search threads set to 1 (``two-python-threads``:
faster than ``one-thread`` only when the backend's single-query search runs without the GIL). Every mode must give
the same rankings as ``one-thread``; the run stops with one line naming the index and mode otherwise.

Records queries/s (median over rounds, and every round), CPU cores used (process CPU time / wall time), load
average, threads, commit and library versions; prints a table. Not part of the test suite.
"""
from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench.interleave import interleaved_batches  # noqa: E402
from bench.run_env import commit, cpu_model, files_dirty, library_versions  # noqa: E402
from bench.scale_data import msmarco_queries  # noqa: E402
from tandem.index.threads import available_cores, set_search_threads  # noqa: E402
from tandem.retrieval.searcher import Searcher  # noqa: E402
from tandem.tables import format_table  # noqa: E402

MODES = ("one-thread", "batch", "two-python-threads")
LIBRARIES = ("numpy", "numba", "pyseismic-lsr", "bmp", "faiss-cpu", "torch", "transformers")


def run_mode(retriever, mode: str, vectors: list, k: int) -> tuple[list, float]:
    """(rankings, process CPU seconds) of one pass of ``mode`` over ``vectors`` (its wall time is taken by the caller)."""
    cpu0 = time.process_time()
    if mode == "two-python-threads":
        set_search_threads(1)
        with ThreadPoolExecutor(2) as pool:  # an error in either thread is raised here
            halves = list(pool.map(lambda part: [retriever.search_encoded([v], k)[0] for v in vectors[part::2]], (0, 1)))
        rankings = [None] * len(vectors)
        rankings[0::2], rankings[1::2] = halves
    else:
        set_search_threads(1 if mode == "one-thread" else None)
        rankings = retriever.search_encoded(vectors, k)
    return rankings, time.process_time() - cpu0


def measure(name: str, index: Path, retriever_name: str, texts: list[str], k: int, rounds: int) -> dict:
    """Every mode over the same encoded queries, ``rounds`` times in alternating order."""
    searcher = Searcher.open(index)
    retriever = searcher.retriever(retriever_name)
    vectors = retriever.encode(texts)
    run_mode(retriever, "one-thread", vectors[: min(200, len(vectors))], k)  # warm-up (kernels, pages)
    reference: list | None = None
    cpu_s: dict[str, list[float]] = {mode: [] for mode in MODES}

    def batch(mode: str):
        def call(k: int) -> int:
            nonlocal reference
            rankings, cpu = run_mode(retriever, mode, vectors, k)
            if mode == "one-thread" and reference is None:
                reference = rankings
            elif reference is not None and rankings != reference:
                raise SystemExit(f"bench_batch: {name} ({index}): mode {mode} gave other rankings than one thread")
            cpu_s[mode].append(cpu)
            print(f"[{name}] round {len(cpu_s[mode])}/{rounds} {mode}: done", flush=True)
            return len(rankings)
        return call

    qps_rounds = interleaved_batches({mode: batch(mode) for mode in MODES}, rounds, k)  # modes in alternating order
    timings = {mode: [{"queries_per_s": round(qps, 1), "cores_used": round(cpu * qps / len(vectors), 2)}  # CPU seconds / wall seconds
                      for qps, cpu in zip(qps_rounds[mode], cpu_s[mode])] for mode in MODES}
    set_search_threads(None)
    one = statistics.median(t["queries_per_s"] for t in timings["one-thread"])
    out = {"index": str(index), "retriever": retriever_name, "backend": retriever.backend, "num_docs": searcher.snapshot.num_docs,
           "queries": len(vectors), "k": k, "identical_rankings": True, "modes": {}}
    for mode in MODES:
        qps = statistics.median(t["queries_per_s"] for t in timings[mode])
        out["modes"][mode] = {"queries_per_s": qps, "speedup_vs_one_thread": round(qps / one, 2),
                              "cores_used": statistics.median(t["cores_used"] for t in timings[mode]), "rounds": timings[mode]}
    searcher.close()
    return out


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--index", action="append", required=True, metavar="NAME=DIR", help="a built index to time (repeatable)")
    parser.add_argument("--retriever", default="sparse", help="the retriever of each index to time")
    parser.add_argument("--queries", type=int, default=6980, help="MS MARCO dev-small queries per batch")
    parser.add_argument("--k", type=int, default=10)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--out", type=Path, default=ROOT / "bench" / "results" / "batch.json")
    args = parser.parse_args(argv)
    indexes = []
    for spec in args.index:
        name, sep, folder = spec.partition("=")
        if not sep or not name or not Path(folder).is_dir():
            parser.error(f"--index {spec}: expected NAME=DIR with DIR an index folder")
        indexes.append((name, Path(folder)))
    texts = msmarco_queries(args.queries)
    report = {"environment": {"commit": commit(), "measured_files_dirty": files_dirty(["bench/bench_batch.py", "index", "retrieval"]),
                              "cpu": cpu_model(), "cores": available_cores(), "libraries": library_versions(LIBRARIES),
                              "env_threads": {v: os.environ.get(v) for v in ("OMP_NUM_THREADS", "NUMBA_NUM_THREADS", "RAYON_NUM_THREADS")},
                              "load_average_start": [round(x, 2) for x in os.getloadavg()]},
              "settings": {"queries": len(texts), "k": args.k, "rounds": args.rounds, "retriever": args.retriever},
              "method": __doc__.split("\n\n")[2].replace("\n", " "), "indexes": {}}
    for name, folder in indexes:
        report["indexes"][name] = measure(name, folder, args.retriever, texts, args.k, args.rounds)
    report["environment"]["load_average_end"] = [round(x, 2) for x in os.getloadavg()]
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(report, indent=2) + "\n")
    rows = [(name, r["backend"], r["num_docs"], *(r["modes"][m]["queries_per_s"] for m in MODES),
             r["modes"]["batch"]["speedup_vs_one_thread"], r["modes"]["two-python-threads"]["speedup_vs_one_thread"])
            for name, r in report["indexes"].items()]
    print(format_table(["index", "backend", "docs", *(f"{m} q/s" for m in MODES), "batch x", "2 py threads x"], rows))
    print(f"-> {args.out}")
    return report


if __name__ == "__main__":
    main()
