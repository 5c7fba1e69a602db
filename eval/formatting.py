"""Number formats and tables for evaluation reports: one format per kind of column, rendered as
Markdown (results.md), HTML (report.html) and the terminal (``tandem eval``).

Kinds: ``metric`` (4 decimals), ``diff`` (signed, 4 decimals), ``ms`` (3 significant digits),
``qps`` (1 decimal), ``p`` (3 decimals, ``< 0.001`` below that), ``pct`` (1 decimal and ``%``),
``int`` and ``text``. Missing values (None, NaN) are shown as an en dash.
"""
from __future__ import annotations

import html
import math
from dataclasses import dataclass, field
from typing import Any, Sequence

MISSING = "–"
NUMERIC_KINDS = ("metric", "diff", "ms", "qps", "p", "pct", "int")


def _significant(value: float, digits: int = 3) -> str:
    """``value`` to ``digits`` significant digits in fixed notation (33.9789 -> 34.0, 1234.5 -> 1235)."""
    if value == 0:
        return "0"
    decimals = digits - 1 - math.floor(math.log10(abs(value)))
    return f"{value:.{max(decimals, 0)}f}"


def format_value(value: Any, kind: str = "text") -> str:
    """One cell as text, in the format of its column ``kind`` (see the module docstring)."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return MISSING
    if kind == "text" or isinstance(value, str):
        return str(value)
    value = float(value)
    if math.isinf(value):
        return "∞" if value > 0 else "−∞"
    if kind == "metric":
        return f"{value:.4f}"
    if kind == "diff":
        return f"{value:+.4f}".replace("-", "−")
    if kind == "ms":
        return _significant(value)
    if kind == "qps":
        return f"{value:.1f}"
    if kind == "p":
        return "< 0.001" if value < 0.001 else f"{value:.3f}"
    if kind == "pct":
        return f"{100 * value:.1f}%"
    if kind == "int":
        return str(int(value))
    raise ValueError(f"unknown column kind {kind!r}")


@dataclass
class Table:
    """A report table: a caption, one header and one kind per column, rows of raw values.

    ``best`` marks, per column index, the best value of that column (shown in bold in HTML).
    """

    caption: str
    headers: list[str]
    kinds: list[str]
    rows: list[list[Any]]
    note: str = ""
    best: dict[int, Any] = field(default_factory=dict)

    def cells(self) -> list[list[str]]:
        return [[format_value(value, kind) for value, kind in zip(row, self.kinds)] for row in self.rows]

    def is_best(self, row: Sequence[Any], column: int) -> bool:
        return column in self.best and row[column] is not None and row[column] == self.best[column]

    def markdown(self) -> str:
        lines = ["| " + " | ".join(self.headers) + " |", "|" + "|".join("---:" if k in NUMERIC_KINDS else "---" for k in self.kinds) + "|"]
        for raw, row in zip(self.rows, self.cells()):
            lines.append("| " + " | ".join(f"**{text}**" if self.is_best(raw, i) else text for i, text in enumerate(row)) + " |")
        return "\n".join(lines)

    def html(self) -> str:
        def cell(tag: str, text: str, kind: str, strong: bool = False) -> str:
            css = ' class="num"' if kind in NUMERIC_KINDS else ""
            body = html.escape(text)
            return f"<{tag}{css}>{'<strong>' + body + '</strong>' if strong else body}</{tag}>"

        head = "".join(cell("th", h, k) for h, k in zip(self.headers, self.kinds))
        body = []
        for raw, row in zip(self.rows, self.cells()):
            tds = [cell("td", text, kind, self.is_best(raw, i)) for i, (text, kind) in enumerate(zip(row, self.kinds))]
            body.append("<tr>" + "".join(tds) + "</tr>")
        note = f'<p class="note">{html.escape(self.note)}</p>' if self.note else ""
        return (f"<table><caption>{html.escape(self.caption)}</caption><thead><tr>{head}</tr></thead>"
                f"<tbody>{''.join(body)}</tbody></table>{note}")


def best_per_column(rows: Sequence[Sequence[Any]], columns: Sequence[int]) -> dict[int, Any]:
    """The largest value of each of ``columns`` (ignoring missing values)."""
    best = {}
    for i in columns:
        values = [row[i] for row in rows if isinstance(row[i], (int, float)) and not math.isnan(row[i])]
        if values:
            best[i] = max(values)
    return best
