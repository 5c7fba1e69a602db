"""Live-index measurements for the closing note of issue 10 (not part of the test suite).

    TANDEM_DATA_DIR=/work/shared/data .venv/bin/python bench/bench_live.py --out bench/results/live.json

On scifact, inference-free sparse only (no dense component, to keep it fast):

1. IDF policy: nDCG@10 / R@100 on the test split of (a) an index built from the first half of
   corpus.jsonl with the second half added by ``IndexWriter.add`` (IDF frozen at creation),
   (b) the same after ``compact`` (IDF recomputed over the live documents), (c) a fresh build of
   the whole corpus.
2. Add throughput excluding encoding: ``ChangeReport.seconds - encode_seconds`` per batch, for
   batches of 100 and 1000 new documents, 1000 replacements, and the 19 batches of (3).
3. Search latency (single query, k=10, sparse) over 200 test queries with 20 segments (built from
   1/20 of the corpus, 19 batches added with ``merge=False``), with the segments the merge policy
   leaves after the same 19 adds, and with 1 segment (the 20-segment index compacted), measured
   interleaved query by query so that all see the same machine load: with the same query vectors
   (the compaction also recomputed the IDF table) and end to end through ``Searcher.search``.

Each document is encoded once (the whole corpus, cached under --work): the writer's and the
builds' ``DocEncoders.encode`` is served from that encoding. Encoding is excluded from every
measured number anyway, and the vectors are those a real encoding gives.
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import subprocess
import tempfile
import time
from importlib import metadata
from pathlib import Path

import numpy as np

from tandem.eval.metrics import evaluate
from tandem.index.corpus import Document, file_sha256, read_corpus
from tandem.index.manifest import TANDEM_VERSION
from tandem.retrieval.backends import EncodedDocs
from tandem.retrieval.build import BuildConfig, build_index, initial_components
from tandem.retrieval.datasets import load_split
from tandem.retrieval.searcher import Searcher
from tandem.retrieval.writer import DocEncoders, IndexWriter
from tandem.tables import format_table

METRICS = ("nDCG@10", "R@100")
REPO = Path(__file__).resolve().parents[1]


def environment() -> dict:
    import torch

    try:
        commit = subprocess.run(["git", "rev-parse", "HEAD"], cwd=REPO, capture_output=True, text=True, check=True).stdout.strip()
        dirty = bool(subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"], cwd=REPO, capture_output=True, text=True).stdout.strip())
    except (OSError, subprocess.CalledProcessError):
        commit, dirty = None, None
    libraries = {}
    for name in ("numpy", "scipy", "torch", "transformers", "tokenizers", "numba"):
        try:
            libraries[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            libraries[name] = None
    return {"tandem": TANDEM_VERSION, "git_commit": commit, "git_dirty": dirty, "python": platform.python_version(), "platform": platform.platform(),
            "cpu_count": os.cpu_count(), "torch_threads": torch.get_num_threads(), "load_average_start": list(os.getloadavg()), "libraries": libraries}


# -- one encoding of the corpus for every run ---------------------------------------------------------
def serve_encodings_from(full: EncodedDocs) -> None:
    """Make ``DocEncoders.encode`` slice rows of ``full`` (documents looked up by id, text checked)."""
    rows = {d.doc_id: i for i, d in enumerate(full.docs)}

    def encode(self, docs, cache_dir=None, chunk_size=2048, show_progress=True) -> EncodedDocs:
        picked = [rows[d.doc_id] for d in docs]
        assert all(full.docs[r].contents == d.contents for r, d in zip(picked, docs)), "a document's text differs from the encoded corpus"
        keys = set(self.needs())
        return EncodedDocs(list(docs), sparse={k: m[picked] for k, m in full.sparse.items() if k in keys},
                           dense={k: m[picked] for k, m in full.dense.items() if k in keys}, tokenizers=dict(full.tokenizers))

    DocEncoders.encode = encode


def encode_corpus(config: BuildConfig, docs: list[Document], cache: Path) -> EncodedDocs:
    cache.mkdir(parents=True, exist_ok=True)
    t0 = time.perf_counter()
    encoded = DocEncoders(initial_components(config)).encode(docs, cache_dir=cache, chunk_size=512)
    print(f"encoded {len(docs):,} documents in {time.perf_counter() - t0:,.0f} s (cached in {cache})")
    return encoded


# -- measurements -----------------------------------------------------------------------------------
def quality(index: Path, split) -> tuple[dict[str, float], dict[str, list[str]]]:
    searcher = Searcher.open(index)
    try:
        rankings = searcher.retrieve("sparse", [q.text for q in split.queries], 100)
    finally:
        searcher.close()
    run = {q.query_id: ranking for q, ranking in zip(split.queries, rankings)}
    result = evaluate(run, split.qrels, METRICS)
    return {m: round(result.mean[m], 4) for m in METRICS}, {q: list(r)[:10] for q, r in run.items()}


def write_corpus(path: Path, docs: list[Document]) -> Path:
    path.write_text("".join(json.dumps({"_id": d.doc_id, "title": d.title, "text": d.text}) + "\n" for d in docs), encoding="utf-8")
    return path


def fresh(path: Path) -> Path:
    shutil.rmtree(path, ignore_errors=True)
    return path


def add_timed(writer: IndexWriter, docs: list[Document], kind: str, series: str, merge: bool = False) -> dict:
    """One add; ``kind`` is "new" or "replacing" (ids already in the index). The merge policy runs only
    with ``merge``; its time is ``merge_seconds``, apart from the add's."""
    report = writer.add(docs, merge=merge)
    seconds = report.seconds - report.encode_seconds
    return {"kind": kind, "series": series, "docs": len(docs), "seconds_excluding_encoding": round(seconds, 3), "encode_seconds": report.encode_seconds,
            "docs_per_second": round(len(docs) / seconds, 1), "segments_after": report.num_segments,
            **({"merged_segments": report.merged_segments, "merge_seconds": report.merge_seconds} if merge else {})}


def idf_policy(config: BuildConfig, docs: list[Document], split, work: Path) -> tuple[dict, list[dict]]:
    half = len(docs) // 2
    live = fresh(work / "idf-half-then-add")
    build_index(config, live, write_corpus(work / "first-half.jsonl", docs[:half]), log=lambda _: None, show_progress=False)
    throughput = [add_timed(IndexWriter(live, show_progress=False), docs[half:], "new", "IDF experiment: the second half")]
    frozen, frozen_top = quality(live, split)
    IndexWriter(live, show_progress=False).compact()
    compacted, compacted_top = quality(live, split)
    whole = fresh(work / "idf-fresh")
    build_index(config, whole, split.corpus_path, log=lambda _: None, show_progress=False)
    fresh_scores, fresh_top = quality(whole, split)
    differ = lambda a: sum(a[q] != fresh_top[q] for q in fresh_top)  # noqa: E731
    result = {
        "docs_at_build": half, "docs_added": len(docs) - half, "queries": len(split.queries),
        "a_half_built_half_added_frozen_idf": frozen, "b_after_compact": compacted, "c_fresh_build": fresh_scores,
        "queries_with_a_different_top10_than_fresh": {"a": differ(frozen_top), "b": differ(compacted_top)},
    }
    return result, throughput


def throughput_batches(config: BuildConfig, docs: list[Document], work: Path) -> list[dict]:
    root = fresh(work / "throughput")
    build_index(config, root, write_corpus(work / "first-2000.jsonl", docs[:2000]), log=lambda _: None, show_progress=False)
    writer = IndexWriter(root, show_progress=False)
    series = "index of 2,000 documents"
    out = [add_timed(writer, docs[start : start + 100], "new", series) for start in (2000, 2100, 2200)]
    out += [add_timed(writer, docs[start : start + 1000], "new", series) for start in (2300, 3300)]
    out.append(add_timed(writer, docs[:1000], "replacing", series))
    return out


def segments_latency(config: BuildConfig, docs: list[Document], split, work: Path, num_queries: int, k: int) -> tuple[dict, list[dict]]:
    root, policy_root = fresh(work / "twenty-segments"), fresh(work / "merge-policy-series")
    bounds = np.linspace(0, len(docs), 21).astype(int)
    first = write_corpus(work / "first-twentieth.jsonl", docs[: bounds[1]])
    for folder in (root, policy_root):
        build_index(config, folder, first, log=lambda _: None, show_progress=False)
    writer, merging = IndexWriter(root, show_progress=False), IndexWriter(policy_root, show_progress=False)
    adds = [add_timed(writer, docs[bounds[i] : bounds[i + 1]], "new", "20-segment series") for i in range(1, 20)]
    adds += [add_timed(merging, docs[bounds[i] : bounds[i + 1]], "new", "the same series with the merge policy", merge=True) for i in range(1, 20)]
    many = Searcher.open(root)  # holds the 20-segment commit while the index is compacted under it
    policy = Searcher.open(policy_root)
    writer.compact()
    one = Searcher.open(root)
    texts = [q.text for q in split.queries][:num_queries]
    # The 20-segment commit and the merge-policy series still have the IDF table of their first twentieth
    # (frozen), the compacted one that of the whole corpus: the same query vectors (the compacted index's)
    # isolate the segment count.
    vectors = one.retriever("sparse").encode(texts)
    searchers = {"20 segments": many, f"{len(policy.manifest.segments)} segments (merge policy)": policy, "1 segment": one}
    timed = {("search, same query vectors", name): (lambda i, s=s: s.retriever("sparse").search_vector(vectors[i], k)) for name, s in searchers.items()}
    timed |= {("Searcher.search, end to end", name): (lambda i, s=s: {h.doc_id: h.score for h in s.search(texts[i], k=k, mode="sparse").hits})
              for name, s in searchers.items()}
    for call in timed.values():  # warm-up: tokenizer, memory maps
        for i in range(10):
            call(i)
    times: dict[tuple[str, str], list[float]] = {key: [] for key in timed}
    same = {name: 0 for name in searchers if name != "1 segment"}
    for i in range(len(texts)):
        results = {}
        for key in timed if i % 2 == 0 else reversed(list(timed)):  # interleaved: all see the same load
            t0 = time.perf_counter()
            results[key] = timed[key](i)
            times[key].append((time.perf_counter() - t0) * 1000)
        for name in same:
            same[name] += list(results[("search, same query vectors", name)]) == list(results[("search, same query vectors", "1 segment")])
    segments = {name: len(s.manifest.segments) for name, s in searchers.items()}
    for s in searchers.values():
        s.close()
    latency = [{"measure": measure, "index": name, "segments": segments[name], "p50_ms": round(float(np.percentile(t, 50)), 3),
                "p99_ms": round(float(np.percentile(t, 99)), 3), "mean_ms": round(float(np.mean(t)), 3)} for (measure, name), t in times.items()]
    return {"queries": len(texts), "k": k, "mode": "sparse (inference-free)", "identical_top_k_same_vectors_as_1_segment": same, "results": latency}, adds


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--dataset", default="scifact")
    parser.add_argument("--work", type=Path, default=Path(tempfile.gettempdir()) / "tandem-bench-live",
                        help="corpus subsets, indexes and the encoding cache (outside the project)")
    parser.add_argument("--queries", type=int, default=200, help="queries for the latency measurement")
    parser.add_argument("--out", type=Path, default=REPO / "bench" / "results" / "live.json")
    args = parser.parse_args()

    report = {"environment": environment()}
    split = load_split(args.dataset, "test")
    docs = read_corpus(split.corpus_path)
    config = BuildConfig(corpus=args.dataset, sparse_mode="inference-free", dense=None)
    serve_encodings_from(encode_corpus(config, docs, args.work / f"encoded-{file_sha256(split.corpus_path)[:12]}"))

    started = time.perf_counter()
    report["idf_policy"], big_batch = idf_policy(config, docs, split, args.work)
    throughput = throughput_batches(config, docs, args.work)
    report["latency"], series = segments_latency(config, docs, split, args.work, args.queries, 10)
    report["add_throughput"] = big_batch + throughput + series
    report["environment"]["load_average_end"] = list(os.getloadavg())
    report["environment"]["measure_seconds"] = round(time.perf_counter() - started, 1)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(report, indent=2) + "\n", encoding="utf-8")

    idf = report["idf_policy"]
    print(format_table(["index", *METRICS], [[name, *(idf[key][m] for m in METRICS)] for name, key in (
        ("(a) half built + half added, IDF frozen", "a_half_built_half_added_frozen_idf"), ("(b) (a) after compact", "b_after_compact"),
        ("(c) fresh build", "c_fresh_build"))], align="lrr"))
    by_batch: dict[tuple[str, int, str], list[float]] = {}
    for entry in report["add_throughput"]:
        by_batch.setdefault((entry["kind"], round(entry["docs"], -1), entry["series"]), []).append(entry["docs_per_second"])
    print(format_table(["add", "docs (about)", "series", "runs", "median docs/s"],
                       [[kind, size, series, len(v), round(float(np.median(v)), 1)] for (kind, size, series), v in sorted(by_batch.items())], align="lrlrr"))
    lat = report["latency"]
    print(format_table(["measure", "index", "p50 ms", "p99 ms", "mean ms"], [[r["measure"], r["index"], r["p50_ms"], r["p99_ms"], r["mean_ms"]] for r in lat["results"]],
                       align="llrrr"))
    for name, same in lat["identical_top_k_same_vectors_as_1_segment"].items():
        print(f"identical top-{lat['k']} with the same query vectors, {name} vs 1 segment: {same} of {lat['queries']} queries")
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
