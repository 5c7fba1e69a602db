"""Reading corpora: BEIR-style JSONL (``_id``, ``title``, ``text``), validated line by line."""
from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator

from .checksums import sha256_file as file_sha256  # noqa: F401  (the one checksum helper; old name kept)
from .errors import InputError


@dataclass(frozen=True, slots=True)
class Document:
    doc_id: str
    title: str
    text: str

    @property
    def contents(self) -> str:
        """Title and text as one field (the ``flat`` view used by encoders and BM25)."""
        return f"{self.title} {self.text}".strip() if self.title else self.text


@dataclass
class CorpusStats:
    num_docs: int = 0
    num_empty: int = 0


def iter_jsonl(path: Path) -> Iterator[tuple[int, dict]]:
    """Yield ``(line_number, record)``; errors name the file and line."""
    try:
        handle = path.open("rb")
    except OSError as exc:
        raise InputError(f"cannot open: {exc.strerror}", str(path)) from None
    with handle:
        for line_no, raw in enumerate(handle, start=1):
            try:
                line = raw.decode("utf-8")
            except UnicodeDecodeError as exc:
                raise InputError(f"not valid UTF-8 (byte {exc.start})", f"{path}:{line_no}") from None
            if not line.strip():
                continue
            try:
                record = json.loads(line)
            except json.JSONDecodeError as exc:
                raise InputError(f"malformed JSON: {exc.msg} (column {exc.colno})", f"{path}:{line_no}") from None
            if not isinstance(record, dict):
                raise InputError("expected a JSON object", f"{path}:{line_no}")
            yield line_no, record


def read_corpus(path: str | Path, stats: CorpusStats | None = None) -> list[Document]:
    """Read and validate a corpus JSONL file.

    Every line must be a JSON object with a non-empty string ``_id`` that is unique in the
    file. ``title`` and ``text`` default to empty; documents with no text at all are kept and
    counted in ``stats.num_empty``.
    """
    path = Path(path)
    stats = stats if stats is not None else CorpusStats()
    docs: list[Document] = []
    seen: dict[str, int] = {}
    for line_no, record in iter_jsonl(path):
        where = f"{path}:{line_no}"
        doc_id = record.get("_id", record.get("id"))
        if doc_id is None:
            raise InputError("missing '_id'", where)
        if isinstance(doc_id, int):
            doc_id = str(doc_id)
        if not isinstance(doc_id, str) or not doc_id.strip():
            raise InputError(f"'_id' must be a non-empty string, got {doc_id!r}", where)
        if doc_id in seen:
            raise InputError(f"duplicate _id {doc_id!r} (first on line {seen[doc_id]})", where)
        seen[doc_id] = line_no
        title = record.get("title") or ""
        text = record.get("text") or ""
        if not isinstance(title, str) or not isinstance(text, str):
            raise InputError("'title' and 'text' must be strings", where)
        if not (title.strip() or text.strip()):
            stats.num_empty += 1
        docs.append(Document(doc_id, title, text))
    if not docs:
        raise InputError("corpus is empty", str(path))
    stats.num_docs = len(docs)
    return docs
