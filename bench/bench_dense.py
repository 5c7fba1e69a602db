"""Dense retrieval at scale: FAISS flat vs HNSW vs IVF-PQ (issue 11 §3).

    TANDEM_DATA_DIR=/work/shared/data .venv/bin/python bench/bench_dense.py --sizes 100000,1000000 --out bench/results/dense.json

Encoding 10^5 documents with MiniLM takes over half an hour here, so the document vectors are
synthetic with a realistic structure: the 5,183 scifact documents encoded by MiniLM (cached under
``--cache-dir``), each synthetic vector a random one of them plus Gaussian noise with the
covariance of the real vectors (scaled by ``--noise``), renormalised. The noise stays in the
subspace the real embeddings occupy, but it fills all of it, so neighbourhoods have a higher
intrinsic dimension than real topical clusters: graph and quantisation indexes likely find these
vectors harder than real ones. Queries (``--query-sets``) are MS MARCO dev-small web queries (out
of the documents' domain: their nearest document is far, with near ties) and the scifact test
queries (in domain), both encoded by MiniLM.

Each index is built and written by the product code (:func:`tandem.index.dense.write_dense_index`, all
cores) and searched through :class:`tandem.index.dense.DenseIndex` one query at a time on one thread
after a warm-up; recall@10 is against the exact (flat) top 10 of the same vectors. The JSON keeps
one entry per size and noise, with the load average, threads, commit and library versions.
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from tandem.index.dense import DenseIndex, FaissConfig, load_faiss, set_search_threads, write_dense_index  # noqa: E402

K = 10
MODEL = "minilm-l6"


QUERY_SETS = ("msmarco-dev", "scifact-test")


def _encoder():
    from tandem.retrieval.encoders import dense_encoder

    return dense_encoder({"model": MODEL, "max_length": 256, "batch_size": 32})


def encoded_docs(cache_dir: Path) -> np.ndarray:
    """The scifact documents encoded by MiniLM (cached)."""
    path = cache_dir / "scifact-minilm-l6.npy"
    if not path.exists():
        from tandem.index.corpus import read_corpus
        from tandem.retrieval.datasets import resolve_dataset

        docs = read_corpus(resolve_dataset("scifact").corpus)
        cache_dir.mkdir(parents=True, exist_ok=True)
        np.save(path, _encoder().encode_documents([d.contents for d in docs], show_progress=True))
    return np.load(path)


def encoded_queries(cache_dir: Path, query_set: str, num: int) -> np.ndarray:
    """The first ``num`` queries of a set encoded by MiniLM (cached): MS MARCO dev-small (web queries, out of
    the documents' domain) or the scifact test queries (in domain; there are 300)."""
    path = cache_dir / f"{query_set}-{num}-minilm-l6.npy"
    if not path.exists():
        from tandem.retrieval.datasets import read_qrels, read_queries, resolve_dataset

        if query_set == "msmarco-dev":
            data_dir = Path(os.environ.get("TANDEM_DATA_DIR", "../shared/data"))
            queries = read_queries(data_dir / "msmarco" / "topics-qrels" / "topics.msmarco-passage.dev-subset.txt")
        else:
            paths = resolve_dataset("scifact")
            queries = read_queries(paths.queries, set(read_qrels(paths.qrels("test"))))
        cache_dir.mkdir(parents=True, exist_ok=True)
        np.save(path, _encoder().encode_queries([q.text for q in queries[:num]]))
    return np.load(path)


def synthetic_vectors(base: np.ndarray, num: int, noise: float, seed: int = 0) -> np.ndarray:
    """``num`` unit vectors: a random row of ``base`` plus ``noise`` x Gaussian noise with the covariance of ``base``, renormalised."""
    rng = np.random.default_rng(seed)
    dim = base.shape[1]
    centred = base - base.mean(axis=0)
    factor = np.linalg.cholesky(centred.T @ centred / (len(base) - 1) + 1e-8 * np.eye(dim)).astype(np.float32)
    out = np.empty((num, dim), dtype=np.float32)
    for start in range(0, num, 100_000):
        size = min(100_000, num - start)
        chunk = base[rng.integers(0, len(base), size)] + noise * (rng.standard_normal((size, dim), dtype=np.float32) @ factor.T)
        out[start : start + size] = chunk / np.linalg.norm(chunk, axis=1, keepdims=True)
    return out


def neighbourhood_stats(base: np.ndarray, noise: float) -> dict:
    """How close synthetic copies sit to their source, against how close real documents sit to their nearest neighbour."""
    sims = base @ base.T
    np.fill_diagonal(sims, -1)
    copies = synthetic_vectors(base, len(base), noise, seed=1)
    rng = np.random.default_rng(1)  # the same picks synthetic_vectors(seed=1) made
    sources = base[rng.integers(0, len(base), len(base))]
    return {"real_nearest_neighbour_cos_median": round(float(np.median(sims.max(axis=1))), 4),
            "copy_to_source_cos_median": round(float(np.median(np.sum(copies * sources, axis=1))), 4)}


def latencies(index: DenseIndex, queries: np.ndarray) -> tuple[np.ndarray, dict]:
    """Top-10 rows of each query (one query per call, on one thread, after a warm-up) and p50/p99 ms."""
    set_search_threads(1)
    for q in queries[:10]:
        index.search(q[None], K)
    rows, times = np.empty((len(queries), K), dtype=np.int64), []
    for i, q in enumerate(queries):
        t0 = time.perf_counter()
        rows[i] = index.search(q[None], K)[0][0]
        times.append((time.perf_counter() - t0) * 1000)
    set_search_threads(None)
    return rows, {"p50_ms": round(float(np.percentile(times, 50)), 3), "p99_ms": round(float(np.percentile(times, 99)), 3), "timed_queries": len(times)}


def recall_at_k(found: np.ndarray, exact: np.ndarray) -> float:
    return round(float(np.mean([len(set(f) & set(e)) / K for f, e in zip(found, exact)])), 4)


def built(work: Path, vectors: np.ndarray, config: FaissConfig, keep: bool) -> tuple[DenseIndex, dict]:
    """An index of ``vectors`` built and written by the product code (or the one a previous ``--keep-indexes`` run left)."""
    folder = work / config.type
    record = folder / "bench-summary.json"
    if keep and record.exists():
        summary = {**json.loads(record.read_text()), "built_in_an_earlier_run": True}  # build_seconds were measured then
        print(f"  {config.type}: reusing the index built in {summary['build_seconds']:.1f} s", flush=True)
    else:
        shutil.rmtree(folder, ignore_errors=True)
        written = write_dense_index(folder, vectors, config)
        summary = {"config": written["faiss"], "build_seconds": written["faiss_build_seconds"],
                   "bytes_per_vector": round((folder / "faiss.index").stat().st_size / len(vectors), 1)}
        record.write_text(json.dumps(summary))
        print(f"  {config.type}: built in {summary['build_seconds']:.1f} s, {summary['bytes_per_vector']} bytes/vector", flush=True)
    return DenseIndex(folder, FaissConfig(**summary["config"])), summary


def sweep(index: DenseIndex, name: str, values: list[int], queries: dict[str, np.ndarray], exact: dict[str, np.ndarray]) -> dict[str, list[dict]]:
    """Per query set, p50/p99 and recall@10 at each value of the search parameter ``name``."""
    out = {}
    for set_name, vectors in queries.items():
        out[set_name] = []
        for value in values:
            index.configure(**{name: value})
            rows, timing = latencies(index, vectors)
            out[set_name].append({name: value, **timing, "recall_at_10": recall_at_k(rows, exact[set_name])})
            print(f"  {index.type:6s} {set_name:13s} {name}={value:<5d} p50 {timing['p50_ms']:8.3f} ms  p99 {timing['p99_ms']:8.3f} ms"
                  f"  recall@10 {out[set_name][-1]['recall_at_10']:.4f}", flush=True)
    return out


def measure_size(work: Path, vectors: np.ndarray, queries: dict[str, np.ndarray], args) -> dict:
    """Flat (the exact top 10 and its latency), HNSW and IVF-PQ over ``vectors``, for every query set."""
    indexes, results = {}, {name: {} for name in queries}
    index, indexes["flat"] = built(work, vectors, FaissConfig(type="flat"), args.keep_indexes)
    exact = {}
    for name, q in queries.items():
        exact[name] = index.search(q, K)[0]  # one multi-threaded batch
        timed = q if len(vectors) <= 200_000 else q[: args.flat_timed_queries]  # each query scans everything
        results[name]["flat"] = latencies(index, timed)[1]
        print(f"  flat   {name:13s}            p50 {results[name]['flat']['p50_ms']:8.3f} ms  p99 {results[name]['flat']['p99_ms']:8.3f} ms", flush=True)
    del index
    for kind, config, parameter, values in (("hnsw", FaissConfig(type="hnsw", hnsw_m=32, ef_construction=200), "ef_search", args.ef_search),
                                            ("ivfpq", FaissConfig(type="ivfpq"), "nprobe", args.nprobe)):
        index, indexes[kind] = built(work, vectors, config, args.keep_indexes)
        for name, points in sweep(index, parameter, [int(v) for v in values.split(",")], queries, exact).items():
            results[name][kind] = points
        del index
    for name in queries:
        results[name]["goal_hnsw_recall_0.99_at_5pct_flat_p50"] = goal(results[name])
    return {"indexes": indexes, "queries": results}


def flat_sweep(work: Path, vectors: np.ndarray, queries: np.ndarray, sizes: list[int]) -> list[dict]:
    """Flat p50/p99 at growing N (prefixes of ``vectors``): where exact search stops costing a few ms."""
    out = []
    for n in sizes:
        folder = work / f"flat-{n}"
        write_dense_index(folder, vectors[:n], FaissConfig(type="flat"))
        _, timing = latencies(DenseIndex(folder), queries[:200])
        shutil.rmtree(folder, ignore_errors=True)
        out.append({"num_vectors": n, **timing})
        print(f"  flat sweep N={n:,}: p50 {timing['p50_ms']} ms, p99 {timing['p99_ms']} ms", flush=True)
    return out


def goal(result: dict) -> dict:
    """'Dense HNSW: recall@10 >= 0.99 at p50 <= 5% of flat': the fastest HNSW setting that meets both, if any."""
    flat_p50 = result["flat"]["p50_ms"]
    passing = [p for p in result["hnsw"] if p["recall_at_10"] >= 0.99 and p["p50_ms"] <= 0.05 * flat_p50]
    best = min(passing, key=lambda p: p["p50_ms"]) if passing else None
    return {"met": best is not None, "flat_p50_ms": flat_p50, "limit_p50_ms": round(0.05 * flat_p50, 3), "best": best}


def run_meta() -> dict:
    from tandem.index.dense import available_cores, load_faiss

    faiss = load_faiss()
    root = Path(__file__).resolve().parents[1]
    commit = subprocess.run(["git", "rev-parse", "HEAD"], cwd=root, capture_output=True, text=True).stdout.strip()
    dirty = bool(subprocess.run(["git", "status", "--porcelain", "--", "index/dense.py", "bench/bench_dense.py"], cwd=root, capture_output=True, text=True).stdout.strip())
    return {"commit": commit, "dense_code_changed_since_commit": dirty, "faiss": faiss.__version__, "numpy": np.__version__,
            "python": platform.python_version(), "platform": platform.platform(), "cores": available_cores(), "build_threads": available_cores(),
            "search_threads": 1, "omp_wait_policy": os.environ.get("OMP_WAIT_POLICY"), "load_average_start": [round(x, 2) for x in os.getloadavg()],
            "started": time.strftime("%Y-%m-%dT%H:%M:%S%z")}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", default="100000", help="comma-separated numbers of synthetic vectors")
    parser.add_argument("--query-sets", default="msmarco-dev:500,scifact-test:300",
                        help=f"query sets and how many of their first queries: {', '.join(QUERY_SETS)} (MS MARCO: out of the documents' domain; scifact test: in it)")
    parser.add_argument("--noise", type=float, default=0.8,
                        help="noise scale, in units of the real vectors' covariance (0.8: a copy sits at cos ~0.81 from its source, "
                             "two copies of one source at ~0.65, near the real documents' median nearest-neighbour cos of 0.68)")
    parser.add_argument("--ef-search", default="16,32,64,128,256,512,1024", help="HNSW efSearch values measured")
    parser.add_argument("--nprobe", default="8,16,32,64", help="IVF-PQ nprobe values measured")
    parser.add_argument("--flat-timed-queries", type=int, default=100, help="flat: queries timed above 200k vectors (each scans everything)")
    parser.add_argument("--flat-sweep", default="10000,20000,30000,50000,100000", help="flat-only sizes for the auto threshold ('' to skip)")
    parser.add_argument("--cache-dir", type=Path, default=Path("/tmp/tandem-bench-dense"), help="encoded vectors")
    parser.add_argument("--work-dir", type=Path, default=Path("/var/tmp/tandem-bench-dense-work"), help="the indexes being measured")
    parser.add_argument("--keep-indexes", action="store_true", help="keep the indexes in --work-dir and reuse them in the next run (same sizes and noise)")
    parser.add_argument("--out", type=Path, default=Path("bench/results/dense.json"), help="results JSON (entries for other sizes/noise already in it are kept)")
    args = parser.parse_args()

    load_faiss()  # before torch (if the vectors need encoding): FAISS's OpenMP threads then wait passively
    base = encoded_docs(args.cache_dir)
    queries = {}
    for item in args.query_sets.split(","):
        name, _, count = item.partition(":")
        if name not in QUERY_SETS:
            parser.error(f"--query-sets: unknown set {name!r} (choose {', '.join(QUERY_SETS)})")
        queries[name] = encoded_queries(args.cache_dir, name, int(count or 300))
    report = json.loads(args.out.read_text()) if args.out.exists() else {}
    report.setdefault("sizes", {})
    report["data"] = {"base": f"scifact corpus ({len(base):,} docs) encoded by {MODEL}",
                      "queries": {name: {"count": len(q), "cos_to_nearest_base_doc_median": round(float(np.median((q @ base.T).max(axis=1))), 4),
                                         "cos_to_10th_base_doc_median": round(float(np.median(np.sort(q @ base.T, axis=1)[:, -K])), 4)}
                                  for name, q in queries.items()}}
    setting = {"noise": args.noise, **neighbourhood_stats(base, args.noise)}
    print(f"base {base.shape}, {report['data']['queries']}, {setting}", flush=True)
    if args.flat_sweep:
        sizes = [int(n) for n in args.flat_sweep.split(",")]
        sweep_vectors = synthetic_vectors(base, max(sizes), args.noise, seed=2)
        first = next(iter(queries))
        report["flat_sweep"] = {"meta": run_meta(), "noise": args.noise, "queries": first,
                                "points": flat_sweep(args.work_dir / "sweep", sweep_vectors, queries[first], sizes)}
        del sweep_vectors
    for num in [int(n) for n in args.sizes.split(",")]:
        print(f"N = {num:,}", flush=True)
        work = args.work_dir / f"{num}-noise{args.noise}"
        entry = {"meta": run_meta(), "num_vectors": num, "data": setting}
        entry.update(measure_size(work, synthetic_vectors(base, num, args.noise), queries, args))
        entry["meta"]["load_average_end"] = [round(x, 2) for x in os.getloadavg()]
        report["sizes"][f"N={num},noise={args.noise}"] = entry
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(json.dumps(report, indent=2) + "\n")
        for name, result in entry["queries"].items():
            print(f"N = {num:,}, {name}: goal {result['goal_hnsw_recall_0.99_at_5pct_flat_p50']}", flush=True)
        print(f"wrote {args.out}", flush=True)
        if not args.keep_indexes:
            shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
