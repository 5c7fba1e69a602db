"""Which segments a live index merges on its own after an ``add``: a log merge policy, as Lucene's
``LogMergePolicy``, by live documents.

Each ``add`` writes one segment, and every segment costs each query one more search call and a
bigger merge of per-segment results (20 segments of scifact searched 3x slower end to end than one:
docs/live-indexes.md). The policy keeps the count logarithmic in the documents added:

- a segment's *level* is ``log(max(live docs, min_merge_docs)) / log(merge_factor)``, so all
  segments below ``min_merge_docs`` share the lowest level. The default floor is 1 document, not
  Lucene's 1,000: Lucene buffers documents before it writes a segment, Tandem writes one per add,
  and with a floor of 1,000, 10,000 single-document adds rewrote each document ~200 times (the
  segment under the floor is merged again with every nine new ones) against 4 times with 1
  (``tests/test_merge_policy.py`` simulates both);
- walking from the oldest segment, the segments within 0.75 of the highest level left form one
  level (as Lucene's ``LEVEL_LOG_SPAN``); every ``merge_factor`` adjacent segments of a level
  become one segment;
- merges are of *adjacent* segments only, so the index order of the live documents (which breaks
  ties between equal scores) does not change (scores do not either with float32 weights; uint8 ones
  are re-quantised with the merged segment's scale, each moving by up to one step);
- no automatic merge writes a segment of more than ``max_merge_docs`` live documents: merging
  large segments (rebuilding an HNSW graph over them) is left to ``tandem index compact``.

Live documents count, not rows, so a segment that lost most of its rows to deletions drops a level
and is merged (dropping those rows) with its new peers. After a merge the policy is asked again:
ten merged segments of one level may now make ten of the next.
"""
from __future__ import annotations

import math
from typing import Sequence

from pydantic import BaseModel, Field, field_validator

LEVEL_SPAN = 0.75  # segments within this many levels of the highest one left count as one level (Lucene's LEVEL_LOG_SPAN)


class MergePolicy(BaseModel):
    """Automatic merges after ``add``; recorded in the manifest (``merge_policy``)."""

    merge_factor: int = Field(10, description="segments of one level merged into one; 0 = never merge automatically")
    min_merge_docs: int = Field(1, ge=1, description="segments with fewer live documents all count as this many (one lowest level)")
    max_merge_docs: int = Field(500_000, ge=1, description="no automatic merge writes a segment with more live documents than this")

    @field_validator("merge_factor")
    @classmethod
    def _zero_or_a_real_merge(cls, value: int) -> int:
        if value == 1 or value < 0:
            raise ValueError(f"must be 0 (never merge automatically) or at least 2 (got {value})")
        return value

    @property
    def enabled(self) -> bool:
        return self.merge_factor >= 2


def plan_merges(live_docs: Sequence[int], policy: MergePolicy) -> list[tuple[int, int]]:
    """Ranges ``(start, end)`` of adjacent segments (oldest first, as in the manifest) to merge, each
    into one segment: disjoint, ascending, each of ``policy.merge_factor`` segments."""
    factor = policy.merge_factor
    if not policy.enabled or len(live_docs) < factor:
        return []
    norm = math.log(factor)
    floor = math.log(policy.min_merge_docs) / norm
    levels = [math.log(max(n, policy.min_merge_docs)) / norm for n in live_docs]
    merges = []
    start = 0
    while start < len(levels):
        top = max(levels[start:])
        bottom = -1.0 if top <= floor else max(top - LEVEL_SPAN, floor)
        upto = max(j for j in range(start, len(levels)) if levels[j] >= bottom)  # the last segment of this level
        begin = start
        while begin + factor <= upto + 1:
            if sum(live_docs[begin:begin + factor]) <= policy.max_merge_docs:
                merges.append((begin, begin + factor))
            begin += factor
        start = upto + 1
    return merges
