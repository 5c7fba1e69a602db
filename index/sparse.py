"""Sparse inverted index: posting lists as memory-mappable numpy arrays.

Layout (directory ``sparse/``):
- ``postings_offsets.npy`` int64[V+1]: term t's postings are ``[offsets[t], offsets[t+1])``
- ``postings_docs.npy`` int32[P]: internal doc indices, ascending within each term
- ``postings_weights.npy`` float32[P]
- ``forward_indptr.npy`` / ``forward_terms.npy`` / ``forward_weights.npy``: the same matrix
  row-wise (doc -> terms), used to explain matches
- ``query_weights.npy`` float32[V] (optional): the IDF table for inference-free queries
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Sequence

import numpy as np
import scipy.sparse as sp

from .errors import IndexFormatError

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


def matrix_stats(doc_matrix: sp.csr_matrix) -> dict:
    """Document count, postings, average nonzeros per document and FLOPS of a docs x vocab matrix.

    FLOPS (Paria et al.): expected number of multiply-adds for a random query/doc pair,
    ``sum_t p_t^2`` with ``p_t`` the fraction of documents that contain term t.
    """
    csr = doc_matrix.tocsr()
    num_docs, vocab_size = csr.shape
    p_t = np.bincount(csr.indices[csr.data != 0], minlength=vocab_size) / max(num_docs, 1)
    return {
        "num_docs": int(num_docs),
        "vocab_size": int(vocab_size),
        "num_postings": int(csr.count_nonzero()),
        "avg_nnz_per_doc": float(csr.count_nonzero() / num_docs) if num_docs else 0.0,
        "flops": float(np.square(p_t).sum()),
    }


def write_sparse_index(directory: Path, doc_matrix: sp.csr_matrix, query_weights: np.ndarray | None = None) -> dict:
    """Write a docs x vocab CSR matrix as an inverted index; returns summary statistics."""
    directory.mkdir(parents=True, exist_ok=True)
    csr = doc_matrix.tocsr()
    csr.sum_duplicates()
    csr.eliminate_zeros()
    csc = csr.tocsc()
    csc.sort_indices()
    np.save(directory / "postings_offsets.npy", csc.indptr.astype(np.int64))
    np.save(directory / "postings_docs.npy", csc.indices.astype(np.int32))
    np.save(directory / "postings_weights.npy", csc.data.astype(np.float32))
    np.save(directory / "forward_indptr.npy", csr.indptr.astype(np.int64))
    np.save(directory / "forward_terms.npy", csr.indices.astype(np.int32))
    np.save(directory / "forward_weights.npy", csr.data.astype(np.float32))
    if query_weights is not None:
        np.save(directory / "query_weights.npy", query_weights.astype(np.float32))
    return matrix_stats(csr)


class SparseIndex:
    """Exact top-k retrieval over a memory-mapped inverted index."""

    def __init__(self, directory: Path, mmap: bool = True) -> None:
        self.directory = Path(directory)
        mode = "r" if mmap else None
        try:
            self.offsets = np.load(self.directory / "postings_offsets.npy", mmap_mode=mode)
            self.docs = np.load(self.directory / "postings_docs.npy", mmap_mode=mode)
            self.weights = np.load(self.directory / "postings_weights.npy", mmap_mode=mode)
            self.fwd_indptr = np.load(self.directory / "forward_indptr.npy", mmap_mode=mode)
            self.fwd_terms = np.load(self.directory / "forward_terms.npy", mmap_mode=mode)
            self.fwd_weights = np.load(self.directory / "forward_weights.npy", mmap_mode=mode)
        except FileNotFoundError as exc:
            raise IndexFormatError(f"sparse index file missing: {Path(exc.filename).name}", str(self.directory)) from None
        qw = self.directory / "query_weights.npy"
        self.query_weights: np.ndarray | None = np.load(qw) if qw.exists() else None
        self.num_docs = int(self.fwd_indptr.shape[0] - 1)
        self.vocab_size = int(self.offsets.shape[0] - 1)

    def scores(self, query: SparseVector) -> np.ndarray:
        """Dense float64 score vector over all documents (posting-list accumulation)."""
        starts = self.offsets[query.ids]
        ends = self.offsets[query.ids + 1]
        doc_parts, weight_parts = [], []
        for qw, start, end in zip(query.weights, starts, ends):
            if end > start:
                doc_parts.append(self.docs[start:end])
                weight_parts.append(self.weights[start:end].astype(np.float64) * float(qw))
        if not doc_parts:
            return np.zeros(self.num_docs, dtype=np.float64)
        return np.bincount(np.concatenate(doc_parts), weights=np.concatenate(weight_parts), minlength=self.num_docs)

    def search(self, query: SparseVector, k: int) -> tuple[np.ndarray, np.ndarray]:
        """Top-k (doc indices, scores): score descending, ties by doc index ascending.

        Only documents that share at least one term with the query are returned.
        """
        scores = self.scores(query)
        matched = np.flatnonzero(scores != 0)
        return top_k(matched, scores[matched], k)

    def doc_vector(self, doc_idx: int) -> SparseVector:
        start, end = int(self.fwd_indptr[doc_idx]), int(self.fwd_indptr[doc_idx + 1])
        return SparseVector(np.asarray(self.fwd_terms[start:end]), np.asarray(self.fwd_weights[start:end]))

    def doc_matrix(self) -> sp.csr_matrix:
        return sp.csr_matrix(
            (np.asarray(self.fwd_weights), np.asarray(self.fwd_terms), np.asarray(self.fwd_indptr)),
            shape=(self.num_docs, self.vocab_size),
        )

    def document_frequency(self) -> np.ndarray:
        return np.diff(np.asarray(self.offsets))


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
