"""Encode anywhere, index from vectors (issue 11 §1), and the bf16 SPLADE path.

- `tandem encode` shards -> `tandem index build --from-encoded` equals a direct build: the same
  component settings, identical postings, IDF table and FAISS vectors, identical search results
  (one shard and two shards);
- shards that disagree (settings, split, corpus) or are incomplete are refused with one line and
  nothing is written;
- the JsonVectorCollection files index in Anserini through the impact path (quantised);
- ``precision="bf16"`` SPLADE gives the float32 vectors (screened projection, exact rescoring).
"""
from __future__ import annotations

import gzip
import json
import shutil
from pathlib import Path

import numpy as np
import pytest

from conftest import TINY_DOCS, write_jsonl
from tandem.index.errors import TandemError

QUERIES = ["eiffel tower paris", "vitamin d bone", "programming language garbage collection", "cells produce energy", "plants sunlight"]
TEXTS = ["Vitamin D deficiency and bone density.", "A much longer text about mitochondria and ATP synthesis " * 12, "short",
         "The Eiffel Tower is a wrought-iron lattice tower in Paris.", "x " * 400]


def encode(corpus: Path, out: Path, shard: str, *extra: str) -> None:
    from tandem.cli import main

    assert main(["encode", "--corpus", str(corpus), "--out", str(out), "--shard", shard, *extra]) == 0


def build_from(out: Path, *shards: Path, extra: tuple[str, ...] = ()) -> int:
    from tandem.cli import main

    return main(["index", "build", "--from-encoded", *map(str, shards), "--out", str(out), *extra])


@pytest.fixture(scope="module")
def shards(tmp_path_factory, tiny_corpus) -> dict[str, Path]:
    """The tiny corpus encoded as the `tiny_index` fixture encodes it (SPLADE + MiniLM), as one shard and as two."""
    root = tmp_path_factory.mktemp("encoded")
    encode(tiny_corpus, root / "one", "0/1")
    for i in range(2):
        encode(tiny_corpus, root / "two", f"{i}/2")
    return {"one": root / "one", "two": root / "two", "root": root}


def sparse_matrix(index: Path, segment):
    from tandem.index.sparse import SparseIndex

    return SparseIndex(index / "segments" / segment.name / "sparse").doc_matrix()


def assert_same_index(built: Path, direct: Path) -> None:
    """Same component settings, postings, IDF table, FAISS vectors and search results."""
    from tandem.index.dense import DenseIndex
    from tandem.index.manifest import read_manifest
    from tandem.retrieval.backends.sparse_common import QUERY_WEIGHTS
    from tandem.retrieval.searcher import Searcher

    a, b = read_manifest(built), read_manifest(direct)
    assert [(c.name, c.backend, c.settings) for c in a.components] == [(c.name, c.backend, c.settings) for c in b.components]
    assert a.corpus.sha256 == b.corpus.sha256 and a.num_docs == b.num_docs
    (seg_a,), (seg_b,) = a.segments, b.segments
    ma, mb = sparse_matrix(built, seg_a), sparse_matrix(direct, seg_b)
    assert np.array_equal(ma.indptr, mb.indptr) and np.array_equal(ma.indices, mb.indices) and np.array_equal(ma.data, mb.data)
    qa = np.load(built / a.component("sparse").shared_dir / QUERY_WEIGHTS)
    qb = np.load(direct / b.component("sparse").shared_dir / QUERY_WEIGHTS)
    assert np.array_equal(qa, qb)
    rows = np.arange(a.num_docs)
    va = DenseIndex(built / "segments" / seg_a.name / "dense").vectors(rows)
    vb = DenseIndex(direct / "segments" / seg_b.name / "dense").vectors(rows)
    assert np.array_equal(va, vb)
    with Searcher.open(built) as sa, Searcher.open(direct) as sb:
        for mode in sb.modes:
            got = [[(h.doc_id, h.score) for h in r.hits] for r in sa.batch_search(QUERIES, k=6, mode=mode)]
            want = [[(h.doc_id, h.score) for h in r.hits] for r in sb.batch_search(QUERIES, k=6, mode=mode)]
            assert got == want, mode


@pytest.mark.slow
@pytest.mark.parametrize("split", ["one", "two"])
def test_from_encoded_build_equals_direct_build(shards, tiny_corpus, tmp_path, split):
    from tandem.retrieval.build import BuildConfig, build_index

    direct = tmp_path / "direct"
    build_index(BuildConfig(corpus=str(tiny_corpus), sparse_mode="inference-free"), direct, tiny_corpus, show_progress=False)
    built = tmp_path / "built"
    assert build_from(built, shards[split]) == 0
    assert_same_index(built, direct)


@pytest.mark.slow
def test_shard_files(shards, tiny_corpus):
    """Shard i/n holds rows [i*N//n, (i+1)*N//n) as JsonVectorCollection lines, ids and float32 vectors."""
    from tandem.retrieval.encode import SHARD_FILE, ShardManifest

    folders = sorted(shards["two"].iterdir())
    assert [f.name for f in folders] == ["shard-00000-of-00002", "shard-00001-of-00002"]
    ids = [d["_id"] for d in TINY_DOCS]
    for i, folder in enumerate(folders):
        m = ShardManifest.model_validate_json((folder / SHARD_FILE).read_text())
        assert (m.shard, m.num_shards, m.start, m.end, m.corpus.num_docs) == (i, 2, 3 * i, 3 * i + 3, 6)
        assert (folder / "ids.txt").read_text().split() == ids[3 * i : 3 * i + 3]
        lines = [json.loads(line) for line in gzip.open(folder / "sparse.jsonl.gz", "rt", encoding="utf-8")]
        assert [r["id"] for r in lines] == ids[3 * i : 3 * i + 3]
        assert all(isinstance(w, float) and w > 0 for r in lines for w in r["vector"].values())
        assert sum(len(r["vector"]) for r in lines) == m.num_postings
        assert lines[0]["contents"] == (f"{TINY_DOCS[3 * i]['title']} {TINY_DOCS[3 * i]['text']}").strip()
        dense = np.load(folder / "dense.npy")
        assert dense.dtype == np.float32 and dense.shape == (3, m.dim)
        assert (folder / "tokenizer" / "tokenizer.json").is_file()
        assert m.encoders["sparse"]["precision"] == "fp32" and m.encoders["dense"]["model"] == "minilm-l6"


def copy_shards(src: Path, dst: Path) -> Path:
    shutil.copytree(src, dst)
    return dst


def edit_manifest(folder: Path, change) -> None:
    path = folder / "shard.json"
    data = json.loads(path.read_text())
    change(data)
    path.write_text(json.dumps(data))


def refused(capsys, out: Path, *shards: Path, extra: tuple[str, ...] = ()) -> str:
    """Build from ``shards``: exit 2, one error line (after any progress bar it cleared), no index written; returns the line."""
    assert build_from(out, *shards, extra=extra) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert err[-1].startswith("tandem: error: ") and sum("error" in line for line in err) == 1
    assert not out.exists()
    return err[-1]


@pytest.mark.slow
def test_mismatched_settings_refused(shards, tmp_path, capsys):
    two = copy_shards(shards["two"], tmp_path / "two")
    edit_manifest(two / "shard-00001-of-00002", lambda d: d["encoders"]["sparse"].update(precision="bf16"))
    line = refused(capsys, tmp_path / "idx", two)
    assert "shard-00001-of-00002" in line and "sparse encoder settings differ" in line and "precision 'fp32' vs 'bf16'" in line


@pytest.mark.slow
def test_missing_and_duplicate_shards_refused(shards, tmp_path, capsys):
    two = shards["two"]
    line = refused(capsys, tmp_path / "idx", two / "shard-00000-of-00002")
    assert "--from-encoded" in line and "shard(s) 1/2 missing" in line
    copy = copy_shards(two / "shard-00001-of-00002", tmp_path / "again")
    line = refused(capsys, tmp_path / "idx", two, copy)
    assert "shard 1/2 given twice" in line


@pytest.mark.slow
def test_shards_of_different_splits_refused(shards, tmp_path, capsys):
    line = refused(capsys, tmp_path / "idx", shards["one"], shards["two"] / "shard-00001-of-00002")
    assert "shards of different splits" in line


@pytest.mark.slow
def test_other_corpus_refused(shards, tmp_path, capsys):
    changed = [dict(d) for d in TINY_DOCS]
    changed[4]["text"] = "Mitochondria make ATP."
    other = write_jsonl(tmp_path / "other.jsonl", changed)
    line = refused(capsys, tmp_path / "idx", shards["two"], extra=("--corpus", str(other)))
    assert str(other) in line and "documents 3..5 differ" in line


@pytest.mark.slow
def test_moved_corpus_needs_corpus_flag(shards, tiny_corpus, tmp_path, capsys):
    one = copy_shards(shards["one"], tmp_path / "one")
    gone = tmp_path / "moved-away.jsonl"
    edit_manifest(one / "shard-00000-of-00001", lambda d: d["corpus"].update(source=str(gone)))
    line = refused(capsys, tmp_path / "idx", one)
    assert str(gone) in line and "give it with --corpus" in line
    assert build_from(tmp_path / "idx", one, extra=("--corpus", str(tiny_corpus))) == 0


@pytest.mark.slow
def test_tampered_vectors_refused(shards, tmp_path, capsys):
    two = copy_shards(shards["two"], tmp_path / "two")
    path = two / "shard-00000-of-00002" / "sparse.jsonl.gz"
    lines = gzip.open(path, "rt", encoding="utf-8").read().splitlines()
    record = json.loads(lines[1])
    record["vector"]["not-a-token"] = 1.0
    lines[1] = json.dumps(record)
    with gzip.open(path, "wt", encoding="utf-8") as handle:
        handle.write("\n".join(lines) + "\n")
    line = refused(capsys, tmp_path / "idx", two)
    assert f"{path}:2" in line and "'not-a-token' is not in the shard's tokenizer" in line


def test_bad_shard_spec_is_one_line(tiny_corpus, tmp_path, capsys):
    from tandem.cli import main

    for spec, message in (("2/2", "numbered 0/2 to 1/2"), ("1-4", "expected i/n"), ("0/0", "does not exist")):
        assert main(["encode", "--corpus", str(tiny_corpus), "--out", str(tmp_path / "enc"), "--shard", spec]) == 2
        err = capsys.readouterr().err.strip().splitlines()
        assert len(err) == 1 and err[0].startswith("tandem: error: --shard: ") and message in err[0]
    assert not (tmp_path / "enc").exists()


def test_shard_ranges_are_contiguous_and_stable():
    from tandem.retrieval.encode import ShardSpec

    for total in (1, 7, 100, 729_028):
        for count in (1, 2, 3, 8):
            if count > total:
                continue
            ranges = [ShardSpec(i, count).range(total) for i in range(count)]
            assert ranges[0][0] == 0 and ranges[-1][1] == total
            assert all(a[1] == b[0] for a, b in zip(ranges, ranges[1:]))
            assert max(e - s for s, e in ranges) - min(e - s for s, e in ranges) <= 1


def test_no_shard_here_is_one_line(tmp_path):
    from tandem.retrieval.encode import read_shards

    (tmp_path / "empty").mkdir()
    with pytest.raises(TandemError, match="no encoded shard here") as info:
        read_shards([tmp_path / "empty"])
    assert info.value.where == str(tmp_path / "empty")


@pytest.mark.slow
@pytest.mark.lucene
def test_vector_collection_indexes_in_anserini(shards, tmp_path):
    """The shard's JsonVectorCollection, quantised, is an Anserini impact index whose scores are the
    integer dot products of the quantised vectors."""
    from tandem.index.lucene.impact import LuceneImpactSearcher, build_impact_index, quantize

    scale = 100.0
    docs = []
    for folder in sorted(shards["two"].iterdir()):
        for line in gzip.open(folder / "sparse.jsonl.gz", "rt", encoding="utf-8"):
            record = json.loads(line)
            docs.append((record["id"], quantize(record["vector"], scale)))
    build_impact_index(iter(docs), tmp_path / "lucene", total=len(docs))
    searcher = LuceneImpactSearcher(tmp_path / "lucene")
    try:
        for doc_id, vector in docs:
            query = dict(sorted(vector.items(), key=lambda kv: -kv[1])[:8])  # a document's own top terms as the query
            expected = {d: sum(w * v.get(t, 0) for t, w in query.items()) for d, v in docs}
            expected = {d: s for d, s in expected.items() if s > 0}
            hits = dict(searcher.search(query, k=len(docs)))
            assert hits == pytest.approx(expected)
    finally:
        searcher.close()


@pytest.mark.slow
def test_bf16_splade_equals_fp32(splade):
    """The screened bf16 projection + exact float32 rescoring gives the float32 vectors."""
    from tandem.retrieval.splade import SpladeConfig, SpladeEncoder

    fast = SpladeEncoder(SpladeConfig(precision="bf16"))
    assert fast.settings()["precision"] == "bf16"
    for want, got in zip(splade.encode(TEXTS), fast.encode(TEXTS)):
        assert np.array_equal(want.ids, got.ids)
        np.testing.assert_allclose(got.weights, want.weights, rtol=0, atol=1e-5)


@pytest.mark.slow
def test_bf16_screen_keeps_every_positive_term(splade):
    """Candidates of the bf16 screen include every term with a positive float32 weight, and few others."""
    import torch

    from tandem.retrieval.vocab_screen import VocabScreen

    screen = VocabScreen(splade.model)
    for _, batch in splade.batches(TEXTS):
        with torch.inference_mode():
            hidden = screen.hidden_states(splade.model, batch)
            reference = splade.forward_batch(batch)
            lengths = batch["attention_mask"].sum(dim=1).tolist()
            candidates = screen._candidates(torch.split(hidden[batch["attention_mask"].bool()], lengths), splade.special_ids)
        positive = reference > 0
        assert bool(candidates[positive].all())
        assert int(candidates.sum()) < 2 * int(positive.sum()) + 50 * len(lengths)


def test_padded_blocks_group_consecutive_texts():
    from tandem.retrieval.vocab_screen import _padded_blocks

    assert _padded_blocks([600, 300, 200, 100, 100, 100, 10], 512) == [[0], [1], [2, 3], [4, 5, 6]]
    assert _padded_blocks([], 512) == []


def test_unknown_precision_is_one_line(tiny_corpus, tmp_path, capsys):
    from tandem.cli import main

    assert main(["index", "build", "--corpus", str(tiny_corpus), "--out", str(tmp_path / "idx"), "--precision", "fp8"]) == 2
    assert "--precision" in capsys.readouterr().err
    from tandem.retrieval.precision import check_precision

    with pytest.raises(TandemError, match="unknown precision 'fp16'"):
        check_precision("fp16")


@pytest.mark.slow
def test_add_from_encoded_equals_add_from_text(tmp_path, capsys):
    """`index add --from-encoded` gives the segment and results `index add --corpus` gives; shards
    encoded with other settings than the index's are refused."""
    from tandem.index.manifest import read_manifest
    from tandem.retrieval.searcher import Searcher
    from tandem.cli import main

    first = write_jsonl(tmp_path / "first.jsonl", TINY_DOCS[:3])
    more = write_jsonl(tmp_path / "more.jsonl", TINY_DOCS[3:])
    assert main(["index", "build", "--corpus", str(first), "--out", str(tmp_path / "a"), "--dense", "none"]) == 0
    shutil.copytree(tmp_path / "a", tmp_path / "b")
    encode(more, tmp_path / "enc", "0/1", "--dense", "none")
    assert main(["index", "add", "--index", str(tmp_path / "a"), "--from-encoded", str(tmp_path / "enc")]) == 0
    assert main(["index", "add", "--index", str(tmp_path / "b"), "--corpus", str(more)]) == 0
    a, b = read_manifest(tmp_path / "a"), read_manifest(tmp_path / "b")
    ma, mb = sparse_matrix(tmp_path / "a", a.segments[-1]), sparse_matrix(tmp_path / "b", b.segments[-1])
    assert ma.shape[0] == 3 and np.array_equal(ma.indices, mb.indices) and np.array_equal(ma.data, mb.data)
    with Searcher.open(tmp_path / "a") as sa, Searcher.open(tmp_path / "b") as sb:
        got = [[(h.doc_id, h.score) for h in r.hits] for r in sa.batch_search(QUERIES, k=6)]
        assert got == [[(h.doc_id, h.score) for h in r.hits] for r in sb.batch_search(QUERIES, k=6)]
    encode(more, tmp_path / "enc-bf16", "0/1", "--dense", "none", "--precision", "bf16")
    capsys.readouterr()
    assert main(["index", "add", "--index", str(tmp_path / "a"), "--from-encoded", str(tmp_path / "enc-bf16")]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert err[-1].startswith("tandem: error: ") and "other sparse encoder settings: precision 'fp32' vs 'bf16'" in err[-1]
    assert read_manifest(tmp_path / "a").generation == a.generation


@pytest.mark.slow
def test_interrupted_shard_resumes(tiny_corpus, tmp_path, monkeypatch):
    """An interrupted `encode` leaves no shard, keeps its finished chunks, and the rerun encodes only the rest."""
    from tandem.retrieval import writer
    from tandem.retrieval.build import BuildConfig
    from tandem.retrieval.encode import ShardSpec, encode_shard

    encode_chunk = writer._encode_chunk
    calls = []

    def interrupted_at_second(*args, **kwargs):
        calls.append(len(args[2]))
        if len(calls) == 2:
            raise KeyboardInterrupt
        return encode_chunk(*args, **kwargs)

    monkeypatch.setattr(writer, "_encode_chunk", interrupted_at_second)
    config = BuildConfig(corpus=str(tiny_corpus), dense=None, chunk_size=2)
    with pytest.raises(KeyboardInterrupt):
        encode_shard(config, tiny_corpus, tmp_path / "enc", ShardSpec(0, 1), show_progress=False)
    assert not (tmp_path / "enc" / "shard-00000-of-00001").exists()
    calls.clear()
    monkeypatch.setattr(writer, "_encode_chunk", lambda *args, **kwargs: calls.append(len(args[2])) or encode_chunk(*args, **kwargs))
    folder, manifest = encode_shard(config, tiny_corpus, tmp_path / "enc", ShardSpec(0, 1), show_progress=False)
    assert calls == [2, 2]  # chunk 0 came from the cache
    assert manifest.num_docs == 6 and [p.name for p in (tmp_path / "enc").iterdir()] == [folder.name]
