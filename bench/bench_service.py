"""Service benchmark: requests/s and p50/p99 per mode under concurrent load on loopback, and the
same queries' latency in process (Searcher) vs over HTTP, so the HTTP overhead is visible.

    TANDEM_DATA_DIR=../shared/data python bench/bench_service.py --index indexes/scifact --out bench/results/service.json

Starts `tandem serve` on a free loopback port, sends a bounded number of requests (default 16
clients, 2,000 requests per mode), stops the server, writes JSON and prints a table.
"""
from __future__ import annotations

import argparse
import asyncio
import json
import os
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx
import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from tandem.retrieval.datasets import load_split  # noqa: E402
from tandem.retrieval.searcher import Searcher  # noqa: E402
from tandem.tables import format_table  # noqa: E402


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


async def load(base: str, queries: list[str], mode: str, clients: int, total: int) -> dict:
    latencies: list[float] = []
    errors = 0
    counter = iter(range(total))

    async def client(session: httpx.AsyncClient) -> None:
        nonlocal errors
        for i in counter:
            t0 = time.perf_counter()
            r = await session.post(base + "/search", json={"query": queries[i % len(queries)], "k": 10, "mode": mode})
            latencies.append((time.perf_counter() - t0) * 1000)
            errors += r.status_code != 200

    started = time.perf_counter()
    async with httpx.AsyncClient(timeout=60, limits=httpx.Limits(max_connections=clients)) as session:
        await asyncio.wait_for(asyncio.gather(*(client(session) for _ in range(clients))), timeout=1800)
    elapsed = time.perf_counter() - started
    return {"requests": total, "clients": clients, "errors": errors, "requests_per_s": total / elapsed,
            "p50_ms": float(np.percentile(latencies, 50)), "p99_ms": float(np.percentile(latencies, 99))}


def percentiles(times: list[float]) -> dict:
    return {"p50_ms": float(np.percentile(times, 50)), "p99_ms": float(np.percentile(times, 99))}


def sequential_http(base: str, queries: list[str], mode: str) -> dict:
    """One client, one request at a time: the latency of each query over HTTP (with title + snippet)."""
    times = []
    with httpx.Client(timeout=60) as session:
        session.post(base + "/search", json={"query": queries[0], "k": 10, "mode": mode}).raise_for_status()
        for query in queries:
            t0 = time.perf_counter()
            session.post(base + "/search", json={"query": query, "k": 10, "mode": mode}).raise_for_status()
            times.append((time.perf_counter() - t0) * 1000)
    return percentiles(times)


def in_process(searcher: Searcher, queries: list[str], mode: str) -> dict:
    """The same queries through Searcher.search directly (ids and scores only, no document fetch)."""
    searcher.search(queries[0], k=10, mode=mode)
    times = []
    for query in queries:
        t0 = time.perf_counter()
        searcher.search(query, k=10, mode=mode)
        times.append((time.perf_counter() - t0) * 1000)
    return percentiles(times)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--index", type=Path, default=Path("indexes/scifact"))
    parser.add_argument("--dataset", default="scifact")
    parser.add_argument("--clients", type=int, default=16)
    parser.add_argument("--requests", type=int, default=2000, help="requests per mode under load")
    parser.add_argument("--latency-queries", type=int, default=200, help="queries for the in-process vs HTTP comparison")
    parser.add_argument("--out", type=Path, default=Path("bench/results/service.json"))
    args = parser.parse_args()
    queries = [q.text for q in load_split(args.dataset, "test").queries]
    import torch

    torch.set_num_threads(1)  # as the server does
    searcher = Searcher.open(args.index)
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    log = tempfile.NamedTemporaryFile("w+", suffix=".log", delete=False)
    proc = subprocess.Popen([sys.executable, "-m", "tandem", "serve", "--index", str(args.index), "--port", str(port)], stdout=log, stderr=subprocess.STDOUT)
    report = {"index": str(args.index), "dataset": args.dataset, "cpu_count": os.cpu_count(), "load_average_at_start": os.getloadavg(),
              "server": "tandem serve (1 worker, search threads = cores, torch intra-op threads 1)", "k": 10, "modes": {}}
    try:
        deadline = time.time() + 600
        while True:
            if proc.poll() is not None:
                raise SystemExit(f"server exited:\n{Path(log.name).read_text()[-3000:]}")
            try:
                if httpx.get(base + "/ready", timeout=2).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            if time.time() > deadline:
                raise SystemExit("server did not become ready in 600 s")
            time.sleep(0.5)
        sample = queries[: args.latency_queries]
        for mode in searcher.modes:
            entry = asyncio.run(load(base, queries, mode, args.clients, args.requests))
            entry["in_process"] = in_process(searcher, sample, mode)
            entry["http_one_client"] = sequential_http(base, sample, mode)
            entry["http_overhead_p50_ms"] = entry["http_one_client"]["p50_ms"] - entry["in_process"]["p50_ms"]
            report["modes"][mode] = entry
            print(f"{mode}: {entry['requests_per_s']:.1f} req/s, p50 {entry['p50_ms']:.1f} ms, p99 {entry['p99_ms']:.1f} ms, errors {entry['errors']}", flush=True)
    finally:
        proc.terminate()
        proc.wait(timeout=30)
        os.unlink(log.name)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(report, indent=2) + "\n")
    rows = [[m, round(e["requests_per_s"], 1), round(e["p50_ms"], 1), round(e["p99_ms"], 1), e["errors"],
             round(e["in_process"]["p50_ms"], 2), round(e["in_process"]["p99_ms"], 2), round(e["http_one_client"]["p50_ms"], 2), round(e["http_one_client"]["p99_ms"], 2)]
            for m, e in report["modes"].items()]
    print(f"load: {args.clients} clients, {args.requests} requests per mode, k=10; latency: {len(sample)} queries one at a time")
    print(format_table(["mode", "req/s", "p50 ms", "p99 ms", "errors", "in-proc p50", "in-proc p99", "HTTP p50", "HTTP p99"], rows, align="lrrrrrrrr"))
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
