"""Old numpy sparse search (bincount over all postings) vs the compiled pruning kernel, single thread.

Corpora: a pkgsum prefix encoded with SPLADE (cached under /tmp, never in the repo) and synthetic
long documents resampled from scifact vectors (``bench.synthetic``) at several sizes. Queries:
MS MARCO dev queries encoded inference-free (IDF table of the corpus' index). Writes JSON with
p50/p99 at k=10 and k=1000, speed-ups, index sizes, load average, commit and library versions.

    TANDEM_DATA_DIR=/work/shared/data .venv/bin/python bench/bench_sparse_kernel.py \
        --scifact-index /tmp/scifact-if --out bench/results/sparse_kernel.json
"""
from __future__ import annotations

import argparse
import gzip
import json
import os
import platform
import subprocess
import sys
import time
from pathlib import Path

for var in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS", "NUMBA_NUM_THREADS"):
    os.environ.setdefault(var, "1")

import numba  # noqa: E402
import numpy as np  # noqa: E402
import scipy  # noqa: E402
import scipy.sparse as sp  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from bench.synthetic import synthetic_long_docs  # noqa: E402
from index.sparse import SparseIndex, SparseIndexConfig, SparseVector, top_k, write_sparse_index  # noqa: E402

KS = (10, 1000)
STRATEGIES = ("scan", "prune")  # SparseIndex.strategy: the two exact kernels (scan is the default)


def numpy_search(csc: sp.csc_matrix, query: SparseVector, k: int) -> tuple[np.ndarray, np.ndarray]:
    """The search this kernel replaced: bincount over every posting of the query terms, then top_k."""
    doc_parts, weight_parts = [], []
    for term, weight in zip(query.ids, query.weights):
        start, end = csc.indptr[term], csc.indptr[term + 1]
        if end > start:
            doc_parts.append(csc.indices[start:end])
            weight_parts.append(csc.data[start:end].astype(np.float64) * float(weight))
    if not doc_parts:
        return np.zeros(0, np.int64), np.zeros(0)
    scores = np.bincount(np.concatenate(doc_parts), weights=np.concatenate(weight_parts), minlength=csc.shape[0])
    matched = np.flatnonzero(scores != 0)
    return top_k(matched, scores[matched], k)


def latencies(search, queries: list[SparseVector], k: int) -> tuple[dict, list]:
    """Per-query wall-clock and thread CPU milliseconds (the machine is shared: CPU time is the steadier one)."""
    search(queries[0], k)  # warm-up (compilation, page cache)
    wall, cpu, results = [], [], []
    for q in queries:
        t0, c0 = time.perf_counter(), time.thread_time()
        results.append(search(q, k))
        cpu.append(time.thread_time() - c0)
        wall.append(time.perf_counter() - t0)
    return summary_ms(np.asarray(wall) * 1000, np.asarray(cpu) * 1000), results


def summary_ms(wall: np.ndarray, cpu: np.ndarray) -> dict:
    def r(x: float) -> float:
        return round(float(x), 3)
    return {"p50_ms": r(np.percentile(wall, 50)), "p99_ms": r(np.percentile(wall, 99)), "mean_ms": r(wall.mean()),
            "cpu_p50_ms": r(np.percentile(cpu, 50)), "cpu_p99_ms": r(np.percentile(cpu, 99)), "queries": int(wall.size)}


def msmarco_queries(limit: int) -> list[str]:
    path = Path(os.environ.get("TANDEM_DATA_DIR", "/work/shared/data")) / "msmarco/topics-qrels/topics.msmarco-passage.dev-subset.txt"
    return [line.split("\t", 1)[1].strip() for line in path.read_text(encoding="utf-8").splitlines()[:limit]]


def idf_queries(tokenizer, idf: np.ndarray, texts: list[str]) -> list[SparseVector]:
    from retrieval.idf_query import IdfQueryEncoder

    return [q for q in IdfQueryEncoder(tokenizer, idf).encode(texts) if q.nnz]


def pkgsum_prefix(num_docs: int, cache: Path) -> tuple[sp.csr_matrix, np.ndarray, object]:
    """(SPLADE doc matrix, IDF table, tokenizer) of the first num_docs pkgsum documents, cached in ``cache``."""
    from retrieval.idf_query import document_frequencies, idf_from_df
    from retrieval.splade import SpladeConfig, SpladeEncoder
    from index.sparse import stack_vectors

    import torch

    torch.set_num_threads(1)
    encoder = SpladeEncoder(SpladeConfig(model="splade-tiny", batch_size=64))
    if cache.exists():
        saved = np.load(cache)
        matrix = sp.csr_matrix((saved["data"], saved["indices"], saved["indptr"]), shape=tuple(saved["shape"]))
        return matrix, saved["idf"], encoder.tokenizer
    path = Path(os.environ.get("TANDEM_DATA_DIR", "/work/shared/data")) / "scale/pkgsum/corpus.jsonl.gz"
    texts = []
    with gzip.open(path, "rt", encoding="utf-8") as f:
        for line in f:
            doc = json.loads(line)
            texts.append(f"{doc.get('title', '')} {doc.get('text', '')}".strip())
            if len(texts) == num_docs:
                break
    t0 = time.perf_counter()
    matrix = stack_vectors(encoder.encode(texts, show_progress=True), encoder.vocab_size)
    print(f"encoded {len(texts)} pkgsum docs in {time.perf_counter() - t0:.0f} s", file=sys.stderr)
    df, n = document_frequencies(encoder.tokenizer, texts, encoder.vocab_size)
    idf = idf_from_df(df, n)
    np.savez(cache, data=matrix.data, indices=matrix.indices, indptr=matrix.indptr, shape=np.array(matrix.shape), idf=idf)
    return matrix, idf, encoder.tokenizer


def run_corpus(name: str, csc: sp.csc_matrix, queries: list[SparseVector], args, work: Path) -> dict:
    csc.sort_indices()
    row = {"corpus": name, "num_docs": int(csc.shape[0]), "num_postings": int(csc.nnz),
           "avg_postings_per_query": round(float(np.mean([np.diff(csc.indptr)[q.ids].sum() for q in queries])), 1),
           "avg_query_terms": round(float(np.mean([q.nnz for q in queries])), 2), "numpy": {}, "kernel": {}}
    baseline_queries = queries[: args.baseline_queries]
    baseline = {}
    for k in KS:
        row["numpy"][f"k{k}"], baseline[k] = latencies(lambda q, kk: numpy_search(csc, q, kk), baseline_queries, k)
    for weights in args.weights:
        directory = work / f"{name}-{weights}"
        t0 = time.perf_counter()
        summary = write_sparse_index(directory, csc, config=SparseIndexConfig(weights=weights))
        entry = {"build_s": round(time.perf_counter() - t0, 2), "bytes_per_posting": round(summary["bytes_per_posting"]["postings"], 3),
                 "max_weight_error": summary["max_weight_error"]}
        index = SparseIndex(directory)
        for strategy in STRATEGIES:
            index.strategy = strategy
            for k in KS:
                stats, results = latencies(index.search, queries, k)
                old = row["numpy"][f"k{k}"]
                stats["speedup_p50_vs_numpy"] = round(old["p50_ms"] / stats["p50_ms"], 2)
                stats["cpu_speedup_p50_vs_numpy"] = round(old["cpu_p50_ms"] / stats["cpu_p50_ms"], 2)
                # Agreement with the old float path: identical ranked lists (float32 should give 1.0; it sums
                # in another order, so a near-tie could differ in the last ulp) and top-k overlap (quantised).
                same = [np.array_equal(r[0], b[0]) for r, b in zip(results, baseline[k])]
                overlap = [np.intersect1d(r[0], b[0]).size / b[0].size if b[0].size else 1.0 for r, b in zip(results, baseline[k])]
                stats["same_ranking_as_numpy"] = round(float(np.mean(same)), 4)
                stats["overlap_with_numpy"] = round(float(np.mean(overlap)), 4)
                entry[f"{strategy}_k{k}"] = stats
        row["kernel"][weights] = entry
        del index
        print(json.dumps({name: entry}), file=sys.stderr, flush=True)
    return row


def environment() -> dict:
    root = Path(__file__).resolve().parents[1]
    commit = subprocess.run(["git", "rev-parse", "HEAD"], cwd=root, capture_output=True, text=True).stdout.strip()
    kernel_files = ["index/sparse.py", "index/sparse_kernel.py", "index/sparse_format.py", "bench/bench_sparse_kernel.py", "bench/synthetic.py"]
    dirty = bool(subprocess.run(["git", "status", "--porcelain", "--", *kernel_files], cwd=root, capture_output=True, text=True).stdout.strip())
    cpu = next((line.split(":", 1)[1].strip() for line in Path("/proc/cpuinfo").read_text().splitlines() if line.startswith("model name")), platform.processor())
    return {"commit": commit, "kernel_files_dirty": dirty, "python": platform.python_version(), "numpy": np.__version__,
            "scipy": scipy.__version__, "numba": numba.__version__, "cpu": cpu, "cpu_count": os.cpu_count(),
            "threads": 1, "load_average_start": os.getloadavg()}


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--scifact-index", type=Path, required=True, help="an inference-free scifact index (tandem index build --corpus scifact --dense none)")
    parser.add_argument("--synthetic-sizes", type=int, nargs="*", default=[100_000, 1_000_000])
    parser.add_argument("--pkgsum-docs", type=int, default=20_000)
    parser.add_argument("--pkgsum-cache", type=Path, default=Path("/tmp/tandem-pkgsum-splade.npz"))
    parser.add_argument("--pkgsum-resampled", type=int, nargs="*", default=[729_028],
                        help="also resample the encoded pkgsum prefix to these sizes (bench.synthetic): short documents at full-corpus scale")
    parser.add_argument("--queries", type=int, default=500, help="MS MARCO dev queries timed per setting")
    parser.add_argument("--baseline-queries", type=int, default=200, help="queries timed on the old numpy path")
    parser.add_argument("--weights", nargs="+", default=["float32", "uint8"], choices=["float32", "uint16", "uint8"])
    parser.add_argument("--work", type=Path, default=Path("/tmp/tandem-bench-sparse-kernel"))
    parser.add_argument("--out", type=Path, default=Path("bench/results/sparse_kernel.json"))
    args = parser.parse_args(argv)
    args.work.mkdir(parents=True, exist_ok=True)
    report = {"environment": environment(), "settings": {k: str(v) for k, v in vars(args).items()}, "corpora": []}
    texts = msmarco_queries(args.queries)
    t_start = time.process_time()

    if args.pkgsum_docs:
        matrix, idf, tokenizer = pkgsum_prefix(args.pkgsum_docs, args.pkgsum_cache)
        queries = idf_queries(tokenizer, idf, texts)
        report["corpora"].append(run_corpus(f"pkgsum-{args.pkgsum_docs // 1000}k", matrix.tocsc(), queries, args, args.work))
        for size in args.pkgsum_resampled:
            report["corpora"].append(run_corpus(f"pkgsum-resampled-{size // 1000}k", synthetic_long_docs(matrix, size), queries, args, args.work))

    from transformers import AutoTokenizer

    scifact = SparseIndex(args.scifact_index / "sparse")
    base = scifact.doc_matrix()
    tokenizer = AutoTokenizer.from_pretrained(args.scifact_index / "sparse" / "tokenizer")
    queries = idf_queries(tokenizer, scifact.query_weights, texts)
    for size in args.synthetic_sizes:
        t0 = time.perf_counter()
        csc = synthetic_long_docs(base, size)
        generated = round(time.perf_counter() - t0, 2)
        row = run_corpus(f"synthetic-{size // 1000}k", csc, queries, args, args.work)
        row["generate_s"] = generated
        report["corpora"].append(row)
        del csc

    report["environment"]["load_average_end"] = os.getloadavg()
    report["environment"]["process_cpu_s"] = round(time.process_time() - t_start, 1)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(report, indent=2) + "\n", encoding="utf-8")
    print(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
