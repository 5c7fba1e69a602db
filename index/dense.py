"""Dense vector index on FAISS (inner product over L2-normalised vectors = cosine).

Types: ``flat`` (exact), ``hnsw`` (graph; M, efConstruction, efSearch), ``ivfpq`` (inverted file +
product quantisation; nlist, m, nbits, nprobe; for memory: ~60 bytes a vector instead of 1,536 at
dim 384) and ``auto`` (the default): flat below :data:`AUTO_HNSW_MIN_VECTORS` vectors, hnsw from
there on. A live index has one FAISS index per segment, so ``auto`` decides per segment: small
added segments stay flat (exact) and compaction decides again for the merged segment. The type
actually written is recorded per segment (``SegmentInfo.stats[component]["faiss"]``).

Why 50,000: one query on one thread scans every vector of a flat index (1.5 KB each at dim 384).
Measured here (bench/bench_dense.py, ``flat_sweep`` in bench/results/dense.json) flat p50 is
0.27 ms at 10k vectors, 0.96 at 20k, 2.4 at 30k, 4.6 at 50k, 6-11 at 100k and 67-84 at 1M,
while HNSW (M=32, efSearch 256) answers in 1.0-1.4 ms at 100k-1M with recall@10 0.993-1.0
against flat for in-domain queries. Below the threshold exact search costs under ~5 ms and HNSW
would add build time (45 s for 100k vectors on 2 cores) and approximation.

efSearch defaults to 256: at 1M vectors 128 gave recall@10 0.978 and 256 gave 0.993 (in-domain
queries; 0.81 for out-of-domain ones), for 0.55 ms more. On real MiniLM vectors of pkgsum documents
(``bench_dense.py --real-encoded``, 100k-312k, the former efConstruction-200 fp32 graph) 256 gives
recall@10 0.996-0.998 for held-out documents as queries, 0.984-0.990 for package names and
0.95-0.97 for MS MARCO queries at 1.7-2.2 ms, while flat takes 7 ms at 100k and 28 ms at 312k:
the 50,000 threshold holds there too (flat is under 5 ms below it); out-of-domain queries want a
higher efSearch at search time (``tandem search --param dense.ef_search=1024``).

The graph is built with efConstruction 400 and keeps its vectors in fp16 (``hnsw_storage``). On all
728,528 real pkgsum vectors (bench_dense.py --real-encoded, one query per call on one thread; flat
46-49 ms) this graph gave recall@10 at efSearch 256 of 0.972 for MS MARCO queries, 0.989 for
package names and 0.996 for held-out documents, against 0.945 / 0.979 / 0.994 for the former
default (efConstruction 200, fp32), at 1.6-1.7 ms instead of 2.0-2.2; it took 975 s to build on 2
threads instead of 657 s, and 1,040 bytes a vector instead of 1,808. On one graph, fp16 vectors
searched 1.3-1.7x faster than fp32 ones (fewer bytes fetched per distance) with recall@10 within
0.0004; scores are then exact to ~1e-3. bf16 was as fast but lost up to 0.0024 of recall (8 bits
of mantissa). That was an AMD EPYC host; on an Intel Xeon host one 300k graph walked over fp32
vectors in 0.87-0.89x fp16's time and over bf16 in 0.79x (README, "Dense indexes at scale").
``fp32`` keeps exact scores. efConstruction 800 raised MS MARCO recall further
(0.983 at efSearch 256) for twice the build time again, and 1600 to 0.986 (0.991 at efSearch 384,
5.7-6.0% of flat in two runs) for 3.4x the default's (3,342 s); the default stays at 400, and the README says
when to build denser graphs (out-of-domain queries).

``sq8`` storage (:func:`searchable_hnsw`) keeps the graph built over fp16 vectors but walks it over
8-bit codes (FAISS ``QT_8bit``, 384 bytes a vector at dim 384) and, by default, re-scores the best
``rerank_factor`` (2) x k candidates with the fp32 vectors (FAISS ``IndexRefine``): scores are
exact and compaction merges exact vectors, for 2,192 bytes a vector (~1,420 with an fp16 rerank).
On the 728,528 real pkgsum vectors (bench_dense.py, three graphs, three query sets, one run) it
answered in 0.73-0.96 of fp16's p50 at equal efSearch (median per graph and query set) with
recall@10 within 0.001 on an AMD EPYC host, but 1.10-1.17x fp16's time on an Intel Xeon host (300k vectors,
one graph; 4- and 6-bit codes slower still); the default stays fp16, which takes half the memory.

Builds use every core the process may run on (FAISS's OpenMP: HNSW insertion, IVF training and
assignment); searches use :func:`tandem.index.threads.set_search_threads` threads (the service sets 1 per request
thread). OpenMP thread counts are per calling thread, so they are applied on every call. Row i of
the FAISS index is the document with internal index i.
"""
from __future__ import annotations

import math
import os
import sys
import time
from pathlib import Path

import numpy as np
from pydantic import BaseModel, Field

from .errors import IndexFormatError, TandemError
from .progress import progress
from .threads import available_cores, search_threads

DIRNAME = "dense"
FILENAME = "faiss.index"
FAISS_TYPES = ("auto", "flat", "hnsw", "ivfpq")
HNSW_STORAGES = ("fp32", "fp16", "bf16", "sq8")  # how an hnsw graph keeps the vectors it walks over (see the module docstring)
HNSW_RERANKS = ("none", "fp16", "fp32")  # hnsw: vectors that re-score the graph's best candidates (see the module docstring)
AUTO_HNSW_MIN_VECTORS = 50_000  # auto: a segment with at least this many vectors gets hnsw (see the module docstring)
HNSW_ADD_CHUNKS = 100  # an hnsw graph is built by adding its vectors in about this many calls, each a step of its progress bar ...
HNSW_ADD_CHUNK_MIN = 4_096  # ... of at least this many vectors (a smaller graph is built in one call)
HNSW_PROGRESS_MIN_VECTORS = 20_000  # graphs of at least this many vectors show the bar (smaller ones take seconds)
TRAIN_POINTS_PER_LIST = 50  # ivfpq: default training sample per inverted list (FAISS wants 39-256)
PQ_TRAIN_POINTS = 65_536  # ivfpq: FAISS trains each 8-bit sub-quantiser on at most 256 x 256 points
PQ_SUBVECTOR_DIMS = 8  # ivfpq default: dimensions per sub-quantiser. Training 4-dim ones (m = dim/4) took 44x longer here
# (FAISS 1.15 k-means on 20k 384-d vectors: m=96 173 s, m=64 55 s, m=48 3.9 s, m=32 4.0 s, one thread)

_SQ_TYPES = {"fp16": "QT_fp16", "bf16": "QT_bf16", "sq8": "QT_8bit"}  # hnsw_storage -> FAISS ScalarQuantizer type


def load_faiss():
    """The ``faiss`` module, first imported with OpenMP's passive wait policy unless the environment chose one.

    libgomp's default lets idle threads spin; on a machine whose cores are busy with other work a
    2-thread FAISS build then ran 7x slower than on one thread (IVF-PQ training: 56 s vs 7.9 s;
    passive: 1.6 s). The policy is read once, when FAISS's own libgomp loads, so the variable is
    set only for that import and OpenMP libraries loaded later (torch) keep their default. If torch
    is already loaded, FAISS uses torch's OpenMP runtime and this has no effect: on a shared
    machine set ``OMP_WAIT_POLICY=PASSIVE`` in the environment (see the README).
    """
    if "faiss" in sys.modules:
        return sys.modules["faiss"]
    added = "OMP_WAIT_POLICY" not in os.environ
    if added:
        os.environ["OMP_WAIT_POLICY"] = "PASSIVE"
    try:
        import faiss
    finally:
        if added:
            del os.environ["OMP_WAIT_POLICY"]
    return faiss


class FaissConfig(BaseModel):
    """FAISS index type and its parameters; recorded in the manifest (resolved per segment)."""

    type: str = Field("auto", description="auto | flat | hnsw | ivfpq")
    auto_hnsw_min_vectors: int = AUTO_HNSW_MIN_VECTORS  # auto: hnsw from this many vectors in a segment, flat below
    hnsw_m: int = 32
    ef_construction: int = 400  # see the module docstring
    hnsw_storage: str = Field("fp16", description="hnsw: how the graph keeps the vectors it walks over, fp32 | fp16 | bf16 | sq8 (see the module docstring)")
    hnsw_rerank: str | None = Field(None, description="hnsw: vectors that re-score the graph's best rerank_factor x k candidates, "
                                    "none | fp16 | fp32; default fp32 for sq8 storage, none otherwise")
    rerank_factor: float = 2.0  # hnsw with a rerank: candidates re-scored per result wanted (search time too)
    ef_search: int = 256  # see the module docstring
    nlist: int | None = None  # ivfpq: default ~ 4*sqrt(N), capped so each list trains on >= 39 points
    pq_m: int | None = None  # ivfpq: sub-quantisers (bytes a vector); default dim/8 rounded down to a divisor of dim
    pq_nbits: int = 8
    nprobe: int = 16
    train_size: int | None = None  # ivfpq: vectors sampled to train on; default max(50 * nlist, 65,536), at most N
    build_threads: int | None = None  # OpenMP threads for building (None: every core); recorded as used

    @property
    def reranks(self) -> bool:
        """Whether an hnsw index of these settings re-scores its graph's best candidates (``hnsw_rerank`` fp16 or fp32)."""
        return self.hnsw_rerank not in (None, "none")

    @classmethod
    def recorded(cls, settings: dict) -> "FaissConfig":
        """The settings a manifest or segment recorded; records from before ``hnsw_storage`` existed held fp32 vectors."""
        return cls(**{"hnsw_storage": "fp32", "hnsw_rerank": "none", **settings})

    def resolved(self, num_docs: int, dim: int) -> "FaissConfig":
        """The concrete settings for ``num_docs`` vectors of ``dim``: ``auto`` becomes flat or hnsw, ivfpq defaults filled in."""
        if self.type not in FAISS_TYPES:
            raise TandemError(f"unknown FAISS type {self.type!r} (choose {', '.join(FAISS_TYPES)})", "--faiss")
        for name, flag in (("hnsw_m", "--hnsw-m"), ("ef_construction", "--ef-construction"), ("ef_search", "--ef-search"), ("nprobe", "--nprobe"),
                           ("nlist", "--nlist"), ("pq_m", "--pq-m"), ("train_size", "--faiss-train-size"), ("auto_hnsw_min_vectors", "--auto-hnsw-min-vectors"),
                           ("build_threads", "build_threads")):
            value = getattr(self, name)
            if value is not None and value < 1:
                raise TandemError(f"must be at least 1, got {value}", flag)
        if self.hnsw_storage not in HNSW_STORAGES:
            raise TandemError(f"unknown HNSW storage {self.hnsw_storage!r} (choose {', '.join(HNSW_STORAGES)})", "--hnsw-storage")
        if self.hnsw_rerank is not None and self.hnsw_rerank not in HNSW_RERANKS:
            raise TandemError(f"unknown HNSW rerank {self.hnsw_rerank!r} (choose {', '.join(HNSW_RERANKS)})", "--hnsw-rerank")
        check_search_parameters(None, None, self.rerank_factor)
        if self.type == "auto":
            return self.model_copy(update={"type": "hnsw" if num_docs >= self.auto_hnsw_min_vectors else "flat"}).resolved(num_docs, dim)
        if self.type == "hnsw" and self.hnsw_rerank is None:
            return self.model_copy(update={"hnsw_rerank": "fp32" if self.hnsw_storage == "sq8" else "none"})
        if self.type != "ivfpq":
            return self
        nlist = self.nlist or max(1, min(int(4 * math.sqrt(num_docs)), num_docs // 39))
        pq_m = self.pq_m or next(m for m in range(max(1, dim // PQ_SUBVECTOR_DIMS), 0, -1) if dim % m == 0)
        if dim % pq_m:
            raise TandemError(f"pq_m={pq_m} must divide the embedding dimension {dim}", "--pq-m")
        train_size = min(num_docs, self.train_size or max(TRAIN_POINTS_PER_LIST * nlist, PQ_TRAIN_POINTS))
        return self.model_copy(update={"nlist": nlist, "pq_m": pq_m, "train_size": train_size})

    def search_parameters(self, ef_search: int | None = None, nprobe: int | None = None, rerank_factor: float | None = None):
        """FAISS per-call search parameters for this (resolved) type, or None for flat."""
        faiss = load_faiss()

        if self.type == "hnsw":
            graph = faiss.SearchParametersHNSW(efSearch=int(ef_search or self.ef_search))
            if not self.reranks:
                return graph  # FAISS's Python wrapper keeps it alive as long as the refine parameters below
            return faiss.IndexRefineSearchParameters(k_factor=float(rerank_factor or self.rerank_factor), base_index_params=graph)
        if self.type == "ivfpq":
            return faiss.SearchParametersIVF(nprobe=int(nprobe or self.nprobe))
        return None


def build_faiss_index(vectors: np.ndarray, config: FaissConfig, threads: int | None = None):
    """A FAISS index of ``vectors`` (row i = vector i) built on ``threads`` cores (default: the config's, else all);
    returns it and the resolved config, which records the threads used."""
    faiss = load_faiss()

    vectors = np.ascontiguousarray(vectors, dtype=np.float32)
    num_docs, dim = vectors.shape
    threads = threads or config.build_threads or available_cores()
    config = config.resolved(num_docs, dim).model_copy(update={"build_threads": threads})
    faiss.omp_set_num_threads(threads)  # this thread's OpenMP team for the build
    if config.type == "flat":
        index = faiss.IndexFlatIP(dim)
    elif config.type == "hnsw":
        graph_storage = "fp16" if config.hnsw_storage == "sq8" else config.hnsw_storage  # sq8: the graph is built over fp16 vectors
        index = _empty_hnsw(faiss, dim, config, graph_storage)
        index.hnsw.efConstruction = config.ef_construction
        index.hnsw.efSearch = config.ef_search
        add_in_chunks(index, vectors, "HNSW graph")
        return searchable_hnsw(index, vectors, config), config
    else:
        if num_docs < 2 ** config.pq_nbits:
            raise TandemError(f"ivfpq with {config.pq_nbits} bits needs at least {2 ** config.pq_nbits} documents to train, got {num_docs}", "--faiss")
        quantizer = faiss.IndexFlatIP(dim)
        index = faiss.IndexIVFPQ(quantizer, dim, config.nlist, config.pq_m, config.pq_nbits, faiss.METRIC_INNER_PRODUCT)
        index.train(training_sample(vectors, config.train_size))
        index.nprobe = config.nprobe
    index.add(vectors)
    return index, config


def add_in_chunks(index, vectors: np.ndarray, desc: str) -> None:
    """``index.add(vectors)`` in about :data:`HNSW_ADD_CHUNKS` calls of at least :data:`HNSW_ADD_CHUNK_MIN` vectors, with
    a progress bar (on stderr) from :data:`HNSW_PROGRESS_MIN_VECTORS` vectors on: FAISS has no progress callback, and
    one call would build a 729k graph for 16 minutes (2 cores) without a sign. HNSW inserts vector by vector anyway,
    so chunks give a graph of the same quality, not the same graph: on 100k real pkgsum MiniLM vectors (efConstruction
    400, chunks of 4,096) recall@10 at efSearch 64-256 was within 0.0034 of one call's for MS MARCO queries and held-out
    documents, and the build took as long (86-87 s against 72-97 s; ``bench/results/dense.json`` graphs were built in one call)."""
    num = len(vectors)
    chunk = max(HNSW_ADD_CHUNK_MIN, -(-num // HNSW_ADD_CHUNKS))
    with progress(total=num, desc=desc, unit="vector", disable=num < HNSW_PROGRESS_MIN_VECTORS) as bar:
        for start in range(0, num, chunk):
            index.add(vectors[start:start + chunk])
            bar.update(min(chunk, num - start))


def _empty_hnsw(faiss, dim: int, config: FaissConfig, storage: str):
    """An empty HNSW index whose graph keeps its vectors as ``storage``."""
    if storage == "fp32":
        return faiss.IndexHNSWFlat(dim, config.hnsw_m, faiss.METRIC_INNER_PRODUCT)
    return faiss.IndexHNSWSQ(dim, getattr(faiss.ScalarQuantizer, _SQ_TYPES[storage]), config.hnsw_m, faiss.METRIC_INNER_PRODUCT)


def searchable_hnsw(graph, vectors: np.ndarray, config: FaissConfig):
    """The HNSW index to write for a built ``graph`` of ``vectors`` (row i = vector i) and the resolved ``config``.

    ``sq8`` storage: the graph built over fp16 vectors is kept and walked over 8-bit codes instead
    (FAISS ``QT_8bit``: per-dimension ranges from all the vectors; 384 bytes a vector at dim 384
    instead of 768, so fewer bytes fetched per distance). A rerank (``hnsw_rerank`` fp16 or fp32)
    wraps it in a FAISS ``IndexRefine`` that re-scores the graph's best ``rerank_factor`` x k
    candidates with those stored vectors: fp32 gives exact scores and lets compaction merge the exact
    vectors. Other storages are returned as built, wrapped the same way if a rerank is asked.
    """
    faiss = load_faiss()

    dim = vectors.shape[1]
    index = graph
    if config.hnsw_storage == "sq8":
        index = _empty_hnsw(faiss, dim, config, "sq8")
        index.storage.train(vectors)  # per-dimension min and max: one pass, no sampling
        index.storage.add(vectors)
        index.hnsw = graph.hnsw  # a copy of the graph (links, levels, entry point, efSearch)
        index.ntotal = graph.ntotal
    if not config.reranks:
        return index
    if config.hnsw_rerank == "fp32":
        exact = faiss.IndexFlatIP(dim)
    else:
        exact = faiss.IndexScalarQuantizer(dim, getattr(faiss.ScalarQuantizer, _SQ_TYPES[config.hnsw_rerank]), faiss.METRIC_INNER_PRODUCT)
    exact.add(vectors)
    refined = faiss.IndexRefine(index, exact)  # FAISS's Python wrapper keeps both alive as long as it
    refined.k_factor = config.rerank_factor
    refined.ntotal = index.ntotal
    refined.is_trained = True
    return refined


def training_sample(vectors: np.ndarray, size: int) -> np.ndarray:
    """``size`` rows of ``vectors`` drawn without replacement by a fixed seed (all of them if there are no more)."""
    if size >= len(vectors):
        return vectors
    rows = np.sort(np.random.default_rng(0).choice(len(vectors), size=size, replace=False))
    return vectors[rows]


def write_dense_index(directory: Path, vectors: np.ndarray, config: FaissConfig, threads: int | None = None) -> dict:
    """Build and write ``directory/faiss.index``; returns its statistics (the resolved config under ``faiss``)."""
    faiss = load_faiss()

    started = time.perf_counter()
    index, resolved = build_faiss_index(vectors, config, threads)
    build_seconds = time.perf_counter() - started
    directory.mkdir(parents=True, exist_ok=True)
    faiss.write_index(index, str(directory / FILENAME))
    return {"dim": int(vectors.shape[1]), "num_vectors": int(vectors.shape[0]), "faiss": resolved.model_dump(),
            "faiss_build_seconds": round(build_seconds, 3)}


def _hnsw_storage(faiss, index, path: Path) -> str:
    """fp32, fp16, bf16 or sq8: how an HNSW index read from a file keeps the vectors its graph walks over."""
    storage = faiss.downcast_index(index.storage)
    if isinstance(storage, faiss.IndexScalarQuantizer):
        names = {getattr(faiss.ScalarQuantizer, qtype): name for name, qtype in _SQ_TYPES.items()}
        if storage.sq.qtype not in names:
            raise IndexFormatError(f"HNSW over a scalar quantiser of type {storage.sq.qtype} (Tandem writes {', '.join(HNSW_STORAGES)})", str(path))
        return names[storage.sq.qtype]
    return "fp32"


def _rerank_storage(faiss, refine, path: Path) -> str:
    """fp32 or fp16: how the rerank of an HNSW index read from a file keeps its vectors."""
    exact = faiss.downcast_index(refine.refine_index)
    if isinstance(exact, faiss.IndexFlat):
        return "fp32"
    if isinstance(exact, faiss.IndexScalarQuantizer) and exact.sq.qtype == faiss.ScalarQuantizer.QT_fp16:
        return "fp16"
    raise IndexFormatError(f"a rerank over {type(exact).__name__} vectors (Tandem writes {', '.join(HNSW_RERANKS[1:])})", str(path))


def check_search_parameters(ef_search: int | None, nprobe: int | None, rerank_factor: float | None = None) -> None:
    """Search-time ``ef_search`` and ``nprobe`` are None (unchanged) or whole numbers of at least 1,
    ``rerank_factor`` None or a finite number of at least 1."""
    for name, value, flag in (("ef_search", ef_search, "--ef-search"), ("nprobe", nprobe, "--nprobe")):
        if value is not None and (isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 1):
            raise TandemError(f"{name} must be a whole number of at least 1, got {value!r}", flag)
    value = rerank_factor
    if value is not None and (isinstance(value, bool) or not isinstance(value, (int, float, np.integer, np.floating))
                              or not math.isfinite(value) or value < 1):
        raise TandemError(f"rerank_factor must be a number of at least 1, got {value!r}", "--rerank-factor")


class DenseIndex:
    """One FAISS index file, searched with per-call parameters (safe to share between threads)."""

    def __init__(self, directory: Path, config: FaissConfig | None = None, mmap: bool = True) -> None:
        faiss = load_faiss()

        path = Path(directory) / FILENAME
        if not path.exists():
            raise IndexFormatError("dense index file missing", str(path))
        flags = faiss.IO_FLAG_MMAP | faiss.IO_FLAG_READ_ONLY if mmap else 0
        try:
            self.index = faiss.read_index(str(path), flags)
        except RuntimeError:
            try:
                self.index = faiss.read_index(str(path))  # types that cannot be memory-mapped
            except RuntimeError as exc:
                reason = str(exc).strip().splitlines()[0].rsplit("Error: ", 1)[-1] if str(exc).strip() else "unknown error"
                raise IndexFormatError(f"FAISS index unreadable: {reason}", str(path)) from None
        base = faiss.downcast_index(self.index)
        rerank = "none"
        if isinstance(base, faiss.IndexRefine):
            rerank = _rerank_storage(faiss, base, path)
            base = faiss.downcast_index(base.base_index)
        kind = "hnsw" if isinstance(base, faiss.IndexHNSW) else "ivfpq" if isinstance(base, faiss.IndexIVF) else "flat"
        if rerank != "none" and kind != "hnsw":
            raise IndexFormatError(f"a rerank over a {kind} index (Tandem reranks only hnsw)", str(path))
        held = {"type": kind}  # what the file holds, whatever was asked
        if kind == "hnsw":
            held.update(hnsw_storage=_hnsw_storage(faiss, base, path), hnsw_rerank=rerank)
        self.config = (config or FaissConfig()).model_copy(update=held)
        self.ef_search = self.config.ef_search
        self.nprobe = self.config.nprobe
        self.rerank_factor = self.config.rerank_factor
        self.dim = self.index.d
        self.num_docs = self.index.ntotal

    @property
    def type(self) -> str:
        """flat, hnsw or ivfpq: the type of the FAISS index in the file."""
        return self.config.type

    def configure(self, ef_search: int | None = None, nprobe: int | None = None, rerank_factor: float | None = None) -> None:
        """Search-time parameters from now on: HNSW candidate list size, IVF lists visited, candidates
        re-scored per result by an HNSW rerank (None keeps the current one)."""
        check_search_parameters(ef_search, nprobe, rerank_factor)
        self.ef_search = ef_search or self.ef_search
        self.nprobe = nprobe or self.nprobe
        self.rerank_factor = rerank_factor or self.rerank_factor

    def search(self, queries: np.ndarray, k: int, ef_search: int | None = None, nprobe: int | None = None,
               rerank_factor: float | None = None) -> tuple[np.ndarray, np.ndarray]:
        """Batch search on :func:`search_threads` threads: (doc indices [Q, k], scores [Q, k]); -1 marks missing results.
        The search parameters given apply to this call only (a retriever's own, when several share this index);
        None: this index's (:meth:`configure`)."""
        faiss = load_faiss()

        queries = np.ascontiguousarray(queries, dtype=np.float32).reshape(-1, self.dim)
        faiss.omp_set_num_threads(search_threads())  # OpenMP settings belong to the calling thread
        params = self.config.search_parameters(ef_search or self.ef_search, nprobe or self.nprobe, rerank_factor or self.rerank_factor)
        scores, ids = self.index.search(queries, max(1, min(k, self.num_docs)), params=params)
        return ids, scores

    def vectors(self, rows: np.ndarray) -> np.ndarray:
        """The stored vectors of these rows (exact for flat, fp32 hnsw and an fp32 rerank; otherwise as stored: fp16/bf16 round them
        to 16 bits, sq8 without a rerank to 8, ivfpq keeps only quantised codes)."""
        faiss = load_faiss()

        rows = np.asarray(rows, dtype=np.int64)
        if rows.size == 0:
            return np.zeros((0, self.dim), np.float32)
        base = faiss.downcast_index(self.index)
        if isinstance(base, faiss.IndexRefine):
            base = faiss.downcast_index(base.refine_index)
        if isinstance(base, faiss.IndexHNSW):
            base = faiss.downcast_index(base.storage)
        if isinstance(base, faiss.IndexFlat):
            flat = faiss.rev_swig_ptr(base.get_xb(), base.ntotal * self.dim).reshape(base.ntotal, self.dim)
            return np.array(flat[rows], dtype=np.float32)
        return np.stack([self.index.reconstruct(int(r)) for r in rows])

