"""Run files round trip; significance tests on known data."""
import numpy as np
import pytest
from scipy import stats

from tandem.eval.runs import read_run, write_run
from tandem.eval.significance import compare, holm, paired_t_test, permutation_test
from tandem.index.errors import InputError


def test_run_round_trip_and_order(tmp_path):
    run = {"q2": {"b": 1.0, "a": 1.0, "c": 3.5}, "q1": {"x": 0.25}}
    path = tmp_path / "run.trec"
    write_run(path, run, tag="t")
    lines = path.read_text().splitlines()
    assert lines[0] == "q1 Q0 x 1 0.250000 t"
    assert [line.split()[2] for line in lines[1:]] == ["c", "a", "b"]  # score desc, then doc id
    assert read_run(path) == {"q1": {"x": 0.25}, "q2": {"c": 3.5, "a": 1.0, "b": 1.0}}


@pytest.mark.parametrize("line, message", [("q1 Q0 d1 1 0.5", "6 columns"), ("q1 Q0 d1 1 high t", "not a number")])
def test_malformed_run_file(tmp_path, line, message):
    path = tmp_path / "bad.trec"
    path.write_text("q1 Q0 d0 1 0.9 t\n" + line + "\n")
    with pytest.raises(InputError, match=message) as info:
        read_run(path)
    assert info.value.where == f"{path}:2"


def test_identical_conditions_have_p_1():
    a = {str(i): float(i % 3) / 3 for i in range(30)}
    assert paired_t_test(a, a) == 1.0 and permutation_test(a, a) == 1.0


def test_clear_shift_is_significant_and_matches_scipy():
    rng = np.random.default_rng(1)
    base = rng.random(50)
    a = {str(i): float(v + 0.2) for i, v in enumerate(base)}
    b = {str(i): float(v + rng.normal(0, 0.05)) for i, v in enumerate(base)}
    x, y = np.array(list(a.values())), np.array([b[k] for k in a])
    assert paired_t_test(a, b) == pytest.approx(stats.ttest_rel(x, y).pvalue)
    assert permutation_test(a, b, permutations=2000) < 0.001
    summary = compare(a, b, permutations=2000)
    assert summary["wins"] > 40 and summary["diff"] == pytest.approx(float((x - y).mean()))


def test_holm():
    assert holm([0.01, 0.04, 0.03]) == pytest.approx([0.03, 0.06, 0.06])


def test_report_plots_skip_latency_when_none_was_measured():
    """--latency-sample 0 leaves latencies NaN: the report has no latency plot, and does not fail."""
    from tandem.eval.harness import ConditionResult
    from tandem.eval.report import plots

    def result(dataset, condition, value, latency):
        return ConditionResult(dataset, "test", condition, 2, {"nDCG@10": value}, {"nDCG@10": {"q1": value, "q2": value}},
                               latency, latency, 1.0, 0, "run.trec")

    nan = float("nan")
    untimed = [result(d, c, v, nan) for d in ("a", "b") for c, v in (("bm25", 0.3), ("hybrid-rrf:bm25+dense", 0.4))]
    images = plots(untimed)
    assert "latency" not in images and "bars" in images and "diff-a" in images
    assert "latency" in plots([result("a", "bm25", 0.3, 1.5), result("a", "dense", 0.4, 7.0)])
