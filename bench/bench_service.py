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

from retrieval.datasets import load_split  # noqa: E402
from retrieval.searcher import Searcher  # noqa: E402
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


def sequential_http(base: str, queries: list[str], mode: str) -> float:
    times = []
    with httpx.Client(timeout=60) as session:
        for query in queries:
            t0 = time.perf_counter()
            session.post(base + "/search", json={"query": query, "k": 10, "mode": mode}).raise_for_status()
            times.append((time.perf_counter() - t0) * 1000)
    return float(np.percentile(times, 50))


def in_process(searcher: Searcher, queries: list[str], mode: str) -> float:
    searcher.search(queries[0], k=10, mode=mode)
    times = []
    for query in queries:
        t0 = time.perf_counter()
        searcher.search(query, k=10, mode=mode)
        times.append((time.perf_counter() - t0) * 1000)
    return float(np.percentile(times, 50))


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--index", type=Path, default=Path("indexes/scifact"))
    parser.add_argument("--dataset", default="scifact")
    parser.add_argument("--clients", type=int, default=16)
    parser.add_argument("--requests", type=int, default=2000)
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
    report = {"index": str(args.index), "cpu_count": os.cpu_count(), "modes": {}}
    try:
        for _ in range(600):
            try:
                if httpx.get(base + "/ready", timeout=2).status_code == 200:
                    break
            except httpx.HTTPError:
                time.sleep(0.5)
        for mode in searcher.modes:
            sample = queries[:100]
            entry = asyncio.run(load(base, queries, mode, args.clients, args.requests))
            entry["in_process_p50_ms"] = in_process(searcher, sample, mode)
            entry["http_sequential_p50_ms"] = sequential_http(base, sample, mode)
            entry["http_overhead_ms"] = entry["http_sequential_p50_ms"] - entry["in_process_p50_ms"]
            report["modes"][mode] = entry
            print(f"{mode}: {entry['requests_per_s']:.0f} req/s", flush=True)
    finally:
        proc.terminate()
        proc.wait(timeout=30)
        os.unlink(log.name)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(report, indent=2) + "\n")
    rows = [[m, round(e["requests_per_s"], 1), round(e["p50_ms"], 1), round(e["p99_ms"], 1), e["errors"], round(e["in_process_p50_ms"], 2), round(e["http_sequential_p50_ms"], 2)]
            for m, e in report["modes"].items()]
    print(format_table(["mode", "req/s", "p50 ms", "p99 ms", "errors", "in-process p50", "HTTP p50 (1 client)"], rows, align="lrrrrrr"))
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
