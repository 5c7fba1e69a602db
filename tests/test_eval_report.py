"""Evaluation reports: any metric list, Holm-adjusted p-values beside raw ones, readable numbers,
real HTML tables with captions, and a bar chart whose y-axis shows the differences."""
import re

import numpy as np
import pytest

from tandem.eval.formatting import Table, format_value
from tandem.eval.harness import ConditionResult
from tandem.eval.plots import axis_floor
from tandem.eval.report import comparisons, markdown_table, report_tables, write_reports
from tandem.eval.significance import holm, paired_t_test, permutation_test

QIDS = [f"q{i}" for i in range(8)]


def result(condition, values, dataset="scifact", metric="R@100", latency=float("nan")):
    per_query = dict(zip(QIDS, values))
    return ConditionResult(dataset, "test", condition, len(QIDS), {metric: float(np.mean(values))}, {metric: per_query},
                           latency, latency, 5.3 if latency == latency else float("nan"), 0, "run.trec")


BM25 = [0.2, 0.5, 0.1, 0.9, 0.4, 0.3, 0.6, 0.2]
DENSE = [0.3, 0.4, 0.3, 0.8, 0.5, 0.5, 0.6, 0.1]
HYBRID = [0.4, 0.6, 0.3, 1.0, 0.6, 0.5, 0.7, 0.3]


@pytest.mark.parametrize("value, kind, text", [
    (0.712345, "metric", "0.7123"), (-0.01234, "diff", "−0.0123"), (0.5, "diff", "+0.5000"),
    (33.9789, "ms", "34.0"), (1.23456, "ms", "1.23"), (0.045678, "ms", "0.0457"), (1234.5, "ms", "1234"),
    (5.3, "qps", "5.3"), (0.0000, "p", "< 0.001"), (0.00099, "p", "< 0.001"), (0.0123, "p", "0.012"), (1.0, "p", "1.000"),
    (0.875, "pct", "87.5%"), (float("nan"), "ms", "–"), (None, "metric", "–"), (3, "int", "3"), ("bm25", "text", "bm25"),
])
def test_number_formats(value, kind, text):
    assert format_value(value, kind) == text


def test_reports_work_for_a_metric_list_without_ndcg(tmp_path):
    """`tandem eval --metrics R@100` with a hybrid used to crash with KeyError 'nDCG@10'."""
    results = [result("bm25", BM25), result("dense", DENSE), result("hybrid-rrf:bm25+dense", HYBRID)]
    paths = write_reports(results, tmp_path, ["R@100"], "R@100 only")
    markdown = paths["markdown"].read_text()
    assert "nDCG" not in markdown and "Paired comparisons on R@100" in markdown
    assert "| hybrid-rrf:bm25+dense | **0.5500** |" in markdown  # mean of HYBRID, the best, in bold
    page = paths["html"].read_text()
    assert page.count("<table>") == 3 and "<pre>" not in page  # R@100, comparisons, latency
    single_only = write_reports(results[:1], tmp_path, ["R@100"], "one retriever")
    assert "Paired comparisons" not in single_only["markdown"].read_text()


def test_comparisons_carry_holm_adjusted_and_raw_p_values():
    results = [result("bm25", BM25), result("dense", DENSE), result("hybrid", HYBRID)]
    rows = comparisons(results, "R@100")
    assert [(r["a"], r["b"]) for r in rows] == [("hybrid", "bm25"), ("hybrid", "dense")]
    hybrid, bm25, dense = (dict(zip(QIDS, v)) for v in (HYBRID, BM25, DENSE))
    raw_t = [paired_t_test(hybrid, bm25), paired_t_test(hybrid, dense)]
    raw_perm = [permutation_test(hybrid, bm25), permutation_test(hybrid, dense)]
    assert [r["p_ttest"] for r in rows] == pytest.approx(raw_t)
    assert [r["p_ttest_holm"] for r in rows] == pytest.approx(holm(raw_t))
    assert [r["p_permutation_holm"] for r in rows] == pytest.approx(holm(raw_perm))
    table = report_tables(results, ["R@100"], rows)["comparisons"]
    assert table.headers[-4:] == ["t-test p (Holm)", "raw", "perm. p (Holm)", "raw"]
    assert table.cells()[0][-4:] == [format_value(holm(raw_t)[0], "p"), format_value(raw_t[0], "p"),
                                     format_value(holm(raw_perm)[0], "p"), format_value(raw_perm[0], "p")]
    assert "Holm-adjusted over the 2 comparisons" in table.note


def test_baseline_comparisons_for_runs_made_elsewhere():
    results = [result("mine", HYBRID), result("bm25", BM25), result("dense", DENSE)]
    rows = comparisons(results, "R@100", baseline="bm25")
    assert [(r["a"], r["b"]) for r in rows] == [("mine", "bm25"), ("dense", "bm25")]
    assert rows[0]["diff"] == pytest.approx(np.mean(HYBRID) - np.mean(BM25))


def test_html_tables_have_captions_and_right_aligned_numbers():
    table = Table("Latency", ["condition", "p50 ms", "batch q/s", "p"], ["text", "ms", "qps", "p"], [["bm25 <fast>", 33.9789, 5.3, 0.0]])
    page = table.html()
    assert page.startswith("<table><caption>Latency</caption><thead><tr><th>condition</th><th class=\"num\">p50 ms</th>")
    assert "<td>bm25 &lt;fast&gt;</td><td class=\"num\">34.0</td><td class=\"num\">5.3</td><td class=\"num\">&lt; 0.001</td>" in page
    assert markdown_table(["condition", "nDCG@10"], [["bm25", 0.712345], ["dense", None]]) == (
        "| condition | nDCG@10 |\n|---|---:|\n| bm25 | 0.7123 |\n| dense | – |")


def test_report_figures_have_captions_not_ids(tmp_path):
    results = [result("bm25", BM25, latency=1.5), result("hybrid-rrf:bm25+dense", HYBRID, latency=7.25)]
    page = write_reports(results, tmp_path, ["R@100"], "t")["html"].read_text()
    captions = re.findall(r"<figcaption>(.*?)</figcaption>", page)
    assert captions[0].startswith("R@100 per condition and dataset.")
    assert captions[1].startswith("scifact: per-query R@100 of hybrid-rrf:bm25+dense (best hybrid) minus bm25 (best single retriever); 8 queries better, 0 worse")
    assert captions[2].startswith("R@100 against single-query p50 latency")
    assert all(f'alt="{c}"' in page for c in captions)
    assert "<td class=\"num\">7.25</td>" in page and "<td class=\"num\">5.3</td>" in page


def test_bar_chart_axis_starts_near_close_values():
    assert axis_floor([0.71, 0.73, 0.69]) == 0.67  # 0.69 - max(0.04 / 2, 0.02 * 0.73), on a 0.005 step
    assert axis_floor([0.35, 0.41, 0.52]) == 0.25  # 0.35 - 0.17 / 2 = 0.265, down to a 0.05 step
    assert axis_floor([0.2, 0.7]) == 0.0  # far apart: from 0
    assert axis_floor([0.0, 0.0]) == 0.0 and axis_floor([]) == 0.0
