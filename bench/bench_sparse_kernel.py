"""Sparse index size and single-thread search speed: the compiled kernels over each posting layout
(``SparseIndexConfig.layout``: bit-packed vs byte-aligned doc-id gaps) and weight precision, the
old numpy search (bincount over all postings) as a baseline, and the bytes of a Lucene impact
index of the same vectors.

Corpora: a pkgsum prefix encoded with SPLADE (cached under /tmp, never in the repo), scifact
itself and synthetic long documents resampled from scifact vectors (``bench.synthetic``) at
several sizes. Queries: MS MARCO dev queries encoded inference-free (IDF table of the corpus).

Bytes per posting are counted the same way for both engines: every file of the index divided by
the postings of the vectors. Tandem: all posting files of the component's segment folder (the
query side, tokenizer + IDF table, is the same for both and left out). Lucene: every file of an
optimised (one segment) Anserini impact index (``-impact -pretokenized``, weights * 100 rounded)
built with one thread, reported both whole and without its stored fields and doc values (the doc
ids, which Tandem keeps in its docstore). Timings are repeated ``--repeats`` times, layouts
interleaved, so the spread between repeats of one setting is the noise of that run.

Writes JSON with sizes, p50/p99 (wall and thread CPU) at k=10 and k=1000, a summary of the packed
vs aligned ratios, load average, commit and library versions::

    TANDEM_DATA_DIR=/work/shared/data .venv/bin/python bench/bench_sparse_kernel.py \
        --scifact-index /tmp/scifact-if --out bench/results/sparse_kernel.json
"""
from __future__ import annotations

import argparse
import gzip
import json
import os
import platform
import shutil
import sys
import time
from collections import defaultdict
from pathlib import Path

for var in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS", "NUMBA_NUM_THREADS"):
    os.environ.setdefault(var, "1")

import numba  # noqa: E402
import numpy as np  # noqa: E402
import scipy  # noqa: E402
import scipy.sparse as sp  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from bench import run_env  # noqa: E402
from bench.synthetic import synthetic_long_docs  # noqa: E402
from tandem.index.sparse import SparseIndex, SparseIndexConfig, SparseVector, top_k, write_sparse_index  # noqa: E402
from tandem.index.sparse_kernel import PRUNE_DOCS_PER_K  # noqa: E402

KS = (10, 100, 1000)
STRATEGIES = ("scan", "prune")  # SparseIndex.strategy: the two exact kernels ("auto", the default, picks one by k and N)
LAYOUTS = ("packed", "aligned")  # SparseIndexConfig.layout (packed is the default)
LUCENE_DOC_ID_FILES = (".fdt", ".fdx", ".fdm", ".dvd", ".dvm")  # stored fields and doc values: the doc ids


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
    from tandem.retrieval.idf_query import IdfQueryEncoder

    return [q for q in IdfQueryEncoder(tokenizer, idf).encode(texts) if q.nnz]


def pkgsum_prefix(num_docs: int, cache: Path) -> tuple[sp.csr_matrix, np.ndarray, object]:
    """(SPLADE doc matrix, IDF table, tokenizer) of the first num_docs pkgsum documents, cached in ``cache``."""
    from tandem.retrieval.idf_query import document_frequencies, idf_from_df
    from tandem.retrieval.splade import SpladeConfig, SpladeEncoder
    from tandem.index.sparse import stack_vectors

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


def lucene_impact_bytes(csc: sp.csc_matrix, tokens: list[str], work: Path, scale: float = 100.0) -> dict:
    """Bytes of an optimised one-thread Lucene impact index of the same vectors, by file kind."""
    from tandem.index.lucene.bm25 import run_index_collection
    from tandem.index.lucene.impact import impact_index_args, quantize, write_vector_collection

    csr = csc.tocsr()
    if work.exists():
        shutil.rmtree(work)
    kept = 0

    def vectors():
        nonlocal kept
        for i in range(csr.shape[0]):
            start, end = csr.indptr[i], csr.indptr[i + 1]
            vector = quantize({tokens[t]: float(w) for t, w in zip(csr.indices[start:end], csr.data[start:end])}, scale)
            kept += len(vector)
            yield f"d{i}", vector

    t0 = time.perf_counter()
    write_vector_collection(vectors(), work / "collection", total=csr.shape[0])
    run_index_collection(impact_index_args(work / "collection", work / "index", 1) + ["-optimize"], work / "index")
    shutil.rmtree(work / "collection")
    by_kind: dict[str, int] = defaultdict(int)
    for path in (work / "index").iterdir():
        by_kind[path.suffix or path.name.split("_")[0]] += path.stat().st_size
    total = sum(by_kind.values())
    doc_ids = sum(by_kind.get(kind, 0) for kind in LUCENE_DOC_ID_FILES)
    shutil.rmtree(work)
    return {"scale": scale, "postings_kept": kept, "bytes": total, "bytes_by_kind": dict(sorted(by_kind.items())),
            "bytes_per_posting": round(total / csc.nnz, 4), "bytes_per_posting_without_doc_ids": round((total - doc_ids) / csc.nnz, 4),
            "build_s": round(time.perf_counter() - t0, 1)}


def run_corpus(name: str, csc: sp.csc_matrix, queries: list[SparseVector], args, work: Path, tokens: list[str] | None = None) -> dict:
    csc.sort_indices()
    row = {"corpus": name, "num_docs": int(csc.shape[0]), "num_postings": int(csc.nnz),
           "avg_postings_per_query": round(float(np.mean([np.diff(csc.indptr)[q.ids].sum() for q in queries])), 1),
           "avg_query_terms": round(float(np.mean([q.nnz for q in queries])), 2), "numpy": {}, "kernel": {}}
    if tokens is not None and csc.nnz <= args.lucene_max_postings:
        row["lucene_impact"] = lucene_impact_bytes(csc, tokens, work / f"{name}-lucene")
        print(json.dumps({name: {"lucene_impact": row["lucene_impact"]}}), file=sys.stderr, flush=True)
    baseline_queries = queries[: args.baseline_queries]
    baseline = {}
    for k in KS:
        row["numpy"][f"k{k}"], baseline[k] = latencies(lambda q, kk: numpy_search(csc, q, kk), baseline_queries, k)
    indexes = {}
    for weights in args.weights:
        for layout in args.layouts:
            setting = f"{weights}/{layout}"
            directory = work / f"{name}-{weights}-{layout}"
            t0 = time.perf_counter()
            summary = write_sparse_index(directory, csc, config=SparseIndexConfig(weights=weights, layout=layout))
            row["kernel"][setting] = {
                "build_s": round(time.perf_counter() - t0, 2), "bytes_per_posting": round(summary["bytes_per_posting"]["postings"], 4),
                "bytes_per_posting_by_file": {key: round(size / csc.nnz, 4) for key, size in summary["posting_file_bytes"].items()},
                "max_weight_error": summary["max_weight_error"]}
            indexes[setting] = SparseIndex(directory)
    for repeat in range(args.repeats):  # settings interleaved within each repeat: the spread between repeats is the noise
        for setting, index in indexes.items():
            entry = row["kernel"][setting]
            for strategy in args.strategies:
                index.strategy = strategy
                for k in KS:
                    index.counters[:] = 0
                    stats, results = latencies(index.search, queries, k)
                    if strategy == "prune":  # per timed query (the warm-up query included in the sums)
                        stats["windows_skipped_per_query"], stats["candidates_per_query"], stats["blocks_probed_per_query"] = (
                            round(float(c) / len(queries), 1) for c in index.counters)
                    if repeat == 0:
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
                        entry[f"auto_k{k}"] = "prune" if index.num_docs >= PRUNE_DOCS_PER_K * k else "scan"  # the default's choice
                        entry[f"{strategy}_k{k}"]["repeats"] = []
                        stats = dict(stats)
                    entry[f"{strategy}_k{k}"]["repeats"].append({key: stats[key] for key in ("p50_ms", "p99_ms", "cpu_p50_ms", "cpu_p99_ms")})
        print(json.dumps({name: {"repeat": repeat, "load_average": os.getloadavg()}}), file=sys.stderr, flush=True)
    if args.approx_factors:
        row["approximate"] = {setting: approximate(index, queries, args.approx_factors) for setting, index in indexes.items()}
    for setting in row["kernel"]:
        print(json.dumps({name: {setting: row["kernel"][setting], "approximate": row.get("approximate", {}).get(setting)}}), file=sys.stderr, flush=True)
    if set(args.layouts) == set(LAYOUTS):
        row["packed_vs_aligned"] = packed_vs_aligned(row, args)
    del indexes
    return row


def approximate(index: SparseIndex, queries: list[SparseVector], factors: list[float], k: int = 10) -> dict:
    """*Tandem approximate* (``SparseIndex.bound_factor`` < 1): per factor, k=10 p50/p99 and recall@10
    against the exact top 10, with the CPU/wall p50 speedup over the exact default (strategy auto)."""
    index.strategy, index.bound_factor = "auto", 1.0
    exact_stats, exact = latencies(index.search, queries, k)
    out = {"exact_auto": exact_stats}
    index.strategy = "prune"
    for factor in factors:
        index.bound_factor = factor
        stats, results = latencies(index.search, queries, k)
        recall = [np.intersect1d(r[0], e[0]).size / e[0].size for r, e in zip(results, exact) if e[0].size]
        stats["recall_at_10"] = round(float(np.mean(recall)), 4)
        stats["speedup_p50_vs_exact"] = round(exact_stats["p50_ms"] / stats["p50_ms"], 2)
        stats["cpu_speedup_p50_vs_exact"] = round(exact_stats["cpu_p50_ms"] / stats["cpu_p50_ms"], 2)
        out[f"bound_factor_{factor:g}"] = stats
    index.strategy, index.bound_factor = "auto", 1.0
    return out


def packed_vs_aligned(row: dict, args) -> dict:
    """Per weight precision: bytes and median-over-repeats latency of packed / aligned, with the noise
    (largest relative spread between repeats of one setting) to judge them by."""
    out = {}
    for weights in args.weights:
        packed, aligned = row["kernel"][f"{weights}/packed"], row["kernel"][f"{weights}/aligned"]
        entry = {"bytes_per_posting": [packed["bytes_per_posting"], aligned["bytes_per_posting"]],
                 "bytes_ratio": round(packed["bytes_per_posting"] / aligned["bytes_per_posting"], 4)}
        if "lucene_impact" in row:
            entry["vs_lucene_impact"] = round(packed["bytes_per_posting"] / row["lucene_impact"]["bytes_per_posting"], 4)
            entry["vs_lucene_impact_without_doc_ids"] = round(packed["bytes_per_posting"] / row["lucene_impact"]["bytes_per_posting_without_doc_ids"], 4)
        for strategy in args.strategies:
            for k in KS:
                key = f"{strategy}_k{k}"
                for metric in ("cpu_p50_ms", "cpu_p99_ms", "p50_ms", "p99_ms"):
                    a = [r[metric] for r in packed[key]["repeats"]]
                    b = [r[metric] for r in aligned[key]["repeats"]]
                    spread = max((max(x) - min(x)) / float(np.median(x)) for x in (a, b))
                    entry[f"{key}_{metric}"] = {"packed": float(np.median(a)), "aligned": float(np.median(b)),
                                                "ratio": round(float(np.median(a) / np.median(b)), 3), "noise": round(spread, 3)}
        out[weights] = entry
    return out


def slopes(rows: list[dict], args) -> dict:
    """Log-log slope of p50 latency (CPU and wall, per setting, strategy and k) from the smallest to the
    largest size of each corpus family measured (pkgsum prefixes; synthetic sizes from 100k up)."""
    families: dict[str, list[dict]] = defaultdict(list)
    for row in rows:
        if row["corpus"].startswith("pkgsum-") and "resampled" not in row["corpus"]:
            families["pkgsum"].append(row)
        elif row["corpus"].startswith("synthetic-") and row["num_docs"] >= 100_000:
            families["synthetic"].append(row)
    out = {}
    for family, members in families.items():
        if len(members) < 2:
            continue
        small, large = min(members, key=lambda r: r["num_docs"]), max(members, key=lambda r: r["num_docs"])
        entry = {"from_docs": small["num_docs"], "to_docs": large["num_docs"],
                 "postings_per_query_slope": round(float(np.log(large["avg_postings_per_query"] / small["avg_postings_per_query"]) / np.log(large["num_docs"] / small["num_docs"])), 3)}
        for setting in small["kernel"]:
            for key in small["kernel"][setting]:
                if not isinstance(small["kernel"][setting][key], dict) or "cpu_p50_ms" not in small["kernel"][setting][key]:
                    continue
                a, b = small["kernel"][setting][key], large["kernel"][setting][key]
                ratio = np.log(large["num_docs"] / small["num_docs"])
                entry[f"{setting}/{key}"] = {"cpu": round(float(np.log(b["cpu_p50_ms"] / a["cpu_p50_ms"]) / ratio), 3),
                                             "wall": round(float(np.log(b["p50_ms"] / a["p50_ms"]) / ratio), 3)}
        out[family] = entry
    return out


def environment() -> dict:
    kernel_files = ["index/sparse.py", "index/sparse_kernel.py", "index/sparse_format.py", "index/sparse_checks.py", "bench/bench_sparse_kernel.py", "bench/synthetic.py"]
    pyserini = run_env.library_versions(["pyserini"])["pyserini"]
    cpu = run_env.cpu_model()
    return {"commit": run_env.commit(), "kernel_files_dirty": run_env.files_dirty(kernel_files), "python": platform.python_version(), "numpy": np.__version__,
            "scipy": scipy.__version__, "numba": numba.__version__, "pyserini": pyserini, "cpu": cpu, "cpu_count": os.cpu_count(),
            "threads": 1, "load_average_start": os.getloadavg()}


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--scifact-index", type=Path, required=True, help="an inference-free scifact index (tandem index build --corpus scifact --dense none)")
    parser.add_argument("--synthetic-sizes", type=int, nargs="*", default=[5_183, 100_000, 1_000_000],
                        help="synthetic long-document corpora (the scifact size is scifact itself)")
    parser.add_argument("--pkgsum-docs", type=int, default=100_000)
    parser.add_argument("--pkgsum-cache", type=Path, default=Path("/tmp/tandem-pkgsum-splade-100k.npz"))
    parser.add_argument("--pkgsum-full-index", type=Path, default=None,
                        help="also a larger pkgsum sparse segment folder (e.g. all 729k documents, float32) with its query side "
                             "(query_weights.npy) in --pkgsum-full-query-side: its documents are re-indexed in every setting")
    parser.add_argument("--pkgsum-full-query-side", type=Path, default=None, help="folder with that index's query_weights.npy (IDF)")
    parser.add_argument("--pkgsum-resampled", type=int, nargs="*", default=[],
                        help="also resample the encoded pkgsum prefix to these sizes (bench.synthetic): short documents at full-corpus scale")
    parser.add_argument("--queries", type=int, default=500, help="MS MARCO dev queries timed per setting")
    parser.add_argument("--baseline-queries", type=int, default=200, help="queries timed on the old numpy path")
    parser.add_argument("--weights", nargs="+", default=["float32", "uint8"], choices=["float32", "uint16", "uint8"])
    parser.add_argument("--layouts", nargs="+", default=list(LAYOUTS), choices=list(LAYOUTS))
    parser.add_argument("--strategies", nargs="+", default=list(STRATEGIES), choices=list(STRATEGIES))
    parser.add_argument("--approx-factors", type=float, nargs="*", default=[],
                        help="also time SparseIndex.bound_factor < 1 (Tandem approximate) at k=10: recall@10 vs exact, speedup")
    parser.add_argument("--repeats", type=int, default=2, help="timing passes per setting (settings interleaved)")
    parser.add_argument("--lucene-max-postings", type=int, default=30_000_000,
                        help="also build a Lucene impact index of corpora up to this many postings (its bytes only; 0: none)")
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
        tokens = tokenizer.convert_ids_to_tokens(list(range(matrix.shape[1])))
        report["corpora"].append(run_corpus(f"pkgsum-{args.pkgsum_docs // 1000}k", matrix.tocsc(), queries, args, args.work, tokens))
        if args.pkgsum_full_index is not None:
            full = SparseIndex(args.pkgsum_full_index)
            idf = np.load((args.pkgsum_full_query_side or args.pkgsum_full_index) / "query_weights.npy")
            report["corpora"].append(run_corpus(f"pkgsum-{full.num_docs // 1000}k", full.doc_matrix().tocsc(), idf_queries(tokenizer, idf, texts), args, args.work))
            del full
        for size in args.pkgsum_resampled:
            report["corpora"].append(run_corpus(f"pkgsum-resampled-{size // 1000}k", synthetic_long_docs(matrix, size), queries, args, args.work))

    from transformers import AutoTokenizer

    scifact = SparseIndex(args.scifact_index / "sparse")
    base = scifact.doc_matrix()
    tokenizer = AutoTokenizer.from_pretrained(args.scifact_index / "sparse" / "tokenizer")
    queries = idf_queries(tokenizer, scifact.query_weights, texts)
    tokens = tokenizer.convert_ids_to_tokens(list(range(base.shape[1])))
    for size in args.synthetic_sizes:
        t0 = time.perf_counter()
        csc = synthetic_long_docs(base, size)
        generated = round(time.perf_counter() - t0, 2)
        row = run_corpus("scifact" if size == base.shape[0] else f"synthetic-{size // 1000}k", csc, queries, args, args.work, tokens)
        row["generate_s"] = generated
        report["corpora"].append(row)
        del csc

    report["slopes"] = slopes(report["corpora"], args)
    report["environment"]["load_average_end"] = os.getloadavg()
    report["environment"]["process_cpu_s"] = round(time.process_time() - t_start, 1)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(report, indent=2) + "\n", encoding="utf-8")
    print(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
