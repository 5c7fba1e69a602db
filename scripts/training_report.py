"""Collect the training runs (scripts/train_experiments.sh) into a table and an nDCG@10-vs-FLOPS plot.

    python scripts/training_report.py                        # markdown table; docs/experiments/ndcg-vs-flops.png
    python scripts/training_report.py --trajectories DIR     # rank loss / doc nonzeros / scale of each run in DIR
"""
from __future__ import annotations

import json
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
RUNS = [
    ("1. splade-tiny, untrained", None, {"scifact": ROOT / "indexes/scifact", "nfcorpus": ROOT / "indexes/nfcorpus"}),
    ("2. plain FLOPS λ=1e-4, dense teacher", "plain-1e-4", None),
    ("2. plain FLOPS λ=1e-3, dense teacher", "plain-1e-3", None),
    ("3. IDF-aware FLOPS λ=1e-3, dense teacher", "idf-1e-3", None),
    ("3. IDF-aware FLOPS λ=1e-2, dense teacher", "idf-1e-2", None),
    ("4. IDF-aware FLOPS λ=1e-2, ensemble teacher", "idf-1e-2-ens", None),
    ("5. as 4, trained on nfcorpus train, checkpoint by nfcorpus dev", "nf-idf-1e-2-ens", None),
    ("6. as 4, scifact train + 1000 pseudo-queries", "pq-idf-1e-2-ens", None),
]


def metrics_for(name: str, dataset: str) -> dict | None:
    path = ROOT / "runs/train/eval" / f"{name}-{dataset}" / "metrics.json"
    if not path.is_file():
        return None
    result = json.loads(path.read_text())["results"][0]
    return result["metrics"]


def baseline_metrics(dataset: str) -> dict | None:
    path = ROOT / "runs/results/main/metrics.json"
    for r in json.loads(path.read_text())["results"]:
        if r["dataset"] == dataset and r["condition"] == "sparse":
            return r["metrics"]
    return None


def sparse_stats(index: Path) -> dict | None:
    manifest = index / "manifest.json"
    if not manifest.is_file():
        return None
    settings = json.loads(manifest.read_text())["components"]["sparse"]["settings"]
    return {"nnz": settings["avg_nnz_per_doc"], "flops": settings["flops"]}


def trajectories(folder: Path, windows: int = 5) -> None:
    """Mean rank loss, doc nonzeros and student scale per window of steps, for each run in ``folder``."""
    for summary in sorted(folder.glob("*/tandem_training.json")):
        history = json.loads(summary.read_text())["history"]
        size = max(1, len(history) // windows)
        cells = []
        for start in range(0, len(history), size):
            part = history[start : start + size]
            mean = lambda key: sum(h[key] for h in part) / len(part)  # noqa: E731
            cells.append(f"steps {start + 1}-{start + len(part)}: rank {mean('rank'):.2f}, nnz {mean('nnz'):.0f}"
                         + (f", scale {part[-1]['scale']:.2f}" if "scale" in part[-1] else ""))
        print(f"{summary.parent.name}\n  " + "\n  ".join(cells))


def main() -> None:
    import sys

    if len(sys.argv) == 3 and sys.argv[1] == "--trajectories":
        trajectories(Path(sys.argv[2]))
        return
    rows, points = [], []
    for label, name, indexes in RUNS:
        for dataset in ("scifact", "nfcorpus"):
            index = indexes[dataset] if indexes else ROOT / "indexes/trained" / f"{name}-{dataset}"
            metrics = baseline_metrics(dataset) if name is None else metrics_for(name, dataset)
            stats = sparse_stats(index)
            if metrics is None or stats is None:
                continue
            rows.append((label, dataset, metrics["nDCG@10"], metrics["R@100"], stats["nnz"], stats["flops"]))
            points.append((label, dataset, stats["flops"], metrics["nDCG@10"]))
    print("| run | dataset | nDCG@10 | R@100 | avg doc nonzeros | doc FLOPS |")
    print("|---|---|---:|---:|---:|---:|")
    for label, dataset, ndcg, recall, nnz, flops in rows:
        print(f"| {label} | {dataset} | {ndcg:.4f} | {recall:.4f} | {nnz:.1f} | {flops:.3f} |")

    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import matplotlib.ticker

    fig, ax = plt.subplots(figsize=(6.5, 4.2))
    for family, marker, color in (("plain", "s", "#c92a2a"), ("IDF-aware", "o", "#3b5bdb"), ("untrained", "*", "#495057")):
        xs = [p[2] for p in points if p[1] == "scifact" and (family in p[0] or (family == "untrained" and "untrained" in p[0])) and "ensemble" not in p[0]]
        ys = [p[3] for p in points if p[1] == "scifact" and (family in p[0] or (family == "untrained" and "untrained" in p[0])) and "ensemble" not in p[0]]
        ax.scatter(xs, ys, marker=marker, color=color, s=60, label=family + (" FLOPS" if family != "untrained" else ""))
        if len(xs) > 1:
            order = sorted(range(len(xs)), key=lambda i: xs[i])
            ax.plot([xs[i] for i in order], [ys[i] for i in order], color=color, alpha=0.5)
    ens = [p for p in points if p[1] == "scifact" and "ensemble" in p[0]]
    if ens:
        ax.scatter([p[2] for p in ens], [p[3] for p in ens], marker="D", color="#2b8a3e", s=60, label="IDF-aware + ensemble teacher")
    ax.set_xscale("log")
    ax.xaxis.set_minor_formatter(matplotlib.ticker.NullFormatter())
    ax.set_xlabel("document FLOPS (Σ_t p_t², log scale)")
    ax.set_ylabel("nDCG@10 (scifact test)")
    ax.set_title("Accuracy vs sparsity, inference-free splade-tiny")
    ax.legend(fontsize=8)
    out = ROOT / "docs/experiments/ndcg-vs-flops.png"
    fig.savefig(out, dpi=120, bbox_inches="tight")
    print(f"\nwrote {out}")


if __name__ == "__main__":
    main()
