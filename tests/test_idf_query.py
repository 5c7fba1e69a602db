"""Inference-free query side: IDF table by hand, query vector = IDF of its tokens."""
import math

import numpy as np
import pytest

from tandem.index.manifest import read_manifest
from tandem.retrieval.idf_query import IdfQueryEncoder, document_frequencies, idf_from_df


def test_idf_of_hand_made_corpus(splade):
    tok = splade.tokenizer
    texts = ["apple banana", "apple cherry", "apple banana cherry"]
    df, n = document_frequencies(tok, texts, splade.vocab_size)
    idf = idf_from_df(df, n)
    apple, banana, cherry, zebra = tok.convert_tokens_to_ids(["apple", "banana", "cherry", "zebra"])
    assert n == 3 and df[apple] == 3 and df[banana] == 2 and df[cherry] == 2 and df[zebra] == 0
    # ln(1 + (N - df + 0.5) / (df + 0.5)), N = 3
    assert math.isclose(idf[apple], math.log(1 + 0.5 / 3.5), rel_tol=1e-6)  # 0.1335
    assert math.isclose(idf[banana], math.log(1 + 1.5 / 2.5), rel_tol=1e-6)  # 0.4700
    assert math.isclose(idf[zebra], math.log(1 + 3.5 / 0.5), rel_tol=1e-6)  # 2.0794
    assert df[tok.all_special_ids].sum() == 0


def test_query_vector_is_idf_of_distinct_tokens(splade):
    idf = np.linspace(0.1, 3.0, splade.vocab_size).astype(np.float32)
    encoder = IdfQueryEncoder(splade.tokenizer, idf)
    vec = encoder.encode(["banana apple banana"])[0]
    expected = np.sort(splade.tokenizer.convert_tokens_to_ids(["apple", "banana"]))
    np.testing.assert_array_equal(vec.ids, expected)
    np.testing.assert_allclose(vec.weights, idf[expected])


def test_index_stores_corpus_idf(tiny_if_index, tiny_corpus, splade):
    from tandem.index.corpus import read_corpus
    from tandem.retrieval.searcher import Searcher

    searcher = Searcher.open(tiny_if_index)
    docs = read_corpus(tiny_corpus)
    df, n = document_frequencies(splade.tokenizer, [d.contents for d in docs], splade.vocab_size)
    sparse = searcher.retriever("sparse")
    np.testing.assert_allclose(sparse.query_encoder.query_weights, idf_from_df(df, n))
    # The query encoder needs no model: it is the tokenizer saved in the index.
    assert isinstance(sparse.query_encoder.encoder, IdfQueryEncoder)
    hits = searcher.search("vitamin bone", k=3, mode="sparse").hits
    assert hits[0].doc_id == "d3"


def test_model_idf_json_overrides_corpus(tmp_path, tiny_corpus, splade):
    import json
    import shutil

    from tandem.retrieval.build import BuildConfig, build_index
    from tandem.retrieval.searcher import Searcher

    model_dir = tmp_path / "model"
    shutil.copytree(splade.ref.location, model_dir)
    (model_dir / "idf.json").write_text(json.dumps({"python": 7.5, "tower": 2.0}))
    out = tmp_path / "idx"
    build_index(BuildConfig(corpus=str(tiny_corpus), sparse=str(model_dir), sparse_mode="inference-free", dense=None), out, tiny_corpus, log=lambda _: None)
    searcher = Searcher.open(out)
    python_id, tower_id = splade.tokenizer.convert_tokens_to_ids(["python", "tower"])
    weights = searcher.retriever("sparse").query_encoder.query_weights
    assert weights[python_id] == 7.5
    assert weights[tower_id] == 2.0
    assert searcher.manifest.settings("sparse")["idf_source"] == "model idf.json"


@pytest.mark.lucene
def test_an_impact_index_beside_the_sparse_one_shares_one_corpus_idf(tiny_corpus, tmp_path, monkeypatch):
    """The corpus IDF is computed once per build, however many components want it, and both get it."""
    from tandem.retrieval.backends import sparse_common
    from tandem.retrieval.build import BuildConfig, build_index

    calls = []
    original = sparse_common.corpus_idf
    monkeypatch.setattr(sparse_common, "corpus_idf", lambda *a: calls.append(1) or original(*a))
    out = tmp_path / "index"
    build_index(BuildConfig(corpus=str(tiny_corpus), dense=None, lucene_impact=True), out, tiny_corpus, log=lambda _: None, show_progress=False)
    manifest = read_manifest(out)
    tables = [np.load(out / manifest.component(name).shared_dir / sparse_common.QUERY_WEIGHTS) for name in ("sparse", "impact")]
    assert len(calls) == 1
    assert np.array_equal(tables[0], tables[1]) and tables[0].max() > 0
    assert manifest.settings("sparse")["idf_source"] == manifest.settings("impact")["idf_source"] == "corpus"
