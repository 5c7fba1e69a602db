"""Atomic index builds: write into a hidden work dir, rename into place when complete.

``<out>/../.<name>.building/`` holds ``stage/`` (the index being written) and ``cache/``
(encoded chunks, kept when a build is interrupted so that the next run resumes). Until
``publish()`` renames ``stage`` to ``<out>``, no directory exists at ``<out>``.
"""
from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np

from .errors import TandemError


class StagingDir:
    def __init__(self, out: Path, cache_key: str, overwrite: bool = False) -> None:
        """``cache_key`` identifies the input (e.g. the corpus sha256); chunks of another input are dropped."""
        self.out = Path(out).resolve()
        self.work = self.out.parent / f".{self.out.name}.building"
        self.stage = self.work / "stage"
        self.cache = self.work / "cache"
        self.cache_key = cache_key
        self.overwrite = overwrite

    def __enter__(self) -> "StagingDir":
        if self.out.exists() and not self.overwrite:
            raise TandemError("output already exists (use --overwrite to replace it)", str(self.out))
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
            return
        if isinstance(exc, TandemError):
            shutil.rmtree(self.work, ignore_errors=True)  # bad input: nothing worth resuming
        else:
            shutil.rmtree(self.stage, ignore_errors=True)  # keep cache/ so a rerun resumes

    def publish(self) -> Path:
        old = None
        if self.out.exists():
            old = self.work / "previous"
            self.out.rename(old)
        self.stage.rename(self.out)
        shutil.rmtree(self.work, ignore_errors=True)
        return self.out


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
        np.savez(tmp, **arrays)
        tmp.rename(self.path(i))
