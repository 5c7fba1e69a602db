"""What a reader pays to follow a commit: opening an index from nothing against opening its next commit while
the previous one is still open, as ``tandem serve`` does after every add or delete (``service/live.py``).

    TANDEM_DATA_DIR=/work/shared/data .venv/bin/python bench/bench_reopen.py --index INDEX --out bench/results/reopen.json
    ... --index DENSE_INDEX --retriever dense --out bench/results/reopen-dense.json

``INDEX`` (e.g. all of pkgsum, built with `tandem index build --from-encoded`) is copied into ``--work`` and never
changed. On the copy, each of ``--rounds`` rounds adds ``--add-docs`` new documents (``merge=False``: one new
segment each) with the previous commit's searcher open, then times ``Searcher.open`` of the new commit and its first
search with ``--retriever``; beside each round, a cold open of the same commit in a fresh process (nothing shared) is
timed the same way. Both columns come from the same run: the ratio is what sharing the unchanged segments' readers
(document stores, postings, FAISS indexes) saves. Not part of the test suite.
"""
from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

from tandem.index.corpus import Document
from tandem.retrieval.searcher import Searcher
from tandem.retrieval.writer import IndexWriter
from tandem.tables import format_table

from bench_live import REPO, environment

COLD = "import json, sys; from bench_reopen import timed_open; print(json.dumps(timed_open(sys.argv[1], sys.argv[2])[1]))"


def timed_open(root: Path, retriever: str) -> tuple[Searcher, dict]:
    """Open the current commit and run one search; the searcher and (open, open + first search) seconds."""
    t0 = time.perf_counter()
    searcher = Searcher.open(root)
    t1 = time.perf_counter()
    searcher.retriever(retriever).search(["python package for parsing"], 10)
    return searcher, {"open_s": round(t1 - t0, 4), "first_search_s": round(time.perf_counter() - t0, 4)}


def cold_open(root: Path, retriever: str) -> dict:
    """:func:`timed_open` in a fresh process: nothing of an earlier commit is open there."""
    out = subprocess.run([sys.executable, "-c", COLD, str(root), retriever], capture_output=True, text=True, check=True, cwd=Path(__file__).parent)
    return json.loads(out.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--index", type=Path, required=True)
    parser.add_argument("--work", type=Path, default=Path("/tmp/tandem-bench-reopen"))
    parser.add_argument("--retriever", default="sparse")
    parser.add_argument("--add-docs", type=int, default=10)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--out", type=Path, default=REPO / "bench" / "results" / "reopen.json")
    args = parser.parse_args()

    root = args.work / "index"
    shutil.rmtree(root, ignore_errors=True)
    shutil.copytree(args.index, root)
    report = {"environment": environment(), "index": str(args.index), "retriever": args.retriever, "add_docs": args.add_docs, "rounds": []}
    current, first = timed_open(root, args.retriever)
    report["first_open"] = first
    writer = IndexWriter(root, show_progress=False)
    for r in range(args.rounds):
        writer.add([Document(f"reopen-{r}-{j}", "new", f"a python package number {j} for parsing files") for j in range(args.add_docs)], merge=False)
        fresh, reopen = timed_open(root, args.retriever)
        current.close()
        current = fresh
        cold = cold_open(root, args.retriever)
        row = {"generation": fresh.generation, "segments": len(fresh.snapshot.segments), "num_docs": fresh.snapshot.num_docs,
               "reopen": reopen, "cold": cold, "open_ratio": round(reopen["open_s"] / cold["open_s"], 4),
               "first_search_ratio": round(reopen["first_search_s"] / cold["first_search_s"], 4)}
        report["rounds"].append(row)
        print(json.dumps(row), flush=True)
    current.close()
    report["environment"]["load_average_end"] = list(os.getloadavg())
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(report, indent=2) + "\n", encoding="utf-8")
    print(format_table(["round", "segments", "reopen open s", "cold open s", "reopen to 1st search s", "cold to 1st search s"],
                       [[i + 1, x["segments"], x["reopen"]["open_s"], x["cold"]["open_s"], x["reopen"]["first_search_s"], x["cold"]["first_search_s"]]
                        for i, x in enumerate(report["rounds"])]))
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
