"""Document store: SQLite file mapping internal row index <-> doc id, title, text.

Text is read on demand, so searching never loads the corpus into memory.
"""
from __future__ import annotations

import sqlite3
import threading
from pathlib import Path
from typing import Iterable

from .corpus import Document

FILENAME = "docs.sqlite"


def write_docstore(path: Path, docs: Iterable[Document]) -> int:
    """Write documents in order; row ``idx`` is the document's internal index."""
    con = sqlite3.connect(path)
    try:
        con.execute("PRAGMA journal_mode=OFF")
        con.execute("PRAGMA synchronous=OFF")
        con.execute("CREATE TABLE docs (idx INTEGER PRIMARY KEY, doc_id TEXT NOT NULL UNIQUE, title TEXT, text TEXT)")
        count = 0
        rows = ((i, d.doc_id, d.title, d.text) for i, d in enumerate(docs))
        for chunk in _chunks(rows, 10_000):
            con.executemany("INSERT INTO docs VALUES (?, ?, ?, ?)", chunk)
            count += len(chunk)
        con.commit()
    finally:
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


class DocStore:
    """Read-only access to a document store; safe to share between threads."""

    def __init__(self, path: Path) -> None:
        self.path = Path(path)
        self._uri = f"file:{self.path}?mode=ro&immutable=1"
        self._local = threading.local()
        self.doc_ids: list[str] = [row[0] for row in self._con.execute("SELECT doc_id FROM docs ORDER BY idx")]
        self._index = {doc_id: i for i, doc_id in enumerate(self.doc_ids)}

    @property
    def _con(self) -> sqlite3.Connection:
        """One read-only connection per thread (the store is shared by concurrent searches)."""
        con = getattr(self._local, "con", None)
        if con is None:
            con = self._local.con = sqlite3.connect(self._uri, uri=True)
        return con

    def __len__(self) -> int:
        return len(self.doc_ids)

    def idx(self, doc_id: str) -> int | None:
        return self._index.get(doc_id)

    def get(self, doc_id: str) -> Document | None:
        row = self._con.execute("SELECT doc_id, title, text FROM docs WHERE doc_id = ?", (doc_id,)).fetchone()
        return Document(*row) if row else None

    def get_many(self, doc_ids: list[str]) -> dict[str, Document]:
        out: dict[str, Document] = {}
        for start in range(0, len(doc_ids), 500):
            part = doc_ids[start : start + 500]
            marks = ",".join("?" * len(part))
            for row in self._con.execute(f"SELECT doc_id, title, text FROM docs WHERE doc_id IN ({marks})", part):
                out[row[0]] = Document(*row)
        return out

    def __iter__(self):
        for row in self._con.execute("SELECT doc_id, title, text FROM docs ORDER BY idx"):
            yield Document(*row)
