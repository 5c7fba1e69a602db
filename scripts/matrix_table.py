"""One markdown table (rows = conditions, columns = datasets + mean) from several `tandem eval`
outputs, and each hybrid against each single retriever with paired p-values.

    python scripts/matrix_table.py runs/results/classic runs/results/classic-siamese:siamese \
        --metrics nDCG@10,R@100 --compare nDCG@10

A folder given as ``DIR:label`` has its condition names prefixed with ``label`` (e.g. the siamese
sparse rows next to the inference-free ones).
"""
from __future__ import annotations

import argparse
import dataclasses

from tandem.eval.formatting import format_value
from tandem.eval.harness import ConditionResult, load_results
from tandem.eval.report import comparisons, markdown_table, matrix_rows


def load(specs: list[str]) -> list[ConditionResult]:
    results = []
    for spec in specs:
        folder, _, label = spec.partition(":")
        results += [dataclasses.replace(r, condition=f"{label} {r.condition}") if label else r for r in load_results(folder)]
    return results


def table(results: list[ConditionResult], metric: str) -> str:
    """``matrix_rows`` with the best value of each dataset column in bold."""
    headers, rows = matrix_rows(results, metric)
    datasets = len(headers) - 1 - (len(headers) > 2)
    best = [max(row[1 + i] for row in rows if row[1 + i] is not None) for i in range(datasets)]
    for row in rows:
        row[1 : 1 + datasets] = [f"**{v:.4f}**" if v is not None and v == b else v for v, b in zip(row[1 : 1 + datasets], best)]
    return markdown_table(headers, rows)


def comparison_table(results: list[ConditionResult], metric: str) -> str:
    rows = [[c["dataset"], c["a"], c["b"], format_value(c["diff"], "diff")] + [format_value(c[key], "p") for key in ("p_ttest_holm", "p_ttest", "p_permutation_holm", "p_permutation")]
            for c in comparisons(results, metric) if c["a"].startswith("hybrid")]  # labelled single retrievers (e.g. "siamese sparse") are not hybrids
    return markdown_table(["dataset", "hybrid", "vs", "Δ", "t-test p (Holm)", "raw", "perm. p (Holm)", "raw"], rows)


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
        print(f"### Hybrids against single retrievers ({args.compare}, paired)\n\n{comparison_table(results, args.compare)}\n")


if __name__ == "__main__":
    main()
