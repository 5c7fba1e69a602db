"""Both compiled kernels (pruning and scanning) return exactly the exhaustive top-k; quantised scores stay within their bound."""
import json

import numpy as np
import pytest
import scipy.sparse as sp
from hypothesis import given, settings, strategies as st

from tandem.index.errors import TandemError
from tandem.index.sparse import SparseIndex, SparseIndexConfig, SparseVector, top_k, write_sparse_index


STRATEGIES = ("prune", "scan", "auto")  # SparseIndex.strategy: the two exact kernels and the choice between them
LAYOUTS = ("packed", "aligned")  # SparseIndexConfig.layout: bit-packed or byte-aligned doc-id gaps


def exhaustive(index: SparseIndex, query: SparseVector, k: int):
    scores = index.scores(query)
    matched = np.flatnonzero(scores != 0)
    return top_k(matched, scores[matched], k)


def random_case(seed: int, num_docs: int, vocab: int, density: float, integer: bool):
    """A docs x vocab matrix (integer weights give many ties) and a query that may hit empty terms."""
    rng = np.random.default_rng(seed)
    used = max(1, vocab // 2)  # terms >= used have no postings
    def values(n):
        return rng.integers(1, 4, n).astype(np.float32) if integer else rng.random(n, dtype=np.float32) * 3 + 1e-3
    matrix = sp.random(num_docs, used, density=density, format="csr", random_state=rng, data_rvs=values)
    matrix = sp.hstack([matrix, sp.csr_matrix((num_docs, vocab - used), dtype=np.float32)]).tocsr()
    ids = np.unique(rng.integers(0, vocab, size=rng.integers(1, 12))).astype(np.int32)
    weights = values(ids.size)
    weights[rng.random(ids.size) < 0.1] = 0.0  # zero query weights contribute nothing
    return rng, matrix, SparseVector(ids, weights)


case = dict(
    num_docs=st.integers(1, 1500),
    vocab=st.integers(2, 40),
    density=st.floats(0.001, 0.5),
    integer=st.booleans(),
    window=st.sampled_from([64, 128, 4096]),
    layout=st.sampled_from(LAYOUTS),
    seed=st.integers(0, 2**31 - 1),
)


@settings(max_examples=60, deadline=None)
@given(**case)
def test_pruned_float32_equals_exhaustive(tmp_path_factory, num_docs, vocab, density, integer, window, layout, seed):
    rng, matrix, query = random_case(seed, num_docs, vocab, density, integer)
    directory = tmp_path_factory.mktemp("f32")
    write_sparse_index(directory, matrix, config=SparseIndexConfig(layout=layout))
    index = SparseIndex(directory)
    assert (index.doc_matrix() != matrix).nnz == 0  # doc ids and weights decode back exactly
    index.window = window
    scores = index.scores(query)
    qdense = np.zeros(vocab)
    qdense[query.ids] = query.weights
    np.testing.assert_allclose(scores, matrix.astype(np.float64) @ qdense, rtol=1e-12, atol=0)
    matched = int((scores != 0).sum())
    # a second query on the same index: the per-term starting thresholds cached for the first are reused
    other_ids = np.unique(rng.integers(0, vocab, size=6)).astype(np.int32)
    other = SparseVector(other_ids, np.ones(other_ids.size, np.float32))
    for k in (1, 3, 10, int(rng.integers(1, num_docs + 1)), matched + 5):
        for q in (query, other):
            want_idx, want_scores = exhaustive(index, q, k)
            for index.strategy in STRATEGIES:
                got_idx, got_scores = index.search(q, k)
                np.testing.assert_array_equal(got_idx, want_idx)
                np.testing.assert_array_equal(got_scores, want_scores)
        assert index.search(query, k)[0].size == min(k, matched)


@settings(max_examples=40, deadline=None)
@given(weights=st.sampled_from(["uint8", "uint16"]), **case)
def test_quantised_ranking_exact_and_scores_within_bound(tmp_path_factory, weights, num_docs, vocab, density, integer, window, layout, seed):
    rng, matrix, query = random_case(seed, num_docs, vocab, density, integer)
    float_dir, quant_dir = tmp_path_factory.mktemp("f32"), tmp_path_factory.mktemp(weights)
    write_sparse_index(float_dir, matrix)
    summary = write_sparse_index(quant_dir, matrix, config=SparseIndexConfig(weights=weights, layout=layout))
    exact, quant = SparseIndex(float_dir), SparseIndex(quant_dir)
    quant.window = window
    levels = {"uint8": 255, "uint16": 65535}[weights]
    # Stated bound: each stored weight within `scale` of the original, so a score within scale * sum|q|.
    assert summary["scale"] == pytest.approx(matrix.max() / levels if matrix.nnz else 1.0)
    assert summary["max_weight_error"] <= summary["scale"]
    bound = summary["max_weight_error"] * np.abs(query.weights.astype(np.float64)).sum()
    diff = np.abs(quant.scores(query) - exact.scores(query))
    assert diff.max(initial=0.0) <= bound * (1 + 1e-9) + 1e-12
    for k in (1, 10, int(rng.integers(1, num_docs + 1)), num_docs + 5):
        want_idx, want_scores = exhaustive(quant, query, k)
        for quant.strategy in STRATEGIES:
            got_idx, got_scores = quant.search(query, k)
            np.testing.assert_array_equal(got_idx, want_idx)
            np.testing.assert_array_equal(got_scores, want_scores)


def test_config_saved_and_forward_optional(tmp_path):
    rng = np.random.default_rng(3)
    matrix = sp.random(300, 50, density=0.1, format="csr", random_state=rng, dtype=np.float32)
    lean, full = tmp_path / "lean", tmp_path / "full"
    write_sparse_index(lean, matrix, config=SparseIndexConfig(weights="uint16"))
    write_sparse_index(full, matrix, config=SparseIndexConfig(weights="uint16", forward=True))
    saved = json.loads((lean / "sparse_config.json").read_text())
    assert saved["config"] == {"weights": "uint16", "forward": False, "layout": "packed"}
    assert not (lean / "forward_terms.npy").exists() and (full / "forward_terms.npy").exists()
    a, b = SparseIndex(lean), SparseIndex(full)
    assert a.info.config.weights == "uint16"  # opened without being told
    assert (a.doc_matrix() != b.doc_matrix()).nnz == 0
    assert abs(a.doc_matrix() - matrix).max() <= a.info.max_weight_error + 1e-7  # + float32 rounding of the dequantised weight
    for i in (0, 17, 299):
        va, vb = a.doc_vector(i), b.doc_vector(i)
        assert va.ids.tolist() == vb.ids.tolist() == matrix[i].indices.tolist()
        np.testing.assert_array_equal(va.weights, vb.weights)


@pytest.mark.parametrize("layout", LAYOUTS)
def test_wide_gaps_and_long_lists(tmp_path, layout):
    """Doc gaps of 1, 2 and 4 bytes (aligned) or 0 to 18 bits (packed), multi-block posting lists, several windows."""
    num_docs = 200_000
    rows = np.concatenate([np.arange(0, num_docs, 3), [5, 70_000, 199_999], np.arange(1000, 1300), np.arange(num_docs)])
    cols = np.concatenate([np.zeros(len(range(0, num_docs, 3)), int), [1, 1, 1], np.full(300, 2), np.full(num_docs, 3)])
    vals = np.random.default_rng(0).integers(1, 50, rows.size).astype(np.float32)
    matrix = sp.csr_matrix((vals, (rows, cols)), shape=(num_docs, 5))
    write_sparse_index(tmp_path, matrix, config=SparseIndexConfig(layout=layout))
    index = SparseIndex(tmp_path)
    assert index.postings.packed == (layout == "packed")
    if layout == "aligned":  # term 0: gaps of 3 (1 byte); term 2: first gap 1000 (2 bytes); term 1: gap 69,995 (4 bytes)
        assert set(np.asarray(index.postings.shift).tolist()) == {0, 1, 2}
    else:  # bits of gap - 1: term 3 (every doc) 0, term 0: 2; term 2's first block starts at doc 1000 (10 bits); term 1: 69,994 (17 bits)
        assert set(np.asarray(index.postings.shift).tolist()) == {0, 2, 10, 17}
    assert (index.doc_matrix() != matrix).nnz == 0
    assert index.doc_vector(70_000).ids.tolist() == [1, 3]
    query = SparseVector(np.array([0, 1, 2, 3, 4], np.int32), np.array([0.5, 3.0, 1.0, 0.25, 2.0], np.float32))
    for k in (1, 10, 1000, num_docs):
        want = exhaustive(index, query, k)
        for index.strategy in STRATEGIES:
            got = index.search(query, k)
            np.testing.assert_array_equal(got[0], want[0])
            np.testing.assert_array_equal(got[1], want[1])


def test_negative_weights_fall_back_to_exact_scan(tmp_path):
    matrix = sp.csr_matrix(np.array([[1.0, -2.0], [0.5, 0.0], [0.0, 1.0]], dtype=np.float32))
    write_sparse_index(tmp_path, matrix)
    index = SparseIndex(tmp_path)
    idx, scores = index.search(SparseVector(np.array([0, 1], np.int32), np.array([2.0, -1.0], np.float32)), 3)
    assert idx.tolist() == [0, 1, 2] and scores.tolist() == [4.0, 1.0, -1.0]


def test_quantised_rejects_negative_weights_and_writes_nothing(tmp_path):
    matrix = sp.csr_matrix(np.array([[1.0, -2.0]], dtype=np.float32))
    with pytest.raises(TandemError, match="non-negative"):
        write_sparse_index(tmp_path / "q", matrix, config=SparseIndexConfig(weights="uint8"))
    assert not (tmp_path / "q").exists()


def test_query_term_outside_vocabulary(tmp_path):
    write_sparse_index(tmp_path, sp.csr_matrix(np.ones((2, 3), dtype=np.float32)))
    with pytest.raises(TandemError, match="term id 7"):
        SparseIndex(tmp_path).search(SparseVector(np.array([7], np.int32), np.array([1.0], np.float32)), 5)


def test_format_1_directory_still_opens(tmp_path):
    """An index written before sparse_config.json (int32 doc ids, float32 weights, forward copy)."""
    matrix = sp.csr_matrix(np.array([[0, 1.5, 0, 2.0], [0.5, 0, 0, 0], [0, 3.0, 0, 0]], dtype=np.float32))
    csc = matrix.tocsc()
    np.save(tmp_path / "postings_offsets.npy", csc.indptr.astype(np.int64))
    np.save(tmp_path / "postings_docs.npy", csc.indices.astype(np.int32))
    np.save(tmp_path / "postings_weights.npy", csc.data)
    np.save(tmp_path / "forward_indptr.npy", matrix.indptr.astype(np.int64))
    np.save(tmp_path / "forward_terms.npy", matrix.indices.astype(np.int32))
    np.save(tmp_path / "forward_weights.npy", matrix.data)
    index = SparseIndex(tmp_path)
    assert index.num_docs == 3 and index.info.format_version == 1
    idx, scores = index.search(SparseVector(np.array([1, 3], np.int32), np.array([1.0, 1.0], np.float32)), 5)
    assert idx.tolist() == [0, 2] and scores.tolist() == [3.5, 3.0]
    assert (index.doc_matrix() != matrix).nnz == 0


def test_packed_layout_equals_aligned_and_is_smaller(tmp_path):
    """Same matrix in both layouts: identical decoded rows and rankings, fewer gap bytes packed."""
    rng = np.random.default_rng(11)
    matrix = sp.random(5000, 300, density=0.05, format="csr", random_state=rng, dtype=np.float32)
    sizes = {}
    for layout in LAYOUTS:
        sizes[layout] = write_sparse_index(tmp_path / layout, matrix, config=SparseIndexConfig(weights="uint8", layout=layout))["posting_file_bytes"]
    packed, aligned = SparseIndex(tmp_path / "packed"), SparseIndex(tmp_path / "aligned")
    assert packed.info.config.layout == "packed" and aligned.info.config.layout == "aligned"
    assert (tmp_path / "packed" / "block_bits.npy").exists() and not (tmp_path / "packed" / "block_shift.npy").exists()
    assert sizes["packed"]["gaps"] < sizes["aligned"]["gaps"]
    assert (packed.doc_matrix() != aligned.doc_matrix()).nnz == 0
    for doc in (0, 1234, 4999):
        np.testing.assert_array_equal(packed.doc_vector(doc).ids, aligned.doc_vector(doc).ids)
        np.testing.assert_array_equal(packed.doc_vector(doc).weights, aligned.doc_vector(doc).weights)
    query = SparseVector(np.arange(0, 300, 7, dtype=np.int32), rng.random(43).astype(np.float32))
    for k in (1, 10, 1000):
        for packed.strategy in STRATEGIES:
            got, want = packed.search(query, k), aligned.search(query, k)
            np.testing.assert_array_equal(got[0], want[0])
            np.testing.assert_array_equal(got[1], want[1])


def test_config_recorded_before_layouts_reads_as_aligned(tmp_path):
    """A sparse_config.json without ``layout`` (written before it existed) is read as the aligned layout."""
    matrix = sp.csr_matrix(np.array([[0, 1.5, 0, 2.0], [0.5, 0, 0, 0], [0, 3.0, 0, 0]], dtype=np.float32))
    write_sparse_index(tmp_path, matrix, config=SparseIndexConfig(layout="aligned"))
    path = tmp_path / "sparse_config.json"
    saved = json.loads(path.read_text())
    del saved["config"]["layout"]
    path.write_text(json.dumps(saved))
    index = SparseIndex(tmp_path)
    assert index.info.config.layout == "aligned" and not index.postings.packed
    idx, scores = index.search(SparseVector(np.array([1, 3], np.int32), np.array([1.0, 1.0], np.float32)), 5)
    assert idx.tolist() == [0, 2] and scores.tolist() == [3.5, 3.0]
    assert (index.doc_matrix() != matrix).nnz == 0


def test_rewriting_a_directory_in_the_other_layout_removes_the_old_files(tmp_path):
    matrix = sp.csr_matrix(np.array([[0, 1.5], [0.5, 0]], dtype=np.float32))
    write_sparse_index(tmp_path, matrix, config=SparseIndexConfig(layout="aligned"))
    assert (tmp_path / "block_shift.npy").exists()
    write_sparse_index(tmp_path, matrix, config=SparseIndexConfig(layout="packed"))
    assert not (tmp_path / "block_shift.npy").exists() and (tmp_path / "block_bits.npy").exists()
    assert (SparseIndex(tmp_path).doc_matrix() != matrix).nnz == 0


@pytest.mark.parametrize("weights", ["float32", "uint8"])
def test_pruning_skips_windows_and_keeps_ties_at_the_starting_threshold(tmp_path, weights):
    """Term 0 has one weight everywhere (so its k-th largest weight, the starting threshold, equals
    the k-th score and every document ties); term 1 is heavy only in the first 200 documents, so
    every later window's bounds fall below the k-th score and it is skipped undecoded."""
    num_docs, k = 20_000, 7
    rows = np.concatenate([np.arange(num_docs), np.arange(0, 200, 3)])
    cols = np.concatenate([np.zeros(num_docs, int), np.ones(len(range(0, 200, 3)), int)])
    vals = np.concatenate([np.full(num_docs, 2.0), np.full(len(range(0, 200, 3)), 5.0)]).astype(np.float32)
    matrix = sp.csr_matrix((vals, (rows, cols)), shape=(num_docs, 3))
    write_sparse_index(tmp_path, matrix, config=SparseIndexConfig(weights=weights))
    index = SparseIndex(tmp_path)
    index.window, index.strategy = 256, "prune"
    tie_only = SparseVector(np.array([0], np.int32), np.array([1.5], np.float32))
    got_idx, got_scores = index.search(tie_only, k)
    assert got_idx.tolist() == list(range(k))  # all tie: the smallest doc ids win
    np.testing.assert_array_equal(got_scores, exhaustive(index, tie_only, k)[1])
    index.counters[:] = 0
    query = SparseVector(np.array([0, 1], np.int32), np.array([1.0, 1.0], np.float32))
    got_idx, got_scores = index.search(query, k)
    want_idx, want_scores = exhaustive(index, query, k)
    np.testing.assert_array_equal(got_idx, want_idx)
    np.testing.assert_array_equal(got_scores, want_scores)
    assert got_idx.tolist() == list(range(0, 3 * k, 3))
    windows = -(-num_docs // 256)
    assert index.counters[0] == windows - 1  # every window after the first skipped


def test_auto_prunes_only_large_collections_and_negative_weights_always_scan(tmp_path):
    from tandem.index.sparse_kernel import PRUNE_DOCS_PER_K

    rng = np.random.default_rng(5)
    num_docs = 2 * PRUNE_DOCS_PER_K
    matrix = sp.random(num_docs, 30, density=0.05, format="csr", random_state=rng, dtype=np.float32)
    write_sparse_index(tmp_path / "pos", matrix)
    index = SparseIndex(tmp_path / "pos")
    assert index.strategy == "auto"
    query = SparseVector(np.arange(0, 30, 4, dtype=np.int32), rng.random(8).astype(np.float32) + 0.1)
    small_k = num_docs // PRUNE_DOCS_PER_K
    for k, pruned in ((small_k, True), (small_k + 1, False)):
        index.counters[:] = 0
        got = index.search(query, k)
        want = exhaustive(index, query, k)
        np.testing.assert_array_equal(got[0], want[0])
        np.testing.assert_array_equal(got[1], want[1])
        assert (index.counters[1] > 0) == pruned  # candidates were probed only by the pruning kernel
    negative = matrix.copy()
    negative.data[::3] *= -1
    write_sparse_index(tmp_path / "neg", negative)
    signed = SparseIndex(tmp_path / "neg")
    signed.strategy = "prune"
    for k in (1, 10, num_docs):
        got = signed.search(query, k)
        want = exhaustive(signed, query, k)
        np.testing.assert_array_equal(got[0], want[0])
        np.testing.assert_array_equal(got[1], want[1])
    assert signed.counters.sum() == 0  # no upper bounds: scanned


def test_window_must_be_a_multiple_of_64(tmp_path):
    write_sparse_index(tmp_path, sp.csr_matrix(np.ones((200, 3), dtype=np.float32)))
    index = SparseIndex(tmp_path)
    index.window, index.strategy = 100, "prune"
    with pytest.raises(TandemError, match="multiple of 64"):
        index.search(SparseVector(np.array([1], np.int32), np.array([1.0], np.float32)), 5)


@settings(max_examples=25, deadline=None)
@given(factor=st.sampled_from([0.3, 0.6, 0.9]), **case)
def test_approximate_bound_factor_returns_exact_scores_of_real_matches(tmp_path_factory, factor, num_docs, vocab, density, integer, window, layout, seed):
    """bound_factor < 1 may miss documents, but what it returns is ranked correctly with exact scores."""
    rng, matrix, query = random_case(seed, num_docs, vocab, density, integer)
    directory = tmp_path_factory.mktemp("approx")
    write_sparse_index(directory, matrix, config=SparseIndexConfig(layout=layout))
    index = SparseIndex(directory)
    index.window, index.bound_factor = window, factor
    scores = index.scores(query)
    for k in (1, 10, num_docs + 5):
        got_idx, got_scores = index.search(query, k)
        assert got_idx.size <= min(k, int((scores != 0).sum()))
        np.testing.assert_array_equal(got_scores, scores[got_idx])
        assert (got_scores > 0).all()
        assert all((got_scores[i], -got_idx[i]) > (got_scores[i + 1], -got_idx[i + 1]) for i in range(got_idx.size - 1))


def test_bound_factor_outside_0_1_refused(tmp_path):
    write_sparse_index(tmp_path, sp.csr_matrix(np.ones((200, 3), dtype=np.float32)))
    index = SparseIndex(tmp_path)
    with pytest.raises(TandemError, match="bound_factor"):
        index.bound_factor = 1.5
    assert index.bound_factor == 1.0  # refused values are not kept


@pytest.mark.parametrize("weights", ["float32", "uint8"])
def test_kth_largest_weight_of_every_term_equals_a_full_sort(tmp_path, weights):
    """The pruning kernel's starting threshold reads each term's k-th largest weight from the blocks
    whose maximum can hold it; it must equal the k-th value of the term's sorted weights."""
    from tandem.index.sparse_kernel import BLOCK, _kth_largest_weight

    rng = np.random.default_rng(11)
    num_docs, vocab = 3 * BLOCK * 20, 12
    density = np.linspace(0.002, 0.9, vocab)  # from a few postings to many blocks per term
    columns = [sp.random(num_docs, 1, density=d, format="csc", random_state=rng, dtype=np.float32) for d in density]
    matrix = sp.hstack(columns).tocsr()
    matrix.data = np.round(matrix.data * 8) / 8 + 0.125  # repeated values: ties across blocks
    write_sparse_index(tmp_path, matrix, config=SparseIndexConfig(weights=weights))
    index = SparseIndex(tmp_path)
    stored = np.asarray(index.postings.weights).astype(np.float64)
    offsets = np.asarray(index.postings.offsets)
    for t in range(vocab):
        column = np.sort(stored[offsets[t]:offsets[t + 1]])
        for k in (1, 2, 10, 129, 1000, column.size, column.size + 1):
            want = column[-k] if column.size >= k else 0.0
            assert _kth_largest_weight(index.postings, t, k) == want, (t, k)


def test_a_merge_of_uint8_segments_records_an_error_bound_against_the_encoders_weights(tmp_path):
    from tandem.index.manifest import ComponentInfo
    from tandem.retrieval.backends.native_sparse import NativeSparseBackend

    rng = np.random.default_rng(8)
    halves = [sp.random(200, 40, density=0.2, format="csr", random_state=rng, dtype=np.float32) * top for top in (1.0, 3.7)]  # other scales
    config = SparseIndexConfig(weights="uint8")
    for i, half in enumerate(halves):
        write_sparse_index(tmp_path / f"part{i}", half, config=config)
    component = ComponentInfo(name="sparse", backend="native-sparse", settings={"index": config.model_dump()})
    rows = np.arange(200)
    summary = NativeSparseBackend().merge_segments([(tmp_path / "part0", rows), (tmp_path / "part1", rows)], tmp_path / "merged", component)
    merged = SparseIndex(tmp_path / "merged")
    error = abs(merged.doc_matrix() - sp.vstack(halves).tocsr()).max()
    rounding_once = merged.info.scale / 2
    assert error > rounding_once  # rounded twice: the first part's grid, then the merged one
    assert error <= merged.info.max_weight_error + 1e-6 and summary["max_weight_error"] == merged.info.max_weight_error


@pytest.mark.parametrize("weights", ["uint16", "float32"])
def test_warming_the_kernels_compiles_what_a_real_index_of_that_weight_type_searches_with(tmp_path, weights):
    from tandem.index import sparse_kernel as kernel
    from tandem.index.sparse import warm_search_kernels

    assert warm_search_kernels(weights) >= 0
    compiled = (set(kernel.search_top_k.signatures), set(kernel.scan_top_k.signatures))
    rng = np.random.default_rng(5)
    write_sparse_index(tmp_path, sp.random(3000, 200, density=0.05, format="csr", random_state=rng, dtype=np.float32), config=SparseIndexConfig(weights=weights))
    index = SparseIndex(tmp_path)  # memory-mapped, as searches open it
    query = SparseVector(np.array([3, 50, 120], np.int32), np.array([0.5, 1.0, 2.0], np.float32))
    for strategy in ("prune", "scan"):
        index.strategy = strategy
        assert len(index.search(query, 10)[0]) == 10
    assert (set(kernel.search_top_k.signatures), set(kernel.scan_top_k.signatures)) == compiled  # nothing new to compile


def test_preparing_a_search_says_so_only_when_it_takes_a_while(monkeypatch):
    import io
    import time

    from tandem.index.manifest import ComponentInfo
    from tandem.retrieval import warmup
    from tandem.index.sparse import warm_search_kernels
    from tandem.retrieval.backends.native_sparse import NativeSparseBackend

    component = ComponentInfo(name="sparse", backend="native-sparse", settings={"index": SparseIndexConfig(weights="uint8").model_dump()})
    warm_search_kernels("uint8")  # compiled (or loaded) in this process: preparing again is quick
    quick = io.StringIO()
    assert warmup.prepare_search([component], quick) >= 0 and quick.getvalue() == ""  # cached: silent
    monkeypatch.setattr(warmup, "NOTICE_AFTER_SECONDS", 0.05)
    monkeypatch.setattr(NativeSparseBackend, "prepare_search", lambda self, c: time.sleep(0.3) or 0.3)
    slow = io.StringIO()
    warmup.prepare_search([component], slow)
    lines = slow.getvalue().splitlines()
    assert lines == ["compiling the search kernels of 'sparse' (first use on this machine, ~30 s; cached afterwards)...",
                     "search kernels of 'sparse' ready in 0.3 s"]


def test_a_preparation_that_fails_is_a_note_not_an_error(monkeypatch):
    import io

    from tandem.index.manifest import ComponentInfo
    from tandem.retrieval import warmup
    from tandem.retrieval.backends.native_sparse import NativeSparseBackend

    def no_temporary_folder(self, component):
        raise OSError("[Errno 30] Read-only file system: '/tmp/tandem-warm-x'")

    monkeypatch.setattr(NativeSparseBackend, "prepare_search", no_temporary_folder)
    out = io.StringIO()
    component = ComponentInfo(name="sparse", backend="native-sparse", settings={"index": SparseIndexConfig().model_dump()})
    assert warmup.prepare_search([component], out) == 0.0
    assert out.getvalue() == ("note: the search kernels of 'sparse' were not prepared ahead ([Errno 30] Read-only file system: "
                              "'/tmp/tandem-warm-x'); the first search compiles them\n")
