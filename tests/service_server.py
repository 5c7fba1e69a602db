"""Start `tandem serve` as a real subprocess on a free loopback port (for service tests)."""
from __future__ import annotations

import os
import socket
import subprocess
import sys
import tempfile
import time
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import httpx


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@dataclass
class ServerProcess:
    process: subprocess.Popen
    base: str
    log: Path  # everything the server printed

    def output(self) -> str:
        return self.log.read_text(encoding="utf-8", errors="replace")


@contextmanager
def server_process(index: Path, *extra: str, env: dict | None = None, timeout: float = 180):
    """A ready `tandem serve` subprocess (a :class:`ServerProcess`); terminated (then killed) on exit."""
    port = free_port()
    cmd = [sys.executable, "-m", "tandem", "serve", "--index", str(index), "--port", str(port), "--threads", "2", *extra]
    # The server logs every request: send that to a file, never to an unread pipe (it would fill and block).
    log = tempfile.NamedTemporaryFile("w+", prefix="tandem-serve-", suffix=".log", delete=False)
    proc = subprocess.Popen(cmd, env={**os.environ, **(env or {})}, stdout=log, stderr=subprocess.STDOUT, text=True)
    base = f"http://127.0.0.1:{port}"
    headers = {"Authorization": f"Bearer {env['TANDEM_TEST_KEY']}"} if env and "TANDEM_TEST_KEY" in env else {}
    try:
        deadline = time.time() + timeout
        while True:
            if proc.poll() is not None:
                raise RuntimeError(f"server exited early:\n{Path(log.name).read_text()}")
            try:
                if httpx.get(base + "/ready", headers=headers, timeout=2).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            if time.time() > deadline:
                raise RuntimeError("server did not become ready")
            time.sleep(0.3)
        yield ServerProcess(proc, base, Path(log.name))
    finally:
        if proc.poll() is None:
            proc.terminate()
            try:
                proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                proc.kill()
        log.close()
        os.unlink(log.name)


@contextmanager
def running_server(index: Path, *extra: str, env: dict | None = None, timeout: float = 180):
    """A ready `tandem serve` subprocess: yields its base URL."""
    with server_process(index, *extra, env=env, timeout=timeout) as server:
        yield server.base
