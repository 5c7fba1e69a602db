"""A searcher that follows the index's commits: new generations are picked up without a restart.

Each request *pins* the current :class:`~tandem.retrieval.searcher.Searcher` for its whole duration
(search, then documents for rendering), so it sees one consistent commit. When ``manifest.json``
changes, the next request opens the new commit (models are shared: encoders are cached by their
settings) and later requests use it; the old searcher is closed — releasing its lease, so its
files may be collected — once the last request pinned to it has finished.
"""
from __future__ import annotations

import os
import threading
import time
from contextlib import contextmanager
from pathlib import Path

from tandem.retrieval.searcher import Searcher

CHECK_EVERY_S = 0.5


class LiveSearcher:
    """Forwards attribute access to the pinned (or current) searcher; :meth:`pinned` for a request."""

    def __init__(self, searcher: Searcher, follow: bool = True) -> None:
        self._current = searcher
        self._root = Path(searcher.root)
        self._follow = follow
        self._lock = threading.Lock()
        self._users: dict[int, int] = {}  # id(searcher) -> requests pinned to it
        self._retired: dict[int, Searcher] = {}
        self._local = threading.local()
        self._stamp = self._manifest_stamp()
        self._checked = time.monotonic()

    # -- following commits ---------------------------------------------------------------------
    def _manifest_stamp(self) -> tuple[int, int] | None:
        try:
            st = os.stat(self._root / "manifest.json")
        except OSError:
            return None
        return st.st_ino, st.st_mtime_ns

    def refresh(self, force: bool = False) -> bool:
        """Open the newest commit if the manifest changed; True when a new generation was opened."""
        if not self._follow:
            return False
        now = time.monotonic()
        if not force and now - self._checked < CHECK_EVERY_S:
            return False
        self._checked = now
        stamp = self._manifest_stamp()
        if stamp == self._stamp or stamp is None:
            return False
        with self._lock:
            if stamp == self._stamp:
                return False
            current = self._current
        fresh = Searcher.open(self._root, current.device)
        with self._lock:
            if fresh.generation <= self._current.generation:
                self._stamp = stamp
                stale = fresh
            else:
                stale = self._current
                self._current, self._stamp = fresh, stamp
                if self._users.get(id(stale), 0):
                    self._retired[id(stale)] = stale
                    stale = None
        if stale is not None:
            stale.close()
        return stale is not fresh

    @contextmanager
    def pinned(self):
        """Use one commit for the duration of a request."""
        self.refresh()
        with self._lock:
            searcher = self._current
            self._users[id(searcher)] = self._users.get(id(searcher), 0) + 1
        previous = getattr(self._local, "searcher", None)
        self._local.searcher = searcher
        try:
            yield searcher
        finally:
            self._local.searcher = previous
            close = None
            with self._lock:
                self._users[id(searcher)] -= 1
                if not self._users[id(searcher)]:
                    del self._users[id(searcher)]
                    close = self._retired.pop(id(searcher), None)
            if close is not None:
                close.close()

    @property
    def current(self) -> Searcher:
        return getattr(self._local, "searcher", None) or self._current

    def __getattr__(self, name: str):
        return getattr(self.current, name)

    def close(self) -> None:
        with self._lock:
            searchers = [self._current, *self._retired.values()]
            self._retired.clear()
        for searcher in searchers:
            searcher.close()
