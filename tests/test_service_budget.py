"""Bounded request work: the time budget (504), readiness under saturation (503), shutdown that never
waits for a stuck search thread, and linear snippets."""
from __future__ import annotations

import subprocess
import sys
import threading
import time

import httpx
import pytest

from tandem.service.pool import Deadline, RequestTimeout, SearchPool
from tandem.service.snippets import MAX_SCAN_CHARS, highlights, query_words, snippet

BUDGET_S = 1.0


@pytest.fixture
def stuck_app(tiny_if_index, monkeypatch):
    """The service in-process with 2 search threads and a 1 s budget, whose snippet step blocks until
    released (as the old quadratic snippet code did on a huge document)."""
    from starlette.testclient import TestClient

    import tandem.service.hits
    from tandem import service
    from tandem.retrieval.searcher import Searcher
    from tandem.service.app import ServiceSettings, create_app

    release = threading.Event()

    def stuck_snippet(text: str, words: list[str], width: int = 240) -> str:
        release.wait(60)
        return text[:width]

    monkeypatch.setattr(service.hits, "snippet", stuck_snippet)  # the one place hits are rendered
    app = create_app(Searcher.open(tiny_if_index), ServiceSettings(threads=2, request_timeout_s=BUDGET_S))
    client = TestClient(app, base_url="http://localhost")
    client.__enter__()
    try:
        yield client, release
    finally:
        release.set()
        client.__exit__(None, None, None)


@pytest.mark.slow
def test_stuck_requests_get_504_in_budget_while_health_answers_and_ready_says_saturated(stuck_app):
    client, release = stuck_app
    assert client.get("/ready").json() == {"status": "ready"}
    outcomes = []

    def stuck_search():
        t0 = time.perf_counter()
        r = client.post("/search", json={"query": "tower", "fields": ["snippet"]})
        outcomes.append((r.status_code, r.json(), time.perf_counter() - t0))

    threads = [threading.Thread(target=stuck_search) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(10)
    assert [o[0] for o in outcomes] == [504, 504]
    for _, body, elapsed in outcomes:
        assert body["error"]["field"] is None and "time budget of 1 s" in body["error"]["message"]
        assert BUDGET_S <= elapsed < BUDGET_S + 1
    # both threads are still stuck: the process is alive, but not ready for more work
    assert client.get("/health").json() == {"status": "ok"}
    ready = client.get("/ready")
    assert ready.status_code == 503 and ready.json()["error"]["message"] == "saturated: all 2 search threads are busy"
    # a request that only waits for a thread gets its 504 at the budget too, and never runs
    t0 = time.perf_counter()
    assert client.post("/search", json={"query": "tower", "fields": ["title"]}).status_code == 504
    assert time.perf_counter() - t0 < BUDGET_S + 1
    release.set()
    deadline = time.monotonic() + 10
    while client.get("/ready").status_code != 200 and time.monotonic() < deadline:
        time.sleep(0.05)
    r = client.post("/search", json={"query": "eiffel tower", "k": 1, "fields": ["title"]})
    assert r.status_code == 200 and r.json()["hits"][0]["doc_id"] == "d1"


def test_process_exits_with_a_search_thread_still_busy():
    # concurrent.futures.ThreadPoolExecutor would join its thread at exit and wait out the 60 s.
    code = "import time; from tandem.service.pool import SearchPool; p = SearchPool(1); p.submit(time.sleep, 60); time.sleep(0.2); print(p.busy)"
    t0 = time.perf_counter()
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=30)
    assert result.returncode == 0 and result.stdout.strip() == "1"
    assert time.perf_counter() - t0 < 10


@pytest.mark.slow
def test_real_server_with_every_search_thread_stuck_answers_504_and_exits_on_sigterm_within_seconds(tiny_if_index):
    """`tandem serve` as users run it: both search threads held in the snippet step (TANDEM_STALL_AT), the
    requests get 504 within the budget, /health answers, /ready says saturated, and SIGTERM ends the process
    within a few seconds (uvicorn's grace, then the stuck daemon threads are abandoned)."""
    import signal

    from service_server import server_process

    env = {"TANDEM_STALL_AT": "service:snippet", "TANDEM_STALL_SECONDS": "300"}
    with server_process(tiny_if_index, "--request-timeout", str(BUDGET_S), env=env) as server:
        proc, base = server.process, server.base
        body = {"query": "eiffel tower", "k": 1, "fields": ["snippet"]}
        started = time.perf_counter()
        with httpx.Client(base_url=base, timeout=30) as client:
            statuses = []
            threads = [threading.Thread(target=lambda: statuses.append(client.post("/search", json=body).status_code)) for _ in range(2)]
            for t in threads:
                t.start()
            for t in threads:
                t.join(30)
            waited = time.perf_counter() - started
            health = client.get("/health").status_code
            ready = client.get("/ready")
        assert statuses == [504, 504]
        assert waited < BUDGET_S + 10
        assert health == 200
        assert ready.status_code == 503 and "saturated" in ready.json()["error"]["message"]
        t0 = time.perf_counter()
        proc.send_signal(signal.SIGTERM)
        code = proc.wait(timeout=30)
        exited_after = time.perf_counter() - t0
        log = server.output()
    assert exited_after < 8
    assert code == -signal.SIGTERM  # uvicorn re-raises the signal once its own shutdown is done...
    assert "Finished server process" in log  # ...which it was: the exit was not the default SIGTERM action


def test_pool_counts_running_work_and_cancels_queued_work_on_shutdown():
    pool = SearchPool(2)
    gate = threading.Event()
    running = [pool.submit(gate.wait, 10) for _ in range(2)]
    queued = pool.submit(lambda: "never")
    deadline = time.monotonic() + 5
    while pool.busy < 2 and time.monotonic() < deadline:
        time.sleep(0.01)
    assert pool.busy == 2 and pool.saturated
    pool.shutdown(wait=False, cancel_futures=True)
    assert queued.cancelled()
    gate.set()
    assert [f.result(5) for f in running] == [True, True]
    with pytest.raises(RuntimeError, match="shut down"):
        pool.submit(print)


def test_deadline_raises_once_spent():
    deadline = Deadline(0.05)
    deadline.check()
    time.sleep(0.06)
    assert deadline.remaining() == 0
    with pytest.raises(RequestTimeout, match="time budget of 0.05 s"):
        deadline.check()


def test_snippet_of_a_huge_repetitive_document_is_fast_and_bounded():
    text = "tower " * 400_000  # 2.4 MB: the old pairwise window count ran for hours
    words = query_words("tower")
    t0 = time.perf_counter()
    piece = snippet(text, words)
    found = highlights(words, "Towers", text)
    elapsed = time.perf_counter() - t0
    assert piece.startswith("tower tower") and piece.endswith(" …") and len(piece) <= 244
    assert found == ["tower"]
    assert elapsed < 2, f"{elapsed:.2f} s"


def test_snippet_picks_the_densest_window():
    text = " ".join(["filler"] * 100 + ["vitamin", "x", "bone", "density", "vitamin"] + ["filler"] * 100 + ["bone"] + ["filler"] * 100)
    piece = snippet(text, query_words("vitamin D bone density"))
    assert piece.startswith("… ") and "vitamin x bone density vitamin" in piece


def test_highlights_are_word_prefixes_including_after_hyphens():
    words = query_words("iron tower towers lattice")
    assert highlights(words, "Eiffel", "a wrought-iron lattice Tower") == ["lattice", "tower", "iron"]
    assert highlights(words, "Eiffel", "ironic attice") == ["iron"]  # prefix of a word; never inside one


def test_only_the_scanned_prefix_of_a_text_is_searched():
    text = "x " * MAX_SCAN_CHARS + "needle"
    assert highlights(["needle"], text) == []
    assert snippet(text, ["needle"]).startswith("x x")
