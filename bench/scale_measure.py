"""One engine measured in its own process (so its memory is its own): open, warm up, time queries one
at a time on one thread at k=10 and k=1000, one batch call at k=10 (split across the search threads,
``tandem.index.threads``, as the engine's own batch search does: Tandem's retrievers and native
segments, Anserini's batch_search; Seismic's retriever its batch_search, the Seismic and BMP segments here a batch
on one thread), and the resident set size.

RSS is read from ``/proc/self/status`` (VmRSS, VmHWM): ``rss_open_mb`` is VmRSS after opening and
warming up minus VmRSS before opening (``rss_baseline_mb``: Python with the engine's modules imported;
the query texts or vectors are loaded with the engine), ``rss_search_mb`` the same after
every timed query; memory-mapped index pages count once touched, a JVM's heap counts in full.

Engines (``kind``):
- ``retriever``: a Tandem index's retriever by name, through the Retriever interface
  (``search([text], k)``: query encoding + search, end to end);
- ``native-matrix``: a native sparse segment folder (``tandem.index.sparse.SparseIndex``) with pre-encoded
  query vectors (synthetic corpora, which have no texts);
- ``seismic-matrix``: one Seismic segment folder (``tandem.retrieval.backends.seismic_sparse``) with its
  default search parameters, on the same pre-encoded query vectors;
- ``bmp-matrix``: one BMP segment folder (``tandem.retrieval.backends.bmp_sparse``) with its default search
  parameters (candidates rescored exactly, as its retriever does);
- ``impact-matrix``: a Lucene impact index (``tandem.index.lucene.impact.LuceneImpactSearcher``) with the
  same query vectors quantised as the lucene-impact backend does.

A spec ``{"interleave": {name: spec, ...}}`` instead opens those engines side by side in this one process
and times them query by query in alternating order (``bench/interleave.py``), then their batch calls in
alternating rounds: latency and throughput ratios that drift of the machine between separate processes
cannot move (no RSS: the engines share the process).
"""
from __future__ import annotations

import json
import os
import time
from pathlib import Path

for _var in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS", "NUMBA_NUM_THREADS", "RAYON_NUM_THREADS"):
    os.environ.setdefault(_var, "1")

import numpy as np  # noqa: E402

from tandem.index.threads import map_in_threads, search_threads  # noqa: E402

KS = (10, 1000)
WARMUP = 200  # queries (at k=10 and at k=1000) before timing: JIT of the JVM engines, numba kernels, page cache
BATCH_ROUNDS = 3  # side by side: batch calls per engine, alternating


def proc_status_mb(field: str) -> float:
    """A memory line of /proc/self/status (VmRSS, VmHWM) in MB."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return round(int(line.split()[1]) / 1024, 1)
    return float("nan")


def summary_ms(wall: np.ndarray, cpu: np.ndarray) -> dict:
    """p50/p99/mean of per-query wall-clock and thread-CPU milliseconds."""
    def r(x: float) -> float:
        return round(float(x), 3)
    return {"p50_ms": r(np.percentile(wall, 50)), "p99_ms": r(np.percentile(wall, 99)), "mean_ms": r(wall.mean()),
            "cpu_p50_ms": r(np.percentile(cpu, 50)), "cpu_p99_ms": r(np.percentile(cpu, 99)),
            "single_thread_qps": r(1000.0 / wall.mean()) if wall.size else None, "queries": int(wall.size)}


class Engine:
    """``search(i, k)``: the ranked doc ids of query i; ``batch(k)``: all queries in one call."""

    batch_threads = 1

    def search(self, i: int, k: int) -> list:
        raise NotImplementedError

    def batch(self, k: int) -> int:
        raise NotImplementedError


class RetrieverEngine(Engine):
    def __init__(self, index: Path, name: str, texts: list[str]) -> None:
        from tandem.retrieval.searcher import Searcher

        self.searcher = Searcher.open(index)
        self.retriever = self.searcher.retriever(name)
        self.texts = texts
        self.batch_threads = search_threads()  # every backend splits a batch across the search threads (tandem.index.threads)

        # lucene-impact's search() runs Anserini's batch_search (a 2-thread pool per call) even for one query:
        # time its own query encoding plus the single-query SimpleImpactSearcher.search, as a Lucene user would
        self.single = self.retriever.backend == "lucene-impact"

    def search(self, i: int, k: int) -> list:
        if self.single:
            encoded = self.retriever.encode([self.texts[i]])[0]
            return [doc for doc, _ in self.retriever.searcher.search(encoded, k)]
        return list(self.retriever.search([self.texts[i]], k)[0])

    def batch(self, k: int) -> int:
        return len(self.retriever.search(self.texts, k))

    def capabilities(self) -> dict:
        """Optional capabilities offered, and whether an explanation of a real hit works (terms returned)."""
        from tandem.retrieval.retriever import supports

        out = {name: supports(self.retriever, name) for name in ("explain", "doc_vector")}
        if out["explain"]:
            for text in self.texts:
                hits = self.search(self.texts.index(text), 1)
                if hits:
                    t0 = time.perf_counter()
                    terms = self.retriever.explain(text, hits[0])
                    out["explain_terms_of_a_top_hit"] = len(terms)
                    out["explain_ms"] = round((time.perf_counter() - t0) * 1000, 2)
                    break
        return out


class NativeMatrixEngine(Engine):
    def __init__(self, folder: Path, queries: list) -> None:
        from tandem.index.sparse import SparseIndex

        self.index = SparseIndex(folder)
        self.queries = queries
        self.batch_threads = search_threads()

    def search(self, i: int, k: int) -> list:
        return self.index.search(self.queries[i], k)[0].tolist()

    def batch(self, k: int) -> int:
        return len(map_in_threads(lambda q: self.index.search(q, k), self.queries))


class ImpactMatrixEngine(Engine):
    def __init__(self, folder: Path, queries: list, scale: float) -> None:
        from tandem.index.lucene.impact import LuceneImpactSearcher

        self.searcher = LuceneImpactSearcher(folder)
        self.queries = [{f"t{t}": max(0, int(round(float(w) * scale))) for t, w in zip(q.ids, q.weights)} for q in queries]
        self.batch_threads = search_threads()

    def search(self, i: int, k: int) -> list:
        return [int(d) for d, _ in self.searcher.search(self.queries[i], k)]

    def batch(self, k: int) -> int:
        return len(self.searcher.batch_search(self.queries, [str(i) for i in range(len(self.queries))], k, threads=self.batch_threads))


class SeismicMatrixEngine(Engine):
    def __init__(self, folder: Path, queries: list) -> None:
        from tandem.retrieval.backends.seismic_sparse import SearchParameters, SeismicConfig, SeismicSegment

        config = SeismicConfig.model_validate_json((folder / "seismic_settings.json").read_text())
        self.params = SearchParameters(config.query_cut, config.heap_factor)
        self.segment = SeismicSegment(folder).load()
        self.queries = queries

    def search(self, i: int, k: int) -> list:
        return self.segment.search(self.queries[i], k, self.params)[0].tolist()

    def batch(self, k: int) -> int:
        return len([self.segment.search(q, k, self.params) for q in self.queries])


class BmpMatrixEngine(Engine):
    def __init__(self, folder: Path, queries: list) -> None:
        from tandem.retrieval.backends.bmp_sparse import BmpConfig, BmpSegment, SearchParameters

        config = BmpConfig.model_validate_json((folder / "bmp_settings.json").read_text())
        self.params = SearchParameters(config.alpha, config.beta, config.candidates)
        self.segment = BmpSegment(folder).load()
        self.dense = np.zeros(self.segment.vocab_size, dtype=np.float64)
        self.queries = queries

    def search(self, i: int, k: int) -> list:
        q = self.queries[i]
        ids, weights = np.asarray(q.ids, dtype=np.int64), np.asarray(q.weights, dtype=np.float32)
        self.dense[ids] = weights
        try:
            positive = weights > 0
            return self.segment.top_k(ids[positive], weights[positive], self.dense, k, self.params)[0].tolist()
        finally:
            self.dense[ids] = 0.0

    def batch(self, k: int) -> int:
        return len([self.search(i, k) for i in range(len(self.queries))])


def open_engine(spec: dict) -> Engine:
    """The engine a measurement spec names (see the module docstring)."""
    kind = spec["kind"]
    if kind == "retriever":
        from bench.scale_data import msmarco_queries

        return RetrieverEngine(Path(spec["index"]), spec["retriever"], msmarco_queries(spec["num_queries"] + WARMUP))
    from bench.scale_data import load_query_vectors

    queries = load_query_vectors(Path(spec["queries"]))
    if kind == "native-matrix":
        return NativeMatrixEngine(Path(spec["folder"]), queries)
    if kind == "seismic-matrix":
        return SeismicMatrixEngine(Path(spec["folder"]), queries)
    if kind == "bmp-matrix":
        return BmpMatrixEngine(Path(spec["folder"]), queries)
    if kind == "impact-matrix":
        return ImpactMatrixEngine(Path(spec["folder"]), queries, float(spec["scale"]))
    raise ValueError(f"unknown engine kind {kind!r}")


def preload(kind: str) -> None:
    """Import what opening an engine of this kind imports, so the RSS baseline holds the code and only the index counts."""
    import tandem.index.sparse
    from tandem import index  # noqa: F401  (numba kernels)

    if kind == "retriever":
        import tandem.retrieval.backends
        from tandem import retrieval  # noqa: F401
        import tandem.retrieval.searcher
        from tandem import retrieval  # noqa: F401
    elif kind == "impact-matrix":
        import tandem.index.lucene.impact
        from tandem import index  # noqa: F401  (the JVM starts when the index is opened: it counts)
    elif kind == "bmp-matrix":
        import bmp  # noqa: F401

        import tandem.retrieval.backends.bmp_sparse
        from tandem import retrieval  # noqa: F401
    elif kind == "seismic-matrix":
        import seismic  # noqa: F401

        import tandem.retrieval.backends.seismic_sparse
        from tandem import retrieval  # noqa: F401


def query_ranges(kind: str, num: int) -> tuple[range, range]:
    """(timed, warm-up) query indexes of an engine kind: retrievers read texts past the warm-up ones, the
    matrix engines' pre-encoded vectors are warmed on their first ones and all timed."""
    if kind == "retriever":
        return range(WARMUP, WARMUP + num), range(WARMUP)
    return range(num), range(min(WARMUP, num))


def measure(spec: dict) -> dict:
    """Time one engine as described in the module docstring; returns the timings, RSS and the top-10 of every timed query."""
    preload(spec["kind"])
    rss_before = proc_status_mb("VmRSS")
    t0 = time.perf_counter()
    engine = open_engine(spec)
    timed, warm = query_ranges(spec["kind"], spec["num_queries"])
    for k in KS:
        for i in warm:
            engine.search(i, k)
    open_s = time.perf_counter() - t0
    out = {"open_and_warmup_s": round(open_s, 2), "rss_baseline_mb": rss_before, "rss_open_mb": round(proc_status_mb("VmRSS") - rss_before, 1)}
    top10 = []
    for k in KS:
        wall, cpu = [], []
        for i in timed:
            w0, c0 = time.perf_counter(), time.thread_time()
            ids = engine.search(i, k)
            cpu.append(time.thread_time() - c0)
            wall.append(time.perf_counter() - w0)
            if k == 10:
                top10.append([str(d) for d in ids[:10]])
        out[f"k{k}"] = summary_ms(np.asarray(wall) * 1000, np.asarray(cpu) * 1000)
    b0 = time.perf_counter()
    answered = engine.batch(10)
    out["batch_k10"] = {"qps": round(answered / (time.perf_counter() - b0), 1), "queries": answered, "threads": engine.batch_threads}
    out["rss_search_mb"] = round(proc_status_mb("VmRSS") - rss_before, 1)
    out["rss_total_mb"] = proc_status_mb("VmRSS")
    out["vm_hwm_mb"] = proc_status_mb("VmHWM")
    if isinstance(engine, RetrieverEngine):
        out["capabilities"] = engine.capabilities()
    out["top10"] = top10
    return out


def measure_interleaved(specs: dict[str, dict], block: int = 1) -> dict:
    """The engines of ``specs`` (all of one kind: the same timed queries) timed side by side (module docstring):
    per engine the usual latency summary at each k and the batch throughput (``BATCH_ROUNDS`` alternating
    rounds), and per pair the p50 ratio, the median per-query ratio, the single-thread throughput ratio
    and the batch throughput ratio: each engine whose spec says ``lead`` (else the first) over every engine named after it."""
    from bench.interleave import interleaved, interleaved_batches, per_query_ratio

    (kind,) = {spec["kind"] for spec in specs.values()}
    preload(kind)
    engines = {name: open_engine(spec) for name, spec in specs.items()}
    timed, warm = query_ranges(kind, min(spec["num_queries"] for spec in specs.values()))
    searches = {name: engine.search for name, engine in engines.items()}
    names = list(specs)
    leads = [name for name in names if specs[name].get("lead")] or names[:1]
    pairs = [(a, b) for a in leads for b in names[names.index(a) + 1:]]  # each lead over every engine after it
    out = {"engines": {name: {} for name in specs}, "ratios": {f"{a} / {b}": {} for a, b in pairs},
           "order": "query i runs every engine, forward for even i and backward for odd i" if block <= 1 else
                    f"the engines take turns on blocks of {block} queries, forward for even blocks and backward for odd ones",
           "block": block, "warmup_queries": len(warm)}
    for k in KS:
        wall, cpu, _ = interleaved(searches, timed, warm, k, block)
        for name in specs:
            out["engines"][name][f"k{k}"] = summary_ms(np.asarray(wall[name]), np.asarray(cpu[name]))
        for lead, other in pairs:
            a, b = out["engines"][lead][f"k{k}"], out["engines"][other][f"k{k}"]
            out["ratios"][f"{lead} / {other}"][f"k{k}"] = {
                "p50": round(a["p50_ms"] / b["p50_ms"], 3), "cpu_p50": round(a["cpu_p50_ms"] / b["cpu_p50_ms"], 3),
                "per_query_median": per_query_ratio(wall[lead], wall[other]),
                "throughput": round(b["mean_ms"] / a["mean_ms"], 3)}  # (1000 / mean a) / (1000 / mean b)
    qps = interleaved_batches({name: engine.batch for name, engine in engines.items()}, BATCH_ROUNDS, 10)
    for name, engine in engines.items():
        out["engines"][name]["batch_k10"] = {"qps": round(float(np.median(qps[name])), 1), "qps_rounds": [round(q, 1) for q in qps[name]],
                                             "threads": engine.batch_threads}
    for lead, other in pairs:
        a, b = out["engines"][lead]["batch_k10"], out["engines"][other]["batch_k10"]
        out["ratios"][f"{lead} / {other}"]["batch_k10"] = {"throughput": round(a["qps"] / b["qps"], 3)}  # threads: each engine's batch_k10
    out["batch_order"] = f"{BATCH_ROUNDS} rounds of one batch call per engine (every timed and warm-up query), forward in even rounds, backward in odd ones"
    return out


def main(spec_path: str, out_path: str) -> None:
    spec = json.loads(Path(spec_path).read_text())
    result = measure_interleaved(spec["interleave"], spec.get("block", 1)) if "interleave" in spec else measure(spec)
    Path(out_path).write_text(json.dumps(result))


if __name__ == "__main__":
    import sys

    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
    main(sys.argv[1], sys.argv[2])
