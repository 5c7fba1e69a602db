"""Document reordering by recursive graph bisection (index/reorder.py, `tandem index build --reorder bp`):
a permutation that groups documents sharing terms, documents that move with all their vectors, and an index
built with it that answers every query with the same documents and scores as one built in corpus order."""
from __future__ import annotations

import numpy as np
import pytest
import scipy.sparse as sp

from tandem.index.reorder import bp_order


def test_two_interleaved_topics_end_up_in_two_runs():
    """Even rows use terms 0-9, odd rows terms 10-19: the order puts each topic in one half."""
    rng = np.random.default_rng(0)
    rows = []
    for i in range(256):
        base = 0 if i % 2 == 0 else 10
        rows.append(sorted(rng.choice(10, size=4, replace=False) + base))
    indptr = np.arange(0, 4 * 256 + 1, 4)
    matrix = sp.csr_matrix((np.ones(4 * 256, np.float32), np.concatenate(rows), indptr), shape=(256, 20))
    order = bp_order(matrix, show_progress=False)
    assert sorted(order.tolist()) == list(range(256))
    topics = order % 2
    assert set(topics[:128]) != set(topics[128:]) and len(set(topics[:128])) == 1  # each half holds one topic
    assert np.array_equal(bp_order(matrix, show_progress=False), order)  # deterministic


@pytest.mark.slow
def test_gaps_shrink_on_real_vectors(encoded_scifact):
    """On real SPLADE document vectors (the first 2,000 scifact abstracts) the postings' doc-id gaps need fewer
    bits than in corpus order or in a random order."""
    matrix = encoded_scifact.matrix[:2000]
    order = bp_order(matrix, show_progress=False)
    shuffled = np.random.default_rng(1).permutation(matrix.shape[0])

    def log_gap(m):
        csc = sp.csr_matrix(m).tocsc()
        csc.sort_indices()
        bits = 0.0
        for t in np.flatnonzero(np.diff(csc.indptr)):
            docs = csc.indices[csc.indptr[t]:csc.indptr[t + 1]]
            bits += np.log2(np.diff(np.concatenate([[-1], docs]))).sum()
        return bits / m.nnz

    reordered = log_gap(matrix[order])
    assert reordered < log_gap(matrix) and reordered < log_gap(matrix[shuffled])


def test_encoded_documents_move_with_all_their_vectors():
    from tandem.index.corpus import Document
    from tandem.retrieval.backends import EncodedDocs

    docs = [Document(f"d{i}", "", f"text {i}") for i in range(4)]
    sparse = sp.csr_matrix(np.array([[1, 0], [0, 2], [3, 0], [0, 4]], np.float32))
    dense = np.arange(8, dtype=np.float32).reshape(4, 2)
    encoded = EncodedDocs(docs, {"s": sparse}, {"d": dense}, seconds={"sparse": 1.5}, derived={("idf",): np.ones(2)})
    moved = encoded.reordered(np.array([2, 0, 3, 1]))
    assert moved.doc_ids == ["d2", "d0", "d3", "d1"]
    assert moved.sparse["s"].toarray().tolist() == [[3, 0], [1, 0], [0, 4], [0, 2]]
    assert moved.dense["d"].tolist() == [[4, 5], [0, 1], [6, 7], [2, 3]] and moved.dense["d"].flags["C_CONTIGUOUS"]
    assert moved.seconds == {"sparse": 1.5} and set(moved.derived) == {("idf",)}
    assert encoded.doc_ids == ["d0", "d1", "d2", "d3"]  # the original is unchanged


@pytest.mark.slow
def test_a_reordered_index_finds_the_same_documents_with_the_same_scores(encoded_scifact, data_dir, tmp_path, capsys):
    """All of scifact from the session's encoded vectors (no model): every query's matches, with their
    scores, are those of the index in corpus order."""
    from tandem.retrieval.build import BuildConfig, build_index
    from tandem.retrieval.datasets import read_queries
    from tandem.retrieval.searcher import Searcher

    lines: list[str] = []
    for reorder in ("none", "bp"):
        config = BuildConfig(corpus=str(encoded_scifact.corpus_path), dense=None, from_encoded=[str(encoded_scifact.shard)], reorder=reorder)
        build_index(config, tmp_path / reorder, encoded_scifact.corpus_path, log=lines.append, show_progress=False)
    assert sum("reordered 5,183 documents by recursive graph bisection" in line for line in lines) == 1
    queries = [q.text for q in read_queries(data_dir / "beir/scifact/queries.jsonl")][:50]
    with Searcher.open(tmp_path / "none") as plain, Searcher.open(tmp_path / "bp") as reordered:
        assert plain.snapshot.live_doc_ids() != reordered.snapshot.live_doc_ids()  # the rows moved
        assert sorted(plain.snapshot.live_doc_ids()) == sorted(reordered.snapshot.live_doc_ids())
        for query in queries:
            want = {h.doc_id: h.score for h in plain.search(query, k=6000, mode="sparse").hits}
            got = {h.doc_id: h.score for h in reordered.search(query, k=6000, mode="sparse").hits}
            assert got == want and len(want) > 100, query
        assert reordered.manifest.build_config["reorder"] == "bp"
    from tandem.cli import main

    assert main(["index", "info", str(tmp_path / "bp")]) == 0
    assert "doc order    recursive graph bisection of the sparse terms (--reorder bp)" in capsys.readouterr().out
    assert main(["index", "info", str(tmp_path / "none")]) == 0
    assert "doc order" not in capsys.readouterr().out


def test_reordering_needs_sparse_vectors(tmp_path, capsys):
    from tandem.cli import main

    from conftest import TINY_DOCS, write_jsonl

    corpus = write_jsonl(tmp_path / "corpus.jsonl", TINY_DOCS)
    assert main(["index", "build", "--corpus", str(corpus), "--out", str(tmp_path / "out"), "--sparse", "none", "--reorder", "bp"]) == 2
    err = capsys.readouterr().err
    assert "--reorder" in err and "sparse encoder" in err and err.count("\n") == 1
    assert not (tmp_path / "out").exists()


@pytest.mark.slow
def test_merges_and_compaction_of_a_reordered_index_order_the_segment_they_write(encoded_scifact, data_dir, tmp_path, monkeypatch):
    """An index built with --reorder bp: a concurrent merge (with deletes made while it writes) and a compaction
    write their segment in graph-bisection order of its live rows, and every query finds what the same changes
    find in an index kept in corpus order, with the same scores."""
    from tandem.index.corpus import read_corpus
    from tandem.index.merge_policy import MergePolicy
    from tandem.retrieval.backends import EncodedDocs
    from tandem.retrieval.build import BuildConfig, build_index
    from tandem.retrieval.datasets import read_queries
    from tandem.retrieval.encoders import encoder_key
    from tandem.retrieval import writer as writer_module
    from tandem.retrieval.searcher import Searcher
    from tandem.retrieval.writer import IndexWriter

    from live_helpers import on_disk_garbage

    docs = read_corpus(encoded_scifact.corpus_path)
    row = {d.doc_id: i for i, d in enumerate(docs)}
    readded, deleted_meanwhile = docs[100:300], [d.doc_id for d in docs[1000:1050]] + [d.doc_id for d in docs[150:160]]

    def from_matrix(batch):
        def encode(components):
            key = encoder_key("sparse", next(c for c in components if c.name == "sparse").settings["encoder"])
            return EncodedDocs(list(batch), sparse={key: encoded_scifact.matrix[[row[d.doc_id] for d in batch]]})
        return encode

    def live_order_matrix(root):
        """The live rows' vectors in index order and their ids (what a merge of every segment reads)."""
        from tandem.index.sparse import SparseIndex

        with Searcher.open(root) as searcher:
            parts = [SparseIndex(seg.path / "sparse").doc_matrix()[seg.live_rows()] for seg in searcher.snapshot.segments]
            return sp.vstack(parts).tocsr(), searcher.snapshot.live_doc_ids()

    roots = {}
    for reorder in ("none", "bp"):
        root = tmp_path / reorder
        config = BuildConfig(corpus=str(encoded_scifact.corpus_path), dense=None, from_encoded=[str(encoded_scifact.shard)], reorder=reorder,
                             merge_policy=MergePolicy(merge_factor=2, min_merge_docs=100_000))
        build_index(config, root, encoded_scifact.corpus_path, log=lambda _: None, show_progress=False)
        IndexWriter(root, show_progress=False).add(readded, encode=from_matrix(readded), merge=False)  # replacements: a second segment
        roots[reorder] = root

    # a concurrent merge of the two segments, with deletes (of both segments' rows) made while it writes
    expected = {}
    for reorder, root in roots.items():
        matrix, ids = live_order_matrix(root)
        expected[reorder] = [ids[i] for i in bp_order(matrix, show_progress=False)] if reorder == "bp" else ids
        original = writer_module.merge_segment

        def merge_then_delete(*args, _root=root, _original=original, **kwargs):
            out = _original(*args, **kwargs)
            IndexWriter(_root, show_progress=False).delete(deleted_meanwhile)
            return out

        monkeypatch.setattr(writer_module, "merge_segment", merge_then_delete)
        report = IndexWriter(root, show_progress=False).merge_concurrently()
        monkeypatch.setattr(writer_module, "merge_segment", original)
        assert report.merged_segments == 2
        with Searcher.open(root) as searcher:
            (segment,) = searcher.snapshot.segments
            assert segment.docs.doc_ids == expected[reorder] and segment.num_deleted == len(deleted_meanwhile)
    assert expected["bp"] != expected["none"]

    # a compaction orders the live rows again
    for reorder, root in roots.items():
        matrix, ids = live_order_matrix(root)
        want = [ids[i] for i in bp_order(matrix, show_progress=False)] if reorder == "bp" else ids
        IndexWriter(root, show_progress=False).compact()
        with Searcher.open(root) as searcher:
            assert searcher.snapshot.live_doc_ids() == want
        assert on_disk_garbage(root) == []

    queries = [q.text for q in read_queries(data_dir / "beir/scifact/queries.jsonl")][:30]
    with Searcher.open(roots["none"]) as plain, Searcher.open(roots["bp"]) as reordered:
        for query in queries:
            want = {h.doc_id: h.score for h in plain.search(query, k=6000, mode="sparse").hits}
            assert {h.doc_id: h.score for h in reordered.search(query, k=6000, mode="sparse").hits} == want, query
