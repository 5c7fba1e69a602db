"""A full disk (issue 13 item 4): one line naming what was being written, exit 2, the old index intact
and searchable, nothing partial left behind.

For real where possible: a small tmpfs is mounted (needs root, as in CI) and filled with ballast so
that the next write fails with ENOSPC. Where mounting is refused, the same scenarios run with
``numpy.save`` monkeypatched to write part of the file and raise ENOSPC (``mechanism=simulated``);
the writer-level test then only runs what ``/dev/full`` can show (ENOSPC on every write).
"""
from __future__ import annotations

import errno
import os
import shutil
import subprocess
import uuid
from pathlib import Path

import numpy as np
import pytest

from conftest import write_jsonl
from tandem.index.build_dir import ChunkCache, disk_errors
from tandem.index.corpus import Document
from tandem.index.docstore import write_docstore
from tandem.index.errors import TandemError
from tandem.retrieval.searcher import Searcher
from tandem.cli import main

QUERIES = ["vitamin d and bone density", "heart disease risk", "immune system bacteria"]
FIRST = [{"_id": f"a{i}", "title": t, "text": x} for i, (t, x) in enumerate([
    ("Vitamin D", "Vitamin D deficiency is associated with low bone density in older adults."),
    ("Sleep", "Poor sleep quality raises the risk of heart disease and obesity."),
    ("Gut", "Gut bacteria influence immune responses and inflammation."),
    ("Salt", "High salt intake raises blood pressure in sensitive people."),
])]
MORE = [{"_id": f"m{i}", "title": t, "text": x} for i, (t, x) in enumerate([
    ("Statins", "Statins lower cholesterol and reduce heart attack risk."),
    ("Vaccines", "Vaccines train the immune system against infection."),
])]


def mount_tmpfs(path: Path, size: str) -> bool:
    path.mkdir(parents=True, exist_ok=True)
    try:
        return subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(path)], capture_output=True).returncode == 0
    except OSError:
        return False


def unmount(path: Path) -> None:
    subprocess.run(["umount", "-l", str(path)], capture_output=True)


@pytest.fixture
def tiny_tmpfs(tmp_path):
    """A 64 KB tmpfs, or None where mounting is refused."""
    disk = tmp_path / "tiny"
    if not mount_tmpfs(disk, "64k"):
        yield None
        return
    yield disk
    unmount(disk)


def tree(root: Path) -> dict[str, int]:
    """Files below ``root`` and their sizes (reader leases aside: opening a searcher creates them)."""
    return {str(p.relative_to(root)): p.stat().st_size for p in sorted(root.rglob("*")) if p.is_file() and p.suffix != ".lease"}


def search_all(index: Path) -> list[list[tuple[str, float]]]:
    with Searcher.open(index) as searcher:
        return [[(h.doc_id, h.score) for h in searcher.search(q, k=5).hits] for q in QUERIES]


def free_bytes(path: Path) -> int:
    stat = os.statvfs(path)
    return stat.f_bavail * stat.f_frsize


class Disk:
    """Where the index lives, and how the next writes are made to fail: a real full tmpfs, or a simulated one."""

    def __init__(self, root: Path, real: bool, monkeypatch) -> None:
        self.root = root
        self.real = real
        self.monkeypatch = monkeypatch

    def fill(self, leave: int = 150_000) -> None:
        """From now on writes fail: only ``leave`` bytes remain free (real), or ``np.save`` fails half-way (simulated)."""
        if self.real:
            with (self.root / "ballast").open("wb") as handle:
                handle.write(b"\0" * max(0, free_bytes(self.root) - leave))
            return
        real_save = np.save

        def save_half_then_fail(file, arr, *args, **kwargs):
            path = Path(file)
            if self.root in path.parents:
                path.write_bytes(b"\x93NUMPY" + b"\0" * 1000)  # a partial file, as a short write leaves
                raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC), str(path))
            return real_save(file, arr, *args, **kwargs)

        self.monkeypatch.setattr(np, "save", save_half_then_fail)


@pytest.fixture(params=["tmpfs", "simulated"])
def disk(request, tmp_path, monkeypatch):
    root = tmp_path / "disk"
    if request.param == "tmpfs":
        if not mount_tmpfs(root, "4m"):
            pytest.skip("mounting a tmpfs is refused here (not root?): the 'simulated' variant covers the same steps")
        yield Disk(root, True, monkeypatch)
        unmount(root)
    else:
        root.mkdir()
        yield Disk(root, False, monkeypatch)


@pytest.fixture
def built(disk, tmp_path, capsys):
    """An inference-free sparse index on the disk, its files and its search results."""
    corpus = write_jsonl(tmp_path / "corpus.jsonl", FIRST)
    index = disk.root / "index"
    assert main(["index", "build", "--corpus", str(corpus), "--out", str(index), "--dense", "none"]) == 0
    capsys.readouterr()
    return index, tree(index), search_all(index)


def assert_one_line(capsys, code: int) -> str:
    """Exit 2 and one error line (after any progress bars the command drew on stderr), no traceback."""
    captured = capsys.readouterr()
    assert code == 2, captured
    assert "Traceback" not in captured.err and captured.err.endswith("\n"), captured.err
    err = captured.err.rstrip("\n").split("\n")[-1].split("\r")[-1]
    assert err.startswith("tandem: error: ") and "no space left on device" in err, captured.err
    return err


def assert_intact(index: Path, files: dict[str, int], results) -> None:
    assert tree(index) == files  # nothing partial inside (no .staging, no new segment), nothing lost
    assert search_all(index) == results


@pytest.mark.slow
def test_build_over_an_index_runs_out_of_space(disk, built, tmp_path, capsys):
    index, files, results = built
    corpus = write_jsonl(tmp_path / "corpus2.jsonl", FIRST + MORE)
    disk.fill()
    free = free_bytes(disk.root)
    code = main(["index", "build", "--corpus", str(corpus), "--out", str(index), "--dense", "none", "--overwrite"])
    err = assert_one_line(capsys, code)
    assert err.startswith(f"tandem: error: {index.resolve()}: no space left on device"), err
    assert not list(disk.root.glob(".index.building"))  # no staging or cached chunks left
    assert not disk.real or free_bytes(disk.root) == free  # every partial file is gone (the tmpfs has all its space back)
    assert_intact(index, files, results)


@pytest.mark.slow
def test_add_runs_out_of_space(disk, built, tmp_path, capsys):
    index, files, results = built
    more = write_jsonl(tmp_path / "more.jsonl", MORE)
    disk.fill()
    free, before = free_bytes(disk.root), [p.name for p in disk.root.iterdir()]
    err = assert_one_line(capsys, main(["index", "add", "--index", str(index), "--corpus", str(more)]))
    assert err.startswith(f"tandem: error: {index}: no space left on device"), err
    assert not disk.real or free_bytes(disk.root) == free
    assert sorted(p.name for p in disk.root.iterdir()) == sorted(before)
    assert_intact(index, files, results)
    shutil.os.remove(disk.root / "ballast") if disk.real else disk.monkeypatch.undo()
    assert main(["index", "add", "--index", str(index), "--corpus", str(more)]) == 0  # with space again, the same add works
    with Searcher.open(index) as searcher:
        assert searcher.document("m1") is not None


# -- each writer's way of saying it ------------------------------------------------------------------
def _faiss_write(path: Path) -> None:
    import faiss

    index = faiss.IndexFlatIP(64)
    index.add(np.random.default_rng(0).random((2000, 64), dtype=np.float32))
    faiss.write_index(index, str(path))


def _numpy_save(path: Path) -> None:
    """``np.save`` to a file on the tmpfs (numpy then reports a short write, no errno), or into /dev/full (ENOSPC)."""
    if path.is_char_device():
        with path.open("wb") as handle:
            np.save(handle, np.zeros(100_000))
    else:
        np.save(path.with_suffix(".npy"), np.zeros(100_000))


WRITERS = {  # name -> (write a large file at path, whether the error names the file)
    "numpy.save": (_numpy_save, False),
    "chunk cache (numpy.savez)": (lambda path: ChunkCache(path.parent, "dense").put(0, vectors=np.zeros((200, 384), np.float32)), False),
    "document store (SQLite)": (lambda path: write_docstore(path, [Document(f"d{i}", "t", "x" * 1000) for i in range(200)], "id"), True),
    "FAISS write_index": (_faiss_write, True),
    "Path.write_text": (lambda path: path.write_text("x" * 200_000), False),
}


@pytest.mark.parametrize("writer", list(WRITERS))
def test_each_writer_runs_out_of_space_in_one_line(writer, tiny_tmpfs, tmp_path):
    write, names_file = WRITERS[writer]
    if tiny_tmpfs is None:
        if writer == "document store (SQLite)":
            pytest.skip("SQLite cannot open /dev/full as a database; needs the tmpfs")
        folder, target = Path("/dev"), Path("/dev/full")  # ENOSPC on every write, no mount needed
        if writer == "chunk cache (numpy.savez)":
            pytest.skip("the chunk cache writes a temp file beside its target; needs the tmpfs")
    else:
        folder = tiny_tmpfs
        target = folder / f"file-{uuid.uuid4().hex[:6]}"
    with pytest.raises(TandemError) as info:
        with disk_errors(str(folder)):
            write(target)
    error = info.value
    assert error.where == str(folder) and "\n" not in error.message
    assert error.message == (f"no space left on device writing {target}" if names_file else "no space left on device while writing the index")
    if tiny_tmpfs is not None and writer == "chunk cache (numpy.savez)":
        assert not list(folder.iterdir())  # the partial temp chunk is removed
