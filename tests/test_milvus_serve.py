"""Several `tandem serve` processes over one Milvus collection, and what they do when Milvus goes away.

Milvus Lite 2.5 opened through a file belongs to one process, so the collection is served by the
Lite server (``scripts/milvus_lite_server.py``: the wheel's ``milvus`` binary on a TCP port), as a
Milvus standalone or cluster would be. Each `tandem serve` gets its own copy of the local index
folder, as a replica on another machine would.
"""
from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from tests.conftest import TINY_DOCS, write_jsonl
from tests.service_server import free_port, server_process

pytest.importorskip("pymilvus", reason="pymilvus is not installed (pip install 'tandem-retrieval[milvus]')")
pytest.importorskip("milvus_lite", reason="milvus-lite is not installed (pip install 'tandem-retrieval[milvus]')")

ROOT = Path(__file__).resolve().parents[1]
LAUNCHER = ROOT / "scripts" / "milvus_lite_server.py"
QUERIES = ["tower in paris", "vitamin deficiency and bones", "how do plants make oxygen", "programming language", "cell energy ATP"]


class LiteServer:
    """A Milvus Lite server process on a free loopback port (started and stopped through the launcher)."""

    def __init__(self, folder: Path) -> None:
        self.db = folder / "lite.db"
        self.port = free_port()
        self.uri = f"http://127.0.0.1:{self.port}"

    def start(self) -> None:
        out = subprocess.run([sys.executable, str(LAUNCHER), "--db", str(self.db), "--port", str(self.port)],
                             capture_output=True, text=True, timeout=60)
        assert out.returncode == 0, out.stderr
        assert out.stdout.strip() == self.uri

    @property
    def pid(self) -> int:
        return int((self.db.parent / f".{self.db.name}.server.pid").read_text())

    def signal(self, sig: int) -> None:
        os.kill(self.pid, sig)

    def stop(self) -> None:
        subprocess.run([sys.executable, str(LAUNCHER), "--db", str(self.db), "--stop"], capture_output=True, timeout=60)


@pytest.fixture(scope="module")
def lite(tmp_path_factory):
    server = LiteServer(tmp_path_factory.mktemp("milvus"))
    server.start()
    try:
        yield server
    finally:
        try:
            server.signal(signal.SIGCONT)  # in case a test left it stopped
        except (ProcessLookupError, FileNotFoundError):
            pass
        server.stop()


@pytest.fixture(scope="module")
def milvus_index(lite, tmp_path_factory) -> Path:
    """An inference-free sparse + dense index of the tiny corpus whose vectors live in the Lite server."""
    folder = tmp_path_factory.mktemp("milvus-index")
    corpus = write_jsonl(folder / "corpus.jsonl", [d for d in TINY_DOCS if d["text"]])
    out = folder / "index"
    cmd = [sys.executable, "-m", "tandem", "index", "build", "--corpus", str(corpus), "--out", str(out),
           "--backend", "milvus", "--milvus-uri", lite.uri, "--milvus-collection", "tandem_serve_test"]
    done = subprocess.run(cmd, capture_output=True, text=True, timeout=900)
    assert done.returncode == 0, done.stderr[-2000:]
    return out


def replica(index: Path, name: str) -> Path:
    """A copy of the local index folder, as a second machine would hold it."""
    copy = index.parent / name
    if not copy.exists():
        shutil.copytree(index, copy)
    return copy


def hits(base: str, query: str, mode: str) -> list[tuple[str, float]]:
    r = httpx.post(base + "/search", json={"query": query, "k": 5, "mode": mode, "fields": ["title"]}, timeout=60)
    assert r.status_code == 200, r.text
    return [(h["doc_id"], h["score"]) for h in r.json()["hits"]]


@pytest.mark.slow
def test_two_servers_over_one_collection_answer_identically(milvus_index):
    with server_process(replica(milvus_index, "replica-a")) as a, server_process(replica(milvus_index, "replica-b")) as b:
        for mode in ("sparse", "dense", "hybrid"):
            for query in QUERIES:
                from_a, from_b = hits(a.base, query, mode), hits(b.base, query, mode)
                assert from_a == from_b, (mode, query)
        # the answers are real rankings of the corpus, not two equal empty lists
        assert hits(a.base, "tower in paris", "sparse")[0][0] == "d1"
        assert hits(b.base, "vitamin deficiency and bones", "dense")[0][0] == "d3"


@pytest.mark.slow
def test_milvus_unreachable_at_start_is_one_line_naming_the_uri(milvus_index, lite):
    index = replica(milvus_index, "replica-unreachable")
    lite.stop()  # its data stays on disk; started again below
    try:
        t0 = time.monotonic()
        done = subprocess.run([sys.executable, "-m", "tandem", "serve", "--index", str(index), "--port", str(free_port())],
                              capture_output=True, text=True, timeout=300)
        seconds = time.monotonic() - t0
    finally:
        lite.start()
    assert done.returncode != 0
    assert "Traceback" not in done.stderr
    error_lines = [line for line in done.stderr.splitlines() if "error" in line.lower()]
    assert len(error_lines) == 1, done.stderr[-2000:]
    assert lite.uri in error_lines[0]
    assert seconds < 120


def wait_for(predicate, seconds: float) -> bool:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.5)
    return False


@pytest.mark.slow
@pytest.mark.parametrize("outage", [signal.SIGSTOP, signal.SIGKILL], ids=["stopped", "killed"])
def test_milvus_lost_mid_flight_answers_503_then_recovers(milvus_index, lite, outage):
    with server_process(replica(milvus_index, "replica-outage"), "--request-timeout", "20") as server:
        base = server.base
        before = hits(base, "tower in paris", "hybrid")
        lite.signal(outage)
        try:
            t0 = time.monotonic()
            r = httpx.post(base + "/search", json={"query": "tower in paris", "k": 5, "mode": "sparse"}, timeout=60)
            seconds = time.monotonic() - t0
            assert r.status_code == 503, r.text
            assert lite.uri in r.json()["error"]["message"]
            assert seconds < 15  # bounded by the Milvus call timeout, well inside the 20 s request budget
        finally:
            if outage == signal.SIGSTOP:
                lite.signal(signal.SIGCONT)
            else:
                lite.start()
        # Milvus is back: the same server answers as before, and no search thread is left hanging
        assert wait_for(lambda: httpx.post(base + "/search", json={"query": "tower in paris", "k": 5, "mode": "hybrid"},
                                           timeout=30).status_code == 200, 60)
        assert hits(base, "tower in paris", "hybrid") == before
        assert httpx.get(base + "/ready", timeout=10).json() == {"status": "ready"}
