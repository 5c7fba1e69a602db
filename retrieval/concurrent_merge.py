"""Merging segments while the index goes on changing (as Lucene's ConcurrentMergeScheduler).

:meth:`IndexWriter.merge <tandem.retrieval.writer.IndexWriter.merge>` holds the writer lock for the whole
merge, so an add or delete waits for it (minutes for large segments). A concurrent merge round instead

1. plans on the current commit (the index's merge policy, or the one given), leased as a reader leases it, so
   its files stay while it reads them (no writer lock: step 3 checks that the plan still holds);
2. writes the merged segments *without* the lock, in its own merge area (:mod:`tandem.index.merge_area`),
   while other writers add, delete or merge;
3. commits under the lock: a merged segment replaces its source segments if they are all still in the
   current commit, side by side and in order (otherwise another writer merged or compacted them, and the
   round's segment is dropped); rows deleted or replaced since step 1 are deleted in it
   (:func:`~tandem.index.merge_area.carried_deletes`).

Rounds repeat until the policy plans no merge. Search results are those of the serial merge: the merged
segment holds the same live rows in the same order.
"""
from __future__ import annotations

import shutil
import threading
import time
from typing import TYPE_CHECKING

import numpy as np

from tandem.index.commits import SEGMENTS
from tandem.index.faults import crash_point
from tandem.index.merge_area import carried_deletes, merge_area
from tandem.index.merge_policy import MergePolicy, plan_merges
from tandem.index.manifest import SegmentInfo, read_manifest
from tandem.index.segments import IndexSnapshot, load_deletes, write_deletes

if TYPE_CHECKING:
    from .writer import ChangeReport, IndexWriter

COMMIT_WAIT_SECONDS = 600.0  # how long a finished merge waits for the writer lock to commit (adds are short)
MAX_ROUNDS = 100  # a policy that keeps planning merges another writer keeps undoing cannot loop forever


def merge_concurrently(writer: "IndexWriter", report: "ChangeReport", policy: MergePolicy | None = None) -> None:
    """Merge rounds as the policy asks (see the module docstring); counts go into ``report``."""
    from .writer import merge_segment, new_segment_name

    started = time.perf_counter()
    for _ in range(MAX_ROUNDS):
        planned = _plan(writer, policy)
        if planned is None:
            break
        snapshot, ranges = planned
        try:
            manifest = snapshot.manifest
            writer.log(f"merging {sum(end - start for start, end in ranges)} segments into {len(ranges)} while the index stays writable")
            with merge_area(writer.root) as stage:
                staged: list[tuple[tuple[int, int], SegmentInfo | None, np.ndarray | None]] = []
                for n, (start, end) in enumerate(ranges):
                    live_docs = list(snapshot.live_documents(range(start, end)))
                    info, order = merge_segment(stage, new_segment_name(manifest, n), snapshot, manifest.components, live_docs, range(start, end)) if live_docs else (None, None)
                    staged.append(((start, end), info, order))
                crash_point("concurrent-merge:staged")
                committed = _commit(writer, snapshot, staged, stage, report)
        finally:
            snapshot.close()
        _collect_garbage(writer)  # what this round's lease kept: the merged segments' sources, or a dropped round's
        if not committed:
            break  # every range was merged or compacted by another writer meanwhile: plan again next time
    report.merge_seconds = round(report.merge_seconds + time.perf_counter() - started, 3)


def _collect_garbage(writer: "IndexWriter") -> None:
    """Under the writer lock: delete what no commit needs any more (now that this merge's lease is released)."""
    from tandem.index.commits import collect_garbage
    from tandem.index.locking import WriterLock
    from tandem.index.merge_area import clear_stale_merge_areas

    with WriterLock(writer.root, "merge", max(writer.wait, COMMIT_WAIT_SECONDS)):
        clear_stale_merge_areas(writer.root)
        collect_garbage(writer.root, read_manifest(writer.root))


def _plan(writer: "IndexWriter", policy: MergePolicy | None) -> tuple[IndexSnapshot, list[tuple[int, int]]] | None:
    """The current commit, leased as a reader leases it (no writer lock: the commit step checks that the
    planned segments are still there), and the ranges of segments to merge; None when there are none."""
    from tandem.index.commits import open_commit

    manifest, lease = open_commit(writer.root)
    ranges = plan_merges([seg.num_live for seg in manifest.segments], policy or manifest.merge_policy)
    if not ranges:
        lease.release()
        return None
    try:
        return IndexSnapshot(writer.root, manifest, lease), ranges
    except BaseException:
        lease.release()
        raise


def _commit(writer: "IndexWriter", snapshot: IndexSnapshot, staged: list, stage, report: "ChangeReport") -> int:
    """Under the writer lock: put the staged segments whose sources are unchanged in place of them; returns
    how many source segments were replaced (0: nothing committed)."""
    from tandem.index.locking import WriterLock

    from .writer import move_into_place

    with WriterLock(writer.root, "merge", max(writer.wait, COMMIT_WAIT_SECONDS)):
        current = read_manifest(writer.root)
        position = {seg.name: i for i, seg in enumerate(current.segments)}
        kept = []
        for (start, end), info, order in staged:
            names = [seg.info.name for seg in snapshot.segments[start:end]]
            where = [position.get(name) for name in names]
            if None in where or where != list(range(where[0], where[0] + len(where))):
                writer.log(f"dropped a merge of {len(names)} segments: another writer changed them meanwhile")
                if info is not None:
                    shutil.rmtree(stage / SEGMENTS / info.name, ignore_errors=True)
                continue
            kept.append((where[0], start, end, info, order))
        if not kept:
            return 0
        generation = current.generation + 1
        move_into_place(stage, writer.root)
        crash_point("concurrent-merge:moved")
        segments = list(current.segments)
        replaced = 0
        for at, start, end, info, order in sorted(kept, key=lambda item: -item[0]):  # from the last, so earlier positions stay put
            sources = snapshot.segments[start:end]
            if info is not None:
                mask = carried_deletes([seg.deleted for seg in sources], [load_deletes(writer.root, segments[at + k]) for k in range(len(sources))],
                                       [seg.info.num_docs for seg in sources])
                if order is not None:  # the merged segment's rows are in --reorder bp order
                    mask = mask[order]
                if mask.any():
                    info = write_deletes(writer.root, info, mask, generation)
            segments[at:at + len(sources)] = [info] if info is not None else []
            replaced += len(sources)
        next_segment = max(current.next_segment, snapshot.manifest.next_segment + len(staged))
        writer._publish(current.model_copy(update={"segments": segments, "next_segment": next_segment}), "merge",
                        {"merged_segments": replaced, "segments": len(segments), "concurrent": True}, report)
        report.merged_segments += replaced
        report.merges_written += sum(1 for _, _, _, info, _ in kept if info is not None)
        return replaced


class BackgroundMerges:
    """One writer's merge thread: :meth:`request` starts it, or asks the running one to plan again when it
    finishes (an add that committed after its last plan is not left unmerged). Daemon: a process that exits
    mid-merge leaves its merge area to the next writer and the index as it was."""

    def __init__(self, writer: "IndexWriter") -> None:
        self.writer = writer
        self.error: BaseException | None = None
        self.last: "ChangeReport | None" = None
        self._lock = threading.Lock()
        self._thread: threading.Thread | None = None
        self._again: list[MergePolicy | None] = []

    def request(self, policy: MergePolicy | None = None) -> None:
        with self._lock:
            if self._thread is not None:
                self._again.append(policy)
                return
            self._thread = threading.Thread(target=self._run, args=(policy,), name=f"tandem-merge-{self.writer.root.name}", daemon=True)
            self._thread.start()

    def _run(self, policy: MergePolicy | None) -> None:
        while True:
            try:
                self.last = self.writer.merge_concurrently(policy)
                self.error = None
            except BaseException as exc:  # noqa: BLE001 - reported, never raised on a thread nobody joins
                self.error = exc
                self.writer.log(f"background merge failed, the index is unchanged by it: {exc}")
            with self._lock:
                if not self._again:
                    self._thread = None
                    return
                policy = self._again[-1]
                self._again.clear()

    def wait(self, timeout: float | None = None) -> bool:
        deadline = None if timeout is None else time.monotonic() + timeout
        while True:
            with self._lock:
                thread = self._thread
            if thread is None:
                return True
            thread.join(None if deadline is None else max(0.0, deadline - time.monotonic()))
            if deadline is not None and time.monotonic() >= deadline:
                with self._lock:
                    return self._thread is None
