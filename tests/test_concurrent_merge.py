"""Merging while the index stays writable (retrieval/concurrent_merge.py): the merged segments are written
without the writer lock, so adds and deletes go on; at commit, rows deleted or replaced meanwhile are deleted
in the merged segment, and a merge whose segments another writer changed is dropped. The result searches as
the same index changed without merging (same live order, same rankings)."""
from __future__ import annotations

import threading

import pytest

from live_helpers import BASE, POOL, QUERIES, assert_same_rankings, build, on_disk_garbage, replacement, write_docs
from tandem.index.manifest import read_manifest
from tandem.index.merge_policy import MergePolicy

pytestmark = pytest.mark.slow  # each test builds a small inference-free index (a few seconds)

K = 10


def rankings(root, vectors=None):
    from tandem.retrieval.searcher import Searcher

    with Searcher.open(root) as searcher:
        retriever = searcher.retriever("sparse")
        vectors = vectors if vectors is not None else retriever.encode(QUERIES)
        return vectors, [retriever.search_vector(v, K) for v in vectors], searcher.snapshot.live_doc_ids()


def two_segment_index(tmp_path, name: str):
    """BASE plus one added segment of two POOL documents, not merged yet (merge factor 2)."""
    from tandem.retrieval.writer import IndexWriter

    root = build(write_docs(tmp_path / f"{name}.jsonl", BASE), tmp_path / name, merge_policy=MergePolicy(merge_factor=2, min_merge_docs=1_000))
    IndexWriter(root, show_progress=False).add(POOL[0:2], merge=False)
    assert len(read_manifest(root).segments) == 2
    return root


def while_merging(monkeypatch, action):
    """Run ``action()`` once, after the concurrent merge has written its first merged segment and before it commits."""
    from tandem.retrieval import writer as writer_module

    original = writer_module.merge_segment
    done = []

    def merge_then_act(*args, **kwargs):
        info = original(*args, **kwargs)
        if not done:
            done.append(True)
            action()
        return info

    monkeypatch.setattr(writer_module, "merge_segment", merge_then_act)
    return done


def test_deletes_and_replacements_made_during_a_merge_are_carried_into_it(tmp_path, monkeypatch):
    from tandem.retrieval.integrity import verify_index
    from tandem.retrieval.writer import IndexWriter

    root = two_segment_index(tmp_path, "merged")
    reference = two_segment_index(tmp_path, "reference")

    def change(target):
        IndexWriter(target, show_progress=False).delete([BASE[1].doc_id])  # takes the writer lock: the merge does not hold it
        IndexWriter(target, show_progress=False).add([replacement(POOL[0].doc_id, 0), POOL[3]], merge=False)

    done = while_merging(monkeypatch, lambda: change(root))
    report = IndexWriter(root, show_progress=False).merge_concurrently()
    change(reference)

    # round 1 merged the two first segments, carrying the delete and the replacement made meanwhile; round 2
    # (merge factor 2) merged its segment with the one added meanwhile, dropping the deleted rows
    assert done and (report.merged_segments, report.merges_written, report.num_segments) == (4, 2, 1)
    manifest = read_manifest(root)
    assert [h.operation for h in manifest.history][-5:] == ["add", "delete", "add", "merge", "merge"]
    assert [(s.num_docs, s.num_deleted) for s in manifest.segments] == [(len(BASE) + 2, 0)]  # BASE[1] and POOL[0]'s old version are gone
    vectors, want, want_ids = rankings(reference)
    _, got, got_ids = rankings(root, vectors)
    assert got_ids == want_ids and BASE[1].doc_id not in got_ids
    assert_same_rankings(got, want, QUERIES, "sparse after a concurrent merge")
    assert on_disk_garbage(root) == [] and verify_index(root)[1] == []


def test_a_merge_whose_segments_were_compacted_meanwhile_is_dropped(tmp_path, monkeypatch):
    from tandem.retrieval.writer import IndexWriter

    root = two_segment_index(tmp_path, "index")
    done = while_merging(monkeypatch, lambda: IndexWriter(root, show_progress=False).compact())
    report = IndexWriter(root, show_progress=False).merge_concurrently()
    manifest = read_manifest(root)
    assert done and report.merged_segments == 0 and report.merges_written == 0
    assert manifest.history[-1].operation == "compact" and len(manifest.segments) == 1 and manifest.num_docs == len(BASE) + 2
    assert on_disk_garbage(root) == []


def test_adds_go_on_while_a_background_merge_runs(tmp_path, monkeypatch):
    """add(merge="background") returns at once; the index takes another add while the merge is still writing."""
    from tandem.retrieval.writer import IndexWriter

    root = two_segment_index(tmp_path, "index")
    release, started = threading.Event(), threading.Event()
    while_merging(monkeypatch, lambda: (started.set(), release.wait(60)))
    writer = IndexWriter(root, show_progress=False)
    first = writer.add([POOL[2]], merge="background")  # the policy merges the two older segments on the thread
    assert first.merged_segments == 0 and started.wait(60)
    second = IndexWriter(root, show_progress=False).add([POOL[3]], merge=False)  # not blocked by the merge
    assert second.num_segments == 4
    release.set()
    assert writer.wait_for_merges(120) and writer.merge_error is None
    assert writer.last_merge is not None and writer.last_merge.merged_segments >= 2
    manifest = read_manifest(root)
    assert manifest.num_docs == len(BASE) + 4 and len(manifest.segments) < 4
    assert on_disk_garbage(root) == []


def test_a_serial_and_a_concurrent_merge_give_the_same_index(tmp_path):
    from tandem.retrieval.writer import IndexWriter

    serial, concurrent = two_segment_index(tmp_path, "serial"), two_segment_index(tmp_path, "concurrent")
    IndexWriter(serial, show_progress=False).merge()
    writer = IndexWriter(concurrent, show_progress=False)
    report = writer.merge_concurrently()
    assert report.merged_segments == 2 and report.num_segments == len(read_manifest(serial).segments) == 1
    vectors, want, want_ids = rankings(serial)
    _, got, got_ids = rankings(concurrent, vectors)
    assert got_ids == want_ids
    assert_same_rankings(got, want, QUERIES, "serial vs concurrent merge")
    assert writer.merge_concurrently().merged_segments == 0  # nothing left to merge: no commit
    assert read_manifest(concurrent).generation == read_manifest(serial).generation
    assert on_disk_garbage(concurrent) == [] and on_disk_garbage(serial) == []


def test_a_merge_area_is_removed_once_its_merge_is_gone_and_kept_while_it_runs(tmp_path):
    from tandem.index.merge_area import MERGING, merge_area
    from tandem.retrieval.writer import IndexWriter

    root = build(write_docs(tmp_path / "base.jsonl", BASE), tmp_path / "index")
    stale = root / MERGING / "deadbeef"
    (stale / "segments").mkdir(parents=True)
    (root / MERGING / "deadbeef.lock").write_text("")  # nobody holds it: its merge died
    with merge_area(root) as running:
        (running / "segments").mkdir()
        IndexWriter(root, show_progress=False).delete(["not-there"])  # any writer cleans up when it starts
        assert not stale.exists() and running.is_dir()
    assert not (root / MERGING).exists() or not any((root / MERGING).iterdir())
    IndexWriter(root, show_progress=False).delete(["not-there"])
    assert on_disk_garbage(root) == []


def test_merge_must_be_true_false_or_background(tmp_path):
    from tandem.index.errors import TandemError
    from tandem.retrieval.writer import IndexWriter

    root = build(write_docs(tmp_path / "base.jsonl", BASE), tmp_path / "index")
    with pytest.raises(TandemError, match="merge must be True, False or 'background'"):
        IndexWriter(root, show_progress=False).add([POOL[0]], merge="later")
    assert read_manifest(root).num_docs == len(BASE)
