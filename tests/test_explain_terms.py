"""An explanation reads a document's weights for the query's terms straight from the postings (no forward
copy): ``SparseIndex.doc_terms`` equals the full derived row restricted to those terms, in every layout
and precision, and ``explain`` of the default (uint8, no forward copy) index gives the scores' terms."""
import numpy as np
import pytest
import scipy.sparse as sp
from hypothesis import given, settings, strategies as st

from tandem.index.sparse import SparseIndex, SparseIndexConfig, write_sparse_index


@settings(max_examples=40, deadline=None)
@given(
    num_docs=st.integers(1, 700),
    vocab=st.integers(1, 60),
    density=st.floats(0.005, 0.6),
    layout=st.sampled_from(["packed", "aligned"]),
    weights=st.sampled_from(["float32", "uint16", "uint8"]),
    forward=st.booleans(),
    seed=st.integers(0, 2**31 - 1),
)
def test_doc_terms_equals_the_document_row_restricted_to_the_terms(tmp_path_factory, num_docs, vocab, density, layout, weights, forward, seed):
    rng = np.random.default_rng(seed)
    matrix = sp.random(num_docs, vocab, density=density, format="csr", random_state=rng,
                       data_rvs=lambda n: rng.random(n, dtype=np.float32) * 3 + 1e-3)
    directory = tmp_path_factory.mktemp("terms")
    write_sparse_index(directory, matrix, config=SparseIndexConfig(layout=layout, weights=weights, forward=forward))
    index = SparseIndex(directory)
    for doc in rng.choice(num_docs, size=min(num_docs, 8), replace=False):
        full = index.doc_vector(int(doc))
        terms = rng.integers(-2, vocab + 2, size=rng.integers(0, 2 * vocab + 1))  # out-of-range and repeated ids too
        got = index.doc_terms(int(doc), terms)
        keep = np.isin(full.ids, terms)
        assert np.array_equal(got.ids, full.ids[keep])
        assert np.array_equal(got.weights, full.weights[keep])
        assert np.all(np.diff(got.ids) > 0)


def test_doc_terms_rejects_a_document_outside_the_index(tmp_path):
    write_sparse_index(tmp_path, sp.csr_matrix(np.array([[1.0, 0.0], [0.0, 2.0]], dtype=np.float32)))
    with pytest.raises(IndexError, match="outside 0..1"):
        SparseIndex(tmp_path).doc_terms(2, np.array([0, 1]))


def test_the_default_index_stores_uint8_and_explains_from_the_postings(tiny_if_index):
    """A default build quantises to uint8 (no forward copy) and still explains a hit term by term."""
    from tandem.index.manifest import read_manifest
    from tandem.retrieval.searcher import Searcher

    assert read_manifest(tiny_if_index).settings("sparse")["index"] == {"weights": "uint8", "forward": False, "layout": "packed"}
    with Searcher.open(tiny_if_index) as searcher:
        sparse = searcher.retriever("sparse")
        (doc_id, score), = sparse.search(["Eiffel Tower Paris"], 1)[0].items()
        terms = sparse.explain("Eiffel Tower Paris", doc_id)
        assert terms and sum(t.contribution for t in terms) == pytest.approx(score, rel=1e-5)
