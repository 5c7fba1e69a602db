"""Corrupted indexes (issue 13 item 6): never silently wrong results where a cheap check can tell,
never a raw traceback. Each case damages one file of a copy of a small index, then searches every
mode through the Python API and the CLI and runs ``tandem index info --verify``: a mode is either
refused with one ``IndexFormatError`` naming the damaged file, or (when the damage is in a part it
does not read) returns exactly the intact index's results.
"""
from __future__ import annotations

import fnmatch
import json
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import numpy as np
import pytest

from tandem.index.errors import IndexFormatError
from tandem.index.manifest import FILENAME, read_manifest, verify_checksums
from tandem.retrieval.searcher import Searcher
from tandem.cli import main

QUERY = "vitamin d deficiency and bone density"
MODES = ("sparse", "dense", "hybrid")
SPARSE_FILES = "segments/*/sparse/"


# -- damage --------------------------------------------------------------------------------------
def one(root: Path, pattern: str) -> Path:
    """The one file or folder of the index matching a glob pattern (relative to the index)."""
    found = sorted(root.glob(pattern))
    assert len(found) == 1, f"{pattern}: {found}"
    return found[0]


def flip_bytes(path: Path, offset: int, count: int) -> None:
    data = bytearray(path.read_bytes())
    for i in range(offset, offset + count):
        data[i] ^= 0xFF
    path.write_bytes(bytes(data))


def truncate(path: Path) -> None:
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])


def edit_manifest(root: Path, change: Callable[[dict], None]) -> None:
    raw = json.loads((root / FILENAME).read_text())
    change(raw)
    (root / FILENAME).write_text(json.dumps(raw, indent=2))


def forget_sizes(root: Path) -> None:
    """As an index written before file sizes were recorded: only the loaders' own checks remain."""
    def change(raw: dict) -> None:
        for entry in raw["segments"] + raw["components"]:
            entry.pop("sizes", None)
    edit_manifest(root, change)


def rewrite_npy(path: Path, change: Callable[[np.ndarray], None]) -> None:
    """Change an array's values in place (same dtype, shape and file size)."""
    array = np.load(path)
    change(array)
    size = path.stat().st_size
    np.save(path, array)
    assert path.stat().st_size == size


def halve_weights_below_block_max(root: Path) -> None:
    """Weights rewritten so that every block keeps its maximum: no check but sha256 can see it."""
    folder = one(root, SPARSE_FILES.rstrip("/"))
    block_max = np.load(folder / "block_max.npy")
    offsets, block_offsets = np.load(folder / "postings_offsets.npy"), np.load(folder / "block_offsets.npy")

    def change(weights: np.ndarray) -> None:
        for term in range(offsets.size - 1):
            for j, block in enumerate(range(block_offsets[term], block_offsets[term + 1])):
                part = weights[offsets[term] + 128 * j : min(offsets[term] + 128 * (j + 1), offsets[term + 1])]
                below = part < block_max[block]
                part[below] = part[below] * 0.5 if part.dtype.kind == "f" else np.maximum(part[below] // 2, 1)  # quantised: stays >= 1

    rewrite_npy(folder / "postings_weights.npy", change)


def wrong_length_bitmap(root: Path) -> None:
    seg = one(root, "segments/*")
    np.save(seg / "deletes-000099.npy", np.zeros(3, np.uint8))

    def change(raw: dict) -> None:
        raw["segments"][0]["deletes"] = f"segments/{seg.name}/deletes-000099.npy"
    edit_manifest(root, change)


def other_index_docstore(root: Path, other: Path) -> None:
    target = one(root, "segments/*/docs.sqlite")
    source = one(other, "segments/*/docs.sqlite")
    assert source.stat().st_size == target.stat().st_size  # same documents: only the index id can tell them apart
    shutil.copyfile(source, target)


def empty_settings(name: str) -> Callable[[Path], None]:
    def change(raw: dict) -> None:
        next(c for c in raw["components"] if c["name"] == name)["settings"] = {}
    return lambda root: edit_manifest(root, change)


@dataclass(frozen=True)
class Case:
    name: str
    damage: Callable[[Path], None]  # damage(index copy) (``other_index_docstore`` gets the other index too)
    file: str  # glob, relative to the index, of what the error must name
    message: str  # fragment of the one-line error
    refused: tuple[str, ...] = MODES  # the other modes must give the intact index's results
    index: str = "tiny_index"  # siamese sparse + dense flat; "tiny_if_index": inference-free sparse only


CASES = [
    Case("weights rewritten, block maxima changed", lambda r: rewrite_npy(one(r, SPARSE_FILES + "postings_weights.npy"), lambda w: w.__setitem__(slice(None), w[::-1])),
         SPARSE_FILES + "postings_weights.npy", "disagree with its maximum", refused=("sparse", "hybrid")),
    Case("bytes flipped in faiss.index vectors", lambda r: flip_bytes(one(r, "segments/*/dense/faiss.index"), one(r, "segments/*/dense/faiss.index").stat().st_size // 2, 64),
         "segments/*/dense/faiss.index", "impossible for unit vectors", refused=("dense", "hybrid")),
    Case("bytes flipped in faiss.index header", lambda r: flip_bytes(one(r, "segments/*/dense/faiss.index"), 4, 8),
         "segments/*/dense/faiss.index", "FAISS index unreadable", refused=("dense", "hybrid")),
    Case("docs.sqlite of another index", None, "segments/*/docs.sqlite", "belongs to another index"),
    Case("gaps flipped (doc ids out of range)", lambda r: rewrite_npy(one(r, SPARSE_FILES + "postings_gaps.npy"), lambda g: g.__setitem__(slice(None), 255 - g)),
         SPARSE_FILES + "postings_gaps.npy", "not ascending", refused=("sparse", "hybrid")),
    Case("block last doc out of range", lambda r: rewrite_npy(one(r, SPARSE_FILES + "block_last_doc.npy"), lambda a: a.__setitem__(0, 10**6)),
         SPARSE_FILES + "block_last_doc.npy", "not below the document count"),
    Case("damaged .npy header", lambda r: flip_bytes(one(r, SPARSE_FILES + "postings_offsets.npy"), 0, 12),
         SPARSE_FILES + "postings_offsets.npy", "not a readable .npy array"),
    Case("truncated .npy", lambda r: truncate(one(r, SPARSE_FILES + "postings_weights.npy")),
         SPARSE_FILES + "postings_weights.npy", "the manifest recorded"),
    Case("truncated .npy, no sizes recorded", lambda r: (forget_sizes(r), truncate(one(r, SPARSE_FILES + "postings_weights.npy"))),
         SPARSE_FILES + "postings_weights.npy", "truncated"),
    Case("truncated faiss.index", lambda r: truncate(one(r, "segments/*/dense/faiss.index")), "segments/*/dense/faiss.index", "the manifest recorded"),
    Case("truncated faiss.index, no sizes recorded", lambda r: (forget_sizes(r), truncate(one(r, "segments/*/dense/faiss.index"))),
         "segments/*/dense/faiss.index", "FAISS index unreadable", refused=("dense", "hybrid")),
    Case("truncated query_weights.npy", lambda r: truncate(one(r, "components/sparse/*/query_weights.npy")),
         "components/sparse/*/query_weights.npy", "the manifest recorded", index="tiny_if_index", refused=("sparse",)),
    Case("truncated query_weights.npy, no sizes recorded", lambda r: (forget_sizes(r), truncate(one(r, "components/sparse/*/query_weights.npy"))),
         "components/sparse/*/query_weights.npy", "truncated", index="tiny_if_index", refused=("sparse",)),
    Case("missing docs.sqlite", lambda r: one(r, "segments/*/docs.sqlite").unlink(), "segments/*/docs.sqlite", "missing"),
    Case("missing docs.sqlite, no sizes recorded", lambda r: (forget_sizes(r), one(r, "segments/*/docs.sqlite").unlink()), "segments/*/docs.sqlite", "document store missing"),
    Case("truncated docs.sqlite", lambda r: truncate(one(r, "segments/*/docs.sqlite")), "segments/*/docs.sqlite", "the manifest recorded"),
    Case("missing tokenizer folder", lambda r: shutil.rmtree(one(r, "components/sparse/*/tokenizer")), "components/sparse/*/tokenizer/*", "missing"),
    Case("missing tokenizer folder, no sizes recorded", lambda r: (forget_sizes(r), shutil.rmtree(one(r, "components/sparse/*/tokenizer"))),
         "components/sparse/*/tokenizer", "tokenizer folder missing", refused=("sparse", "dense", "hybrid")),
    Case("empty settings of the sparse component", empty_settings("sparse"), FILENAME, "component 'sparse' (native-sparse) has no setting 'mode'"),
    Case("empty settings of the dense component", empty_settings("dense"), FILENAME, "component 'dense' (faiss) has no setting"),
    Case("deletion bitmap of the wrong length", wrong_length_bitmap, "segments/*/deletes-000099.npy", "deletion bitmap does not match"),
]


# -- helpers -------------------------------------------------------------------------------------
def relative(where: str | None, root: Path) -> str:
    assert where, "the error names no file"
    path = Path(where)
    return str(path.relative_to(root)) if path.is_absolute() and path.is_relative_to(root) else where


def search_all(index: Path, modes=MODES) -> dict[str, object]:
    """Per mode: the (doc id, score) hits, or the IndexFormatError raised (opening included)."""
    out: dict[str, object] = {}
    for mode in modes:
        try:
            with Searcher.open(index) as searcher:
                out[mode] = [(h.doc_id, round(h.score, 6)) for h in searcher.search(QUERY, k=10, mode=mode).hits]
        except IndexFormatError as exc:
            out[mode] = exc
    return out


def cli(capsys, *args: str) -> tuple[int, str, str]:
    code = main(list(args))
    captured = capsys.readouterr()
    return code, captured.out, captured.err


@pytest.fixture(scope="module")
def intact(tiny_index, tiny_if_index) -> dict[str, dict[str, object]]:
    return {"tiny_index": search_all(tiny_index), "tiny_if_index": search_all(tiny_if_index, ("sparse",))}


# -- tests ---------------------------------------------------------------------------------------
@pytest.mark.slow
@pytest.mark.parametrize("case", CASES, ids=[c.name for c in CASES])
def test_damage_is_refused_in_one_line_naming_the_file(case: Case, request, intact, tiny_if_index, tmp_path, capsys):
    source = request.getfixturevalue(case.index)
    root = tmp_path / "index"
    shutil.copytree(source, root)
    other_index_docstore(root, tiny_if_index) if case.damage is None else case.damage(root)
    modes = MODES if case.index == "tiny_index" else ("sparse",)

    results = search_all(root, modes)
    for mode in modes:
        if mode in case.refused:
            error = results[mode]
            assert isinstance(error, IndexFormatError), f"{mode}: not refused, returned {error}"
            assert case.message in error.message, f"{mode}: {error}"
            assert fnmatch.fnmatch(relative(error.where, root), case.file), f"{mode}: names {error.where}, not {case.file}"
        else:
            assert results[mode] == intact[case.index][mode], f"{mode}: the damage is elsewhere, results must be the intact ones"

    for mode in case.refused:
        code, out, err = cli(capsys, "search", "--index", str(root), "--mode", mode, QUERY)
        assert code == 2 and out == ""
        assert err.startswith("tandem: error: ") and err.count("\n") == 1 and "Traceback" not in err, err
        assert case.message in err and str(root) in err

    code, _, err = cli(capsys, "index", "info", str(root), "--verify")
    assert code == 2 and err.count("\n") == 1 and "problem(s)" in err, err
    assert any(fnmatch.fnmatch(part, f"*{case.file}*") for part in err.split()), f"--verify does not name {case.file}: {err}"


@pytest.mark.slow
def test_weights_rewritten_keeping_block_maxima_need_verify(tiny_index, intact, tmp_path, capsys):
    """Same size, same block maxima: searches cannot tell (they return other scores); --verify names the file."""
    root = tmp_path / "index"
    shutil.copytree(tiny_index, root)
    halve_weights_below_block_max(root)
    results = search_all(root, ("sparse",))
    assert not isinstance(results["sparse"], IndexFormatError)
    assert results["sparse"] != intact["tiny_index"]["sparse"]  # silently different: what only a full check can see
    code, _, err = cli(capsys, "index", "info", str(root), "--verify")
    assert code == 2 and "postings_weights.npy: sha256 differs from the manifest" in err


def test_emptied_file_lists_do_not_verify(tiny_index, tmp_path, capsys):
    root = tmp_path / "index"
    shutil.copytree(tiny_index, root)

    def change(raw: dict) -> None:
        for entry in raw["segments"] + raw["components"]:
            entry["files"], entry["sizes"] = {}, {}
    edit_manifest(root, change)
    manifest = read_manifest(root)
    problems = verify_checksums(root, manifest)
    assert problems == [f"segment {manifest.segments[0].name} lists no files"] + [
        f"component {c.name} lists no files" for c in manifest.components if c.shared_dir]
    code, out, err = cli(capsys, "index", "info", str(root), "--verify")
    assert code == 2 and "lists no files" in err and "all files match" not in out


def test_a_file_dropped_from_the_list_does_not_verify(tiny_index, tmp_path):
    root = tmp_path / "index"
    shutil.copytree(tiny_index, root)
    dropped = next(rel for rel in read_manifest(root).segments[0].files if rel.endswith("faiss.index"))

    def change(raw: dict) -> None:
        raw["segments"][0]["files"].pop(dropped)
        raw["segments"][0]["sizes"].pop(dropped)
    edit_manifest(root, change)
    assert verify_checksums(root, read_manifest(root)) == [f"{dropped}: not listed in the manifest"]


def test_sizes_are_recorded_for_every_listed_file(tiny_index):
    manifest = read_manifest(tiny_index)
    for entry in [*manifest.segments, *manifest.components]:
        assert set(entry.sizes) == set(entry.files)
        assert all(entry.sizes[rel] == (tiny_index / rel).stat().st_size for rel in entry.files)
        assert entry.bytes == sum(entry.sizes.values())


def write_format1_sparse(directory: Path, matrix) -> None:
    """A Tandem 0.1 sparse directory (as ``tandem index upgrade`` links into a segment): CSC postings and a forward copy."""
    directory.mkdir()
    csc, csr = matrix.tocsc(), matrix.tocsr()
    for name, array in {"postings_offsets": csc.indptr.astype(np.int64), "postings_docs": csc.indices.astype(np.int32),
                        "postings_weights": csc.data.astype(np.float32), "forward_indptr": csr.indptr.astype(np.int64),
                        "forward_terms": csr.indices.astype(np.int32), "forward_weights": csr.data.astype(np.float32)}.items():
        np.save(directory / f"{name}.npy", array)


def test_format1_sparse_files_are_checked_too(tmp_path):
    import scipy.sparse as sp

    from tandem.index.sparse import SparseVector
    from tandem.index.sparse_checks import TermChecks, open_checked

    matrix = sp.csr_matrix(np.array([[0, 2.0, 0, 1.0], [3.0, 0, 0, 0.5], [0, 1.0, 4.0, 0]], dtype=np.float32))
    write_format1_sparse(tmp_path / "good", matrix)
    index = open_checked(tmp_path / "good", 3, thorough=True)
    rows, scores = index.search(SparseVector(np.array([1, 3], np.int32), np.array([1.0, 1.0], np.float32)), 3)
    assert rows.tolist() == [0, 2, 1] and scores.tolist() == [3.0, 1.0, 0.5]

    write_format1_sparse(tmp_path / "bad", matrix)
    rewrite_npy(tmp_path / "bad" / "postings_docs.npy", lambda docs: docs.__setitem__(-1, 7))  # doc 7 of 3
    with pytest.raises(IndexFormatError, match="not below the document count") as info:
        open_checked(tmp_path / "bad", 3)
    assert info.value.where == str(tmp_path / "bad" / "postings_docs.npy")
    with pytest.raises(IndexFormatError, match="has shape"):
        open_checked(tmp_path / "good", 4)  # the segment says 4 rows, the forward copy has 3
    checks = TermChecks(open_checked(tmp_path / "good", 3))
    checks.check(np.array([0, 2, 99]))  # out-of-vocabulary ids are left to the search's own check
    assert checks.checked.tolist() == [True, False, True, False]


def test_the_check_of_every_term_after_open_leaves_a_damaged_chunk_to_its_query(tmp_path, monkeypatch):
    """TermChecks.check_all (run on a thread when a retriever opens) marks every term whose blocks decode
    cleanly; a chunk with a damaged block stays unmarked, so the query that uses it is still refused."""
    import time

    import scipy.sparse as sp

    from tandem.index import sparse_checks
    from tandem.index.sparse import write_sparse_index
    from tandem.index.sparse_checks import TermChecks, check_in_background, open_checked

    monkeypatch.setattr(sparse_checks, "BACKGROUND_CHUNK", 50)
    matrix = sp.random(3000, 200, density=0.05, format="csr", random_state=np.random.default_rng(3), dtype=np.float32)
    for name in ("good", "bad"):
        write_sparse_index(tmp_path / name, matrix)
    good = TermChecks(open_checked(tmp_path / "good", 3000))
    stop = check_in_background([good])
    deadline = time.monotonic() + 60
    while not good.all_checked and time.monotonic() < deadline:
        time.sleep(0.01)
    assert good.all_checked and good.checked.all() and not stop.is_set()

    index = open_checked(tmp_path / "bad", 3000)
    term = 120  # its first block's maximum no longer matches its weights (opening reads no weights)
    block = int(index.postings.block_offsets[term])
    rewrite_npy(tmp_path / "bad" / "block_max.npy", lambda top: top.__setitem__(block, top[block] * 2))
    bad = TermChecks(open_checked(tmp_path / "bad", 3000))
    assert bad.check_all() is False and not bad.all_checked
    assert bad.checked.tolist() == [True] * 100 + [False] * 50 + [True] * 50  # only the chunk of term 120 is left
    bad.check(np.array([3, 160]))  # terms of checked chunks: nothing to do
    with pytest.raises(IndexFormatError, match="disagree with its maximum") as info:
        bad.check(np.array([3, term]))
    assert info.value.where == str(tmp_path / "bad" / "postings_weights.npy")
