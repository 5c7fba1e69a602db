"""The log merge policy (index/merge_policy.py): which adjacent segments it merges, and that it keeps
the segment count logarithmic in the documents added, never writing more than ``max_merge_docs``."""
import math

import pytest
from hypothesis import given, settings, strategies as st
from pydantic import ValidationError

from tandem.index.merge_policy import MergePolicy, plan_merges


def test_fewer_segments_than_the_factor_are_left_alone():
    assert plan_merges([100] * 9, MergePolicy()) == []


def test_ten_small_segments_become_one():
    assert plan_merges([100] * 10, MergePolicy()) == [(0, 10)]
    assert plan_merges([100] * 25, MergePolicy()) == [(0, 10), (10, 20)]  # the last 5 wait for 5 more


def test_a_big_old_segment_is_not_merged_with_small_new_ones():
    # 50,000 is at level 4.7 (factor 10), the new ones at the floor, 3: more than 0.75 apart
    assert plan_merges([50_000] + [100] * 10, MergePolicy()) == [(1, 11)]


def test_disabled_policy_merges_nothing():
    assert plan_merges([10] * 100, MergePolicy(merge_factor=0)) == []


def test_no_automatic_merge_writes_more_than_max_merge_docs():
    policy = MergePolicy(merge_factor=2, min_merge_docs=1, max_merge_docs=150)
    assert plan_merges([100, 100, 60, 60], policy) == [(2, 4)]


@pytest.mark.parametrize("bad", [1, -1])
def test_a_merge_factor_of_one_or_below_zero_is_refused(bad):
    with pytest.raises(ValidationError):
        MergePolicy(merge_factor=bad)


def run_policy(sizes: list[int], policy: MergePolicy) -> tuple[list[int], list[int]]:
    """Apply the policy after each add of ``sizes`` as the writer does (rounds until it asks for nothing);
    returns (final segment sizes, the size of every merge written)."""
    segments, written = [], []
    for size in sizes:
        segments.append(size)
        while ranges := plan_merges(segments, policy):
            for start, end in ranges:  # disjoint, ascending, adjacent, factor segments each
                assert end - start == policy.merge_factor
            assert all(a[1] <= b[0] for a, b in zip(ranges, ranges[1:]))
            for start, end in reversed(ranges):
                written.append(sum(segments[start:end]))
                segments[start:end] = [sum(segments[start:end])]
    return segments, written


@settings(max_examples=60, deadline=None)
@given(sizes=st.lists(st.integers(1, 5_000), min_size=1, max_size=400), factor=st.integers(2, 12), floor=st.sampled_from([1, 100, 1_000]))
def test_the_segment_count_stays_logarithmic_and_documents_are_kept(sizes, factor, floor):
    policy = MergePolicy(merge_factor=factor, min_merge_docs=floor, max_merge_docs=10**9)
    segments, _ = run_policy(sizes, policy)
    assert sum(segments) == sum(sizes)
    levels = math.log(max(sum(sizes), floor) / floor, factor) + 1
    # each level group holds fewer than `factor` segments once the policy is done; a group spans
    # 0.75 of a level, so there are at most ~levels/0.25 + 1 groups
    assert len(segments) <= (factor - 1) * (levels / 0.25 + 2)


def test_one_thousand_adds_of_a_hundred_documents_leave_few_segments():
    segments, written = run_policy([100] * 1000, MergePolicy())
    assert segments == [100_000]
    assert sum(written) == 100_000 * 3  # each document rewritten once per level: 1,000, 10,000, 100,000


def test_single_document_adds_are_rewritten_a_few_times_with_the_default_floor_of_one():
    """Why the default floor is 1: under a floor, the merged segment is merged again with every nine new ones."""
    _, default = run_policy([1] * 10_000, MergePolicy())
    _, lucene_floor = run_policy([1] * 10_000, MergePolicy(min_merge_docs=1_000))
    assert sum(default) / 10_000 <= 5  # once per level: 10, 100, 1,000, 10,000
    assert sum(lucene_floor) / 10_000 > 150


def test_max_merge_docs_bounds_every_automatic_merge():
    _, written = run_policy([700] * 3000, MergePolicy(max_merge_docs=200_000))
    assert written and max(written) <= 200_000


@pytest.mark.parametrize("bad", ["1", "-3"])
def test_a_bad_merge_factor_is_one_line_naming_the_flag_and_builds_nothing(tmp_path, capsys, bad):
    from conftest import TINY_DOCS, write_jsonl
    from tandem.cli import main

    corpus = write_jsonl(tmp_path / "corpus.jsonl", TINY_DOCS)
    assert main(["index", "build", "--corpus", str(corpus), "--out", str(tmp_path / "index"), "--merge-factor", bad]) == 2
    err = capsys.readouterr().err
    assert err == f"tandem: error: --merge-factor: must be 0 (never merge automatically) or at least 2 (got {bad})\n"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["corpus.jsonl"]
