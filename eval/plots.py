"""Report figures (matplotlib, rendered to PNG): the metric per condition and dataset, per-query
differences of the best hybrid against the best single retriever, and latency against quality.
Each figure comes with the caption the report shows under it."""
from __future__ import annotations

import base64
import io
from dataclasses import dataclass
from typing import Sequence

import numpy as np

from .harness import ConditionResult, is_hybrid


@dataclass
class Figure:
    caption: str
    png_base64: str


def _png(fig) -> str:
    import matplotlib.pyplot as plt

    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=110, bbox_inches="tight")
    plt.close(fig)
    return base64.b64encode(buffer.getvalue()).decode()


def axis_floor(values: Sequence[float]) -> float:
    """Where the y-axis of a bar chart starts: 0, unless every value is close to the others
    (the smallest above 60% of the largest), then a little below the smallest, so that the
    differences are visible."""
    finite = [v for v in values if np.isfinite(v)]
    if not finite:
        return 0.0
    low, high = min(finite), max(finite)
    if low <= 0 or low < 0.6 * high:
        return 0.0
    span = high - low
    floor = low - max(0.5 * span, 0.02 * high)
    half_tick = 10 ** np.floor(np.log10(max(high - floor, 1e-12))) / 2  # round down to a readable value
    return float(max(0.0, round(np.floor(floor / half_tick + 1e-9) * half_tick, 12)))


def bar_chart(results: Sequence[ConditionResult], metric: str) -> Figure:
    import matplotlib.pyplot as plt

    datasets = list(dict.fromkeys(r.dataset for r in results))
    conditions = list(dict.fromkeys(r.condition for r in results))
    table = {(r.condition, r.dataset): r.metrics.get(metric, np.nan) for r in results}
    width = 0.8 / len(conditions)
    fig, ax = plt.subplots(figsize=(max(6.0, 0.45 * len(datasets) * len(conditions) + 2), 4))
    values = []
    for i, condition in enumerate(conditions):
        heights = [table.get((condition, d), np.nan) for d in datasets]
        values += heights
        bars = ax.bar(np.arange(len(datasets)) + i * width, np.nan_to_num(heights), width, label=condition)
        ax.bar_label(bars, labels=[f"{h:.3f}" if np.isfinite(h) else "" for h in heights], fontsize=7, rotation=90, padding=2)
    floor = axis_floor(values)
    top = np.nanmax(values) if np.isfinite(values).any() else 1.0
    ax.set_ylim(floor, top + 0.15 * (top - floor) if top > floor else floor + 1.0)  # room for the value labels
    ax.set_xticks(np.arange(len(datasets)) + width * (len(conditions) - 1) / 2, datasets)
    ax.set_ylabel(metric)
    ax.spines[["top", "right"]].set_visible(False)
    ax.legend(fontsize=8, loc="upper left", bbox_to_anchor=(1.01, 1.0), frameon=False)  # beside the bars, never on them
    caption = f"{metric} per condition and dataset."
    if floor > 0:
        caption += f" The y-axis starts at {floor:g}, not 0, so that the differences are visible."
    return Figure(caption, _png(fig))


def difference_chart(dataset: str, better: ConditionResult, reference: ConditionResult, metric: str, against_baseline: bool = False) -> Figure:
    """Per-query differences ``better - reference``, sorted, as green (gain) and red (loss) bars."""
    import matplotlib.pyplot as plt

    qids = sorted(better.per_query[metric])
    diffs = np.sort([better.per_query[metric][q] - reference.per_query[metric].get(q, 0.0) for q in qids])[::-1]
    fig, ax = plt.subplots(figsize=(7, 3.2))
    ax.bar(np.arange(len(diffs)), diffs, width=1.0, color=np.where(diffs >= 0, "#2b8a3e", "#c92a2a"))
    ax.axhline(0, color="black", linewidth=0.6)
    ax.set_xlabel("queries (sorted by difference)")
    ax.set_ylabel(f"Δ {metric}")
    ax.spines[["top", "right"]].set_visible(False)
    wins, losses = int(np.sum(diffs > 1e-12)), int(np.sum(diffs < -1e-12))
    roles = ("best other condition", "baseline") if against_baseline else ("best hybrid", "best single retriever")
    caption = (f"{dataset}: per-query {metric} of {better.condition} ({roles[0]}) minus {reference.condition} ({roles[1]}); "
               f"{wins} queries better, {losses} worse, {len(diffs) - wins - losses} tied.")
    return Figure(caption, _png(fig))


def latency_chart(timed: Sequence[ConditionResult], metric: str) -> Figure:
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6.5, 4))
    for r in timed:
        value = r.metrics.get(metric, np.nan)
        ax.scatter(r.latency_p50_ms, value, s=30)
        ax.annotate(f"{r.dataset}/{r.condition}", (r.latency_p50_ms, value), fontsize=7, xytext=(3, 3), textcoords="offset points")
    ax.set_xscale("log")
    ax.set_xlabel("p50 latency per query (ms, log scale)")
    ax.set_ylabel(metric)
    ax.spines[["top", "right"]].set_visible(False)
    return Figure(f"{metric} against single-query p50 latency (in process): further up and to the left is better.", _png(fig))


def plots(results: Sequence[ConditionResult], metric: str = "nDCG@10", baseline: str | None = None) -> dict[str, Figure]:
    """``bars``; one ``diff-<dataset>`` per dataset: the best hybrid against the best single
    retriever (or, with ``baseline``, the best other condition against it); and ``latency`` when
    latency was measured."""
    import matplotlib

    matplotlib.use("Agg")
    figures = {"bars": bar_chart(results, metric)}
    for dataset in dict.fromkeys(r.dataset for r in results):
        group = [r for r in results if r.dataset == dataset and metric in r.per_query]
        if baseline is None:
            reference, others = [r for r in group if not is_hybrid(r.condition)], [r for r in group if is_hybrid(r.condition)]
        else:
            reference, others = [r for r in group if r.condition == baseline], [r for r in group if r.condition != baseline]
        if reference and others:
            best = [max(side, key=lambda r: r.metrics[metric]) for side in (others, reference)]
            figures[f"diff-{dataset}"] = difference_chart(dataset, *best, metric, baseline is not None)
    timed = [r for r in results if np.isfinite(r.latency_p50_ms) and r.latency_p50_ms > 0]
    if timed:  # --latency-sample 0 or outside runs: nothing to plot
        figures["latency"] = latency_chart(timed, metric)
    return figures
