"""bench/bench_batch.py on the tiny inference-free index: every mode is timed each round and gives the one-thread
rankings; a mode that ranks differently stops the run with one line naming the index and the mode."""
from __future__ import annotations

import statistics
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

QUERIES = ["vitamin d bone density", "python typing", "mitochondria atp", "garbage collection language", "rickets"] * 4


def test_every_mode_is_timed_each_round_with_the_one_thread_rankings(tiny_if_index):
    from bench.bench_batch import MODES, measure
    from conftest import TINY_DOCS

    out = measure("tiny", tiny_if_index, "sparse", QUERIES, 3, rounds=2)
    assert out["backend"] == "native-sparse" and out["num_docs"] == len(TINY_DOCS) and out["queries"] == len(QUERIES)
    assert set(out["modes"]) == set(MODES)
    for mode in MODES:
        rounds = out["modes"][mode]["rounds"]
        assert len(rounds) == 2
        assert out["modes"][mode]["queries_per_s"] == statistics.median(r["queries_per_s"] for r in rounds)
    assert out["modes"]["one-thread"]["speedup_vs_one_thread"] == 1.0


def test_a_mode_ranking_differently_stops_the_run(tiny_if_index, monkeypatch):
    import bench.bench_batch as bench_batch

    real = bench_batch.run_mode

    def batch_reversed(retriever, mode, vectors, k):
        rankings, cpu = real(retriever, mode, vectors, k)
        return (rankings[::-1] if mode == "batch" else rankings), cpu

    monkeypatch.setattr(bench_batch, "run_mode", batch_reversed)
    with pytest.raises(SystemExit, match=r"tiny \(.*\): mode batch gave other rankings than one thread"):
        bench_batch.measure("tiny", tiny_if_index, "sparse", QUERIES, 3, rounds=1)
