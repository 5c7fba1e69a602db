"""Milvus backends (issue 12) against Milvus Lite 2.5.1 in a temporary folder.

- the same encoded scifact documents built natively (native-sparse, faiss flat) and into Milvus
  give the same top-10 (ids; scores within 1e-4) for sparse (inference-free and siamese), dense and
  hybrid queries;
- add (with a replaced id), delete and compact through IndexWriter give, after each step, the same
  results as the native index after the same steps; a reader of the previous commit does not see
  rows added after it; rows an uncommitted change left are invisible and removed by the next writer;
- an unreachable URI, a bad URI, a missing token variable: one line naming it, exit 2;
- milvus-bm25 (Milvus's BM25 function) scores by the BM25 formula (k1=0.9, b=0.4) and follows deletes.
"""
from __future__ import annotations

import json
import socket
import subprocess
import sys
from pathlib import Path

import pytest

try:
    import pymilvus  # noqa: F401
except ImportError:  # pragma: no cover - the test extra installs it
    pytest.skip("pymilvus is not importable (pip install 'tandem-retrieval[milvus]')", allow_module_level=True)

from tandem.index.errors import TandemError

REPO = Path(__file__).resolve().parents[1]
N_BUILT, N_ADDED = 150, 30
TOL = 1e-4


def closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


# -- fast: connection and configuration errors -------------------------------------------------
def test_unreachable_server_is_one_line_naming_the_uri(monkeypatch):
    from tandem.index import milvus

    monkeypatch.setattr(milvus, "CONNECT_TIMEOUT", 1.0)
    uri = f"http://127.0.0.1:{closed_port()}"
    with pytest.raises(TandemError) as caught:
        milvus.connect(uri)
    assert str(caught.value).startswith(f"{uri}: cannot reach Milvus")
    assert "\n" not in str(caught.value)


def test_lite_uri_must_be_a_db_file_in_an_existing_folder(tmp_path):
    from tandem.index import milvus

    with pytest.raises(TandemError, match=r"--milvus-uri: .*ending in \.db"):
        milvus.MilvusConfig(uri=str(tmp_path / "x.sqlite"), collection="c").resolved()
    with pytest.raises(TandemError, match="does not exist"):
        milvus.connect(str(tmp_path / "missing" / "x.db"))
    with pytest.raises(TandemError, match="--milvus-collection"):
        milvus.MilvusConfig(uri=str(tmp_path / "x.db"), collection="9-bad").resolved()
    assert milvus.MilvusConfig(uri="x.db", collection="c").resolved().uri == str(Path("x.db").resolve())
    assert milvus.MilvusConfig(uri="http://h:19530", collection="c").resolved().uri == "http://h:19530"


def test_token_variable_must_be_set_and_is_never_recorded(monkeypatch, tmp_path):
    from tandem.index import milvus

    monkeypatch.delenv("TANDEM_TEST_MILVUS_TOKEN", raising=False)
    with pytest.raises(TandemError, match="TANDEM_TEST_MILVUS_TOKEN .*not set"):
        milvus.connect(str(tmp_path / "x.db"), "TANDEM_TEST_MILVUS_TOKEN")
    config = milvus.MilvusConfig(uri="http://h:19530", collection="c", token_env="TANDEM_TEST_MILVUS_TOKEN")
    assert config.model_dump()["token_env"] == "TANDEM_TEST_MILVUS_TOKEN" and "token" not in config.model_dump()


def test_lite_refuses_ids_it_cannot_delete():
    from tandem.index import milvus

    lite = milvus.MilvusConfig(uri="/tmp/x.db", collection="c")
    milvus.check_ids_for(lite, ['a"b', "back\\slash", "é"])
    with pytest.raises(TandemError, match="contains '"):
        milvus.check_ids_for(lite, ["it's"])
    milvus.check_ids_for(milvus.MilvusConfig(uri="http://h:19530", collection="c"), ["it's"])  # a server quotes them itself
    assert milvus.ids_filter(['a"b', "c\\d"]) == 'id in ["a\\"b","c\\\\d"]'


def test_requests_have_a_time_limit_and_fail_in_one_line():
    """Without a timeout pymilvus retries 75 times (a search during an outage took 211 s to fail); it
    honours only an integer timeout."""
    from tandem.index import milvus

    seen: dict = {}

    def failing(*args, **kwargs):
        seen.update(kwargs)
        raise RuntimeError("connection refused\nsecond line")

    with pytest.raises(milvus.MilvusUnavailable) as caught:
        milvus.call("http://h:19530", "search", failing, "collection")
    assert str(caught.value) == "http://h:19530: Milvus search failed: connection refused"
    assert seen["timeout"] == milvus.READ_TIMEOUT and isinstance(seen["timeout"], int)
    with pytest.raises(milvus.MilvusUnavailable):
        milvus.call("http://h:19530", "insert", failing, "collection", [], timeout=milvus.WRITE_TIMEOUT)
    assert seen["timeout"] == milvus.WRITE_TIMEOUT


def test_long_text_is_cut_at_a_character_boundary():
    from tandem.index.milvus import MAX_VARCHAR_BYTES, clip_varchar

    text = "é" * MAX_VARCHAR_BYTES  # 2 bytes each
    clipped, cut = clip_varchar(text)
    assert cut and len(clipped.encode()) <= MAX_VARCHAR_BYTES and clipped == "é" * (MAX_VARCHAR_BYTES // 2)
    assert clip_varchar("short") == ("short", False)


@pytest.mark.slow
def test_cli_build_against_unreachable_server_exits_2_with_one_line(tmp_path):
    corpus = tmp_path / "c.jsonl"
    corpus.write_text(json.dumps({"_id": "d1", "title": "t", "text": "x"}) + "\n")
    uri = f"http://127.0.0.1:{closed_port()}"
    proc = subprocess.run([sys.executable, "-m", "tandem.cli", "index", "build", "--corpus", str(corpus), "--out", str(tmp_path / "idx"),
                           "--backend", "milvus", "--milvus-uri", uri], capture_output=True, text=True, cwd=REPO, timeout=300)
    assert proc.returncode == 2
    lines = [line for line in proc.stderr.splitlines() if line.strip()]
    assert lines == [lines[0]] and lines[0].startswith(f"tandem: error: {uri}: cannot reach Milvus"), proc.stderr
    assert not (tmp_path / "idx").exists()


# -- slow: the same vectors natively and in Milvus ---------------------------------------------
@pytest.fixture(scope="module")
def scifact(data_dir, tmp_path_factory):
    """The first 150 scifact documents (built) and 30 more plus one replaced (added), each encoded once."""
    from tandem.cli import main

    root = tmp_path_factory.mktemp("milvus")
    lines = (data_dir / "beir" / "scifact" / "corpus.jsonl").read_text(encoding="utf-8").splitlines()
    docs = [json.loads(line) for line in lines[: N_BUILT + N_ADDED]]
    built, added = docs[:N_BUILT], docs[N_BUILT:]
    replaced = dict(built[3], text="Vitamin D supplementation and bone mineral density in older adults, a replaced version.")
    (root / "built.jsonl").write_text("".join(json.dumps(d) + "\n" for d in built), encoding="utf-8")
    (root / "added.jsonl").write_text("".join(json.dumps(d) + "\n" for d in added + [replaced]), encoding="utf-8")
    for name in ("built", "added"):
        assert main(["encode", "--corpus", str(root / f"{name}.jsonl"), "--out", str(root / f"enc-{name}"), "--max-length", "128"]) == 0
    queries = [json.loads(line)["text"] for line in (data_dir / "beir" / "scifact" / "queries.jsonl").read_text(encoding="utf-8").splitlines()[:40]]
    queries += ["vitamin d bone density replaced version", "zzzzqqqq"]  # the replaced document; a query with few known pieces
    return {"root": root, "queries": queries, "built": built, "added": added, "replaced": replaced}


def build(scifact, name: str, milvus: bool, mode: str = "inference-free") -> Path:
    from tandem.index.dense import FaissConfig
    from tandem.index.milvus import MilvusConfig
    from tandem.retrieval.build import BuildConfig, build_index

    root = scifact["root"]
    # Milvus keeps float32 sparse weights: the native index they are compared with keeps them exactly too.
    config = BuildConfig(corpus=str(root / "built.jsonl"), sparse_mode=mode, faiss=FaissConfig(type="flat"), from_encoded=[str(root / "enc-built")],
                         sparse_weights="float32")
    if milvus:
        config = config.model_copy(update={"sparse_backend": "milvus-sparse", "dense_backend": "milvus-dense",
                                           "milvus": MilvusConfig(uri=str(root / "lite.db"), collection=name)})
    out = root / name
    build_index(config, out, root / "built.jsonl", log=lambda _: None, show_progress=False)
    return out


def rankings(index: Path, queries: list[str], mode: str, k: int = 10) -> list[dict[str, float]]:
    from tandem.retrieval.searcher import Searcher

    with Searcher.open(index) as searcher:
        return [{h.doc_id: h.score for h in r.hits} for r in searcher.batch_search(queries, k=k, mode=mode)]


def assert_same_rankings(got: list[dict], want_index: Path, queries: list[str], mode: str) -> int:
    """Same scores rank by rank (within TOL), and every Milvus hit has its native score (ties may order
    differently); returns how many queries have the identical id list."""
    want = rankings(want_index, queries, mode)
    deeper = rankings(want_index, queries, mode, k=30)
    identical = 0
    for q, (g, w, d) in enumerate(zip(got, want, deeper)):
        assert len(g) == len(w), (mode, queries[q])
        assert all(abs(a - b) <= TOL for a, b in zip(g.values(), w.values())), (mode, queries[q], g, w)
        for doc_id, score in g.items():
            assert doc_id in d and abs(d[doc_id] - score) <= TOL, (mode, queries[q], doc_id)
        identical += list(g) == list(w)
    return identical


@pytest.fixture(scope="module")
def pair(scifact):
    return build(scifact, "native", milvus=False), build(scifact, "in_milvus", milvus=True)


@pytest.mark.slow
@pytest.mark.parametrize("mode", ["sparse", "dense", "hybrid"])
def test_milvus_search_equals_native(pair, scifact, mode):
    native, milvus_index = pair
    queries = scifact["queries"]
    got = rankings(milvus_index, queries, mode)
    assert sum(len(r) for r in got) >= 10 * (len(queries) - 1)
    identical = assert_same_rankings(got, native, queries, mode)
    assert identical >= len(queries) - 2, f"{mode}: {identical}/{len(queries)} identical id lists"


@pytest.mark.slow
def test_siamese_sparse_equals_native(scifact):
    native, milvus_index = build(scifact, "native_siamese", False, "siamese"), build(scifact, "milvus_siamese", True, "siamese")
    queries = scifact["queries"][:15]
    assert_same_rankings(rankings(milvus_index, queries, "sparse"), native, queries, "sparse")


@pytest.mark.slow
def test_manifest_records_collection_schema_and_no_token(pair):
    from tandem.index.manifest import read_manifest

    manifest = read_manifest(pair[1])
    sparse, dense = manifest.component("sparse"), manifest.component("dense")
    assert (sparse.backend, dense.backend) == ("milvus-sparse", "milvus-dense")
    assert sparse.settings["milvus"]["collection"] == dense.settings["milvus"]["collection"] == "in_milvus"
    fields = sparse.settings["milvus_schema"]["vector_fields"]
    assert fields["sparse_vector"]["index"] == {"index_type": "SPARSE_INVERTED_INDEX", "metric_type": "IP", "params": {"drop_ratio_build": 0.0}}
    assert fields["sparse_vector"]["search"]["params"] == {"drop_ratio_search": 0.0}
    assert fields["dense_vector"]["index"]["index_type"] == "FLAT" and fields["dense_vector"]["dim"] == 384
    assert sparse.settings["milvus_rows_written"] == N_BUILT
    assert (pair[1] / sparse.shared_dir / "query_weights.npy").is_file() and (pair[1] / sparse.shared_dir / "tokenizer").is_dir()
    assert "token" not in json.dumps(sparse.settings["milvus"]).replace("token_env", "")


@pytest.mark.slow
def test_add_delete_compact_follow_native(scifact, tmp_path):
    """Both indexes go through the same add (30 new, 1 replaced), delete and compact; after each
    step Milvus answers as native; an older reader does not see added rows."""
    from tandem.index import milvus
    from tandem.retrieval.backends.milvus import milvus_config
    from tandem.retrieval.encode import add_from_encoded
    from tandem.retrieval.searcher import Searcher
    from tandem.retrieval.writer import IndexWriter
    from tandem.index.manifest import read_manifest

    root = scifact["root"]
    native, in_milvus = build(scifact, "live_native", False), build(scifact, "live_milvus", True)
    queries = scifact["queries"]
    new_doc = scifact["added"][0]
    config = milvus_config(read_manifest(in_milvus).component("sparse"))
    client = milvus.connect(config.uri)

    with Searcher.open(in_milvus) as before:  # holds generation 1 through the add
        for index in (native, in_milvus):
            add_from_encoded(index, [root / "enc-added"], show_progress=False)
        stale = before.batch_search([new_doc["title"]], k=10, mode="sparse")[0]
        assert new_doc["_id"] not in [h.doc_id for h in stale.hits]
    fresh = rankings(in_milvus, [new_doc["title"], "vitamin d bone density replaced version"], "sparse")
    assert next(iter(fresh[0])) == new_doc["_id"] and next(iter(fresh[1])) == scifact["replaced"]["_id"]
    for mode in ("sparse", "dense", "hybrid"):
        assert_same_rankings(rankings(in_milvus, queries, mode), native, queries, mode)

    gone = [d["_id"] for d in scifact["built"][10:20]]
    for index in (native, in_milvus):
        IndexWriter(index, show_progress=False).delete(gone)
    titles = [d["title"] for d in scifact["built"][10:20]]
    assert not set(gone) & {doc for r in rankings(in_milvus, titles, "sparse", k=50) for doc in r}
    assert not set(gone) & {doc for r in rankings(in_milvus, titles, "dense", k=50) for doc in r}
    assert milvus.count_rows(client, config) == N_BUILT + N_ADDED - len(gone)
    for mode in ("sparse", "dense"):
        assert_same_rankings(rankings(in_milvus, queries, mode), native, queries, mode)

    for index in (native, in_milvus):
        IndexWriter(index, show_progress=False).compact()  # recomputes the corpus IDF over live documents
    for mode in ("sparse", "dense", "hybrid"):
        assert_same_rankings(rankings(in_milvus, queries, mode), native, queries, mode)
    assert read_manifest(in_milvus).component("sparse").settings["milvus_compaction"].startswith("not offered")

    from tandem.retrieval.integrity import verify_index

    assert verify_index(in_milvus)[1] == []
    milvus.delete_ids(client, config, [scifact["built"][30]["_id"]])  # behind Tandem's back
    problems = verify_index(in_milvus)[1]
    assert problems and all(f"collection 'live_milvus' holds {N_BUILT + N_ADDED - len(gone) - 1} rows" in p for p in problems)


@pytest.mark.slow
def test_rows_of_an_uncommitted_change_are_invisible_and_removed(scifact):
    """What a writer killed after writing to Milvus but before its commit leaves: rows of a newer generation."""
    from tandem.index import milvus
    from tandem.index.manifest import read_manifest
    from tandem.retrieval.backends.milvus import milvus_config
    from tandem.retrieval.writer import IndexWriter

    index = build(scifact, "crash_milvus", True)
    manifest = read_manifest(index)
    config = milvus_config(manifest.component("sparse"))
    client = milvus.connect(config.uri)
    ghost = {"id": "ghost", "gen": manifest.generation + 1, "title": "ghost", "text": "ghost",
             "sparse_vector": {2000: 100.0}, "dense_vector": [1.0] + [0.0] * 383}
    milvus.write_rows(client, config, [ghost], 1, upsert=True, show_progress=False)
    assert milvus.count_rows(client, config) == N_BUILT + 1
    found = rankings(index, scifact["queries"][:5], "sparse", k=N_BUILT)
    assert all("ghost" not in r for r in found)
    IndexWriter(index, show_progress=False).delete([scifact["built"][0]["_id"]])
    assert milvus.count_rows(client, config) == N_BUILT - 1
    assert not milvus.fetch(client, config, ["ghost"], ["gen"])


@pytest.mark.slow
def test_existing_collection_of_another_index_is_refused(pair, scifact):
    from tandem.index import milvus
    from tandem.index.manifest import read_manifest
    from tandem.retrieval.backends.milvus import milvus_config

    with pytest.raises(TandemError, match="'in_milvus' already exists"):
        _build_into(scifact, "second_index", "in_milvus")
    assert not (scifact["root"] / "second_index").exists()
    config = milvus_config(read_manifest(pair[1]).component("sparse"))
    assert milvus.count_rows(milvus.connect(config.uri), config) == N_BUILT  # the other index's collection is untouched


def _build_into(scifact, name: str, collection: str) -> Path:
    from tandem.index.milvus import MilvusConfig
    from tandem.retrieval.build import BuildConfig, build_index

    root = scifact["root"]
    config = BuildConfig(corpus=str(root / "built.jsonl"), from_encoded=[str(root / "enc-built")], sparse_backend="milvus-sparse",
                         dense_backend="milvus-dense", milvus=MilvusConfig(uri=str(root / "lite.db"), collection=collection))
    return build_index(config, root / name, root / "built.jsonl", log=lambda _: None, show_progress=False)


@pytest.mark.slow
def test_milvus_hybrid_search_rrf_equals_tandem_rrf(pair, scifact):
    """Milvus's RRFRanker over each retriever's top-100 gives Tandem's rrf (k=60, depth 100) top-10."""
    from tandem.retrieval.backends.milvus import milvus_hybrid_search
    from tandem.retrieval.fusion import FusionConfig
    from tandem.retrieval.searcher import Searcher

    queries = scifact["queries"][:20]
    with Searcher.open(pair[1]) as searcher:
        got = milvus_hybrid_search(searcher.retriever("sparse"), searcher.retriever("dense"), queries, 10, ranker="rrf", rrf_k=60, depth=100)
        want = [{h.doc_id: h.score for h in r.hits} for r in searcher.batch_search(queries, k=10, mode="hybrid", fusion=FusionConfig(method="rrf", rrf_k=60, depth=100))]
        weighted = milvus_hybrid_search(searcher.retriever("sparse"), searcher.retriever("dense"), queries, 10, ranker="weighted", weights=(0.5, 0.5))
        with pytest.raises(TandemError, match="unknown Milvus ranker"):
            milvus_hybrid_search(searcher.retriever("sparse"), searcher.retriever("dense"), queries[:1], 10, ranker="max")
    for g, w in zip(got, want):
        assert len(g) == len(w) == 10
        assert all(abs(a - b) <= 1e-6 for a, b in zip(g.values(), w.values()))
        assert set(g) == set(w) or sorted(g.values()) != sorted(set(g.values()))  # the same ids unless tied scores were cut at rank 10
    assert all(len(r) == 10 and list(r.values()) == sorted(r.values(), reverse=True) for r in weighted)


@pytest.mark.slow
def test_failure_talking_to_milvus_leaves_the_index_as_it_was(scifact, monkeypatch):
    from tandem.index import milvus
    from tandem.index.manifest import read_manifest
    from tandem.retrieval.encode import add_from_encoded

    index = build(scifact, "failing_milvus", True)
    generation = read_manifest(index).generation
    queries = scifact["queries"][:10]
    before = rankings(index, queries, "sparse")

    def unreachable(*args, **kwargs):
        raise milvus.MilvusUnavailable("Milvus upsert failed: connection refused", "http://milvus.invalid:19530")

    monkeypatch.setattr(milvus, "write_rows", unreachable)
    with pytest.raises(milvus.MilvusUnavailable, match="upsert failed"):
        add_from_encoded(index, [scifact["root"] / "enc-added"], show_progress=False)
    assert read_manifest(index).generation == generation and rankings(index, queries, "sparse") == before
    monkeypatch.undo()
    report = add_from_encoded(index, [scifact["root"] / "enc-added"], show_progress=False)
    assert (report.generation, report.added, report.replaced) == (generation + 1, N_ADDED + 1, 1)


@pytest.mark.slow
def test_overwrite_replaces_the_collection_of_the_index_it_replaces(scifact):
    from tandem.index import milvus
    from tandem.index.manifest import read_manifest
    from tandem.retrieval.backends.milvus import milvus_config

    from tandem.cli import main

    root = scifact["root"]
    command = ["index", "build", "--from-encoded", str(root / "enc-built"), "--corpus", str(root / "built.jsonl"), "--out", str(root / "rebuilt"),
               "--backend", "milvus", "--milvus-uri", str(root / "lite.db")]
    assert main(command) == 0
    assert main(command) == 2  # an index is there
    assert main(command + ["--overwrite"]) == 0
    manifest = read_manifest(root / "rebuilt")
    config = milvus_config(manifest.component("dense"))
    assert config.collection == "tandem_rebuilt"  # the default name
    assert manifest.generation == 2 and milvus.count_rows(milvus.connect(config.uri), config) == N_BUILT


# -- BM25 computed by Milvus (milvus-bm25) -----------------------------------------------------
ANIMALS = [("z1", "zebra lion"), ("z2", "zebra zebra tiger"), ("z3", "tiger lion lion lion"), ("z4", "giraffe")]


def bm25(tf: int, df: int, n: int, dl: int, avgdl: float, k1: float = 0.9, b: float = 0.4) -> float:
    """BM25 as Milvus computes it: ln(1 + (N - df + 0.5)/(df + 0.5)) * tf (k1 + 1) / (tf + k1 (1 - b + b dl/avgdl))."""
    import math

    return math.log(1 + (n - df + 0.5) / (df + 0.5)) * tf * (k1 + 1) / (tf + k1 * (1 - b + b * dl / avgdl))


@pytest.mark.slow
def test_milvus_bm25_scores_by_the_bm25_formula_and_follows_deletes(tmp_path):
    from conftest import write_jsonl
    from tandem.index.milvus import MilvusConfig
    from tandem.retrieval.build import BuildConfig, build_index
    from tandem.retrieval.writer import IndexWriter

    corpus = write_jsonl(tmp_path / "animals.jsonl", [{"_id": i, "title": "", "text": t} for i, t in ANIMALS])
    config = BuildConfig(corpus=str(corpus), sparse=None, dense=None, bm25=True, bm25_backend="milvus-bm25",
                         milvus=MilvusConfig(uri=str(tmp_path / "bm25.db"), collection="animals"))
    index = tmp_path / "idx"
    build_index(config, index, corpus, log=lambda _: None, show_progress=False)
    got = rankings(index, ["zebra", "lion", "the"], "bm25")
    avgdl = sum(len(t.split()) for _, t in ANIMALS) / len(ANIMALS)
    want_zebra = {"z2": bm25(2, 2, 4, 3, avgdl), "z1": bm25(1, 2, 4, 2, avgdl)}
    assert list(got[0]) == ["z2", "z1"] and all(abs(got[0][d] - s) <= 1e-4 for d, s in want_zebra.items())
    assert list(got[1]) == ["z3", "z1"] and abs(got[1]["z3"] - bm25(3, 2, 4, 4, avgdl)) <= 1e-4
    assert got[2] == {}  # an English stop word: no terms
    IndexWriter(index, show_progress=False).delete(["z2"])
    assert list(rankings(index, ["zebra"], "bm25")[0]) == ["z1"]
    with pytest.raises(TandemError, match="multifield needs lucene-bm25"):
        build_index(config.model_copy(update={"bm25_fields": "multifield"}), tmp_path / "idx2", corpus, log=lambda _: None, show_progress=False)


@pytest.mark.slow
def test_docstore_in_milvus_serves_titles_and_texts_and_keeps_only_ids_locally(pair, scifact):
    """--docstore milvus: the segments' stores keep ids only; documents, hits and a compaction read the
    texts from the collection; a text longer than a VARCHAR is refused before anything is written."""
    import sqlite3

    from tandem.index.corpus import Document
    from tandem.index.dense import FaissConfig
    from tandem.index.milvus import MAX_VARCHAR_BYTES, MilvusConfig
    from tandem.index.segments import IndexSnapshot
    from tandem.retrieval.build import BuildConfig, build_index
    from tandem.retrieval.encode import add_from_encoded
    from tandem.retrieval.searcher import Searcher
    from tandem.retrieval.writer import IndexWriter

    native, _ = pair
    root = scifact["root"]
    config = BuildConfig(corpus=str(root / "built.jsonl"), faiss=FaissConfig(type="flat"), from_encoded=[str(root / "enc-built")],
                         sparse_backend="milvus-sparse", dense_backend="milvus-dense", docstore="milvus",
                         milvus=MilvusConfig(uri=str(root / "lite.db"), collection="docs_in_milvus", documents=True))
    out = root / "docs_in_milvus"
    build_index(config, out, root / "built.jsonl", log=lambda _: None, show_progress=False)
    stores = list(out.glob("segments/*/docs.sqlite"))
    with sqlite3.connect(stores[0]) as con:
        assert con.execute("SELECT count(*), count(title), count(text) FROM docs").fetchone() == (N_BUILT, 0, 0)
    ids = [d["_id"] for d in scifact["built"]]
    with IndexSnapshot.open(out) as remote, IndexSnapshot.open(native) as local:
        assert remote.manifest.docstore == "milvus" and local.manifest.docstore == "sqlite"
        assert remote.get_many(ids) == local.get_many(ids)
        assert remote.get(ids[5]) == local.get(ids[5]) and remote.get(ids[5]).text
    with Searcher.open(out) as searcher:
        hits = searcher.batch_search(scifact["queries"][:5], k=3, mode="hybrid")
    assert all(h.hits for h in hits)

    add_from_encoded(out, [root / "enc-added"], show_progress=False)  # 30 new and one replaced document
    IndexWriter(out, show_progress=False).compact()
    replaced = scifact["replaced"]
    with IndexSnapshot.open(out) as snapshot:
        assert len(snapshot.manifest.segments) == 1 and snapshot.num_docs == N_BUILT + N_ADDED
        assert snapshot.get(replaced["_id"]) == Document(replaced["_id"], replaced["title"], replaced["text"])
        assert sum(1 for d in snapshot if d.text) == sum(1 for d in scifact["built"] + scifact["added"] if d["text"])

    huge = Document("huge", "", "x" * (MAX_VARCHAR_BYTES + 1))
    before = (out / "manifest.json").read_bytes()
    with pytest.raises(TandemError, match="more than the 65,535 a Milvus VARCHAR holds"):
        IndexWriter(out, show_progress=False).add([huge])
    assert (out / "manifest.json").read_bytes() == before


def test_docstore_milvus_needs_the_milvus_backend():
    from tandem.retrieval.build import BuildConfig

    with pytest.raises(TandemError, match="--docstore milvus keeps titles and texts in the Milvus collection"):
        BuildConfig(corpus="c", docstore="milvus").check()
