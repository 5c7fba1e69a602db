"""Search threads and the time budget of each request's work.

``SearchPool`` is a fixed pool of *daemon* threads that counts the work running on it: the service
reports itself saturated when every thread is busy, and a thread stuck in a long computation never
keeps the process from exiting (``ThreadPoolExecutor`` joins its threads at interpreter exit).
``Deadline`` lets that work stop itself between steps once the request's budget is spent.
"""
from __future__ import annotations

import queue
import threading
import time
from concurrent.futures import Executor, Future


class RequestTimeout(Exception):
    """The request's work took longer than its time budget."""

    def __init__(self, budget_s: float) -> None:
        self.budget_s = budget_s
        super().__init__(f"took longer than the time budget of {budget_s:g} s")


class Deadline:
    """The end of one request's time budget."""

    def __init__(self, budget_s: float) -> None:
        self.budget_s = budget_s
        self.expires = time.monotonic() + budget_s

    def remaining(self) -> float:
        return max(0.0, self.expires - time.monotonic())

    def check(self) -> None:
        """Raise ``RequestTimeout`` once the budget is spent (called by the work between its steps)."""
        if time.monotonic() >= self.expires:
            raise RequestTimeout(self.budget_s)


class SearchPool(Executor):
    """``threads`` daemon threads running submitted calls in order; ``busy`` counts the running ones."""

    def __init__(self, threads: int, name: str = "tandem-search") -> None:
        self.threads = threads
        self._queue: queue.SimpleQueue = queue.SimpleQueue()
        self._lock = threading.Lock()
        self._busy = 0
        self._closed = False
        self._workers = [threading.Thread(target=self._work, name=f"{name}-{i}", daemon=True) for i in range(threads)]
        for worker in self._workers:
            worker.start()

    @property
    def busy(self) -> int:
        """Calls running now (not counting those waiting for a thread)."""
        with self._lock:
            return self._busy

    @property
    def saturated(self) -> bool:
        return self.busy >= self.threads

    def submit(self, fn, /, *args, **kwargs) -> Future:
        if self._closed:
            raise RuntimeError("the search pool is shut down")
        future: Future = Future()
        self._queue.put((future, fn, args, kwargs))
        return future

    def _work(self) -> None:
        while (item := self._queue.get()) is not None:
            future, fn, args, kwargs = item
            if not future.set_running_or_notify_cancel():  # cancelled while waiting (its request timed out)
                continue
            with self._lock:
                self._busy += 1
            try:
                result = fn(*args, **kwargs)
            except BaseException as exc:  # handed to whoever waits on the future
                future.set_exception(exc)
            else:
                future.set_result(result)
            finally:
                with self._lock:
                    self._busy -= 1

    def shutdown(self, wait: bool = True, *, cancel_futures: bool = False) -> None:
        """Stop taking work; with ``wait=False`` return at once, leaving running calls to finish (or die with the process)."""
        self._closed = True
        if cancel_futures:
            while True:
                try:
                    item = self._queue.get_nowait()
                except queue.Empty:
                    break
                if item is not None:
                    item[0].cancel()
        for _ in self._workers:
            self._queue.put(None)
        if wait:
            for worker in self._workers:
                worker.join()
