"""Milvus backend evidence (issue 12): parity with the native backends, and timing at pkgsum scale.

    TANDEM_DATA_DIR=/work/shared/data nice -n 10 .venv/bin/python bench/bench_milvus.py \\
        --encoded scifact=ENC/scifact --encoded nfcorpus=ENC/nfcorpus \\
        --pkgsum-encoded /work/scratch/pkgsum-enc --pkgsum-sizes 100000,all \\
        --work /work/scratch/milvus-bench --out bench/results/milvus.json

Everything runs against Milvus Lite 2.5 servers started for the run (``scripts/milvus_lite_server.py``:
the wheel's ``milvus`` binary on a loopback port, so its memory is its own process's), one per
section, each on a fresh database file under ``--work``.

- **parity** (scifact, nfcorpus): one native index (native-sparse + FAISS flat) and one Milvus index
  (SPARSE_INVERTED_INDEX with drop ratios 0, FLAT) built by ``tandem index build --from-encoded``
  from the same ``tandem encode`` shards (sparse splade-tiny inference-free + dense minilm-l6), so
  both hold the same vectors; both evaluated by ``tandem eval --modes sparse,dense,hybrid``. Per
  mode: nDCG@10 of each and the difference (goal <= 0.001), mean top-10 overlap (goal >= 0.99), and
  the largest score difference on documents both returned. Also Tandem's hybrid (RRF k=60, fused in
  Python) against Milvus's ``hybrid_search`` with ``RRFRanker(60)`` on the Milvus index (top 100
  from each retriever): nDCG@10, top-10 overlap and single-query latency of each.
- **scale** (pkgsum prefixes; timing and size only): sparse-only native and Milvus indexes from the
  shards ``tandem encode`` wrote for the whole corpus (prefixes cut by ``bench.scale_data``, nothing
  encoded again; ``--native-index SIZE=DIR`` reuses a native index built from the same shards with
  default settings, e.g. by ``bench/bench_scale.py``, and records that). Build wall time of each (Milvus: with its insert rate from the build's progress
  line), single-query p50/p99 at k=10 and k=1000 over MS MARCO dev-small queries through each index's
  ``sparse`` retriever (query encoding + search, one thread, the two indexes alternating query by
  query so load changes hit both alike), Milvus server RSS (VmRSS after insert and after searching,
  VmHWM) and its database file size (bytes per document, for sizing).

Timings are wall-clock on a shared 2-core machine: compare the two engines of one run (ratios), not
runs with each other. The JSON records load averages, threads, commit and library versions, and is
rewritten after every section.
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import re
import shutil
import subprocess
import sys
import time
from pathlib import Path

for _var in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS", "NUMBA_NUM_THREADS", "RAYON_NUM_THREADS"):
    os.environ.setdefault(_var, "1")  # inherited by the Milvus Lite server too: one search thread each side

import numpy as np  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench import run_env  # noqa: E402
from bench.scale_data import msmarco_queries, pkgsum_prefix  # noqa: E402

LAUNCHER = ROOT / "scripts" / "milvus_lite_server.py"
TANDEM = [sys.executable, "-m", "tandem"]
MODES = ("sparse", "dense", "hybrid")
NDCG_GOAL, OVERLAP_GOAL = 0.001, 0.99
LIBRARIES = ("pymilvus", "milvus-lite", "grpcio", "faiss-cpu", "numba", "torch", "transformers")


# -- environment and processes ---------------------------------------------------------------
def environment() -> dict:
    """Commit, library versions, threads and load average of this run."""
    versions = run_env.library_versions(LIBRARIES)
    return {"git_commit": run_env.commit(), "git_dirty_files": len(run_env.git("status", "--porcelain", "--untracked-files=no").splitlines()),
            "python": platform.python_version(), "platform": platform.platform(), "cpu_count": os.cpu_count(),
            "threads": {v: os.environ.get(v) for v in ("OMP_NUM_THREADS", "NUMBA_NUM_THREADS")}, "libraries": versions,
            "load_average_start": [round(x, 2) for x in os.getloadavg()]}


class LiteServer:
    """A Milvus Lite server for one section: its own database file and port, stopped at the end."""

    def __init__(self, folder: Path, port: int, fresh: bool = True) -> None:
        folder.mkdir(parents=True, exist_ok=True)
        self.db = folder / "milvus.db"
        self.port = port
        self.uri = f"http://127.0.0.1:{port}"
        self.fresh = fresh

    def __enter__(self) -> "LiteServer":
        stale_files = (self.db, self.db.parent / f".{self.db.name}.lock") if self.fresh else (self.db.parent / f".{self.db.name}.lock",)
        for stale in stale_files:
            stale.unlink(missing_ok=True)  # a fresh database each run unless reused (files this bench created)
        done = subprocess.run([sys.executable, str(LAUNCHER), "--db", str(self.db), "--port", str(self.port)], capture_output=True, text=True)
        if done.returncode != 0:
            raise SystemExit(done.stderr.strip())
        self.pid = int((self.db.parent / f".{self.db.name}.server.pid").read_text())
        return self

    def __exit__(self, *exc) -> None:
        subprocess.run([sys.executable, str(LAUNCHER), "--db", str(self.db), "--stop"], capture_output=True, text=True)

    def memory_mb(self) -> dict:
        """VmRSS and VmHWM (peak) of the server process, in MB."""
        out = {}
        for line in Path(f"/proc/{self.pid}/status").read_text().splitlines():
            key = line.split(":")[0]
            if key in ("VmRSS", "VmHWM"):
                out[key] = round(int(line.split()[1]) / 1024, 1)
        return out

    def db_bytes(self) -> int:
        return sum(p.stat().st_size for p in self.db.parent.glob(self.db.name + "*") if p.is_file())


def tandem(args: list[str], log: Path, timeout: float = 6 * 3600) -> float:
    """Run a `tandem` command (niced, output to ``log``); its wall time. One line and exit on failure."""
    t0 = time.perf_counter()
    with log.open("w") as out:
        done = subprocess.run(["nice", "-n", "10", *TANDEM, *args], stdout=out, stderr=subprocess.STDOUT, cwd=ROOT, timeout=timeout)
    seconds = time.perf_counter() - t0
    if done.returncode != 0:
        tail = log.read_text(errors="replace").strip().splitlines()[-1:] or [""]
        raise SystemExit(f"tandem {' '.join(args[:3])} failed (exit {done.returncode}): {tail[0]} (log {log})")
    return round(seconds, 2)


def insert_rate(log: Path) -> float | None:
    """Documents per second of the Milvus insert, from the last tqdm line 'milvus insert: ... N/N [mm:ss<...'."""
    text = log.read_text(errors="replace").replace("\r", "\n")
    found = re.findall(r"milvus insert:.*?(\d+)/(\d+) \[(?:(\d+):)?(\d+):(\d+)<", text)
    if not found:
        return None
    done, total, hours, minutes, seconds = found[-1]
    elapsed = int(hours or 0) * 3600 + int(minutes) * 60 + int(seconds)
    return round(int(done) / elapsed, 1) if done == total and elapsed else None


def folder_bytes(path: Path) -> int:
    return sum(p.stat().st_size for p in path.rglob("*") if p.is_file())


def build(out: Path, encoded: Path, extra: list[str], log: Path) -> dict:
    """``tandem index build --from-encoded`` into a fresh ``out``; wall seconds and local size."""
    if out.exists():
        shutil.rmtree(out)
    seconds = tandem(["index", "build", "--from-encoded", str(encoded), "--out", str(out), *extra], log)
    return {"build_seconds": seconds, "local_bytes": folder_bytes(out)}


# -- parity ----------------------------------------------------------------------------------
def read_run(path: Path) -> dict[str, list[tuple[str, float]]]:
    """A TREC run: query id -> [(doc id, score)] in rank order."""
    run: dict[str, list[tuple[int, str, float]]] = {}
    for line in path.read_text().splitlines():
        qid, _, doc, rank, score, _ = line.split()
        run.setdefault(qid, []).append((int(rank), doc, float(score)))
    return {q: [(d, s) for _, d, s in sorted(rows)] for q, rows in run.items()}


def compare_runs(native: dict, milvus: dict, depth: int = 10) -> dict:
    """Mean top-``depth`` overlap (|A ∩ B| / depth), queries below 1, and the largest score gap on shared docs."""
    overlaps, worst_gap, below = [], 0.0, 0
    for qid in native.keys() | milvus.keys():
        a, b = native.get(qid, [])[:depth], milvus.get(qid, [])[:depth]
        shared = {d for d, _ in a} & {d for d, _ in b}
        overlap = len(shared) / max(1, min(depth, max(len(a), len(b))))
        overlaps.append(overlap)
        below += overlap < 1
        scores_a, scores_b = dict(a), dict(b)
        worst_gap = max([worst_gap] + [abs(scores_a[d] - scores_b[d]) for d in shared])
    return {f"top{depth}_overlap": round(float(np.mean(overlaps)), 4), "queries_below_full_overlap": below,
            "max_abs_score_diff_shared_docs": float(f"{worst_gap:.3g}"), "queries": len(overlaps)}


def evaluate(dataset: str, index: Path, out: Path, log: Path) -> dict:
    """``tandem eval`` of sparse, dense and hybrid: per mode nDCG@10, R@100 and the run file (its latency
    sample is not used: the first engine evaluated pays the query encoder's warm-up)."""
    tandem(["eval", "--dataset", dataset, "--index", str(index), "--modes", ",".join(MODES),
            "--metrics", "nDCG@10,R@100", "--out", str(out)], log)
    results = json.loads((out / "metrics.json").read_text())["results"]
    return {r["condition"]: {"nDCG@10": r["metrics"]["nDCG@10"], "R@100": r["metrics"]["R@100"], "run_file": r["run_file"]} for r in results}


def fusion_in_milvus(dataset: str, index: Path, k: int = 100) -> dict:
    """Tandem's default hybrid (RRF k=60 over each retriever's top 100, fused in Python) against
    Milvus's own ``hybrid_search`` with ``RRFRanker(60)`` over the same top 100s, on the Milvus index:
    nDCG@10 of each, their top-10 overlap, and single-query latency (taking turns query by query)."""
    from tandem.eval.metrics import evaluate as score_run
    from tandem.retrieval.backends.milvus import milvus_hybrid_search
    from tandem.retrieval.datasets import load_split
    from tandem.retrieval.searcher import Searcher

    split = load_split(dataset, "test")
    queries = [(q.query_id, q.text) for q in split.queries]
    searcher = Searcher.open(index)
    sparse, dense = searcher.retriever("sparse"), searcher.retriever("dense")
    runs: dict[str, dict] = {"tandem_rrf": {}, "milvus_rrf": {}}
    times: dict[str, list[float]] = {"tandem_rrf": [], "milvus_rrf": []}
    searcher.batch_search([queries[0][1]], k, mode="hybrid")
    milvus_hybrid_search(sparse, dense, [queries[0][1]], k, ranker="rrf", rrf_k=60, depth=100)
    for qid, text in queries:
        t0 = time.perf_counter()
        result = searcher.batch_search([text], k, mode="hybrid")[0]
        times["tandem_rrf"].append((time.perf_counter() - t0) * 1000)
        runs["tandem_rrf"][qid] = {h.doc_id: h.score for h in result.hits}
        t0 = time.perf_counter()
        runs["milvus_rrf"][qid] = milvus_hybrid_search(sparse, dense, [text], k, ranker="rrf", rrf_k=60, depth=100)[0]
        times["milvus_rrf"].append((time.perf_counter() - t0) * 1000)
    searcher.close()
    remove_self = split.shares_id_space
    out = {}
    for name, run in runs.items():
        out[name] = {"nDCG@10": round(score_run(run, split.qrels, ["nDCG@10"], remove_self_hits=remove_self).mean["nDCG@10"], 4),
                     "latency_p50_ms": round(float(np.percentile(times[name], 50)), 2), "latency_p99_ms": round(float(np.percentile(times[name], 99)), 2)}
    as_lists = {name: {q: sorted(r.items(), key=lambda x: -x[1]) for q, r in run.items()} for name, run in runs.items()}
    overlap = compare_runs(as_lists["tandem_rrf"], as_lists["milvus_rrf"])
    out["top10_overlap"] = overlap["top10_overlap"]
    out["queries"] = len(queries)
    return out


def parity(datasets: dict[str, Path], work: Path, port: int) -> dict:
    report = {}
    with LiteServer(work / "parity-milvus", port) as lite:
        for dataset, encoded in datasets.items():
            folder = work / "parity" / dataset
            folder.mkdir(parents=True, exist_ok=True)
            native = build(folder / "native", encoded, ["--faiss", "flat"], folder / "build-native.log")
            milvus = build(folder / "milvus", encoded, ["--backend", "milvus", "--milvus-uri", lite.uri,
                                                        "--milvus-collection", f"bench_{dataset}", "--milvus-dense-index", "FLAT"],
                           folder / "build-milvus.log")
            milvus["insert_docs_per_second"] = insert_rate(folder / "build-milvus.log")
            evals = {name: evaluate(dataset, folder / name, folder / f"eval-{name}", folder / f"eval-{name}.log") for name in ("native", "milvus")}
            modes = {}
            for mode in MODES:
                a, b = evals["native"][mode], evals["milvus"][mode]
                diff = b["nDCG@10"] - a["nDCG@10"]
                overlap = compare_runs(read_run(Path(a["run_file"])), read_run(Path(b["run_file"])))
                modes[mode] = {"nDCG@10_native": round(a["nDCG@10"], 4), "nDCG@10_milvus": round(b["nDCG@10"], 4),
                               "nDCG@10_diff": float(f"{diff:.2g}"), "R@100_native": round(a["R@100"], 4), "R@100_milvus": round(b["R@100"], 4),
                               **overlap, "ndcg_goal_met": abs(diff) <= NDCG_GOAL, "overlap_goal_met": overlap["top10_overlap"] >= OVERLAP_GOAL}
            fusion = fusion_in_milvus(dataset, folder / "milvus")
            report[dataset] = {"encoded": str(encoded), "native": native, "milvus": milvus, "modes": modes, "fusion_tandem_vs_milvus": fusion,
                               "milvus_server_memory_mb": lite.memory_mb(), "milvus_db_file_bytes_so_far": lite.db_bytes(),
                               "load_average": [round(x, 2) for x in os.getloadavg()]}
            print(f"parity {dataset}: " + "; ".join(f"{m} nDCG@10 {v['nDCG@10_native']} vs {v['nDCG@10_milvus']}, overlap {v['top10_overlap']}"
                                                    for m, v in modes.items()), flush=True)
    return report


# -- scale -----------------------------------------------------------------------------------
def time_interleaved(retrievers: dict, texts: list[str], k: int, warmup: int = 20) -> dict:
    """Single-query wall times, the retrievers taking turns on each query; p50/p99 ms and the ratio."""
    for retriever in retrievers.values():
        for text in texts[:warmup]:
            retriever.search([text], k)
    times = {name: [] for name in retrievers}
    for text in texts:
        for name, retriever in retrievers.items():
            t0 = time.perf_counter()
            retriever.search([text], k)
            times[name].append((time.perf_counter() - t0) * 1000)
    out = {name: {"p50_ms": round(float(np.percentile(t, 50)), 3), "p99_ms": round(float(np.percentile(t, 99)), 3),
                  "mean_ms": round(float(np.mean(t)), 3), "queries": len(t)} for name, t in times.items()}
    out["milvus_over_native_p50"] = round(out["milvus"]["p50_ms"] / out["native"]["p50_ms"], 2)
    out["milvus_over_native_p99"] = round(out["milvus"]["p99_ms"] / out["native"]["p99_ms"], 2)
    return out


def load_collection(uri: str, collection: str, timeout: int = 3600) -> float:
    """Load a collection into a restarted server (it rebuilds its in-memory indexes) within ``timeout``; seconds taken."""
    from pymilvus import MilvusClient

    client = MilvusClient(uri, timeout=30, alias=f"bench-load-{collection}")
    t0 = time.perf_counter()
    client.load_collection(collection, timeout=timeout)
    seconds = round(time.perf_counter() - t0, 1)
    client.close()
    return seconds


def reused_native(index: Path, wait_seconds: float) -> dict:
    """A native index built elsewhere from the same shards and settings (e.g. by bench/bench_scale.py):
    waits up to ``wait_seconds`` for its manifest; its own recorded build time."""
    deadline = time.monotonic() + wait_seconds
    while not (index / "manifest.json").is_file():
        if time.monotonic() > deadline:
            raise SystemExit(f"no native index at {index} after {wait_seconds:g} s")
        time.sleep(30)
    manifest = json.loads((index / "manifest.json").read_text())
    return {"reused_index": str(index), "build_seconds": manifest.get("build_seconds"), "local_bytes": folder_bytes(index)}


def scale(encoded: Path, sizes: list[int | None], work: Path, port: int, num_queries: int,
          native_indexes: dict[str, Path] | None = None, wait_native: float = 0.0, reuse_milvus: bool = False) -> dict:
    from tandem.retrieval.searcher import Searcher

    texts = msmarco_queries(num_queries)
    report = {}
    for size in sizes:
        label = str(size or "all")
        env = environment()
        corpus, shard = pkgsum_prefix(encoded, size if size else 10**12, work / "pkgsum-prefixes")
        folder = work / "scale" / f"pkgsum-{label}"
        folder.mkdir(parents=True, exist_ok=True)
        common = ["--corpus", str(corpus), "--sparse-mode", "inference-free"]
        reuse = reuse_milvus and (folder / "milvus" / "manifest.json").is_file() and (folder / "milvus-server" / "milvus.db").is_file()
        with LiteServer(folder / "milvus-server", port, fresh=not reuse) as lite:
            idle = lite.memory_mb()
            if reuse:  # built by an earlier run (same port: the index records the URI); its build time from that run's log
                built = re.findall(r"built .*? in ([\d,.]+) s", (folder / "build-milvus.log").read_text(errors="replace"))
                milvus = {"reused_from_earlier_run": True, "build_seconds": float(built[-1].replace(",", "")) if built else None,
                          "local_bytes": folder_bytes(folder / "milvus"), "server_memory_note": "server restarted on the built database: no insert in this process",
                          "load_after_restart_seconds": load_collection(lite.uri, f"bench_pkgsum_{label}")}
            else:
                milvus = build(folder / "milvus", shard, [*common, "--backend", "milvus", "--milvus-uri", lite.uri,
                                                          "--milvus-collection", f"bench_pkgsum_{label}"], folder / "build-milvus.log")
            milvus["insert_docs_per_second"] = insert_rate(folder / "build-milvus.log")
            after_insert = lite.memory_mb()
            if native_indexes and label in native_indexes:
                native_dir = native_indexes[label]
                native = reused_native(native_dir, wait_native)
            else:
                native_dir = folder / "native"
                native = build(native_dir, shard, common, folder / "build-native.log")
            searchers = {"native": Searcher.open(native_dir), "milvus": Searcher.open(folder / "milvus")}
            num_docs = searchers["native"].manifest.num_docs
            retrievers = {name: s.retriever("sparse") for name, s in searchers.items()}
            latency = {f"k{k}": time_interleaved(retrievers, texts, k) for k in (10, 1000)}
            memory = {"idle": idle, "after_insert": after_insert, "after_search": lite.memory_mb()}
            db_bytes = lite.db_bytes()
            for searcher in searchers.values():
                searcher.close()
        milvus.update({"server_memory_mb": memory, "db_file_bytes": db_bytes, "db_bytes_per_doc": round(db_bytes / num_docs, 1),
                       "build_docs_per_second": round(num_docs / milvus["build_seconds"], 1) if milvus["build_seconds"] else None})
        native.update({"build_docs_per_second": round(num_docs / native["build_seconds"], 1) if native["build_seconds"] else None,
                       "bytes_per_doc": round(native["local_bytes"] / num_docs, 1)})
        env["load_average_end"] = [round(x, 2) for x in os.getloadavg()]
        report[f"pkgsum-{label}"] = {"num_docs": num_docs, "queries": f"first {num_queries} MS MARCO dev-small", "native": native,
                                     "milvus": milvus, "latency": latency, "environment": env}
        print(f"scale pkgsum {num_docs}: build native {native['build_seconds']} s, milvus {milvus['build_seconds']} s "
              f"(insert {milvus['insert_docs_per_second']} docs/s); k=10 p50 native {latency['k10']['native']['p50_ms']} ms, "
              f"milvus {latency['k10']['milvus']['p50_ms']} ms; server RSS {memory['after_search'].get('VmRSS')} MB, "
              f"{milvus['db_bytes_per_doc']} bytes/doc", flush=True)
    return report


# -- main ------------------------------------------------------------------------------------
def write(report: dict, out: Path, section: str) -> None:
    """Merge ``report[section]`` into the JSON at ``out`` (re-read first: another run may have written
    another section meanwhile); the scale section merges per size."""
    out.parent.mkdir(parents=True, exist_ok=True)
    current = json.loads(out.read_text()) if out.is_file() else {}
    current.update({k: v for k, v in report.items() if k not in ("parity", "scale")})
    if section == "scale":
        current.setdefault("scale", {}).update(report["scale"])
    else:
        report[section]["environment"]["load_average_end"] = [round(x, 2) for x in os.getloadavg()]
        current[section] = report[section]
    out.write_text(json.dumps(current, indent=2) + "\n")


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--encoded", action="append", default=[], metavar="DATASET=DIR",
                        help="`tandem encode` output (sparse + dense) of a BEIR dataset, for parity; repeat per dataset")
    parser.add_argument("--pkgsum-encoded", type=Path, help="`tandem encode` shards of the whole pkgsum corpus (sparse), for scale")
    parser.add_argument("--pkgsum-sizes", default="100000,all", help="prefix sizes; 'all' = the whole corpus")
    parser.add_argument("--native-index", action="append", default=[], metavar="SIZE=DIR",
                        help="scale: reuse a native index built elsewhere from the same shards with default settings (e.g. all=DIR)")
    parser.add_argument("--wait-native", type=float, default=0.0, help="seconds to wait for a --native-index still being built")
    parser.add_argument("--reuse-milvus", action="store_true",
                        help="scale: reuse a Milvus index and database an earlier run built under --work (same --port), instead of rebuilding")
    parser.add_argument("--queries", type=int, default=500, help="MS MARCO dev-small queries timed per engine and k (scale)")
    parser.add_argument("--work", type=Path, required=True, help="scratch folder for indexes, Milvus databases and logs (outside the project)")
    parser.add_argument("--port", type=int, default=19631, help="loopback port of the Milvus Lite servers")
    parser.add_argument("--out", type=Path, default=ROOT / "bench" / "results" / "milvus.json")
    args = parser.parse_args(argv)
    datasets = dict(item.split("=", 1) for item in args.encoded)
    # Sections (and scale sizes) not run now are kept from the JSON already at --out; each carries its environment.
    report: dict = {"what": "Milvus (Lite 2.5 server) vs native backends: parity and pkgsum scale (bench/bench_milvus.py)",
                    "goals": {"ndcg_at_10_abs_diff_max": NDCG_GOAL, "top10_overlap_min": OVERLAP_GOAL}}
    if datasets:
        report["parity"] = {"environment": environment()}
        report["parity"].update(parity({d: Path(p) for d, p in datasets.items()}, args.work, args.port))
        write(report, args.out, "parity")
    if args.pkgsum_encoded:
        sizes = [None if s == "all" else int(s) for s in args.pkgsum_sizes.split(",")]
        report["scale"] = {}
        for size in sizes:
            native_indexes = {k: Path(v) for k, v in (item.split("=", 1) for item in args.native_index)}
            report["scale"].update(scale(args.pkgsum_encoded, [size], args.work, args.port, args.queries, native_indexes, args.wait_native,
                                         args.reuse_milvus))
            write(report, args.out, "scale")
    print(f"wrote {args.out}")
    return report


if __name__ == "__main__":
    main()
