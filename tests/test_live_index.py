"""Live indexes (issue 10 §2): add / delete / compact give what a fresh build of the result gives.

The central property (hypothesis): after any short sequence of adds (new ids and replacements),
deletes (present and unknown ids) and compactions, the sparse (inference-free) and dense top-k
equal — ids, order, scores to 1e-6 — those of a fresh build of the resulting corpus written in the
index's live order (segment by segment, row by row: ``IndexSnapshot.live_doc_ids()``).

The IDF policy makes the sparse comparison subtle. Inference-free query weights are the IDF of a
corpus, and that corpus is, by policy (``retrieval/backends/sparse_common.py``), the one the index
was *created* from, frozen across adds and deletes and recomputed over the live documents by
``compact`` (then frozen again). A fresh build uses the IDF of the resulting corpus, so after an
add or a delete the two indexes legitimately score queries differently. The test therefore checks
two things separately:

1. the policy itself: the index's query weights are exactly the IDF of the documents that were
   live at creation or at the last ``compact`` (tracked by the test's own model of the index);
2. the document side: the same query vectors (the live index's, i.e. the policy's) searched in
   the live index and in the fresh build give the same top-k.

Together they say "live index == fresh build under the IDF policy". A separate test checks the
case where the policy and a fresh build agree exactly (right after ``compact``): there the whole
``Searcher`` output, query encoding included, equals the fresh build's.
"""
from __future__ import annotations

import shutil
import subprocess
import sys
import tempfile
import threading
import time
from collections import OrderedDict
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from conftest import REPO, TINY_DOCS
from tandem.index.corpus import Document
from tandem.index.errors import TandemError
from tandem.index.manifest import read_manifest
from live_helpers import BASE, POOL, QUERIES, VARIANTS, assert_same_rankings, build, on_disk_garbage, replacement, write_docs

K = 8

@pytest.fixture(scope="module")
def initial_index(tmp_path_factory) -> Path:
    """Sparse (inference-free) + dense index of BASE, copied by each example that changes it."""
    root = tmp_path_factory.mktemp("live")
    return build(write_docs(root / "base.jsonl", BASE), root / "base-index", dense="minilm-l6")


def query_weights(searcher) -> np.ndarray:
    from tandem.retrieval.backends.sparse_common import QUERY_WEIGHTS

    return np.load(searcher.root / searcher.manifest.component("sparse").shared_dir / QUERY_WEIGHTS)


def policy_idf(searcher, idf_docs: list[Document]) -> np.ndarray:
    """What the IDF policy says the query weights are: the IDF of ``idf_docs`` (live at creation or last compact)."""
    from tandem.retrieval.backends.sparse_common import corpus_idf

    tokenizer = searcher.retriever("sparse").tokenizer
    return corpus_idf(tokenizer, int(searcher.manifest.settings("sparse")["encoder"]["vocab_size"]), idf_docs)


# -- the model of an index the test keeps beside the real one --------------------------------------
class Model:
    """Live documents in index order, and the documents the IDF table was computed from."""

    def __init__(self, docs: list[Document]) -> None:
        self.live: OrderedDict[str, Document] = OrderedDict((d.doc_id, d) for d in docs)
        self.idf_docs = list(docs)

    def add(self, docs: list[Document]) -> int:
        """A new segment at the end; ids already live are replaced (their old rows deleted). Returns replacements."""
        replaced = sum(d.doc_id in self.live for d in docs)
        for doc in docs:
            self.live.pop(doc.doc_id, None)
        for doc in docs:
            self.live[doc.doc_id] = doc
        return replaced

    def delete(self, doc_ids: list[str]) -> None:
        for doc_id in doc_ids:
            self.live.pop(doc_id, None)

    def compact(self) -> None:
        self.idf_docs = list(self.live.values())


add_ops = st.tuples(st.just("add"), st.lists(st.integers(0, len(POOL) - 1), max_size=3, unique=True),
                    st.lists(st.integers(0, 99), max_size=2), st.integers(0, len(VARIANTS) - 1))
delete_ops = st.tuples(st.just("delete"), st.lists(st.integers(0, 99), max_size=3), st.integers(0, 2))
# the log merge policy with this factor and floor (1: levels from 1 document up; 1,000: every segment here on one level)
merge_ops = st.tuples(st.just("merge"), st.integers(2, 3), st.sampled_from([1, 1_000]))
operations = st.lists(st.one_of(add_ops, delete_ops, st.just(("compact",)), merge_ops), max_size=6)
# adds first, so that the merge policy has segments to merge
merge_sequences = st.tuples(st.lists(add_ops, min_size=2, max_size=4), st.lists(st.one_of(delete_ops, add_ops), max_size=2), merge_ops).map(
    lambda parts: [*parts[0], *parts[1], parts[2]])


def apply(writer, model: Model, op: tuple) -> None:
    """Run one operation on the index and on the model, checking what the writer reports."""
    live = list(model.live)
    if op[0] == "add":
        _, pool_picks, replace_picks, variant = op
        batch = {POOL[i].doc_id: POOL[i] for i in pool_picks}
        for pick in replace_picks if live else []:
            batch[live[pick % len(live)]] = replacement(live[pick % len(live)], variant)
        docs = list(batch.values()) or [POOL[0]]
        report = writer.add(docs)
        assert (report.added, report.replaced) == (len(docs), model.add(docs))
    elif op[0] == "delete":
        _, picks, num_unknown = op
        present = list(dict.fromkeys(live[p % len(live)] for p in picks)) if live else []
        unknown = [f"ghost-{u}" for u in range(num_unknown)]
        report = writer.delete(present + unknown)
        assert (report.deleted, report.unknown_ids) == (len(present), unknown)
        model.delete(present)
    elif op[0] == "merge":  # adjacent segments merged: the live order and the IDF table stay as they were
        from tandem.index.merge_policy import MergePolicy

        before = len(read_manifest(writer.root).segments)
        report = writer.merge(MergePolicy(merge_factor=op[1], min_merge_docs=op[2]))
        assert report.num_segments == before - report.merged_segments + report.merges_written
    else:
        report = writer.compact()
        model.compact()
    assert report.num_docs == len(model.live)


def expected_rankings(model: Model, workdir: Path, query_vectors, live_searcher) -> tuple[list, list]:
    """(sparse, dense) top-K of a fresh build of the model's corpus in live order, searched with the live
    index's query vectors (the IDF policy's) for sparse; empty rankings when no document is live."""
    from tandem.retrieval.searcher import Searcher

    if not model.live:
        return [{} for _ in QUERIES], [{} for _ in QUERIES]
    fresh = Searcher.open(build(write_docs(workdir / "fresh.jsonl", list(model.live.values())), workdir / "fresh", dense="minilm-l6"))
    try:
        assert fresh.snapshot.live_doc_ids() == list(model.live)
        sparse = [fresh.retriever("sparse").search_vector(v, K) for v in query_vectors]
        return sparse, fresh.retrieve("dense", QUERIES, K)
    finally:
        fresh.close()


@pytest.mark.slow
@settings(max_examples=12, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(ops=st.one_of(operations, merge_sequences))
def test_any_sequence_of_changes_equals_a_fresh_build(initial_index, ops):
    from tandem.retrieval.searcher import Searcher
    from tandem.retrieval.writer import IndexWriter

    with tempfile.TemporaryDirectory(prefix="tandem-live-") as tmp:
        workdir = Path(tmp)
        root = workdir / "index"
        shutil.copytree(initial_index, root)
        model = Model(BASE)
        writer = IndexWriter(root, show_progress=False)
        for op in ops:
            apply(writer, model, op)

        live = Searcher.open(root)
        try:
            assert live.snapshot.live_doc_ids() == list(model.live)
            assert {d: live.document(d).text for d in model.live} == {d: doc.text for d, doc in model.live.items()}
            assert np.array_equal(query_weights(live), policy_idf(live, model.idf_docs))  # the IDF policy
            vectors = live.retriever("sparse").encode(QUERIES)
            live_sparse = [live.retriever("sparse").search_vector(v, K) for v in vectors]
            live_dense = live.retrieve("dense", QUERIES, K)
            want_sparse, want_dense = expected_rankings(model, workdir, vectors, live)
        finally:
            live.close()
        assert_same_rankings(live_sparse, want_sparse, QUERIES, f"sparse after {ops}")
        assert_same_rankings(live_dense, want_dense, QUERIES, f"dense after {ops}")
        assert on_disk_garbage(root) == []


def copy_index(src: Path, dst: Path) -> Path:
    shutil.copytree(src, dst)
    return dst


def searcher_results(searcher, names: list[str]) -> dict[str, list]:
    return {name: searcher.retrieve(name, QUERIES, K) for name in names}


def change_then_compact(root: Path) -> list[Document]:
    """Add (new ids and a replacement), delete (present and unknown ids), compact; returns the live documents."""
    from tandem.retrieval.writer import IndexWriter

    writer = IndexWriter(root, show_progress=False)
    writer.add([POOL[0], POOL[1], replacement("b03", 0), POOL[4]])
    writer.delete(["b05", "p0", "ghost"])
    writer.add([replacement("p1", 2), POOL[6]])
    report = writer.compact()
    assert (report.num_segments, report.deleted) == (1, 4)  # b03, b05, p0 and p1's first version
    # segment 1: BASE without b03, b05; segment 2: p0 (deleted), p1 (replaced), b03', p4; segment 3: p1', p6
    return [d for d in BASE if d.doc_id not in ("b03", "b05")] + [replacement("b03", 0), POOL[4], replacement("p1", 2), POOL[6]]


@pytest.mark.slow
def test_after_compact_the_searcher_equals_a_fresh_build(initial_index, tmp_path):
    """Right after compact the IDF policy and a fresh build agree: every mode, query encoding included."""
    from tandem.retrieval.searcher import Searcher

    root = copy_index(initial_index, tmp_path / "index")
    live_docs = change_then_compact(root)
    fresh_root = build(write_docs(tmp_path / "fresh.jsonl", live_docs), tmp_path / "fresh", dense="minilm-l6")
    live, fresh = Searcher.open(root), Searcher.open(fresh_root)
    try:
        assert live.snapshot.live_doc_ids() == fresh.snapshot.live_doc_ids() == [d.doc_id for d in live_docs]
        assert np.array_equal(query_weights(live), query_weights(fresh))
        for mode in ("sparse", "dense", "hybrid"):
            got, want = live.batch_search(QUERIES, K, mode), fresh.batch_search(QUERIES, K, mode)
            as_rankings = [[{h.doc_id: h.score for h in r.hits} for r in results] for results in (got, want)]
            assert_same_rankings(*as_rankings, QUERIES, mode)
    finally:
        live.close()
        fresh.close()


def assert_within_quantisation_bound(live, vectors, exact, bound_scale: float) -> None:
    """Every live (quantised) top-K score is within ``bound_scale * sum|q|`` of the document's exact
    score, and every document whose exact score beats the live K-th document's by more than twice
    that is in the live top K (``exact``: all exact scores per query)."""
    for v, scores in zip(vectors, exact):
        bound = bound_scale * float(np.abs(v.weights).sum()) * (1 + 1e-6)
        got = live.retriever("sparse").search_vector(v, K)
        assert got, "a quantised live index found nothing"
        for doc_id, score in got.items():
            assert abs(score - scores[doc_id]) <= bound, (doc_id, score, scores[doc_id], bound)
        kth_exact = min(scores[d] for d in got)
        must = {d for d, s in scores.items() if s > kth_exact + 2 * bound}
        assert must <= set(got), (must - set(got), bound)


@pytest.mark.slow
def test_a_quantised_live_index_stays_within_its_bound(tmp_path):
    """uint8 (the default): each segment quantises with its own scale (largest weight / 255), so a live
    index is not bit-equal to a fresh build, but every score stays within its segment's bound of the
    exact (float32) score, before compact and after it (which re-quantises the merged rows: the bound
    is then the sum of the old and new scales)."""
    from tandem.retrieval.searcher import Searcher
    from tandem.retrieval.writer import IndexWriter

    root = build(write_docs(tmp_path / "base.jsonl", BASE), tmp_path / "index", sparse_weights="uint8")
    writer = IndexWriter(root, show_progress=False)
    writer.add([POOL[0], POOL[1], replacement("b03", 0), POOL[4]])
    writer.delete(["b05", "p0"])
    writer.add([replacement("p1", 2), POOL[6]])

    def exact_scores(live) -> tuple[list, list]:
        vectors = live.retriever("sparse").encode(QUERIES)
        fresh = Searcher.open(build(write_docs(tmp_path / "fresh.jsonl", [live.document(d) for d in live.snapshot.live_doc_ids()]),
                                    tmp_path / f"fresh-{live.manifest.generation}"))
        try:
            assert fresh.manifest.settings("sparse")["index"]["weights"] == "float32"
            n = len(fresh.snapshot.live_doc_ids())
            return vectors, [fresh.retriever("sparse").search_vector(v, n) for v in vectors]
        finally:
            fresh.close()

    live = Searcher.open(root)
    try:
        scales = [index.scale for _, index in live.retriever("sparse").segments]
        assert len(scales) == 3 and all(index.info.config.weights == "uint8" for _, index in live.retriever("sparse").segments)
        vectors, exact = exact_scores(live)
        assert_within_quantisation_bound(live, vectors, exact, max(scales))
    finally:
        live.close()
    writer.compact()
    live = Searcher.open(root)
    try:
        (_, merged), = live.retriever("sparse").segments
        vectors, exact = exact_scores(live)
        assert_within_quantisation_bound(live, vectors, exact, max(scales) + merged.scale)
    finally:
        live.close()


@pytest.mark.slow
@pytest.mark.lucene
def test_bm25_and_impact_after_compact_equal_a_fresh_build(tmp_path):
    """Lucene keeps deleted documents in its statistics until a merge: after compact, BM25 and impact
    scores equal a fresh build's (and the native sparse ones too, the IDF recomputed)."""
    from tandem.retrieval.searcher import Searcher

    lucene = {"bm25": True, "lucene_impact": True}
    root = build(write_docs(tmp_path / "base.jsonl", BASE), tmp_path / "index", **lucene)
    live_docs = change_then_compact(root)
    fresh_root = build(write_docs(tmp_path / "fresh.jsonl", live_docs), tmp_path / "fresh", **lucene)
    live, fresh = Searcher.open(root), Searcher.open(fresh_root)
    try:
        assert live.snapshot.live_doc_ids() == fresh.snapshot.live_doc_ids()
        got, want = searcher_results(live, ["bm25", "impact", "sparse"]), searcher_results(fresh, ["bm25", "impact", "sparse"])
        for name in got:
            assert_same_rankings(got[name], want[name], QUERIES, name)
    finally:
        live.close()
        fresh.close()


# -- readers, the writer lock, the CLI -----------------------------------------------------------
TINY_QUERIES = ["Eiffel Tower Paris", "vitamin bone density", "python programming language"]


def tiny_rankings(searcher) -> list[dict[str, float]]:
    return searcher.retrieve("sparse", TINY_QUERIES, 5)


def test_an_open_reader_keeps_its_commit_until_closed(tiny_if_index, tmp_path):
    from tandem.index.commits import commit_path
    from tandem.index.segments import segment_dir
    from tandem.retrieval.searcher import Searcher
    from tandem.retrieval.writer import IndexWriter

    root = copy_index(tiny_if_index, tmp_path / "index")
    old = Searcher.open(root)
    before, before_ids = tiny_rankings(old), old.snapshot.live_doc_ids()
    old_segments = [segment_dir(root, s.name) for s in old.manifest.segments]
    assert before[0] and before[1] and before_ids == ["d1", "d2", "d3", "d4", "d5", "d6"]

    writer = IndexWriter(root, show_progress=False)
    writer.add([Document("d3", "Vitamin C", "Vitamin C prevents scurvy."), Document("n1", "Eiffel", "Gustave Eiffel built the tower in Paris.")])
    writer.delete(["d1", "d4"])
    assert writer.compact().num_segments == 1

    assert tiny_rankings(old) == before and old.snapshot.live_doc_ids() == before_ids  # the same ids, the same scores
    assert old.document("d1").text == TINY_DOCS[0]["text"] and all(p.is_dir() for p in old_segments)
    assert sorted(p.name for p in (root / "commits").glob("*.json")) == ["000001.json", "000004.json"]  # 2 and 3 had no reader

    new = Searcher.open(root)
    after = tiny_rankings(new)
    assert new.generation == 4 and new.snapshot.live_doc_ids() == ["d2", "d5", "d6", "d3", "n1"]
    assert list(after[0])[:1] == ["n1"] and "d1" not in after[0] and new.document("d3").title == "Vitamin C"
    old.close()
    assert all(p.is_dir() for p in old_segments)  # closing removes nothing: the next writer collects

    writer.delete(["d2"])
    assert not any(p.exists() for p in old_segments) and not commit_path(root, 1).exists()
    assert tiny_rankings(new) == after and new.document("d2") is not None  # the reader of generation 4 is untouched
    new.close()
    assert on_disk_garbage(root) == ["commits/000004.json"]  # held during that delete; the next writer collects it


def test_a_reopen_reads_only_the_new_segments_stores(tiny_if_index, tmp_path):
    """As Lucene's openIfChanged keeps the readers of unchanged segments: a snapshot opened while the previous
    commit is still open shares that commit's document stores (ids and their lookup are not read again), reads
    the new segment's, and finds every id where it is live (a replaced id in its new segment, not its deleted row)."""
    import gc
    import weakref

    from tandem.index.segments import IndexSnapshot
    from tandem.retrieval.writer import IndexWriter

    root = copy_index(tiny_if_index, tmp_path / "index")
    old = IndexSnapshot.open(root)
    IndexWriter(root, show_progress=False).add([Document("d3", "Vitamin C", "Vitamin C prevents scurvy."), Document("n1", "Eiffel", "The tower.")],
                                               merge=False)
    new = IndexSnapshot.open(root)
    assert len(new.segments) == 2 and new.segments[0].docs is old.segments[0].docs  # the same store object
    assert new.segments[1].docs.doc_ids == ["d3", "n1"]
    assert new.locate("d3") == (1, 0) and new.get("d3").title == "Vitamin C" and old.locate("d3") == (0, 2)
    assert new.num_docs == 7 and "n1" in new and "n1" not in old and new.locate("gone") is None
    assert [d.doc_id for d in new] == new.live_doc_ids() == ["d1", "d2", "d4", "d5", "d6", "d3", "n1"]
    first = weakref.ref(old.segments[0].docs)
    old.close(), new.close()
    del old, new
    gc.collect()
    assert first() is None  # held weakly: the last snapshot closed drops it, and the next open reads the store afresh


def test_a_reopened_sparse_retriever_keeps_the_unchanged_segments_indexes_and_checks(tiny_if_index, tmp_path):
    from tandem.retrieval.searcher import Searcher
    from tandem.retrieval.writer import IndexWriter

    root = copy_index(tiny_if_index, tmp_path / "index")
    old = Searcher.open(root)
    before = old.retriever("sparse")
    before.search(["vitamin bone"], 3)
    floors, deadline = before.segments[0][1]._kth_weight_cache(10), time.monotonic() + 60
    while np.isnan(floors).any() and time.monotonic() < deadline:  # the pass after open fills every term's floor for k=10
        time.sleep(0.01)
    assert not np.isnan(floors).any()
    IndexWriter(root, show_progress=False).add([Document("n1", "Kangaroo", "Kangaroos hop across the Australian outback.")], merge=False)
    new = Searcher.open(root)
    after = new.retriever("sparse")
    assert after.segments[0][1] is before.segments[0][1] and after._opened[0].checks is before._opened[0].checks  # opened and checked once
    assert len(after.segments) == 2 and after.segments[1][1] is not before.segments[0][1]
    assert list(after.search(["kangaroos in the australian outback"], 1)[0]) == ["n1"]
    assert "n1" not in before.search(["kangaroos in the australian outback"], 3)[0]  # the old commit's reader is unchanged
    old.close(), new.close()


HOLDER = """
import sys
from tandem.index.locking import WriterLock
with WriterLock(sys.argv[1], "test-holder"):
    print("locked", flush=True)
    sys.stdin.readline()
"""


def test_a_second_writer_gets_one_line_or_waits(tiny_if_index, tmp_path, capsys):
    from tandem.index.segments import IndexSnapshot
    from tandem.retrieval.writer import IndexWriter
    from tandem.cli import main

    root = copy_index(tiny_if_index, tmp_path / "index")
    ids = tmp_path / "ids.txt"
    ids.write_text("d1\n")
    holder = subprocess.Popen([sys.executable, "-c", HOLDER, str(root)], cwd=REPO, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "locked"
        with pytest.raises(TandemError) as refused:
            IndexWriter(root).delete(["d1"])
        assert refused.value.where == str(root.resolve())
        assert f"pid {holder.pid}, test-holder" in refused.value.message and "--wait" in refused.value.message
        assert main(["index", "delete", "--index", str(root), "--ids", str(ids)]) == 2
        err = capsys.readouterr().err
        assert err.startswith(f"tandem: error: {root.resolve()}: another writer holds the index lock") and err.count("\n") == 1
        assert read_manifest(root).generation == 1

        threading.Timer(1.0, lambda: (holder.stdin.write("\n"), holder.stdin.flush())).start()
        started = time.monotonic()
        assert main(["index", "delete", "--index", str(root), "--ids", str(ids), "--wait", "60"]) == 0
        assert time.monotonic() - started >= 1.0
        assert holder.wait(timeout=30) == 0
    finally:
        holder.kill() if holder.poll() is None else None
    snapshot = IndexSnapshot.open(root)
    assert snapshot.generation == 2 and "d1" not in snapshot
    snapshot.close()


def test_cli_delete_reports_unknown_ids_and_strict_deletes_nothing(tiny_if_index, tmp_path, capsys):
    from tandem.index.segments import IndexSnapshot
    from tandem.cli import main

    root = copy_index(tiny_if_index, tmp_path / "index")
    ids = tmp_path / "ids.txt"
    ids.write_text("d2\nghost-1\n\nghost-2\nd2\n")
    assert main(["index", "delete", "--index", str(root), "--ids", str(ids)]) == 0
    out, err = capsys.readouterr()
    assert "deleted 1" in out and "2 unknown id(s) (e.g. 'ghost-1', 'ghost-2')" in out
    assert err == "tandem: warning: 2 id(s) were not in the index\n"

    ids.write_text("d3\nghost-3\n")
    assert main(["index", "delete", "--index", str(root), "--ids", str(ids), "--strict"]) == 2
    out, err = capsys.readouterr()
    assert err == "tandem: error: --ids: 1 id(s) not in the index, e.g. 'ghost-3' (nothing deleted)\n"
    snapshot = IndexSnapshot.open(root)
    assert snapshot.generation == 2 and snapshot.live_doc_ids() == ["d1", "d3", "d4", "d5", "d6"]
    snapshot.close()
    assert on_disk_garbage(root) == []

    ids.write_text("ghost-4\n")  # nothing to delete: no new commit, nothing left behind
    assert main(["index", "delete", "--index", str(root), "--ids", str(ids)]) == 0
    assert read_manifest(root).generation == 2 and on_disk_garbage(root) == []


def test_a_batch_repeating_an_id_is_refused_before_any_work(tiny_if_index, tmp_path):
    """The same id twice in one add (possible through the API, not from a corpus file) is one clear error, not an SQLite traceback."""
    from tandem.retrieval.writer import IndexWriter

    root = copy_index(tiny_if_index, tmp_path / "index")
    batch = [Document("n1", "", "first version"), Document("d2", "", "replaces d2"), Document("n1", "", "second version")]
    with pytest.raises(TandemError) as refused:
        IndexWriter(root).add(batch)
    assert (refused.value.where, refused.value.message) == ("documents[2]", "duplicate document id 'n1' (also at documents[0]); nothing added")
    assert read_manifest(root).generation == 1 and on_disk_garbage(root) == []


def _sparse_rankings(root: Path, vectors=None):
    from tandem.retrieval.searcher import Searcher

    searcher = Searcher.open(root)
    try:
        retriever = searcher.retriever("sparse")
        vectors = vectors if vectors is not None else retriever.encode(QUERIES)
        return vectors, [retriever.search_vector(v, K) for v in vectors], searcher.snapshot.live_doc_ids()
    finally:
        searcher.close()


@pytest.mark.slow
def test_adds_are_merged_by_the_policy_and_search_as_before(tmp_path):
    """Every 3 segments of one level (all under the 1,000-document floor here) become one after an add; deleted rows of merged
    segments go; the same query vectors rank as in the same index changed without merging."""
    from tandem.index.merge_policy import MergePolicy
    from tandem.retrieval.integrity import verify_index
    from tandem.retrieval.writer import IndexWriter

    merged = build(write_docs(tmp_path / "base.jsonl", BASE), tmp_path / "merged", merge_policy=MergePolicy(merge_factor=3, min_merge_docs=1_000))
    unmerged = copy_index(merged, tmp_path / "unmerged")
    batches = [POOL[0:2], POOL[2:4], [replacement(BASE[0].doc_id, 0), POOL[4]], POOL[5:7]]
    reports = []
    for i, batch in enumerate(batches):
        if i == 2:
            for root in (merged, unmerged):
                IndexWriter(root, show_progress=False).delete([BASE[1].doc_id])
        reports.append(IndexWriter(merged, show_progress=False).add(batch))
        IndexWriter(unmerged, show_progress=False).add(batch, merge=False)

    assert [(r.merged_segments, r.merges_written, r.num_segments) for r in reports] == [(0, 0, 2), (3, 1, 1), (0, 0, 2), (3, 1, 1)]
    manifest = read_manifest(merged)
    assert [h.operation for h in manifest.history].count("merge") == 2
    assert sum(s.num_deleted for s in manifest.segments) == 0  # the deleted and the replaced rows were dropped by the merges
    assert len(read_manifest(unmerged).segments) == 5
    vectors, want, want_ids = _sparse_rankings(unmerged)
    _, got, got_ids = _sparse_rankings(merged, vectors)
    assert got_ids == want_ids
    assert_same_rankings(got, want, QUERIES, "sparse after merges")
    assert on_disk_garbage(merged) == []
    assert verify_index(merged)[1] == []


@pytest.mark.slow
def test_cli_add_no_merge_then_index_merge(tmp_path, capsys):
    from tandem.cli import main

    from tandem.index.merge_policy import MergePolicy

    root = build(write_docs(tmp_path / "base.jsonl", BASE), tmp_path / "index", merge_policy=MergePolicy(merge_factor=2, min_merge_docs=1_000))
    corpus = write_docs(tmp_path / "new.jsonl", POOL[:2])
    assert main(["index", "add", "--index", str(root), "--corpus", str(corpus), "--no-merge"]) == 0
    assert "merged" not in capsys.readouterr().out and len(read_manifest(root).segments) == 2
    assert main(["index", "info", str(root)]) == 0
    assert "merging      every 2 segments of one size level after an add" in capsys.readouterr().out
    assert main(["index", "merge", "--index", str(root)]) == 0
    out = capsys.readouterr().out
    assert out.startswith("merge: generation 3") and "merged 2 segments into 1" in out and "in 1 segment(s)" in out
    assert main(["index", "merge", "--index", str(root)]) == 0  # nothing to merge: no commit
    assert read_manifest(root).generation == 3 and on_disk_garbage(root) == []
