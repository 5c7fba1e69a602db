"""Paired significance tests on known data."""
from itertools import product

import numpy as np
import pytest
from scipy import stats

from tandem.eval.significance import adjust, bonferroni, compare, holm, mean_difference, paired_t_test, permutation_test
from tandem.index.errors import TandemError


def as_dict(values):
    return {f"q{i:03d}": float(v) for i, v in enumerate(values)}


def shifted(n=50, shift=0.2, seed=1):
    rng = np.random.default_rng(seed)
    base = rng.random(n)
    return as_dict(base + shift), as_dict(base + rng.normal(0, 0.05, n))


def test_identical_conditions_have_p_1():
    a = as_dict(np.arange(30) % 3 / 3)
    assert paired_t_test(a, a) == 1.0 and permutation_test(a, a) == 1.0
    assert mean_difference(a, a) == 0.0
    summary = compare(a, a)
    assert summary["ties"] == 30 and summary["p_ttest"] == 1.0 and summary["p_permutation"] == 1.0


def test_clear_shift_is_significant_and_t_test_matches_scipy():
    a, b = shifted()
    qids = sorted(a)
    x, y = np.array([a[q] for q in qids]), np.array([b[q] for q in qids])
    assert paired_t_test(a, b) == pytest.approx(stats.ttest_rel(x, y).pvalue, rel=1e-12)
    assert paired_t_test(a, b) < 1e-10
    p = permutation_test(a, b)  # 10,000 permutations: none as extreme -> 1 / 10,001
    assert p == pytest.approx(1 / 10_001)
    summary = compare(a, b, permutations=2000)
    assert summary["wins"] > 40 and summary["diff"] == pytest.approx(float((x - y).mean()))
    assert summary["diff"] == pytest.approx(mean_difference(a, b)) and summary["num_queries"] == 50


def test_permutation_test_is_seeded_and_agrees_with_t_test_on_noise():
    rng = np.random.default_rng(7)
    base = rng.random(40)
    a, b = as_dict(base + rng.normal(0, 0.1, 40)), as_dict(base + rng.normal(0.03, 0.1, 40))
    p1 = permutation_test(a, b, permutations=5000, seed=3)
    assert p1 == permutation_test(a, b, permutations=5000, seed=3)  # deterministic
    # a randomisation test and a t-test give similar p-values on well-behaved differences
    assert abs(p1 - paired_t_test(a, b)) < 0.05
    assert p1 != permutation_test(a, b, permutations=5000, seed=4)  # the seed is used


def test_sampled_permutation_p_value_converges_to_the_exact_one():
    diff = np.random.default_rng(11).normal(0.1, 0.3, 14)  # 2^14 = 16,384 sign assignments > 5,000 samples
    observed = abs(diff.mean())
    exact = np.mean([abs((np.array(s) * diff).mean()) >= observed - 1e-12 for s in product((1, -1), repeat=14)])
    sampled = permutation_test(as_dict(diff), as_dict(np.zeros(14)), permutations=5000, seed=0)
    assert abs(sampled - exact) < 4 * np.sqrt(exact * (1 - exact) / 5000)  # within 4 standard errors
    assert sampled * 5001 == pytest.approx(round(sampled * 5001))  # (1 + #extreme) / (1 + permutations)


def test_permutation_test_exact_on_small_samples():
    # 4 queries: 16 sign assignments. diffs (1, 2, 3, 4): only all-plus and all-minus reach |mean| 2.5
    a, b = as_dict([1, 2, 3, 4]), as_dict([0, 0, 0, 0])
    assert permutation_test(a, b) == pytest.approx(2 / 16)
    # brute force on another small vector
    diff = np.array([0.3, -0.1, 0.2, 0.05, -0.02])
    observed = abs(diff.mean())
    exact = np.mean([abs((np.array(s) * diff).mean()) >= observed - 1e-12 for s in product((1, -1), repeat=5)])
    assert permutation_test(as_dict(diff), as_dict(np.zeros(5))) == pytest.approx(exact)


def test_permutation_test_chunks_large_inputs(monkeypatch):
    from tandem.eval import significance

    a, b = shifted(n=5000, shift=0.001, seed=4)  # 2,000 x 5,000 signs
    monkeypatch.setattr(significance, "_BLOCK", 100 * 5000)  # 20 chunks of 100 rows
    chunked = permutation_test(a, b, permutations=2000)
    monkeypatch.setattr(significance, "_BLOCK", 2000 * 5000)  # one chunk
    assert chunked == permutation_test(a, b, permutations=2000)  # the same sign draws, chunked or not
    assert abs(chunked - paired_t_test(a, b)) < 0.02  # with 5,000 queries both tests agree closely


def test_degenerate_inputs():
    const = as_dict([0.5, 0.6, 0.7])
    plus = as_dict([0.6, 0.7, 0.8])  # every difference the same: no variance
    assert paired_t_test(plus, const) == 0.0
    assert np.isnan(paired_t_test(as_dict([1.0]), as_dict([0.0])))
    with pytest.raises(TandemError, match="not on the same queries"):
        paired_t_test({"a": 1.0, "b": 0.0}, {"a": 1.0})
    with pytest.raises(TandemError):
        permutation_test(const, plus, permutations=0)


def test_multiple_comparison_corrections():
    assert holm([0.01, 0.04, 0.03]) == pytest.approx([0.03, 0.06, 0.06])
    assert bonferroni([0.01, 0.04, 0.5]) == pytest.approx([0.03, 0.12, 1.0])
    assert adjust([0.01, 0.04, 0.03], "holm") == holm([0.01, 0.04, 0.03])
    assert adjust([0.2], None) == [0.2]
    with pytest.raises(TandemError):
        adjust([0.1], "fdr")


def test_corrections_skip_tests_that_could_not_run():
    nan = float("nan")
    adjusted = holm([0.01, nan, 0.04, 0.03])  # three comparisons, not four
    assert np.isnan(adjusted[1]) and [adjusted[i] for i in (0, 2, 3)] == pytest.approx([0.03, 0.06, 0.06])
    bonf = bonferroni([0.01, nan, 0.3])
    assert np.isnan(bonf[1]) and [bonf[0], bonf[2]] == pytest.approx([0.02, 0.6])
    assert holm([]) == [] and np.isnan(holm([nan])[0])
