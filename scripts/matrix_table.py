"""One markdown table (rows = conditions, columns = datasets + mean) from several `tandem eval`
outputs, and each hybrid against each single retriever with paired p-values.

    python scripts/matrix_table.py runs/results/classic runs/results/classic-siamese:siamese \
        --metrics nDCG@10,R@100 --compare nDCG@10

A folder given as ``DIR:label`` has its condition names prefixed with ``label`` (e.g. the siamese
sparse rows next to the inference-free ones).
"""
from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np

from eval.significance import compare

SINGLE = ("bm25", "sparse", "dense", "impact")


def load(specs: list[str]) -> list[dict]:
    rows = []
    for spec in specs:
        folder, _, label = spec.partition(":")
        data = json.loads((Path(folder) / "metrics.json").read_text())
        for result in data["results"]:
            name = f"{label} {result['condition']}" if label else result["condition"]
            per_query = data["per_query"][f"{result['dataset']}/{result['condition']}"]
            rows.append({**result, "condition": name, "per_query": per_query})
    return rows


def table(results: list[dict], metric: str) -> str:
    datasets = list(dict.fromkeys(r["dataset"] for r in results))
    conditions = list(dict.fromkeys(r["condition"] for r in results))
    value = {(r["condition"], r["dataset"]): r["metrics"][metric] for r in results}
    best = {d: max(v for (c, ds), v in value.items() if ds == d) for d in datasets}
    lines = ["| condition | " + " | ".join(datasets) + " | mean |", "|---|" + "---:|" * (len(datasets) + 1)]
    for c in conditions:
        cells = [value.get((c, d)) for d in datasets]
        mean = f"{np.mean(cells):.4f}" if all(v is not None for v in cells) else "–"
        shown = ["–" if v is None else (f"**{v:.4f}**" if v == best[d] else f"{v:.4f}") for v, d in zip(cells, datasets)]
        lines.append(f"| {c} | " + " | ".join(shown) + f" | {mean} |")
    return "\n".join(lines)


def comparisons(results: list[dict], metric: str) -> str:
    lines = ["| dataset | hybrid | vs | Δ | p (t-test) | p (permutation) |", "|---|---|---|---:|---:|---:|"]
    for dataset in dict.fromkeys(r["dataset"] for r in results):
        group = [r for r in results if r["dataset"] == dataset]
        singles = [r for r in group if r["condition"] in SINGLE]
        for hybrid in (r for r in group if r["condition"].startswith("hybrid")):
            for single in singles:
                stats = compare(hybrid["per_query"][metric], single["per_query"][metric])
                lines.append(f"| {dataset} | {hybrid['condition']} | {single['condition']} | {stats['diff']:+.4f} | {stats['p_ttest']:.3g} | {stats['p_permutation']:.3g} |")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("folders", nargs="+", help="tandem eval output folders, optionally DIR:label")
    parser.add_argument("--metrics", default="nDCG@10,R@100")
    parser.add_argument("--compare", default=None, help="metric for hybrid-vs-single paired tests")
    args = parser.parse_args()
    results = load(args.folders)
    for metric in args.metrics.split(","):
        print(f"### {metric}\n\n{table(results, metric)}\n")
    if args.compare:
        print(f"### Hybrids against single retrievers ({args.compare}, paired)\n\n{comparisons(results, args.compare)}\n")


if __name__ == "__main__":
    main()
