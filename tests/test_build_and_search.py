"""Index round trip, atomic/resumable builds, manifest, searcher modes."""
import json
import shutil

import numpy as np
import pytest

from tandem.index.errors import IndexFormatError, TandemError
from tandem.index.manifest import FORMAT_VERSION, read_manifest, verify_checksums
from tandem.retrieval.build import BuildConfig, build_index
from tandem.retrieval.searcher import Searcher


def test_manifest_is_self_describing(tiny_index):
    manifest = read_manifest(tiny_index)
    assert manifest.format_version == FORMAT_VERSION
    assert manifest.num_docs == 6 and manifest.corpus.num_empty == 1
    assert [(c.name, c.backend) for c in manifest.components] == [("sparse", "native-sparse"), ("dense", "faiss")]
    assert manifest.generation == 1 and len(manifest.segments) == 1 and manifest.segments[0].num_docs == 6
    assert manifest.settings("sparse")["mode"] == "siamese"
    assert manifest.settings("sparse")["encoder"]["model"] == "splade-tiny"
    assert manifest.settings("dense")["faiss"]["type"] == "auto"
    assert manifest.segments[0].stats["dense"]["faiss"]["type"] == "flat"  # auto: 6 vectors are searched exactly
    assert manifest.build_config["dense"] == "minilm-l6"
    assert verify_checksums(tiny_index, manifest) == []


def test_modes_and_hits(tiny_index):
    searcher = Searcher.open(tiny_index)
    assert searcher.modes == ["sparse", "dense", "hybrid"]
    for mode in ("sparse", "dense", "hybrid"):
        result = searcher.search("vitamin D and bone density", k=3, mode=mode)
        assert result.hits[0].doc_id == "d3", mode
        assert [h.rank for h in result.hits] == [1, 2, 3]
        assert all(a.score >= b.score for a, b in zip(result.hits, result.hits[1:]))
    hybrid = searcher.search("Eiffel Tower in Paris", k=5)
    assert hybrid.mode == "hybrid"
    top = hybrid.hits[0]
    assert top.doc_id == "d1" and top.components["sparse"].rank == 1 and top.components["dense"].rank == 1
    assert {"sparse_encode", "dense_encode", "fusion", "total"} <= set(hybrid.timings_ms)


def test_batch_search_equals_single(tiny_index):
    searcher = Searcher.open(tiny_index)
    queries = ["plants and sunlight", "programming language", "cell energy ATP"]
    batch = searcher.batch_search(queries, k=4, mode="hybrid")
    for query, result in zip(queries, batch):
        single = searcher.search(query, k=4, mode="hybrid")
        assert [h.doc_id for h in result.hits] == [h.doc_id for h in single.hits]
        np.testing.assert_allclose([h.score for h in result.hits], [h.score for h in single.hits], rtol=1e-6)


def test_reopen_gives_identical_results(tiny_index, tmp_path):
    copy = tmp_path / "copy"
    shutil.copytree(tiny_index, copy)
    a = Searcher.open(tiny_index).search("oxidative phosphorylation", k=6, mode="hybrid")
    b = Searcher.open(copy).search("oxidative phosphorylation", k=6, mode="hybrid")
    assert [(h.doc_id, h.score) for h in a.hits] == [(h.doc_id, h.score) for h in b.hits]


def test_explain_lists_shared_terms_and_expansions(tiny_index):
    searcher = Searcher.open(tiny_index)
    terms = searcher.explain("vitamin deficiency", "d3")
    assert terms and terms[0].contribution >= terms[-1].contribution
    assert any(t.token == "vitamin" and t.in_document_text for t in terms)
    for t in terms:
        assert abs(t.contribution - t.query_weight * t.doc_weight) < 1e-5


def test_bad_queries(tiny_index):
    searcher = Searcher.open(tiny_index)
    for query in ("", "   ", "[SEP] [CLS]"):
        with pytest.raises(TandemError):
            searcher.search(query)
    with pytest.raises(TandemError, match="mode"):
        searcher.search("x", mode="bm25")


def test_fusion_json_next_to_index_is_the_default(tiny_index, tmp_path):
    copy = tmp_path / "idx"
    shutil.copytree(tiny_index, copy)
    (copy / "fusion.json").write_text(json.dumps({"method": "wsum", "normalization": "zscore", "weights": {"dense": 2.0}}))
    searcher = Searcher.open(copy)
    assert searcher.default_fusion.method == "wsum" and searcher.default_fusion.weights == {"dense": 2.0}


def test_interrupted_build_leaves_no_index_and_resumes(tmp_path, tiny_corpus, monkeypatch):
    from tandem.retrieval import build as build_module
    from tandem.retrieval.splade import SpladeEncoder

    out = tmp_path / "idx"
    config = BuildConfig(corpus=str(tiny_corpus), dense=None, chunk_size=2)
    calls = {"n": 0}
    original = SpladeEncoder.encode

    def flaky(self, texts, *a, **kw):
        calls["n"] += 1
        if calls["n"] == 2:
            raise KeyboardInterrupt  # simulates Ctrl-C in the middle of encoding
        return original(self, texts, *a, **kw)

    monkeypatch.setattr(SpladeEncoder, "encode", flaky)
    with pytest.raises(KeyboardInterrupt):
        build_index(config, out, tiny_corpus, log=lambda _: None)
    assert not out.exists()
    work = tmp_path / ".idx.building"
    assert len(list((work / "cache").glob("sparse-*.npz"))) == 1  # the finished chunk is kept

    calls["n"] = 10  # no more failures
    build_index(config, out, tiny_corpus, log=lambda _: None)
    assert calls["n"] == 10 + 2  # 3 chunks, 1 from the cache: only 2 encoded again
    assert read_manifest(out).num_docs == 6
    assert not work.exists()


def test_existing_output_needs_overwrite(tiny_index, tiny_corpus):
    with pytest.raises(TandemError, match="already exists"):
        build_index(BuildConfig(corpus=str(tiny_corpus), dense=None), tiny_index, tiny_corpus, log=lambda _: None)


def test_not_an_index_and_newer_format(tmp_path, tiny_index):
    with pytest.raises(IndexFormatError, match="not a Tandem index"):
        Searcher.open(tmp_path)
    copy = tmp_path / "newer"
    shutil.copytree(tiny_index, copy)
    manifest = json.loads((copy / "manifest.json").read_text())
    manifest["format_version"] = FORMAT_VERSION + 1
    (copy / "manifest.json").write_text(json.dumps(manifest))
    with pytest.raises(IndexFormatError, match="newer"):
        Searcher.open(copy)


# ivfpq defaults for 600 vectors of dim 32: nlist = min(4 * sqrt(600), 600 // 39) = 15, pq_m = 32 / 8 = 4
@pytest.mark.parametrize("faiss_type, nlist, pq_m, min_recall", [("hnsw", None, None, 0.9), ("ivfpq", 15, 4, 0.3)])
def test_faiss_types_are_recorded_and_searchable(tmp_path, faiss_type, nlist, pq_m, min_recall):
    from tandem.index.dense import DenseIndex, FaissConfig, write_dense_index

    rng = np.random.default_rng(0)
    vectors = rng.normal(size=(600, 32)).astype(np.float32)
    vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
    summary = write_dense_index(tmp_path, vectors, FaissConfig(type=faiss_type, nprobe=64))
    assert (summary["faiss"]["type"], summary["faiss"]["nlist"], summary["faiss"]["pq_m"]) == (faiss_type, nlist, pq_m)
    index = DenseIndex(tmp_path, FaissConfig(**summary["faiss"]))
    ids, _ = index.search(vectors[:20], 10)
    exact = np.argsort(-(vectors[:20] @ vectors.T), axis=1)[:, :10]
    recall = np.mean([len(set(a) & set(b)) / 10 for a, b in zip(ids, exact)])
    assert recall > min_recall
