"""Document reordering by recursive graph bisection (BP; Dhulipala et al., KDD 2016; Mackenzie et al., 2021).

Documents that share terms are given neighbouring ids, so a term's postings cluster into fewer blocks and
the block maxima of the pruning kernel (``tandem.index.sparse_kernel``) bound a block's documents more
tightly: more blocks and windows are skipped. The order is computed from the doc x term matrix alone
(``index`` knows nothing of models) and applied by the caller to everything a segment stores per row.

The corpus range is split in two halves, and documents are swapped between them while a swap lowers the
estimated cost of coding the two halves' postings (a term with ``d`` postings among ``n`` documents costs
``d * log2(n / (d + 1))`` bits); then each half is split the same way, down to ``leaf`` documents.
All partitions of one depth are refined in one compiled call, so progress moves level by level. The
result is deterministic (stable sorts, fixed iteration count).
"""
from __future__ import annotations

import time

import numpy as np
import scipy.sparse as sp
from numba import njit

from .progress import progress

LEAF = 16  # partitions this small are left as they are
ITERATIONS = 20  # swap rounds per partition (fewer when a round swaps nothing)
MAX_DEPTH = 40


@njit(cache=True)
def _cost(deg, log_n, log2):
    return deg * (log_n - log2[deg + 1])


@njit(cache=True, nogil=True)
def _bisect_level(indptr, indices, order, starts, ends, vocab_size, iterations, log2):
    """Refine every partition [starts[i], ends[i]) of ``order`` in place: split it in halves and swap the
    documents whose moves lower the cost most, pair by pair, for up to ``iterations`` rounds."""
    deg_left = np.zeros(vocab_size, np.int64)
    deg_right = np.zeros(vocab_size, np.int64)
    gains = np.zeros(order.size)
    for part in range(starts.size):
        s = starts[part]
        e = ends[part]
        m = (s + e) // 2
        log_left = np.log2(m - s)
        log_right = np.log2(e - m)
        for i in range(s, e):
            d = order[i]
            for p in range(indptr[d], indptr[d + 1]):
                if i < m:
                    deg_left[indices[p]] += 1
                else:
                    deg_right[indices[p]] += 1
        for _ in range(iterations):
            for i in range(s, e):  # the gain of moving each document to the other half
                d = order[i]
                g = 0.0
                for p in range(indptr[d], indptr[d + 1]):
                    t = indices[p]
                    if i < m:
                        a, b, la, lb = deg_left[t], deg_right[t], log_left, log_right
                    else:
                        a, b, la, lb = deg_right[t], deg_left[t], log_right, log_left
                    g += _cost(a, la, log2) + _cost(b, lb, log2) - _cost(a - 1, la, log2) - _cost(b + 1, lb, log2)
                gains[i] = g
            left = np.argsort(-gains[s:m], kind="mergesort") + s
            right = np.argsort(-gains[m:e], kind="mergesort") + m
            moved_left = order[left].copy()
            moved_right = order[right].copy()
            swaps = 0
            for j in range(min(m - s, e - m)):
                if gains[left[j]] + gains[right[j]] <= 0:
                    break
                a = moved_left[j]
                b = moved_right[j]
                for p in range(indptr[a], indptr[a + 1]):
                    deg_left[indices[p]] -= 1
                    deg_right[indices[p]] += 1
                for p in range(indptr[b], indptr[b + 1]):
                    deg_right[indices[p]] -= 1
                    deg_left[indices[p]] += 1
                moved_left[j] = b
                moved_right[j] = a
                swaps += 1
            order[s:m] = moved_left
            order[m:e] = moved_right
            if swaps == 0:
                break
        for i in range(s, e):  # reset the degrees this partition set
            d = order[i]
            for p in range(indptr[d], indptr[d + 1]):
                deg_left[indices[p]] = 0
                deg_right[indices[p]] = 0


def bp_order(matrix: sp.csr_matrix, leaf: int = LEAF, iterations: int = ITERATIONS, show_progress: bool = True) -> np.ndarray:
    """A permutation of the rows of ``matrix`` (docs x terms; only which terms a document has counts):
    row ``order[i]`` goes to position ``i``."""
    matrix = sp.csr_matrix(matrix)
    n = matrix.shape[0]
    order = np.arange(n, dtype=np.int64)
    if n <= max(leaf, 1):
        return order
    indptr = matrix.indptr.astype(np.int64)
    indices = matrix.indices.astype(np.int64)
    log2 = np.log2(np.maximum(np.arange(n + 3, dtype=np.float64), 1.0))
    parts = [(0, n)]
    depth_total = min(MAX_DEPTH, int(np.ceil(np.log2(n / leaf))))
    for _ in progress(range(depth_total), desc="reordering documents (graph bisection)", unit="level", disable=not show_progress):
        parts = [(s, e) for s, e in parts if e - s > leaf]
        if not parts:
            break
        starts = np.array([s for s, _ in parts], np.int64)
        ends = np.array([e for _, e in parts], np.int64)
        _bisect_level(indptr, indices, order, starts, ends, matrix.shape[1], iterations, log2)
        parts = [half for s, e in parts for half in ((s, (s + e) // 2), ((s + e) // 2, e))]
    return order


def timed_bp_order(matrix: sp.csr_matrix, show_progress: bool = True) -> tuple[np.ndarray, float]:
    """:func:`bp_order` and the seconds it took."""
    started = time.perf_counter()
    order = bp_order(matrix, show_progress=show_progress)
    return order, round(time.perf_counter() - started, 2)
