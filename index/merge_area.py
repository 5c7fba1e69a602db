"""Where a concurrent merge stages its segments, and how deletes made meanwhile follow the rows.

A merge that runs without the writer lock (:meth:`tandem.retrieval.writer.IndexWriter.merge_concurrently`,
as Lucene's ConcurrentMergeScheduler: adds and deletes go on while segments are merged) cannot stage in
``.staging/``, which every writer clears when it starts. It stages in its own area ``.merging/<tag>/``,
held by an exclusive ``flock`` on ``.merging/<tag>.lock`` for as long as it runs; the area is removed when
the merge ends, committed or not. A writer starting under the writer lock removes the areas whose lock
nobody holds (their process died: the kernel dropped the lock), and only those.
"""
from __future__ import annotations

import fcntl
import os
import shutil
import uuid
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator, Sequence

import numpy as np

MERGING = ".merging"


@contextmanager
def merge_area(root: Path) -> Iterator[Path]:
    """A fresh, locked staging folder for one concurrent merge inside the index at ``root``."""
    base = Path(root) / MERGING
    tag = uuid.uuid4().hex[:8]
    lock_file = base / f"{tag}.lock"
    for attempt in range(10):  # another merge ending may remove the (then empty) folder between the two calls
        base.mkdir(exist_ok=True)
        try:
            fd = os.open(lock_file, os.O_RDWR | os.O_CREAT, 0o644)
            break
        except FileNotFoundError:
            if attempt == 9:
                raise
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)  # created and locked before the folder: a folder without a held lock is stale
        area = base / tag
        area.mkdir()
        try:
            yield area
        finally:
            shutil.rmtree(area, ignore_errors=True)
            lock_file.unlink(missing_ok=True)
    finally:
        os.close(fd)
        try:
            base.rmdir()  # the last merge area gone: no empty folder left behind
        except OSError:
            pass


def clear_stale_merge_areas(root: Path) -> list[str]:
    """Remove the merge areas of merges that no longer run; call under the writer lock. Returns what was removed."""
    base = Path(root) / MERGING
    if not base.is_dir():
        return []
    removed = []
    for lock_file in sorted(base.glob("*.lock")):
        try:
            fd = os.open(lock_file, os.O_RDWR)
        except FileNotFoundError:  # its merge just ended
            continue
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:  # a merge is running there
            os.close(fd)
            continue
        try:
            area = base / lock_file.stem
            if area.exists():
                shutil.rmtree(area, ignore_errors=True)
                removed.append(str(area.relative_to(root)))
            lock_file.unlink(missing_ok=True)
        finally:
            os.close(fd)
    for area in sorted(p for p in base.iterdir() if p.is_dir() and not (base / f"{p.name}.lock").exists()):
        shutil.rmtree(area, ignore_errors=True)  # a folder whose lock file is gone: no merge runs there
        removed.append(str(area.relative_to(root)))
    try:
        base.rmdir()  # only when empty
    except OSError:
        pass
    return removed


def carried_deletes(then: Sequence[np.ndarray | None], now: Sequence[np.ndarray | None], sizes: Sequence[int]) -> np.ndarray:
    """The deletion mask of a segment merged from segments of ``sizes`` rows whose deletion masks were
    ``then`` when the merge read them (None: none deleted) and are ``now`` at its commit: the merged
    segment holds their rows live ``then``, in order, and those deleted since are deleted in it."""
    parts = []
    for before, after, size in zip(then, now, sizes):
        live_then = np.ones(size, dtype=bool) if before is None else ~before
        deleted_now = np.zeros(size, dtype=bool) if after is None else after.astype(bool)
        parts.append(deleted_now[live_then])
    return np.concatenate(parts) if parts else np.zeros(0, dtype=bool)
