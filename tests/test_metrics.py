"""Metrics against hand-computed values (trec_eval semantics) and against pytrec_eval directly."""
import math

import pytest
import pytrec_eval

from eval.metrics import evaluate, top_k_trec_order
from index.errors import TandemError

QRELS = {"q1": {"d1": 1, "d3": 2}, "q2": {"d9": 1}, "q3": {"d5": 1}}
RUN = {
    "q1": {"d1": 3.0, "d2": 2.0, "d3": 1.0},  # relevant at ranks 1 (gain 1) and 3 (gain 2)
    "q2": {"d8": 5.0, "d9": 4.0},  # relevant at rank 2
    # q3 retrieves nothing: it still counts, with 0 (trec_eval -c)
    "q4": {"x": 1.0},  # not judged: ignored
}


def test_hand_computed_values():
    result = evaluate(RUN, QRELS, ["nDCG@10", "MRR@10", "R@1", "R@100", "P@2", "MAP@1000"])
    # q1: DCG = 1/log2(2) + 2/log2(4) = 2; ideal = 2/log2(2) + 1/log2(3) = 2.6309
    ndcg_q1 = 2 / (2 + 1 / math.log2(3))
    ndcg_q2 = (1 / math.log2(3)) / 1.0
    assert result.per_query["nDCG@10"]["q1"] == pytest.approx(ndcg_q1, abs=1e-4)
    assert result.per_query["nDCG@10"]["q2"] == pytest.approx(ndcg_q2, abs=1e-4)
    assert result.per_query["nDCG@10"]["q3"] == 0.0
    assert result.mean["nDCG@10"] == pytest.approx((ndcg_q1 + ndcg_q2) / 3, abs=1e-4)
    assert result.mean["MRR@10"] == pytest.approx((1 + 0.5 + 0) / 3)
    assert result.per_query["R@1"] == {"q1": 0.5, "q2": 0.0, "q3": 0.0}
    assert result.mean["R@100"] == pytest.approx((1 + 1 + 0) / 3)
    assert result.per_query["P@2"]["q1"] == 0.5
    # AP q1 = (1/1 + 2/3) / 2; q2 = 1/2
    assert result.per_query["MAP@1000"]["q1"] == pytest.approx((1 + 2 / 3) / 2)
    assert result.num_queries == 3


def test_mrr_cut_uses_trec_order():
    run = {"q": {f"d{i:02d}": 1.0 for i in range(20)}}  # all tied
    qrels = {"q": {"d00": 1}}
    # trec_eval breaks ties by doc id descending: d00 is last of 20, outside the top 10.
    assert evaluate(run, qrels, ["MRR@10"]).mean["MRR@10"] == 0.0
    assert list(top_k_trec_order(run["q"], 2)) == ["d19", "d18"]


def test_self_hits_removed_by_default_and_counted():
    run = {"q1": {"q1": 9.0, "d1": 1.0}}
    qrels = {"q1": {"d1": 1}}
    removed = evaluate(run, qrels, ["MRR@10"])
    kept = evaluate(run, qrels, ["MRR@10"], remove_self_hits=False)
    assert removed.mean["MRR@10"] == 1.0 and removed.self_hits_removed == 1
    assert kept.mean["MRR@10"] == 0.5 and kept.self_hits_removed == 0


def test_unknown_metric_and_empty_qrels():
    with pytest.raises(TandemError, match="unknown metric"):
        evaluate(RUN, QRELS, ["BLEU"])
    with pytest.raises(TandemError):
        evaluate(RUN, {}, ["nDCG@10"])


def test_agrees_with_pytrec_eval_directly(data_dir):
    """Cross-check on a real run: our numbers equal pytrec_eval called by hand (to 4 decimals)."""
    import random

    from retrieval.datasets import load_split

    eval_set = load_split("nfcorpus", "test", data_dir)
    rng = random.Random(0)
    docs = sorted({d for rel in eval_set.qrels.values() for d in rel})
    run = {}
    for qid, rel in eval_set.qrels.items():
        picked = rng.sample(docs, 50) + rng.sample(sorted(rel), min(3, len(rel)))
        run[qid] = {d: rng.random() for d in picked}
    ours = evaluate(run, eval_set.qrels, ["nDCG@10", "R@100"])
    theirs = pytrec_eval.RelevanceEvaluator(eval_set.qrels, {"ndcg_cut.10", "recall.100"}).evaluate(run)
    n = len(eval_set.qrels)
    assert round(ours.mean["nDCG@10"], 4) == round(sum(v["ndcg_cut_10"] for v in theirs.values()) / n, 4)
    assert round(ours.mean["R@100"], 4) == round(sum(v["recall_100"] for v in theirs.values()) / n, 4)
