"""Results tables (terminal and markdown), significance comparisons, and an HTML report with plots."""
from __future__ import annotations

import base64
import html
import io
from pathlib import Path
from typing import Sequence

import numpy as np

from .harness import ConditionResult

SINGLE = ("bm25", "sparse", "dense", "impact")


def matrix_rows(results: Sequence[ConditionResult], metric: str) -> tuple[list[str], list[list]]:
    """Rows = conditions, columns = datasets (+ mean over datasets)."""
    datasets = list(dict.fromkeys(r.dataset for r in results))
    conditions = list(dict.fromkeys(r.condition for r in results))
    table = {(r.condition, r.dataset): r.metrics.get(metric) for r in results}
    rows = []
    for condition in conditions:
        values = [table.get((condition, d)) for d in datasets]
        present = [v for v in values if v is not None]
        mean = float(np.mean(present)) if len(present) == len(datasets) else None
        rows.append([condition] + values + ([mean] if len(datasets) > 1 else []))
    headers = ["condition"] + datasets + (["mean"] if len(datasets) > 1 else [])
    return headers, rows


def comparisons(results: Sequence[ConditionResult], metric: str = "nDCG@10") -> list[dict]:
    """Every hybrid against every single retriever on the same dataset, with paired p-values."""
    from .significance import compare

    out = []
    by_dataset: dict[str, list[ConditionResult]] = {}
    for r in results:
        by_dataset.setdefault(r.dataset, []).append(r)
    for dataset, group in by_dataset.items():
        singles = [r for r in group if r.condition in SINGLE]
        hybrids = [r for r in group if r.condition not in SINGLE]
        for hybrid in hybrids:
            for single in singles:
                stats = compare(hybrid.per_query[metric], single.per_query[metric])
                out.append({"dataset": dataset, "a": hybrid.condition, "b": single.condition, "metric": metric, **stats})
    return out


def _fmt(value) -> str:
    if value is None:
        return "–"
    if isinstance(value, float):
        return f"{value:.4f}"
    return str(value)


def markdown_table(headers: Sequence[str], rows: Sequence[Sequence]) -> str:
    lines = ["| " + " | ".join(headers) + " |", "|" + "|".join("---" if i == 0 else "---:" for i in range(len(headers))) + "|"]
    lines += ["| " + " | ".join(_fmt(v) for v in row) + " |" for row in rows]
    return "\n".join(lines)


def markdown_report(results: Sequence[ConditionResult], metrics: Sequence[str], compare_rows: list[dict], title: str) -> str:
    parts = [f"# {title}", ""]
    for metric in metrics:
        headers, rows = matrix_rows(results, metric)
        parts += [f"## {metric}", "", markdown_table(headers, rows), ""]
    parts += ["## Latency (single query, in process) and batch throughput", ""]
    lat_rows = [[r.dataset, r.condition, r.latency_p50_ms, r.latency_p99_ms, round(r.throughput_qps, 1), r.num_queries, r.self_hits_removed] for r in results]
    parts += [markdown_table(["dataset", "condition", "p50 ms", "p99 ms", "batch q/s", "queries", "self-hits removed"], lat_rows), ""]
    if compare_rows:
        parts += ["## Paired comparisons (hybrid vs single retriever)", ""]
        rows = [[c["dataset"], c["a"], c["b"], c["metric"], c["mean_a"], c["mean_b"], c["diff"], c["wins"], c["losses"], c["p_ttest"], c["p_permutation"]] for c in compare_rows]
        parts += [markdown_table(["dataset", "A", "B", "metric", "A", "B", "A−B", "A wins", "B wins", "p (t-test)", "p (permutation)"], rows), ""]
    return "\n".join(parts)


def _png(fig) -> str:
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=110, bbox_inches="tight")
    import matplotlib.pyplot as plt

    plt.close(fig)
    return base64.b64encode(buffer.getvalue()).decode()


def plots(results: Sequence[ConditionResult], metric: str = "nDCG@10") -> dict[str, str]:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    images = {}
    datasets = list(dict.fromkeys(r.dataset for r in results))
    conditions = list(dict.fromkeys(r.condition for r in results))
    table = {(r.condition, r.dataset): r for r in results}

    fig, ax = plt.subplots(figsize=(max(6, 1.2 * len(datasets) * len(conditions) / 2), 4))
    width = 0.8 / len(conditions)
    for i, condition in enumerate(conditions):
        values = [table[(condition, d)].metrics.get(metric, 0) if (condition, d) in table else 0 for d in datasets]
        ax.bar(np.arange(len(datasets)) + i * width, values, width, label=condition)
    ax.set_xticks(np.arange(len(datasets)) + width * (len(conditions) - 1) / 2, datasets)
    ax.set_ylabel(metric)
    ax.set_title(f"{metric} per condition")
    ax.legend(fontsize=8, ncol=2)
    images["bars"] = _png(fig)

    for dataset in datasets:
        group = [r for r in results if r.dataset == dataset]
        singles = [r for r in group if r.condition in SINGLE]
        hybrids = [r for r in group if r.condition not in SINGLE]
        if not singles or not hybrids:
            continue
        best_single = max(singles, key=lambda r: r.metrics[metric])
        best_hybrid = max(hybrids, key=lambda r: r.metrics[metric])
        qids = sorted(best_hybrid.per_query[metric])
        diffs = np.sort([best_hybrid.per_query[metric][q] - best_single.per_query[metric].get(q, 0.0) for q in qids])[::-1]
        fig, ax = plt.subplots(figsize=(7, 3.2))
        ax.bar(np.arange(len(diffs)), diffs, width=1.0, color=np.where(diffs >= 0, "#2b8a3e", "#c92a2a"))
        ax.axhline(0, color="black", linewidth=0.6)
        ax.set_xlabel("queries (sorted)")
        ax.set_ylabel(f"Δ {metric}")
        ax.set_title(f"{dataset}: {best_hybrid.condition} − {best_single.condition} per query")
        images[f"diff-{dataset}"] = _png(fig)

    timed = [r for r in results if np.isfinite(r.latency_p50_ms) and r.latency_p50_ms > 0]
    if not timed:  # --latency-sample 0: nothing to plot
        return images
    fig, ax = plt.subplots(figsize=(6, 4))
    for r in timed:
        ax.scatter(r.latency_p50_ms, r.metrics.get(metric, 0), s=30)
        ax.annotate(f"{r.dataset}/{r.condition}", (r.latency_p50_ms, r.metrics.get(metric, 0)), fontsize=7, xytext=(3, 3), textcoords="offset points")
    ax.set_xscale("log")
    ax.set_xlabel("p50 latency per query (ms, log scale)")
    ax.set_ylabel(metric)
    ax.set_title(f"Latency vs {metric}")
    images["latency"] = _png(fig)
    return images


def html_report(markdown: str, images: dict[str, str], title: str) -> str:
    """A self-contained HTML page: the tables (as preformatted markdown) and the plots inline."""
    figures = "\n".join(f'<figure><img alt="{html.escape(name)}" src="data:image/png;base64,{data}"><figcaption>{html.escape(name)}</figcaption></figure>' for name, data in images.items())
    return f"""<!doctype html><html><head><meta charset="utf-8"><title>{html.escape(title)}</title>
<style>body{{font-family:system-ui,sans-serif;max-width:1100px;margin:2em auto;padding:0 1em;color:#222}}
pre{{background:#f6f8fa;padding:1em;overflow-x:auto;font-size:13px}}figure{{display:inline-block;margin:1em}}img{{max-width:100%}}</style>
</head><body><h1>{html.escape(title)}</h1>{figures}<pre>{html.escape(markdown)}</pre></body></html>
"""


def write_reports(results: Sequence[ConditionResult], out_dir: Path, metrics: Sequence[str], title: str) -> dict[str, Path]:
    compare_rows = comparisons(results)
    markdown = markdown_report(results, metrics, compare_rows, title)
    md_path = out_dir / "results.md"
    md_path.write_text(markdown + "\n", encoding="utf-8")
    html_path = out_dir / "report.html"
    html_path.write_text(html_report(markdown, plots(results), title), encoding="utf-8")
    return {"markdown": md_path, "html": html_path}
