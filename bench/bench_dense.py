"""Dense retrieval at scale: FAISS flat vs HNSW vs IVF-PQ (issue 11 §3).

    TANDEM_DATA_DIR=/work/shared/data .venv/bin/python bench/bench_dense.py --sizes 100000,1000000 --out bench/results/dense.json

Encoding 10^5 documents with MiniLM takes over half an hour here, so the document vectors are
synthetic with a realistic structure: the 5,183 scifact documents encoded by MiniLM (cached under
``--cache-dir``), each synthetic vector a random one of them plus Gaussian noise with the
covariance of the real vectors (scaled by ``--noise``), renormalised. The noise stays in the
subspace the real embeddings occupy, but it fills all of it, so neighbourhoods have a higher
intrinsic dimension than real topical clusters: graph and quantisation indexes likely find these
vectors harder than real ones. Queries (``--query-sets``) are MS MARCO dev-small web queries (out
of the documents' domain: their nearest document is far, with near ties) and the scifact test
queries (in domain), both encoded by MiniLM.

Real vectors (``--real-encoded DIR``): the dense shards ``tandem encode --dense minilm-l6 --out DIR --shard i/n``
wrote (the finished shards from corpus row 0 on, so a partly encoded corpus gives its largest prefix),
e.g. pkgsum (real short package summaries; issue 11 §3 measured on real document vectors):

    TANDEM_DATA_DIR=/work/shared/data .venv/bin/python bench/bench_dense.py --real-encoded DIR --sizes 100000,all --hnsw-variants 32:200:fp32,32:800

The last ``--heldout`` (500) encoded documents are in no index and serve as in-domain queries: their
vectors (``heldout-docs``, queries drawn from the data's own distribution, as ann-benchmarks does) and
their titles encoded as queries (``heldout-names``: package names, short registry-search-like queries).
pkgsum has no relevance judgements, so only recall against flat is measured. ``--hnsw-variants`` adds
graphs with other M / efConstruction / vector storage beside the product's defaults (build time and bytes/vector recorded).

Each index is built and written by the product code (:func:`tandem.index.dense.write_dense_index`, all
cores) and searched through :class:`tandem.index.dense.DenseIndex` one query at a time on one thread
after a warm-up; recall@10 is against the exact (flat) top 10 of the same vectors. The JSON keeps
one entry per size and noise, with the load average, threads, commit and library versions.
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench import run_env  # noqa: E402
from tandem.index.dense import FILENAME, DenseIndex, FaissConfig, load_faiss, searchable_hnsw, write_dense_index  # noqa: E402
from tandem.index.threads import set_search_threads  # noqa: E402

K = 10
MODEL = "minilm-l6"


QUERY_SETS = ("msmarco-dev", "scifact-test")


def _encoder():
    from tandem.retrieval.encoders import dense_encoder

    return dense_encoder({"model": MODEL, "max_length": 256, "batch_size": 32})


def encoded_docs(cache_dir: Path) -> np.ndarray:
    """The scifact documents encoded by MiniLM (cached)."""
    path = cache_dir / "scifact-minilm-l6.npy"
    if not path.exists():
        from tandem.index.corpus import read_corpus
        from tandem.retrieval.datasets import resolve_dataset

        docs = read_corpus(resolve_dataset("scifact").corpus)
        cache_dir.mkdir(parents=True, exist_ok=True)
        np.save(path, _encoder().encode_documents([d.contents for d in docs], show_progress=True))
    return np.load(path)


def encoded_queries(cache_dir: Path, query_set: str, num: int) -> np.ndarray:
    """The first ``num`` queries of a set encoded by MiniLM (cached): MS MARCO dev-small (web queries, out of
    the documents' domain) or the scifact test queries (in domain; there are 300)."""
    path = cache_dir / f"{query_set}-{num}-minilm-l6.npy"
    if not path.exists():
        from tandem.retrieval.datasets import read_qrels, read_queries, resolve_dataset

        if query_set == "msmarco-dev":
            data_dir = Path(os.environ.get("TANDEM_DATA_DIR", "../shared/data"))
            queries = read_queries(data_dir / "msmarco" / "topics-qrels" / "topics.msmarco-passage.dev-subset.txt")
        else:
            paths = resolve_dataset("scifact")
            queries = read_queries(paths.queries, set(read_qrels(paths.qrels("test"))))
        cache_dir.mkdir(parents=True, exist_ok=True)
        np.save(path, _encoder().encode_queries([q.text for q in queries[:num]]))
    return np.load(path)


def synthetic_vectors(base: np.ndarray, num: int, noise: float, seed: int = 0) -> np.ndarray:
    """``num`` unit vectors: a random row of ``base`` plus ``noise`` x Gaussian noise with the covariance of ``base``, renormalised."""
    rng = np.random.default_rng(seed)
    dim = base.shape[1]
    centred = base - base.mean(axis=0)
    factor = np.linalg.cholesky(centred.T @ centred / (len(base) - 1) + 1e-8 * np.eye(dim)).astype(np.float32)
    out = np.empty((num, dim), dtype=np.float32)
    for start in range(0, num, 100_000):
        size = min(100_000, num - start)
        chunk = base[rng.integers(0, len(base), size)] + noise * (rng.standard_normal((size, dim), dtype=np.float32) @ factor.T)
        out[start : start + size] = chunk / np.linalg.norm(chunk, axis=1, keepdims=True)
    return out


def neighbourhood_stats(base: np.ndarray, noise: float) -> dict:
    """How close synthetic copies sit to their source, against how close real documents sit to their nearest neighbour."""
    sims = base @ base.T
    np.fill_diagonal(sims, -1)
    copies = synthetic_vectors(base, len(base), noise, seed=1)
    rng = np.random.default_rng(1)  # the same picks synthetic_vectors(seed=1) made
    sources = base[rng.integers(0, len(base), len(base))]
    return {"real_nearest_neighbour_cos_median": round(float(np.median(sims.max(axis=1))), 4),
            "copy_to_source_cos_median": round(float(np.median(np.sum(copies * sources, axis=1))), 4)}


def latencies(index: DenseIndex, queries: np.ndarray) -> tuple[np.ndarray, dict]:
    """Top-10 rows of each query (one query per call, on one thread, after a warm-up) and p50/p99 ms, wall-clock
    and the calling thread's CPU time (the search runs on it; CPU time leaves out waiting for a core on a busy machine)."""
    set_search_threads(1)
    for q in queries[:10]:
        index.search(q[None], K)
    rows, times, cpu = np.empty((len(queries), K), dtype=np.int64), [], []
    for i, q in enumerate(queries):
        t0, c0 = time.perf_counter(), time.thread_time()
        rows[i] = index.search(q[None], K)[0][0]
        cpu.append((time.thread_time() - c0) * 1000)
        times.append((time.perf_counter() - t0) * 1000)
    set_search_threads(None)
    return rows, {"p50_ms": round(float(np.percentile(times, 50)), 3), "p99_ms": round(float(np.percentile(times, 99)), 3), "timed_queries": len(times),
                  "cpu_p50_ms": round(float(np.percentile(cpu, 50)), 3), "cpu_p99_ms": round(float(np.percentile(cpu, 99)), 3)}


def recall_at_k(found: np.ndarray, exact: np.ndarray) -> float:
    return round(float(np.mean([len(set(f) & set(e)) / K for f, e in zip(found, exact)])), 4)


def _built_as_asked(recorded: dict, config: FaissConfig, num: int, dim: int) -> bool:
    """Whether an index an earlier run kept was built with ``config``'s settings."""
    asked = config.resolved(num, dim)
    fields = {"type"} | {"hnsw": {"hnsw_m", "ef_construction", "hnsw_storage", "hnsw_rerank"}, "ivfpq": {"nlist", "pq_m", "pq_nbits"}}.get(asked.type, set())
    return FaissConfig.recorded(recorded).resolved(num, dim).model_dump(include=fields) == asked.model_dump(include=fields)


def _from_kept_graph(work: Path, vectors: np.ndarray, config: FaissConfig, keep: bool, folder: Path) -> dict | None:
    """An sq8 HNSW index made from the fp16 graph of the same M and efConstruction that an earlier
    ``--keep-indexes`` run left (its build is the first step of building sq8: see
    :func:`tandem.index.dense.searchable_hnsw`), or None when there is none."""
    if not keep or config.type != "hnsw" or config.hnsw_storage != "sq8":
        return None
    graph_config = config.model_copy(update={"hnsw_storage": "fp16", "hnsw_rerank": "none"})
    source = work / hnsw_label(graph_config)
    record = source / "bench-summary.json"
    earlier = json.loads(record.read_text()) if record.exists() else None
    if earlier is None or not _built_as_asked(earlier["config"], graph_config, *vectors.shape):
        return None
    faiss = load_faiss()
    resolved = config.resolved(*vectors.shape).model_copy(update={"build_threads": earlier["config"].get("build_threads")})
    started = time.perf_counter()
    index = searchable_hnsw(faiss.read_index(str(source / FILENAME)), np.ascontiguousarray(vectors, dtype=np.float32), resolved)
    seconds = time.perf_counter() - started
    shutil.rmtree(folder, ignore_errors=True)
    folder.mkdir(parents=True)
    faiss.write_index(index, str(folder / FILENAME))
    summary = {"config": resolved.model_dump(), "build_seconds": round(earlier["build_seconds"] + seconds, 1),
               "bytes_per_vector": round((folder / FILENAME).stat().st_size / len(vectors), 1),
               "graph_from": f"{source.name} (built in {earlier['build_seconds']:.1f} s; sq8 codes and the {resolved.hnsw_rerank} rerank added in {seconds:.1f} s)"}
    (folder / "bench-summary.json").write_text(json.dumps(summary))
    print(f"  {folder.name}: {summary['graph_from']}, {summary['bytes_per_vector']} bytes/vector", flush=True)
    return summary


def built(work: Path, vectors: np.ndarray, config: FaissConfig, keep: bool, label: str | None = None) -> tuple[DenseIndex, dict]:
    """An index of ``vectors`` built and written by the product code (or the one a previous ``--keep-indexes`` run left),
    in ``work/<label>`` (default: the index type)."""
    label = label or config.type
    folder = work / label
    record = folder / "bench-summary.json"
    earlier = json.loads(record.read_text()) if keep and record.exists() else None
    if earlier and not _built_as_asked(earlier["config"], config, *vectors.shape):
        print(f"  {label}: the index kept there was built with other settings: building again", flush=True)
        earlier = None
    if earlier:
        summary = {**earlier, "built_in_an_earlier_run": True}  # build_seconds were measured then
        print(f"  {label}: reusing the index built in {summary['build_seconds']:.1f} s", flush=True)
    elif (derived := _from_kept_graph(work, vectors, config, keep, folder)) is not None:
        summary = derived
    else:
        shutil.rmtree(folder, ignore_errors=True)
        written = write_dense_index(folder, vectors, config)
        summary = {"config": written["faiss"], "build_seconds": written["faiss_build_seconds"],
                   "bytes_per_vector": round((folder / "faiss.index").stat().st_size / len(vectors), 1)}
        record.write_text(json.dumps(summary))
        print(f"  {label}: built in {summary['build_seconds']:.1f} s, {summary['bytes_per_vector']} bytes/vector", flush=True)
    return DenseIndex(folder, FaissConfig(**summary["config"])), summary


def sweep(index: DenseIndex, name: str, values: list[int], queries: dict[str, np.ndarray], exact: dict[str, np.ndarray]) -> dict[str, list[dict]]:
    """Per query set, p50/p99 and recall@10 at each value of the search parameter ``name``."""
    out = {}
    for set_name, vectors in queries.items():
        out[set_name] = []
        for value in values:
            index.configure(**{name: value})
            rows, timing = latencies(index, vectors)
            out[set_name].append({name: value, **timing, "recall_at_10": recall_at_k(rows, exact[set_name])})
            print(f"  {index.type:6s} {set_name:13s} {name}={value:<5d} p50 {timing['p50_ms']:8.3f} ms  p99 {timing['p99_ms']:8.3f} ms"
                  f"  cpu p50 {timing['cpu_p50_ms']:8.3f} ms  recall@10 {out[set_name][-1]['recall_at_10']:.4f}", flush=True)
    return out


def hnsw_label(config: FaissConfig) -> str:
    """``hnsw`` for the product's defaults (:class:`FaissConfig`), ``hnsw-M<m>-efc<ef>[-<storage>]`` for any other graph."""
    default = FaissConfig(type="hnsw")
    same = (config.hnsw_m, config.ef_construction, config.hnsw_storage) == (default.hnsw_m, default.ef_construction, default.hnsw_storage)
    storage = "" if config.hnsw_storage == default.hnsw_storage else f"-{config.hnsw_storage}"
    return "hnsw" if same else f"hnsw-M{config.hnsw_m}-efc{config.ef_construction}{storage}"


def hnsw_graphs(variants: str, with_default: bool = True) -> list[FaissConfig]:
    """The default HNSW graph (unless ``with_default`` is False) and the ``--hnsw-variants`` ones
    (``M:efConstruction[:storage]``, comma-separated)."""
    default = FaissConfig(type="hnsw")
    configs = [default] if with_default else []
    for item in filter(None, variants.split(",")):
        m, efc, storage = (item.split(":") + ["", ""])[:3]
        configs.append(FaissConfig(type="hnsw", hnsw_m=int(m), ef_construction=int(efc or default.ef_construction), hnsw_storage=storage or default.hnsw_storage))
    return configs


def measure_size(work: Path, vectors: np.ndarray, queries: dict[str, np.ndarray], args,
                 hnsw_configs: list[FaissConfig] | None = None) -> dict:
    """Flat (the exact top 10 and its latency), HNSW (``hnsw_configs``; default M=32, efConstruction 200) and
    IVF-PQ over ``vectors``, for every query set; the goal is judged for each HNSW graph."""
    hnsw_configs = hnsw_configs or [FaissConfig(type="hnsw", hnsw_m=32, ef_construction=200)]
    indexes, results = {}, {name: {} for name in queries}
    index, indexes["flat"] = built(work, vectors, FaissConfig(type="flat"), args.keep_indexes)
    exact = {}
    for name, q in queries.items():
        exact[name], scores = index.search(q, K)  # one multi-threaded batch
        results[name]["cos_to_nearest_doc_median"] = round(float(np.median(scores[:, 0])), 4)
        results[name]["cos_to_10th_doc_median"] = round(float(np.median(scores[:, K - 1])), 4)
        timed = q if len(vectors) <= 200_000 else q[: args.flat_timed_queries]  # each query scans everything
        results[name]["flat"] = latencies(index, timed)[1]
        print(f"  flat   {name:13s}            p50 {results[name]['flat']['p50_ms']:8.3f} ms  p99 {results[name]['flat']['p99_ms']:8.3f} ms  cpu p50 {results[name]['flat']['cpu_p50_ms']:8.3f} ms", flush=True)
    del index
    graphs = [(hnsw_label(config), config, "ef_search", args.ef_search) for config in hnsw_configs]
    runs = graphs if args.only_variants else graphs + [("ivfpq", FaissConfig(type="ivfpq"), "nprobe", args.nprobe)]
    for kind, config, parameter, values in runs:
        index, indexes[kind] = built(work, vectors, config, args.keep_indexes, kind)
        for name, points in sweep(index, parameter, [int(v) for v in values.split(",")], queries, exact).items():
            results[name][kind] = points
        del index
    for name in queries:
        for kind, *_ in graphs:
            suffix = "" if kind == "hnsw" else f"_{kind}"
            results[name][f"goal_hnsw_recall_0.99_at_5pct_flat_p50{suffix}"] = goal(results[name], kind)
    return {"indexes": indexes, "queries": results}


def flat_sweep(work: Path, vectors: np.ndarray, queries: np.ndarray, sizes: list[int]) -> list[dict]:
    """Flat p50/p99 at growing N (prefixes of ``vectors``): where exact search stops costing a few ms."""
    out = []
    for n in sizes:
        folder = work / f"flat-{n}"
        write_dense_index(folder, vectors[:n], FaissConfig(type="flat"))
        _, timing = latencies(DenseIndex(folder), queries[:200])
        shutil.rmtree(folder, ignore_errors=True)
        out.append({"num_vectors": n, **timing})
        print(f"  flat sweep N={n:,}: p50 {timing['p50_ms']} ms, p99 {timing['p99_ms']} ms", flush=True)
    return out


def goal(result: dict, kind: str = "hnsw") -> dict:
    """'Dense HNSW: recall@10 >= 0.99 at p50 <= 5% of flat': the fastest setting of the graph ``kind`` that meets both, if any,
    judged on wall-clock p50 and (when measured) on CPU-time p50."""
    flat_p50 = result["flat"]["p50_ms"]
    passing = [p for p in result[kind] if p["recall_at_10"] >= 0.99 and p["p50_ms"] <= 0.05 * flat_p50]
    best = min(passing, key=lambda p: p["p50_ms"]) if passing else None
    default = next((p for p in result[kind] if p.get("ef_search") == FaissConfig().ef_search), None)
    out = {"met": best is not None, "flat_p50_ms": flat_p50, "limit_p50_ms": round(0.05 * flat_p50, 3), "best": best,
           "at_default_ef_search": default}
    if "cpu_p50_ms" in result["flat"]:
        flat_cpu = result["flat"]["cpu_p50_ms"]
        passing = [p for p in result[kind] if p["recall_at_10"] >= 0.99 and p["cpu_p50_ms"] <= 0.05 * flat_cpu]
        best = min(passing, key=lambda p: p["cpu_p50_ms"]) if passing else None
        out["cpu_time"] = {"met": best is not None, "flat_cpu_p50_ms": flat_cpu, "limit_cpu_p50_ms": round(0.05 * flat_cpu, 3), "best": best}
    return out


# -- real vectors: `tandem encode` dense shards -----------------------------------------------------
REAL_QUERY_SETS = ("msmarco-dev", "heldout-docs", "heldout-names")


def encoded_prefix(folder: Path) -> tuple[np.ndarray, list, list[Path]]:
    """The dense vectors of the `tandem encode --out` shards in ``folder`` that cover corpus rows 0..n-1
    without a gap (a shard still being encoded, or not encoded, ends the prefix), with their manifests and
    folders; the shards must be of one split of one corpus by one dense encoder."""
    from tandem.retrieval.encode import DENSE_FILE, SETTINGS_FREE_TO_DIFFER, SHARD_FILE, ShardManifest

    shards = sorted(((ShardManifest.model_validate_json((f / SHARD_FILE).read_text()), f) for f in folder.glob("shard-*-of-*")
                     if (f / SHARD_FILE).is_file()), key=lambda item: item[0].start)
    if not shards or shards[0][0].start != 0:
        raise SystemExit(f"{folder}: no encoded shard starting at corpus row 0")
    first = shards[0][0]
    if "dense" not in first.encoders:
        raise SystemExit(f"{shards[0][1]}: no dense vectors (encoded with --dense none)")
    settings = {k: v for k, v in first.encoders["dense"].items() if k not in SETTINGS_FREE_TO_DIFFER}
    prefix: list = []
    for manifest, path in shards:
        if manifest.start != (prefix[-1][0].end if prefix else 0):
            break
        same = {k: v for k, v in manifest.encoders.get("dense", {}).items() if k not in SETTINGS_FREE_TO_DIFFER} == settings
        if manifest.num_shards != first.num_shards or manifest.corpus.sha256 != first.corpus.sha256 or not same:
            raise SystemExit(f"{path}: another split, corpus or dense encoder than {shards[0][1]}")
        prefix.append((manifest, path))
    vectors = np.concatenate([np.load(path / manifest.files.get("dense", DENSE_FILE)) for manifest, path in prefix])
    if vectors.dtype != np.float32 or len(vectors) != prefix[-1][0].end:
        raise SystemExit(f"{folder}: dense.npy files hold {vectors.dtype} {vectors.shape}, the manifests say {prefix[-1][0].end} rows")
    return vectors, [m for m, _ in prefix], [f for _, f in prefix]


def heldout_names(manifests: list, folders: list[Path], rows: range) -> list[str]:
    """Titles (package names) of the corpus documents at ``rows`` (all in the last shard), read with the shards'
    corpus options and checked against that shard's ids."""
    from tandem.index.corpus import iter_corpus

    last = manifests[-1]
    if rows.start < last.start:
        raise SystemExit(f"--heldout: {len(rows)} rows reach before the last shard ({folders[-1]})")
    ids = (folders[-1] / last.files["ids"]).read_text(encoding="utf-8").split("\n")
    names = []
    for row, doc in enumerate(iter_corpus(Path(last.corpus.source), last.corpus.options)):
        if row >= rows.stop:
            break
        if row >= rows.start:
            if ids[row - last.start] != doc.doc_id:
                raise SystemExit(f"{last.corpus.source}: row {row} is {doc.doc_id!r}, the shard has {ids[row - last.start]!r}")
            names.append(doc.title or doc.text)
    return names


def real_main(args, parser) -> None:
    """Flat / HNSW / IVF-PQ over prefixes of real encoded document vectors (see the module docstring)."""
    vectors, manifests, folders = encoded_prefix(args.real_encoded)
    total = len(vectors)
    if not 1 <= args.heldout < total:
        parser.error(f"--heldout must be between 1 and {total - 1}")
    held = range(total - args.heldout, total)
    queries = {}
    for item in args.query_sets.split(","):
        name, _, count = item.partition(":")
        if name not in REAL_QUERY_SETS:
            parser.error(f"--query-sets: unknown set {name!r} with --real-encoded (choose {', '.join(REAL_QUERY_SETS)})")
        if name == "msmarco-dev":
            queries[name] = encoded_queries(args.cache_dir, name, int(count or 500))
        elif name == "heldout-docs":
            queries[name] = vectors[held.start : held.start + int(count or args.heldout)]
        else:
            queries[name] = _encoder().encode_queries(heldout_names(manifests, folders, held)[: int(count or args.heldout)])
    indexed = held.start
    sizes = [indexed if n == "all" else int(n) for n in args.sizes.split(",")]
    if max(sizes) > indexed:
        parser.error(f"--sizes: {max(sizes):,} > the {indexed:,} encoded documents before the {args.heldout} held-out ones")
    dense = manifests[0].encoders["dense"]
    corpus_name = Path(manifests[0].corpus.source).parent.name
    encoding = {"corpus": manifests[0].corpus.source, "corpus_docs": manifests[0].corpus.num_docs, "encoded_rows": total,
                "shards": f"{len(manifests)} of {manifests[0].num_shards}", "model": dense["model"], "precision": dense.get("precision"),
                "max_length": dense.get("max_length"), "threads": sorted({m.threads for m in manifests}),
                "docs_per_s_per_shard": [m.docs_per_second.get("dense") for m in manifests],
                "docs_per_s_overall": round(total / sum(m.seconds.get("dense", 0) for m in manifests), 1)}
    query_info = {"msmarco-dev": "MS MARCO dev-small topics (the first ones), encoded by minilm-l6 fp32: web queries, out of the documents' domain",
                  "heldout-docs": f"the last {args.heldout} encoded documents (corpus rows {held.start:,}..{held.stop - 1:,}), in no index: "
                                  "in-distribution queries as ann-benchmarks draws them (a random sample: the corpus is in random order)",
                  "heldout-names": "the package names (titles) of the same held-out documents, encoded as queries: short registry-search-like queries"}
    hnsw_configs = hnsw_graphs(args.hnsw_variants, not args.only_variants)
    report = json.loads(args.out.read_text()) if args.out.exists() else {}
    report.setdefault("sizes", {})
    for num in sizes:
        print(f"real {corpus_name} N = {num:,}", flush=True)
        work = args.work_dir / f"real-{corpus_name}-{num}"
        entry = {"meta": run_meta(), "num_vectors": num,
                 "data": {"vectors": f"real: the first {num:,} {corpus_name} documents encoded by `tandem encode` ({dense['model']})",
                          "encoding": encoding, "queries": {name: {"count": len(q), "what": query_info[name]} for name, q in queries.items()}}}
        entry.update(measure_size(work, vectors[:num], queries, args, hnsw_configs))
        report = json.loads(args.out.read_text()) if args.out.exists() else report  # entries another run wrote meanwhile are kept
        save_entry(args, report, f"real:{corpus_name},N={num}{args.entry_suffix}", entry, work, f"real N = {num:,}")


def run_meta() -> dict:
    from tandem.index.dense import load_faiss
    from tandem.index.threads import available_cores

    faiss = load_faiss()
    return {"commit": run_env.commit(), "dense_code_changed_since_commit": run_env.files_dirty(["index/dense.py", "bench/bench_dense.py"]), "faiss": faiss.__version__, "numpy": np.__version__,
            "python": platform.python_version(), "platform": platform.platform(), "cores": available_cores(), "build_threads": available_cores(),
            "search_threads": 1, "omp_wait_policy": os.environ.get("OMP_WAIT_POLICY"), "load_average_start": [round(x, 2) for x in os.getloadavg()],
            "started": time.strftime("%Y-%m-%dT%H:%M:%S%z")}


def save_entry(args, report: dict, key: str, entry: dict, work: Path, label: str) -> None:
    """Stamp the entry's end load, write ``report`` with it under ``key``, print its goals, and drop the size's
    indexes unless ``--keep-indexes`` (the end of every size, real or synthetic)."""
    entry["meta"]["load_average_end"] = [round(x, 2) for x in os.getloadavg()]
    report.setdefault("sizes", {})[key] = entry
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(report, indent=2) + "\n")
    print_goals(label, entry)
    print(f"wrote {args.out}", flush=True)
    if not args.keep_indexes:
        shutil.rmtree(work, ignore_errors=True)


def print_goals(label: str, entry: dict) -> None:
    """One line per query set and HNSW graph measured: the goal's verdict (the default graph's key has no graph
    suffix; ``--only-variants`` runs have only the variants' keys)."""
    for name, result in entry["queries"].items():
        for key, value in result.items():
            if key.startswith("goal_"):
                print(f"{label}, {name}, {key}: {value}", flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", default="100000", help="comma-separated numbers of synthetic vectors (with --real-encoded: "
                        "prefixes of the encoded documents; 'all' = every encoded one before the held-out queries)")
    parser.add_argument("--real-encoded", type=Path, help="a `tandem encode --dense ... --out` folder: measure its real document vectors "
                        "(the contiguous prefix of finished shards) instead of synthetic ones")
    parser.add_argument("--heldout", type=int, default=500, help="--real-encoded: the last this many encoded documents are held out of "
                        "every index as the heldout-docs / heldout-names queries")
    parser.add_argument("--hnsw-variants", default="", help="extra HNSW graphs measured beside the default (M=32, efConstruction 200), "
                        "as M:efConstruction[:storage], e.g. 48:200,32:400,32:400:fp16 (storage fp32, fp16 or bf16)")
    parser.add_argument("--query-sets", help=f"query sets and how many of their first queries: {', '.join(QUERY_SETS)} (MS MARCO: out of the documents' "
                        "domain; scifact test: in it; default msmarco-dev:500,scifact-test:300); with --real-encoded: "
                        f"{', '.join(REAL_QUERY_SETS)} (default: all three, 500 each)")
    parser.add_argument("--noise", type=float, default=0.8,
                        help="noise scale, in units of the real vectors' covariance (0.8: a copy sits at cos ~0.81 from its source, "
                             "two copies of one source at ~0.65, near the real documents' median nearest-neighbour cos of 0.68)")
    parser.add_argument("--ef-search", default="16,32,64,128,256,512,1024", help="HNSW efSearch values measured")
    parser.add_argument("--nprobe", default="8,16,32,64", help="IVF-PQ nprobe values measured")
    parser.add_argument("--flat-timed-queries", type=int, default=100, help="flat: queries timed above 200k vectors (each scans everything)")
    parser.add_argument("--flat-sweep", default="10000,20000,30000,50000,100000", help="flat-only sizes for the auto threshold ('' to skip)")
    parser.add_argument("--cache-dir", type=Path, default=Path("/tmp/tandem-bench-dense"), help="encoded vectors")
    parser.add_argument("--work-dir", type=Path, default=Path("/var/tmp/tandem-bench-dense-work"), help="the indexes being measured")
    parser.add_argument("--only-variants", action="store_true", help="measure flat and the --hnsw-variants graphs only "
                        "(not the default graph nor IVF-PQ): a run for one more graph on a large corpus")
    parser.add_argument("--entry-suffix", default="", help="appended to the results entry's key (e.g. ',host=xeon'), so that a run "
                        "on another machine or with other graphs keeps the existing entry of the same size")
    parser.add_argument("--keep-indexes", action="store_true", help="keep the indexes in --work-dir and reuse them in the next run (same sizes and noise)")
    parser.add_argument("--out", type=Path, default=Path("bench/results/dense.json"), help="results JSON (entries for other sizes/noise already in it are kept)")
    args = parser.parse_args()
    if args.only_variants and not args.hnsw_variants:
        parser.error("--only-variants measures the --hnsw-variants graphs: name at least one")

    load_faiss()  # before torch (if the vectors need encoding): FAISS's OpenMP threads then wait passively
    if args.real_encoded:
        args.query_sets = args.query_sets or "msmarco-dev:500,heldout-docs,heldout-names"
        return real_main(args, parser)
    args.query_sets = args.query_sets or "msmarco-dev:500,scifact-test:300"
    base = encoded_docs(args.cache_dir)
    queries = {}
    for item in args.query_sets.split(","):
        name, _, count = item.partition(":")
        if name not in QUERY_SETS:
            parser.error(f"--query-sets: unknown set {name!r} (choose {', '.join(QUERY_SETS)})")
        queries[name] = encoded_queries(args.cache_dir, name, int(count or 300))
    report = json.loads(args.out.read_text()) if args.out.exists() else {}
    report.setdefault("sizes", {})
    report["data"] = {"base": f"scifact corpus ({len(base):,} docs) encoded by {MODEL}",
                      "queries": {name: {"count": len(q), "cos_to_nearest_base_doc_median": round(float(np.median((q @ base.T).max(axis=1))), 4),
                                         "cos_to_10th_base_doc_median": round(float(np.median(np.sort(q @ base.T, axis=1)[:, -K])), 4)}
                                  for name, q in queries.items()}}
    setting = {"noise": args.noise, **neighbourhood_stats(base, args.noise)}
    print(f"base {base.shape}, {report['data']['queries']}, {setting}", flush=True)
    if args.flat_sweep:
        sizes = [int(n) for n in args.flat_sweep.split(",")]
        sweep_vectors = synthetic_vectors(base, max(sizes), args.noise, seed=2)
        first = next(iter(queries))
        report["flat_sweep"] = {"meta": run_meta(), "noise": args.noise, "queries": first,
                                "points": flat_sweep(args.work_dir / "sweep", sweep_vectors, queries[first], sizes)}
        del sweep_vectors
    for num in [int(n) for n in args.sizes.split(",")]:
        print(f"N = {num:,}", flush=True)
        work = args.work_dir / f"{num}-noise{args.noise}"
        entry = {"meta": run_meta(), "num_vectors": num, "data": setting}
        entry.update(measure_size(work, synthetic_vectors(base, num, args.noise), queries, args, hnsw_graphs(args.hnsw_variants, not args.only_variants)))
        save_entry(args, report, f"N={num},noise={args.noise}{args.entry_suffix}", entry, work, f"N = {num:,}")


if __name__ == "__main__":
    main()
