"""Evaluation reports: the metric tables, paired comparisons with Holm-adjusted p-values, latency,
as Markdown (``results.md``) and as a self-contained HTML page with plots (``report.html``).

Every table works for any list of metrics. Comparisons use the first metric asked for (the
primary one): every hybrid against every single retriever of the same dataset, or, with a
``baseline`` condition (e.g. ``tandem eval --run``), every other condition against it. Their
p-values are Holm-adjusted over all comparisons of the table (the raw value is shown beside).
"""
from __future__ import annotations

import html
from pathlib import Path
from typing import Sequence

import numpy as np

from .formatting import Table, best_per_column
from .harness import ConditionResult, is_hybrid  # noqa: F401  (is_hybrid: part of this module's API)
from .plots import Figure, plots  # noqa: F401  (plots: part of this module's API)


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


def _pairs(group: Sequence[ConditionResult], baseline: str | None) -> list[tuple[ConditionResult, ConditionResult]]:
    if baseline is not None:
        base = [r for r in group if r.condition == baseline]
        return [(r, base[0]) for r in group if base and r.condition != baseline]
    singles = [r for r in group if not is_hybrid(r.condition)]
    return [(hybrid, single) for hybrid in group if is_hybrid(hybrid.condition) for single in singles]


def comparisons(results: Sequence[ConditionResult], metric: str = "nDCG@10", baseline: str | None = None) -> list[dict]:
    """Paired comparisons on ``metric``: hybrids against single retrievers (or every condition
    against ``baseline``) per dataset, with raw and Holm-adjusted p-values (``p_ttest_holm``,
    ``p_permutation_holm``; the family is every comparison returned)."""
    from .significance import compare, holm

    out = []
    by_dataset: dict[str, list[ConditionResult]] = {}
    for r in results:
        by_dataset.setdefault(r.dataset, []).append(r)
    for dataset, group in by_dataset.items():
        for a, b in _pairs([r for r in group if metric in r.per_query], baseline):
            out.append({"dataset": dataset, "a": a.condition, "b": b.condition, "metric": metric, **compare(a.per_query[metric], b.per_query[metric])})
    for test in ("p_ttest", "p_permutation"):
        for row, adjusted in zip(out, holm([row[test] for row in out])):
            row[f"{test}_holm"] = adjusted
    return out


def markdown_table(headers: Sequence[str], rows: Sequence[Sequence]) -> str:
    """A Markdown table of raw values: floats with 4 decimals, other values as they are."""
    kinds = ["metric" if any(isinstance(row[i], float) for row in rows) else "text" for i in range(len(headers))]
    return Table("", list(headers), kinds, [list(row) for row in rows]).markdown()


def _queries(results: Sequence[ConditionResult]) -> str:
    counts = {r.dataset: r.num_queries for r in results}
    return "; ".join(f"{dataset}: {n} queries" for dataset, n in counts.items())


def metric_table(results: Sequence[ConditionResult], metric: str) -> Table:
    """One metric: rows = conditions, columns = datasets (+ their mean)."""
    headers, rows = matrix_rows(results, metric)
    return Table(f"{metric} ({_queries(results)})", headers, ["text"] + ["metric"] * (len(headers) - 1), rows,
                 note="The best value of each column is in bold.", best=best_per_column(rows, range(1, len(headers))))


def metrics_table(results: Sequence[ConditionResult], metrics: Sequence[str]) -> Table:
    """One dataset: rows = conditions, columns = metrics."""
    rows = [[r.condition] + [r.metrics.get(m) for m in metrics] for r in results]
    return Table(f"{results[0].dataset}, {results[0].split} split ({results[0].num_queries} queries)", ["condition", *metrics],
                 ["text"] + ["metric"] * len(metrics), rows, note="The best value of each column is in bold.",
                 best=best_per_column(rows, range(1, len(metrics) + 1)))


def latency_table(results: Sequence[ConditionResult]) -> Table:
    rows = [[r.dataset, r.condition, r.latency_p50_ms, r.latency_p99_ms, r.throughput_qps, r.num_queries, r.self_hits_removed] for r in results]
    return Table("Latency of one query at a time (in process) and batch throughput",
                 ["dataset", "condition", "p50 ms", "p99 ms", "batch q/s", "queries", "self-hits removed"],
                 ["text", "text", "ms", "ms", "qps", "int", "int"], rows,
                 note="– : not measured (--latency-sample 0, or a run made elsewhere).")


def comparison_table(compare_rows: Sequence[dict], baseline: str | None = None) -> Table:
    metric = compare_rows[0]["metric"]
    what = f"each condition against {baseline}" if baseline else "each hybrid against each single retriever"
    rows = [[c["dataset"], c["a"], c["b"], c["mean_a"], c["mean_b"], c["diff"], c["wins"], c["losses"],
             c["p_ttest_holm"], c["p_ttest"], c["p_permutation_holm"], c["p_permutation"]] for c in compare_rows]
    return Table(
        f"Paired comparisons on {metric}: {what}",
        ["dataset", "A", "B", "A", "B", "A − B", "A better", "B better", "t-test p (Holm)", "raw", "perm. p (Holm)", "raw"],
        ["text", "text", "text", "metric", "metric", "diff", "int", "int", "p", "p", "p", "p"], rows,
        note=f"Two-sided paired t-test and permutation (randomisation) test over queries. p-values are Holm-adjusted over the "
             f"{len(rows)} comparisons of this table; 'raw' is the unadjusted value of one comparison alone.",
    )


def _without_dataset_column(table: Table) -> Table:
    """The table without its first (dataset) column when every row has the same dataset (named in the caption)."""
    datasets = {row[0] for row in table.rows}
    if len(datasets) != 1:
        return table
    return Table(f"{table.caption} — {datasets.pop()}", table.headers[1:], table.kinds[1:], [row[1:] for row in table.rows], table.note,
                 {i - 1: v for i, v in table.best.items() if i > 0})


def report_tables(results: Sequence[ConditionResult], metrics: Sequence[str], compare_rows: Sequence[dict], baseline: str | None = None) -> dict[str, Table]:
    """The report's tables by key: ``metrics`` (one dataset) or ``metric:<name>`` for each metric,
    then ``comparisons`` and ``latency``."""
    if len({r.dataset for r in results}) == 1:
        tables = {"metrics": metrics_table(results, metrics)}
    else:
        tables = {f"metric:{m}": metric_table(results, m) for m in metrics}
    if compare_rows:
        tables["comparisons"] = _without_dataset_column(comparison_table(compare_rows, baseline))
    tables["latency"] = _without_dataset_column(latency_table(results))
    return tables


def markdown_report(tables: dict[str, Table], title: str) -> str:
    parts = [f"# {title}", ""]
    for table in tables.values():
        parts += [f"## {table.caption}", "", table.markdown(), ""] + ([table.note, ""] if table.note else [])
    return "\n".join(parts)


_STYLE = """body{font-family:system-ui,sans-serif;max-width:1200px;margin:2em auto;padding:0 1em;color:#222;line-height:1.4}
table{border-collapse:collapse;margin:1.5em 0 .4em;font-size:14px;font-variant-numeric:tabular-nums}
caption{caption-side:top;text-align:left;font-weight:600;padding-bottom:.4em;white-space:nowrap}
th,td{padding:.25em .6em;border-bottom:1px solid #ddd;text-align:left;vertical-align:top}
th{border-bottom:2px solid #999}.num{text-align:right;white-space:nowrap}tbody tr:hover{background:#f6f8fa}
td:not(.num){overflow-wrap:break-word;max-width:22em}
.note{color:#555;font-size:13px;margin:.2em 0 1.5em}figure{margin:1.5em 0}img{max-width:100%}
figcaption{color:#333;font-size:14px;max-width:60em}.wide{overflow-x:auto}"""


def _figure_html(figure: Figure) -> str:
    caption = html.escape(figure.caption)
    return f'<figure><img alt="{caption}" src="data:image/png;base64,{figure.png_base64}"><figcaption>{caption}</figcaption></figure>'


def html_report(tables: dict[str, Table], figures: dict[str, Figure], title: str) -> str:
    """A self-contained HTML page: each table, with the figure that belongs to it below it."""
    sections = []
    for key, table in tables.items():
        sections.append(f'<div class="wide">{table.html()}</div>')
        if key == next(iter(tables)) and "bars" in figures:  # the bar chart shows the first metric
            sections.append(_figure_html(figures["bars"]))
        if key == "comparisons":
            sections += [_figure_html(f) for name, f in figures.items() if name.startswith("diff-")]
        if key == "latency" and "latency" in figures:
            sections.append(_figure_html(figures["latency"]))
    return f"""<!doctype html><html><head><meta charset="utf-8"><title>{html.escape(title)}</title>
<meta name="viewport" content="width=device-width,initial-scale=1"><style>{_STYLE}</style>
</head><body><h1>{html.escape(title)}</h1>
{chr(10).join(sections)}
</body></html>
"""


def write_reports(results: Sequence[ConditionResult], out_dir: Path, metrics: Sequence[str], title: str, baseline: str | None = None) -> dict[str, Path]:
    """``results.md`` and ``report.html`` in ``out_dir``; comparisons and plots use ``metrics[0]``."""
    primary = metrics[0]
    compare_rows = comparisons(results, primary, baseline)
    tables = report_tables(results, metrics, compare_rows, baseline)
    md_path = out_dir / "results.md"
    md_path.write_text(markdown_report(tables, title) + "\n", encoding="utf-8")
    html_path = out_dir / "report.html"
    html_path.write_text(html_report(tables, plots(results, primary, baseline), title), encoding="utf-8")
    return {"markdown": md_path, "html": html_path}
