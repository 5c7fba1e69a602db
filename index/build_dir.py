"""Resumable builds: a hidden work folder beside the output, and chunks of encoded documents.

``<out>/../.<name>.building/`` holds ``stage/`` (the new index being written) and ``cache/``
(encoded chunks, kept when a build is interrupted so that the next run resumes). The work folder
is Tandem's own: it is removed once the build is published, or when a build of another input
starts. :func:`check_output` decides, before any work, whether ``--out`` may be written at all.
"""
from __future__ import annotations

import errno
import re
import shutil
from contextlib import contextmanager
from pathlib import Path

import numpy as np

from .errors import TandemError
from .manifest import raw_format_version


def check_output(out: Path, corpus_path: Path | None, overwrite: bool) -> None:
    """Refuse an ``--out`` whose contents Tandem did not create, or that holds the corpus (one line each)."""
    out = Path(out).resolve()
    if corpus_path is not None:
        corpus = Path(corpus_path).resolve()
        if corpus == out or out in corpus.parents:
            raise TandemError("the output folder contains the corpus; choose another --out", str(out))
    if not out.exists() and not out.is_symlink():
        return
    if not out.is_dir():
        raise TandemError("exists and is not a folder; refusing to replace it", str(out))
    if not any(out.iterdir()):
        return  # an empty folder: nothing to lose
    if raw_format_version(out) is None:
        raise TandemError("exists and is not a Tandem index (no valid manifest.json); refusing to overwrite a folder Tandem did not create", str(out))
    if not overwrite:
        raise TandemError("output already exists (use --overwrite to replace the index)", str(out))


SPACE_ERRNOS = {errno.ENOSPC: "no space left on device", errno.EDQUOT: "disk quota exceeded", errno.EFBIG: "file too large"}
_FAISS_WRITE_ERROR = re.compile(r"write error in (\S+?):.*\((No space left on device|Disk quota exceeded|File too large)\)")
_NUMPY_SHORT_WRITE = re.compile(r"^\d+ requested and \d+ written$")


def out_of_space(exc: BaseException) -> tuple[str, str | None] | None:
    """(what ran out, the file if known) when a write failed for lack of space, quota or file size; else None.

    Each writer says it its own way: Python and most libraries an OSError with an errno; numpy's
    ``np.save`` only "N requested and M written" (a short write, which on a regular file means the
    disk or quota is full); FAISS a RuntimeError quoting strerror and the file.
    """
    if isinstance(exc, OSError) and exc.errno in SPACE_ERRNOS:
        return SPACE_ERRNOS[exc.errno], exc.filename
    if isinstance(exc, OSError) and exc.errno is None and _NUMPY_SHORT_WRITE.match(str(exc)):
        return "no space left on device", None
    if isinstance(exc, RuntimeError):
        found = _FAISS_WRITE_ERROR.search(str(exc))
        if found:
            return found.group(2).lower(), found.group(1)
    return None


@contextmanager
def disk_errors(where: str):
    """Turn 'no space left' and similar write errors into one line: ``<where>: no space left on device
    writing <file>`` (``while writing the index`` when the error does not name the file)."""
    try:
        yield
    except (OSError, RuntimeError) as exc:
        space = out_of_space(exc)
        if space is None:
            raise
        what, filename = space
        raise TandemError(f"{what} writing {filename}" if filename else f"{what} while writing the index", where) from None


class StagingDir:
    """``with StagingDir(out, key) as s:`` gives ``s.stage`` (empty) and ``s.cache`` (kept for resuming)."""

    def __init__(self, out: Path, cache_key: str) -> None:
        """``cache_key`` identifies the input (e.g. the corpus sha256); chunks of another input are dropped."""
        self.out = Path(out).resolve()
        self.work = self.out.parent / f".{self.out.name}.building"
        self.stage = self.work / "stage"
        self.cache = self.work / "cache"
        self.cache_key = cache_key

    def __enter__(self) -> "StagingDir":
        self.out.parent.mkdir(parents=True, exist_ok=True)
        key_file = self.work / "cache_key"
        if self.work.exists() and (not key_file.exists() or key_file.read_text() != self.cache_key):
            shutil.rmtree(self.work)  # a different corpus: cached chunks are useless
        self.cache.mkdir(parents=True, exist_ok=True)
        key_file.write_text(self.cache_key)
        if self.stage.exists():
            shutil.rmtree(self.stage)
        self.stage.mkdir()
        return self

    def __exit__(self, exc_type, exc, tb) -> None:
        if exc_type is None:
            shutil.rmtree(self.work, ignore_errors=True)
        elif isinstance(exc, TandemError) or out_of_space(exc):
            shutil.rmtree(self.work, ignore_errors=True)  # bad input or a full disk: nothing worth resuming, space to give back
        else:
            shutil.rmtree(self.stage, ignore_errors=True)  # keep cache/ so a rerun resumes


class ChunkCache:
    """Encoded chunks saved as ``<name>-<i>.npz``; each file is written atomically."""

    def __init__(self, directory: Path, name: str) -> None:
        self.directory = directory
        self.name = name

    def path(self, i: int) -> Path:
        return self.directory / f"{self.name}-{i:06d}.npz"

    def get(self, i: int) -> dict[str, np.ndarray] | None:
        path = self.path(i)
        if not path.exists():
            return None
        with np.load(path) as data:
            return {key: data[key] for key in data.files}

    def put(self, i: int, **arrays: np.ndarray) -> None:
        tmp = self.directory / f".{self.name}-{i:06d}.tmp.npz"
        try:
            np.savez(tmp, **arrays)
        except BaseException:
            tmp.unlink(missing_ok=True)  # a partial chunk (e.g. on a full disk) is never left behind
            raise
        tmp.rename(self.path(i))
