"""Metrics against hand-computed values (trec_eval semantics), run files, and cross-checks against
pytrec_eval called directly and BEIR's EvaluateRetrieval (when the beir package is installed)."""
import copy
import math
import random

import pytest
import pytrec_eval

from tandem.eval.metrics import DEFAULT_METRICS, evaluate, parse_metric, top_k_trec_order, trec_measure
from tandem.eval.runs import format_score, read_run, write_run
from tandem.index.errors import InputError, TandemError

QRELS = {"q1": {"d1": 1, "d3": 2, "d4": 0}, "q2": {"d9": 1}, "q3": {"d5": 1}}
RUN = {
    "q1": {"d1": 3.0, "d2": 2.0, "d3": 1.0, "d4": 0.5},  # relevant at ranks 1 (gain 1) and 3 (gain 2); d4 judged 0
    "q2": {"d8": 5.0, "d9": 4.0},  # relevant at rank 2
    # q3 retrieves nothing: it still counts, with 0 (trec_eval -c)
    "q4": {"x": 1.0},  # not judged: ignored
}


def test_hand_computed_values():
    result = evaluate(RUN, QRELS, ["nDCG@10", "MRR@10", "R@1", "R@100", "P@2", "MAP@1000", "nDCG@1", "MAP", "MRR", "nDCG"])
    # q1: DCG@10 = 1/log2(2) + 2/log2(4) = 2; ideal = 2/log2(2) + 1/log2(3) = 2.6309 (d4, grade 0, adds nothing)
    ndcg_q1 = 2 / (2 + 1 / math.log2(3))
    # q2: DCG = 1/log2(3); ideal = 1
    ndcg_q2 = 1 / math.log2(3)
    assert result.per_query["nDCG@10"]["q1"] == pytest.approx(ndcg_q1, abs=1e-6)
    assert result.per_query["nDCG@10"]["q2"] == pytest.approx(ndcg_q2, abs=1e-6)
    assert result.per_query["nDCG@10"]["q3"] == 0.0
    assert result.mean["nDCG@10"] == pytest.approx((ndcg_q1 + ndcg_q2) / 3, abs=1e-6)  # over all 3 qrels queries
    assert result.mean["nDCG"] == pytest.approx(result.mean["nDCG@10"])
    # nDCG@1, q1: d1 (gain 1) against the ideal d3 (gain 2) = 0.5; q2: d8 not relevant = 0
    assert result.per_query["nDCG@1"] == {"q1": 0.5, "q2": 0.0, "q3": 0.0}
    assert result.mean["MRR@10"] == pytest.approx((1 + 0.5 + 0) / 3)
    assert result.mean["MRR"] == result.mean["MRR@10"]
    # recall: q1 has 2 relevant (d4 is judged but grade 0), 1 in the top 1
    assert result.per_query["R@1"] == {"q1": 0.5, "q2": 0.0, "q3": 0.0}
    assert result.mean["R@100"] == pytest.approx((1 + 1 + 0) / 3)
    assert result.per_query["P@2"] == {"q1": 0.5, "q2": 0.5, "q3": 0.0}
    # AP q1 = (1/1 + 2/3) / 2; q2 = 1/2; q3 = 0
    assert result.per_query["MAP@1000"]["q1"] == pytest.approx((1 + 2 / 3) / 2)
    assert result.mean["MAP@1000"] == pytest.approx(((1 + 2 / 3) / 2 + 0.5) / 3)
    assert result.mean["MAP"] == result.mean["MAP@1000"]
    assert result.num_queries == 3 and set(result.per_query["nDCG@10"]) == {"q1", "q2", "q3"}


def test_absent_query_scores_zero_and_unjudged_ignored():
    qrels = {"a": {"d1": 1}, "b": {"d2": 1}}
    only_a = evaluate({"a": {"d1": 1.0}, "zzz": {"d2": 9.0}}, qrels, ["nDCG@10", "R@100"])
    assert only_a.per_query["nDCG@10"] == {"a": 1.0, "b": 0.0}
    assert only_a.mean == {"nDCG@10": 0.5, "R@100": 0.5}  # mean over both qrels queries
    empty = evaluate({"a": {}}, qrels, ["MRR@10"])
    assert empty.mean["MRR@10"] == 0.0


def test_query_with_no_relevant_document_scores_zero_and_counts():
    # trec_eval (and pytrec_eval) keep a qrels query whose judgments are all 0: it scores 0
    qrels = {"a": {"d1": 1}, "b": {"d2": 0}}
    result = evaluate({"a": {"d1": 1.0}, "b": {"d2": 1.0}}, qrels, ["nDCG@10", "R@10", "MRR@10"])
    assert result.per_query["nDCG@10"] == {"a": 1.0, "b": 0.0}
    assert result.mean == {"nDCG@10": 0.5, "R@10": 0.5, "MRR@10": 0.5}


def test_ties_broken_by_doc_id_descending():
    run = {"q": {f"d{i:02d}": 1.0 for i in range(20)}}  # all tied
    qrels = {"q": {"d00": 1}}
    # trec_eval breaks ties by doc id descending: d00 is last of 20, outside the top 10.
    assert evaluate(run, qrels, ["MRR@10"]).mean["MRR@10"] == 0.0
    assert evaluate(run, qrels, ["MRR"]).mean["MRR"] == pytest.approx(1 / 20)
    assert list(top_k_trec_order(run["q"], 2)) == ["d19", "d18"]
    # the same holds inside pytrec_eval for the cut measures
    assert evaluate(run, {"q": {"d19": 1}}, ["R@1"]).mean["R@1"] == 1.0
    assert evaluate(run, {"q": {"d18": 1}}, ["R@1"]).mean["R@1"] == 0.0


def test_int_scores_and_int_ids_are_accepted():
    run = {"q": {"a": 2, "b": 1}}  # ints: pytrec_eval needs floats, evaluate converts
    assert evaluate(run, {"q": {"b": 1}}, ["MRR@10"]).mean["MRR@10"] == 0.5
    with pytest.raises(TandemError, match="NaN"):
        evaluate({"q": {"a": float("nan")}}, {"q": {"a": 1}}, ["MRR@10"])


def test_relevance_level_applies_to_binary_measures_only():
    qrels = {"q": {"a": 1, "b": 2}}
    run = {"q": {"a": 2.0, "b": 1.0}}
    level2 = evaluate(run, qrels, ["R@1", "MRR@10", "MAP@1000", "nDCG@10"], relevance_level=2)
    level1 = evaluate(run, qrels, ["nDCG@10"])
    assert level2.mean["R@1"] == 0.0 and level2.mean["MRR@10"] == 0.5 and level2.mean["MAP@1000"] == 0.5
    assert level2.mean["nDCG@10"] == level1.mean["nDCG@10"]  # gains as given


def test_self_hits_removed_by_default_and_counted():
    run = {"q1": {"q1": 9.0, "d1": 1.0}, "q2": {"q2": 5.0, "d2": 4.0}}
    qrels = {"q1": {"d1": 1}, "q2": {"d2": 1}}
    removed = evaluate(run, qrels, ["MRR@10"])
    kept = evaluate(run, qrels, ["MRR@10"], remove_self_hits=False)
    assert removed.mean["MRR@10"] == 1.0 and removed.self_hits_removed == 2
    assert kept.mean["MRR@10"] == 0.5 and kept.self_hits_removed == 0
    assert "q1" in run["q1"]  # the caller's run is not modified


def test_metric_names():
    assert parse_metric("nDCG@10") == ("nDCG", 10) and parse_metric("ndcg@5") == ("nDCG", 5)
    assert [trec_measure(m) for m in DEFAULT_METRICS] == ["ndcg_cut_10", "recall_100", "recall_1000", "recip_rank", "map_cut_1000"]
    assert trec_measure("P@20") == "P_20" and trec_measure("MAP") == "map"
    for bad in ("BLEU", "R", "P", "nDCG@0", "MRR@x"):
        with pytest.raises(TandemError, match="unknown metric"):
            parse_metric(bad)


def test_unknown_metric_and_empty_qrels():
    with pytest.raises(TandemError, match="unknown metric"):
        evaluate(RUN, QRELS, ["BLEU"])
    with pytest.raises(TandemError):
        evaluate(RUN, {}, ["nDCG@10"])


# -- run files ------------------------------------------------------------------------------------

def test_run_file_round_trip_is_lossless_and_scores_the_same(tmp_path):
    run = {"q2": {"b": 1.0, "a": 1.0, "c": 3.5}, "q1": {"x": 0.25, "y": 0.1234567891, "z": 1e-9}}
    path = tmp_path / "run.trec"
    write_run(path, run, tag="t")
    lines = path.read_text().splitlines()
    assert lines[0] == "q1 Q0 x 1 0.250000 t"
    assert [line.split()[2] for line in lines[3:]] == ["c", "a", "b"]  # score desc, then doc id
    assert [line.split()[3] for line in lines[3:]] == ["1", "2", "3"]
    assert read_run(path) == run  # exact: 0.1234567891 is not cut to 6 decimals
    assert format_score(0.5) == "0.500000" and float(format_score(0.1234567891)) == 0.1234567891
    qrels = {"q1": {"y": 1}, "q2": {"a": 1}}
    assert evaluate(read_run(path), qrels).mean == evaluate(run, qrels).mean


@pytest.mark.parametrize(
    "line, message",
    [
        ("q1 Q0 d1 1 0.5", "6 columns"),
        ("q1 Q0 d1 1 high t", "not a number"),
        ("q1 Q0 d1 first 0.5 t", "rank 'first' is not an integer"),
        ("q1 Q0 d1 2 nan t", "not finite"),
        ("q1 Q0 d0 2 0.5 t", "appears twice"),
    ],
)
def test_malformed_run_file(tmp_path, line, message):
    path = tmp_path / "bad.trec"
    path.write_text("q1 Q0 d0 1 0.9 t\n\n" + line + "\n")
    with pytest.raises(InputError, match=message) as info:
        read_run(path)
    assert info.value.where == f"{path}:3"


def test_run_file_errors(tmp_path):
    with pytest.raises(InputError, match="not found"):
        read_run(tmp_path / "missing.trec")
    with pytest.raises(InputError, match="whitespace"):
        write_run(tmp_path / "r.trec", {"q": {"doc id": 1.0}})
    assert not (tmp_path / "r.trec").exists() and not (tmp_path / "r.trec.tmp").exists()


# -- cross-checks on real qrels -------------------------------------------------------------------

def random_run(qrels, seed=0, depth=60, ties=True):
    """A run over judged and unjudged docs; scores rounded to 2 decimals so ties occur when asked."""
    rng = random.Random(seed)
    docs = sorted({d for rel in qrels.values() for d in rel})
    run = {}
    for qid, rel in qrels.items():
        picked = set(rng.sample(docs, min(depth, len(docs)))) | set(rng.sample(sorted(rel), min(3, len(rel))))
        run[qid] = {d: round(rng.random(), 2) if ties else rng.random() for d in sorted(picked)}
    return run


def pytrec_means(qrels, run, measures, relevance_level=1):
    scores = pytrec_eval.RelevanceEvaluator(qrels, set(measures), relevance_level=relevance_level).evaluate(run)
    return {key: sum(v[key] for v in scores.values()) / len(qrels) for key in {k for v in scores.values() for k in v}}, scores


@pytest.mark.parametrize("name, split, level", [("nfcorpus", "test", 1), ("scifact", "test", 1), ("msmarco-dl19", "test", 2)])
def test_agrees_with_pytrec_eval_directly(data_dir, name, split, level):
    """Our numbers equal pytrec_eval called by hand, per query and in the mean (4 decimals)."""
    from tandem.retrieval.datasets import load_split

    qrels = load_split(name, split, data_dir).qrels
    run = random_run(qrels, seed=1)
    del run[next(iter(run))]  # one judged query absent from the run: scores 0 in both
    names = ["nDCG@10", "nDCG@100", "R@10", "R@100", "P@5", "MAP@1000"]
    ours = evaluate(run, qrels, names + ["MRR@10"], relevance_level=level)
    graded, graded_per_query = pytrec_means(qrels, run, {"ndcg_cut.10", "ndcg_cut.100"})
    binary, binary_per_query = pytrec_means(qrels, run, {"recall.10", "recall.100", "P.5", "map_cut.1000"}, level)
    theirs = {**graded, **binary}
    for metric in names:
        assert ours.mean[metric] == pytest.approx(theirs[trec_measure(metric)], abs=1e-4), metric
    sample = sorted(graded_per_query)[:20]
    for qid in sample:
        assert ours.per_query["nDCG@10"][qid] == pytest.approx(graded_per_query[qid]["ndcg_cut_10"], abs=1e-9)
        assert ours.per_query["R@100"][qid] == pytest.approx(binary_per_query[qid]["recall_100"], abs=1e-9)
    # MRR@10: recip_rank over each query's first 10 in trec order, computed here by hand
    mrr = 0.0
    for qid, docs in run.items():
        for rank, (doc, _) in enumerate(sorted(docs.items(), key=lambda i: (i[1], i[0]), reverse=True)[:10], start=1):
            if qrels[qid].get(doc, 0) >= level:
                mrr += 1 / rank
                break
    assert ours.mean["MRR@10"] == pytest.approx(mrr / len(qrels), abs=1e-9)


def test_agrees_with_beir(data_dir):
    """BEIR's EvaluateRetrieval (pytrec_eval inside; mean over the queries in the run, so the run has
    every qrels query here) and its MRR@k agree with ours to 4 decimals, self hits removed in both."""
    pytest.importorskip("beir")
    from beir.retrieval.evaluation import EvaluateRetrieval

    from tandem.retrieval.datasets import load_split

    qrels = load_split("nfcorpus", "test", data_dir).qrels
    run = random_run(qrels, seed=2, ties=False)
    first = next(iter(run))
    run[first][first] = 99.0  # a self hit, removed by both
    ours = evaluate(run, qrels, ["nDCG@10", "nDCG@100", "R@100", "P@10", "MAP@100", "MRR@10"])
    assert ours.self_hits_removed == 1
    ndcg, _map, recall, precision = EvaluateRetrieval.evaluate(qrels, copy.deepcopy(run), [10, 100], ignore_identical_ids=True)
    beir_mrr = EvaluateRetrieval.evaluate_custom(qrels, {q: {d: s for d, s in docs.items() if d != q} for q, docs in run.items()}, [10], metric="mrr")
    assert ours.mean["nDCG@10"] == pytest.approx(ndcg["NDCG@10"], abs=1e-4)
    assert ours.mean["nDCG@100"] == pytest.approx(ndcg["NDCG@100"], abs=1e-4)
    assert ours.mean["R@100"] == pytest.approx(recall["Recall@100"], abs=1e-4)
    assert ours.mean["P@10"] == pytest.approx(precision["P@10"], abs=1e-4)
    assert ours.mean["MAP@100"] == pytest.approx(_map["MAP@100"], abs=1e-4)
    assert ours.mean["MRR@10"] == pytest.approx(beir_mrr["MRR@10"], abs=1e-4)
