"""Commit points, reader leases and clean-up of a live index directory (as Lucene's).

Layout::

    DIR/manifest.json            the current commit (replaced atomically)
    DIR/commits/<gen>.json       a copy of each commit that may still be in use
    DIR/commits/<gen>.lease      readers hold a shared flock on it while they use that commit
    DIR/segments/<name>/         immutable segments (a document store, segment-local backend files,
                                 deletion bitmaps deletes-<gen>.npy written anew at each change)
    DIR/components/<name>/<dir>/ index-wide files of a component at some generation
    DIR/.staging/                a writer's work in progress (removed when the next writer starts)

A writer (under :class:`tandem.index.locking.WriterLock`) stages new files, moves them into place under
names no commit uses yet, then :func:`commit` writes ``commits/<gen>.json`` and replaces
``manifest.json``: a crash at any point leaves the previous commit readable, and files of an
unfinished change are unreferenced and removed by the next :func:`collect_garbage`.
A reader :func:`open_commit` reads ``manifest.json`` and takes a shared lease on its generation;
:func:`collect_garbage` deletes a superseded commit's files only once it can take that lease
exclusively, i.e. when no reader holds it.
"""
from __future__ import annotations

import fcntl
import os
import shutil
from dataclasses import dataclass
from pathlib import Path

from .errors import IndexFormatError
from .faults import crash_point
from .manifest import FILENAME, Manifest, manifest_json, now, parse_manifest, read_manifest, write_atomic

COMMITS = "commits"
SEGMENTS = "segments"
COMPONENTS = "components"
STAGING = ".staging"


def commit_path(root: Path, generation: int) -> Path:
    return Path(root) / COMMITS / f"{generation:06d}.json"


def lease_path(root: Path, generation: int) -> Path:
    return Path(root) / COMMITS / f"{generation:06d}.lease"


@dataclass
class Lease:
    """A reader's hold on one generation: its files are not deleted until :meth:`release`."""

    generation: int
    fd: int | None

    def release(self) -> None:
        if self.fd is not None:
            fcntl.flock(self.fd, fcntl.LOCK_UN)
            os.close(self.fd)
            self.fd = None

    def __del__(self) -> None:  # a forgotten lease must not keep files forever
        try:
            self.release()
        except OSError:
            pass


def open_commit(root: Path, attempts: int = 20) -> tuple[Manifest, Lease]:
    """The current commit and a lease on it (retrying if a writer replaced it meanwhile)."""
    root = Path(root)
    for _ in range(attempts):
        manifest = read_manifest(root)
        path = lease_path(root, manifest.generation)
        try:
            fd = os.open(path, os.O_RDONLY | os.O_CREAT, 0o644)
        except OSError:  # read-only index folder: no leases, nothing is collected there either
            return manifest, Lease(manifest.generation, None)
        fcntl.flock(fd, fcntl.LOCK_SH)
        if commit_path(root, manifest.generation).is_file():
            return manifest, Lease(manifest.generation, fd)
        fcntl.flock(fd, fcntl.LOCK_UN)  # collected between our read and our lease: read again
        os.close(fd)
    raise IndexFormatError("the index changed too often while opening it; try again", str(root))


def commit(root: Path, manifest: Manifest, operation: str, details: dict | None = None) -> Manifest:
    """Publish ``manifest`` as the next generation (atomically); returns what was written."""
    from .manifest import HistoryEntry

    root = Path(root)
    generation = manifest.generation + 1
    history = (manifest.history + [HistoryEntry(generation=generation, operation=operation, details=details or {})])[-50:]
    new = manifest.model_copy(update={"generation": generation, "updated_at": now(), "history": history})
    (root / COMMITS).mkdir(exist_ok=True)
    text = manifest_json(new)
    write_atomic(commit_path(root, generation), text)
    crash_point("commit:before-manifest")
    write_atomic(root / FILENAME, text)
    crash_point("commit:after-manifest")
    return new


def referenced_paths(manifest: Manifest) -> set[str]:
    """Segment dirs, deletion files and component dirs a commit needs (relative paths)."""
    paths = set()
    for seg in manifest.segments:
        paths.add(f"{SEGMENTS}/{seg.name}")
        if seg.deletes:
            paths.add(seg.deletes)
    for component in manifest.components:
        if component.shared_dir:
            paths.add(component.shared_dir)
    return paths


def collect_garbage(root: Path, current: Manifest) -> list[str]:
    """Delete what no live commit references; call only under the writer lock. Returns what was removed.

    Live = the current commit and every older one whose lease a reader still holds. Only
    Tandem's own folders (segments/, components/, commits/, .staging/) are ever touched.
    """
    root = Path(root)
    keep = referenced_paths(current)
    held: list[int] = []
    commits_dir = root / COMMITS
    for path in sorted(commits_dir.glob("*.json")) if commits_dir.is_dir() else []:
        try:
            generation = int(path.stem)
        except ValueError:
            continue
        if generation == current.generation:
            continue
        fd = os.open(lease_path(root, generation), os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:  # a reader holds it: keep its files
            os.close(fd)
            try:
                keep |= referenced_paths(parse_manifest(path.read_text(encoding="utf-8"), str(path)))
            except IndexFormatError:
                pass
            held.append(generation)
            continue
        path.unlink()
        lease_path(root, generation).unlink(missing_ok=True)
        fcntl.flock(fd, fcntl.LOCK_UN)
        os.close(fd)
    removed = []
    segments_dir = root / SEGMENTS
    for seg_dir in sorted(segments_dir.iterdir()) if segments_dir.is_dir() else []:
        rel = f"{SEGMENTS}/{seg_dir.name}"
        if rel not in keep:
            shutil.rmtree(seg_dir, ignore_errors=True)
            removed.append(rel)
            crash_point("gc:after-first-removal")
            continue
        for deletes in seg_dir.glob("deletes-*.npy"):
            rel_del = f"{rel}/{deletes.name}"
            if rel_del not in keep:
                deletes.unlink()
                removed.append(rel_del)
    components_dir = root / COMPONENTS
    for comp_dir in sorted(components_dir.iterdir()) if components_dir.is_dir() else []:
        for gen_dir in sorted(comp_dir.iterdir()):
            rel = f"{COMPONENTS}/{comp_dir.name}/{gen_dir.name}"
            if rel not in keep:
                shutil.rmtree(gen_dir, ignore_errors=True) if gen_dir.is_dir() else gen_dir.unlink()
                removed.append(rel)
        if not any(comp_dir.iterdir()):
            comp_dir.rmdir()
    # stray leases of generations that no longer have a commit file
    for lease in commits_dir.glob("*.lease") if commits_dir.is_dir() else []:
        try:
            generation = int(lease.stem)
        except ValueError:
            continue
        if generation != current.generation and not commit_path(root, generation).is_file() and generation not in held:
            lease.unlink(missing_ok=True)
    return removed


def clear_staging(root: Path) -> Path:
    """A fresh staging folder inside the index (what a crashed writer left there is discarded)."""
    staging = Path(root) / STAGING
    if staging.exists():
        shutil.rmtree(staging)
    staging.mkdir()
    return staging


def link_tree(src: Path, dst: Path) -> None:
    """Hard-link every file below ``src`` into ``dst`` (copy where linking is impossible)."""
    src, dst = Path(src), Path(dst)
    for path in sorted(src.rglob("*")):
        target = dst / path.relative_to(src)
        if path.is_dir():
            target.mkdir(parents=True, exist_ok=True)
            continue
        target.parent.mkdir(parents=True, exist_ok=True)
        try:
            os.link(path, target)
        except OSError:
            shutil.copy2(path, target)
