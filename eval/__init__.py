"""Evaluation: trec_eval-exact metrics, run files, significance, the eval harness and reports."""
from .metrics import DEFAULT_METRICS, EvalResult, evaluate
from .runs import read_run, write_run
from .significance import compare, paired_t_test, permutation_test

__all__ = ["DEFAULT_METRICS", "EvalResult", "evaluate", "read_run", "write_run", "compare", "paired_t_test", "permutation_test"]
