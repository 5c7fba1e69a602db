"""Scaling benchmark (issue 11 §4): engines side by side on pkgsum prefixes and synthetic long documents.

    TANDEM_DATA_DIR=/work/shared/data nice -n 10 .venv/bin/python bench/bench_scale.py \
        --encoded /work/scratch/pkgsum-enc --work /work/scratch/bench-scale --out bench/results/scale.json

(``make bench-scale``.) For each size it builds every engine, then measures each in its own process
(``bench/scale_measure.py``: single-thread p50/p99 at k=10 and k=1000 over MS MARCO dev-small queries,
a batch call, RSS) and computes recall@10 of every other engine against Tandem's exact top 10.

- **pkgsum prefixes** (10k, 100k, all 729,028 real short documents): indexes built by `tandem index
  build --from-encoded` from the SPLADE-tiny shards `tandem encode` wrote for the whole corpus (prefix
  shards cut by ``bench.scale_data``: nothing is encoded again), searched through the Retriever interface
  end to end (inference-free query encoding + search). Engines: Tandem exact (native-sparse, the build's
  default settings; uint8 weights as well when not the default), Tandem approximate (every registered
  approximate sparse backend: seismic, bmp), Lucene impact on the same vectors, Lucene BM25 on the same
  texts. Build time is the `tandem index build` wall time without encoding; with encoding adds N / the
  shards' measured docs/s.
- **synthetic long documents** (100k, 1M, 5M; ``bench.synthetic``, resampled from the scifact SPLADE
  vectors): no texts, so engines are measured at engine level on pre-encoded inference-free query
  vectors (scifact IDF): native sparse segments written by the product's writer, a Lucene impact index
  (sizes up to ``--impact-max-synthetic``), approximate engines (up to ``--approximate-max-synthetic``).
  The 5M point (1.24 billion postings; ~12.5 GB peak RSS while it is generated; a size that would not fit in
  MemAvailable is refused in one line and the run goes on without it) is for size and memory: the
  goals and slopes are judged at sizes up to 1M (``scale_report.GOAL_MAX_DOCS``). Without it in the
  sizes, ``synthetic_5m`` is extrapolated from the bytes per posting at the largest size.
- **dense**: FAISS flat/HNSW/IVF-PQ numbers are taken from ``bench/results/dense.json`` (synthetic
  MiniLM vectors at 100k and 1M, made by ``bench/bench_dense.py``), not re-measured; the JSON says so.

The JSON is rewritten after every corpus, so an interrupted run leaves what it measured; whatever was
not measured is recorded as ``{"skipped": reason}``. It ends with the issue's goals evaluated from
these numbers (met / not met) and a log-log plot (``--plot``).
"""
from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

for _var in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS", "NUMBA_NUM_THREADS", "RAYON_NUM_THREADS"):
    os.environ.setdefault(_var, "1")

import numpy as np  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench.scale_data import encoding_record, pkgsum_prefix, save_query_vectors  # noqa: E402
from tandem.index.limits import available_memory_bytes  # noqa: E402
from bench.scale_report import EXACT, EXACT_FLOAT, REORDERED, bytes_per_posting_table, exact_beside, dense_from_results, environment, evaluate_goals, plot, print_table, slopes  # noqa: E402

APPROXIMATE_BACKENDS = ("seismic", "bmp")  # registered names of the approximate sparse backends


# -- building ----------------------------------------------------------------------------------
def run_build(args: list[str], log: Path) -> dict:
    """Run one `tandem index build` (niced) as a child; its wall time and peak RSS (wait4 rusage)."""
    cmd = ["nice", "-n", "10", str(ROOT / ".venv/bin/tandem"), "index", "build", *args]
    t0 = time.perf_counter()
    with log.open("w") as out:
        proc = subprocess.Popen(cmd, stdout=out, stderr=subprocess.STDOUT, cwd=ROOT)
        _, status, usage = os.wait4(proc.pid, 0)
    seconds = time.perf_counter() - t0
    code = os.waitstatus_to_exitcode(status)
    if code != 0:
        tail = log.read_text(errors="replace").strip().splitlines()[-1:] or ["(no output)"]
        raise RuntimeError(f"tandem index build exited {code}: {tail[0][-300:]} (log {log})")
    return {"build_s": round(seconds, 2), "build_peak_rss_mb": round(usage.ru_maxrss / 1024, 1), "build_cpu_s": round(usage.ru_utime + usage.ru_stime, 1)}


def folder_bytes(path: Path) -> int:
    return sum(p.stat().st_size for p in path.rglob("*") if p.is_file()) if path.exists() else 0


def index_sizes(index: Path, component: str) -> dict:
    """Bytes of one component of a Tandem index (its segment files + its index-wide files) and of the docstore."""
    manifest = json.loads((index / "manifest.json").read_text())
    info = next(c for c in manifest["components"] if c["name"] == component)
    segment = sum(folder_bytes(index / "segments" / s["name"] / component) for s in manifest["segments"])
    shared_dir = index / info["shared_dir"] if info.get("shared_dir") else None
    shared = folder_bytes(shared_dir) if shared_dir else 0
    query_side = folder_bytes(shared_dir / "tokenizer") + ((shared_dir / "query_weights.npy").stat().st_size
                                                           if (shared_dir / "query_weights.npy").exists() else 0) if shared_dir else 0
    docstore = sum((index / "segments" / s["name"] / "docs.sqlite").stat().st_size for s in manifest["segments"])
    stats = manifest["segments"][0]["stats"].get(component, {})
    return {"component_bytes": segment + shared, "index_bytes": segment + shared - query_side, "query_side_bytes": query_side,
            "segment_bytes": segment, "shared_bytes": shared, "docstore_bytes": docstore,
            "settings": {k: v for k, v in info["settings"].items() if k != "encoder"}, "segment_stats": stats}


def pkgsum_engines(default_weights: str) -> list[dict]:
    """Engines on a pkgsum prefix: name, extra build arguments, retriever name, whether built from vectors."""
    from tandem.retrieval.backends import BACKENDS

    engines = [{"name": EXACT, "args": [], "retriever": "sparse", "exact": True}]
    for name, weights in exact_beside(default_weights).items():
        engines.append({"name": name, "args": ["--sparse-weights", weights], "retriever": "sparse"})
    engines.append({"name": REORDERED, "args": ["--reorder", "bp"], "retriever": "sparse"})
    for name in APPROXIMATE_BACKENDS:
        if name in BACKENDS:
            engines.append({"name": f"tandem-{name}", "args": ["--sparse-backend", name], "retriever": "sparse", "approximate": True})
        else:
            engines.append({"name": f"tandem-{name}", "skipped": f"no backend {name!r} registered in retrieval/backends at this commit"})
    engines.append({"name": "lucene-impact", "args": ["--lucene-impact"], "retriever": "impact", "peer": True})
    engines.append({"name": "lucene-bm25", "args": ["--sparse", "none", "--dense", "none", "--bm25"], "retriever": "bm25", "texts_only": True, "peer": True})
    return engines


def measure_in_child(spec: dict, work: Path, timeout: float) -> dict:
    """Run bench/scale_measure.py on ``spec`` in a fresh process (its own RSS); its JSON."""
    work.mkdir(parents=True, exist_ok=True)
    spec_path, out_path = work / "spec.json", work / "measured.json"
    spec_path.write_text(json.dumps(spec))
    out_path.unlink(missing_ok=True)
    cmd = ["nice", "-n", "10", sys.executable, str(ROOT / "bench/scale_measure.py"), str(spec_path), str(out_path)]
    with (work / "measure.log").open("w") as log:
        code = subprocess.run(cmd, stdout=log, stderr=subprocess.STDOUT, cwd=ROOT, timeout=timeout).returncode
    if code != 0 or not out_path.exists():
        tail = (work / "measure.log").read_text(errors="replace").strip().splitlines()[-1:] or ["(no output)"]
        raise RuntimeError(f"measurement exited {code}: {tail[0][-300:]}")
    return json.loads(out_path.read_text())


INTERLEAVED = (EXACT, REORDERED, "lucene-bm25", "lucene-impact")  # the peer goals' engines (and the bp order beside), timed side by side at the largest pkgsum size
LEADS = (EXACT, REORDERED)  # the side-by-side ratios are each of these over every engine after it


def interleave_peers(row: dict, retrievers: dict[str, str], work: Path, args) -> None:
    """``--interleave-rounds`` fresh processes, each timing Tandem exact and the Lucene peers side by side query by
    query (``scale_measure.measure_interleaved``); ``row["interleaved"]`` gets every round and the median over rounds
    of each ratio, which the peer goals read (separate processes each catch the machine at another moment: at 729k
    the peers' p50 moved 1.4-1.7 ms (impact) and 0.50-0.69 ms (BM25) between runs, Tandem's 0.53-0.60)."""
    names = [name for name in INTERLEAVED if "search" in row["engines"].get(name, {})]
    if args.interleave_rounds <= 0 or EXACT not in names or len(names) < 2:
        return
    specs = {name: {"kind": "retriever", "index": str(work / "indexes" / name), "retriever": retrievers[name], "num_queries": args.queries,
                    "lead": name in LEADS} for name in names}
    rounds = []
    for r in range(args.interleave_rounds):
        try:
            rounds.append(measure_in_child({"interleave": specs, "block": args.interleave_block}, work / "measure" / f"interleaved-{r}", args.measure_timeout))
        except Exception as exc:  # the separate measurements stand; say why this one is missing
            rounds.append({"failed": str(exc)})
        print(f"[pkgsum {row['num_docs']:,}] interleaved round {r + 1}: " + ", ".join(
            f"{pair} k10 p50 {v['k10']['p50']}" for pair, v in rounds[-1].get("ratios", {}).items()), flush=True)
    done = [x for x in rounds if "ratios" in x]
    median = {pair: {k: {stat: round(float(np.median([x["ratios"][pair][k][stat] for x in done])), 3) for stat in done[0]["ratios"][pair][k]}
                     for k in done[0]["ratios"][pair]} for pair in done[0]["ratios"]} if done else {}
    row["interleaved"] = {"engines": names, "queries": args.queries, "block": args.interleave_block, "rounds": rounds, "median_over_rounds": median,
                          "method": "each round a fresh process: every engine opened, warmed, then query i timed on each in turn "
                                    "(forward order for even i, backward for odd i); ratios = Tandem engine / each engine after it (throughput: "
                                    "that engine's mean / the Tandem engine's mean)"}


def recall_at_10(found: list[list[str]], exact: list[list[str]]) -> float | None:
    """Mean |found ∩ exact| / |exact| over queries whose exact top 10 is not empty."""
    values = [len(set(f) & set(e)) / len(e) for f, e in zip(found, exact) if e]
    return round(float(np.mean(values)), 4) if values else None


def finish_engines(engines: dict[str, dict], brute: list[list[str]] | None = None) -> None:
    """Recall@10 of every engine against Tandem exact over the encoder's weights (the float32 index when the
    default stores quantised weights; given ``brute``, also agreement with a brute-force top 10: the share
    of queries with the same 10 documents), then drop the stored top-10 lists."""
    reference = EXACT_FLOAT if engines.get(EXACT_FLOAT, {}).get("search") else EXACT
    exact = engines.get(reference, {}).get("search", {}).get("top10")
    for entry in engines.values():
        search = entry.get("search")
        if not search or "top10" not in search:
            continue
        if exact is not None:
            entry["recall_at_10_vs_exact"] = recall_at_10(search["top10"], exact)
        if brute is not None:
            entry["recall_at_10_vs_brute_force"] = recall_at_10(search["top10"], brute)
            entry["same_top10_as_brute_force"] = round(float(np.mean([set(f) == set(b) for f, b in zip(search["top10"], brute)])), 4)
        del search["top10"]


# -- pkgsum --------------------------------------------------------------------------------------
def run_pkgsum(num_docs: int, args, encoding: dict, row: dict, save) -> dict:
    """Build and measure every engine on the first ``num_docs`` pkgsum documents, filling ``row`` (``save()`` after each engine)."""
    from tandem.retrieval.build import BuildConfig

    work = args.work / f"pkgsum-{num_docs}"
    corpus, shard = pkgsum_prefix(args.encoded, num_docs, args.work)
    n = sum(1 for _ in _ids(shard))
    rate = encoding.get("docs_per_second_per_shard_mean")
    row.update({"corpus": "pkgsum", "num_docs": n, "corpus_file": str(corpus), "encoded": str(shard), "engines": {}})
    row.pop("skipped", None)
    engines = pkgsum_engines(BuildConfig(corpus="x").sparse_weights)
    if args.engines:  # a subset, in the order given (most wanted first when time is short)
        by_name = {e["name"]: e for e in engines}
        engines = [by_name[name] for name in args.engines.split(",") if name in by_name]
    for engine in engines:
        save()
        name = engine["name"]
        if "skipped" in engine:
            row["engines"][name] = {"skipped": engine["skipped"]}
            continue
        entry = row["engines"][name] = {}
        index = work / "indexes" / name
        try:
            built_file = index.parent / f"{name}.build.json"
            if args.reuse and built_file.exists() and (index / "manifest.json").exists():
                entry["build"] = {**json.loads(built_file.read_text()), "reused_from_earlier_run": True}
            else:
                shutil.rmtree(index, ignore_errors=True)
                index.parent.mkdir(parents=True, exist_ok=True)
                source = ["--corpus", str(corpus)] if engine.get("texts_only") else ["--from-encoded", str(shard)]
                entry["build"] = run_build([*source, "--out", str(index), *engine["args"]], index.parent / f"{name}.build.log")
                built_file.write_text(json.dumps(entry["build"]))
            sizes = index_sizes(index, engine["retriever"])
            entry["size"] = sizes
            postings = int(index_sizes(index, "sparse")["segment_stats"].get("num_postings", 0)) if not engine.get("texts_only") else 0
            entry["size"]["bytes_per_document"] = round(sizes["index_bytes"] / n, 2)
            if postings:  # postings of the SPLADE vectors (BM25 has its own, uncounted)
                entry["size"]["num_postings"] = postings
                entry["size"]["bytes_per_posting"] = round(sizes["index_bytes"] / postings, 3)
            if not engine.get("texts_only") and rate:
                entry["build"]["encode_s_estimated"] = round(n / rate, 1)
                entry["build"]["build_with_encoding_s"] = round(n / rate + entry["build"]["build_s"], 1)
            print(f"[pkgsum {n:,}] {name}: built in {entry['build']['build_s']} s, {sizes['component_bytes'] / 1e6:.1f} MB", flush=True)
            spec = {"kind": "retriever", "index": str(index), "retriever": engine["retriever"], "num_queries": args.queries}
            entry["search"] = measure_in_child(spec, work / "measure" / name, args.measure_timeout)
            print(f"[pkgsum {n:,}] {name}: k10 p50 {entry['search']['k10']['p50_ms']} ms, k1000 p50 {entry['search']['k1000']['p50_ms']} ms, "
                  f"RSS +{entry['search']['rss_search_mb']} MB", flush=True)
        except Exception as exc:  # one engine failing must not lose the others' numbers
            entry["skipped"] = f"failed: {exc}"
            print(f"[pkgsum {n:,}] {name}: FAILED {exc}", flush=True)
    if num_docs == max(int(x) for x in args.pkgsum_sizes.split(",") if x):
        interleave_peers(row, {e["name"]: e["retriever"] for e in engines}, work, args)
    impact, exact = row["engines"].get("lucene-impact", {}), row["engines"].get(EXACT, {})
    if "build" in impact and "build" in exact:
        impact["build"]["impact_only_build_s_derived"] = round(impact["build"]["build_s"] - exact["build"]["build_s"], 2)
        impact["build"]["note"] = "the impact index is built beside a native sparse component; impact_only = this build - the tandem-exact build"
    finish_engines(row["engines"])
    return row


def _ids(shard: Path):
    from tandem.retrieval.encode import read_shards

    for s in read_shards([shard]).shards:
        yield from (s.path / s.manifest.files["ids"]).read_text().split("\n")[: s.manifest.num_docs]


# -- synthetic long documents ----------------------------------------------------------------------
def scifact_base(index: Path):
    """(scifact doc matrix, tokenizer, IDF table) from an inference-free scifact index (no dense needed)."""
    from bench.scale_data import matrix_from_index
    from tandem.retrieval.encoders import saved_tokenizer

    manifest = json.loads((index / "manifest.json").read_text())
    component = next(c for c in manifest["components"] if c["name"] == "sparse")
    shared = index / component["shared_dir"]
    matrix = matrix_from_index(index / "segments" / manifest["segments"][0]["name"] / "sparse")
    return matrix, saved_tokenizer(shared / "tokenizer"), np.load(shared / "query_weights.npy")


def run_synthetic(num_docs: int, base, queries_file: Path, args, row: dict, save) -> dict:
    """Generate ``num_docs`` synthetic long documents and measure the engines on them, filling ``row`` (``save()`` after each engine)."""
    from bench.synthetic import synthetic_long_docs
    from tandem.index.sparse import write_sparse_index
    from tandem.index.sparse_format import SparseIndexConfig
    from tandem.retrieval.build import BuildConfig

    work = args.work / f"synthetic-{num_docs}"
    postings, available = synthetic_postings(base, num_docs), available_memory_bytes()
    if available is not None and postings * GENERATE_BYTES_PER_POSTING > available:
        raise RuntimeError(f"generating {postings:,} postings needs ~{postings * GENERATE_BYTES_PER_POSTING / 1e9:.1f} GB, "
                           f"{available / 1e9:.1f} GB available (MemAvailable): leave {num_docs:,} out of --synthetic-sizes")
    t0 = time.perf_counter()
    csc = synthetic_long_docs(base, num_docs)
    row.update({"corpus": "synthetic-long", "num_docs": num_docs, "num_postings": int(csc.nnz), "generate_s": round(time.perf_counter() - t0, 1),
                "level": "engine (no texts): pre-encoded inference-free query vectors, scifact IDF", "engines": {}})
    row.pop("skipped", None)
    row["save"] = save
    default = BuildConfig(corpus="x")
    configs = {EXACT: SparseIndexConfig(weights=default.sparse_weights, forward=default.sparse_forward)}
    for name, weights in exact_beside(default.sparse_weights).items():
        configs[name] = SparseIndexConfig(weights=weights, forward=default.sparse_forward)
    for name, config in configs.items():
        folder = work / name
        shutil.rmtree(folder, ignore_errors=True)
        t0 = time.perf_counter()
        summary = write_sparse_index(folder, csc, config=config)
        entry = row["engines"][name] = {"build": {"build_s": round(time.perf_counter() - t0, 2), "note": "write_sparse_index (the native-sparse segment writer)"}}
        size = folder_bytes(folder)
        entry["size"] = {"component_bytes": size, "bytes_per_document": round(size / num_docs, 2), "num_postings": int(csc.nnz),
                         "bytes_per_posting": round(size / csc.nnz, 3), "settings": config.model_dump(), "max_weight_error": summary["max_weight_error"]}
        _measure_synthetic(row, name, {"kind": "native-matrix", "folder": str(folder), "queries": str(queries_file)}, work, args)
    for name in APPROXIMATE_BACKENDS:
        builder = APPROXIMATE_MATRIX_BUILDERS.get(name)
        if args.engines and f"tandem-{name}" not in args.engines.split(","):
            row["engines"][f"tandem-{name}"] = {"skipped": f"not selected in this run (--engines {args.engines}): a {name} build of 100k long "
                                                           "documents (25M postings) would take over half an hour on this loaded machine "
                                                           "(pkgsum 100k, 3.6M postings: Seismic 684 s, BMP 326 s)"}
            continue
        if builder is None or num_docs > args.approximate_max_synthetic:
            why = (f"no engine-level entry for {name} in this harness (synthetic corpora have no texts for a Tandem index): measured on pkgsum only"
                   if builder is None else f"not built at this size (--approximate-max-synthetic {args.approximate_max_synthetic:,}): a Seismic build "
                   "of 1M long documents (250M postings) ran over 15 min on this loaded machine without finishing, beyond the time budget "
                   "(pkgsum 100k took 684 s); approximate engines are compared on pkgsum and synthetic 100k")
            row["engines"][f"tandem-{name}"] = {"skipped": why}
            continue
        builder(row, csc, queries_file, work, args)
    if num_docs <= args.impact_max_synthetic:
        _synthetic_impact(row, csc, queries_file, work, args)
    else:
        row["engines"]["lucene-impact"] = {"skipped": f"not built at this size (--impact-max-synthetic {args.impact_max_synthetic:,}): writing the "
                                                      "JsonVectorCollection of long documents and indexing it took ~17 min for 100k docs on this "
                                                      "loaded machine, beyond the time budget; Lucene impact is compared on pkgsum"}
    row["engines"]["lucene-bm25"] = {"skipped": "synthetic documents have no texts"}
    brute = brute_force_top10(csc, queries_file, args.synthetic_queries)
    del csc
    finish_engines(row["engines"], brute)
    row.pop("save")
    return row


def brute_force_top10(csc, queries_file: Path, num: int) -> list[list[str]]:
    """Top 10 of each timed query by the plain numpy search (bincount over every posting of its terms)."""
    from bench.bench_sparse_kernel import numpy_search
    from bench.scale_data import load_query_vectors

    csc.sort_indices()
    return [[str(d) for d in numpy_search(csc, q, 10)[0]] for q in load_query_vectors(queries_file)[:num]]


def _measure_synthetic(row: dict, name: str, spec: dict, work: Path, args) -> None:
    spec["num_queries"] = args.synthetic_queries
    entry = row["engines"][name]
    row["save"]()
    try:
        entry["search"] = measure_in_child(spec, work / "measure" / name, args.measure_timeout)
        print(f"[synthetic {row['num_docs']:,}] {name}: k10 p50 {entry['search']['k10']['p50_ms']} ms, k1000 p50 {entry['search']['k1000']['p50_ms']} ms",
              flush=True)
    except Exception as exc:
        entry["skipped"] = f"failed: {exc}"
        print(f"[synthetic {row['num_docs']:,}] {name}: FAILED {exc}", flush=True)
    row["save"]()


def _synthetic_approximate(row: dict, csc, queries_file: Path, work: Path, args, engine: str) -> None:
    """A Seismic or BMP segment of the synthetic documents (the backend's own segment writer, default settings)."""
    name = f"tandem-{engine}"
    try:
        if engine == "seismic":
            from tandem.retrieval.backends.seismic_sparse import SeismicConfig as Config, write_seismic_segment as write_segment
        else:
            from tandem.retrieval.backends.bmp_sparse import BmpConfig as Config, write_bmp_segment as write_segment
    except ImportError as exc:
        row["engines"][name] = {"skipped": f"{engine} backend not importable: {exc}"}
        return
    folder = work / name
    shutil.rmtree(folder, ignore_errors=True)
    config = Config()
    entry = row["engines"][name] = {}
    try:
        t0 = time.perf_counter()
        stats = write_segment(folder, csc.tocsr(), config)
        entry["build"] = {"build_s": round(time.perf_counter() - t0, 2), "threads": stats.get("build_threads"),
                          "note": f"the {engine} backend's segment writer"}
        (folder / f"{engine}_settings.json").write_text(config.model_dump_json())
        size = folder_bytes(folder)
        entry["size"] = {"component_bytes": size, "bytes_per_document": round(size / csc.shape[0], 2), "num_postings": int(csc.nnz),
                         "bytes_per_posting": round(size / csc.nnz, 3), "settings": config.model_dump()}
    except Exception as exc:
        entry["skipped"] = f"failed: {exc}"
        return
    _measure_synthetic(row, name, {"kind": f"{engine}-matrix", "folder": str(folder), "queries": str(queries_file)}, work, args)


APPROXIMATE_MATRIX_BUILDERS = {name: (lambda row, csc, q, work, args, name=name: _synthetic_approximate(row, csc, q, work, args, name))
                               for name in APPROXIMATE_BACKENDS}


def _synthetic_impact(row: dict, csc, queries_file: Path, work: Path, args) -> None:
    from tandem.index.lucene.impact import build_impact_index, quantize

    csr = csc.tocsr()
    scale = 100.0

    def vectors():
        for j in range(csr.shape[0]):
            start, end = csr.indptr[j], csr.indptr[j + 1]
            yield str(j), quantize({f"t{t}": float(w) for t, w in zip(csr.indices[start:end], csr.data[start:end])}, scale)

    folder = work / "lucene-impact"
    shutil.rmtree(folder, ignore_errors=True)
    entry = row["engines"]["lucene-impact"] = {}
    try:
        t0 = time.perf_counter()
        build_impact_index(vectors(), folder, threads=2, total=csr.shape[0])
        entry["build"] = {"build_s": round(time.perf_counter() - t0, 2), "threads": 2, "note": "JsonVectorCollection written then indexed by Anserini (-impact -pretokenized)"}
        size = folder_bytes(folder)
        entry["size"] = {"component_bytes": size, "bytes_per_document": round(size / csr.shape[0], 2), "num_postings": int(csr.nnz),
                         "bytes_per_posting": round(size / csr.nnz, 3), "settings": {"scale": scale}}
    except Exception as exc:
        entry["skipped"] = f"failed: {exc}"
        return
    _measure_synthetic(row, "lucene-impact", {"kind": "impact-matrix", "folder": str(folder), "queries": str(queries_file), "scale": scale}, work, args)


GENERATE_BYTES_PER_POSTING = 10  # peak RSS of generating a synthetic size: 12.5 GB for 1.24 billion postings (5M documents)


def synthetic_postings(base, num_docs: int) -> int:
    """Postings of ``num_docs`` synthetic documents (document j has the length of base document j mod n)."""
    lengths = np.diff(base.tocsr().indptr)
    return int(lengths.sum() * (num_docs // len(lengths)) + lengths[: num_docs % len(lengths)].sum())


def projection_5m(rows: list[dict], base) -> dict:
    """Synthetic 5M: measured when this report has that row (``--synthetic-sizes ...,5000000``), else bytes
    extrapolated from the bytes per posting measured at the largest synthetic size (not built)."""
    num = 5_000_000
    measured = [r for r in rows if r["corpus"] == "synthetic-long" and "engines" in r]
    if not measured:
        return {"skipped": "no synthetic size was measured"}
    largest = max(measured, key=lambda r: r["num_docs"])
    if largest["num_docs"] == num:
        return {"num_docs": num, "num_postings": largest["num_postings"],
                "method": "measured: built and searched at 5M (the synthetic-long 5,000,000 row of this report)",
                "engines": {name: {"bytes": entry["size"]["component_bytes"], "gb": round(entry["size"]["component_bytes"] / 1e9, 2),
                                   "search_rss_mb": entry.get("search", {}).get("rss_search_mb")}
                            for name, entry in largest["engines"].items() if "size" in entry}}
    postings = synthetic_postings(base, num)
    smaller = [r for r in measured if r["num_docs"] < largest["num_docs"]]
    out = {"num_docs": num, "num_postings": postings,
           "method": f"extrapolated, not built: measured bytes/posting at {largest['num_docs']:,} synthetic docs x postings at 5M (document lengths "
                     "are those of the resampled scifact documents); search RSS on the straight line through the two largest measured sizes",
           "engines": {}}
    for name, entry in largest["engines"].items():
        bpp = entry.get("size", {}).get("bytes_per_posting")
        if bpp:
            rss = entry.get("search", {}).get("rss_search_mb")
            low = max(smaller, key=lambda r: r["num_docs"]) if smaller else None
            low_rss = low["engines"].get(name, {}).get("search", {}).get("rss_search_mb") if low else None
            projected_rss = None
            if rss is not None and low_rss is not None:
                per_doc = (rss - low_rss) / (largest["num_docs"] - low["num_docs"])
                projected_rss = round(rss + per_doc * (num - largest["num_docs"]), 0)
            out["engines"][name] = {"projected_bytes": int(bpp * postings), "projected_gb": round(bpp * postings / 1e9, 2),
                                    "projected_search_rss_mb": projected_rss}
    return out


# -- main ----------------------------------------------------------------------------------------
METHOD = {"timing": "one query per call on one thread after 200 warm-up queries at each k (other queries than the timed ones on pkgsum); "
                     "wall-clock p50/p99 (cpu_* = thread CPU time of the calling thread, which runs the JNI calls too); "
                     "single_thread_qps = 1000 / mean ms; batch_k10 = one call with every query, split across the search threads (all cores: "
                     "Tandem's sparse kernels, Anserini's batch_search; Seismic and BMP one thread); side by side, 3 alternating rounds of "
                     "one batch call per engine; "
                     "Tandem engines and BM25 through Retriever.search([text], k); lucene-impact as its retriever's encode() + "
                     "Anserini's single-query search (its Retriever.search starts a 2-thread batch per call)",
           "rss": "VmRSS from /proc/self/status of the measuring process: after open + warm-up (rss_open_mb) and after all timed "
                  "queries (rss_search_mb), minus VmRSS before opening (engine modules imported); it includes what the first searches "
                  "compile (numba kernels, a JVM's JIT) and memory-mapped index pages once touched; vm_hwm_mb = the process peak",
           "recall": "recall@10 against tandem-exact's top 10 for the same queries",
           "size": "index_bytes = the component's segment files + index-wide files, without its query side (tokenizer, IDF "
                   "table: a fixed ~0.8 MB); bytes_per_posting = index_bytes / SPLADE postings; bytes_per_document = index_bytes / N; "
                   "the document store (docs.sqlite, texts) is listed apart",
           "build": "wall time of `tandem index build` (pkgsum, child process; peak RSS from wait4) or of the engine's writer "
                    "(synthetic); with encoding adds num_docs / the shards' measured docs/s"}


def _public(value):
    """The report without what is kept only while a size runs (top-10 lists, the save callback)."""
    if isinstance(value, dict):
        return {k: _public(v) for k, v in value.items() if k not in ("top10", "save")}
    if isinstance(value, list):
        return [_public(v) for v in value]
    return value


def write(report: dict, out: Path) -> None:
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_suffix(".tmp")
    tmp.write_text(json.dumps(_public(report), indent=2) + "\n", encoding="utf-8")
    tmp.replace(out)


def main(argv: list[str] | None = None) -> dict:
    return run(build_parser().parse_args(argv))


def build_parser() -> argparse.ArgumentParser:
    """The command line of the benchmark (also used by the smoke test)."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0], formatter_class=argparse.RawDescriptionHelpFormatter, epilog=__doc__)
    parser.add_argument("--encoded", type=Path, default=Path("/work/scratch/pkgsum-enc"), help="`tandem encode` shards of the whole pkgsum corpus")
    parser.add_argument("--pkgsum-sizes", default="10000,100000,729028", help="pkgsum prefixes (comma-separated; '' to skip)")
    parser.add_argument("--synthetic-sizes", default="100000,1000000,5000000", help="synthetic long-document sizes ('' to skip)")
    parser.add_argument("--scifact-index", type=Path, default=None,
                        help="inference-free scifact index (base of the synthetic documents); built into --work if missing")
    parser.add_argument("--queries", type=int, default=1000, help="MS MARCO dev-small queries timed per engine and k on pkgsum")
    parser.add_argument("--synthetic-queries", type=int, default=500, help="queries timed per engine and k on synthetic documents")
    parser.add_argument("--impact-max-synthetic", type=int, default=100_000, help="largest synthetic size given a Lucene impact index")
    parser.add_argument("--engines", default="", help="only these engines, in this order (comma-separated names; default: all); "
                                                       "synthetic corpora always measure Tandem exact")
    parser.add_argument("--approximate-max-synthetic", type=int, default=1_000_000, help="largest synthetic size given approximate (Seismic) indexes")
    parser.add_argument("--measure-timeout", type=float, default=3600.0, help="seconds one engine's measurement may take")
    parser.add_argument("--interleave-rounds", type=int, default=3,
                        help="at the largest pkgsum size, also time Tandem exact and the Lucene peers side by side in this many fresh processes "
                             "(the peer goals read the median over rounds; 0 to skip)")
    parser.add_argument("--interleave-block", type=int, default=1,
                        help="side by side, the engines take turns on blocks of this many queries (1: every engine on each query)")
    parser.add_argument("--dense-results", type=Path, default=ROOT / "bench/results/dense.json")
    parser.add_argument("--work", type=Path, default=Path("/work/scratch/bench-scale"), help="scratch folder (indexes, prefix shards)")
    parser.add_argument("--reuse", action="store_true", help="reuse pkgsum indexes an earlier run built in --work (their recorded build times)")
    parser.add_argument("--keep-existing", action="store_true",
                        help="keep the rows of --out for corpus sizes this run does not measure (each row records when it ran and the load average)")
    parser.add_argument("--report-only", action="store_true",
                        help="measure nothing: recompute slopes, goals, the 5M projection and the plot from the rows already in --out")
    parser.add_argument("--merge-from", nargs="*", default=[], help="with --report-only: take the measured rows of these JSON files (same format) into --out")
    parser.add_argument("--out", type=Path, default=ROOT / "bench/results/scale.json")
    parser.add_argument("--plot", type=Path, default=ROOT / "bench/results/scale.png")
    return parser


def run(args, base=None, queries_file: Path | None = None) -> dict:
    """The whole benchmark for parsed ``args``; ``base``/``queries_file`` replace the scifact base matrix and
    its query vectors (the smoke test passes a small random corpus)."""
    args.work.mkdir(parents=True, exist_ok=True)
    if args.report_only:
        report = json.loads(args.out.read_text())
        for path in args.merge_from:  # rows measured by another invocation (e.g. the largest size run side by side)
            other = json.loads(Path(path).read_text())
            done = {(r["corpus"], r["num_docs"]): r for r in other["corpora"] if "engines" in r}
            merged = []
            for row in report["corpora"]:
                new = done.pop((row["corpus"], row["num_docs"]), None)
                if new is None:
                    merged.append(row)
                elif "engines" not in row:
                    merged.append({**new, "measured_in": str(path)})
                else:  # both measured some engines: the other run's measured engines fill the gaps, each saying where it ran
                    for name, entry in new["engines"].items():
                        if name not in row["engines"] or ("search" in entry and "search" not in row["engines"][name]):
                            row["engines"][name] = {**entry, "measured_in": str(path), "measured_at": new.get("started"),
                                                    "load_average": [new.get("load_average_start"), new.get("load_average_end")]}
                    merged.append(row)
            report["corpora"] = sorted(merged + list(done.values()), key=lambda r: (r["corpus"], r["num_docs"]))
            report.setdefault("merged_runs", []).append({"file": str(path), "rows": [f"{r['corpus']} {r['num_docs']}" for r in other["corpora"] if "engines" in r],
                                                         "environment": other["environment"], "settings": other["settings"]})
        from tandem.retrieval.build import BuildConfig

        all_pkgsum = [e["name"] for e in pkgsum_engines(BuildConfig(corpus="x").sparse_weights)]
        for row in report["corpora"]:  # an engine a stopped run had not finished, or not reached, says so
            if row["corpus"] == "pkgsum" and "engines" in row:
                for name in all_pkgsum:
                    row["engines"].setdefault(name, {"skipped": "not measured by this harness at this size (time budget)" + (
                        "; measured side by side with the exact engine in bench/results/approx_sparse.json (see the approximate goal's sweeps)"
                        if name.removeprefix("tandem-") in APPROXIMATE_BACKENDS else "")})
            for entry in row.get("engines", {}).values():
                if "search" not in entry and "skipped" not in entry:
                    entry["skipped"] = "not measured: the run was stopped (time budget) before this engine finished"
        if any(r["corpus"] == "synthetic-long" and "engines" in r for r in report["corpora"]) and base is None:
            base = scifact_base(args.scifact_index or args.work / "scifact-if")[0]
        load_end = report["environment"].get("load_average_end")
        report["method"] = METHOD
        report["dense"] = dense_from_results(args.dense_results)  # taken from dense.json, never measured here: read again
        finalise(report, base, args)
        report["environment"]["load_average_end"] = load_end  # the run's, not this re-evaluation's
        write(report, args.out)
        print_table(report)
        return report

    report = {"environment": environment(), "settings": {k: str(v) for k, v in vars(args).items()}, "method": METHOD, "corpora": []}
    pkgsum_sizes = [int(s) for s in args.pkgsum_sizes.split(",") if s]
    synthetic_sizes = [int(s) for s in args.synthetic_sizes.split(",") if s]
    encoding = {}
    if pkgsum_sizes:
        try:
            encoding = encoding_record(args.encoded)
        except Exception as exc:
            encoding = {"skipped": f"encoded shards not readable: {exc}"}
    report["pkgsum_encoding"] = encoding
    report["dense"] = dense_from_results(args.dense_results)

    if synthetic_sizes and base is None:
        base, queries_file = synthetic_inputs(args)
    # lightest first, heaviest last: pkgsum 10k, 100k, synthetic 100k, pkgsum all, synthetic 1M
    plan = [("pkgsum", n) for n in pkgsum_sizes if n <= 100_000] + [("synthetic", n) for n in synthetic_sizes if n <= 100_000]
    plan += [("pkgsum", n) for n in pkgsum_sizes if n > 100_000] + [("synthetic", n) for n in synthetic_sizes if n > 100_000]
    if args.keep_existing and args.out.exists():
        previous = json.loads(args.out.read_text())
        planned = {("pkgsum" if kind == "pkgsum" else "synthetic-long", n) for kind, n in plan}
        report["corpora"] = [r for r in previous.get("corpora", []) if (r["corpus"], r["num_docs"]) not in planned]
        report["earlier_runs"] = previous.get("earlier_runs", []) + [{**previous["environment"], "rows": [f"{r['corpus']} {r['num_docs']}" for r in report["corpora"]]}]
        if not pkgsum_sizes:
            report["pkgsum_encoding"] = previous.get("pkgsum_encoding", encoding)
    rows = []
    for kind, n in plan:  # every planned size is in the JSON from the start: a stopped run says what it did not measure
        rows.append({"corpus": "pkgsum" if kind == "pkgsum" else "synthetic-long", "num_docs": n,
                     "skipped": "not measured: the run stopped before this size (time budget)"})
        report["corpora"].append(rows[-1])
    report["corpora"].sort(key=lambda r: (r["corpus"], r["num_docs"]))

    def save() -> None:
        finalise(report, base, args, plot_too=False)

    for (kind, n), row in zip(plan, rows):
        started, load_start = time.strftime("%Y-%m-%dT%H:%M:%S%z"), [round(x, 2) for x in os.getloadavg()]
        row.update(started=started, load_average_start=load_start)
        try:
            if kind == "pkgsum":
                if "skipped" in encoding:
                    raise RuntimeError(encoding["skipped"])
                run_pkgsum(n, args, encoding, row, save)
            else:
                run_synthetic(n, base, queries_file, args, row, save)
        except Exception as exc:
            row.pop("save", None)
            row["skipped"] = f"failed: {exc}"
            print(f"{kind} {n:,}: FAILED {exc}", flush=True)
        row["finished"], row["load_average_end"] = time.strftime("%Y-%m-%dT%H:%M:%S%z"), [round(x, 2) for x in os.getloadavg()]
        finalise(report, base, args)
    finalise(report, base, args)
    print_table(report)
    return report


def synthetic_inputs(args) -> tuple[object, Path]:
    """The scifact base matrix and the MS MARCO dev queries as inference-free vectors (scifact IDF), saved for the measuring processes."""
    from bench.scale_data import msmarco_queries
    from tandem.retrieval.idf_query import IdfQueryEncoder

    index = args.scifact_index or args.work / "scifact-if"
    if not (index / "manifest.json").exists():
        run_build(["--corpus", "scifact", "--dense", "none", "--precision", "bf16", "--out", str(index)], args.work / "scifact-if.build.log")
    base, tokenizer, idf = scifact_base(index)
    vectors = IdfQueryEncoder(tokenizer, idf).encode(msmarco_queries(args.synthetic_queries * 2))
    vectors = [v for v in vectors if v.nnz][: args.synthetic_queries]
    queries_file = args.work / "synthetic-queries.npz"
    save_query_vectors(queries_file, vectors)
    return base, queries_file


def finalise(report: dict, base, args, plot_too: bool = True) -> None:
    """Projection, slopes, goals; write the JSON (and the plot)."""
    if base is not None:
        report["synthetic_5m"] = projection_5m(report["corpora"], base)
    report["environment"]["load_average_end"] = [round(x, 2) for x in os.getloadavg()]
    report["slopes"] = slopes(report)
    report["bytes_per_posting"] = bytes_per_posting_table(report)
    report["goals"] = evaluate_goals(report)
    write(report, args.out)
    if args.plot and plot_too:
        try:
            plot(report, args.plot)
        except Exception as exc:  # the JSON matters more than the figure
            print(f"plot failed: {exc}", flush=True)


if __name__ == "__main__":
    main()
