"""The ``seismic`` sparse backend (issue 11 §2): approximate search through pyseismic-lsr behind the
Retriever interface.

Fast tests use random sparse matrices and the backend's segment writer directly (no model), and the
tiny corpus for the index operations (build, add, delete, compact, settings); one slow test measures
recall@10 against the native exact engine on real SPLADE vectors of scifact documents.
"""
from __future__ import annotations

import json

import numpy as np
import pytest
import scipy.sparse as sp

pytest.importorskip("seismic", reason="pyseismic-lsr is not installed (pip install 'tandem-retrieval[seismic]')")

from tandem.index.errors import IndexFormatError, TandemError  # noqa: E402
from tandem.index.sparse import SparseVector  # noqa: E402
from tandem.retrieval.backends.seismic_sparse import (  # noqa: E402
    INDEX_FILE, ROWS_FILE, SearchParameters, SeismicConfig, SeismicSegment, write_seismic_segment)

from sparse_engine_helpers import (  # noqa: E402
    VOCAB, add_delete_compact, build_tiny_index, modules_after_importing_tandem, random_docs, random_queries)

# Seismic scores on float16 copies of the document weights (relative error <= 2**-11 per weight).
FLOAT16_RELATIVE = 2.0 ** -10


def exact_top(matrix: sp.csr_matrix, vector: SparseVector, k: int) -> tuple[np.ndarray, np.ndarray]:
    scores = matrix[:, vector.ids] @ vector.weights
    order = np.argsort(-scores, kind="stable")[:k]
    order = order[scores[order] > 0]
    return order, scores[order]


# -- the segment files, without a model ---------------------------------------------------------
def test_rows_and_vectors_round_trip_with_empty_rows(tmp_path, capfd):
    """Rows without terms are not in Seismic; every other row's stored vector is its input in float16."""
    matrix = random_docs(300, empty_rows=(0, 7, 299))
    stats = write_seismic_segment(tmp_path / "seg", matrix, SeismicConfig())
    out, err = capfd.readouterr()
    assert "Building" not in out and "Building" in err  # Seismic's progress lines go to stderr, never to stdout
    assert stats["num_docs"] == 300 and stats["indexed_docs"] == 297 and stats["num_postings"] == matrix.nnz
    segment = SeismicSegment(tmp_path / "seg", 300).load()
    assert segment.rows.tolist() == [r for r in range(300) if r not in (0, 7, 299)]
    for row in (0, 1, 7, 150, 298, 299):
        vector = segment.vector(row)
        expected = matrix[row]
        assert vector.ids.tolist() == expected.indices.tolist()
        assert np.array_equal(vector.weights, expected.data.astype(np.float16).astype(np.float32))
    rebuilt = segment.doc_matrix(np.array([299, 5, 7]), VOCAB)
    assert rebuilt.shape == (3, VOCAB) and rebuilt[0].nnz == 0 and rebuilt[2].nnz == 0
    assert rebuilt[1].indices.tolist() == matrix[5].indices.tolist()


def test_without_skipping_results_are_the_exact_top_k(tmp_path):
    """With every query term scanned, no block skipped and no posting pruned, Seismic must return the
    brute-force top-10 (scores to float16 precision): this checks the row numbering end to end."""
    matrix = random_docs(2000, seed=3, empty_rows=(4, 5))
    write_seismic_segment(tmp_path / "seg", matrix, SeismicConfig(n_postings=100_000, max_fraction=1.0))
    segment = SeismicSegment(tmp_path / "seg", 2000).load()
    params = SearchParameters(query_cut=VOCAB, heap_factor=1e-6)
    for vector in random_queries(50):
        rows, scores = segment.search(vector, 10, params)
        expected_rows, expected_scores = exact_top(matrix, vector, 10)
        np.testing.assert_allclose(scores, expected_scores, rtol=FLOAT16_RELATIVE * 4)
        # rows equal except where two exact scores are closer than float16 rounding can tell apart
        gaps = np.abs(np.subtract.outer(expected_scores, expected_scores)) + np.eye(expected_scores.size) * 1e9
        close = gaps.min(axis=1) <= expected_scores * FLOAT16_RELATIVE * 4
        assert [r for r, c in zip(expected_rows, close) if not c] == [r for r, c in zip(rows, close) if not c]


def test_a_batch_gives_each_query_what_it_gets_alone(tmp_path):
    """``search_many`` (Seismic's parallel batch_search, whose results come back in no set order) returns, query
    for query, the rows and scores of ``search``: for queries with results, one with no terms, one whose terms no
    document has, and at k=0."""
    matrix = random_docs(2000, seed=5)
    write_seismic_segment(tmp_path / "seg", matrix, SeismicConfig())
    segment = SeismicSegment(tmp_path / "seg", 2000).load()
    unused = np.setdiff1d(np.arange(VOCAB), segment.terms)[:2].astype(np.int32)
    queries = random_queries(60, seed=9)
    queries[3] = SparseVector(np.zeros(0, np.int32), np.zeros(0, np.float32))
    queries[7] = SparseVector(unused, np.ones(unused.size, np.float32))
    params = SearchParameters(5, 0.8)
    for k in (10, 0):
        batch = segment.search_many(queries, k, params)
        alone = [segment.search(q, k, params) for q in queries]
        assert len(batch) == len(queries)
        for (rows, scores), (rows1, scores1) in zip(batch, alone):
            assert rows.tolist() == rows1.tolist() and scores.tolist() == scores1.tolist()
        assert batch[3][0].size == 0 and batch[7][0].size == 0
    assert sum(rows.size for rows, _ in segment.search_many(queries, 10, params)) > 50 * 5


def test_small_segments_stay_small_in_a_large_vocabulary(tmp_path):
    """Seismic keeps ~230 bytes per dimension; numbering only the segment's own terms keeps an added
    batch of 20 documents far below the 7 MB a 30,522-dimension index costs (measured)."""
    rng = np.random.default_rng(5)
    ids = np.sort(rng.choice(30_522, size=(20, 15), replace=True), axis=1)
    matrix = sp.csr_matrix((np.ones(ids.size, np.float32), (np.repeat(np.arange(20), 15), ids.ravel())), shape=(20, 30_522))
    write_seismic_segment(tmp_path / "seg", matrix, SeismicConfig())
    assert (tmp_path / "seg" / INDEX_FILE).stat().st_size < 500_000
    segment = SeismicSegment(tmp_path / "seg", 20).load()
    assert segment.vector(3).ids.tolist() == sorted(set(ids[3].tolist()))
    query = SparseVector(np.array([int(ids[3, 0]), 30_521], np.int32), np.ones(2, np.float32))
    rows, _ = segment.search(query, 5, SearchParameters(10, 0.9))
    assert 3 in rows.tolist()


def test_segment_with_no_terms_searches_to_nothing(tmp_path):
    matrix = sp.csr_matrix((3, VOCAB), dtype=np.float32)
    stats = write_seismic_segment(tmp_path / "seg", matrix, SeismicConfig())
    assert stats["indexed_docs"] == 0 and not (tmp_path / "seg" / INDEX_FILE).exists()
    segment = SeismicSegment(tmp_path / "seg", 3).load()
    vector = random_queries(1)[0]
    rows, _ = segment.search(vector, 10, SearchParameters(10, 0.9))
    assert rows.size == 0
    assert segment.vector(1).nnz == 0


def test_damaged_files_are_refused_naming_the_file(tmp_path):
    write_seismic_segment(tmp_path / "seg", random_docs(50), SeismicConfig())
    with pytest.raises(IndexFormatError, match="row map names row 49") as info:
        SeismicSegment(tmp_path / "seg", 10)
    assert ROWS_FILE in info.value.where
    (tmp_path / "seg" / INDEX_FILE).write_bytes(b"not a seismic index")
    with pytest.raises(IndexFormatError, match="Seismic index unreadable") as info:
        SeismicSegment(tmp_path / "seg", 50).load()
    assert INDEX_FILE in info.value.where
    (tmp_path / "seg" / INDEX_FILE).unlink()
    with pytest.raises(IndexFormatError, match="Seismic index file missing"):
        SeismicSegment(tmp_path / "seg", 50)


def test_importing_retrieval_does_not_import_seismic():
    assert "seismic" not in modules_after_importing_tandem()


# -- an index through the writer, the searcher and the CLI ---------------------------------------
TUNED = SeismicConfig(n_postings=500, summary_energy=0.5, query_cut=7, heap_factor=0.8)


@pytest.fixture(scope="module")
def seismic_index(tmp_path_factory):
    """Inference-free tiny corpus in a seismic index with non-default settings."""
    return build_tiny_index(tmp_path_factory.mktemp("seismic"), sparse_backend="seismic", seismic=TUNED)


@pytest.mark.slow
def test_settings_round_trip_and_search_parameters(seismic_index):
    from tandem.index.manifest import read_manifest
    from tandem.retrieval.backends import backend
    from tandem.retrieval.searcher import Searcher

    manifest = read_manifest(seismic_index)
    component = manifest.component("sparse")
    assert component.backend == "seismic"
    assert SeismicConfig(**component.settings["seismic"]) == TUNED
    assert "n_postings 500" in backend("seismic").describe(component, manifest.segments)
    with Searcher.open(seismic_index) as searcher:
        retriever = searcher.retriever("sparse")
        assert retriever.search_parameters == {"query_cut": 7, "heap_factor": 0.8}
        timings = {}
        retriever.search(["vitamin bone density"], 3, timings=timings)
        assert (timings["sparse_query_cut"], timings["sparse_heap_factor"]) == (7.0, 0.8)
        retriever.configure(heap_factor=0.95)
        assert retriever.search_parameters == {"query_cut": 7, "heap_factor": 0.95}
        with pytest.raises(TypeError):
            retriever.configure(k1=0.9)
        from tandem.retrieval.search_params import apply_parameters, search_parameters

        assert search_parameters(retriever) == {"query_cut": int, "heap_factor": float}
        with pytest.raises(TandemError, match="takes heap_factor, query_cut, not 'k1'"):
            apply_parameters(searcher, {"sparse": {"k1": "0.9"}})
        assert apply_parameters(searcher, {"sparse": {"query_cut": "9"}}) == {"sparse": {"query_cut": 9}}
        assert retriever.search_parameters == {"query_cut": 9, "heap_factor": 0.95}
        retriever.configure(query_cut=7)
        with pytest.raises(TandemError, match="query_cut"):
            retriever.configure(query_cut=0)
        assert retriever.search_parameters == {"query_cut": 7, "heap_factor": 0.95}


@pytest.mark.slow
def test_search_explain_and_cli_info(seismic_index, capsys):
    from tandem.retrieval.searcher import Searcher
    from tandem.cli import main

    with Searcher.open(seismic_index) as searcher:
        result = searcher.search("vitamin bone density", k=3, mode="sparse")
        assert result.hits[0].doc_id == "d3"
        terms = searcher.explain("vitamin bone density", "d3", mode="sparse")
        assert {t.token for t in terms} >= {"vitamin", "bone"}
        assert abs(sum(t.contribution for t in terms) - result.hits[0].score) <= 1e-3 * result.hits[0].score
    assert main(["index", "info", "--verify", str(seismic_index)]) == 0
    assert "Seismic approximate (n_postings 500" in capsys.readouterr().out
    assert main(["search", "--index", str(seismic_index), "--json", "--param", "sparse.heap_factor=0.7", "vitamin bone density"]) == 0
    response = json.loads(capsys.readouterr().out)  # Seismic's own output must not reach stdout
    assert response["hits"][0]["doc_id"] == "d3"
    assert response["timings_ms"]["sparse_heap_factor"] == 0.7 and response["timings_ms"]["sparse_query_cut"] == 7


@pytest.mark.slow
def test_batch_search_on_several_threads_equals_one_query_at_a_time(seismic_index):
    """A batch allowed several threads goes through Seismic's batch_search; one limited to a thread (the
    service's requests) searches query by query: both rank every query as searching it alone does."""
    from tandem.index.threads import search_threads, set_search_threads
    from tandem.retrieval.searcher import Searcher

    queries = ["vitamin bone density", "tower in paris", "zzzz", "the cells and the plants", "python language", "oxygen"]
    before = search_threads()
    try:
        with Searcher.open(seismic_index) as searcher:
            retriever = searcher.retriever("sparse")
            alone = [retriever.search([q], 5)[0] for q in queries]
            for threads in (2, 1):
                set_search_threads(threads)
                assert retriever.search(queries, 5) == alone
            assert sum(len(r) for r in alone) >= 8 and not alone[2]
    finally:
        set_search_threads(before)


@pytest.mark.slow
def test_deleted_documents_are_never_returned_and_compaction_keeps_the_rest(seismic_index, tmp_path):
    live = add_delete_compact(seismic_index, tmp_path)
    hits = [d for d, _ in live.before]
    assert live.segments_before == 2 and "d7" in hits and "d3" not in hits
    assert live.segments_after == 1
    assert sorted(d for d, _ in live.after) == sorted(hits)
    assert live.deleted_vector_after is None
    assert live.parameters_after == {"query_cut": 7, "heap_factor": 0.8}


# -- recall against the native exact engine on real SPLADE vectors --------------------------------
SCIFACT_DOCS = 1000
# Measured here (first 1,000 / 2,000 scifact docs, all 1,109 queries, query_cut 10): recall@10 0.9904 /
# 0.9932 with summary_energy 0.8 at heap_factor 0.5-0.9, 0.981 / 0.981 with Seismic's own defaults
# (summary_energy 0.4, heap_factor 0.9). The bound sits between the two: it fails if the defaults
# lose what summary_energy 0.8 buys, and leaves ~1 point for Seismic's random clustering elsewhere.
MIN_RECALL_AT_10 = 0.985


@pytest.mark.slow
def test_recall_against_native_exact_on_scifact(encoded_scifact, data_dir, tmp_path):
    from scifact_encoded import idf_queries, recall_at_10

    matrix = encoded_scifact.matrix[:SCIFACT_DOCS]
    queries = idf_queries(encoded_scifact, SCIFACT_DOCS, data_dir / "beir/scifact/queries.jsonl")
    write_seismic_segment(tmp_path / "seismic", matrix, SeismicConfig())
    segment = SeismicSegment(tmp_path / "seismic", SCIFACT_DOCS).load()
    defaults = SeismicConfig()
    params = SearchParameters(defaults.query_cut, defaults.heap_factor)
    recall = recall_at_10(matrix, queries, lambda vector: segment.search(vector, 10, params)[0], tmp_path / "native")
    print(f"scifact {SCIFACT_DOCS} docs, {len(queries)} queries: recall@10 {recall:.4f}")
    assert recall >= MIN_RECALL_AT_10
