"""`tandem fuse` and `tandem eval --run` on runs made elsewhere; `tandem eval` refusing an index of
another corpus; `--build` building what the requested modes need, checked before any work."""
import argparse
import json

import pytest

from tandem.eval.metrics import evaluate
from tandem.eval.runs import read_run
from tandem.index.errors import TandemError
from tandem.cli import main

from conftest import TINY_DOCS, write_jsonl

QUERIES = {"q1": ("vitamin deficiency bones", "d3"), "q2": ("tower in paris", "d1"), "q3": ("oxidative phosphorylation", "d5")}


def beir_folder(root, qrels: dict[str, str], docs=TINY_DOCS):
    (root / "qrels").mkdir(parents=True)
    write_jsonl(root / "corpus.jsonl", docs)
    write_jsonl(root / "queries.jsonl", [{"_id": q, "text": text} for q, (text, _) in QUERIES.items()])
    (root / "qrels" / "test.tsv").write_text("query-id\tcorpus-id\tscore\n" + "".join(f"{q}\t{d}\t1\n" for q, d in qrels.items()))
    return root


@pytest.fixture
def runs(tmp_path):
    a = tmp_path / "a.trec"
    a.write_text("q1 Q0 d3 1 3.0 x\nq1 Q0 d1 2 2.0 x\nq1 Q0 d2 3 1.0 x\nq2 Q0 d4 1 5.0 x\nq2 Q0 d1 2 4.0 x\n")
    b = tmp_path / "b.trec"
    b.write_text("q1 Q0 d1 1 0.9 y\nq1 Q0 d3 2 0.5 y\nq2 Q0 d1 1 0.8 y\nq3 Q0 d5 1 0.7 y\n")
    qrels = tmp_path / "qrels.tsv"
    qrels.write_text("query-id\tcorpus-id\tscore\n" + "".join(f"{q}\t{d}\t1\n" for q, (_, d) in QUERIES.items()))
    return a, b, qrels


def test_fuse_rrf_and_weighted_sum_by_hand(runs, tmp_path, capsys):
    a, b, _ = runs
    out = tmp_path / "rrf.trec"
    assert main(["fuse", f"a={a}", f"b={b}", "--out", str(out)]) == 0
    fused = read_run(out)
    assert fused["q1"] == pytest.approx({"d3": 1 / 61 + 1 / 62, "d1": 1 / 62 + 1 / 61, "d2": 1 / 63})
    assert fused["q2"] == pytest.approx({"d4": 1 / 61, "d1": 1 / 62 + 1 / 61}) and fused["q3"] == pytest.approx({"d5": 1 / 61})
    first = out.read_text().splitlines()[0].split()
    assert first[:4] == ["q1", "Q0", "d1", "1"] and first[5] == "tandem-fuse-rrf"  # d1 and d3 tie: doc id ascending
    assert "fused 2 runs (a, b) over 3 queries" in capsys.readouterr().out

    out = tmp_path / "wsum.trec"
    assert main(["fuse", f"a={a}", f"b={b}", "--method", "wsum", "--weights", "a=0.25,b=1", "-k", "2", "--out", str(out)]) == 0
    printed = capsys.readouterr().out
    assert "weights a=0.25, b=1" in printed
    # min-max per run and query; a document missing from a run gets that run's minimum (0)
    assert read_run(out)["q1"] == pytest.approx({"d1": 0.25 * 0.5 + 1.0, "d3": 0.25 * 1.0 + 0.0})


@pytest.mark.parametrize("extra, message", [(["--weights", "c=1"], "'c' is not the name of a run"), (["--weights", "a=-1"], "must be a finite number >= 0"),
                                            (["--rrf-k", "0"], "rrf_k must be")])
def test_fuse_refuses_bad_settings_in_one_line(runs, tmp_path, capsys, extra, message):
    a, b, _ = runs
    out = tmp_path / "fused.trec"
    assert main(["fuse", f"a={a}", f"b={b}", "--out", str(out)] + extra) == 2
    err = capsys.readouterr().err
    assert message in err and len(err.strip().splitlines()) == 1 and not out.exists()


def test_eval_of_runs_made_elsewhere(runs, tmp_path, capsys):
    a, b, qrels = runs
    out = tmp_path / "out"
    assert main(["eval", "--run", f"b={b}", "--run", str(a), "--qrels", str(qrels), "--metrics", "R@100,nDCG@10", "--out", str(out)]) == 0
    saved = json.loads((out / "metrics.json").read_text())
    judgments = {q: {d: 1} for q, (_, d) in QUERIES.items()}
    for row, path in zip(saved["results"], (b, a)):
        expected = evaluate(read_run(path), judgments, ["R@100", "nDCG@10"], remove_self_hits=False).mean
        assert row["metrics"] == pytest.approx(expected) and row["run_file"] == str(path)
    assert [r["condition"] for r in saved["results"]] == ["b", "a"] and saved["baseline"] == "b"
    markdown = (out / "results.md").read_text()
    assert "Paired comparisons on R@100: each condition against b — qrels" in markdown and "\n| a | b | " in markdown


def test_eval_refuses_a_run_of_another_dataset(runs, tmp_path, capsys):
    a, _, qrels = runs
    other = tmp_path / "other.trec"
    other.write_text("x1 Q0 d1 1 1.0 t\nq1 Q0 d3 1 1.0 t\n")
    args = ["eval", "--run", str(other), "--qrels", str(qrels), "--metrics", "R@100", "--out", str(tmp_path / "out")]
    assert main(args) == 2
    err = capsys.readouterr().err.strip()
    assert err == (f"tandem: error: {other}: only 1 of 3 judged queries have hits in the run (33.3%), below 50%: "
                   "the run was probably made for another dataset or split than qrels/test; pass --force to evaluate anyway")
    assert main(args + ["--force"]) == 0


@pytest.mark.parametrize("args, message", [
    (["--run", "a.trec"], "--dataset D or --qrels FILE"),
    (["--run", "a.trec", "--qrels", "q.tsv", "--modes", "bm25"], "--build, --index and --modes do not apply"),
    (["--dataset", "scifact", "--metrics", "nDCG@10,Recall@5"], "unknown metric 'Recall@5'"),
])
def test_eval_flag_errors_before_any_work(tmp_path, capsys, args, message):
    assert main(["eval", "--out", str(tmp_path / "out")] + args) == 2
    assert message in capsys.readouterr().err
    assert not (tmp_path / "out").exists()


def test_eval_refuses_an_index_of_another_corpus(tiny_if_index, tmp_path, capsys):
    other = beir_folder(tmp_path / "other", {"q1": "x3", "q2": "x1", "q3": "x5"})
    args = ["eval", "--dataset", str(other), "--index", str(tiny_if_index), "--modes", "sparse", "--latency-sample", "0", "-k", "10"]
    assert main(args + ["--out", str(tmp_path / "refused")]) == 2
    err = capsys.readouterr().err
    assert f"{tiny_if_index}: only 0 of 3 judged documents are in the index (0.0%), below 50%: the index was probably built from another corpus" in err
    assert len(err.strip().splitlines()) == 1 and not (tmp_path / "refused").exists()
    assert main(args + ["--force", "--out", str(tmp_path / "forced")]) == 0
    assert json.loads((tmp_path / "forced" / "metrics.json").read_text())["judged_documents_in_index"] == {"other": 0.0}

    same = beir_folder(tmp_path / "same", {q: d for q, (_, d) in QUERIES.items()})
    assert main(["eval", "--dataset", str(same), "--index", str(tiny_if_index), "--modes", "sparse", "--latency-sample", "0", "-k", "10",
                 "--out", str(tmp_path / "same-out")]) == 0
    assert "same: 3 of 3 judged documents are in the index (100.0%)" in capsys.readouterr().out


def eval_args(**overrides):
    values = dict(modes=None, build=True, sparse="splade-tiny", sparse_mode="inference-free", dense="minilm-l6", bm25=False, max_length=256)
    return argparse.Namespace(**{**values, **overrides})


@pytest.mark.parametrize("modes, built", [
    ("bm25", (None, None, True, False)),
    ("sparse,hybrid-rrf:sparse+bm25", ("splade-tiny", None, True, False)),
    ("impact", ("splade-tiny", None, False, True)),
    ("dense,hybrid", ("splade-tiny", "minilm-l6", False, False)),  # a hybrid with no list: what the build options give
    (None, ("splade-tiny", "minilm-l6", False, False)),
])
def test_build_plan_builds_what_the_modes_need(tmp_path, modes, built):
    from tandem.commands.eval_cmd import _build_plan

    config = _build_plan(eval_args(modes=modes), "tiny", tmp_path / "idx", tmp_path / "corpus.jsonl")
    assert (config.sparse, config.dense, config.bm25, config.lucene_impact) == built
    assert not (tmp_path / "idx").exists()


@pytest.mark.parametrize("overrides, where, message", [
    ({"modes": "sparse", "sparse": None}, "--sparse", "--modes needs the sparse retriever but --sparse is none"),
    ({"modes": "colbert"}, "--modes", "--build can build sparse, dense, bm25, impact, not colbert"),
    ({"build": False}, "idx", "no index here"),
])
def test_build_plan_refuses_before_any_work(tmp_path, overrides, where, message):
    from tandem.commands.eval_cmd import _build_plan

    with pytest.raises(TandemError, match=message) as info:
        _build_plan(eval_args(**overrides), "tiny", tmp_path / "idx", tmp_path / "corpus.jsonl")
    assert info.value.where.endswith(where)


@pytest.mark.lucene
def test_eval_build_bm25_builds_only_bm25(tmp_path, capsys):
    dataset = beir_folder(tmp_path / "tiny", {q: d for q, (_, d) in QUERIES.items()})
    index = tmp_path / "idx"
    assert main(["eval", "--dataset", str(dataset), "--index", str(index), "--modes", "bm25", "--build", "--latency-sample", "0", "-k", "10",
                 "--out", str(tmp_path / "out")]) == 0
    assert "tiny: building bm25 at" in capsys.readouterr().out
    from tandem.retrieval.searcher import Searcher

    assert Searcher.open(index).retrievers == ["bm25"]
    results = json.loads((tmp_path / "out" / "metrics.json").read_text())["results"]
    assert [r["condition"] for r in results] == ["bm25"] and results[0]["metrics"]["R@1000"] == 1.0  # every relevant doc shares words with its query


@pytest.mark.parametrize("command, flags", [("eval", ["--run", "--qrels", "--force", "50%"]), ("fuse", ["--method", "--weights", "--out"])])
def test_help_explains_the_new_flags(capsys, command, flags):
    assert main([command, "--help"]) == 0
    printed = capsys.readouterr().out
    assert all(flag in printed for flag in flags) and "default: None" not in printed
