"""Fault injection (issue 10 §2, issue 13 item 3): a real ``tandem`` subprocess SIGKILLed at a named
point (``TANDEM_CRASH_AT``, see ``index/faults.py``) of build, ``build --overwrite``, add, delete,
compact and merge. After each crash:

- the index at ``--out`` opens and searches with the results of the last *committed* generation:
  the previous one for a crash before ``manifest.json`` is replaced, the new one after it (a first
  build that crashed leaves no index: there was none before);
- ``tandem index info --verify`` is clean;
- the same command run again succeeds, gives the state a crash-free run gives (ids in live order,
  rankings to 1e-6), and leaves no garbage (unreferenced segments, old commits, staging folders).

Every crash point of every operation is run (22 cases, each a subprocess that loads Python and
torch, and the model for build/add: about 2.5 minutes on 2 busy cores).
"""
from __future__ import annotations

import re
import shutil
import signal
from dataclasses import dataclass
from pathlib import Path

import pytest

from tandem.index.merge_policy import MergePolicy
from live_helpers import BASE, POOL, QUERIES, assert_same_rankings, build, on_disk_garbage, replacement, run_tandem, write_docs

pytestmark = pytest.mark.slow

K = 5
CORPUS_A = BASE[:8]
CORPUS_B = BASE[4:] + POOL[:2]  # what --overwrite replaces A with
ADDED = [POOL[2], POOL[3], replacement("b01", 1)]
DELETED = ["b02", "b06", "ghost"]


@dataclass
class State:
    """What a reader of the current commit sees."""

    live_ids: list[str]
    rankings: list[dict[str, float]]


def observe(root: Path) -> State:
    """The state of the index at ``root``, read as any reader reads it."""
    from tandem.retrieval.searcher import Searcher

    searcher = Searcher.open(root)
    try:
        return State(searcher.snapshot.live_doc_ids(), searcher.retrieve("sparse", QUERIES, K))
    finally:
        searcher.close()


def assert_state(actual: State, expected: State, what: str) -> None:
    assert actual.live_ids == expected.live_ids, what
    assert_same_rankings(actual.rankings, expected.rankings, QUERIES, what)


def assert_verifies(root: Path) -> None:
    """``tandem index info --verify`` is clean (in-process: the same code as the CLI's; 2 on any problem)."""
    from tandem.cli import main

    assert main(["index", "info", str(root), "--verify"]) == 0


@dataclass
class Operation:
    """A command on the index at ``out`` and the state a crash-free run of it leaves."""

    name: str
    args: list[str]
    before: State | None
    after: State


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    """Corpora, the starting indexes (copied by each case) and every operation's states, computed in-process."""
    from tandem.cli import main

    root = tmp_path_factory.mktemp("crash")
    a, b, added = (write_docs(root / f"{name}.jsonl", docs) for name, docs in (("a", CORPUS_A), ("b", CORPUS_B), ("added", ADDED)))
    ids = root / "ids.txt"
    ids.write_text("\n".join(DELETED) + "\n")
    index_a = build(a, root / "index-a")
    changed = shutil.copytree(index_a, root / "index-changed")  # two segments and a deletion: what compact merges
    assert main(["index", "add", "--index", str(changed), "--corpus", str(added)]) == 0
    assert main(["index", "delete", "--index", str(changed), "--ids", str(ids)]) == 0
    unmerged = build(a, root / "index-unmerged", merge_policy=MergePolicy(merge_factor=2))  # three segments its policy merges in two rounds
    more = write_docs(root / "more.jsonl", POOL[4:6])
    for corpus in (added, more):
        assert main(["index", "add", "--index", str(unmerged), "--corpus", str(corpus), "--no-merge"]) == 0
    assert main(["index", "delete", "--index", str(unmerged), "--ids", str(ids)]) == 0

    def after(name: str, start: Path | None, args: list[str]) -> State:
        out = root / "reference" / name
        if start is not None:
            shutil.copytree(start, out)
        assert main([a.replace("OUT", str(out)) for a in args]) == 0
        return observe(out)

    dense_none = ["--dense", "none", "--sparse-mode", "inference-free"]
    specs = {
        "build": (None, ["index", "build", "--corpus", str(a), "--out", "OUT", *dense_none]),
        "overwrite": (index_a, ["index", "build", "--corpus", str(b), "--out", "OUT", *dense_none, "--overwrite"]),
        "add": (index_a, ["index", "add", "--index", "OUT", "--corpus", str(added)]),
        "delete": (index_a, ["index", "delete", "--index", "OUT", "--ids", str(ids)]),
        "compact": (changed, ["index", "compact", "--index", "OUT"]),
        "merge": (unmerged, ["index", "merge", "--index", "OUT"]),
        "merge-concurrent": (unmerged, ["index", "merge", "--index", "OUT", "--concurrent"]),
    }
    operations = {name: Operation(name, args, observe(start) if start else None, after(name, start, args)) for name, (start, args) in specs.items()}
    return {"operations": operations, "starts": {name: start for name, (start, _) in specs.items()}}


# (operation, crash point, which state a reader sees after the crash)
CASES = [
    ("build", "build:staged", "before"), ("build", "commit:before-manifest", "before"), ("build", "commit:after-manifest", "before"),
    ("overwrite", "build:staged", "before"), ("overwrite", "publish:moved", "before"), ("overwrite", "commit:before-manifest", "before"),
    ("overwrite", "commit:after-manifest", "after"), ("overwrite", "gc:after-first-removal", "after"),
    ("add", "add:staged", "before"), ("add", "add:moved", "before"), ("add", "commit:before-manifest", "before"), ("add", "commit:after-manifest", "after"),
    ("delete", "delete:marked", "before"), ("delete", "commit:before-manifest", "before"), ("delete", "commit:after-manifest", "after"),
    ("compact", "compact:staged", "before"), ("compact", "compact:moved", "before"), ("compact", "commit:before-manifest", "before"),
    ("compact", "commit:after-manifest", "after"), ("compact", "gc:after-first-removal", "after"),
    ("merge", "merge:staged", "before"), ("merge", "merge:moved", "before"),
    ("merge-concurrent", "concurrent-merge:staged", "before"), ("merge-concurrent", "concurrent-merge:moved", "before"),
]


def test_every_crash_point_in_the_code_is_tested():
    """A crash point added to the code without a case here fails this test."""
    from conftest import REPO

    sources = [path for folder in ("index", "retrieval", "tandem", "service", "eval") for path in (REPO / folder).rglob("*.py")]
    in_code = {name for path in sources for name in re.findall(r'crash_point\("([^"]+)"\)', path.read_text(encoding="utf-8"))}
    assert in_code == {point for _, point, _ in CASES}


def run_crashing(args: list[str], point: str) -> None:
    crashed = run_tandem(args, crash_at=point)
    assert crashed.returncode == -signal.SIGKILL, f"not killed at {point}: exit {crashed.returncode}\n{crashed.stderr[-2000:]}"


def assert_recovers(op: Operation, out: Path, args: list[str], point: str) -> None:
    """The same command again succeeds and leaves what a crash-free run leaves, and no garbage."""
    from tandem.cli import main

    assert main(args) == 0
    assert_state(observe(out), op.after, f"{op.name} re-run after a kill at {point}")
    assert_verifies(out)
    assert on_disk_garbage(out) == []
    assert not (out.parent / f".{out.name}.building").exists()


FIRST_BUILD = [case for case in CASES if case[0] == "build"]
CHANGES = [case for case in CASES if case[0] != "build"]


@pytest.mark.parametrize("operation, point, seen", FIRST_BUILD, ids=[f"{op}@{point}" for op, point, _ in FIRST_BUILD])
def test_kill_9_in_a_first_build_leaves_no_index_and_the_rerun_builds_it(world, tmp_path, operation, point, seen):
    op: Operation = world["operations"][operation]
    out = tmp_path / "index"
    args = [a.replace("OUT", str(out)) for a in op.args]
    run_crashing(args, point)
    assert not out.exists() and (out.parent / f".{out.name}.building" / "cache").is_dir()  # kept to resume
    assert_recovers(op, out, args, point)


@pytest.mark.parametrize("operation, point, seen", CHANGES, ids=[f"{op}@{point}" for op, point, _ in CHANGES])
def test_kill_9_keeps_the_last_commit_readable_and_the_rerun_recovers(world, tmp_path, operation, point, seen):
    op: Operation = world["operations"][operation]
    out = shutil.copytree(world["starts"][operation], tmp_path / "index")
    args = [a.replace("OUT", str(out)) for a in op.args]
    run_crashing(args, point)
    assert_state(observe(out), getattr(op, seen), f"{operation} killed at {point}")
    assert_verifies(out)
    assert_recovers(op, out, args, point)
