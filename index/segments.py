"""Segments of a live index: immutable document stores plus per-generation deletion bitmaps.

:class:`IndexSnapshot` is what a reader sees of one commit: its segments, which rows are deleted,
and the lookup of a document id to ``(segment, row)``. Backends that keep data per segment use the
same row numbers (row ``i`` of a segment's postings or FAISS index is row ``i`` of its store).
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from . import docstore
from .commits import SEGMENTS, Lease, open_commit
from .corpus import Document
from .errors import IndexFormatError
from .manifest import Manifest, SegmentInfo, check_sizes


def segment_dir(root: Path, name: str) -> Path:
    return Path(root) / SEGMENTS / name


def load_deletes(root: Path, info: SegmentInfo) -> np.ndarray | None:
    """Boolean mask of deleted rows, or None when nothing of the segment is deleted."""
    if not info.deletes:
        return None
    path = Path(root) / info.deletes
    try:
        mask = np.load(path).astype(bool)
    except (OSError, ValueError) as exc:
        raise IndexFormatError(f"deletion bitmap unreadable: {exc}", str(path)) from None
    if mask.shape != (info.num_docs,) or int(mask.sum()) != info.num_deleted:
        raise IndexFormatError(f"deletion bitmap does not match the manifest ({info.num_docs} rows, {info.num_deleted} deleted)", str(path))
    return mask


def write_deletes(root: Path, info: SegmentInfo, mask: np.ndarray, generation: int) -> SegmentInfo:
    """A new deletion bitmap for ``info`` (a new file: the old one stays for older readers)."""
    rel = f"{SEGMENTS}/{info.name}/deletes-{generation:06d}.npy"
    np.save(Path(root) / rel, mask.astype(np.uint8))
    return info.model_copy(update={"deletes": rel, "num_deleted": int(mask.sum())})


@dataclass
class SegmentReader:
    info: SegmentInfo
    path: Path
    docs: docstore.DocStore
    deleted: np.ndarray | None  # bool per row, None = no deletions

    @property
    def num_deleted(self) -> int:
        return self.info.num_deleted

    def is_live(self, row: int) -> bool:
        return self.deleted is None or not bool(self.deleted[row])

    def live_rows(self) -> np.ndarray:
        rows = np.arange(self.info.num_docs)
        return rows if self.deleted is None else rows[~self.deleted]


def text_source(manifest: Manifest):
    """Where an index keeps titles and texts when its segments' stores hold only ids: the Milvus
    collection of its Milvus components (``docstore: milvus``); None for the local stores."""
    if manifest.docstore == "sqlite":
        return None
    from .milvus import MilvusConfig, MilvusTexts

    for component in manifest.components:
        if isinstance(component.settings.get("milvus"), dict):
            return MilvusTexts(MilvusConfig(**component.settings["milvus"]))
    raise IndexFormatError("docstore is milvus but no component names a Milvus collection", "manifest.json")


class IndexSnapshot:
    """One commit of an index opened for reading (holding a lease on it until :meth:`close`)."""

    def __init__(self, root: Path, manifest: Manifest, lease: Lease | None = None) -> None:
        self.root = Path(root)
        self.manifest = manifest
        self.lease = lease
        self.segments: list[SegmentReader] = []
        self._texts = text_source(manifest)  # None: titles and texts are in the segments' stores
        check_sizes(self.root, manifest)  # a truncated or replaced file is refused here, naming it
        for info in manifest.segments:  # stores shared with this process's other snapshots: a reopen reads new segments only
            path = segment_dir(self.root, info.name)
            store = docstore.open_store(path / docstore.FILENAME, expect_index_id=manifest.index_id, expect_count=info.num_docs)
            self.segments.append(SegmentReader(info, path, store, load_deletes(self.root, info)))

    @classmethod
    def open(cls, root: Path) -> "IndexSnapshot":
        manifest, lease = open_commit(root)
        try:
            return cls(root, manifest, lease)
        except BaseException:
            lease.release()
            raise

    @property
    def generation(self) -> int:
        return self.manifest.generation

    @property
    def num_docs(self) -> int:
        return self.manifest.num_docs

    def __contains__(self, doc_id: str) -> bool:
        return self.locate(doc_id) is not None

    def locate(self, doc_id: str) -> tuple[int, int] | None:
        """(segment number, row) of a live document: its row in each segment's store, newest segment first,
        until one is not deleted (an id is live in one segment at most; older copies are deleted rows)."""
        for s in range(len(self.segments) - 1, -1, -1):
            seg = self.segments[s]
            row = seg.docs.row(doc_id)
            if row is not None and seg.is_live(row):
                return s, row
        return None

    def live_doc_ids(self) -> list[str]:
        """Live ids in index order (segment by segment, row by row)."""
        return [seg.docs.doc_ids[r] for seg in self.segments for r in seg.live_rows()]

    def get(self, doc_id: str) -> Document | None:
        where = self.locate(doc_id)
        if not where:
            return None
        return self._with_texts([self.segments[where[0]].docs.get(doc_id)])[0]

    def _with_texts(self, docs: list[Document]) -> list[Document]:
        """The documents with their titles and texts from the index's document source (when not stored locally)."""
        if self._texts is None or not docs:
            return docs
        texts = self._texts.fetch([d.doc_id for d in docs])
        return [Document(d.doc_id, *texts.get(d.doc_id, ("", ""))) for d in docs]

    def get_many(self, doc_ids: list[str]) -> dict[str, Document]:
        by_segment: dict[int, list[int]] = {}
        for doc_id in doc_ids:
            where = self.locate(doc_id)
            if where:
                by_segment.setdefault(where[0], []).append(where[1])
        out = {}
        for s, rows in by_segment.items():
            for doc in self._with_texts(self.segments[s].docs.get_rows(rows)):
                out[doc.doc_id] = doc
        return out

    def __iter__(self):
        """Live documents in index order."""
        return self.live_documents(range(len(self.segments)))

    def live_documents(self, segments: range):
        """Live documents of these segment numbers, in index order."""
        for seg in (self.segments[s] for s in segments):
            rows = seg.live_rows()
            for start in range(0, len(rows), 1000):
                yield from self._with_texts(seg.docs.get_rows(rows[start : start + 1000].tolist()))

    def close(self) -> None:
        if self.lease is not None:
            self.lease.release()

    def __enter__(self) -> "IndexSnapshot":
        return self

    def __exit__(self, *exc) -> None:
        self.close()
