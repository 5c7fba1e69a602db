"""The writer lock: one writer (build, add, delete, compact, upgrade) per index at a time.

An exclusive ``fcntl.flock`` on ``<parent>/.<name>.lock`` beside the index (beside, so that a
first build, before the index directory exists, takes the same lock). The lock file holds the
pid and command of the holder, for the message a second writer gets. The kernel drops the lock
when its holder dies (kill -9 included), so a crash never leaves an index locked.
"""
from __future__ import annotations

import fcntl
import os
import sys
import time
from pathlib import Path

from .errors import TandemError


def lock_path(index_dir: Path) -> Path:
    index_dir = Path(index_dir).resolve()
    return index_dir.parent / f".{index_dir.name}.lock"


class WriterLock:
    """``with WriterLock(dir, "add", wait=0):`` — waits up to ``wait`` seconds, then raises TandemError."""

    def __init__(self, index_dir: Path, operation: str, wait: float = 0.0) -> None:
        self.index_dir = Path(index_dir).resolve()
        self.path = lock_path(self.index_dir)
        self.operation = operation
        self.wait = max(0.0, float(wait))
        self._fd: int | None = None

    def __enter__(self) -> "WriterLock":
        self.path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
        deadline = time.monotonic() + self.wait
        while True:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if time.monotonic() >= deadline:
                    holder = os.pread(fd, 512, 0).decode("utf-8", "replace").strip() or "another process"
                    os.close(fd)
                    raise TandemError(
                        f"another writer holds the index lock ({holder}); wait for it to finish or pass --wait SECONDS",
                        str(self.index_dir)) from None
                time.sleep(0.2)
        os.ftruncate(fd, 0)
        os.pwrite(fd, f"pid {os.getpid()}, {self.operation}: {' '.join(sys.argv[:3])}".encode(), 0)
        self._fd = fd
        return self

    def __exit__(self, *exc) -> None:
        if self._fd is not None:
            os.ftruncate(self._fd, 0)
            if not self.index_dir.is_dir() or not any(self.index_dir.iterdir()):  # a first build that failed: leave nothing behind
                self.path.unlink(missing_ok=True)
            fcntl.flock(self._fd, fcntl.LOCK_UN)
            os.close(self._fd)
            self._fd = None
