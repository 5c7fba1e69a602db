"""Readers of a committed segment's files, shared by every snapshot of a process that has them open.

A segment is written once and never changed (deletions are separate files), so a reader that opens
the next commit while the previous one is still open (``tandem serve`` after every add or delete)
needs to open only the new segments, as Lucene's ``DirectoryReader.openIfChanged`` keeps the
readers of unchanged segments. Readers are keyed by what they read and that file's (or folder's
files') identity: device, inode, size and modification time, so a file replaced or rewritten under
the same name is opened afresh. They are held weakly: once no snapshot holds a reader, the next open
reads the files again.
"""
from __future__ import annotations

import os
import threading
import weakref
from pathlib import Path
from typing import Callable, TypeVar

T = TypeVar("T")

_OPEN: "weakref.WeakValueDictionary[tuple, object]" = weakref.WeakValueDictionary()
_LOCK = threading.Lock()


def identity(path: Path) -> tuple:
    """What changes when the file at ``path`` (or any file directly in the folder ``path``) is replaced or rewritten.
    Raises OSError when ``path`` is missing."""
    path = Path(path)
    st = path.stat()
    if not path.is_dir():
        return (str(path.resolve()), st.st_dev, st.st_ino, st.st_size, st.st_mtime_ns)
    files = []
    with os.scandir(path) as entries:
        for entry in entries:
            if entry.is_file():
                f = entry.stat()
                files.append((entry.name, f.st_ino, f.st_size, f.st_mtime_ns))
    return (str(path.resolve()), st.st_dev, st.st_ino, *sorted(files))


def shared_reader(kind: str, path: Path, open_reader: Callable[[], T]) -> T:
    """The reader of kind ``kind`` for ``path`` that this process already has open, or ``open_reader()`` (which
    must give an object that can be weakly referenced), kept for the next caller while someone holds it."""
    key = (kind, *identity(path))
    with _LOCK:
        reader = _OPEN.get(key)
    if reader is None:
        reader = open_reader()  # outside the lock: opening a large segment takes a while
        with _LOCK:
            reader = _OPEN.setdefault(key, reader)
    return reader
