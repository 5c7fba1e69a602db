"""Engine-core benchmark: build time and size per component, encoding docs/s, query latency.

    TANDEM_DATA_DIR=../shared/data python bench/bench_core.py --datasets scifact,nfcorpus --out bench/results/core.json

Builds (or reuses) one index per dataset and sparse mode under --index-root, then times single
queries in process (test-split queries, after one warm-up). Writes JSON and prints a table.
"""
from __future__ import annotations

import argparse
import json
import platform
import time
from pathlib import Path

import numpy as np

from tandem.retrieval.build import BuildConfig, build_index
from tandem.retrieval.datasets import read_qrels, read_queries, resolve_dataset
from tandem.retrieval.searcher import Searcher
from tandem.tables import format_table


def latency(searcher: Searcher, texts: list[str], mode: str, k: int = 10) -> dict:
    searcher.search(texts[0], k=k, mode=mode)
    times = []
    for text in texts:
        t0 = time.perf_counter()
        searcher.search(text, k=k, mode=mode)
        times.append((time.perf_counter() - t0) * 1000)
    t0 = time.perf_counter()
    searcher.batch_search(texts, k=k, mode=mode)
    batch_qps = len(texts) / (time.perf_counter() - t0)
    return {"p50_ms": float(np.percentile(times, 50)), "p99_ms": float(np.percentile(times, 99)), "batch_qps": batch_qps}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--datasets", default="scifact,nfcorpus")
    parser.add_argument("--index-root", type=Path, default=Path("indexes/bench"))
    parser.add_argument("--queries", type=int, default=100)
    parser.add_argument("--out", type=Path, default=Path("bench/results/core.json"))
    args = parser.parse_args()
    report = {"machine": {"platform": platform.platform(), "processor": platform.processor()}, "datasets": {}}
    rows = []
    for dataset in args.datasets.split(","):
        paths = resolve_dataset(dataset)
        qrels = read_qrels(paths.qrels("test"))
        texts = [q.text for q in read_queries(paths.queries, set(qrels))][: args.queries]
        entry = {}
        for mode, dense in (("siamese", "minilm-l6"), ("inference-free", None)):
            out = args.index_root / f"{dataset}-{mode}"
            if not (out / "manifest.json").exists():
                build_index(BuildConfig(corpus=dataset, sparse_mode=mode, dense=dense), out, paths.corpus)
            searcher = Searcher.open(out)
            manifest = searcher.manifest
            segment_stats = manifest.segments[0].stats  # a fresh build has one segment
            components = {
                c.name: {"bytes": c.bytes + sum((out / rel).stat().st_size for rel in manifest.segments[0].files if rel.split("/")[2] == c.name),
                         "build_seconds": segment_stats.get(c.name, {}).get("seconds"),
                         "docs_per_second": None}
                for c in manifest.components
            }
            sparse = segment_stats["sparse"]
            lat = {m: latency(searcher, texts, m) for m in searcher.modes}
            entry[mode] = {"num_docs": manifest.num_docs, "build_seconds": manifest.build_seconds, "components": components,
                           "avg_nnz_per_doc": sparse["avg_nnz_per_doc"], "num_postings": sparse["num_postings"], "latency": lat}
            for name, c in components.items():
                rows.append([dataset, mode, name, round(c["bytes"] / 2**20, 2), c["build_seconds"], round(c["docs_per_second"], 1) if c["docs_per_second"] else None])
            for m, values in lat.items():
                rows.append([dataset, mode, f"query:{m}", None, None, None, round(values["p50_ms"], 2), round(values["batch_qps"], 1)])
        report["datasets"][dataset] = entry
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(report, indent=2) + "\n")
    rows = [r + [None] * (8 - len(r)) for r in rows]
    print(format_table(["dataset", "sparse mode", "component", "MB", "build s", "docs/s", "p50 ms", "batch q/s"], rows, align="lllrrrrr"))
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
