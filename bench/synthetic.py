"""Synthetic long documents at any scale, resampled from a real encoded corpus (issue 11).

Document j is real document (j mod n) of the base corpus with its term ids remapped by
permutation number floor(j / n); each permutation shuffles terms only within bands of ``band``
terms of similar document frequency (permutation 0 is the identity). Document lengths, weights and
FLOPS stay those of the base corpus while the postings a query touches grow linearly with the
number of documents; term co-occurrence across documents is broken.
"""
from __future__ import annotations

import numpy as np
import scipy.sparse as sp
from numba import njit


def synthetic_long_docs(base: sp.spmatrix, num_docs: int, seed: int = 0, band: int = 32) -> sp.csc_matrix:
    """A ``num_docs`` x vocab CSC matrix resampled from ``base`` (docs x vocab) as described above."""
    base_csc = sp.csc_matrix(base, dtype=np.float32)
    base_csc.sum_duplicates()
    base_csc.sort_indices()
    num_base, vocab = base_csc.shape
    reps = -(-num_docs // num_base)
    df = np.diff(base_csc.indptr)
    by_df = np.argsort(-df, kind="stable")  # term ids, most frequent first; bands of `band` consecutive
    rng = np.random.default_rng(seed)
    sources = np.empty((reps, vocab), dtype=np.int64)  # sources[p, t]: base term that becomes term t in copy p
    sources[0] = np.arange(vocab)
    band_of_position = np.arange(vocab) // band
    for p in range(1, reps):
        shuffled = np.lexsort((rng.random(vocab), band_of_position))  # positions, shuffled within bands
        sources[p, by_df] = by_df[shuffled]
    indptr, rows, data = _resample(base_csc.indptr.astype(np.int64), base_csc.indices.astype(np.int32), base_csc.data, sources, num_base, num_docs)
    return sp.csc_matrix((data, rows, indptr), shape=(num_docs, vocab))


@njit(cache=True)
def _resample(base_indptr, base_rows, base_data, sources, num_base, num_docs):
    reps, vocab = sources.shape
    counts = np.zeros(vocab + 1, np.int64)
    for t in range(vocab):
        for p in range(reps):
            s = sources[p, t]
            for j in range(base_indptr[s], base_indptr[s + 1]):
                if p * num_base + base_rows[j] < num_docs:
                    counts[t + 1] += 1
    indptr = np.cumsum(counts)
    rows = np.empty(indptr[-1], np.int32)
    data = np.empty(indptr[-1], np.float32)
    for t in range(vocab):
        o = indptr[t]
        for p in range(reps):
            s = sources[p, t]
            for j in range(base_indptr[s], base_indptr[s + 1]):
                doc = p * num_base + base_rows[j]
                if doc < num_docs:
                    rows[o] = doc
                    data[o] = base_data[j]
                    o += 1
    return indptr, rows, data
