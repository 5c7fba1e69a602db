"""Approximate learned-sparse search vs Tandem's exact engine (issue 11 §2): recall@10 and latency.

    TANDEM_DATA_DIR=/work/shared/data nice -n 10 .venv/bin/python bench/bench_approx_sparse.py \
        --encoded /work/scratch/pkgsum-enc --sizes 100000 --out bench/results/approx_sparse.json

Documents: the first N pkgsum documents as `tandem encode` wrote them (SPLADE-tiny, the vectors a
`tandem index build --from-encoded` indexes; any prefix of pkgsum is a random sample). Queries:
MS MARCO dev-small topics encoded inference-free with the IDF table of those N documents (what an
inference-free index of them would use). The ground truth is the native engine's exact top 10
(:class:`tandem.index.sparse.SparseIndex`, what ``native-sparse`` searches per segment).

Each engine is written by the product code of its backend and searched one query at a time on one
thread after a warm-up, through the same per-segment call its retriever makes (native:
``SparseIndex.search``; Seismic: ``SeismicSegment.search``, which includes the query's term
mapping); query encoding, id lookup and merging are the same for every backend and left out.
Latency is wall-clock and thread-CPU per query (the machine is shared: CPU time is the steadier).
``speedup_p50`` is exact p50 / approximate p50, both measured in this run.

Engines: ``seismic`` (:func:`run_seismic`) and ``bmp`` (:func:`run_bmp`, the BMP helper's section);
``--engines`` picks. Each takes the doc matrix, the queries, the exact results and the work folder
and returns one entry per (build, search) setting. The JSON keeps one run per engine set
(``runs["seismic"]``, ``runs["bmp"]``), so running one engine leaves the others' results in place.
"""
from __future__ import annotations

import argparse
import importlib.metadata
import json
import os
import platform
import shutil
import subprocess
import sys
import time
from pathlib import Path
from typing import Callable

for var in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS", "NUMBA_NUM_THREADS", "RAYON_NUM_THREADS"):
    os.environ.setdefault(var, "1")

import numpy as np  # noqa: E402
import scipy.sparse as sp  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from tandem.index.sparse import SparseIndex, SparseVector, write_sparse_index  # noqa: E402

K = 10
ROOT = Path(__file__).resolve().parents[1]


# -- data ---------------------------------------------------------------------------------------
def load_prefix(encoded: Path, num_docs: int, cache: Path) -> tuple[sp.csr_matrix, list[str], object]:
    """(doc matrix, document texts, tokenizer) of the first ``num_docs`` documents of the `tandem encode`
    shards in ``encoded``, read (and checked) as ``tandem index build --from-encoded`` reads them;
    the whole matrix is cached as ``cache`` (every prefix is sliced from it)."""
    from tandem.index.corpus import read_corpus
    from tandem.retrieval.encode import read_shards
    from tandem.retrieval.encoders import saved_tokenizer

    shards = read_shards([encoded])
    corpus = read_corpus(shards.corpus_path, options=shards.first.corpus.options)
    texts = [d.contents for d in corpus[:num_docs]]
    tokenizer = saved_tokenizer(shards.shards[0].path / shards.first.files["tokenizer"])
    if cache.exists():
        saved = np.load(cache)
        matrix = sp.csr_matrix((saved["data"], saved["indices"], saved["indptr"]), shape=tuple(saved["shape"]))
    else:
        shards.check_corpus(corpus, shards.corpus_path)
        matrix = next(iter(shards.encoded_docs(corpus).sparse.values())).tocsr()
        cache.parent.mkdir(parents=True, exist_ok=True)
        np.savez(cache, data=matrix.data, indices=matrix.indices, indptr=matrix.indptr, shape=np.array(matrix.shape))
    return matrix[:num_docs].tocsr(), texts, tokenizer


def msmarco_queries(limit: int) -> list[str]:
    path = Path(os.environ.get("TANDEM_DATA_DIR", "/work/shared/data")) / "msmarco/topics-qrels/topics.msmarco-passage.dev-subset.txt"
    return [line.split("\t", 1)[1].strip() for line in path.read_text(encoding="utf-8").splitlines()[:limit]]


def idf_queries(tokenizer, texts: list[str], docs: list[str], vocab_size: int) -> list[SparseVector]:
    """Inference-free query vectors with the IDF of ``docs`` (queries without a known term dropped)."""
    from tandem.retrieval.idf_query import IdfQueryEncoder, document_frequencies, idf_from_df

    df, n = document_frequencies(tokenizer, docs, vocab_size)
    return [q for q in IdfQueryEncoder(tokenizer, idf_from_df(df, n)).encode(texts) if q.nnz]


# -- measuring ----------------------------------------------------------------------------------
def timed(search: Callable[[SparseVector], np.ndarray], queries: list[SparseVector]) -> tuple[dict, list[np.ndarray]]:
    """Per-query wall and thread-CPU milliseconds (after one warm-up query) and each query's result rows."""
    search(queries[0])
    wall, cpu, results = [], [], []
    for q in queries:
        t0, c0 = time.perf_counter(), time.thread_time()
        results.append(search(q))
        cpu.append(time.thread_time() - c0)
        wall.append(time.perf_counter() - t0)
    wall_ms, cpu_ms = np.asarray(wall) * 1000, np.asarray(cpu) * 1000

    def r(x: float) -> float:
        return round(float(x), 4)

    return {"p50_ms": r(np.percentile(wall_ms, 50)), "p99_ms": r(np.percentile(wall_ms, 99)), "mean_ms": r(wall_ms.mean()),
            "cpu_p50_ms": r(np.percentile(cpu_ms, 50)), "cpu_p99_ms": r(np.percentile(cpu_ms, 99)), "queries": len(queries)}, results


def recall_at_k(found: list[np.ndarray], exact: list[np.ndarray]) -> float:
    """Mean over queries of |found ∩ exact top-k| / |exact top-k| (queries with no exact hit count 1)."""
    return round(float(np.mean([np.intersect1d(f, e).size / e.size if e.size else 1.0 for f, e in zip(found, exact)])), 4)


def compare(stats: dict, exact_stats: dict, found: list[np.ndarray], exact: list[np.ndarray]) -> dict:
    return {**stats, "recall_at_10": recall_at_k(found, exact),
            "speedup_p50": round(exact_stats["p50_ms"] / stats["p50_ms"], 2),
            "cpu_speedup_p50": round(exact_stats["cpu_p50_ms"] / stats["cpu_p50_ms"], 2)}


def folder_bytes(path: Path) -> int:
    return sum(p.stat().st_size for p in path.rglob("*") if p.is_file())


# -- engines ------------------------------------------------------------------------------------
def run_seismic(matrix: sp.csr_matrix, queries: list[SparseVector], exact: list[np.ndarray], exact_stats: dict, work: Path, args) -> list[dict]:
    """Seismic at each build setting (``--seismic-builds``) and search setting (``--seismic-searches``)."""
    from tandem.retrieval.backends.seismic_sparse import SearchParameters, SeismicConfig, SeismicSegment, write_seismic_segment

    out = []
    for build in args.seismic_builds:
        config = SeismicConfig(**{**parse_setting(build), "build_threads": args.build_threads})
        folder = work / f"seismic-{build.replace(',', '-').replace('=', '')}"
        shutil.rmtree(folder, ignore_errors=True)
        t0 = time.perf_counter()
        stats = write_seismic_segment(folder, matrix, config)
        built = {"build_s": round(time.perf_counter() - t0, 2), "build_threads": stats["build_threads"], "bytes": folder_bytes(folder)}
        segment = SeismicSegment(folder, matrix.shape[0]).load()
        for search in args.seismic_searches:
            values = parse_setting(search)
            params = SearchParameters(int(values["query_cut"]), float(values["heap_factor"]))
            timing, found = timed(lambda q: segment.search(q, K, params)[0], queries)
            entry = {"engine": "seismic", "build": config.model_dump(exclude={"query_cut", "heap_factor"}), **built,
                     "search": {"query_cut": params.query_cut, "heap_factor": params.heap_factor}, **compare(timing, exact_stats, found, exact)}
            out.append(entry)
            print(json.dumps({k: entry[k] for k in ("search", "recall_at_10", "p50_ms", "p99_ms", "speedup_p50")} | {"build": build}), file=sys.stderr, flush=True)
        del segment
        if not args.keep:
            shutil.rmtree(folder, ignore_errors=True)
    return out


def run_bmp(matrix: sp.csr_matrix, queries: list[SparseVector], exact: list[np.ndarray], exact_stats: dict, work: Path, args) -> list[dict]:
    """BMP at each build setting (``--bmp-builds``) and search setting (``--bmp-searches``).

    Timed: ``BmpSegment.top_k``, what the ``bmp`` retriever calls per segment (BMP's candidates, then
    their exact rescoring on the float32 forward vectors), plus filling the retriever's dense query
    buffer. ``bmp_only_p50_ms`` is BMP's own call alone (the candidates of the same setting)."""
    from tandem.retrieval.backends.bmp_sparse import BmpConfig, BmpSegment, SearchParameters, write_bmp_segment

    vocab_size = matrix.shape[1]
    dense = np.zeros(vocab_size, np.float64)
    out = []
    for build in args.bmp_builds:
        config = BmpConfig(**parse_setting(build))
        folder = work / f"bmp-{build.replace(',', '-').replace('=', '')}"
        shutil.rmtree(folder, ignore_errors=True)
        t0 = time.perf_counter()
        stats = write_bmp_segment(folder, matrix, config)
        built = {"build_s": round(time.perf_counter() - t0, 2), "build_threads": 1, "bytes": folder_bytes(folder),
                 "bmp_bytes": stats["bmp_bytes"], "scale": round(stats["scale"], 4)}
        t0 = time.perf_counter()
        segment = BmpSegment(folder, matrix.shape[0]).load()
        built["load_s"] = round(time.perf_counter() - t0, 2)
        for search in args.bmp_searches:
            params = SearchParameters(**{key: float(value) for key, value in parse_setting(search).items()})

            def top_k(q: SparseVector) -> np.ndarray:
                ids = q.ids.astype(np.int64)
                dense[ids] = q.weights
                rows, _ = segment.top_k(ids, q.weights, dense, K, params)
                dense[ids] = 0.0
                return rows

            def candidates(q: SparseVector) -> np.ndarray:
                return segment.candidates(q.ids.astype(np.int64), q.weights, max(K, int(np.ceil(K * params.candidates))), params)

            timing, found = timed(top_k, queries)
            bmp_only, _ = timed(candidates, queries)
            entry = {"engine": "bmp", "build": config.model_dump(exclude={"alpha", "beta", "candidates"}), **built,
                     "search": {"alpha": params.alpha, "beta": params.beta, "candidates": params.candidates},
                     **compare(timing, exact_stats, found, exact), "bmp_only_p50_ms": bmp_only["p50_ms"], "bmp_only_cpu_p50_ms": bmp_only["cpu_p50_ms"]}
            out.append(entry)
            print(json.dumps({k: entry[k] for k in ("search", "recall_at_10", "p50_ms", "p99_ms", "cpu_p50_ms", "speedup_p50", "cpu_speedup_p50",
                                                    "bmp_only_p50_ms")} | {"build": build}), file=sys.stderr, flush=True)
        del segment
        if not args.keep:
            shutil.rmtree(folder, ignore_errors=True)
    return out


ENGINES: dict[str, Callable] = {"seismic": run_seismic, "bmp": run_bmp}


def parse_setting(text: str) -> dict:
    """``"query_cut=10,heap_factor=0.9"`` -> ``{"query_cut": 10, "heap_factor": 0.9}``."""
    out = {}
    for item in filter(None, text.split(",")):
        key, _, value = item.partition("=")
        out[key] = float(value) if any(c in value for c in ".e") else int(value)
    return out


# -- the run ------------------------------------------------------------------------------------
def environment() -> dict:
    commit = subprocess.run(["git", "rev-parse", "HEAD"], cwd=ROOT, capture_output=True, text=True).stdout.strip()
    dirty = bool(subprocess.run(["git", "status", "--porcelain", "--", "retrieval/backends", "index/sparse.py", "bench/bench_approx_sparse.py"],
                                cwd=ROOT, capture_output=True, text=True).stdout.strip())
    versions = {}
    for package in ("numpy", "scipy", "numba", "pyseismic-lsr", "bmp"):
        try:
            versions[package] = importlib.metadata.version(package)
        except importlib.metadata.PackageNotFoundError:
            versions[package] = None
    cpu = next((line.split(":", 1)[1].strip() for line in Path("/proc/cpuinfo").read_text().splitlines() if line.startswith("model name")), platform.processor())
    return {"commit": commit, "files_dirty": dirty, "python": platform.python_version(), **versions, "cpu": cpu, "cpu_count": os.cpu_count(),
            "search_threads": 1, "load_average_start": os.getloadavg()}


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--encoded", type=Path, required=True, help="a `tandem encode` output folder of pkgsum (all shards)")
    parser.add_argument("--sizes", type=int, nargs="+", default=[100_000], help="document prefixes to measure")
    parser.add_argument("--queries", type=int, default=1000, help="MS MARCO dev-small queries (the first N)")
    parser.add_argument("--engines", nargs="+", default=["seismic"], choices=sorted(ENGINES))
    parser.add_argument("--seismic-builds", nargs="+", default=["n_postings=3500"], metavar="KEY=VALUE,...",
                        help="SeismicConfig build settings, one run each (defaults for the keys not given)")
    parser.add_argument("--seismic-searches", nargs="+", metavar="query_cut=Q,heap_factor=H",
                        default=["query_cut=5,heap_factor=0.9", "query_cut=10,heap_factor=0.9", "query_cut=10,heap_factor=0.8",
                                 "query_cut=10,heap_factor=0.7", "query_cut=20,heap_factor=0.7"])
    parser.add_argument("--bmp-builds", nargs="+", default=["block_size=8,compress_range=1", "block_size=32,compress_range=1"], metavar="KEY=VALUE,...",
                        help="BmpConfig build settings (block_size, compress_range), one run each")
    parser.add_argument("--bmp-searches", nargs="+", metavar="alpha=A,beta=B,candidates=C",
                        default=["alpha=1.0,beta=1.0,candidates=1.0", "alpha=1.0,beta=1.0,candidates=2.0", "alpha=0.9,beta=1.0,candidates=2.0",
                                 "alpha=0.8,beta=1.0,candidates=2.0", "alpha=1.0,beta=0.8,candidates=2.0"])
    parser.add_argument("--build-threads", type=int, default=1, help="threads for building the approximate indexes")
    parser.add_argument("--work", type=Path, default=Path("/tmp/tandem-bench-approx-sparse"))
    parser.add_argument("--keep", action="store_true", help="keep the built indexes in --work")
    parser.add_argument("--out", type=Path, default=ROOT / "bench/results/approx_sparse.json")
    args = parser.parse_args(argv)
    args.work.mkdir(parents=True, exist_ok=True)
    report = {"environment": environment(), "settings": {k: str(v) for k, v in vars(args).items()}, "corpora": []}
    texts = msmarco_queries(args.queries)
    for size in args.sizes:
        matrix, docs, tokenizer = load_prefix(args.encoded, size, args.work / "pkgsum-all.npz")
        queries = idf_queries(tokenizer, texts, docs, matrix.shape[1])
        native_dir = args.work / f"native-{size}"
        shutil.rmtree(native_dir, ignore_errors=True)
        t0 = time.perf_counter()
        write_sparse_index(native_dir, matrix)
        native_build = round(time.perf_counter() - t0, 2)
        native = SparseIndex(native_dir)
        exact_stats, exact = timed(lambda q: native.search(q, K)[0], queries)
        row = {"corpus": f"pkgsum-{size // 1000}k", "num_docs": int(matrix.shape[0]), "num_postings": int(matrix.nnz),
               "queries": len(queries), "avg_query_terms": round(float(np.mean([q.nnz for q in queries])), 2),
               "exact": {"engine": "native-sparse", "build_s": native_build, "bytes": folder_bytes(native_dir), **exact_stats}, "approximate": []}
        print(json.dumps({"corpus": row["corpus"], "exact": row["exact"]}), file=sys.stderr, flush=True)
        for engine in args.engines:
            row["approximate"] += ENGINES[engine](matrix, queries, exact, exact_stats, args.work, args)
        del native
        shutil.rmtree(native_dir, ignore_errors=True)
        report["corpora"].append(row)
    report["environment"]["load_average_end"] = os.getloadavg()
    write_report(args.out, "+".join(args.engines), report)


def write_report(path: Path, run_name: str, report: dict) -> None:
    """Save ``report`` as ``runs[run_name]`` of the JSON at ``path``, keeping the other engines' runs
    (each run holds its own exact baseline, measured beside it)."""
    existing = json.loads(path.read_text(encoding="utf-8")) if path.exists() else {}
    runs = existing.get("runs", {})
    runs[run_name] = report
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps({"runs": runs}, indent=1) + "\n", encoding="utf-8")
    print(f"wrote {path} (runs: {', '.join(runs)})", file=sys.stderr)


if __name__ == "__main__":
    main()
