"""How long an add waits while a large merge runs: serial merges (the writer lock held while the merged segment
is written) against concurrent ones (``IndexWriter.merge_concurrently``: written without the lock).

    TANDEM_DATA_DIR=/work/shared/data .venv/bin/python bench/bench_merge.py --index INDEX --out bench/results/merge.json

``INDEX`` is an existing index (e.g. all of pkgsum, built with `tandem index build --from-encoded`); it is copied
into ``--work`` for every run and never changed. In each run a small add (``--add-docs`` documents, left
unmerged) first gives the copy two segments; then thread A merges them (the policy given, every segment of one
level: ``merge_factor=2`` with a floor above the index size), and ``--delay`` seconds later thread B adds
``--add-docs`` other documents (``merge=False``, waiting for the writer lock as long as needed). Reported per
mode: B's wall time from its call to its return (lock wait included; the encoding part of it apart), A's merge time, and whether
the two indexes end with the same live documents. Not part of the test suite.
"""
from __future__ import annotations

import argparse
import json
import os
import shutil
import threading
import time
from pathlib import Path

from tandem.index.corpus import Document, read_corpus
from tandem.index.manifest import read_manifest
from tandem.index.merge_policy import MergePolicy
from tandem.retrieval.writer import IndexWriter
from tandem.tables import format_table

from bench_live import REPO, environment


def one_run(source: Path, work: Path, mode: str, first: list[Document], second: list[Document], delay: float) -> dict:
    root = work / f"index-{mode}"
    shutil.rmtree(root, ignore_errors=True)
    shutil.copytree(source, root)
    IndexWriter(root, show_progress=False).add(first, merge=False)
    above_all = 10 * read_manifest(root).num_docs  # every segment in one level, no size cap
    policy = MergePolicy(merge_factor=2, min_merge_docs=above_all, max_merge_docs=above_all)
    merge_out: dict = {}

    def merge() -> None:
        writer = IndexWriter(root, show_progress=False, wait=600)
        t0 = time.perf_counter()
        report = writer.merge(policy) if mode == "serial" else writer.merge_concurrently(policy)
        merge_out.update(seconds=round(time.perf_counter() - t0, 2), merged_segments=report.merged_segments)

    thread = threading.Thread(target=merge)
    thread.start()
    time.sleep(delay)
    t0 = time.perf_counter()
    added = IndexWriter(root, show_progress=False, wait=600).add(second, merge=False)
    add_seconds = time.perf_counter() - t0
    thread.join()
    manifest = read_manifest(root)
    out = {"mode": mode, "add_wall_seconds": round(add_seconds, 2), "add_encode_seconds": added.encode_seconds,
           "merge": merge_out, "segments_after": len(manifest.segments), "num_docs_after": manifest.num_docs,
           "history": [h.operation for h in manifest.history][-4:]}
    shutil.rmtree(root, ignore_errors=True)
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--index", type=Path, required=True, help="the index to copy (not changed)")
    parser.add_argument("--corpus", type=Path, default=Path(os.environ.get("TANDEM_DATA_DIR", "../shared/data")) / "beir" / "scifact" / "corpus.jsonl",
                        help="where the added documents come from (ids prefixed, so they are new)")
    parser.add_argument("--add-docs", type=int, default=100)
    parser.add_argument("--delay", type=float, default=2.0, help="seconds between the merge's start and the add")
    parser.add_argument("--work", type=Path, default=Path("/tmp/tandem-bench-merge"))
    parser.add_argument("--out", type=Path, default=REPO / "bench" / "results" / "merge.json")
    args = parser.parse_args()

    args.work.mkdir(parents=True, exist_ok=True)
    docs = read_corpus(args.corpus)[: 2 * args.add_docs]
    first = [Document(f"bench-a-{d.doc_id}", d.title, d.text) for d in docs[: args.add_docs]]
    second = [Document(f"bench-b-{d.doc_id}", d.title, d.text) for d in docs[args.add_docs:]]
    report = {"environment": environment(), "index": str(args.index), "index_docs": read_manifest(args.index).num_docs,
              "add_docs": args.add_docs, "delay_seconds": args.delay, "runs": []}
    for mode in ("serial", "concurrent", "serial", "concurrent"):
        run = one_run(args.index, args.work, mode, first, second, args.delay)
        print(json.dumps(run), flush=True)
        report["runs"].append(run)
    report["environment"]["load_average_end"] = list(os.getloadavg())
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(report, indent=2) + "\n", encoding="utf-8")
    rows = [[r["mode"], r["add_wall_seconds"], r["add_encode_seconds"], r["merge"].get("seconds"), r["num_docs_after"]] for r in report["runs"]]
    print(format_table(["merge", "add: call to return s", "of it encoding s", "merge s", "docs after"], rows, align="lrrrr"))
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
