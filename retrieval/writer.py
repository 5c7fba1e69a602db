"""Changing a live index: add, delete, compact (and the first build), each as one new commit.

Every change runs under the index's writer lock, stages its new files inside the index
(``.staging/``), moves them into place under names no commit uses, and then publishes a new
generation of the manifest atomically (:func:`tandem.index.commits.commit`). Readers holding an older
generation keep it; :func:`tandem.index.commits.collect_garbage` removes what no reader needs any more.

Adding a document whose id is already in the index *replaces* it: the old row is marked deleted
in its segment and the new version goes into the new segment. After an add, the index's merge
policy (:mod:`tandem.index.merge_policy`) may merge adjacent segments, each round a commit of its own.
"""
from __future__ import annotations

import dataclasses
import functools
import shutil
import sys
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Iterable, Literal, Sequence

import numpy as np

from tandem.index import docstore
from tandem.index.build_dir import ChunkCache, disk_errors
from tandem.index.commits import COMPONENTS, SEGMENTS, STAGING, clear_staging, collect_garbage, commit
from tandem.index.corpus import Document
from tandem.index.errors import TandemError
from tandem.index.faults import crash_point
from tandem.index.locking import WriterLock
from tandem.index.manifest import ComponentInfo, Manifest, SegmentInfo, describe_files, files_under, read_manifest
from tandem.index.merge_area import clear_stale_merge_areas
from tandem.index.merge_policy import MergePolicy, plan_merges
from tandem.index.segments import IndexSnapshot, write_deletes
from tandem.index.sparse import stack_vectors

from .backends import EncodedDocs, SharedChange, WriteContext, backend
from .concurrent_merge import BackgroundMerges, merge_concurrently
from .encoders import dense_encoder, encoder_key, splade_encoder

Log = Callable[[str], None]


def _quiet(_: str) -> None:
    pass


# -- encoding ----------------------------------------------------------------------------------
class DocEncoders:
    """Encodes documents once per distinct document encoder that the components need."""

    def __init__(self, components: Sequence[ComponentInfo], device: str = "cpu") -> None:
        self.components = list(components)
        self.device = device

    def needs(self) -> dict[str, tuple[str, dict]]:
        """encoder key -> (kind, encoder settings), for the components that take vectors."""
        out = {}
        for component in self.components:
            kind = backend(component.backend).doc_input
            if kind in ("sparse", "dense"):
                settings = component.settings["encoder"]
                out.setdefault(encoder_key(kind, settings), (kind, settings))
        return out

    def encode(self, docs: list[Document], cache_dir: Path | None = None, chunk_size: int = 2048, show_progress: bool = True) -> EncodedDocs:
        from tandem.index.progress import progress

        encoded = EncodedDocs(docs)
        texts = [d.contents for d in docs]
        for key, (kind, settings) in self.needs().items():
            started = time.perf_counter()
            cache = ChunkCache(cache_dir, f"{kind}-{_short(key)}") if cache_dir is not None else None
            chunks = []
            with progress(total=len(docs), desc=f"{kind} encode", unit="doc", disable=not show_progress) as bar:
                for i, start in enumerate(range(0, len(texts), chunk_size)):
                    part = texts[start : start + chunk_size]
                    arrays = cache.get(i) if cache is not None else None
                    if arrays is None:
                        arrays = _encode_chunk(kind, settings, part, self.device, bar)
                        if cache is not None:
                            cache.put(i, **arrays)
                    else:
                        bar.update(len(part))
                    chunks.append(arrays)
            for component in self.components:
                if backend(component.backend).doc_input == kind and encoder_key(kind, component.settings["encoder"]) == key:
                    encoded.seconds[component.name] = time.perf_counter() - started
            if kind == "sparse":
                encoder = splade_encoder(settings, self.device)
                encoded.sparse[key] = _stack_sparse(chunks, encoder.vocab_size)
                encoded.tokenizers[key] = encoder.tokenizer
            else:
                dim = int(settings.get("dim") or dense_encoder(settings, self.device).dim)
                encoded.dense[key] = np.concatenate([c["vectors"] for c in chunks]) if chunks else np.zeros((0, dim), np.float32)
        return encoded


def _short(key: str) -> str:
    import hashlib

    return hashlib.sha256(key.encode()).hexdigest()[:12]


def _encode_chunk(kind: str, settings: dict, texts: list[str], device: str, bar) -> dict[str, np.ndarray]:
    if kind == "sparse":
        vectors = splade_encoder(settings, device).encode(texts, on_batch=bar.update)
        indptr = np.zeros(len(vectors) + 1, dtype=np.int64)
        np.cumsum([v.nnz for v in vectors], out=indptr[1:])
        ids = np.concatenate([v.ids for v in vectors]) if vectors else np.zeros(0, np.int32)
        weights = np.concatenate([v.weights for v in vectors]) if vectors else np.zeros(0, np.float32)
        return {"indptr": indptr, "ids": ids, "weights": weights}
    return {"vectors": dense_encoder(settings, device).encode_documents(texts, on_batch=bar.update)}


def _stack_sparse(chunks: list[dict[str, np.ndarray]], vocab_size: int):
    from tandem.index.sparse import SparseVector

    vectors = []
    for chunk in chunks:
        indptr, ids, weights = chunk["indptr"], chunk["ids"], chunk["weights"]
        for start, end in zip(indptr[:-1], indptr[1:]):
            vectors.append(SparseVector(ids[start:end], weights[start:end]))
    return stack_vectors(vectors, vocab_size)


# -- staging -----------------------------------------------------------------------------------
def new_segment_name(manifest: Manifest, offset: int = 0) -> str:
    """A name no commit uses: the manifest's next segment number (plus ``offset``) and a random tag."""
    return f"s{manifest.next_segment + offset:06d}-{uuid.uuid4().hex[:6]}"


def new_shared_dir(component: ComponentInfo, generation: int) -> str:
    return f"{COMPONENTS}/{component.name}/g{generation:06d}-{uuid.uuid4().hex[:6]}"


def stage_segment(stage_root: Path, name: str, docs: EncodedDocs, components: Sequence[ComponentInfo], index_id: str, show_progress: bool = False,
                  texts: bool = True) -> SegmentInfo:
    """Write a segment (document store + every segment-local component) below ``stage_root``; without
    ``texts`` the store keeps ids only (the index's titles and texts live in its Milvus collection)."""
    seg_dir = stage_root / SEGMENTS / name
    seg_dir.mkdir(parents=True)
    docstore.write_docstore(seg_dir / docstore.FILENAME, docs.docs, index_id, show_progress=show_progress, total=len(docs.docs), texts=texts)
    stats = {}
    for component in components:
        engine = backend(component.backend)
        if engine.segment_local:
            t0 = time.perf_counter()
            stats[component.name] = engine.write_segment(seg_dir / component.name, component, docs)
            stats[component.name]["seconds"] = round(time.perf_counter() - t0 + docs.seconds.get(component.name, 0.0), 3)
    described = describe_files(stage_root, files_under(seg_dir))
    return SegmentInfo(name=name, num_docs=len(docs.docs), **described.model_dump(), stats=stats)


def merge_segment(stage_root: Path, name: str, snapshot: IndexSnapshot, components: Sequence[ComponentInfo], live_docs: list[Document],
                  segments: range | None = None, show_progress: bool = False) -> tuple[SegmentInfo, np.ndarray | None]:
    """One segment holding the live rows (``live_docs``) of the snapshot's segments numbered ``segments``
    (default: all of them), in index order; for an index built with ``--reorder bp``, in the order recursive
    graph bisection gives their sparse terms (:mod:`tandem.index.reorder`), as the build ordered its segment.
    Returns the segment and that order (row ``order[i]`` of the live rows in index order is row ``i``; None: index order)."""
    readers = snapshot.segments if segments is None else [snapshot.segments[s] for s in segments]
    seg_dir = stage_root / SEGMENTS / name
    seg_dir.mkdir(parents=True)
    parts = {c.name: [(seg.path / c.name, seg.live_rows()) for seg in readers] for c in components if backend(c.backend).segment_local}
    order = merge_order(snapshot.manifest, components, parts, show_progress) if len(live_docs) > 1 else None
    if order is not None:
        live_docs = [live_docs[i] for i in order]
    docstore.write_docstore(seg_dir / docstore.FILENAME, live_docs, snapshot.manifest.index_id, texts=snapshot.manifest.docstore == "sqlite")
    stats = {}
    for component in components:
        engine = backend(component.backend)
        if engine.segment_local:
            stats[component.name] = engine.merge_segments(parts[component.name], seg_dir / component.name, component, order=order)
    described = describe_files(stage_root, files_under(seg_dir))
    return SegmentInfo(name=name, num_docs=len(live_docs), **described.model_dump(), stats=stats), order


def merge_order(manifest: Manifest, components: Sequence[ComponentInfo], parts: dict[str, list], show_progress: bool = False) -> np.ndarray | None:
    """The order of a merged segment's rows: None (index order) unless the index was built with ``--reorder
    bp``, then graph bisection of the first sparse component's merged vectors."""
    if (manifest.build_config or {}).get("reorder", "none") != "bp":
        return None
    for component in components:
        matrix = backend(component.backend).merged_doc_matrix(parts[component.name], component) if component.name in parts else None
        if matrix is not None:
            from tandem.index.reorder import bp_order

            return bp_order(matrix, show_progress=show_progress)
    return None


def apply_shared(stage_root: Path, root: Path, components: list[ComponentInfo], generation: int, make_change: Callable[[Path | None, Path], SharedChange],
                 context: WriteContext) -> list[ComponentInfo]:
    """Let every backend update its index-wide files; returns the components as they will be committed."""
    context = dataclasses.replace(context, components=list(components), generation=generation)
    out = []
    for component in components:
        engine = backend(component.backend)
        rel = new_shared_dir(component, generation)
        previous = root / component.shared_dir if component.shared_dir else None
        update = engine.update_shared(component, make_change(previous, stage_root / rel), context)
        if update is None:
            out.append(component)
            continue
        described = describe_files(stage_root, files_under(stage_root / rel))
        out.append(component.model_copy(update={"shared_dir": rel, "settings": {**component.settings, **update},
                                                 **described.model_dump()}))
    return out


def move_into_place(stage_root: Path, root: Path) -> None:
    """Move staged segments (``segments/<name>``) and component folders (``components/<name>/<dir>``)
    into the index; their names are new, so nothing is replaced."""
    for pattern in (f"{SEGMENTS}/*", f"{COMPONENTS}/*/*"):
        for path in sorted(p for p in stage_root.glob(pattern) if p.is_dir()):
            target = root / path.relative_to(stage_root)
            target.parent.mkdir(parents=True, exist_ok=True)
            path.rename(target)


# -- the writer --------------------------------------------------------------------------------
@dataclass
class ChangeReport:
    """What a change did, for the CLI and the REST API."""

    operation: str
    generation: int
    added: int = 0
    replaced: int = 0
    deleted: int = 0
    unknown_ids: list[str] = field(default_factory=list)
    num_docs: int = 0
    num_segments: int = 0
    seconds: float = 0.0
    encode_seconds: float = 0.0
    removed_files: int = 0
    merged_segments: int = 0  # segments the merge policy merged after the change (into merges_written)
    merges_written: int = 0
    merge_seconds: float = 0.0

    def summary(self) -> dict:
        from dataclasses import asdict

        data = asdict(self)
        data["unknown_ids"] = data["unknown_ids"][:20]
        data["num_unknown"] = len(self.unknown_ids)
        return data


def _reports_full_disk(change):
    """A change that runs out of disk space fails with one line naming the file (and leaves the index as it was)."""
    @functools.wraps(change)
    def wrapper(self: "IndexWriter", *args, **kwargs):
        with disk_errors(str(self.root)):
            return change(self, *args, **kwargs)
    return wrapper


class IndexWriter:
    """Adds, deletes and compacts documents of the index at ``root``, one commit per call."""

    def __init__(self, root: Path, device: str = "cpu", wait: float = 0.0, log: Log = _quiet, show_progress: bool = True) -> None:
        self.root = Path(root)
        self.device = device
        self.wait = wait
        self.log = log
        self.show_progress = show_progress
        self._merges = BackgroundMerges(self)

    def _start(self, operation: str) -> tuple[WriterLock, IndexSnapshot]:
        lock = WriterLock(self.root, operation, self.wait).__enter__()
        try:
            snapshot = IndexSnapshot(self.root, read_manifest(self.root))
            clear_staging(self.root)
            clear_stale_merge_areas(self.root)  # what a merge that died left; running merges keep theirs
            collect_garbage(self.root, snapshot.manifest)  # what a crashed writer left (as Lucene's IndexWriter on open)
        except BaseException:
            lock.__exit__(None, None, None)
            raise
        return lock, snapshot

    def _end(self, lock: WriterLock, snapshot: IndexSnapshot) -> None:
        """Drop what a change that did not commit staged (nothing to do, bad input, an error), release the commit and the lock."""
        shutil.rmtree(self.root / STAGING, ignore_errors=True)
        if sys.exc_info()[0] is not None:  # failed (e.g. a full disk): files moved into place for a commit that did not happen go now
            try:
                collect_garbage(self.root, read_manifest(self.root))
            except (OSError, TandemError):
                pass  # the next writer collects them
        snapshot.close()
        lock.__exit__(None, None, None)

    def _finish(self, manifest: Manifest, operation: str, report: ChangeReport, started: float) -> ChangeReport:
        self._publish(manifest, operation, {k: v for k, v in report.summary().items() if k in ("added", "replaced", "deleted", "num_unknown")}, report)
        report.seconds = round(time.perf_counter() - started, 3)
        return report

    def _publish(self, manifest: Manifest, operation: str, details: dict, report: ChangeReport) -> None:
        """Commit ``manifest`` as the next generation, drop the staging folder, collect garbage; the
        commit's generation, documents and segments (and the files removed) go into ``report``."""
        new = commit(self.root, manifest, operation, details)
        shutil.rmtree(self.root / STAGING, ignore_errors=True)
        report.removed_files += len(collect_garbage(self.root, new))
        report.generation, report.num_docs, report.num_segments = new.generation, new.num_docs, len(new.segments)

    @_reports_full_disk
    def add(self, docs: Iterable[Document], encode: Callable[[list[ComponentInfo]], EncodedDocs] | None = None,
            merge: bool | Literal["background"] = True) -> ChangeReport:
        """Add documents (replacing any with the same id) as one new segment; ``encode(components)``,
        when given, supplies their vectors instead of the encoders (e.g. from `tandem encode` shards).
        Then the index's merge policy merges segments (commits of their own): with ``merge=True`` before
        returning (:meth:`merge`), with ``"background"`` on a thread while the index stays writable
        (:meth:`merge_in_background`), with False not at all."""
        if merge not in (True, False, "background"):
            raise TandemError(f"merge must be True, False or 'background' (got {merge!r})", "merge")
        docs = list(docs)
        if not docs:
            raise TandemError("no documents to add", "add")
        first: dict[str, int] = {}
        for i, doc in enumerate(docs):  # one segment holds an id once (its store's doc_id is UNIQUE)
            if first.setdefault(doc.doc_id, i) != i:
                raise TandemError(f"duplicate document id {doc.doc_id!r} (also at documents[{first[doc.doc_id]}]); nothing added", f"documents[{i}]")
        started = time.perf_counter()
        lock, snapshot = self._start("add")
        try:
            manifest = snapshot.manifest
            stage = self.root / ".staging"
            t0 = time.perf_counter()
            if encode is not None:
                encoded = encode(manifest.components)
            else:
                encoded = DocEncoders(manifest.components, self.device).encode(docs, show_progress=self.show_progress)
            encode_seconds = time.perf_counter() - t0
            replaced = [d.doc_id for d in docs if d.doc_id in snapshot]
            generation = manifest.generation + 1
            segment = stage_segment(stage, new_segment_name(manifest), encoded, manifest.components, manifest.index_id, texts=manifest.docstore == "sqlite")
            components = apply_shared(stage, self.root, manifest.components, generation,
                                      lambda prev, new: SharedChange(prev, new, added=encoded, deleted_ids=replaced), WriteContext(self.root, None))
            crash_point("add:staged")
            segments = self._mark_deleted(snapshot, replaced, generation)
            move_into_place(stage, self.root)
            crash_point("add:moved")
            new = manifest.model_copy(update={"segments": segments + [segment], "components": components, "next_segment": manifest.next_segment + 1})
            report = ChangeReport("add", generation, added=len(docs), replaced=len(replaced), encode_seconds=round(encode_seconds, 3))
            report = self._finish(new, "add", report, started)
            if merge is True:
                self._merge_by_policy(report)
        finally:
            self._end(lock, snapshot)
        if merge == "background":
            self.merge_in_background()
        return report

    @_reports_full_disk
    def merge(self, policy: MergePolicy | None = None) -> ChangeReport:
        """Merge segments as the index's merge policy asks (:mod:`tandem.index.merge_policy`), as
        ``add`` does after adding: for an index changed with ``merge=False``. ``policy`` runs another
        policy once instead (not recorded)."""
        started = time.perf_counter()
        lock, snapshot = self._start("merge")
        try:
            manifest = snapshot.manifest
            report = ChangeReport("merge", manifest.generation, num_docs=manifest.num_docs, num_segments=len(manifest.segments))
            self._merge_by_policy(report, policy)
            report.seconds = round(time.perf_counter() - started, 3)
            return report
        finally:
            self._end(lock, snapshot)

    @_reports_full_disk
    def merge_concurrently(self, policy: MergePolicy | None = None) -> ChangeReport:
        """Merge as :meth:`merge` does, but write the merged segments without holding the writer lock, so
        adds and deletes go on meanwhile (:mod:`tandem.retrieval.concurrent_merge`); returns the counts."""
        started = time.perf_counter()
        report = ChangeReport("merge", 0)
        merge_concurrently(self, report, policy)
        manifest = read_manifest(self.root)
        report.generation, report.num_docs, report.num_segments = manifest.generation, manifest.num_docs, len(manifest.segments)
        report.seconds = round(time.perf_counter() - started, 3)
        return report

    def merge_in_background(self, policy: MergePolicy | None = None) -> None:
        """Run :meth:`merge_concurrently` on this writer's merge thread (started if none runs; one that runs
        plans again when it finishes). A failure is logged and kept in :attr:`merge_error`; the index is unchanged by it."""
        self._merges.request(policy)

    def wait_for_merges(self, timeout: float | None = None) -> bool:
        """Wait for this writer's background merges; True when none runs (then :attr:`merge_error` tells
        whether the last failed, :attr:`last_merge` what it did)."""
        return self._merges.wait(timeout)

    @property
    def merge_error(self) -> BaseException | None:
        return self._merges.error

    @property
    def last_merge(self) -> ChangeReport | None:
        return self._merges.last

    def _merge_by_policy(self, report: ChangeReport, policy: MergePolicy | None = None) -> None:
        """Merge rounds (one commit each) until the policy (default: the index's) asks for none; counts
        go into ``report``. Runs under the writer lock, after the change's own commit."""
        started = time.perf_counter()
        while True:
            snapshot = IndexSnapshot(self.root, read_manifest(self.root))
            try:
                manifest = snapshot.manifest
                ranges = plan_merges([seg.num_live for seg in manifest.segments], policy or manifest.merge_policy)
                if not ranges:
                    break
                merged = sum(end - start for start, end in ranges)
                self.log(f"merging {merged} segments into {len(ranges)} "
                         f"({sum(manifest.segments[s].num_live for start, end in ranges for s in range(start, end)):,} live documents)")
                segments = self._merge_ranges(snapshot, ranges)
            finally:
                snapshot.close()
            self._publish(manifest.model_copy(update={"segments": segments, "next_segment": manifest.next_segment + len(ranges)}),
                          "merge", {"merged_segments": merged, "segments": len(segments)}, report)
            report.merged_segments += merged
            report.merges_written += len(segments) - (len(manifest.segments) - merged)  # a range with no live rows left writes none
        report.merge_seconds = round(time.perf_counter() - started, 3)

    def _merge_ranges(self, snapshot: IndexSnapshot, ranges: list[tuple[int, int]]) -> list[SegmentInfo]:
        """Stage and move into place one segment per range of adjacent segments; the manifest's new segment list."""
        manifest = snapshot.manifest
        stage = self.root / STAGING
        out: list[SegmentInfo] = list(manifest.segments)
        for n, (start, end) in reversed(list(enumerate(ranges))):  # from the last range, so earlier positions stay put
            live_docs = list(snapshot.live_documents(range(start, end)))  # a range with no live rows left just goes
            if live_docs:
                out[start:end] = [merge_segment(stage, new_segment_name(manifest, n), snapshot, manifest.components, live_docs, range(start, end))[0]]
            else:
                del out[start:end]
        crash_point("merge:staged")
        move_into_place(stage, self.root)
        crash_point("merge:moved")
        return out

    @_reports_full_disk
    def delete(self, doc_ids: Iterable[str], strict: bool = False) -> ChangeReport:
        """Mark documents deleted; unknown ids are reported (an error with ``strict``)."""
        doc_ids = list(dict.fromkeys(doc_ids))
        started = time.perf_counter()
        lock, snapshot = self._start("delete")
        try:
            manifest = snapshot.manifest
            present = [d for d in doc_ids if d in snapshot]
            unknown = [d for d in doc_ids if d not in snapshot]
            if unknown and strict:
                raise TandemError(f"{len(unknown)} id(s) not in the index, e.g. {unknown[0]!r} (nothing deleted)", "--ids")
            report = ChangeReport("delete", manifest.generation, deleted=len(present), unknown_ids=unknown)
            if not present:
                report.num_docs, report.num_segments = manifest.num_docs, len(manifest.segments)
                return report
            generation = manifest.generation + 1
            stage = self.root / ".staging"
            components = apply_shared(stage, self.root, manifest.components, generation,
                                      lambda prev, new: SharedChange(prev, new, deleted_ids=present), WriteContext(self.root, None))
            segments = self._mark_deleted(snapshot, present, generation)
            crash_point("delete:marked")
            move_into_place(stage, self.root)
            return self._finish(manifest.model_copy(update={"segments": segments, "components": components}), "delete", report, started)
        finally:
            self._end(lock, snapshot)

    @_reports_full_disk
    def compact(self) -> ChangeReport:
        """Merge every segment's live documents into one segment; recompute a corpus IDF table."""
        started = time.perf_counter()
        lock, snapshot = self._start("compact")
        try:
            manifest = snapshot.manifest
            live_docs = list(snapshot)
            generation = manifest.generation + 1
            stage = self.root / ".staging"
            segments = []
            if live_docs:
                segments = [merge_segment(stage, new_segment_name(manifest), snapshot, manifest.components, live_docs, show_progress=self.show_progress)[0]]
            components = apply_shared(stage, self.root, manifest.components, generation,
                                      lambda prev, new: SharedChange(prev, new, merge=True, live_docs=live_docs), WriteContext(self.root, None, live_docs))
            crash_point("compact:staged")
            move_into_place(stage, self.root)
            crash_point("compact:moved")
            new = manifest.model_copy(update={"segments": segments, "components": components, "next_segment": manifest.next_segment + 1})
            report = ChangeReport("compact", generation, deleted=sum(s.num_deleted for s in manifest.segments))
            return self._finish(new, "compact", report, started)
        finally:
            self._end(lock, snapshot)

    def _mark_deleted(self, snapshot: IndexSnapshot, doc_ids: Sequence[str], generation: int) -> list[SegmentInfo]:
        """The snapshot's segments with these (live) ids marked deleted: new bitmaps for changed segments."""
        rows: dict[int, list[int]] = {}
        for doc_id in doc_ids:
            where = snapshot.locate(doc_id)
            if where is not None:
                rows.setdefault(where[0], []).append(where[1])
        out = []
        for s, seg in enumerate(snapshot.segments):
            if s not in rows:
                out.append(seg.info)
                continue
            mask = np.zeros(seg.info.num_docs, dtype=bool) if seg.deleted is None else seg.deleted.copy()
            mask[rows[s]] = True
            out.append(write_deletes(self.root, seg.info, mask, generation))
        return out
