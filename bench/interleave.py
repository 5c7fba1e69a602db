"""Engines timed side by side in one process, query by query (or block by block of queries), so that drift of
the machine (other jobs, frequency, a neighbour's cache) falls on all of them alike: query i runs every engine,
in turn, in an order that alternates between queries (forward for even i, backward for odd i)."""
from __future__ import annotations

import time
from typing import Callable

import numpy as np


def interleaved(searches: dict[str, Callable[[int, int], list]], timed: range, warm: range, k: int, block: int = 1) -> tuple[dict, dict, dict]:
    """Warm every engine on ``warm``, then time ``searches[name](i, k)`` for i in ``timed``; returns
    (wall ms, thread-CPU ms, results) per engine, each a list in query order.

    The engines take turns on blocks of ``block`` consecutive queries, in an order that alternates between
    blocks: 1 (the default) runs every engine on each query; a larger block lets each engine answer a run of
    queries with its own data in the caches, as it would serving alone, while machine drift still falls on
    all engines within seconds of each other."""
    names = list(searches)
    for i in warm:
        for name in names:
            searches[name](i, k)
    wall = {n: [] for n in names}
    cpu = {n: [] for n in names}
    results = {n: [] for n in names}
    queries, block = list(timed), max(1, block)
    for j, start in enumerate(range(0, len(queries), block)):
        for name in (names if j % 2 == 0 else names[::-1]):
            for i in queries[start:start + block]:
                w0, c0 = time.perf_counter(), time.thread_time()
                out = searches[name](i, k)
                cpu[name].append((time.thread_time() - c0) * 1000)
                wall[name].append((time.perf_counter() - w0) * 1000)
                results[name].append(out)
    return wall, cpu, results


def per_query_ratio(a_ms: list[float], b_ms: list[float]) -> float:
    """Median over queries of a's time / b's time (queries either answered in no measurable time left out)."""
    a, b = np.asarray(a_ms), np.asarray(b_ms)
    keep = (a > 0) & (b > 0)
    return round(float(np.median(a[keep] / b[keep])), 3) if keep.any() else float("nan")


def interleaved_batches(batches: dict[str, Callable[[int], int]], rounds: int, k: int) -> dict[str, list[float]]:
    """Each round times one ``batches[name](k)`` call (all queries at once, returning how many were answered)
    of every engine in turn, in an order that alternates between rounds; returns queries/second per round."""
    names = list(batches)
    qps = {n: [] for n in names}
    for r in range(rounds):
        for name in (names if r % 2 == 0 else names[::-1]):
            t0 = time.perf_counter()
            answered = batches[name](k)
            qps[name].append(answered / (time.perf_counter() - t0))
    return qps
