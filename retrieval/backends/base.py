"""What a backend implements: write a component's files for new documents, apply deletions and
compaction, and open a :class:`~tandem.retrieval.retriever.Retriever` over one commit.

Two kinds of storage, chosen per backend:

- *segment-local* (``segment_local = True``): files in ``segments/<segment>/<component>/``, one set
  per immutable segment, rows numbered as the segment's document store. Deletions are the index's
  bitmaps; the retriever skips deleted rows. Compaction rewrites live rows into one new segment.
- *index-wide* (``segment_local = False``): files in ``components/<component>/<dir>/`` that the
  backend changes copy-on-write (e.g. a Lucene index snapshot by hard links, then appended to).

Either kind may keep index-wide files (``shared_dir``), e.g. a tokenizer and an IDF table.
"""
from __future__ import annotations

from abc import ABC, abstractmethod
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import ClassVar, Literal, Sequence

import numpy as np
import scipy.sparse as sp

from tandem.index.corpus import Document
from tandem.index.errors import IndexFormatError
from tandem.index.manifest import ComponentInfo
from tandem.index.segments import IndexSnapshot

DocInput = Literal["sparse", "dense", "text"]


@dataclass
class EncodedDocs:
    """New documents and what the components need of them: one entry per document encoder key."""

    docs: list[Document]
    sparse: dict[str, sp.csr_matrix] = field(default_factory=dict)  # docs x vocab
    dense: dict[str, np.ndarray] = field(default_factory=dict)  # docs x dim
    tokenizers: dict[str, object] = field(default_factory=dict)  # sparse encoder key -> tokenizer
    seconds: dict[str, float] = field(default_factory=dict)  # component name -> time spent encoding for it
    derived: dict[tuple, object] = field(default_factory=dict)  # what components compute from these documents, computed once (e.g. corpus IDF)

    @property
    def doc_ids(self) -> list[str]:
        return [d.doc_id for d in self.docs]

    def reordered(self, order: np.ndarray) -> "EncodedDocs":
        """The same documents and vectors with document ``order[i]`` at position ``i`` (what a segment stores
        per row follows; index-wide results derived from the documents do not depend on their order)."""
        order = np.asarray(order)
        return EncodedDocs([self.docs[i] for i in order], {k: m[order] for k, m in self.sparse.items()},
                           {k: np.ascontiguousarray(v[order]) for k, v in self.dense.items()}, dict(self.tokenizers), dict(self.seconds), dict(self.derived))


@dataclass
class SharedChange:
    """A change to apply to an index-wide store: delete ``deleted_ids``, then add ``added``; or merge."""

    previous_dir: Path | None  # None: create
    new_dir: Path  # where to write (does not exist yet)
    added: EncodedDocs | None = None
    deleted_ids: Sequence[str] = ()
    merge: bool = False
    live_docs: list[Document] | None = None  # for merge: the documents that remain, in index order


class Backend(ABC):
    """One storage/search engine, registered by ``name``."""

    name: ClassVar[str]
    doc_input: ClassVar[DocInput]
    segment_local: ClassVar[bool]
    description: ClassVar[str] = ""
    required_settings: ClassVar[tuple[str, ...]] = ()  # dotted paths into the component's settings that opening it needs
    has_shared_dir: ClassVar[bool] = False  # whether every component of this backend has index-wide files

    # -- writing ------------------------------------------------------------------------------
    def settings_from(self, config) -> dict:
        """This backend's own settings taken from a build config (``tandem.retrieval.build.BuildConfig``)."""
        return {}

    def write_segment(self, seg_dir: Path, component: ComponentInfo, docs: EncodedDocs) -> dict:
        """Segment-local backends: write the component's files for these documents; returns statistics."""
        raise NotImplementedError(f"{self.name} keeps no segment files")

    def merge_segments(self, parts: list[tuple[Path, np.ndarray]], seg_dir: Path, component: ComponentInfo, order: np.ndarray | None = None) -> dict:
        """Segment-local backends: write one segment of the live ``rows`` of each ``(segment dir, rows)``, concatenated
        in that order, or with row ``order[i]`` of that concatenation at position ``i`` when ``order`` is given."""
        raise NotImplementedError(f"{self.name} keeps no segment files")

    def merged_doc_matrix(self, parts: list[tuple[Path, np.ndarray]], component: ComponentInfo) -> sp.csr_matrix | None:
        """Sparse backends: the docs x vocab matrix of the live rows of the parts, concatenated (what
        :meth:`merge_segments` writes; a merge orders documents by it); None for the others."""
        return None

    def update_shared(self, component: ComponentInfo, change: SharedChange, context: "WriteContext") -> dict | None:
        """Apply a change to the index-wide files, writing ``change.new_dir``; returns settings to merge
        into the component's, or None when the shared files stay as they are (nothing is written)."""
        return None

    # -- checking -----------------------------------------------------------------------------
    def check_settings(self, component: ComponentInfo, where: str) -> None:
        """Refuse (one line naming the manifest, ``where``) a component that lacks what opening it needs."""
        if self.has_shared_dir and not component.shared_dir:
            raise IndexFormatError(f"component {component.name!r} ({self.name}) has no shared_dir", where)
        for path in self.required_settings:
            value = component.settings
            for key in path.split("."):
                if not isinstance(value, dict) or key not in value:
                    raise IndexFormatError(f"component {component.name!r} ({self.name}) has no setting {path!r}", where)
                value = value[key]

    def check(self, snapshot: IndexSnapshot, component: ComponentInfo, thorough: bool = False) -> None:
        """Check the component's files in this commit without loading a model: what opening its retriever
        checks, and with ``thorough`` (``tandem index info --verify``) also what reads all of the data."""

    # -- reading ------------------------------------------------------------------------------
    def prepare_search(self, component: ComponentInfo) -> float:
        """Make ready, ahead of the first query, what searching this component needs beyond its files
        (e.g. compiled kernels, cached per machine); returns the seconds taken. Default: nothing."""
        return 0.0

    @abstractmethod
    def open(self, snapshot: IndexSnapshot, component: ComponentInfo, device: str = "cpu"):
        """A Retriever over ``component`` in this commit."""

    def describe(self, component: ComponentInfo, segments=()) -> str:
        """One line for `tandem index info` and build summaries (``segments``: the commit's SegmentInfos)."""
        return self.description


@dataclass
class WriteContext:
    """What the writer knows while applying a change (models are loaded only if a backend asks)."""

    root: Path
    encoders: "object"  # tandem.retrieval.writer.DocEncoders
    live_docs: list[Document] | None = None
    components: list[ComponentInfo] = field(default_factory=list)  # every component of the change (a store shared by several, e.g. Milvus, writes whole rows once)
    generation: int | None = None  # the generation this change will commit as


class EncodingRetriever:
    """What every retriever that encodes its own queries shares: ``search`` = ``encode`` the batch, then
    ``search_encoded``, each timed into ``timings`` as ``<name>_encode`` / ``<name>_search``."""

    name: str

    def encode(self, queries: list[str]):
        raise NotImplementedError

    def search_encoded(self, encoded, k: int) -> list["Ranking"]:
        raise NotImplementedError

    def search(self, queries, k: int, *, timings: dict[str, float] | None = None) -> list["Ranking"]:
        t0 = time.perf_counter()
        encoded = self.encode(list(queries))
        t1 = time.perf_counter()
        out = self.search_encoded(encoded, k)
        if timings is not None:
            timings[f"{self.name}_encode"] = round((t1 - t0) * 1000, 3)
            timings[f"{self.name}_search"] = round((time.perf_counter() - t1) * 1000, 3)
        return out


def segment_component_dir(snapshot_or_root, segment_name: str, component: str) -> Path:
    root = snapshot_or_root.root if isinstance(snapshot_or_root, IndexSnapshot) else Path(snapshot_or_root)
    return root / "segments" / segment_name / component


def live_top_k(seg, rows: np.ndarray, scores: np.ndarray, k: int) -> tuple[list[str], np.ndarray]:
    """A segment's ranked ``rows`` (fetched as top ``k + seg.num_deleted``, so that deletions cannot
    leave fewer than ``k``) without its deleted rows, cut to ``k``, as (doc ids, scores)."""
    if seg.deleted is not None and rows.size:
        keep = ~seg.deleted[rows]
        rows, scores = rows[keep], scores[keep]
    ids = seg.docs.doc_ids
    return [ids[r] for r in rows[:k]], scores[:k]


def merge_top_k(parts: list[tuple[list[str], np.ndarray]], k: int) -> dict[str, float]:
    """Merge per-segment ranked lists (ids, scores; each best first) into the overall top-k.

    Ties keep index order (earlier segment first, then row order), as one segment's search does.
    """
    if len(parts) == 1:
        ids, scores = parts[0]
        return {d: float(s) for d, s in zip(ids[:k], scores[:k])}
    all_ids = [d for ids, _ in parts for d in ids]
    if not all_ids:
        return {}
    all_scores = np.concatenate([np.asarray(s, dtype=np.float64) for _, s in parts])
    order = np.argsort(-all_scores, kind="stable")[:k]
    return {all_ids[i]: float(all_scores[i]) for i in order}
