#!/usr/bin/env python3
"""Start a Milvus Lite 2.5 server on a TCP port, in the background, and print its URI.

Milvus Lite opened through a file path (``MilvusClient("x.db")``) belongs to one process: a
second process opening the same file is refused ("the file has been opened by another
program"). The ``milvus`` binary inside the ``milvus-lite`` wheel also serves gRPC on a TCP
address, so several processes (two ``tandem serve`` replicas, a build and a server) can share
one Lite database through ``http://HOST:PORT``, as they would share a Milvus standalone.

    python scripts/milvus_lite_server.py --db /path/lite.db --port 19530   # prints http://127.0.0.1:19530
    python scripts/milvus_lite_server.py --db /path/lite.db --stop         # SIGTERM, waits for exit

The server process holds the same lock file milvus-lite takes for an embedded database
(``.<name>.lock`` beside it, a POSIX ``lockf`` lock), so while it runs no process can open the
file directly, and it refuses to start on a file another process has open. Its pid is written
to ``.<name>.server.pid`` and its output to ``--log`` (default ``<db>.server.log``).
Milvus Lite's own limits apply: dense indexes FLAT / IVF_FLAT / AUTOINDEX only, no compaction.
"""
from __future__ import annotations

import argparse
import fcntl
import importlib.util
import os
import pathlib
import re
import signal
import socket
import sys
import time


def lite_binary() -> pathlib.Path:
    """The ``milvus`` executable shipped in the installed milvus-lite wheel."""
    spec = importlib.util.find_spec("milvus_lite")  # located, not imported (its import needs pkg_resources)
    if spec is None or not spec.submodule_search_locations:
        raise SystemExit("error: milvus-lite is not installed; pip install 'milvus-lite==2.5.1' 'setuptools<81'")
    binary = pathlib.Path(list(spec.submodule_search_locations)[0]) / "lib" / "milvus"
    if not binary.is_file():
        raise SystemExit(f"error: no Milvus Lite server binary at {binary} (milvus-lite 3.x has none; use 2.5.x)")
    return binary


def lock_path(db: pathlib.Path) -> pathlib.Path:
    """The lock file milvus-lite's embedded mode uses for ``db`` (milvus_lite/server.py)."""
    return db.parent / f".{db.name}.lock"


def pid_path(db: pathlib.Path) -> pathlib.Path:
    return db.parent / f".{db.name}.server.pid"


def port_open(host: str, port: int) -> bool:
    try:
        with socket.create_connection((host, port), timeout=0.5):
            return True
    except OSError:
        return False


def spawn(db: pathlib.Path, address: str, log: pathlib.Path, log_level: str) -> int:
    """Fork a session leader that takes the lock and execs the server (the lock survives exec)."""
    binary = lite_binary()
    read_end, write_end = os.pipe()  # both close-on-exec: EOF without data means exec succeeded
    pid = os.fork()
    if pid == 0:  # child
        try:
            os.close(read_end)
            os.setsid()
            lock_fd = os.open(lock_path(db), os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
            try:
                fcntl.lockf(lock_fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except OSError:
                os.write(write_end, f"{db} is open in another process (lock {lock_path(db)} held)".encode())
                os._exit(3)
            os.set_inheritable(lock_fd, True)  # POSIX record locks are kept across exec while the fd stays open
            log_fd = os.open(log, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
            null_fd = os.open(os.devnull, os.O_RDONLY)
            os.dup2(null_fd, 0)
            os.dup2(log_fd, 1)
            os.dup2(log_fd, 2)
            env = dict(os.environ)
            env["LD_LIBRARY_PATH"] = f"{binary.parent}:{env.get('LD_LIBRARY_PATH', '')}"
            os.execve(str(binary), [str(binary), str(db), address, log_level], env)
        except BaseException as exc:  # noqa: BLE001 - report anything to the parent, never return into its code
            try:
                os.write(write_end, f"could not start {binary}: {exc}".encode())
            finally:
                os._exit(4)
    os.close(write_end)
    message = b""
    while chunk := os.read(read_end, 4096):
        message += chunk
    os.close(read_end)
    if message:
        os.waitpid(pid, 0)
        raise SystemExit(f"error: {message.decode()}")
    return pid


def alive(pid: int) -> bool:
    try:
        done, _ = os.waitpid(pid, os.WNOHANG)
        return done == 0
    except ChildProcessError:  # not our child: probe it
        try:
            os.kill(pid, 0)
            return True
        except ProcessLookupError:
            return False


def start(args: argparse.Namespace) -> int:
    db = pathlib.Path(args.db).absolute()
    if not db.parent.is_dir():
        raise SystemExit(f"error: folder {db.parent} does not exist (for --db {args.db})")
    if not re.fullmatch(r"[A-Za-z0-9._-]{1,35}", db.name) or not db.name.endswith(".db"):
        raise SystemExit(f"error: --db {args.db}: Milvus Lite wants a file name ending in .db, of letters, digits, . _ -, under 36 characters")
    if port_open(args.host, args.port):
        raise SystemExit(f"error: {args.host}:{args.port} is already in use")
    log = pathlib.Path(args.log).absolute() if args.log else db.with_name(db.name + ".server.log")
    pid = spawn(db, f"{args.host}:{args.port}", log, args.log_level)
    deadline = time.monotonic() + args.wait
    while not port_open(args.host, args.port):
        if not alive(pid):
            raise SystemExit(f"error: Milvus Lite server for {db} exited during start-up; see {log}")
        if time.monotonic() > deadline:
            os.kill(pid, signal.SIGTERM)
            raise SystemExit(f"error: Milvus Lite server for {db} not listening on {args.host}:{args.port} after {args.wait:g} s; see {log}")
        time.sleep(0.1)
    pid_path(db).write_text(f"{pid}\n")
    print(f"http://{args.host}:{args.port}")
    print(f"pid {pid} (stop: {sys.argv[0]} --db {args.db} --stop), log {log}", file=sys.stderr)
    return 0


def stop(args: argparse.Namespace) -> int:
    db = pathlib.Path(args.db).absolute()
    pid_file = pid_path(db)
    if not pid_file.is_file():
        raise SystemExit(f"error: no server pid file {pid_file}")
    pid = int(pid_file.read_text().split()[0])
    try:
        os.kill(pid, signal.SIGTERM)
    except ProcessLookupError:
        pid_file.unlink()
        print(f"server {pid} was not running", file=sys.stderr)
        return 0
    deadline = time.monotonic() + args.wait
    while alive(pid) and time.monotonic() < deadline:
        time.sleep(0.1)
    if alive(pid):
        raise SystemExit(f"error: server {pid} still running {args.wait:g} s after SIGTERM")
    pid_file.unlink()
    print(f"stopped server {pid}", file=sys.stderr)
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--db", required=True, help="Milvus Lite database file (created if missing), name ending in .db")
    parser.add_argument("--host", default="127.0.0.1", help="address to listen on (default 127.0.0.1: this machine only)")
    parser.add_argument("--port", type=int, default=19530)
    parser.add_argument("--log", help="server output file (default <db>.server.log)")
    parser.add_argument("--log-level", default="ERROR", choices=["DEBUG", "INFO", "WARNING", "ERROR"])
    parser.add_argument("--wait", type=float, default=30.0, help="seconds to wait for the port (start) or the exit (stop)")
    parser.add_argument("--stop", action="store_true", help="stop the server started for --db")
    args = parser.parse_args(argv)
    return stop(args) if args.stop else start(args)


if __name__ == "__main__":
    sys.exit(main())
