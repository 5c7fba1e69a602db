"""Evaluation: trec_eval-exact metrics, run files, significance, the eval harness and reports."""
from .metrics import DEFAULT_METRICS, EvalResult, evaluate, parse_metric, trec_measure
from .runs import read_run, write_run
from .significance import adjust, compare, mean_difference, paired_t_test, permutation_test

__all__ = [
    "DEFAULT_METRICS", "EvalResult", "evaluate", "parse_metric", "trec_measure",
    "read_run", "write_run",
    "adjust", "compare", "mean_difference", "paired_t_test", "permutation_test",
]
