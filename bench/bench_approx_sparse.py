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

Sweep (``--sweep pkgsum-729k`` / ``--sweep synthetic-1m``, run ``sweep-<corpus>`` of the JSON; ``--plot PNG`` draws them):

    TANDEM_DATA_DIR=/work/shared/data nice -n 10 .venv/bin/python bench/bench_approx_sparse.py --encoded /work/scratch/pkgsum-enc \
        --work /work/scratch/approx --engines bmp seismic --sweep pkgsum-729k
    .venv/bin/python bench/bench_approx_sparse.py --encoded /work/scratch/pkgsum-enc --plot bench/results/approx_sparse.png

every search setting of ``SWEEP_SEARCHES`` on each build of ``SWEEP_BUILDS`` (two per engine; ``--sweep-build`` replaces
them; indexes are kept in ``--work`` and reused when their recorded settings match), with the exact engine timed in
the same process in interleaved rounds of 50 queries, at three levels (``SWEEP_METHOD``): through the product's
retrievers end to end, on pre-encoded vectors, and the raw library call (what Tandem's wrapper adds). pkgsum: all
729,028 documents behind the real retrievers on a copy of the `tandem index build --from-encoded` index; synthetic:
1M long documents of ``bench/synthetic.py`` (per-segment calls; no texts). Each sweep corpus records its Pareto front
and whether any setting reaches recall@10 >= 0.99 at >= 5x exact speed (wall and CPU time).

Engines: ``seismic`` (:func:`run_seismic`) and ``bmp`` (:func:`run_bmp`, the BMP helper's section);
``--engines`` picks. Each takes the doc matrix, the queries, the exact results and the work folder
and returns one entry per (build, search) setting. The JSON keeps one run per engine set
(``runs["seismic"]``, ``runs["bmp"]``), so running one engine leaves the others' results in place.
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import sys
import time
from pathlib import Path
from typing import Callable

for var in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS", "NUMBA_NUM_THREADS", "RAYON_NUM_THREADS"):
    os.environ.setdefault(var, "1")

import numpy as np  # noqa: E402
import scipy.sparse as sp  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench import run_env  # noqa: E402
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


# -- sweep (--sweep CORPUS): search-time grid x two builds per engine, through the product's retrievers --
SWEEP_CORPORA = ("pkgsum-729k", "synthetic-1m", "synthetic-100k")
EXACT_INDEX_729K = Path("/work/scratch/bench-scale/pkgsum-729028/indexes/tandem-exact")  # `tandem index build --from-encoded`, float32
SCIFACT_INDEX = Path("/work/scratch/bench-scale/scifact-if")  # the inference-free scifact index bench_scale resamples
SYNTHETIC_QUERIES = Path("/work/scratch/bench-scale/synthetic-queries.npz")  # MS MARCO dev queries, scifact IDF (bench_scale)
SWEEP_BUILDS = {  # at most two build settings per engine (issue 11 brief); the first is the backend's default
    "seismic": ["n_postings=3500,centroid_fraction=0.2,summary_energy=0.8", "n_postings=1000,centroid_fraction=0.2,summary_energy=0.8"],
    "bmp": ["block_size=8,compress_range=1", "block_size=16,compress_range=1"],
}
SWEEP_SEARCHES = {
    "seismic": [f"query_cut={q},heap_factor={h}" for q in (3, 5, 8, 10, 15) for h in (0.7, 0.8, 0.9, 1.0)],
    "bmp": [f"alpha={a},beta={b},candidates={c}" for a in (0.8, 0.9, 0.95, 1.0) for b in (0.7, 0.85, 1.0) for c in (1.0, 1.5, 2.0, 3.0)],
}
SWEEP_METHOD = {
    "levels": "product = the backend's Retriever.search([query text], k=10): inference-free query encoding with the index's IDF table, "
              "search, doc ids (what a user of the retriever gets; pkgsum only, synthetic documents have no texts); encoded = "
              "Retriever.search_encoded on the same query vectors encoded beforehand (pkgsum) or, on synthetic documents, the per-segment "
              "call the retriever makes (SeismicSegment.search / BmpSegment.top_k / SparseIndex.search, rows instead of doc ids); raw = "
              "the library's own search call (Seismic index.search, BMP Searcher.search) with its inputs prepared beforehand, exact = "
              "Tandem's SparseIndex.search kernel. Recall@10 and speed-ups of a row are against the exact engine at the same level.",
    "bmp_raw": "BMP's raw call returns its candidates (candidates x k + 1 rows) in its own 8-bit order; their first 10 are compared, "
               "without Tandem's float32 rescoring, so its recall is BMP's alone",
    "timing": "one thread, one query per call; rounds of 50 queries in which every probe (exact included) runs the same 50 "
              "queries in turn, after a warm-up of 50 queries per probe; wall = perf_counter, cpu = thread_time",
    "retrievers": "pkgsum: the real SeismicRetriever / BmpRetriever / NativeSparseRetriever opened on one snapshot of a private copy "
                  "of the `tandem index build --from-encoded` index of all 729,028 documents (float32 native-sparse); the "
                  "approximate segments are written by the backends' own segment writers into that segment's folder and opened with "
                  "a ComponentInfo naming them (same doc ids, same IDF table); configure() sets each search setting",
    "exact": "native-sparse float32 (exact top 10, the ground truth); recall_at_10 = mean |found & exact| / |exact|",
}
BLOCK = 50  # queries per interleaving round: every probe runs the same 50 queries before the next 50


def build_tag(engine: str, build: str) -> str:
    return engine + "-" + build.replace(",", "-").replace("=", "").replace("_", "")


def cached_build(folder: Path, engine: str, config, matrix: sp.csr_matrix) -> dict:
    """Write ``engine``'s segment for ``matrix`` into ``folder`` with the backend's own writer, or reuse
    the one there when ``sweep_build.json`` records the same settings and matrix (one line per decision)."""
    record_path = folder / "sweep_build.json"
    wanted = {"engine": engine, "config": config.model_dump(exclude={"build_threads"}), "num_docs": int(matrix.shape[0]), "num_postings": int(matrix.nnz)}
    if record_path.exists():
        record = json.loads(record_path.read_text())
        if all(record.get(k) == v for k, v in wanted.items()):
            print(f"reusing {folder} (built {record['build_s']} s)", file=sys.stderr, flush=True)
            return {**record, "reused": True}
    shutil.rmtree(folder, ignore_errors=True)
    print(f"building {folder} ({engine}, {wanted['config']})", file=sys.stderr, flush=True)
    t0, c0 = time.perf_counter(), time.process_time()
    if engine == "seismic":
        from tandem.retrieval.backends.seismic_sparse import write_seismic_segment as write
    else:
        from tandem.retrieval.backends.bmp_sparse import write_bmp_segment as write
    write(folder, matrix, config)
    record = {**wanted, "build_s": round(time.perf_counter() - t0, 1), "build_cpu_s": round(time.process_time() - c0, 1), "build_threads": 1,
              "bytes": folder_bytes(folder), "load_average_after": [round(x, 2) for x in os.getloadavg()], "built_at": time.strftime("%Y-%m-%dT%H:%M:%S%z")}
    record_path.write_text(json.dumps(record, indent=1))
    print(f"built {folder} in {record['build_s']} s", file=sys.stderr, flush=True)
    return record


def engine_config(engine: str, build: str):
    from tandem.retrieval.backends.bmp_sparse import BmpConfig
    from tandem.retrieval.backends.seismic_sparse import SeismicConfig

    values = parse_setting(build)
    if engine == "seismic":
        return SeismicConfig(**values, build_threads=1)
    return BmpConfig(**{k: bool(v) if k == "compress_range" else v for k, v in values.items()})


class Probe:
    """One thing timed per query: ``run(i)`` returns query i's result ids (doc ids or rows, as the exact probe of its level)."""

    def __init__(self, name: str, level: str, run: Callable[[int], list], before: Callable[[], None] | None = None, **info) -> None:
        self.name, self.level, self.run, self.before, self.info = name, level, run, before, info
        self.wall: list[float] = []
        self.cpu: list[float] = []
        self.found: dict[int, list] = {}


def interleaved(probes: list[Probe], num_queries: int, warmup: int = BLOCK) -> None:
    """Time every probe on every query, one thread: rounds of ``BLOCK`` queries in which each probe runs the
    same queries in turn (exact and approximate see the same machine load), in a new seeded random order each
    round; first a warm-up of ``warmup`` queries per probe (BMP loads its index and numba compiles on first use).

    The order changes because a probe's first queries run in the caches the previous probe left: with a fixed
    order the first probe (an exact one) always followed an approximate engine's multi-GB index, and on the 1M
    synthetic documents it timed 1.59 ms p50 against 0.83 ms for the same call placed second."""
    rng = np.random.default_rng(0)
    for probe in progress_iter(probes, "warm-up"):
        if probe.before:
            probe.before()
        for i in range(min(warmup, num_queries)):
            probe.run(i)
    for start in progress_iter(range(0, num_queries, BLOCK), "rounds"):
        for probe in [probes[j] for j in rng.permutation(len(probes))]:
            if probe.before:
                probe.before()
            for i in range(start, min(start + BLOCK, num_queries)):
                t0, c0 = time.perf_counter(), time.thread_time()
                found = probe.run(i)
                c1, t1 = time.thread_time(), time.perf_counter()
                probe.wall.append(t1 - t0)
                probe.cpu.append(c1 - c0)
                probe.found[i] = found


def progress_iter(items, desc: str):
    from tandem.index.progress import progress

    items = list(items)
    with progress(total=len(items), desc=desc, unit="step") as bar:
        for item in items:
            yield item
            bar.update(1)


def probe_summary(probe: Probe, exact: dict[str, Probe]) -> dict:
    """Latency (wall and thread CPU, p50/p99), recall@10 against the exact probe of its level, and speed-ups
    against the exact probe of its level and of the product level."""
    wall, cpu = np.asarray(probe.wall) * 1000, np.asarray(probe.cpu) * 1000

    def r(x: float) -> float:
        return round(float(x), 4)

    out = {"p50_ms": r(np.percentile(wall, 50)), "p99_ms": r(np.percentile(wall, 99)), "mean_ms": r(wall.mean()),
           "cpu_p50_ms": r(np.percentile(cpu, 50)), "cpu_p99_ms": r(np.percentile(cpu, 99)), "queries": len(probe.wall)}
    reference = exact[probe.level]
    truth = [set(reference.found[i]) for i in sorted(reference.found)]
    found = [set(probe.found[i]) for i in sorted(reference.found)]
    out["recall_at_10"] = round(float(np.mean([len(f & t) / len(t) if t else 1.0 for f, t in zip(found, truth)])), 4)
    out["same_top10"] = round(float(np.mean([f == t for f, t in zip(found, truth)])), 4)
    if probe is not reference:
        ref_wall, ref_cpu = np.asarray(reference.wall) * 1000, np.asarray(reference.cpu) * 1000
        out["speedup_p50"] = r(np.percentile(ref_wall, 50) / out["p50_ms"])
        out["cpu_speedup_p50"] = r(np.percentile(ref_cpu, 50) / out["cpu_p50_ms"])
        out["speedup_p99"] = r(np.percentile(ref_wall, 99) / out["p99_ms"])
        out["cpu_speedup_p99"] = r(np.percentile(ref_cpu, 99) / out["cpu_p99_ms"])
    return out


def seismic_raw_inputs(segment, vector: SparseVector):
    """What ``SeismicSegment.search`` hands to Seismic for a query (computed outside the timed raw call)."""
    ids = np.asarray(vector.ids)
    local = np.searchsorted(segment.terms, ids)
    present = local < segment.terms.size
    present[present] = segment.terms[local[present]] == ids[present]
    return local[present].astype(segment._string_dtype), np.asarray(vector.weights, dtype=np.float32)[present]


def bmp_raw_inputs(segment, vector: SparseVector, k: int, params) -> tuple[dict, int]:
    """The query dict and k of BMP's ``Searcher.search`` call as ``BmpSegment.candidates`` makes it (outside the timed raw call)."""
    from tandem.retrieval.backends.bmp_sparse import kth_column, query_levels, sentinel_weights

    ids, weights = np.asarray(vector.ids, dtype=np.int64), np.asarray(vector.weights, dtype=np.float32)
    keep = (weights > 0) & (segment.term_max[ids] > 0)
    ids, weights = ids[keep], weights[keep]
    if params.beta < 1 and ids.size:
        order = np.argsort(-weights, kind="stable")[: int(np.ceil(ids.size * params.beta))]
        ids, weights = ids[order], weights[order]
    if not ids.size:
        return {}, 0
    levels = query_levels(weights)
    fetch = max(k, int(np.ceil(k * params.candidates))) + 1
    column = kth_column(fetch)
    threshold = int((levels * segment.term_kth[ids, column]).max()) if column is not None else 0
    query = {str(t): float(level) for t, level in zip(ids.tolist(), levels.tolist())}
    query.update(sentinel_weights(threshold + 1))
    return query, fetch


def approximate_probes(engine: str, build: str, segment, config, vectors: list[SparseVector], retriever, texts: list[str] | None,
                       levels: tuple[str, ...]) -> list[Probe]:
    """Probes of every search setting of one built index: ``product`` (retriever.search([text], k): query
    encoding + search + doc ids, pkgsum only), ``encoded`` (retriever.search_encoded on pre-encoded vectors,
    pkgsum; on synthetic the per-segment call the retriever makes, rows instead of doc ids), ``raw`` (the
    library's own search call with inputs prepared beforehand)."""
    from tandem.retrieval.backends import bmp_sparse, seismic_sparse

    probes = []
    build_info = config.model_dump(exclude={"query_cut", "heap_factor", "alpha", "beta", "candidates", "build_threads"})
    dense = np.zeros(getattr(segment, "vocab_size", 0), np.float64)  # BMP's retriever-style query buffer
    for search in SWEEP_SEARCHES[engine]:
        values = parse_setting(search)
        info = {"engine": engine, "build": build_info, "build_tag": build_tag(engine, build), "search": values}
        name = f"{build_tag(engine, build)}|{search}"
        if engine == "seismic":
            params = seismic_sparse.SearchParameters(int(values["query_cut"]), float(values["heap_factor"]))
            raw_inputs = [seismic_raw_inputs(segment, v) for v in vectors]

            def raw(i, p=params, inputs=raw_inputs):
                components, values_ = inputs[i]
                found = segment.index.search("q", components, values_, k=K, query_cut=p.query_cut, heap_factor=p.heap_factor)
                return [int(doc) for _, _, doc in found]

            def seg_call(i, p=params):
                return segment.search(vectors[i], K, p)[0].tolist()
        else:
            params = bmp_sparse.SearchParameters(float(values["alpha"]), float(values["beta"]), float(values["candidates"]))
            raw_inputs = [bmp_raw_inputs(segment, v, K, params) for v in vectors]

            def raw(i, p=params, inputs=raw_inputs):
                query, fetch = inputs[i]
                if not query:
                    return []
                names, _ = segment.searcher.search(query, k=fetch, alpha=p.alpha, beta=1.0)
                return [int(n) for n in names if int(n) < segment.num_docs][:K]  # candidates only: not rescored, recall of BMP's own order

            def seg_call(i, p=params):
                v = vectors[i]
                ids = v.ids.astype(np.int64)
                dense[ids] = v.weights
                try:
                    return segment.top_k(ids, v.weights, dense, K, p)[0].tolist()
                finally:
                    dense[ids] = 0.0
        configure = None
        if retriever is not None:
            def configure(r=retriever, v=values):
                r.configure(**v)
        if "product" in levels:
            probes.append(Probe(name, "product", lambda i, r=retriever: list(r.search([texts[i]], K)[0]), configure, **info))
        if "encoded" in levels:
            if retriever is not None:
                probes.append(Probe(name, "encoded", lambda i, r=retriever: list(r.search_encoded([vectors[i]], K)[0]), configure, **info))
            else:
                probes.append(Probe(name, "encoded", seg_call, None, **info))
        if "raw" in levels:
            probes.append(Probe(name, "raw", raw, None, **info))
    return probes


def pkgsum_index_copy(work: Path) -> Path:
    """A private copy of the pkgsum 729k exact Tandem index (manifest, query side, docstore, float32 native
    segment): the approximate engines' segments are written beside its ``sparse`` folder, so their
    retrievers open on the same snapshot (same doc ids, same IDF table) without touching the original."""
    copy = work / "pkgsum-729k" / "index"
    if not (copy / "manifest.json").exists():
        shutil.rmtree(copy, ignore_errors=True)
        copy.parent.mkdir(parents=True, exist_ok=True)
        shutil.copytree(EXACT_INDEX_729K, copy, ignore=shutil.ignore_patterns("*.lock", "leases"))
    return copy


def sweep_pkgsum(args) -> dict:
    """Every engine x build x search setting on all 729k pkgsum documents; ``product`` and ``encoded``
    levels through the retrievers (:class:`SeismicRetriever`, :class:`BmpRetriever`, :class:`NativeSparseRetriever`)."""
    from tandem.index.manifest import ComponentInfo
    from tandem.index.segments import IndexSnapshot
    from tandem.retrieval.backends import BACKENDS

    work = args.work
    root = pkgsum_index_copy(work)
    snapshot = IndexSnapshot.open(root)
    exact_component = next(c for c in snapshot.manifest.components if c.name == "sparse")
    if exact_component.backend != "native-sparse" or exact_component.settings.get("index", {}).get("weights") != "float32":
        raise SystemExit(f"{root}: the sparse component is not float32 native-sparse")
    seg = snapshot.segments[0]
    matrix = cached_matrix(args.encoded, work / "pkgsum-all.npz")
    shard_ids = [i for s in sorted(args.encoded.iterdir()) if (s / "ids.txt").exists() for i in (s / "ids.txt").read_text().split("\n") if i][: matrix.shape[0]]
    if len(snapshot.segments) != 1 or list(seg.docs.doc_ids) != shard_ids:
        raise SystemExit(f"{root}: its one segment's documents are not the encoded shards' documents in order")
    exact = BACKENDS["native-sparse"].open(snapshot, exact_component)
    texts_all = msmarco_queries(args.queries)
    encoded = exact.encode(texts_all)
    keep = [i for i, v in enumerate(encoded) if v.nnz]
    texts, vectors = [texts_all[i] for i in keep], [encoded[i] for i in keep]
    native = exact.segments[0][1]
    probes = [Probe("exact", "product", lambda i: list(exact.search([texts[i]], K)[0]), engine="native-sparse"),
              Probe("exact", "encoded", lambda i: list(exact.search_encoded([vectors[i]], K)[0]), engine="native-sparse"),
              Probe("exact", "raw", lambda i: [int(r) for r in native.search(vectors[i], K)[0]], engine="native-sparse")]
    builds = {}
    for engine in args.engines:
        for build in args.sweep_builds.get(engine, SWEEP_BUILDS[engine]):
            config = engine_config(engine, build)
            tag = build_tag(engine, build)
            folder = seg.path / tag
            builds[tag] = cached_build(folder, engine, config, matrix)
            if args.build_only:
                continue
            component = ComponentInfo(name=tag, backend=engine, settings={**exact_component.settings, engine: config.model_dump()},
                                      shared_dir=exact_component.shared_dir)
            retriever = BACKENDS[engine].open(snapshot, component)
            segment = retriever.segments[0][1].load()
            probes += approximate_probes(engine, build, segment, config, vectors, retriever, texts, ("product", "encoded", "raw"))
    if args.build_only:
        return {"corpus": "pkgsum-729k", "builds": builds}
    load_start = [round(x, 2) for x in os.getloadavg()]
    interleaved(probes, len(vectors))
    return sweep_report("pkgsum-729k", probes, builds, {"num_docs": int(matrix.shape[0]), "num_postings": int(matrix.nnz), "queries": len(vectors),
                                                       "avg_query_terms": round(float(np.mean([v.nnz for v in vectors])), 2),
                                                       "index": str(root), "load_average_start": load_start})


def synthetic_matrix(work: Path, num_docs: int = 1_000_000) -> sp.csr_matrix:
    """The 1M synthetic long documents of ``bench/synthetic.py`` from the scifact base bench_scale uses (cached as npz)."""
    cache = work / f"synthetic-{num_docs}.npz"
    if cache.exists():
        saved = np.load(cache)
        return sp.csr_matrix((saved["data"], saved["indices"], saved["indptr"]), shape=tuple(saved["shape"]))
    from bench.scale_data import matrix_from_index
    from bench.synthetic import synthetic_long_docs

    manifest = json.loads((SCIFACT_INDEX / "manifest.json").read_text())
    base = matrix_from_index(SCIFACT_INDEX / "segments" / manifest["segments"][0]["name"] / "sparse")
    matrix = synthetic_long_docs(base, num_docs).tocsr()
    matrix.sort_indices()
    cache.parent.mkdir(parents=True, exist_ok=True)
    np.savez(cache, data=matrix.data, indices=matrix.indices, indptr=matrix.indptr, shape=np.array(matrix.shape))
    return matrix


def sweep_synthetic(args) -> dict:
    """The same sweep on 1M (or 100k) synthetic long documents (no texts: per-segment calls on bench_scale's pre-encoded queries)."""
    from bench.scale_data import load_query_vectors
    from tandem.index.sparse_format import SparseIndexConfig
    from tandem.retrieval.backends.bmp_sparse import BmpSegment
    from tandem.retrieval.backends.seismic_sparse import SeismicSegment

    num_docs = {"synthetic-1m": 1_000_000, "synthetic-100k": 100_000}[args.sweep]
    work = args.work / args.sweep
    matrix = synthetic_matrix(work, num_docs)
    vectors = load_query_vectors(SYNTHETIC_QUERIES)[: args.queries]
    native_dir = work / "native-float32"
    if not (native_dir / "sweep_build.json").exists():
        shutil.rmtree(native_dir, ignore_errors=True)
        t0 = time.perf_counter()
        write_sparse_index(native_dir, matrix, config=SparseIndexConfig(weights="float32"))
        (native_dir / "sweep_build.json").write_text(json.dumps({"build_s": round(time.perf_counter() - t0, 1)}))
    native = SparseIndex(native_dir)
    probes = [Probe("exact", "encoded", lambda i: [int(r) for r in native.search(vectors[i], K)[0]], engine="native-sparse"),
              Probe("exact", "raw", lambda i: [int(r) for r in native.search(vectors[i], K)[0]], engine="native-sparse")]
    builds = {}
    for engine in args.engines:
        for build in args.sweep_builds.get(engine, SWEEP_BUILDS[engine][:1]):
            config = engine_config(engine, build)
            tag = build_tag(engine, build)
            folder = work / tag
            builds[tag] = cached_build(folder, engine, config, matrix)
            if args.build_only:
                continue
            segment = (SeismicSegment(folder, matrix.shape[0]) if engine == "seismic" else BmpSegment(folder, matrix.shape[0])).load()
            probes += approximate_probes(engine, build, segment, config, vectors, None, None, ("encoded", "raw"))
    if args.build_only:
        return {"corpus": args.sweep, "builds": builds}
    num_postings = int(matrix.nnz)
    del matrix
    load_start = [round(x, 2) for x in os.getloadavg()]
    interleaved(probes, len(vectors))
    return sweep_report(args.sweep, probes, builds, {"num_docs": num_docs, "num_postings": num_postings, "queries": len(vectors),
                                                        "avg_query_terms": round(float(np.mean([v.nnz for v in vectors])), 2),
                                                        "load_average_start": load_start})


def pareto(points: list[dict], x: str, y: str = "recall_at_10") -> list[str]:
    """Names of the points no other point beats on both ``x`` (speed-up) and ``y`` (recall), best speed first."""
    ranked = sorted(points, key=lambda p: (-p[x], -p[y]))
    front, best = [], -1.0
    for p in ranked:
        if p[y] > best:
            front.append(p["name"])
            best = p[y]
    return front


def sweep_report(corpus: str, probes: list[Probe], builds: dict, info: dict) -> dict:
    exact = {p.level: p for p in probes if p.name == "exact"}
    rows = []
    for p in probes:
        rows.append({"name": p.name, "level": p.level, **p.info, **probe_summary(p, exact)})
    levels = sorted({p.level for p in probes})
    fronts, verdict = {}, {}
    for level in levels:
        points = [r for r in rows if r["level"] == level and r["name"] != "exact"]
        for key in ("speedup_p50", "cpu_speedup_p50"):
            fronts[f"{level}/{key}"] = pareto(points, key)
            hits = [r for r in points if r["recall_at_10"] >= 0.99 and r[key] >= 5]
            best = max((r for r in points if r["recall_at_10"] >= 0.99), key=lambda r: r[key], default=None)
            verdict[f"{level}/{key}"] = {"reached": bool(hits), "points": [r["name"] for r in hits],
                                         "best_at_recall_0.99": {"name": best["name"], "recall_at_10": best["recall_at_10"], key: best[key]} if best else None}
    return {"corpus": corpus, **info, "load_average_end": [round(x, 2) for x in os.getloadavg()], "builds": builds, "rows": rows,
            "pareto": fronts, "goal_recall_0.99_at_5x": verdict}


def cached_matrix(encoded: Path, cache: Path) -> sp.csr_matrix:
    """All documents of the encoded shards as one CSR matrix (the npz cache of :func:`load_prefix`, written by it if missing)."""
    if not cache.exists():
        return load_prefix(encoded, 10**9, cache)[0]
    saved = np.load(cache)
    return sp.csr_matrix((saved["data"], saved["indices"], saved["indptr"]), shape=tuple(saved["shape"]))


# -- the run ------------------------------------------------------------------------------------
def environment() -> dict:
    dirty = run_env.files_dirty(["retrieval/backends", "index/sparse.py", "bench/bench_approx_sparse.py"])
    versions = run_env.library_versions(("numpy", "scipy", "numba", "pyseismic-lsr", "bmp"))
    return {"commit": run_env.commit(), "files_dirty": dirty, "python": platform.python_version(), **versions, "cpu": run_env.cpu_model(), "cpu_count": os.cpu_count(),
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
    parser.add_argument("--sweep", choices=SWEEP_CORPORA, help="the sweep: every engine's search grid (SWEEP_SEARCHES) on each of its "
                        "builds, exact and approximate interleaved in one process; written as run 'sweep-CORPUS'")
    parser.add_argument("--sweep-build", action="append", default=[], metavar="ENGINE:KEY=VALUE,...",
                        help="with --sweep: a build of ENGINE to sweep (repeatable; replaces SWEEP_BUILDS for that engine)")
    parser.add_argument("--build-only", action="store_true", help="with --sweep: build (or find) the indexes, measure nothing")
    parser.add_argument("--plot", type=Path, default=None, help="draw the sweep runs of --out into this PNG (and print their table)")
    args = parser.parse_args(argv)
    args.work.mkdir(parents=True, exist_ok=True)
    if args.sweep:
        args.sweep_builds = {}
        for item in args.sweep_build:
            engine, _, build = item.partition(":")
            args.sweep_builds.setdefault(engine, []).append(build)
        started = {"environment": environment(), "settings": {k: str(v) for k, v in vars(args).items()}, "started": time.strftime("%Y-%m-%dT%H:%M:%S%z")}
        result = (sweep_pkgsum if args.sweep == "pkgsum-729k" else sweep_synthetic)(args)
        if args.build_only:
            print(json.dumps(result, indent=1), file=sys.stderr)
            return
        started["environment"]["load_average_end"] = os.getloadavg()
        write_report(args.out, f"sweep-{args.sweep}", {**started, "method": SWEEP_METHOD, "corpora": [result]})
        return
    if args.plot:
        plot_sweeps(args.out, args.plot)
        return
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


# -- table and plot of the sweep runs --------------------------------------------------------------
MAIN_LEVEL = {"pkgsum-729k": "product", "synthetic-1m": "encoded", "synthetic-100k": "encoded"}  # what a user gets on each corpus (synthetic has no texts)


def sweep_corpora(path: Path) -> list[dict]:
    runs = json.loads(path.read_text(encoding="utf-8"))["runs"]
    return [corpus for name, run in sorted(runs.items()) if name.startswith("sweep-") for corpus in run.get("corpora", []) if "rows" in corpus]


def print_sweep_table(corpus: dict) -> None:
    """The Pareto front (CPU-time speed-up vs recall@10) of each level, and the goal verdicts."""
    print(f"\n{corpus['corpus']}: {corpus['num_docs']:,} docs, {corpus['queries']} queries, load {corpus['load_average_start']} -> {corpus['load_average_end']}")
    exact = {r["level"]: r for r in corpus["rows"] if r["name"] == "exact"}
    for level, e in exact.items():
        print(f"  exact {level:8s} p50 {e['p50_ms']:.3f} ms (cpu {e['cpu_p50_ms']:.3f}), p99 {e['p99_ms']:.3f} (cpu {e['cpu_p99_ms']:.3f})")
    by_name = {(r["name"], r["level"]): r for r in corpus["rows"]}
    for key, names in corpus["pareto"].items():
        level, metric = key.split("/")
        print(f"  Pareto front, {level}, {metric}:")
        for name in names:
            r = by_name[(name, level)]
            print(f"    {name:75s} recall {r['recall_at_10']:.4f}  x{r[metric]:.2f}  p50 {r['p50_ms']:.3f} / cpu {r['cpu_p50_ms']:.3f} ms  "
                  f"p99 {r['p99_ms']:.3f} / cpu {r['cpu_p99_ms']:.3f} ms")
    for key, verdict in corpus["goal_recall_0.99_at_5x"].items():
        print(f"  goal recall>=0.99 at >=5x ({key}): {'MET' if verdict['reached'] else 'not met'}; best at 0.99: {verdict['best_at_recall_0.99']}")


def short_tag(tag: str) -> str:
    """A build tag for a legend: ``seismic-npostings1000-centroidfraction0.2-summaryenergy0.8`` -> ``seismic n_postings 1000, centroid 0.2, energy 0.8``."""
    for long, short in (("-npostings", " n_postings "), ("-centroidfraction", ", centroid "), ("-summaryenergy", ", energy "),
                        ("-blocksize", " block "), ("-compressrange1", ""), ("-compressrange0", ", uncompressed")):
        tag = tag.replace(long, short)
    return tag


def plot_sweeps(path: Path, png: Path) -> None:
    """Log-log: 1 - recall@10 against the CPU-time speed-up over exact (p50), one panel per swept corpus, the
    user-facing level in colour (raw library calls in grey), its Pareto front joined, the goal region shaded."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    corpora = sweep_corpora(path)
    fig, axes = plt.subplots(1, len(corpora), figsize=(7 * len(corpora), 7.5), squeeze=False)
    colours = {"seismic": ["tab:blue", "tab:cyan"], "bmp": ["tab:red", "tab:orange"]}
    for ax, corpus in zip(axes[0], corpora):
        print_sweep_table(corpus)
        level = MAIN_LEVEL[corpus["corpus"]]
        floor = 1e-4  # recall 1.0 drawn at this miss rate
        rows = [r for r in corpus["rows"] if r["name"] != "exact"]
        raw = [r for r in rows if r["level"] == "raw"]
        ax.scatter([r["cpu_speedup_p50"] for r in raw], [max(1 - r["recall_at_10"], floor) for r in raw], s=10, c="lightgrey",
                   label="raw library call (vs Tandem's kernel)")
        tags = sorted({r["build_tag"] for r in rows})
        for tag in tags:
            engine = tag.split("-")[0]
            index = sum(1 for t in tags[: tags.index(tag)] if t.startswith(engine))
            points = [r for r in rows if r["level"] == level and r["build_tag"] == tag]
            ax.scatter([r["cpu_speedup_p50"] for r in points], [max(1 - r["recall_at_10"], floor) for r in points], s=18,
                       color=colours[engine][index % 2], label=f"{short_tag(tag)} ({level})")
        by_name = {r["name"]: r for r in rows if r["level"] == level}
        front = [by_name[n] for n in corpus["pareto"][f"{level}/cpu_speedup_p50"]]
        ax.plot([r["cpu_speedup_p50"] for r in front], [max(1 - r["recall_at_10"], floor) for r in front], "k-", lw=1, label="Pareto front")
        ax.fill_between([5, 100], floor / 2, 0.01, color="green", alpha=0.08, label="goal: recall >= 0.99 at >= 5x")
        ax.axvline(1, color="grey", lw=0.8, ls=":")
        ax.set_xscale("log")
        ax.set_yscale("log")
        ax.set_xlim(0.1, 20)
        ax.set_ylim(floor / 2, 1)
        exact = next(r for r in corpus["rows"] if r["name"] == "exact" and r["level"] == level)
        ax.set_title(f"{corpus['corpus']} ({corpus['num_docs']:,} docs), k=10, one thread\nexact CPU p50 {exact['cpu_p50_ms']:.2f} ms "
                     f"({level} level); load {corpus['load_average_start'][0]:.1f}", fontsize=10)
        ax.set_xlabel("speed-up over exact (thread CPU time, p50)")
        ax.set_ylabel("1 - recall@10 vs exact (recall 1 drawn at 1e-4)")
        ax.legend(fontsize=7, loc="upper left", bbox_to_anchor=(0, -0.12))
        ax.grid(True, which="both", alpha=0.3)
    fig.tight_layout()
    png.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(png, dpi=110)
    print(f"wrote {png}", file=sys.stderr)


if __name__ == "__main__":
    main()
