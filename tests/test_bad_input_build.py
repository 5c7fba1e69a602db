"""`tandem index build` never destroys what it did not make (issue 13 item 1).

Table-driven: each case sets up a folder (a corpus, and whatever sits at ``--out``), runs the build
command, and expects exit 2 with one line naming the problem, *before* the corpus is read or a
model is loaded, and the whole folder byte for byte as it was: the non-index folder's files, the
corpus, no ``.building`` work folder, no ``.lock`` file.
"""
from __future__ import annotations

import os
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import pytest

from conftest import TINY_DOCS, write_jsonl
from tandem.retrieval import encoders
from tandem.cli import main


def tree(root: Path) -> dict[str, bytes | str]:
    """Every file (hidden ones too) below ``root``: its bytes; folders and symlinks by kind."""
    out: dict[str, bytes | str] = {}
    for path in sorted(root.rglob("*")):
        rel = str(path.relative_to(root))
        if path.is_symlink():
            out[rel] = f"symlink -> {os.readlink(path)}"
        elif path.is_dir():
            out[rel] = "folder"
        else:
            out[rel] = path.read_bytes()
    return out


def corpus_folder(base: Path) -> Path:
    """A BEIR-style dataset folder: ``base/data/corpus.jsonl``."""
    (base / "data").mkdir()
    write_jsonl(base / "data" / "corpus.jsonl", TINY_DOCS)
    return base / "data"


def not_an_index(base: Path) -> Path:
    out = base / "results"
    (out / "runs").mkdir(parents=True)
    (out / "notes.txt").write_text("a week of work\n")
    (out / "runs" / "bm25.trec").write_text("q1 Q0 d1 1 2.5 bm25\n")
    return out


def invalid_manifest(base: Path) -> Path:
    out = base / "results"
    out.mkdir()
    (out / "manifest.json").write_text("{not json")
    (out / "data.bin").write_bytes(b"\x00" * 100)
    return out


def regular_file(base: Path) -> Path:
    out = base / "out.bin"
    out.write_bytes(b"precious")
    return out


def dangling_symlink(base: Path) -> Path:
    out = base / "link"
    out.symlink_to(base / "nowhere")
    return out


def symlink_to_folder(base: Path) -> Path:
    target = not_an_index(base)
    out = base / "link"
    out.symlink_to(target)
    return out


@dataclass(frozen=True)
class Case:
    name: str
    out: Callable[[Path, Path], Path]  # (tmp folder, corpus folder) -> the --out to pass
    message: str
    overwrite: bool = True
    corpus_arg: Callable[[Path], Path] = lambda folder: folder  # what --corpus names: the folder by default


CASES = [
    Case("folder that is not an index", lambda base, _: not_an_index(base), "is not a Tandem index"),
    Case("folder that is not an index, no --overwrite", lambda base, _: not_an_index(base), "is not a Tandem index", overwrite=False),
    Case("folder with an invalid manifest.json", lambda base, _: invalid_manifest(base), "is not a Tandem index"),
    Case("--out is the corpus folder", lambda _, corpus: corpus, "contains the corpus"),
    Case("--out is a folder above the corpus", lambda base, _: base, "contains the corpus"),
    Case("--out is the corpus file", lambda _, corpus: corpus / "corpus.jsonl", "contains the corpus",
         corpus_arg=lambda folder: folder / "corpus.jsonl"),
    Case("--out is a regular file", lambda base, _: regular_file(base), "exists and is not a folder"),
    Case("--out is a symlink to a folder that is not an index", lambda base, _: symlink_to_folder(base), "is not a Tandem index"),
]


@pytest.fixture
def no_work(monkeypatch):
    """Fail the test if the build reads the corpus; an empty encoder cache shows whether a model was loaded."""
    import tandem.retrieval.build
    from tandem import retrieval

    def must_not_read(*args, **kwargs):
        raise AssertionError("the corpus was read before --out was checked")

    monkeypatch.setattr(retrieval.build, "read_corpus", must_not_read)
    monkeypatch.setattr(encoders, "_cache", {})
    return encoders


def run_build(capsys, corpus: Path, out: Path, overwrite: bool) -> tuple[int, str, str]:
    args = ["index", "build", "--corpus", str(corpus), "--out", str(out), "--dense", "none"] + (["--overwrite"] if overwrite else [])
    code = main(args)
    captured = capsys.readouterr()
    return code, captured.out, captured.err


@pytest.mark.parametrize("case", CASES, ids=[c.name for c in CASES])
def test_refused_before_any_work_and_nothing_touched(case: Case, tmp_path, capsys, no_work):
    corpus = corpus_folder(tmp_path)
    out = case.out(tmp_path, corpus)
    before = tree(tmp_path)

    code, stdout, stderr = run_build(capsys, case.corpus_arg(corpus), out, case.overwrite)

    assert code == 2 and stdout == ""
    assert stderr.startswith("tandem: error: ") and stderr.count("\n") == 1 and case.message in stderr, stderr
    assert tree(tmp_path) == before  # nothing deleted, nothing left behind (no .building folder, no .lock file)
    assert no_work._cache == {}  # refused before any model was loaded


def test_existing_index_needs_overwrite(tiny_if_index, tmp_path, capsys, no_work):
    corpus = corpus_folder(tmp_path)
    out = tmp_path / "index"
    shutil.copytree(tiny_if_index, out)
    before = tree(tmp_path)
    code, _, stderr = run_build(capsys, corpus, out, overwrite=False)
    assert code == 2 and "output already exists (use --overwrite" in stderr and stderr.count("\n") == 1
    assert tree(tmp_path) == before
    assert no_work._cache == {}


def test_an_empty_folder_a_new_path_or_a_dangling_symlink_is_accepted(tmp_path, capsys, monkeypatch):
    """The refusals above are not a blanket refusal: --out may be an empty folder, a path that does not
    exist yet, or a symlink to one (the index is then built at its target): the build starts."""
    import tandem.retrieval.build
    from tandem import retrieval

    class Started(Exception):
        pass

    def started(*args, **kwargs):
        raise Started

    monkeypatch.setattr(retrieval.build, "read_corpus", started)
    corpus = corpus_folder(tmp_path)
    (tmp_path / "empty").mkdir()
    for out in (tmp_path / "empty", tmp_path / "new" / "index", dangling_symlink(tmp_path)):
        with pytest.raises(Started):
            run_build(capsys, corpus, out, overwrite=False)
    assert not list(tmp_path.rglob(".*.building"))  # the failed start staged nothing
