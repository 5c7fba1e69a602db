"""``seismic``: approximate learned-sparse search through Seismic (``pip install pyseismic-lsr``), one
Seismic index per segment. What is not Seismic's own (settings, writing and compacting segments, checks,
query side, search parameters, explanations) is :mod:`.per_segment_sparse`'s, shared with ``bmp``.

Seismic (Bruch et al., SIGIR 2024) prunes each posting list to its largest weights, groups the kept
postings into blocks with a summary vector, and at search time scans only the ``query_cut`` largest
query terms and skips blocks whose summary scores below ``heap_factor`` x the current k-th score. It
holds documents as float16 forward vectors and scores candidates exactly on those, so scores equal
the native engine's to float16 rounding of the document weights (relative error ~1e-3) and the
result is a subset of the true top-k's neighbourhood, not always the top-k itself.

Files of a segment (``segments/<segment>/<component>/``): ``seismic.index.seismic`` (Seismic's own
format, written by ``SeismicIndex.save``), ``rows.npy``, the segment row of each Seismic document
in Seismic's order (Seismic skips documents without terms), and ``terms.npy``, the vocabulary ids the
segment's documents use: Seismic numbers them 0..n-1, because it keeps ~230 bytes per dimension even
for unused ones (7 MB per segment at BERT's 30,522 entries, which small added segments would pay).
Seismic's document ids are the segment rows as strings, so results map back to the document store
without a lookup table; deleted rows are filtered after over-fetching ``k + deleted-in-segment`` (at
most that many of the results can be deleted, so k live rows remain whenever Seismic finds them).

Settings (``component.settings["seismic"]``, :class:`SeismicConfig`): the build parameters and the
default search parameters, chosen by measurement (``bench/bench_approx_sparse.py`` ->
``bench/results/approx_sparse.json``, run ``seismic``: pkgsum SPLADE-tiny vectors, 1,000 MS MARCO dev
queries inference-free, one thread, recall@10 against native-sparse's exact top 10, speed as exact
p50 / Seismic p50 in the same run, load 12-17 on 2 cores):

- Seismic's own defaults (summary_energy 0.4, centroid_fraction 0.1), heap_factor 0.9: recall 0.872
  at 1.21x on 100k, 0.866 at 3.40x on 729k;
- summary_energy 0.6, centroid_fraction 0.2: heap_factor 0.9 0.955 at 0.96x / 0.963 at 3.27x,
  heap_factor 0.7 0.980 at 0.70x / 0.989 at 1.87x;
- summary_energy 0.8, centroid_fraction 0.2 (the defaults here), heap_factor 0.9: 0.993 at 0.59x /
  0.994 at 2.56x; heap_factor 0.5: 0.995 at 0.22x / 0.997 at 0.64x; in a second run (run
  ``seismic-more-search-settings``) heap_factor 1.0: 0.986 at 0.80x / 0.987 at 3.05x, and query_cut 8
  with heap_factor 0.9: 0.990 at 0.67x / 0.992 at 2.95x.

(query_cut 10; exact p50 0.12 ms at 100k, 0.70 ms at 729k). Summaries keeping 80% of each block's
mass are what brings recall to 0.99 on these short documents; they cost index size (931 MB at 729k
against 140 MB for the native index) and build time (412 s on one thread). The issue's goal of
recall 0.99 at 5x exact speed is not reached: at 100k the exact engine is faster than Seismic.

Search parameters change at search time through :meth:`SeismicRetriever.configure`; the values each
search used are in its timings (``<name>_query_cut``, ``<name>_heap_factor``).

Explanations and ``doc_vector`` read Seismic's forward vectors (the stored float16 weights), so
``tandem search --explain`` works as with the native engine; compaction rebuilds from those vectors
too (float16 values are exact in float16, so a compacted index holds the same weights).
"""
from __future__ import annotations

import contextlib
import os
import sys
import threading
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import scipy.sparse as sp
from pydantic import BaseModel, ConfigDict, Field

from tandem.index.errors import IndexFormatError, TandemError
from tandem.index.npy_files import check_npy
from tandem.index.sparse import SparseVector, matrix_stats
from tandem.index.threads import search_threads

from ..types import Ranking
from .base import live_top_k, merge_top_k
from .per_segment_sparse import PerSegmentSparseBackend, PerSegmentSparseRetriever, PerSegmentSparseSegment, import_engine

INDEX_PREFIX = "seismic"  # Seismic appends ".index.seismic"
INDEX_FILE = INDEX_PREFIX + ".index.seismic"
ROWS_FILE = "rows.npy"
TERMS_FILE = "terms.npy"
INSTALL_HINT = "pip install 'tandem-retrieval[seismic]' (pyseismic-lsr)"


class SeismicConfig(BaseModel):
    """Seismic's build parameters and default search parameters; saved as the component's ``seismic`` settings.

    Build (see Seismic's docs/Guidelines.md): ``n_postings`` postings kept per term on average (a list
    keeps at most ``max_fraction * n_postings``), ``centroid_fraction * n_postings`` blocks per list,
    summaries keeping ``summary_energy`` of each block's L1 mass, ``doc_cut`` terms per document for the
    approximate clustering. Search: the ``query_cut`` largest query terms are scanned, and a block is
    skipped when its summary's score is below ``heap_factor`` times the current k-th best score: lower
    values skip fewer blocks (closer to exact, slower; measured on pkgsum, see the bench)."""

    model_config = ConfigDict(extra="forbid")

    n_postings: int = Field(3500, ge=1)
    centroid_fraction: float = Field(0.2, gt=0, le=1)  # Seismic's default 0.1 (see the class docstring for 0.2)
    min_cluster_size: int = Field(2, ge=1)
    summary_energy: float = Field(0.8, gt=0, le=1)  # Seismic's default 0.4
    max_fraction: float = Field(1.5, ge=1)
    doc_cut: int = Field(15, ge=1)
    build_threads: int | None = Field(None, ge=1)  # Rayon threads for building (None: every core)
    query_cut: int = Field(10, ge=1)
    heap_factor: float = Field(0.9, gt=0, le=1)

    def build_arguments(self) -> dict:
        """Keyword arguments of ``SeismicIndex.build_from_dataset``."""
        return {"n_postings": self.n_postings, "centroid_fraction": self.centroid_fraction, "min_cluster_size": self.min_cluster_size,
                "summary_energy": self.summary_energy, "max_fraction": self.max_fraction, "doc_cut": self.doc_cut,
                "num_threads": self.build_threads or 0}


@dataclass(frozen=True)
class SearchParameters:
    """What one Seismic search uses (replaced as a whole by ``configure``, so concurrent searches see one consistent pair)."""

    query_cut: int
    heap_factor: float


def load_seismic():
    """The ``seismic`` module of pyseismic-lsr, or one line saying how to install it."""
    return import_engine("seismic", "seismic", "pyseismic-lsr", INSTALL_HINT)


_REDIRECT_LOCK = threading.Lock()  # one redirection at a time: nested ones in two threads could leave fd 1 on stderr


@contextlib.contextmanager
def _stdout_to_stderr():
    """Seismic's Rust code prints build progress on file descriptor 1; send it to stderr so that
    command output on stdout (JSON, tables) stays clean. Process-wide while it lasts (Seismic builds in
    one process run one at a time)."""
    with _REDIRECT_LOCK:
        sys.stdout.flush()
        saved = os.dup(1)
        try:
            os.dup2(2, 1)
            yield
        finally:
            sys.stdout.flush()
            os.dup2(saved, 1)
            os.close(saved)


def write_seismic_segment(seg_dir: Path, matrix: sp.csr_matrix, config: SeismicConfig) -> dict:
    """One segment's Seismic index of ``matrix`` (docs x vocab; row i = segment row i) and its row map."""
    seismic = load_seismic()
    seg_dir.mkdir(parents=True, exist_ok=True)
    matrix = sp.csr_matrix(matrix, dtype=np.float32)
    matrix.eliminate_zeros()
    matrix.sort_indices()  # Seismic wants strictly increasing components per row
    rows = np.flatnonzero(np.diff(matrix.indptr) > 0).astype(np.int32)  # Seismic skips rows without terms
    terms = np.unique(matrix.indices).astype(np.int32)
    np.save(seg_dir / ROWS_FILE, rows)
    np.save(seg_dir / TERMS_FILE, terms)
    t0 = time.perf_counter()
    if rows.size:
        dataset = seismic.SeismicDataset(dim=int(terms.size))
        dataset.add_documents_by_id([str(r) for r in range(matrix.shape[0])], np.searchsorted(terms, matrix.indices).astype(np.int64),
                                    matrix.data.astype(np.float32), matrix.indptr.astype(np.int64))
        with _stdout_to_stderr():
            index = seismic.SeismicIndex.build_from_dataset(dataset, **config.build_arguments())
            index.save(str(seg_dir / INDEX_PREFIX))
    num_docs = int(matrix.shape[0])
    return {"num_docs": num_docs, "num_postings": int(matrix.nnz), "indexed_docs": int(rows.size),
            "flops": matrix_stats(matrix)["flops"], "seismic_build_seconds": round(time.perf_counter() - t0, 3),
            "build_threads": config.build_threads or os.cpu_count()}


class SeismicSegment(PerSegmentSparseSegment):
    """One segment's Seismic files, checked on opening (the index itself is loaded by :meth:`load`)."""

    def __init__(self, path: Path, num_docs: int | None = None) -> None:
        self.path = Path(path)
        rows_path = self.path / ROWS_FILE
        check_npy(rows_path, "int32", (None,))
        self.rows = np.load(rows_path)
        terms_path = self.path / TERMS_FILE
        check_npy(terms_path, "int32", (None,))
        self.terms = np.load(terms_path)
        if self.terms.size and (np.any(np.diff(self.terms) <= 0) or self.terms[0] < 0):
            raise IndexFormatError("term list is not increasing", str(terms_path))
        if (self.rows.size and (np.any(np.diff(self.rows) <= 0) or self.rows[0] < 0)):
            raise IndexFormatError("row map is not an increasing list of rows", str(rows_path))
        if num_docs is not None and self.rows.size and int(self.rows[-1]) >= num_docs:
            raise IndexFormatError(f"row map names row {int(self.rows[-1])}, the segment has {num_docs} rows", str(rows_path))
        if self.rows.size and not (self.path / INDEX_FILE).is_file():
            raise IndexFormatError("Seismic index file missing", str(self.path / INDEX_FILE))
        self.index = None

    def load(self) -> "SeismicSegment":
        """Load the Seismic index (refused in one line when unreadable or not matching the row map)."""
        if not self.rows.size:
            return self
        seismic = load_seismic()
        path = self.path / INDEX_FILE
        try:
            index = seismic.SeismicIndex.load(str(path))
        except OSError as exc:
            raise IndexFormatError(f"Seismic index unreadable: {exc}", str(path)) from None
        if index.len != self.rows.size:
            raise IndexFormatError(f"Seismic index holds {index.len} documents, the row map {self.rows.size}", str(path))
        self.index = index
        self._string_dtype = seismic.get_seismic_string()
        return self

    def verify(self) -> None:
        """What ``tandem index info --verify`` reads: the whole Seismic index, loaded (see :meth:`load`)."""
        self.load()

    def position(self, row: int) -> int | None:
        """Seismic's number for a segment row (None: the row has no terms, Seismic does not hold it)."""
        i = int(np.searchsorted(self.rows, row))
        return i if i < self.rows.size and int(self.rows[i]) == row else None

    def vector(self, row: int) -> SparseVector:
        """The stored vector of a segment row (float16 weights as float32; empty for a row without terms)."""
        i = self.position(row)
        if i is None:
            return SparseVector(np.zeros(0, np.int32), np.zeros(0, np.float32))
        if self.index is None:
            self.load()
        local, weights = self.index.get(i)
        local = np.asarray(local, dtype=np.int64)
        if local.size and (local.min() < 0 or local.max() >= self.terms.size):
            raise IndexFormatError(f"Seismic document {i} names term {int(local.max())}, the term list has {self.terms.size}", str(self.path / INDEX_FILE))
        return SparseVector(self.terms[local], np.asarray(weights, dtype=np.float32))

    def doc_matrix(self, rows: np.ndarray, vocab_size: int) -> sp.csr_matrix:
        """The stored vectors of ``rows`` (in that order) as a CSR matrix, for compaction."""
        vectors = [self.vector(int(r)) for r in rows]
        indptr = np.zeros(len(vectors) + 1, dtype=np.int64)
        np.cumsum([v.nnz for v in vectors], out=indptr[1:])
        ids = np.concatenate([v.ids for v in vectors]) if vectors else np.zeros(0, np.int32)
        weights = np.concatenate([v.weights for v in vectors]) if vectors else np.zeros(0, np.float32)
        return sp.csr_matrix((weights, ids, indptr), shape=(len(vectors), vocab_size))

    def _query_arrays(self, vector: SparseVector) -> tuple[np.ndarray, np.ndarray] | None:
        """A query as Seismic takes it (the segment's term numbers as strings, float32 weights), or None when
        no document of the segment has any of its terms (such terms score nothing)."""
        if self.index is None or vector.nnz == 0:
            return None
        ids = np.asarray(vector.ids)
        local = np.searchsorted(self.terms, ids)
        present = local < self.terms.size
        present[present] = self.terms[local[present]] == ids[present]
        if not present.any():
            return None
        return local[present].astype(self._string_dtype), np.asarray(vector.weights, dtype=np.float32)[present]

    @staticmethod
    def _rows_scores(found) -> tuple[np.ndarray, np.ndarray]:
        """Seismic's (query id, score, doc id) results as (segment rows, scores)."""
        rows = np.fromiter((int(doc) for _, _, doc in found), dtype=np.int64, count=len(found))
        scores = np.fromiter((score for _, score, _ in found), dtype=np.float32, count=len(found))
        return rows, scores

    def search(self, vector: SparseVector, k: int, params: SearchParameters) -> tuple[np.ndarray, np.ndarray]:
        """Segment rows and scores of Seismic's top ``k`` for one query."""
        query = self._query_arrays(vector) if k > 0 else None
        if query is None:
            return np.zeros(0, np.int64), np.zeros(0, np.float32)
        found = self.index.search("q", *query, k=min(k, self.rows.size), query_cut=params.query_cut, heap_factor=params.heap_factor)
        return self._rows_scores(found)

    def search_many(self, vectors: list[SparseVector], k: int, params: SearchParameters) -> list[tuple[np.ndarray, np.ndarray]]:
        """:meth:`search` of each query (the same results), in one ``batch_search`` call: Seismic searches the
        queries in parallel on its own thread pool (Rayon's: every core, or ``RAYON_NUM_THREADS``)."""
        empty = (np.zeros(0, np.int64), np.zeros(0, np.float32))
        queries = [self._query_arrays(v) if k > 0 else None for v in vectors]
        asked = [i for i, q in enumerate(queries) if q is not None]
        out = [empty] * len(vectors)
        if not asked:
            return out
        found = self.index.batch_search(np.array([str(i) for i in asked], dtype=self._string_dtype), [queries[i][0] for i in asked],
                                        [queries[i][1] for i in asked], k=min(k, self.rows.size), query_cut=params.query_cut,
                                        heap_factor=params.heap_factor)
        for results in found:  # one list per query, not in the order asked: each result names its query
            if results:
                out[int(results[0][0])] = self._rows_scores(results)
        return out


class SeismicRetriever(PerSegmentSparseRetriever):
    """Approximate sparse dot-product search over every segment's Seismic index, skipping deleted rows.

    Queries are encoded as for native-sparse (:class:`SparseQueryEncoder`: IDF table or SPLADE);
    ``doc_vector`` and explanations read Seismic's stored float16 weights."""

    backend = "seismic"
    settings_key = "seismic"
    config_class = SeismicConfig
    parameters_class = SearchParameters
    segment_class = SeismicSegment

    def _open_segment(self, path: Path, num_docs: int) -> SeismicSegment:
        return SeismicSegment(path, num_docs).load()

    def configure(self, *, query_cut: int | None = None, heap_factor: float | None = None) -> None:
        """Search-time parameters for the following searches (None keeps the current value): ``query_cut``
        (>= 1: query terms scanned, largest weights first) and ``heap_factor`` (0 < h <= 1: lower skips
        fewer blocks, closer to exact and slower). ``tandem search --param sparse.heap_factor=0.8``."""
        self._reconfigure(query_cut=query_cut, heap_factor=heap_factor)

    def search_vector(self, vector: SparseVector, k: int, params: SearchParameters | None = None) -> Ranking:
        """One query's top-k over all segments (``params``: the current search parameters by default)."""
        params = params or self._params
        parts = []
        for seg, segment in self.segments:
            parts.append(live_top_k(seg, *segment.search(vector, k + seg.num_deleted, params), k))
        return merge_top_k(parts, k)

    def search_encoded(self, vectors: list[SparseVector], k: int) -> list[Ranking]:
        """Each query's top-k. A batch that may use several threads (:func:`search_threads`) goes to Seismic's
        ``batch_search`` per segment, which runs outside the GIL on Seismic's thread pool; one query, or a
        call limited to one thread (the service's requests), searches query by query on the calling thread."""
        if len(vectors) < 2 or search_threads() < 2:
            return super().search_encoded(vectors, k)
        params = self._params
        per_segment = [(seg, segment.search_many(vectors, k + seg.num_deleted, params)) for seg, segment in self.segments]
        return [merge_top_k([live_top_k(seg, *found[q], k) for seg, found in per_segment], k) for q in range(len(vectors))]


class SeismicBackend(PerSegmentSparseBackend):
    name = "seismic"
    description = "Seismic (approximate top-k, pyseismic-lsr)"
    retriever_class = SeismicRetriever

    write_matrix = staticmethod(write_seismic_segment)

    def describe_engine(self, config: SeismicConfig) -> str:
        """E.g. ``Seismic approximate (n_postings 3500, ...; query_cut 10, heap_factor 0.9)``."""
        c = config
        return (f"Seismic approximate (n_postings {c.n_postings}, centroid_fraction {c.centroid_fraction:g}, "
                f"summary_energy {c.summary_energy:g}, max_fraction {c.max_fraction:g}; query_cut {c.query_cut}, heap_factor {c.heap_factor:g})")
