"""Document store of one segment: SQLite file mapping row <-> doc id, title, text.

Row ``idx`` (0-based) is the document's position in its segment, the row number that the
segment's postings and FAISS index use. A ``meta`` table records the index id, so a store
copied from another index is detected on open. Text is read on demand.
"""
from __future__ import annotations

import errno
import sqlite3
import threading
from pathlib import Path
from typing import Iterable

from .corpus import Document
from .errors import IndexFormatError
from .progress import progress
from .shared_readers import shared_reader

FILENAME = "docs.sqlite"


def write_docstore(path: Path, docs: Iterable[Document], index_id: str = "", show_progress: bool = False, total: int | None = None,
                   texts: bool = True) -> int:
    """Write documents in order; row ``idx`` is the document's row in the segment. Without ``texts``
    only ids are kept (the titles and texts live elsewhere: ``--docstore milvus``).

    ``show_progress`` shows the count of stored documents (no rate: the work is in SQLite's chunked inserts).
    """
    con = sqlite3.connect(path)
    bar = progress(total=total, desc="document store", unit="doc", rate=False, disable=not show_progress)
    try:
        con.execute("PRAGMA journal_mode=OFF")
        con.execute("PRAGMA synchronous=OFF")
        con.execute("CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT)")
        con.execute("CREATE TABLE docs (idx INTEGER PRIMARY KEY, doc_id TEXT NOT NULL UNIQUE, title TEXT, text TEXT)")
        count = 0
        rows = ((i, d.doc_id, d.title, d.text) if texts else (i, d.doc_id, None, None) for i, d in enumerate(docs))
        for chunk in _chunks(rows, 10_000):
            con.executemany("INSERT INTO docs VALUES (?, ?, ?, ?)", chunk)
            count += len(chunk)
            bar.update(len(chunk))
        con.executemany("INSERT INTO meta VALUES (?, ?)", [("index_id", index_id), ("num_docs", str(count)), ("texts", "stored" if texts else "external")])
        con.commit()
    except sqlite3.OperationalError as exc:
        if exc.sqlite_errorcode == sqlite3.SQLITE_FULL:  # as an OSError, so that a full disk is reported as every other write's
            raise OSError(errno.ENOSPC, "No space left on device", str(path)) from None
        raise
    finally:
        bar.close()
        con.close()
    return count


def _chunks(rows, size):
    chunk = []
    for row in rows:
        chunk.append(row)
        if len(chunk) == size:
            yield chunk
            chunk = []
    if chunk:
        yield chunk


def open_store(path: Path, expect_index_id: str | None = None, expect_count: int | None = None) -> "DocStore":
    """The document store at ``path``, shared by every snapshot of this process that has it open
    (:mod:`tandem.index.shared_readers`): a reopen after a commit reads only the new segments' ids."""
    path = Path(path)
    try:
        store = shared_reader("docstore", path, lambda: DocStore(path))
    except OSError:
        raise IndexFormatError("document store missing", str(path)) from None
    store.check(expect_index_id, expect_count)
    return store


class DocStore:
    """Read-only access to one segment's document store; safe to share between threads."""

    def __init__(self, path: Path) -> None:
        self.path = Path(path)
        if not self.path.is_file():
            raise IndexFormatError("document store missing", str(self.path))
        self._uri = f"file:{self.path}?mode=ro&immutable=1"
        self._local = threading.local()
        try:
            meta = dict(self._con.execute("SELECT key, value FROM meta").fetchall())
            self.doc_ids: list[str] = [row[0] for row in self._con.execute("SELECT doc_id FROM docs ORDER BY idx")]
        except sqlite3.DatabaseError as exc:
            raise IndexFormatError(f"document store unreadable: {exc}", str(self.path)) from None
        self.index_id = meta.get("index_id")
        self.external_texts = meta.get("texts") == "external"  # ids only: titles and texts are in the index's document source
        self._index = {doc_id: i for i, doc_id in enumerate(self.doc_ids)}

    def check(self, expect_index_id: str | None = None, expect_count: int | None = None) -> None:
        """Refuse a store of another index (``expect_index_id``) or of another size than the manifest's (``expect_count``)."""
        if expect_index_id is not None and self.index_id != expect_index_id:
            raise IndexFormatError("document store belongs to another index (index id differs from the manifest)", str(self.path))
        if expect_count is not None and len(self.doc_ids) != expect_count:
            raise IndexFormatError(f"document store has {len(self.doc_ids)} documents, the manifest says {expect_count}", str(self.path))

    @property
    def _con(self) -> sqlite3.Connection:
        """One read-only connection per thread (the store is shared by concurrent searches)."""
        con = getattr(self._local, "con", None)
        if con is None:
            con = self._local.con = sqlite3.connect(self._uri, uri=True, check_same_thread=False)
        return con

    def __len__(self) -> int:
        return len(self.doc_ids)

    def row(self, doc_id: str) -> int | None:
        return self._index.get(doc_id)

    def get_rows(self, rows: list[int]) -> list[Document]:
        out: dict[int, Document] = {}
        for start in range(0, len(rows), 500):
            part = [int(r) for r in rows[start : start + 500]]
            marks = ",".join("?" * len(part))
            for idx, doc_id, title, text in self._con.execute(f"SELECT idx, doc_id, title, text FROM docs WHERE idx IN ({marks})", part):
                out[idx] = Document(doc_id, title, text)
        return [out[int(r)] for r in rows]

    def get(self, doc_id: str) -> Document | None:
        row = self._con.execute("SELECT doc_id, title, text FROM docs WHERE doc_id = ?", (doc_id,)).fetchone()
        return Document(*row) if row else None

    def __iter__(self):
        for row in self._con.execute("SELECT doc_id, title, text FROM docs ORDER BY idx"):
            yield Document(*row)
