"""Dense retrieval at scale (issue 11 §3): ``--faiss auto`` per segment, build threads, IVF-PQ
training samples, search-time efSearch/nprobe, and HNSW recall against exact search.

Fast tests use small random clustered vectors and the FAISS backend directly (no model); one slow
test goes through a real build, add and compaction.
"""
from __future__ import annotations

import threading
from types import SimpleNamespace

import numpy as np
import pytest

from tandem.index.corpus import Document
from tandem.index.dense import AUTO_HNSW_MIN_VECTORS, DenseIndex, FaissConfig, load_faiss, write_dense_index
from tandem.index.threads import available_cores, set_search_threads
from tandem.index.errors import TandemError
from tandem.index.manifest import ComponentInfo, SegmentInfo
from tandem.index.segments import SegmentReader
from tandem.retrieval.backends.base import EncodedDocs
from tandem.retrieval.backends.faiss_dense import FaissBackend, FaissRetriever
from tandem.retrieval.encoders import encoder_key

DIM = 32
ENCODER = {"model": "fake-dense", "max_length": 8}


def clustered(num: int, dim: int = DIM, clusters: int = 50, spread: float = 0.35, seed: int = 0) -> np.ndarray:
    """Unit vectors around ``clusters`` random centres (a stand-in for topical embeddings)."""
    rng = np.random.default_rng(seed)
    centres = rng.normal(size=(clusters, dim))
    centres /= np.linalg.norm(centres, axis=1, keepdims=True)
    vectors = centres[rng.integers(0, clusters, num)] + spread * rng.normal(size=(num, dim)) / np.sqrt(dim)
    return (vectors / np.linalg.norm(vectors, axis=1, keepdims=True)).astype(np.float32)


def exact_top(vectors: np.ndarray, queries: np.ndarray, k: int) -> np.ndarray:
    return np.argsort(-(queries @ vectors.T), axis=1, kind="stable")[:, :k]


def recall(found: np.ndarray, exact: np.ndarray) -> float:
    return float(np.mean([len(set(f) & set(e)) / len(e) for f, e in zip(found, exact)]))


def component(faiss_settings: dict) -> ComponentInfo:
    return ComponentInfo(name="dense", backend="faiss", settings={"encoder": ENCODER, "faiss": FaissConfig(**faiss_settings).model_dump(), "dim": DIM})


def write_segment(root, name: str, vectors: np.ndarray, comp: ComponentInfo) -> SegmentReader:
    """A segment of ``vectors`` written by the FAISS backend, as a reader (doc ids ``<name>-<row>``)."""
    ids = [f"{name}-{row}" for row in range(len(vectors))]
    docs = EncodedDocs(docs=[Document(i, "", "") for i in ids], dense={encoder_key("dense", ENCODER): vectors})
    stats = FaissBackend().write_segment(root / name / "dense", comp, docs)
    return SegmentReader(SegmentInfo(name=name, num_docs=len(vectors), stats={"dense": stats}), root / name, SimpleNamespace(doc_ids=ids), None)


def test_auto_is_flat_below_the_threshold_and_hnsw_from_it():
    config = FaissConfig()
    assert config.type == "auto" and config.auto_hnsw_min_vectors == AUTO_HNSW_MIN_VECTORS
    assert config.resolved(AUTO_HNSW_MIN_VECTORS - 1, 384).type == "flat"
    assert config.resolved(AUTO_HNSW_MIN_VECTORS, 384).type == "hnsw"
    assert FaissConfig(type="flat").resolved(10 * AUTO_HNSW_MIN_VECTORS, 384).type == "flat"  # an explicit type is kept


def test_auto_decides_per_segment_and_compaction_decides_again(tmp_path):
    comp = component({"type": "auto", "auto_hnsw_min_vectors": 300})
    vectors = clustered(500)
    big = write_segment(tmp_path, "s1", vectors[:400], comp)
    small = write_segment(tmp_path, "s2", vectors[400:], comp)  # an added batch
    assert big.info.stats["dense"]["faiss"]["type"] == "hnsw"
    assert small.info.stats["dense"]["faiss"]["type"] == "flat"
    assert big.info.stats["dense"]["faiss"]["build_threads"] == available_cores()
    retriever = FaissRetriever(SimpleNamespace(segments=[big, small]), comp)
    assert retriever.segment_types == ["hnsw", "flat"]
    assert FaissBackend().describe(comp, [big.info, small.info]) == (
        f"32-d, faiss auto: hnsw (M=32, efConstruction=400, efSearch=256, fp16 vectors, {available_cores()} threads) in 1 segment; flat in 1 segment")
    written_before = big.info.model_copy(update={"stats": {"dense": {"faiss": {k: v for k, v in big.info.stats["dense"]["faiss"].items() if k != "hnsw_storage"}}}})
    assert "fp32 vectors" in FaissBackend().describe(comp, [written_before])  # records from before the setting existed: fp32

    # compaction keeping 250 + 60 live rows: 310 >= 300 -> hnsw; keeping 100 + 60 -> flat
    merged = FaissBackend().merge_segments([(big.path / "dense", np.arange(250)), (small.path / "dense", np.arange(60))], tmp_path / "m1" / "dense", comp)
    assert (merged["num_vectors"], merged["faiss"]["type"]) == (310, "hnsw")
    merged = FaissBackend().merge_segments([(big.path / "dense", np.arange(100)), (small.path / "dense", np.arange(60))], tmp_path / "m2" / "dense", comp)
    assert (merged["num_vectors"], merged["faiss"]["type"]) == (160, "flat")
    assert np.allclose(DenseIndex(tmp_path / "m2" / "dense").vectors(np.arange(100, 160)), vectors[400:460])


def test_explicit_flat_above_the_threshold_is_flagged_in_the_summary(tmp_path):
    comp = component({"type": "flat", "auto_hnsw_min_vectors": 100})
    seg = write_segment(tmp_path, "s1", clustered(150), comp)
    assert FaissBackend().describe(comp, [seg.info]) == "32-d, faiss flat: flat (exact; above 100 vectors a segment --faiss auto would use hnsw, ~10x faster)"


def valid_results(retriever: FaissRetriever, vectors: np.ndarray, queries: np.ndarray, k: int) -> list[list[int]]:
    """Rows found per query (padded with -1 to k), after checking each ranking: at most k distinct
    ids (an IVF list visited may hold fewer), scores descending."""
    rankings = retriever.search_vectors(queries, k)
    rows = []
    for ranking in rankings:
        found = [int(doc_id.split("-")[1]) for doc_id in ranking]
        assert 0 < len(found) <= k and len(set(found)) == len(found)
        assert np.all(np.diff(list(ranking.values())) <= 1e-6)
        rows.append(found + [-1] * (k - len(found)))
    return rows


def test_configure_changes_ef_search_and_results_stay_valid(tmp_path):
    vectors, queries = np.split(clustered(3100, clusters=5, spread=1.5, seed=1), [3000])
    comp = component({"type": "hnsw", "hnsw_m": 4, "ef_construction": 16, "hnsw_storage": "fp32"})
    retriever = FaissRetriever(SimpleNamespace(segments=[write_segment(tmp_path, "s1", vectors, comp)]), comp)
    exact = exact_top(vectors, queries, 10)
    retriever.configure(ef_search=10)
    low = recall(np.array(valid_results(retriever, vectors, queries, 10)), exact)
    retriever.configure(ef_search=400)
    high = recall(np.array(valid_results(retriever, vectors, queries, 10)), exact)
    assert low < 0.9 and high >= low + 0.1
    rankings = retriever.search_vectors(queries[:3], 10)
    for query, ranking in zip(queries[:3], rankings):  # scores are the exact inner products (fp32 vectors)
        rows = [int(doc_id.split("-")[1]) for doc_id in ranking]
        assert np.allclose(list(ranking.values()), vectors[rows] @ query, atol=1e-5)


@pytest.mark.slow
def test_configure_changes_nprobe(tmp_path):
    vectors, queries = np.split(clustered(3100, clusters=5, spread=1.5, seed=3), [3000])  # 5 broad clusters over 50 lists
    comp = component({"type": "ivfpq", "nlist": 50, "pq_m": 16, "nprobe": 1, "build_threads": 1})  # 1: fast on a busy machine too
    segment = write_segment(tmp_path, "s1", vectors, comp)
    assert segment.info.stats["dense"]["faiss"]["type"] == "ivfpq"
    retriever = FaissRetriever(SimpleNamespace(segments=[segment]), comp)
    exact = exact_top(vectors, queries, 10)
    one = recall(np.array(valid_results(retriever, vectors, queries, 10)), exact)
    retriever.configure(nprobe=50)
    every = recall(np.array(valid_results(retriever, vectors, queries, 10)), exact)
    assert every >= one + 0.3  # one list of 50 holds few of a query's neighbours
    retriever.configure(ef_search=64)  # no hnsw segment here: nothing changes
    assert recall(np.array(valid_results(retriever, vectors, queries, 10)), exact) == every


@pytest.mark.parametrize("kwargs, flag", [({"ef_search": 0}, "--ef-search"), ({"nprobe": -3}, "--nprobe"), ({"nprobe": 2.5}, "--nprobe"), ({"ef_search": True}, "--ef-search")])
def test_configure_rejects_bad_values(tmp_path, kwargs, flag):
    comp = component({"type": "flat"})
    retriever = FaissRetriever(SimpleNamespace(segments=[write_segment(tmp_path, "s1", clustered(20), comp)]), comp)
    with pytest.raises(TandemError) as err:
        retriever.configure(**kwargs)
    assert err.value.where == flag


@pytest.mark.slow
def test_hnsw_recall_on_clustered_vectors(tmp_path):
    vectors, queries = np.split(clustered(5200, dim=64, clusters=100, spread=0.8, seed=5), [5000])
    summary = write_dense_index(tmp_path, vectors, FaissConfig(type="hnsw"))
    index = DenseIndex(tmp_path, FaissConfig(**summary["faiss"]))
    found, _ = index.search(queries, 10)
    assert recall(found, exact_top(vectors, queries, 10)) >= 0.95


def test_a_large_graph_is_added_in_chunks_with_progress_and_keeps_every_row(tmp_path, monkeypatch, capfd):
    """Graphs from HNSW_PROGRESS_MIN_VECTORS on are built in chunks, each a step of a progress bar on stderr: row i is
    still vector i (each finds itself first), and the graph finds neighbours as one built in a single call does."""
    from tandem.index import dense

    vectors, queries = np.split(clustered(5200, dim=64, clusters=100, spread=0.8, seed=5), [5000])
    monkeypatch.setattr(dense, "HNSW_ADD_CHUNK_MIN", 700)
    monkeypatch.setattr(dense, "HNSW_PROGRESS_MIN_VECTORS", 1000)
    faiss, calls = load_faiss(), []
    add = faiss.IndexHNSWSQ.add  # the fp16 graph's
    monkeypatch.setattr(faiss.IndexHNSWSQ, "add", lambda index, x: calls.append(len(x)) or add(index, x))
    summary = write_dense_index(tmp_path, vectors, FaissConfig(type="hnsw"))
    err = capfd.readouterr().err
    assert calls == [700] * 7 + [100]  # all 5,000 vectors; ceil(5000 / 100) < 700: chunks of the minimum
    assert "HNSW graph" in err and "5000/5000" in err
    index = DenseIndex(tmp_path, FaissConfig(**summary["faiss"]))
    found, _ = index.search(vectors[::250], 1)
    assert found[:, 0].tolist() == list(range(0, 5000, 250))
    found, _ = index.search(queries, 10)
    assert recall(found, exact_top(vectors, queries, 10)) >= 0.95


def test_a_small_graph_is_added_in_one_call_without_a_bar(tmp_path, capfd):
    write_dense_index(tmp_path, clustered(3000), FaissConfig(type="hnsw"))
    assert "HNSW graph" not in capfd.readouterr().err


@pytest.mark.parametrize("storage, rounding", [("fp16", 1e-3), ("bf16", 8e-3)])
def test_hnsw_over_16_bit_vectors_halves_the_file_and_keeps_the_neighbours(tmp_path, storage, rounding):
    vectors, queries = np.split(clustered(2100, dim=64, clusters=20, spread=0.8, seed=11), [2000])
    sizes, found = {}, {}
    for kind in ("fp32", storage):
        written = write_dense_index(tmp_path / kind, vectors, FaissConfig(type="hnsw", hnsw_m=16, ef_search=200, hnsw_storage=kind))
        index = DenseIndex(tmp_path / kind, FaissConfig(type="hnsw", ef_search=200))  # the storage is read from the file
        assert written["faiss"]["hnsw_storage"] == index.config.hnsw_storage == kind
        sizes[kind] = (tmp_path / kind / "faiss.index").stat().st_size
        found[kind] = index.search(queries, 10)[0]
    graph = 2000 * 16 * 2 * 4  # the base layer's neighbour lists, the same in both files
    assert (sizes[storage] - graph) / (sizes["fp32"] - graph) < 0.55
    exact = exact_top(vectors, queries, 10)
    assert recall(found[storage], exact) >= recall(found["fp32"], exact) - 0.01 and recall(found[storage], exact) >= 0.95
    stored = index.vectors(np.arange(0, 2000, 97))
    assert np.abs(stored - vectors[::97]).max() <= rounding and not np.array_equal(stored, vectors[::97])


def test_hnsw_over_8_bit_codes_reranks_with_exact_vectors_by_default(tmp_path):
    vectors, queries = np.split(clustered(2100, dim=64, clusters=20, spread=0.8, seed=11), [2000])
    exact = exact_top(vectors, queries, 10)
    found, scores = {}, {}
    for name, settings in (("fp16", {}), ("sq8", {"hnsw_storage": "sq8"}), ("sq8-bare", {"hnsw_storage": "sq8", "hnsw_rerank": "none"})):
        written = write_dense_index(tmp_path / name, vectors, FaissConfig(type="hnsw", hnsw_m=16, ef_search=200, **settings))
        index = DenseIndex(tmp_path / name)  # storage and rerank are read from the file
        assert written["faiss"]["hnsw_rerank"] == index.config.hnsw_rerank == {"fp16": "none", "sq8": "fp32", "sq8-bare": "none"}[name]
        assert index.config.hnsw_storage == settings.get("hnsw_storage", "fp16")
        index.configure(ef_search=200)
        found[name], scores[name] = index.search(queries, 10)
    true_scores = np.take_along_axis(queries @ vectors.T, found["sq8"], axis=1)
    assert np.abs(scores["sq8"] - true_scores).max() < 1e-5  # re-scored with the fp32 vectors
    bare_error = np.abs(scores["sq8-bare"] - np.take_along_axis(queries @ vectors.T, found["sq8-bare"], axis=1)).max()
    assert bare_error > 1e-4  # 8-bit codes alone give approximate scores
    assert recall(found["sq8"], exact) >= recall(found["fp16"], exact) - 0.01 and recall(found["sq8"], exact) >= 0.95
    stored = DenseIndex(tmp_path / "sq8").vectors(np.arange(0, 2000, 97))
    assert np.array_equal(stored, vectors[::97])  # compaction merges the exact vectors


def test_the_rerank_factor_is_a_search_time_parameter(tmp_path):
    vectors, queries = np.split(clustered(3100, clusters=5, spread=1.5, seed=1), [3000])
    comp = component({"type": "hnsw", "hnsw_m": 8, "ef_construction": 40, "hnsw_storage": "sq8", "hnsw_rerank": "fp16"})
    segment = write_segment(tmp_path, "s1", vectors, comp)
    assert segment.info.stats["dense"]["faiss"]["hnsw_rerank"] == "fp16"
    retriever = FaissRetriever(SimpleNamespace(segments=[segment]), comp)
    assert "sq8 vectors, fp16 rerank x2" in FaissBackend().describe(comp, [segment.info])
    exact = exact_top(vectors, queries, 10)
    retriever.configure(ef_search=400, rerank_factor=1)
    one = recall(np.array(valid_results(retriever, vectors, queries, 10)), exact)
    retriever.configure(rerank_factor=8)
    eight = recall(np.array(valid_results(retriever, vectors, queries, 10)), exact)
    assert eight > one  # more candidates re-scored: 8-bit ranking mistakes corrected
    for bad in (0.5, float("nan"), True):
        with pytest.raises(TandemError) as err:
            retriever.configure(rerank_factor=bad)
        assert err.value.where == "--rerank-factor"


@pytest.mark.parametrize("settings, flag", [({"hnsw_rerank": "int8"}, "--hnsw-rerank"), ({"rerank_factor": 0.5}, "--rerank-factor")])
def test_bad_rerank_settings_name_their_flag(settings, flag):
    with pytest.raises(TandemError) as err:
        FaissConfig(type="hnsw", **settings).resolved(1000, DIM)
    assert err.value.where == flag


def test_an_hnsw_file_over_a_quantiser_tandem_does_not_write_is_refused_naming_the_file(tmp_path):
    faiss = load_faiss()
    index = faiss.IndexHNSWSQ(DIM, faiss.ScalarQuantizer.QT_4bit, 8, faiss.METRIC_INNER_PRODUCT)
    index.train(clustered(300))
    index.add(clustered(300))
    faiss.write_index(index, str(tmp_path / "faiss.index"))
    with pytest.raises(TandemError) as err:
        DenseIndex(tmp_path)
    assert err.value.where == str(tmp_path / "faiss.index") and "scalar quantiser" in str(err.value)


def test_a_component_recorded_before_hnsw_storage_existed_keeps_writing_fp32_segments(tmp_path):
    comp = component({"type": "hnsw", "hnsw_m": 8})
    del comp.settings["faiss"]["hnsw_storage"]  # a manifest written by an earlier version
    segment = write_segment(tmp_path, "s1", clustered(200), comp)
    assert segment.info.stats["dense"]["faiss"]["hnsw_storage"] == "fp32"
    assert DenseIndex(segment.path / "dense").config.hnsw_storage == "fp32"
    assert component({"type": "hnsw"}).settings["faiss"]["hnsw_storage"] == "fp16"  # new builds: fp16


def test_an_unknown_hnsw_storage_names_its_flag():
    with pytest.raises(TandemError) as err:
        FaissConfig(type="hnsw", hnsw_storage="int4").resolved(1000, DIM)
    assert err.value.where == "--hnsw-storage"


@pytest.mark.slow
def test_ivfpq_trains_on_a_recorded_sample(tmp_path):
    vectors = clustered(4000, seed=7)
    summary = write_dense_index(tmp_path, vectors, FaissConfig(type="ivfpq", nlist=20, pq_m=8, train_size=1000, build_threads=1))
    assert (summary["faiss"]["train_size"], summary["faiss"]["nlist"], summary["faiss"]["pq_m"], summary["faiss"]["build_threads"]) == (1000, 20, 8, 1)
    # the default sample: max(50 * nlist, 65,536) vectors, but never more than there are
    assert FaissConfig(type="ivfpq").resolved(4000, DIM).train_size == 4000
    assert FaissConfig(type="ivfpq").resolved(1_000_000, 384).model_dump(include={"nlist", "pq_m", "train_size"}) == {"nlist": 4000, "pq_m": 48, "train_size": 200_000}
    assert FaissConfig(type="ivfpq").resolved(100_000, 384).train_size == 65_536


@pytest.mark.parametrize("field, flag", [("train_size", "--faiss-train-size"), ("auto_hnsw_min_vectors", "--auto-hnsw-min-vectors"), ("hnsw_m", "--hnsw-m")])
def test_bad_build_parameters_name_their_flag(field, flag):
    with pytest.raises(TandemError) as err:
        FaissConfig(**{field: 0}).resolved(1000, DIM)
    assert err.value.where == flag


def test_searches_use_the_configured_threads_in_every_thread(tmp_path):
    write_dense_index(tmp_path, clustered(100), FaissConfig(type="flat"))
    index = DenseIndex(tmp_path)
    seen = []

    def search_in_thread():
        index.search(clustered(5, seed=8), 3)
        seen.append(load_faiss().omp_get_max_threads())

    try:
        set_search_threads(1)
        worker = threading.Thread(target=search_in_thread)
        worker.start()
        worker.join()
        set_search_threads(None)
        search_in_thread()
    finally:
        set_search_threads(None)
    assert seen == [1, available_cores()]


@pytest.mark.slow
def test_live_index_segments_get_their_own_type(tmp_path, tiny_corpus):
    """Build (6 docs -> hnsw with a threshold of 5), add 2 (-> flat), compact (8 -> hnsw): recorded per segment and searchable."""
    from tandem.index.manifest import read_manifest
    from tandem.retrieval.build import BuildConfig, build_index
    from tandem.retrieval.searcher import Searcher
    from tandem.retrieval.writer import IndexWriter

    out = tmp_path / "idx"
    build_index(BuildConfig(corpus=str(tiny_corpus), sparse=None, faiss=FaissConfig(auto_hnsw_min_vectors=5)), out, tiny_corpus, log=lambda _: None, show_progress=False)
    IndexWriter(out).add([Document("new1", "Statins", "Statins lower cholesterol."), Document("new2", "Sleep", "Sleep matters for the heart.")])
    types = [s.stats["dense"]["faiss"]["type"] for s in read_manifest(out).segments]
    assert types == ["hnsw", "flat"]
    IndexWriter(out).compact()
    manifest = read_manifest(out)
    assert [s.stats["dense"]["faiss"]["type"] for s in manifest.segments] == ["hnsw"]
    searcher = Searcher.open(out)
    assert searcher.search("statins and cholesterol", k=3, mode="dense").hits[0].doc_id == "new1"


def test_the_dense_benchmark_names_graph_variants_and_reuses_only_an_index_built_as_asked():
    import sys
    from pathlib import Path

    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
    from bench.bench_dense import _built_as_asked, hnsw_graphs, hnsw_label

    graphs = hnsw_graphs("32:800,48,32:200:fp32,32:800:sq8")
    assert [hnsw_label(g) for g in graphs] == ["hnsw", "hnsw-M32-efc800", "hnsw-M48-efc400", "hnsw-M32-efc200-fp32", "hnsw-M32-efc800-sq8"]
    assert graphs[1].hnsw_storage == "fp16"  # a variant without a storage gets the product's
    assert hnsw_graphs("32:800", with_default=False) == [graphs[1]]  # --only-variants
    kept = FaissConfig(type="hnsw", ef_construction=200, build_threads=2).model_dump()
    del kept["hnsw_storage"]  # recorded before the setting existed: fp32
    assert _built_as_asked(kept, graphs[3], 1000, DIM) and not _built_as_asked(kept, graphs[0], 1000, DIM)
    assert _built_as_asked(FaissConfig(type="flat").model_dump(), FaissConfig(type="flat", ef_construction=16), 1000, DIM)
    sq8 = graphs[4].resolved(1000, DIM).model_dump()
    assert _built_as_asked(sq8, graphs[4], 1000, DIM) and not _built_as_asked({**sq8, "hnsw_rerank": "fp16"}, graphs[4], 1000, DIM)
    assert not _built_as_asked(graphs[1].resolved(1000, DIM).model_dump(), graphs[4], 1000, DIM)  # the fp16 graph is not the sq8 index


def test_the_dense_benchmark_makes_an_sq8_index_from_the_kept_fp16_graph_of_the_same_build_settings(tmp_path):
    import sys
    from pathlib import Path

    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
    from bench.bench_dense import built

    vectors = clustered(600, seed=4)
    fp16, sq8 = (FaissConfig(type="hnsw", hnsw_m=8, ef_construction=40, hnsw_storage=storage) for storage in ("fp16", "sq8"))
    graph, _ = built(tmp_path, vectors, fp16, keep=True, label="hnsw-M8-efc40")
    index, summary = built(tmp_path, vectors, sq8, keep=True, label="hnsw-M8-efc40-sq8")
    assert summary["graph_from"].startswith("hnsw-M8-efc40 (built in") and summary["config"]["hnsw_rerank"] == "fp32"
    assert (index.config.hnsw_storage, index.config.hnsw_rerank) == ("sq8", "fp32")
    ids, scores = index.search(vectors[:20], 5)
    assert np.array_equal(ids[:, 0], np.arange(20)) and np.allclose(scores[:, 0], 1.0, atol=1e-5)  # each vector finds itself, exact score
    assert built(tmp_path, vectors, sq8, keep=True, label="hnsw-M8-efc40-sq8")[1].get("built_in_an_earlier_run")


def test_the_dense_benchmark_prints_the_goal_of_every_graph_it_measured(capsys):
    """An --only-variants run has no default graph, so no goal key without a graph suffix: the synthetic sizes'
    summary used to look that key up and crash after writing the JSON; real and synthetic runs now print alike."""
    from bench.bench_dense import print_goals

    entry = {"queries": {"msmarco-dev": {"flat": {}, "goal_hnsw_recall_0.99_at_5pct_flat_p50_hnsw-M32-efc800-fp32": {"met": False}}}}
    print_goals("N = 1,000", entry)
    assert capsys.readouterr().out == "N = 1,000, msmarco-dev, goal_hnsw_recall_0.99_at_5pct_flat_p50_hnsw-M32-efc800-fp32: {'met': False}\n"
