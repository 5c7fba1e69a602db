"""How many threads one search call may use, for every index kind alike, and the pool that runs a batch
of queries on them.

A batch of queries (``tandem search --queries``, ``tandem eval``, a Python ``search(queries, k)``) is
split across :func:`search_threads` threads: FAISS through OpenMP, Anserini through its own batch
pool, Tandem's sparse kernels through :func:`map_in_threads` (the kernels release the GIL), Seismic through
its own ``batch_search`` pool (used only when this allows more than one thread). The
service sets it to the cores left per request thread, usually 1, so that concurrent requests do not
oversubscribe the CPU. A single sparse query is always searched on the calling thread (FAISS may
split one query's work too).
"""
from __future__ import annotations

import os
import threading
from concurrent.futures import ThreadPoolExecutor
from typing import Callable, Sequence, TypeVar

T = TypeVar("T")
R = TypeVar("R")

_search_threads: int | None = None
_pools: dict[int, ThreadPoolExecutor] = {}
_pools_lock = threading.Lock()
_in_pool = threading.local()


def available_cores() -> int:
    """CPU cores this process may run on."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not Linux
        return os.cpu_count() or 1


def set_search_threads(threads: int | None) -> None:
    """Threads one search call may use from now on, in every thread of this process (None: all cores).

    Batches of queries are split across these threads, and FAISS may split one query's work too
    (one flat query at 10k vectors took 5.1 ms p50 on 2 threads of a busy machine, 0.34 ms on 1).
    """
    global _search_threads
    if threads is not None and threads < 1:
        raise ValueError(f"search threads must be at least 1, got {threads}")
    _search_threads = threads


def search_threads() -> int:
    """Threads a search call uses (see :func:`set_search_threads`)."""
    return _search_threads or available_cores()


def _pool(threads: int) -> ThreadPoolExecutor:
    with _pools_lock:
        pool = _pools.get(threads)
        if pool is None:
            pool = _pools[threads] = ThreadPoolExecutor(threads, thread_name_prefix="tandem-batch", initializer=_mark_pool_thread)
        return pool


def _mark_pool_thread() -> None:
    _in_pool.active = True


def map_in_threads(fn: Callable[[T], R], items: Sequence[T]) -> list[R]:
    """``[fn(x) for x in items]``, in order, with the items split across :func:`search_threads` threads
    when there are several items and threads (``fn`` must be thread-safe). The first exception raised
    by any item is raised here. Called from a pool thread it runs inline (no nested pools)."""
    threads = min(search_threads(), len(items))
    if threads <= 1 or getattr(_in_pool, "active", False):
        return [fn(x) for x in items]
    chunk = max(1, min(32, len(items) // (threads * 4)))  # small chunks even out queries of unequal cost
    pool = _pool(threads)
    futures = [pool.submit(_run_chunk, fn, items[s:s + chunk]) for s in range(0, len(items), chunk)]
    out: list[R] = []
    for future in futures:
        out.extend(future.result())
    return out


def _run_chunk(fn: Callable[[T], R], items: Sequence[T]) -> list[R]:
    return [fn(x) for x in items]
