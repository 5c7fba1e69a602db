"""The FLOPS-regularised student at scale (issue 11 §2): postings touched and latency vs the untrained model.

The student is the IDF-aware FLOPS splade-tiny student of docs/experiments/inference-free-training.md
(run 4: λ=1e-2, ensemble teacher dense + siamese sparse + BM25; 3.6x lower document FLOPS than the
untrained model at equal scifact nDCG@10), retrained with scripts/train_experiments.sh's recipe. Both
models are used inference-free: documents through the encoder, queries = tokenizer + corpus IDF, so the
two indexes of one corpus answer the *same* query vectors (same tokenizer, same corpus IDF) and every
difference below comes from the documents.

Measured, untrained vs student in the same run, queries interleaved (query i: untrained then student for
even i, the reverse for odd i), one thread:

- **pkgsum pairs** (``--pair NAME UNTRAINED STUDENT``: two Tandem indexes of the same corpus, built with
  `tandem index build --from-encoded`): per MS MARCO dev-small query, postings touched (sum over the
  query's terms of their posting-list lengths; the default exact kernel, ``strategy = "scan"``, scores
  every one of them, so postings scored = postings touched), end-to-end latency through the Retriever
  interface (IDF query encoding + search) and at kernel level (``SparseIndex.search`` on the encoded query
  vectors; the default scan kernel and the block-max MaxScore "prune" kernel) at k=10 and k=1000, wall and thread CPU, with a least-squares cost model ``CPU ms = fixed +
  per-posting x postings touched`` (how much of the time the postings explain); top-10 overlap between
  the two models; document FLOPS, terms per document and index bytes from each index.
- **synthetic long documents** (``--synthetic-sizes``; ``bench.synthetic`` resampled from each model's
  scifact vectors, ``--scifact-pair UNTRAINED STUDENT``): native sparse segments written by the product's
  writer (default settings), searched at kernel level with the scifact IDF query vectors.
- **pkgsum resampled** (``--resample-sizes``): the first pair's documents resampled the same way to a larger
  size (e.g. 729,028, the full corpus) when encoding the whole corpus with the student does not fit: lengths,
  weights and FLOPS of the real documents, postings per query growing linearly; co-occurrence is broken.
- **scifact reproduction** (``--scifact-eval UNTRAINED_DIR STUDENT_DIR``: `tandem eval` output folders):
  test nDCG@10 / R@100 of both, with the index statistics, against the doc's numbers.

    TANDEM_DATA_DIR=/work/shared/data OMP_NUM_THREADS=1 nice -n 10 .venv/bin/python bench/bench_flops_student.py \
        --pair pkgsum-100k S/indexes/pkgsum-100k-untrained S/indexes/pkgsum-100k-student \
        --scifact-pair S/indexes/scifact S/indexes/student-scifact --scifact-eval S/eval/untrained S/eval/student \
        --work S/synthetic --out bench/results/flops_student.json        # S = /work/scratch/flops-student

The JSON is rewritten after each corpus, so an interrupted run keeps what it measured.
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

from bench import interleave  # noqa: E402
from bench.scale_data import msmarco_queries  # noqa: E402
from bench.scale_report import environment  # noqa: E402

KS = (10, 1000)
WARMUP = 50
MODELS = ("untrained", "student")
DOC_NUMBERS = {  # docs/experiments/inference-free-training.md, results table (scifact test)
    "untrained": {"nDCG@10": 0.6544, "R@100": 0.8953, "avg_nnz_per_doc": 248.5, "flops": 37.974},
    "student": {"nDCG@10": 0.6552, "R@100": 0.8987, "avg_nnz_per_doc": 140.7, "flops": 10.686},
}
MEASURED_FILES = ("bench/bench_flops_student.py", "bench/synthetic.py", "index/sparse.py", "index/sparse_kernel.py", "retrieval/idf_query.py")


# -- helpers -----------------------------------------------------------------------------------
def r3(x: float) -> float:
    return round(float(x), 3)


def distribution(values: np.ndarray) -> dict:
    """Mean and percentiles of a per-query quantity."""
    values = np.asarray(values, dtype=np.float64)
    return {"mean": r3(values.mean()), "p50": r3(np.percentile(values, 50)), "p90": r3(np.percentile(values, 90)),
            "p99": r3(np.percentile(values, 99)), "max": r3(values.max())}


def latency_summary(wall_ms: list[float], cpu_ms: list[float]) -> dict:
    wall, cpu = np.asarray(wall_ms), np.asarray(cpu_ms)
    return {"p50_ms": r3(np.percentile(wall, 50)), "p99_ms": r3(np.percentile(wall, 99)), "mean_ms": r3(wall.mean()),
            "cpu_p50_ms": r3(np.percentile(cpu, 50)), "cpu_p99_ms": r3(np.percentile(cpu, 99)), "queries": int(wall.size)}


def interleaved(searches: dict, num: int, warm: range, k: int) -> tuple[dict, tuple[dict, dict]]:
    """Time ``searches[name](i, k)`` for i < num, the models alternating which goes first; (latency summaries, (results, CPU ms))."""
    wall, cpu, results = interleave.interleaved(searches, range(num), warm, k)
    return {n: latency_summary(wall[n], cpu[n]) for n in searches}, (results, cpu)


def ratios(untrained: dict, student: dict) -> dict:
    """untrained / student for each latency statistic (> 1: the student is faster)."""
    return {key: r3(untrained[key] / student[key]) if student[key] else None for key in ("p50_ms", "p99_ms", "mean_ms", "cpu_p50_ms", "cpu_p99_ms")}


def top10_overlap(a: list[list], b: list[list]) -> float:
    """Mean |top10(a) ∩ top10(b)| / 10 over queries where either returned something."""
    shares = [len(set(x[:10]) & set(y[:10])) / max(min(10, max(len(x), len(y))), 1) for x, y in zip(a, b) if x or y]
    return r3(np.mean(shares)) if shares else None


def postings_touched(doc_freqs: list[np.ndarray], vectors: list) -> np.ndarray:
    """Per query: the lengths of its terms' posting lists, summed over terms and segments."""
    return np.asarray([sum(int(df[v.ids].sum()) for df in doc_freqs) for v in vectors], dtype=np.int64)


def cost_model(touched: dict[str, np.ndarray], cpu_ms: dict[str, list[float]]) -> dict:
    """Least-squares ``CPU ms = fixed + per_posting * postings touched`` over both models' queries: how much of a
    query's time the postings explain (the rest is per-query work independent of them: query encoding, the
    selection pass over the score buffer, which grows with the number of documents)."""
    x = np.concatenate([touched[m] for m in MODELS]).astype(np.float64)
    y = np.concatenate([np.asarray(cpu_ms[m]) for m in MODELS])
    slope, fixed = np.polyfit(x, y, 1)
    share = {m: r3(slope * touched[m].mean() / np.mean(cpu_ms[m])) for m in MODELS}
    return {"fixed_ms": r3(fixed), "ns_per_posting": r3(slope * 1e6), "r2": r3(np.corrcoef(x, y)[0, 1] ** 2), "postings_share_of_mean_cpu": share}


def kernel_latencies(indexes: dict, searches: dict, touched: dict, num: int, warm: range, label: str = "") -> dict:
    """Interleaved kernel timings at each k with the default scan kernel (``k10``, ``k1000``) and with the
    block-max MaxScore kernel (``prune_k10``, ``prune_k1000``), which skips postings that cannot reach the top k."""
    out = {}
    for strategy in ("scan", "prune"):
        for index in indexes.values():
            index.strategy = strategy
        for k in KS:
            stats, (_, cpu) = interleaved(searches, num, warm, k)
            stats["untrained_over_student"] = ratios(stats["untrained"], stats["student"])
            stats["cost_model"] = cost_model(touched, cpu)
            out[f"k{k}" if strategy == "scan" else f"prune_k{k}"] = stats
            print(f"[{label}] {strategy} k={k}: " + ", ".join(f"{m} CPU p50 {stats[m]['cpu_p50_ms']} ms p99 {stats[m]['cpu_p99_ms']} ms" for m in MODELS), flush=True)
    for index in indexes.values():
        index.strategy = "scan"
    return out


def touched_comparison(untrained: np.ndarray, student: np.ndarray) -> dict:
    both = (untrained > 0) & (student > 0)
    return {"untrained": distribution(untrained), "student": distribution(student),
            "ratio_of_means": r3(untrained.mean() / student.mean()),
            "per_query_ratio": distribution(untrained[both] / student[both]),
            "scored_equals_touched": "for the scan kernel (SparseIndex.strategy 'scan'), which accumulates every posting of the query terms; "
                                     "the pruning kernel (the default from 10,000 x k documents on) reads a part of them: see latency_kernel prune_*"}


def write(report: dict, out: Path) -> None:
    report["environment"]["load_average_now"] = [round(x, 2) for x in os.getloadavg()]
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(report, indent=2) + "\n", encoding="utf-8")


# -- pkgsum: two Tandem indexes of one corpus ---------------------------------------------------
def index_stats(index: Path, component: str = "sparse") -> dict:
    """Postings, terms/doc, FLOPS (one segment) and bytes of a Tandem index's sparse component."""
    from bench.bench_scale import index_sizes

    manifest = json.loads((index / "manifest.json").read_text())
    sizes = index_sizes(index, component)
    stats = sizes.pop("segment_stats")
    info = next(c for c in manifest["components"] if c["name"] == component)
    out = {"index": str(index), "encoder": info["settings"]["encoder"]["model"], "num_docs": stats.get("num_docs"),
           "num_postings": stats.get("num_postings"), "avg_nnz_per_doc": r3(stats.get("avg_nnz_per_doc", 0)), "doc_flops": r3(stats.get("flops", 0)),
           "segments": len(manifest["segments"]), **sizes}
    if stats.get("num_postings"):
        out["bytes_per_posting"] = r3(sizes["component_bytes"] / stats["num_postings"])
        out["bytes_per_document"] = r3(sizes["component_bytes"] / stats["num_docs"])
    return out


def run_pair(name: str, indexes: dict[str, Path], texts: list[str], num: int) -> dict:
    """Untrained vs student on one corpus, end to end through the Retriever interface."""
    from tandem.retrieval.searcher import Searcher

    row = {"corpus": name, "queries": num, "models": {m: index_stats(p) for m, p in indexes.items()}}
    if row["models"]["untrained"]["num_docs"] != row["models"]["student"]["num_docs"]:
        raise SystemExit(f"{name}: the two indexes hold different numbers of documents")
    searchers = {m: Searcher.open(p) for m, p in indexes.items()}
    retrievers = {m: s.retriever("sparse") for m, s in searchers.items()}
    vectors = {m: r.encode(texts[:num]) for m, r in retrievers.items()}
    same_queries = all(np.array_equal(a.ids, b.ids) and np.allclose(a.weights, b.weights, rtol=1e-6)
                       for a, b in zip(vectors["untrained"], vectors["student"]))
    row["same_query_vectors"] = bool(same_queries)
    row["avg_query_terms"] = r3(np.mean([v.nnz for v in vectors["untrained"]]))
    touched = {m: postings_touched([idx.document_frequency() for _, idx in retrievers[m].segments], vectors[m]) for m in MODELS}
    row["postings_touched"] = touched_comparison(touched["untrained"], touched["student"])
    warm = range(num, len(texts))
    searches = {m: (lambda i, k, r=retrievers[m]: list(r.search([texts[i]], k)[0])) for m in MODELS}
    row["latency_end_to_end"] = {}
    for k in KS:
        stats, (results, cpu) = interleaved(searches, num, warm, k)
        stats["untrained_over_student"] = ratios(stats["untrained"], stats["student"])
        stats["cost_model"] = cost_model(touched, cpu)
        if k == 10:
            row["top10_overlap_student_vs_untrained"] = top10_overlap(results["untrained"], results["student"])
            row["empty_results"] = {m: int(sum(1 for x in results[m] if not x)) for m in MODELS}
        row["latency_end_to_end"][f"k{k}"] = stats
        print(f"[{name}] k={k}: " + ", ".join(f"{m} p50 {stats[m]['p50_ms']} ms p99 {stats[m]['p99_ms']} ms" for m in MODELS), flush=True)
    # the same searches at kernel level (pre-encoded query vectors, one segment's SparseIndex.search): no query encoding
    kernels = {m: retrievers[m].segments[0][1] for m in MODELS}
    if all(len(retrievers[m].segments) == 1 for m in MODELS):
        searches = {m: (lambda i, k, idx=kernels[m], vs=vectors[m]: idx.search(vs[i], k)[0].tolist()) for m in MODELS}
        row["latency_kernel"] = kernel_latencies(kernels, searches, touched, num, range(min(WARMUP, num)), name)
    for s in searchers.values():
        s.close()
    return row


# -- synthetic long documents resampled from each model's scifact vectors -----------------------
def sparse_dirs(index: Path) -> list[Path]:
    manifest = json.loads((index / "manifest.json").read_text())
    return [index / "segments" / s["name"] / "sparse" for s in manifest["segments"]]


def run_synthetic(size: int, bases: dict[str, Path], texts: list[str], num: int, work: Path, label: str = "synthetic") -> dict:
    """Untrained vs student on ``size`` documents resampled (``bench.synthetic``) from each model's vectors in the
    ``bases`` indexes, kernel level on the IDF query vectors of those indexes."""
    import scipy.sparse as sp

    from bench.bench_scale import folder_bytes
    from bench.synthetic import synthetic_long_docs
    from tandem.index.sparse import SparseIndex, write_sparse_index
    from tandem.retrieval.searcher import Searcher

    row = {"corpus": f"{label}-{size // 1000}k", "num_docs": size, "queries": num, "models": {}}
    indexes, vectors = {}, {}
    for m in MODELS:
        with Searcher.open(bases[m]) as searcher:
            vectors[m] = searcher.retriever("sparse").encode(texts)
        base = sp.vstack([SparseIndex(d).doc_matrix() for d in sparse_dirs(bases[m])]).tocsr()
        t0 = time.perf_counter()
        csc = synthetic_long_docs(base, size)
        generated = time.perf_counter() - t0
        folder = work / f"{label}-{size}-{m}"
        if folder.exists():
            raise SystemExit(f"{folder} exists: remove it or choose another --work")
        t0 = time.perf_counter()
        summary = write_sparse_index(folder, csc)
        row["models"][m] = {"base_index": str(bases[m]), "base_docs": int(base.shape[0]), "num_postings": int(csc.nnz), "avg_nnz_per_doc": r3(summary["avg_nnz_per_doc"]),
                            "doc_flops": r3(summary["flops"]), "bytes": folder_bytes(folder), "bytes_per_posting": r3(folder_bytes(folder) / csc.nnz),
                            "generate_s": r3(generated), "write_s": r3(time.perf_counter() - t0)}
        del csc, base
        indexes[m] = SparseIndex(folder)
    row["same_query_vectors"] = bool(all(np.array_equal(a.ids, b.ids) for a, b in zip(vectors["untrained"], vectors["student"])))
    touched = {m: postings_touched([indexes[m].document_frequency()], vectors[m][:num]) for m in MODELS}
    row["postings_touched"] = touched_comparison(touched["untrained"], touched["student"])
    warm = range(num, len(texts))
    searches = {m: (lambda i, k, idx=indexes[m], vs=vectors[m]: idx.search(vs[i], k)[0].tolist()) for m in MODELS}
    row["latency_kernel"] = kernel_latencies(indexes, searches, touched, num, warm, row["corpus"])
    del indexes
    for m in MODELS:
        shutil.rmtree(work / f"{label}-{size}-{m}", ignore_errors=True)  # created above by this script
    return row


# -- scifact: did the student reproduce? --------------------------------------------------------
def scifact_reproduction(eval_dirs: dict[str, Path], indexes: dict[str, Path] | None) -> dict:
    """Test nDCG@10 / R@100 from `tandem eval` output folders, index statistics, and the doc's numbers."""
    out = {}
    for m, folder in eval_dirs.items():
        data = json.loads((folder / "metrics.json").read_text())
        found = {}
        for entry in data.get("results", data if isinstance(data, list) else []):
            if entry.get("condition") == "sparse" and entry.get("dataset") == "scifact":
                found = {key: entry["metrics"][key] for key in ("nDCG@10", "R@100") if key in entry.get("metrics", {})}
        out[m] = {"eval_dir": str(folder), **found, "doc": DOC_NUMBERS[m]}
        if indexes:
            stats = index_stats(indexes[m])
            out[m].update(avg_nnz_per_doc=stats["avg_nnz_per_doc"], flops=stats["doc_flops"])
    if all("flops" in out[m] for m in MODELS):
        out["flops_ratio_untrained_over_student"] = r3(out["untrained"]["flops"] / out["student"]["flops"])
        out["doc_flops_ratio"] = r3(DOC_NUMBERS["untrained"]["flops"] / DOC_NUMBERS["student"]["flops"])
    return out


# -- main --------------------------------------------------------------------------------------
def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pair", nargs=3, action="append", default=[], metavar=("NAME", "UNTRAINED", "STUDENT"),
                        help="two Tandem indexes of the same corpus (untrained splade-tiny, student)")
    parser.add_argument("--scifact-pair", nargs=2, type=Path, metavar=("UNTRAINED", "STUDENT"),
                        help="scifact indexes of both models: bases of the synthetic corpora and of the reproduction's statistics")
    parser.add_argument("--scifact-eval", nargs=2, type=Path, metavar=("UNTRAINED_DIR", "STUDENT_DIR"), help="`tandem eval --out` folders on scifact test")
    parser.add_argument("--synthetic-sizes", type=int, nargs="*", default=[1_000_000], help="synthetic long documents resampled from --scifact-pair")
    parser.add_argument("--resample-sizes", type=int, nargs="*", default=[],
                        help="also resample the first --pair's documents to these sizes (short documents at full-corpus scale, no encoding)")
    parser.add_argument("--queries", type=int, default=1000, help="MS MARCO dev-small queries timed (the next 50 warm up)")
    parser.add_argument("--work", type=Path, default=Path("/work/scratch/flops-student/synthetic"), help="scratch folder for the synthetic indexes")
    parser.add_argument("--training", type=Path, default=None, help="the student's model folder (its tandem_training.json is summarised)")
    parser.add_argument("--out", type=Path, default=ROOT / "bench/results/flops_student.json")
    return parser


def main(argv: list[str] | None = None) -> dict:
    args = build_parser().parse_args(argv)
    env = environment()
    env["measured_files_dirty"] = bool(subprocess.run(["git", "status", "--porcelain", "--", *MEASURED_FILES], cwd=ROOT,
                                                                     capture_output=True, text=True).stdout.strip())
    env["interleaving"] = "per query, untrained then student for even queries and the reverse for odd ones; 50 warm-up queries each"
    report = {"environment": env, "settings": {k: str(v) for k, v in vars(args).items()}, "corpora": []}
    if args.training:
        summary = json.loads((args.training / "tandem_training.json").read_text())
        report["student"] = {"folder": str(args.training), "config": summary["config"], "teacher_file_header": summary["teacher_file_header"],
                             "seconds": summary["seconds"], "steps": summary["steps"], "final": summary["final"]}
    if args.scifact_eval:
        report["scifact_reproduction"] = scifact_reproduction(dict(zip(MODELS, args.scifact_eval)),
                                                              dict(zip(MODELS, args.scifact_pair)) if args.scifact_pair else None)
        write(report, args.out)
    texts = msmarco_queries(args.queries + WARMUP)
    for name, untrained, student in args.pair:
        report["corpora"].append(run_pair(name, {"untrained": Path(untrained), "student": Path(student)}, texts, args.queries))
        write(report, args.out)
    args.work.mkdir(parents=True, exist_ok=True)
    if args.pair:
        name, untrained, student = args.pair[0]
        for size in args.resample_sizes:
            report["corpora"].append(run_synthetic(size, {"untrained": Path(untrained), "student": Path(student)}, texts, args.queries, args.work,
                                                   label=f"{name}-resampled"))
            write(report, args.out)
    if args.scifact_pair:
        for size in args.synthetic_sizes:
            report["corpora"].append(run_synthetic(size, dict(zip(MODELS, args.scifact_pair)), texts, args.queries, args.work))
            write(report, args.out)
    report["environment"]["load_average_end"] = [round(x, 2) for x in os.getloadavg()]
    report["environment"]["finished"] = time.strftime("%Y-%m-%dT%H:%M:%S%z")
    write(report, args.out)
    return report


if __name__ == "__main__":
    main()
