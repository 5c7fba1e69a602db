"""`tandem eval`, `tandem tune-fusion` and `tandem repro` end to end."""
import json

import pytest

from tandem.eval.metrics import evaluate
from tandem.eval.runs import read_run
from tandem.retrieval.datasets import load_split
from tandem.retrieval.searcher import Searcher
from tandem.cli import main

# every test here searches an index of 300 scifact documents with SPLADE, MiniLM and Lucene BM25 (built once, ~1.5 min)
pytestmark = [pytest.mark.slow, pytest.mark.lucene]


@pytest.fixture(scope="module")
def subset_index(scifact_subset, tmp_path_factory):
    root, _, _ = scifact_subset
    index = tmp_path_factory.mktemp("eval") / "idx"
    assert main(["index", "build", "--corpus", str(root), "--out", str(index), "--bm25"]) == 0
    return index


def test_eval_writes_runs_metrics_and_reports(scifact_subset, subset_index, tmp_path, capsys):
    root, qrels, _ = scifact_subset
    out = tmp_path / "out"
    code = main(["eval", "--dataset", str(root), "--index", str(subset_index), "--modes", "bm25,sparse,dense,hybrid-rrf:sparse+dense,hybrid-wsum",
                 "-k", "100", "--latency-sample", "3", "--out", str(out)])
    assert code == 0
    printed = capsys.readouterr().out
    assert "nDCG@10" in printed and "hybrid-rrf:sparse+dense" in printed
    metrics = json.loads((out / "metrics.json").read_text())
    conditions = {r["condition"]: r for r in metrics["results"]}
    assert set(conditions) == {"bm25", "sparse", "dense", "hybrid-rrf:sparse+dense", "hybrid-wsum"}
    eval_set = load_split(str(root), "test")
    for r in conditions.values():  # the stored means are the scores of the written run files
        scored = evaluate(read_run(r["run_file"]), eval_set.qrels, ["nDCG@10"], remove_self_hits=eval_set.shares_id_space)
        assert r["metrics"]["nDCG@10"] == pytest.approx(scored.mean["nDCG@10"]) and r["num_queries"] == len(qrels)
        assert 0 < r["latency_p50_ms"] <= r["latency_p99_ms"]
    assert (out / "results.md").read_text().count("t-test p (Holm)") == 1
    html = (out / "report.html").read_text()
    assert html.count("data:image/png;base64,") == 3  # bars, one difference plot, latency
    assert html.count("<table>") == 3 and "<pre>" not in html  # metrics (one dataset), comparisons, latency
    run_files = list(out.glob("*.trec"))
    assert len(run_files) == 5


def test_tune_fusion_refuses_test_and_saves_choice(scifact_subset, subset_index, capsys, monkeypatch):
    from tandem.retrieval import warmup

    root, _, _ = scifact_subset
    prepared: list[list[str]] = []
    monkeypatch.setattr(warmup, "prepare_search", lambda components, out=None: prepared.append([c.name for c in components]) or 0.0)
    assert main(["tune-fusion", "--dataset", str(root), "--split", "test", "--index", str(subset_index)]) == 2
    assert "refusing" in capsys.readouterr().err
    assert main(["tune-fusion", "--dataset", str(root), "--split", "train", "--index", str(subset_index), "--retrievers", "sparse,nope"]) == 2
    assert "need at least two retrievers the index has" in capsys.readouterr().err
    assert prepared == []  # both refused before any preparation
    assert main(["tune-fusion", "--dataset", str(root), "--split", "train", "--index", str(subset_index), "--retrievers", "sparse,dense", "--weight-step", "0.25"]) == 0
    assert prepared == [["sparse", "dense"]]  # only what the tuning fuses
    saved = json.loads((subset_index / "tuned-fusion" / "sparse+dense.json").read_text())
    assert saved["retrievers"] == ["sparse", "dense"] and saved["method"] in ("rrf", "wsum")
    details = json.loads((subset_index / "tuned-fusion" / "sparse+dense.details.json").read_text())
    best = max(row["nDCG@10"] for row in details["grid"])
    assert details["split"] == "train" and len(details["grid"]) == 5 + 2 * 3  # 5 rrf k, 2 norms x 3 weight pairs
    assert any(row["nDCG@10"] == best and row["config"] == {**row["config"], **{k: saved[k] for k in ("method", "weights")}} for row in details["grid"])


def test_eval_uses_fusion_tuned_for_another_index(scifact_subset, subset_index, tmp_path, capsys, monkeypatch):
    """--tuned-fusion-from: a collection without train/dev queries borrows another index's tuning."""
    from tandem.eval.conditions import save_tuned_fusion
    from tandem.retrieval.fusion import FusionConfig

    root, _, _ = scifact_subset
    donor = tmp_path / "donor"
    chosen = FusionConfig(method="wsum", normalization="minmax", retrievers=["bm25", "dense"], weights={"bm25": 0.8, "dense": 0.2})
    save_tuned_fusion(donor, ["bm25", "dense"], chosen, {"split": "dev"})
    args = ["eval", "--dataset", str(root), "--index", str(subset_index), "--modes", "hybrid-tuned:bm25+dense", "-k", "100", "--latency-sample", "0"]
    assert main(args + ["--out", str(tmp_path / "missing")]) == 2  # this index was never tuned for bm25+dense
    assert "tune-fusion" in capsys.readouterr().err
    assert main(args + ["--tuned-fusion-from", str(donor), "--out", str(tmp_path / "out")]) == 0
    metrics = json.loads((tmp_path / "out" / "metrics.json").read_text())
    assert metrics["tuned_fusion_from"] == str(donor)
    borrowed = metrics["results"][0]["metrics"]["nDCG@10"]
    from tandem.retrieval import warmup

    prepared: list[list[str]] = []
    monkeypatch.setattr(warmup, "prepare_search", lambda components, out=None: prepared.append([c.name for c in components]) or 0.0)
    assert main(["eval", "--dataset", str(root), "--index", str(subset_index), "-k", "100", "--latency-sample", "0", "--modes", "bm25",
                 "--out", str(tmp_path / "bm25")]) == 0
    assert prepared == [["bm25"]]  # the sparse kernels are not prepared for a BM25-only evaluation
    bm25 = json.loads((tmp_path / "bm25" / "metrics.json").read_text())["results"][0]["metrics"]["nDCG@10"]
    assert borrowed != bm25
    eval_set = load_split(str(root), "test")
    hits = Searcher.open(subset_index).batch_search([q.text for q in eval_set.queries], k=100, mode="hybrid", fusion=chosen.model_copy(update={"depth": 100}))
    run = {q.query_id: {h.doc_id: h.score for h in r.hits} for q, r in zip(eval_set.queries, hits)}
    assert borrowed == pytest.approx(evaluate(run, eval_set.qrels, ["nDCG@10"], remove_self_hits=eval_set.shares_id_space).mean["nDCG@10"])


def test_eval_with_one_metric_other_than_ndcg(scifact_subset, subset_index, tmp_path):
    """--metrics R@100 with a hybrid and a single retriever (used to fail with KeyError 'nDCG@10')."""
    root, _, _ = scifact_subset
    out = tmp_path / "out"
    assert main(["eval", "--dataset", str(root), "--index", str(subset_index), "--modes", "bm25,hybrid-rrf:bm25+dense", "--metrics", "R@100",
                 "-k", "100", "--latency-sample", "0", "--out", str(out)]) == 0
    results = json.loads((out / "metrics.json").read_text())["results"]
    assert [set(r["metrics"]) for r in results] == [{"R@100"}, {"R@100"}]
    assert "Paired comparisons on R@100: each hybrid against each single retriever" in (out / "results.md").read_text()


def test_tuned_fusion_matches_fuse(scifact_subset, subset_index):
    """The tuner's vectorised scoring gives the same ranking as the searcher's fuse()."""
    from tandem.eval.tune import tune_fusion
    from tandem.retrieval.fusion import FusionConfig

    root, _, _ = scifact_subset
    eval_set = load_split(str(root), "train")
    searcher = Searcher.open(subset_index)
    best, table = tune_fusion(searcher, eval_set, "train", ["sparse", "dense", "bm25"], weight_step=0.2)
    results = searcher.batch_search([q.text for q in eval_set.queries], k=100, mode="hybrid", fusion=best)
    run = {q.query_id: {h.doc_id: h.score for h in r.hits} for q, r in zip(eval_set.queries, results)}
    measured = evaluate(run, eval_set.qrels, ["nDCG@10"]).mean["nDCG@10"]
    assert measured == pytest.approx(max(row["nDCG@10"] for row in table), abs=1e-9)


def test_repro_quick_bm25_equals_pyserini_2cr(data_dir, tmp_path, capsys):
    """The cheap matrix cells: BM25 flat and multifield on scifact and nfcorpus, to 4 decimals."""
    code = main(["repro", "--quick", "--index-root", str(tmp_path / "indexes"), "--out", str(tmp_path / "runs")])
    printed = capsys.readouterr().out
    assert "✗" not in printed, printed
    assert code == 0 and "10/10 cells reproduce" in printed
