"""Encoder throughput at each precision, against the measured matmul bound, and retrieval unchanged.

    TANDEM_DATA_DIR=../shared/data python bench/bench_encode.py --parts matmul,throughput
    TANDEM_DATA_DIR=../shared/data python bench/bench_encode.py --parts quality      # builds 2 scifact indexes: minutes

Parts (each merged into ``bench/results/encode.json`` under its own key, with load average,
threads, git commit and library versions):

- ``matmul``: fp32 and bf16 GFLOP/s of a large ``torch.matmul`` (2048^3) and of SPLADE's vocabulary
  projection shape, alternating precisions.
- ``throughput``: docs/s of the SPLADE and dense encoders at fp32 and bf16 on the first 2,000 pkgsum
  documents (short) and the first 500 scifact documents (up to 256 tokens), in the same process,
  alternating precisions chunk by chunk so both see the same machine load; the ratio, the bound
  (docs/s the measured matmul rate allows for the encoder's FLOPs at that precision), and how close
  the vectors are (per-document top-10 term overlap and max |dw| for SPLADE; cosine for dense).
- ``quality``: nDCG@10 on scifact test of an inference-free index built at each precision, and the
  per-document top-10 term overlap between the two indexes over the whole corpus.

The machine is shared: timings are noisy, so compare ratios measured side by side.
"""
from __future__ import annotations

import argparse
import itertools
import json
import os
import platform
import subprocess
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
PRECISIONS = ("fp32", "bf16")


def environment() -> dict:
    import torch
    import transformers

    commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=REPO, capture_output=True, text=True).stdout.strip()
    flags = Path("/proc/cpuinfo").read_text().split() if Path("/proc/cpuinfo").exists() else []
    return {"load_average": [round(x, 2) for x in os.getloadavg()], "threads": torch.get_num_threads(), "cpus": os.cpu_count(),
            "git_commit": commit, "torch": torch.__version__, "transformers": transformers.__version__, "platform": platform.platform(),
            "cpu_bf16": {f: f in flags for f in ("avx512_bf16", "amx_bf16", "amx_tile")}}


# -- matmul bound ------------------------------------------------------------------------------
def matmul_rates(rounds: int = 3) -> dict:
    """GFLOP/s per precision (best of ``rounds``, alternating) for a square and the projection shape."""
    import torch

    shapes = {"square_2048": (2048, 2048, 2048), "projection_512x128x30522": (512, 128, 30522)}
    out = {}
    for name, (m, k, n) in shapes.items():
        mats = {p: (torch.randn(m, k).to(dtype), torch.randn(k, n).to(dtype)) for p, dtype in (("fp32", torch.float32), ("bf16", torch.bfloat16))}
        best = {p: 0.0 for p in PRECISIONS}
        for _ in range(rounds):
            for p in PRECISIONS:
                a, b = mats[p]
                a @ b
                reps = 3
                t0 = time.perf_counter()
                for _ in range(reps):
                    a @ b
                best[p] = max(best[p], 2 * m * k * n * reps / (time.perf_counter() - t0) / 1e9)
        out[name] = {"gflops": {p: round(v, 1) for p, v in best.items()}, "bf16_over_fp32": round(best["bf16"] / best["fp32"], 2)}
    return out


# -- throughput --------------------------------------------------------------------------------
def load_texts(which: str, count: int, data: Path) -> list[str]:
    from tandem.index.corpus import iter_corpus

    path = data / ("scale/pkgsum/corpus.jsonl.gz" if which == "pkgsum" else "beir/scifact/corpus.jsonl")
    return [d.contents for d in itertools.islice(iter_corpus(path), count)]


def splade_flops_per_token(model_config, length: float) -> dict:
    """(fp32 part, projection part) FLOPs per token of a BERT-style SPLADE model at this text length."""
    h, layers, inter, vocab = model_config.hidden_size, model_config.num_hidden_layers, model_config.intermediate_size, model_config.vocab_size
    body = layers * (2 * 4 * h * h + 2 * 2 * h * inter + 2 * 2 * length * h) + 2 * h * h
    return {"body": body, "projection": 2 * h * vocab}


def dense_flops_per_token(model_config, length: float) -> float:
    h, layers, inter = model_config.hidden_size, model_config.num_hidden_layers, model_config.intermediate_size
    return layers * (2 * 4 * h * h + 2 * 2 * h * inter + 2 * 2 * length * h)


def alternate(encoders: dict, texts: list[str], chunk: int, run) -> tuple[dict[str, float], dict[str, list]]:
    """Seconds per precision over all texts, precisions alternating chunk by chunk (order swapped each chunk)."""
    seconds = {p: 0.0 for p in encoders}
    outputs: dict[str, list] = {p: [] for p in encoders}
    for i, start in enumerate(range(0, len(texts), chunk)):
        part = texts[start : start + chunk]
        order = list(encoders) if i % 2 == 0 else list(reversed(encoders))
        for p in order:
            t0 = time.perf_counter()
            result = run(encoders[p], part)
            seconds[p] += time.perf_counter() - t0
            outputs[p].append(result)
    return seconds, outputs


def top_overlap(a_ids: np.ndarray, a_w: np.ndarray, b_ids: np.ndarray, b_w: np.ndarray, k: int = 10) -> float:
    """|top-k terms of a ∩ top-k terms of b| / min(k, |a|) (1.0 for two empty vectors)."""
    top_a = set(a_ids[np.argsort(-a_w, kind="stable")[:k]].tolist())
    top_b = set(b_ids[np.argsort(-b_w, kind="stable")[:k]].tolist())
    return len(top_a & top_b) / max(1, min(k, len(top_a)))


def bound_docs_per_s(kind: str, per_doc: dict[str, float], rates: dict) -> dict[str, float]:
    """Docs/s if every FLOP ran at the measured large-matmul rate: fp32 everywhere, or (bf16) the SPLADE
    projection at the bf16 rate and the rest at fp32 (SPLADE) / everything at bf16 (dense, autocast)."""
    fp32, bf16 = (rates["square_2048"]["gflops"][p] * 1e9 for p in PRECISIONS)
    total = sum(per_doc.values())
    if kind == "dense":
        return {"fp32": fp32 / total, "bf16": bf16 / total}
    return {"fp32": fp32 / total, "bf16": 1 / (per_doc["body"] / fp32 + per_doc["projection"] / bf16)}


def splade_throughput(texts: list[str], chunk: int) -> dict:
    from tandem.retrieval.splade import SpladeConfig, SpladeEncoder

    encoders = {p: SpladeEncoder(SpladeConfig(precision=p)) for p in PRECISIONS}
    for e in encoders.values():
        e.encode(texts[:16])  # warm up
    seconds, outputs = alternate(encoders, texts, chunk, lambda e, part: e.encode(part))
    vectors = {p: [v for part in outputs[p] for v in part] for p in PRECISIONS}
    overlap, max_diff, support_diff = [], 0.0, 0
    for a, b in zip(vectors["fp32"], vectors["bf16"]):
        overlap.append(top_overlap(a.ids, a.weights, b.ids, b.weights))
        support_diff += len(set(a.ids.tolist()) ^ set(b.ids.tolist()))
        dense_a = dict(zip(a.ids.tolist(), a.weights.tolist()))
        dense_b = dict(zip(b.ids.tolist(), b.weights.tolist()))
        max_diff = max([max_diff] + [abs(dense_a.get(t, 0.0) - dense_b.get(t, 0.0)) for t in dense_a.keys() | dense_b.keys()])
    tokenizer, config = encoders["fp32"].tokenizer, encoders["fp32"].model.config
    lengths = [len(ids) for ids in tokenizer(texts, truncation=True, max_length=encoders["fp32"].config.max_length)["input_ids"]]
    mean_len = float(np.mean(lengths))
    flops = splade_flops_per_token(config, mean_len)
    per_doc = {k: v * mean_len for k, v in flops.items()}
    result = {"docs": len(texts), "mean_tokens": round(mean_len, 1), "gflop_per_doc": round(sum(per_doc.values()) / 1e9, 4),
              "projection_share": round(per_doc["projection"] / sum(per_doc.values()), 3),
              "docs_per_s": {p: round(len(texts) / s, 1) for p, s in seconds.items()},
              "speedup_bf16": round(seconds["fp32"] / seconds["bf16"], 2),
              "top10_overlap_mean": round(float(np.mean(overlap)), 5), "top10_overlap_min": round(float(np.min(overlap)), 4),
              "max_abs_weight_diff": float(f"{max_diff:.3g}"), "support_differences": support_diff}
    result["_per_doc"], result["_seconds"] = per_doc, seconds
    return result


def dense_throughput(texts: list[str], chunk: int) -> dict:
    from tandem.retrieval.dense_encoder import DenseConfig, DenseEncoder

    encoders = {p: DenseEncoder(DenseConfig(precision=p)) for p in PRECISIONS}
    for e in encoders.values():
        e.encode_documents(texts[:16])
    seconds, outputs = alternate(encoders, texts, chunk, lambda e, part: e.encode_documents(part))
    a, b = (np.concatenate(outputs[p]) for p in PRECISIONS)
    cosine = (a * b).sum(axis=1)
    config = encoders["fp32"].model.config
    lengths = [len(ids) for ids in encoders["fp32"].tokenizer(texts, truncation=True, max_length=encoders["fp32"].config.max_length)["input_ids"]]
    mean_len = float(np.mean(lengths))
    per_doc = dense_flops_per_token(config, mean_len) * mean_len
    result = {"docs": len(texts), "mean_tokens": round(mean_len, 1), "gflop_per_doc": round(per_doc / 1e9, 4),
              "docs_per_s": {p: round(len(texts) / s, 1) for p, s in seconds.items()},
              "speedup_bf16": round(seconds["fp32"] / seconds["bf16"], 2),
              "cosine_min": round(float(cosine.min()), 6), "cosine_mean": round(float(cosine.mean()), 7)}
    result["_per_doc"], result["_seconds"] = {"body": per_doc}, seconds
    return result


# -- retrieval quality -------------------------------------------------------------------------
def quality(data: Path, index_root: Path) -> dict:
    """nDCG@10 on scifact test of inference-free indexes built at each precision (reused if present)."""
    from tandem.eval.metrics import evaluate
    from tandem.index.manifest import read_manifest
    from tandem.index.sparse import SparseIndex
    from tandem.retrieval.build import BuildConfig, build_index
    from tandem.retrieval.datasets import load_split
    from tandem.retrieval.searcher import Searcher

    split = load_split("scifact", "test", data)
    out = {"dataset": "scifact", "split": "test", "queries": len(split.queries), "precisions": {}}
    matrices = {}
    for p in PRECISIONS:
        index = index_root / f"scifact-if-{p}"
        if not (index / "manifest.json").exists():
            build_index(BuildConfig(corpus="scifact", sparse_mode="inference-free", dense=None, precision=p), index, split.require_corpus())
        manifest = read_manifest(index)
        with Searcher.open(index) as searcher:
            results = searcher.batch_search([q.text for q in split.queries], k=100, mode="sparse")
            run = {q.query_id: {h.doc_id: h.score for h in r.hits} for q, r in zip(split.queries, results)}
        scores = evaluate(run, split.qrels, ["nDCG@10"])
        seg = manifest.segments[0]
        matrices[p] = SparseIndex(index / "segments" / seg.name / "sparse").doc_matrix()
        out["precisions"][p] = {"ndcg@10": round(float(scores.mean["nDCG@10"]), 4), "build_seconds": manifest.build_seconds,
                                "encode_seconds": seg.stats.get("sparse", {}).get("seconds"), "docs": manifest.num_docs,
                                "load_average_after": [round(x, 2) for x in os.getloadavg()]}
    a, b = matrices["fp32"], matrices["bf16"]
    overlaps = [top_overlap(a.indices[a.indptr[i]:a.indptr[i + 1]], a.data[a.indptr[i]:a.indptr[i + 1]],
                            b.indices[b.indptr[i]:b.indptr[i + 1]], b.data[b.indptr[i]:b.indptr[i + 1]]) for i in range(a.shape[0])]
    out["ndcg@10_difference"] = round(out["precisions"]["bf16"]["ndcg@10"] - out["precisions"]["fp32"]["ndcg@10"], 4)
    out["top10_overlap_mean"] = round(float(np.mean(overlaps)), 5)
    out["top10_overlap_min"] = round(float(np.min(overlaps)), 4)
    out["max_abs_weight_diff"] = float(f"{abs(a - b).max():.3g}")
    out["identical_postings"] = bool(np.array_equal(a.indptr, b.indptr) and np.array_equal(a.indices, b.indices))
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--parts", default="matmul,throughput", help="comma-separated: matmul, throughput, quality")
    parser.add_argument("--pkgsum-docs", type=int, default=2000)
    parser.add_argument("--scifact-docs", type=int, default=500)
    parser.add_argument("--dense-fraction", type=float, default=0.5, help="the dense encoder runs on this fraction of each sample (it is the slower one)")
    parser.add_argument("--chunk", type=int, default=100, help="documents per alternation step")
    parser.add_argument("--threads", type=int, default=1, help="torch threads (1: the machine is shared; the ratios are what matters)")
    parser.add_argument("--index-root", type=Path, default=REPO / "indexes" / "bench-encode")
    parser.add_argument("--out", type=Path, default=REPO / "bench" / "results" / "encode.json")
    args = parser.parse_args()
    import torch

    torch.set_num_threads(args.threads)
    data = Path(os.environ.get("TANDEM_DATA_DIR", REPO.parent / "shared" / "data"))
    report = json.loads(args.out.read_text()) if args.out.exists() else {}
    parts = args.parts.split(",")
    started = environment()  # the commit and load this run started with (the code it imported)
    if "matmul" in parts:
        report["matmul"] = {**matmul_rates(), "environment": environment()}
        print(json.dumps(report["matmul"], indent=1))
    if "throughput" in parts:
        rates = matmul_rates()  # the bound is measured in this run, before and after the encoders (best of both)
        section = {}
        for which, count in (("pkgsum", args.pkgsum_docs), ("scifact", args.scifact_docs)):
            texts = load_texts(which, count, data)
            section[which] = {"splade": splade_throughput(texts, args.chunk)}
            print(which, "splade", {k: v for k, v in section[which]["splade"].items() if not k.startswith("_")})
            dense_texts = texts[: max(1, int(len(texts) * args.dense_fraction))]
            section[which]["dense"] = dense_throughput(dense_texts, args.chunk)
            print(which, "dense", {k: v for k, v in section[which]["dense"].items() if not k.startswith("_")})
        after = matmul_rates()
        for name, entry in rates.items():
            entry["gflops"] = {p: max(entry["gflops"][p], after[name]["gflops"][p]) for p in PRECISIONS}
            entry["bf16_over_fp32"] = round(entry["gflops"]["bf16"] / entry["gflops"]["fp32"], 2)
        for which in section:  # the bound from the best rates seen in this run
            for kind in ("splade", "dense"):
                entry = section[which][kind]
                per_doc = entry.pop("_per_doc")
                seconds = entry.pop("_seconds")
                bound = bound_docs_per_s(kind, per_doc, rates)
                entry["matmul_bound_docs_per_s"] = {p: round(v, 1) for p, v in bound.items()}
                entry["share_of_bound"] = {p: round(entry["docs"] / seconds[p] / bound[p], 3) for p in PRECISIONS}
        report["throughput"] = {**section, "matmul": rates, "environment": environment(), "environment_at_start": started}
    if "quality" in parts:
        report["quality"] = {**quality(data, args.index_root), "environment": environment(), "environment_at_start": started}
        print(json.dumps(report["quality"], indent=1))
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(report, indent=2) + "\n")


if __name__ == "__main__":
    main()
