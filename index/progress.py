"""The one progress bar of Tandem: tqdm set up to move often, with a sane rate, or counts only.

Every long loop (encoding, document store, Lucene collections, evaluation) uses :func:`progress`
so that bars look and behave alike:

- the display refreshes on any update at most every 0.5 s (``mininterval``), and a background
  refresh every 2 s keeps the elapsed time and ETA moving while one slow step runs;
- ``miniters=1``: no update is skipped because earlier updates were fast (tqdm's dynamic
  ``miniters`` is what made bars jump only every 2,048 documents);
- the rate is smoothed over many updates (``smoothing=0.05``) so that chunked work shows an
  average rate, not the speed of the last burst;
- ``rate=False`` for work that is not done per item (a list handed to SQLite in chunks, a
  stage of a build): the bar then shows counts and elapsed time, never a misleading items/s;
- :func:`elapsed` for one long call that reports nothing while it runs (Anserini indexing a
  collection): the work's size and the elapsed time, moving every 2 s, and no made-up fraction.
"""
from __future__ import annotations

import threading
from typing import Iterable, TypeVar

from tqdm.auto import tqdm

T = TypeVar("T")

MIN_INTERVAL_S = 0.5
REFRESH_EVERY_S = 2.0
SMOOTHING = 0.05
COUNT_FORMAT = "{desc}: {n_fmt}/{total_fmt} {unit} [{elapsed}]{postfix}"
COUNT_FORMAT_NO_TOTAL = "{desc}: {n_fmt} {unit} [{elapsed}]{postfix}"
ELAPSED_FORMAT = "{desc}: {total_fmt} {unit} [{elapsed}]{postfix}"


class ProgressBar(tqdm):
    """A tqdm bar that also redraws itself every :data:`REFRESH_EVERY_S` seconds while open."""

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self._stop_refresh = threading.Event()
        self._refresher: threading.Thread | None = None
        if not self.disable:
            self._refresher = threading.Thread(target=self._refresh_loop, name="progress-refresh", daemon=True)
            self._refresher.start()

    def _refresh_loop(self) -> None:
        while not self._stop_refresh.wait(REFRESH_EVERY_S):
            try:
                self.refresh()
            except Exception:  # the bar closed under us or the terminal went away: stop quietly
                return

    def __exit__(self, exc_type, exc_value, traceback):
        if exc_type is not None:
            self.leave = False  # an error clears the bar: its one-line message stands alone
        return super().__exit__(exc_type, exc_value, traceback)

    def close(self) -> None:
        stop = getattr(self, "_stop_refresh", None)
        if stop is not None:
            stop.set()
        refresher = getattr(self, "_refresher", None)
        if refresher is not None and refresher is not threading.current_thread():
            refresher.join(timeout=REFRESH_EVERY_S + 1)
        super().close()


def progress(
    iterable: Iterable[T] | None = None,
    *,
    total: int | None = None,
    desc: str,
    unit: str = "item",
    rate: bool = True,
    leave: bool = True,
    disable: bool = False,
) -> ProgressBar:
    """A progress bar over ``iterable`` (iterate it) or for ``total`` units (call ``update(n)``).

    ``rate=False`` shows ``done/total unit [elapsed]`` without items/s or ETA, for work whose cost
    is not per item. Use it as a context manager (or call ``close()``).
    """
    if total is None and iterable is not None and hasattr(iterable, "__len__"):
        total = len(iterable)  # type: ignore[arg-type]
    bar_format = None if rate else COUNT_FORMAT if total is not None else COUNT_FORMAT_NO_TOTAL
    return _bar(iterable, total, desc, unit, leave, disable, bar_format)


def elapsed(desc: str, total: int, unit: str, disable: bool = False) -> ProgressBar:
    """A bar for one opaque call on ``total`` units: ``desc: total unit [elapsed]``, redrawn every
    :data:`REFRESH_EVERY_S` s until closed (use it as a context manager around the call; the call must
    release the GIL, as Java calls through pyjnius do, for the redraws to run meanwhile)."""
    return _bar(None, total, desc, unit, False, disable, ELAPSED_FORMAT)


def _bar(iterable, total: int | None, desc: str, unit: str, leave: bool, disable: bool, bar_format: str | None) -> ProgressBar:
    """The one set of tqdm options every bar uses (see the module docstring), with tqdm's format unless ``bar_format``."""
    options: dict = {
        "total": total,
        "desc": desc,
        "unit": unit,
        "leave": leave,
        "disable": disable,
        "mininterval": MIN_INTERVAL_S,
        "miniters": 1,
        "smoothing": SMOOTHING,
        "dynamic_ncols": True,
    }
    if bar_format is not None:
        options["bar_format"] = bar_format
    return ProgressBar(iterable, **options)


__all__ = ["ProgressBar", "elapsed", "progress"]
