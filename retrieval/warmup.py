"""Make an index's search-time code ready before the first query, saying so when that takes a while.

Tandem's exact sparse kernels are compiled by numba on first use, once per machine and weight type
(~30 s for the pruning kernel on the 2-core development machine), then loaded from numba's cache in
well under a second. ``tandem index build`` prepares them for the index it wrote, so its first
search is fast; ``tandem search`` prepares them before searching, so a first use shows a line
instead of a silent pause. The service warms every mode up before it reports ready.
"""
from __future__ import annotations

import sys
import threading
from typing import Iterable, TextIO

from tandem.index.manifest import ComponentInfo

from .backends import backend

NOTICE_AFTER_SECONDS = 2.0  # a preparation this long (numba compiling, not loading its cache) gets a line


def prepare_search(components: Iterable[ComponentInfo], out: TextIO | None = None) -> float:
    """Each component's backend prepares what searching needs (:meth:`Backend.prepare_search`); if that takes
    longer than :data:`NOTICE_AFTER_SECONDS`, a line on ``out`` (stderr) says what is happening, and another
    how long it took. A failure (e.g. no writable temporary folder) is a one-line note, not an error: the first
    search prepares what it needs itself. Returns the seconds taken in all."""
    out = out or sys.stderr
    total = 0.0
    for component in components:
        started = threading.Event()
        notice = threading.Timer(NOTICE_AFTER_SECONDS, lambda name=component.name: (
            started.set(), print(f"compiling the search kernels of {name!r} (first use on this machine, ~30 s; cached afterwards)...", file=out, flush=True)))
        notice.daemon = True
        notice.start()
        try:
            seconds = backend(component.backend).prepare_search(component)
        except Exception as exc:  # an optimisation only: the first search prepares what it needs itself
            seconds = 0.0
            reason = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
            print(f"note: the search kernels of {component.name!r} were not prepared ahead ({reason}); the first search compiles them", file=out, flush=True)
            started.clear()
        finally:
            notice.cancel()
        if started.is_set():
            print(f"search kernels of {component.name!r} ready in {seconds:.1f} s", file=out, flush=True)
        total += seconds
    return total
