"""Sparse vectors and the sparse inverted index (exact top-k with compiled kernels).

The on-disk layout and its options (``SparseIndexConfig``: float32 or 8/16-bit quantised
weights, optional forward copy, bit-packed or byte-aligned doc-id gaps) are in ``tandem.index.sparse_format``; the kernels (block decoding,
block-max MaxScore top-k, exhaustive accumulation) in ``tandem.index.sparse_kernel``.
"""
from __future__ import annotations

import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Literal, Sequence

import numpy as np
import scipy.sparse as sp

from .errors import TandemError
from .sparse_format import (
    SparseIndexConfig,
    SparseIndexInfo,
    encode_postings,
    load_forward,
    load_info,
    load_legacy,
    load_postings,
    quantise,
    remove_stale,
    save_forward,
    save_info,
    save_postings,
)
from .sparse_kernel import (
    PROBE_RATIO,
    PRUNE_DOCS_PER_K,
    WINDOW,
    accumulate,
    canonical_terms,
    decode_all,
    doc_postings,
    fill_kth_weights,
    scan_top_k,
    search_top_k,
)

DIRNAME = "sparse"


@dataclass(frozen=True, slots=True)
class SparseVector:
    """Term ids with their weights (ids unique)."""

    ids: np.ndarray  # int32
    weights: np.ndarray  # float32

    @property
    def nnz(self) -> int:
        return int(self.ids.size)


def stack_vectors(vectors: Sequence[SparseVector], vocab_size: int) -> sp.csr_matrix:
    """Stack per-document vectors into a CSR matrix (docs x vocab)."""
    indptr = np.zeros(len(vectors) + 1, dtype=np.int64)
    np.cumsum([v.nnz for v in vectors], out=indptr[1:])
    if vectors:
        ids = np.concatenate([v.ids for v in vectors]).astype(np.int32, copy=False)
        weights = np.concatenate([v.weights for v in vectors]).astype(np.float32, copy=False)
    else:
        ids = np.zeros(0, np.int32)
        weights = np.zeros(0, np.float32)
    matrix = sp.csr_matrix((weights, ids, indptr), shape=(len(vectors), vocab_size))
    matrix.sort_indices()
    return matrix


def matrix_stats(doc_matrix: sp.spmatrix) -> dict:
    """Document count, postings, average nonzeros per document and FLOPS of a docs x vocab matrix.

    FLOPS (Paria et al.): expected number of multiply-adds for a random query/doc pair,
    ``sum_t p_t^2`` with ``p_t`` the fraction of documents that contain term t.
    """
    csr = doc_matrix.tocsr()
    df = np.bincount(csr.indices[csr.data != 0], minlength=csr.shape[1])
    return _stats_from_df(df, doc_matrix.shape[0])


def _stats_from_df(df: np.ndarray, num_docs: int) -> dict:
    num_postings = int(df.sum())
    p_t = df / max(num_docs, 1)
    return {
        "num_docs": int(num_docs),
        "vocab_size": int(df.size),
        "num_postings": num_postings,
        "avg_nnz_per_doc": float(num_postings / num_docs) if num_docs else 0.0,
        "flops": float(np.square(p_t).sum()),
    }


def write_sparse_index(directory: Path, doc_matrix: sp.spmatrix, query_weights: np.ndarray | None = None, config: SparseIndexConfig | None = None,
                       inherited_error: float = 0.0) -> dict:
    """Write a docs x vocab sparse matrix (CSR or CSC) as a block-compressed inverted index.

    ``config`` (saved in ``sparse_config.json``) picks float32 or quantised weights and whether a
    forward copy is stored. Returns summary statistics, sizes and the quantisation scale/error.
    Duplicate entries are summed and explicit zeros dropped (in place for a CSC input).
    ``inherited_error``: how far the given weights may already be from the encoder's (a merge of
    quantised segments passes the largest of its parts' errors); the recorded ``max_weight_error``
    adds it to this rounding's, so it stays a bound against the encoder's weights.
    """
    config = config or SparseIndexConfig()
    csc = doc_matrix.tocsc()
    csc.sum_duplicates()
    csc.eliminate_zeros()
    csc.sort_indices()
    if csc.nnz and not np.isfinite(csc.data).all():
        raise TandemError("document weights must be finite (found NaN or infinity)", "sparse vectors")
    stored, scale, error = quantise(csc.data, config.weights)
    error += float(inherited_error)
    directory.mkdir(parents=True, exist_ok=True)
    postings = encode_postings(csc.indptr, csc.indices, stored, config.layout)
    posting_files = save_postings(directory, postings)
    sizes = {"postings": sum(posting_files.values())}
    if config.forward:
        sizes["forward"] = save_forward(directory, csc, stored)
    remove_stale(directory, config.forward, config.layout)
    if query_weights is not None:
        np.save(directory / "query_weights.npy", query_weights.astype(np.float32))
    num_docs, vocab_size = csc.shape
    info = SparseIndexInfo(
        config=config, num_docs=int(num_docs), vocab_size=int(vocab_size), num_postings=int(csc.nnz), scale=scale,
        min_weight=float(stored.min()) if stored.size else 0.0, max_weight_error=error,
    )
    save_info(directory, info)
    summary = _stats_from_df(np.diff(csc.indptr), num_docs)
    summary.update(
        weights=config.weights, forward=config.forward, layout=config.layout, scale=scale, max_weight_error=error, bytes=sizes,
        bytes_per_posting={part: size / max(csc.nnz, 1) for part, size in sizes.items()},
        posting_file_bytes=posting_files,
    )
    return summary


KTH_FILL_CHUNK = 2048  # terms per step of SparseIndex.fill_kth_weights
KTH_WEIGHT_CACHES = 16  # values of k whose per-term floors a SparseIndex keeps (30,522 float64 each for BERT's vocabulary)


class SparseIndex:
    """Exact top-k retrieval over a memory-mapped, block-compressed inverted index.

    ``search`` runs a compiled kernel (``tandem.index.sparse_kernel``; ``strategy`` "auto", "scan"
    or "prune": windowed block-max MaxScore) and returns exactly what ``scores`` + ``top_k`` return, scores bit for
    bit. Scores sum the query terms' contributions ``stored weight * (query weight * scale)`` in
    float64, terms in descending order of their upper bound (ties by term id).
    """

    def __init__(self, directory: Path, mmap: bool = True) -> None:
        self.directory = Path(directory)
        info = load_info(self.directory)
        if info is None:
            info, self.postings, forward = load_legacy(self.directory, mmap)
        else:
            self.postings = load_postings(self.directory, mmap, info.config.layout)
            forward = load_forward(self.directory, mmap) if info.config.forward else None
        self.info = info
        self.forward = forward
        self.offsets = self.postings.offsets
        self.scale = float(info.scale)
        self.num_docs = int(info.num_docs)
        self.vocab_size = int(info.vocab_size)
        qw = self.directory / "query_weights.npy"
        self.query_weights: np.ndarray | None = np.load(qw) if qw.exists() else None
        block_offsets = np.asarray(self.postings.block_offsets)
        self.term_max = np.zeros(self.vocab_size, dtype=np.float64)
        nonempty = np.flatnonzero(block_offsets[1:] > block_offsets[:-1])
        if nonempty.size:
            self.term_max[nonempty] = np.maximum.reduceat(np.asarray(self.postings.block_max), block_offsets[nonempty])
        self._prunable = info.min_weight >= 0
        self.window = WINDOW  # doc ids scored together by the pruning kernel (a multiple of 64)
        # Exact kernel: "prune" (windowed block-max MaxScore: cost follows the postings it touches),
        # "scan" (every posting of the query terms into an N-long score array, then one pass over it)
        # or "auto": prune when num_docs >= PRUNE_DOCS_PER_K * k, else scan, whose N-long pass is cheap
        # there next to the postings. bench/results/sparse_kernel.json (uint8, load ~2), p50 prune vs
        # scan: k=10 0.78 vs 1.51 ms on 1M synthetic long docs, 0.56 vs 0.72 on pkgsum 729k, 0.15 vs
        # 0.19 on synthetic 100k, 0.15 vs 0.13 on pkgsum 100k; k=100 1.11 vs 1.54 at 1M, 0.85 vs 0.83
        # on pkgsum 729k; k=1000 slower everywhere. Negative weights always scan (no upper bounds).
        self.strategy: Literal["auto", "scan", "prune"] = "auto"
        self._scratch = threading.local()  # per-thread zeroed buffers of the two kernels
        self.bound_factor = 1.0
        self.counters = np.zeros(3, np.int64)  # pruning: windows skipped, candidates, blocks probed (diagnostic: searches on several threads at once may lose counts)
        self._kth_weights: dict[int, np.ndarray] = {}  # k -> each term's k-th largest weight (NaN: not yet needed)

    @property
    def bound_factor(self) -> float:
        """1 = exact; below 1, approximate pruning (upper bounds multiplied by it; see
        ``sparse_kernel.search_top_k``). Checked by :func:`check_bound_factor` when set."""
        return self._bound_factor

    @bound_factor.setter
    def bound_factor(self, value: float) -> None:
        self._bound_factor = check_bound_factor(value)

    def canonical_query(self, query: SparseVector) -> tuple[np.ndarray, np.ndarray]:
        """(term ids, multipliers = query weight * scale) in scoring order, zero weights dropped."""
        ids = np.asarray(query.ids)
        terms, mult, bad = canonical_terms(ids, np.asarray(query.weights), self.term_max, self.scale)
        if bad >= 0:
            raise TandemError(f"term id {int(ids[bad])} is outside the index vocabulary (0..{self.vocab_size - 1})", "query")
        return terms, mult

    def scores(self, query: SparseVector) -> np.ndarray:
        """Dense float64 score vector over all documents (exhaustive accumulation)."""
        out = np.zeros(self.num_docs, dtype=np.float64)
        terms, mult = self.canonical_query(query)
        if terms.size:
            accumulate(self.postings, terms, mult, out)
        return out

    def search(self, query: SparseVector, k: int, bound_factor: float | None = None) -> tuple[np.ndarray, np.ndarray]:
        """Top-k (doc indices, scores): score descending, ties by doc index ascending.

        Only documents with a nonzero score (sharing a term with the query) are returned. ``bound_factor``
        for this search only (a retriever's own setting, when several share this index); None: the index's.
        """
        bound_factor = self.bound_factor if bound_factor is None else check_bound_factor(bound_factor)
        terms, mult = self.canonical_query(query)
        if k <= 0 or terms.size == 0 or self.num_docs == 0:
            return np.zeros(0, np.int64), np.zeros(0, np.float64)
        prune = self.strategy == "prune" or (self.strategy == "auto" and (self.num_docs >= PRUNE_DOCS_PER_K * k or bound_factor < 1))
        if prune and self._prunable and bool((mult > 0).all()):
            acc, bits, cand = self._window_buffers()
            scores, docs = search_top_k(self.postings, terms, mult, int(k), self.num_docs, PROBE_RATIO, float(bound_factor),
                                        acc, bits, cand, self.counters, self._kth_weight_cache(int(k)))
        else:  # exhaustive scan (also the only way with negative weights: no upper bounds)
            buffer = getattr(self._scratch, "scores", None)
            if buffer is None:
                buffer = self._scratch.scores = np.zeros(self.num_docs, dtype=np.float64)
            scores, docs = scan_top_k(self.postings, terms, mult, int(k), buffer)
        order = np.lexsort((docs, -scores))
        return docs[order], scores[order]

    def _window_buffers(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """This thread's (accumulator, touched bitmap, candidates) for the pruning kernel, sized by
        ``self.window`` (at most the documents rounded up to 64); the first two stay all zero."""
        window = min(int(self.window), (self.num_docs + 63) // 64 * 64)
        if window <= 0 or window % 64:
            raise TandemError(f"search window must be a positive multiple of 64 (got {self.window})", "sparse index")
        buffers = getattr(self._scratch, "window", None)
        if buffers is None or buffers[0].size != window:
            buffers = self._scratch.window = (np.zeros(window, np.float64), np.zeros(window // 64, np.uint64), np.empty(window, np.int64))
        return buffers

    def fill_kth_weights(self, k: int, stop: threading.Event | None = None) -> bool:
        """Compute every term's k-th largest weight, the score the pruning kernel starts from for a query with
        that term (otherwise computed on the term's first query at this k), ``KTH_FILL_CHUNK`` terms at a time
        without the GIL, stopping between chunks once ``stop`` is set; True when every term is done. Reads only
        weights and block maxima inside the offsets that opening checked (0.2 s of one core on pkgsum 729k)."""
        cache = self._kth_weight_cache(int(k))
        for start in range(0, self.vocab_size, KTH_FILL_CHUNK):
            if stop is not None and stop.is_set():
                return False
            fill_kth_weights(self.postings, int(k), cache, start, min(start + KTH_FILL_CHUNK, self.vocab_size))
        return True

    def _kth_weight_cache(self, k: int) -> np.ndarray:
        """The pruning kernel's per-term floors for this k (filled as terms are first queried); kept for
        up to ``KTH_WEIGHT_CACHES`` values of k, a fresh one for any further k."""
        cache = self._kth_weights.get(k)
        if cache is None:
            cache = np.full(self.vocab_size, np.nan)
            if len(self._kth_weights) < KTH_WEIGHT_CACHES:
                cache = self._kth_weights.setdefault(k, cache)
        return cache

    def _weights(self, stored: np.ndarray) -> np.ndarray:
        stored = np.asarray(stored)
        if stored.dtype == np.float32:
            return stored
        return (stored.astype(np.float64) * self.scale).astype(np.float32)

    def doc_vector(self, doc_idx: int) -> SparseVector:
        """The document's terms (ascending) and weights (dequantised)."""
        if not 0 <= doc_idx < self.num_docs:
            raise IndexError(f"document {doc_idx} outside 0..{self.num_docs - 1}")
        if self.forward is not None:
            indptr, terms, weights = self.forward
            start, end = int(indptr[doc_idx]), int(indptr[doc_idx + 1])
            return SparseVector(np.asarray(terms[start:end]), self._weights(weights[start:end]))
        terms, posts = doc_postings(self.postings, int(doc_idx), np.arange(self.vocab_size, dtype=np.int64))
        return SparseVector(terms.astype(np.int32), self._weights(np.asarray(self.postings.weights)[posts]))

    def doc_terms(self, doc_idx: int, term_ids: np.ndarray) -> SparseVector:
        """The document's weights for ``term_ids`` only (the ones it contains, ascending): what an
        explanation needs, found from the postings of those terms alone (no forward copy needed)."""
        if not 0 <= doc_idx < self.num_docs:
            raise IndexError(f"document {doc_idx} outside 0..{self.num_docs - 1}")
        wanted = np.unique(np.asarray(term_ids, dtype=np.int64))
        wanted = wanted[(wanted >= 0) & (wanted < self.vocab_size)]
        if self.forward is not None:
            full = self.doc_vector(doc_idx)
            keep = np.isin(full.ids, wanted)
            return SparseVector(full.ids[keep], full.weights[keep])
        terms, posts = doc_postings(self.postings, int(doc_idx), wanted)
        return SparseVector(terms.astype(np.int32), self._weights(np.asarray(self.postings.weights)[posts]))

    def doc_matrix(self) -> sp.csr_matrix:
        """All documents as a docs x vocab CSR matrix (dequantised weights)."""
        shape = (self.num_docs, self.vocab_size)
        if self.forward is not None:
            indptr, terms, weights = self.forward
            return sp.csr_matrix((self._weights(weights), np.asarray(terms), np.asarray(indptr)), shape=shape)
        docs = decode_all(self.postings)
        return sp.csc_matrix((self._weights(self.postings.weights), docs, np.asarray(self.offsets)), shape=shape).tocsr()

    def document_frequency(self) -> np.ndarray:
        return np.diff(np.asarray(self.offsets))


def warm_search_kernels(weights: str = "uint8", layout: str = "packed") -> float:
    """Compile, or load from numba's cache, both exact search kernels for indexes of these stored
    weights and layout, by searching a tiny index written to a temporary folder (its arrays have the
    types a real index's have, so the compiled code is the one real searches use); returns the seconds
    taken: ~30 s on first use on a machine, well under one once cached."""
    import tempfile

    started = time.perf_counter()
    rng = np.random.default_rng(0)
    matrix = sp.random(64, 16, density=0.3, format="csr", random_state=rng, dtype=np.float32)
    query = SparseVector(np.arange(4, dtype=np.int32), np.ones(4, dtype=np.float32))
    with tempfile.TemporaryDirectory(prefix="tandem-warm-") as folder:
        write_sparse_index(Path(folder), matrix, config=SparseIndexConfig(weights=weights, layout=layout))
        index = SparseIndex(Path(folder), mmap=False)
        for strategy in ("prune", "scan"):
            index.strategy = strategy
            index.search(query, 10)
    return time.perf_counter() - started


def check_bound_factor(value: float) -> float:
    """``value`` as a float if it is a valid ``SparseIndex.bound_factor`` (0 < f <= 1), else one line saying so."""
    if not 0 < value <= 1:
        raise TandemError(f"bound_factor must be in (0, 1] (got {value})", "sparse search")
    return float(value)


def top_k(doc_idx: np.ndarray, scores: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    """Select the k best (score desc, doc index asc) from candidate indices and their scores."""
    if k <= 0 or doc_idx.size == 0:
        return doc_idx[:0], scores[:0]
    if doc_idx.size > k:
        kth = np.partition(scores, doc_idx.size - k)[doc_idx.size - k]
        above = scores > kth
        ties = np.flatnonzero(scores == kth)
        ties = ties[np.argsort(doc_idx[ties], kind="stable")][: k - int(above.sum())]
        keep = np.concatenate([np.flatnonzero(above), ties])
        doc_idx, scores = doc_idx[keep], scores[keep]
    order = np.lexsort((doc_idx, -scores))
    return doc_idx[order], scores[order]
