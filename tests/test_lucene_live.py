"""Live Lucene indexes (tandem.index.lucene.live): hard-link snapshots, add / delete / compact for BM25 and impact.

The central checks: after snapshot + append + delete + force_merge, search gives exactly what a
fresh build of the resulting documents gives (same ids, same order, scores equal to 1e-6); a
searcher opened on the previous generation keeps its results throughout.
"""
from __future__ import annotations

import errno
import json
import os
import random
from pathlib import Path

import pytest

from tandem.index.corpus import Document, read_corpus
from tandem.index.errors import TandemError

pytestmark = pytest.mark.lucene


def fake_lucene_dir(path: Path) -> Path:
    """A directory that looks like a Lucene index to the file-level code (no JVM involved)."""
    path.mkdir(parents=True)
    for name, data in {"segments_2": b"commit", "_0.si": b"segment info", "_0.cfs": b"postings" * 100, "write.lock": b""}.items():
        (path / name).write_bytes(data)
    return path


# -- snapshot (files only, no JVM) -------------------------------------------------------------------

def test_snapshot_hard_links_every_file_but_the_lock(tmp_path):
    from tandem.index.lucene.live import snapshot

    src = fake_lucene_dir(tmp_path / "gen1")
    snapshot(src, tmp_path / "gen2")
    dst = tmp_path / "gen2"
    assert sorted(p.name for p in dst.iterdir()) == ["_0.cfs", "_0.si", "segments_2"]
    for path in dst.iterdir():
        assert path.stat().st_ino == (src / path.name).stat().st_ino  # the same file, no data copied
        assert path.stat().st_nlink == 2
    assert sorted(p.name for p in tmp_path.iterdir()) == ["gen1", "gen2"]  # no temporary directory left
    assert sorted(p.name for p in src.iterdir()) == ["_0.cfs", "_0.si", "segments_2", "write.lock"]

    with pytest.raises(TandemError) as exists:
        snapshot(src, dst)
    assert exists.value.where == str(dst) and "already exists" in exists.value.message
    with pytest.raises(TandemError) as not_index:
        snapshot(tmp_path, tmp_path / "gen3")
    assert not_index.value.where == str(tmp_path) and "not a Lucene index" in not_index.value.message
    assert not (tmp_path / "gen3").exists()


def test_snapshot_copies_when_hard_links_are_impossible(tmp_path, monkeypatch):
    from tandem.index.lucene import live

    src = fake_lucene_dir(tmp_path / "gen1")

    def cross_device(a, b):
        raise OSError(errno.EXDEV, "Invalid cross-device link")

    monkeypatch.setattr(live.os, "link", cross_device)
    live.snapshot(src, tmp_path / "gen2")
    for path in (tmp_path / "gen2").iterdir():
        assert path.read_bytes() == (src / path.name).read_bytes()
        assert path.stat().st_ino != (src / path.name).stat().st_ino


def test_failed_snapshot_leaves_nothing_behind(tmp_path, monkeypatch):
    from tandem.index.lucene import live

    src = fake_lucene_dir(tmp_path / "gen1")

    def io_error(a, b):
        raise OSError(errno.EIO, "Input/output error")

    monkeypatch.setattr(live.os, "link", io_error)
    with pytest.raises(TandemError) as failed:
        live.snapshot(src, tmp_path / "gen2")
    assert failed.value.where == str(tmp_path / "gen2") and "Input/output error" in failed.value.message
    assert sorted(p.name for p in tmp_path.iterdir()) == ["gen1"]


@pytest.mark.parametrize("operation", ["append_bm25", "append_impact", "delete_documents", "force_merge"])
def test_operations_on_a_directory_that_is_not_an_index(tmp_path, operation):
    from tandem.index.lucene import live

    target = tmp_path / "not-an-index"
    target.mkdir()
    (target / "notes.txt").write_text("hello")
    args = {"append_bm25": ([Document("x", "", "text")],), "append_impact": ([("x", {"a": 1})],),
            "delete_documents": (["x"],), "force_merge": ()}[operation]
    with pytest.raises(TandemError) as error:
        getattr(live, operation)(target, *args)
    assert error.value.where == str(target) and "not a Lucene index" in error.value.message
    assert [p.name for p in target.iterdir()] == ["notes.txt"]


# -- BM25: live generations equal a fresh build --------------------------------------------------------

def ranked(searcher, queries: list[str], k: int) -> list[list[tuple[str, float]]]:
    return [searcher.search(query, k) for query in queries]


def assert_same_results(got: list[list[tuple[str, float]]], expected: list[list[tuple[str, float]]]) -> None:
    assert len(got) == len(expected)
    for got_hits, expected_hits in zip(got, expected):
        assert [d for d, _ in got_hits] == [d for d, _ in expected_hits]
        assert [s for _, s in got_hits] == pytest.approx([s for _, s in expected_hits], abs=1e-6)


@pytest.mark.slow
def test_bm25_add_delete_compact_equals_fresh_build(data_dir, tmp_path):
    from tandem.index.lucene.bm25 import LuceneBM25Searcher, build_bm25_index
    from tandem.index.lucene.live import append_bm25, delete_documents, force_merge, index_stats, snapshot

    corpus = read_corpus(data_dir / "beir/scifact/corpus.jsonl")[:320]
    first, added = corpus[:220], corpus[220:]
    replaced = [Document(d.doc_id, d.title, f"{d.text} Zinc supplementation rescues telomere length.") for d in first[:15]]
    deleted = [d.doc_id for d in first[100:130]]
    queries = [json.loads(line)["text"] for line in (data_dir / "beir/scifact/queries.jsonl").read_text().splitlines()[:40]]
    queries.append("zinc telomere")

    build_bm25_index(first, tmp_path / "gen1")
    old = LuceneBM25Searcher(tmp_path / "gen1")
    old_results = ranked(old, queries, 20)
    snapshot(tmp_path / "gen1", tmp_path / "gen2")
    assert append_bm25(tmp_path / "gen2", added + replaced) == len(added) + len(replaced)
    assert delete_documents(tmp_path / "gen2", deleted + deleted[:3] + ["no-such-id"]) == len(deleted)
    assert delete_documents(tmp_path / "gen2", deleted[:5]) == 0  # already gone

    live = LuceneBM25Searcher(tmp_path / "gen2")
    before_merge = live.batch_search(queries, [f"q{i}" for i in range(len(queries))], 100)
    assert not {d for hits in before_merge.values() for d, _ in hits} & set(deleted)
    for hits in before_merge.values():
        assert len({d for d, _ in hits}) == len(hits)  # a replaced document is found once, never twice
    zinc = {d for d, _ in before_merge[f"q{len(queries) - 1}"]}
    assert {d.doc_id for d in replaced} <= zinc  # found by their new text
    assert_same_results(ranked(old, queries, 20), old_results)

    force_merge(tmp_path / "gen2")
    expected_docs = [d for d in first[15:] if d.doc_id not in set(deleted)] + added + replaced
    assert index_stats(tmp_path / "gen2") == {"num_docs": len(expected_docs), "num_deleted": 0, "segments": 1}
    build_bm25_index(expected_docs, tmp_path / "fresh")
    merged, fresh = LuceneBM25Searcher(tmp_path / "gen2"), LuceneBM25Searcher(tmp_path / "fresh")
    assert_same_results(ranked(merged, queries, 20), ranked(fresh, queries, 20))
    qids = [f"q{i}" for i in range(len(queries))]
    batch_merged, batch_fresh = merged.batch_search(queries, qids, 50), fresh.batch_search(queries, qids, 50)
    assert_same_results([batch_merged[q] for q in qids], [batch_fresh[q] for q in qids])
    assert_same_results(ranked(old, queries, 20), old_results)  # the old generation never changed
    assert index_stats(tmp_path / "gen1") == {"num_docs": len(first), "num_deleted": 0, "segments": 1}
    assert not any(p.name == "write.lock" for p in (tmp_path / "gen2").iterdir())
    assert sorted(p.name for p in tmp_path.iterdir()) == ["fresh", "gen1", "gen2"]  # no temporary left
    for searcher in (old, live, merged, fresh):
        searcher.close()


# -- impact: live generations equal a fresh build ------------------------------------------------------

def random_vectors(rng: random.Random, ids: list[str], vocab: list[str]) -> list[tuple[str, dict[str, int]]]:
    return [(doc_id, {t: rng.randint(1, 60) for t in rng.sample(vocab, rng.randint(3, 25))}) for doc_id in ids]


@pytest.mark.slow
def test_impact_add_delete_compact_equals_fresh_build(tmp_path):
    from tandem.index.lucene.impact import LuceneImpactSearcher, build_impact_index
    from tandem.index.lucene.live import append_impact, delete_documents, force_merge, index_stats, snapshot

    rng = random.Random(7)
    vocab = [f"t{i}" for i in range(150)] + ["##ing", "[CLS]", "café"]
    first = random_vectors(rng, [f"d{i}" for i in range(200)], vocab)
    added = random_vectors(rng, [f"n{i}" for i in range(80)], vocab)
    replaced = [(doc_id, {"zzz": 40 + i}) for i, (doc_id, _) in enumerate(first[:10])]
    deleted = [doc_id for doc_id, _ in first[50:75]]
    queries = [{t: rng.randint(1, 9) for t in rng.sample(vocab, rng.randint(2, 6))} for _ in range(30)] + [{"zzz": 1}]

    build_impact_index(first, tmp_path / "gen1")
    old = LuceneImpactSearcher(tmp_path / "gen1")
    old_results = ranked(old, queries, 20)
    snapshot(tmp_path / "gen1", tmp_path / "gen2")
    assert append_impact(tmp_path / "gen2", added + replaced) == len(added) + len(replaced)
    assert delete_documents(tmp_path / "gen2", deleted + ["no-such-id"]) == len(deleted)

    live = LuceneImpactSearcher(tmp_path / "gen2")
    qids = [f"q{i}" for i in range(len(queries))]
    before_merge = live.batch_search(queries, qids, 300)
    assert not {d for hits in before_merge.values() for d, _ in hits} & set(deleted)
    assert before_merge[qids[-1]] == [(doc_id, float(v["zzz"])) for doc_id, v in reversed(replaced)]
    assert_same_results(ranked(old, queries, 20), old_results)

    force_merge(tmp_path / "gen2")
    expected = [(d, v) for d, v in first[10:] if d not in set(deleted)] + added + replaced
    assert index_stats(tmp_path / "gen2") == {"num_docs": len(expected), "num_deleted": 0, "segments": 1}
    build_impact_index(expected, tmp_path / "fresh")
    merged, fresh = LuceneImpactSearcher(tmp_path / "gen2"), LuceneImpactSearcher(tmp_path / "fresh")
    assert_same_results(ranked(merged, queries, 300), ranked(fresh, queries, 300))
    by_id = dict(expected)
    for query, hits in zip(queries, ranked(merged, queries, 300)):
        dots = {d: sum(w * v.get(t, 0) for t, w in query.items()) for d, v in by_id.items() if any(t in v for t in query)}
        assert dict(hits) == pytest.approx(dots, rel=1e-5, abs=1e-5)  # Anserini sums impacts in float32
    assert_same_results(ranked(old, queries, 20), old_results)
    for searcher in (old, live, merged, fresh):
        searcher.close()


# -- update by id, and bad input on a real index -----------------------------------------------------

@pytest.mark.slow
def test_readding_an_id_replaces_it_and_bad_batches_change_nothing(tmp_path):
    from tandem.index.lucene.bm25 import LuceneBM25Searcher, build_bm25_index
    from tandem.index.lucene.impact import LuceneImpactSearcher, build_impact_index
    from tandem.index.lucene.live import append_bm25, append_impact, index_stats

    docs = [Document("a", "Zebras", "Zebras have black and white stripes."),
            Document("b", "Horses", "Horses are domesticated equines."),
            Document("c", "Cooking", "Slow cooking makes meat tender.")]
    build_bm25_index(docs, tmp_path / "bm25", fields="multifield")
    new_b = [Document("b", "Ponies", "Ponies are small horses."), Document("b", "Ponies", "Ponies are small horses and eat hay.")]
    assert append_bm25(tmp_path / "bm25", new_b, fields="multifield") == 1  # the last record of an id wins
    bm25 = LuceneBM25Searcher(tmp_path / "bm25", fields="multifield")
    assert bm25.num_docs == 3
    assert [d for d, _ in bm25.search("hay", 10)] == ["b"]
    assert [d for d, _ in bm25.search("ponies", 10)] == ["b"]
    assert bm25.search("domesticated", 10) == []
    assert append_bm25(tmp_path / "bm25", [Document("c", "", "")], fields="multifield") == 1  # empty: old c removed, nothing indexed
    assert LuceneBM25Searcher(tmp_path / "bm25", fields="multifield").search("cooking", 10) == []
    with pytest.raises(TandemError) as layout:
        append_bm25(tmp_path / "bm25", new_b, fields="bogus")
    assert layout.value.where == "--bm25-fields"

    build_impact_index([("x", {"tok": 5}), ("y", {"tok": 2, "other": 1})], tmp_path / "impact")
    assert append_impact(tmp_path / "impact", [("x", {"new": 3})]) == 1
    impact = LuceneImpactSearcher(tmp_path / "impact")
    assert impact.search({"tok": 1}, 10) == [("y", 2.0)]
    assert impact.search({"new": 2}, 10) == [("x", 6.0)]

    before = sorted(p.name for p in (tmp_path / "impact").iterdir())
    with pytest.raises(TandemError) as bad_vector:
        append_impact(tmp_path / "impact", [("z", {"ok": 1}), ("w", {"bad token": 1})])
    assert bad_vector.value.where == "document w"
    with pytest.raises(TandemError) as wrong_kind:  # impact postings into a BM25 index: Lucene refuses the schema change
        append_impact(tmp_path / "bm25", [("z", {"ok": 1})])
    assert wrong_kind.value.where == str(tmp_path / "bm25")
    assert sorted(p.name for p in (tmp_path / "impact").iterdir()) == before
    assert index_stats(tmp_path / "impact")["num_docs"] == 2 and index_stats(tmp_path / "bm25")["num_docs"] == 2
    assert sorted(p.name for p in tmp_path.iterdir()) == ["bm25", "impact"]
    for searcher in (bm25, impact):
        searcher.close()
