"""Exact sparse top-k equals brute force ``doc_matrix @ query`` (score desc, doc index asc)."""
import numpy as np
import scipy.sparse as sp
from hypothesis import given, settings, strategies as st

from tandem.index.sparse import SparseIndex, SparseVector, top_k, write_sparse_index


def brute_force(matrix: sp.csr_matrix, query: SparseVector, k: int):
    qdense = np.zeros(matrix.shape[1])
    qdense[query.ids] = query.weights
    scores = matrix.astype(np.float64) @ qdense
    order = sorted((i for i in range(matrix.shape[0]) if scores[i] != 0), key=lambda i: (-scores[i], i))[:k]
    return np.array(order, dtype=np.int64), scores[order]


@settings(max_examples=60, deadline=None)
@given(
    num_docs=st.integers(1, 60),
    vocab=st.integers(1, 40),
    density=st.floats(0.02, 0.6),
    k=st.integers(1, 70),
    seed=st.integers(0, 2**31 - 1),
)
def test_search_equals_brute_force(tmp_path_factory, num_docs, vocab, density, k, seed):
    rng = np.random.default_rng(seed)
    # Small integer weights: exact arithmetic and many ties, so tie-breaking is tested too.
    matrix = sp.random(num_docs, vocab, density=density, format="csr", random_state=rng, data_rvs=lambda n: rng.integers(1, 4, n).astype(np.float32))
    qids = np.unique(rng.integers(0, vocab, size=rng.integers(1, 6))).astype(np.int32)
    query = SparseVector(qids, rng.integers(1, 4, qids.size).astype(np.float32))
    directory = tmp_path_factory.mktemp("sparse")
    write_sparse_index(directory, matrix)
    index = SparseIndex(directory)
    got_idx, got_scores = index.search(query, k)
    want_idx, want_scores = brute_force(matrix, query, k)
    np.testing.assert_array_equal(got_idx, want_idx)
    np.testing.assert_array_equal(got_scores, want_scores)


def test_top_k_tie_break_by_doc_index():
    idx = np.array([7, 3, 5, 1, 9])
    scores = np.array([2.0, 2.0, 3.0, 2.0, 1.0])
    got, got_scores = top_k(idx, scores, 3)
    assert got.tolist() == [5, 1, 3] and got_scores.tolist() == [3.0, 2.0, 2.0]


def test_forward_index_round_trip(tmp_path):
    matrix = sp.csr_matrix(np.array([[0, 1.5, 0, 2.0], [0.5, 0, 0, 0], [0, 0, 0, 0]], dtype=np.float32))
    summary = write_sparse_index(tmp_path, matrix)
    index = SparseIndex(tmp_path)
    assert summary["num_postings"] == 3 and summary["num_docs"] == 3
    vec = index.doc_vector(0)
    assert vec.ids.tolist() == [1, 3] and vec.weights.tolist() == [1.5, 2.0]
    assert index.doc_vector(2).nnz == 0
    assert (index.doc_matrix() != matrix).nnz == 0
    # FLOPS = sum_t p_t^2 with p_t = df_t / N: terms 0, 1, 3 each in 1 of 3 docs
    assert abs(summary["flops"] - 3 * (1 / 3) ** 2) < 1e-12


def test_the_floors_filled_ahead_are_each_terms_kth_largest_weight_and_leave_results_unchanged(tmp_path):
    """``fill_kth_weights`` computes, for every term, the value the pruning kernel would compute on the term's
    first query: its k-th largest stored weight (0 below k postings)."""
    matrix = sp.random(5000, 300, density=0.03, format="csr", random_state=np.random.default_rng(5), dtype=np.float32)
    write_sparse_index(tmp_path / "idx", matrix)
    lazy, ahead = SparseIndex(tmp_path / "idx"), SparseIndex(tmp_path / "idx")
    lazy.strategy = ahead.strategy = "prune"
    assert ahead.fill_kth_weights(3)
    floors = ahead._kth_weight_cache(3)
    stored = ahead.doc_matrix().tocsc()
    for t in range(matrix.shape[1]):
        weights = np.sort(stored.data[stored.indptr[t]:stored.indptr[t + 1]])[::-1]
        assert floors[t] == (float(weights[2]) if weights.size >= 3 else 0.0)
    rng = np.random.default_rng(6)
    for _ in range(30):
        ids = rng.choice(300, size=4, replace=False).astype(np.int32)
        query = SparseVector(ids, rng.random(4).astype(np.float32) + 0.1)
        for a, b in zip(lazy.search(query, 3), ahead.search(query, 3)):
            assert np.array_equal(a, b)
