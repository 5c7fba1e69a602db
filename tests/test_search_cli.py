"""`tandem search`: JSON hits as the REST API's, explanations only where a mode has terms, --k1/--b for BM25."""
from __future__ import annotations

import json

import pytest

from conftest import write_jsonl
from tandem.cli import main

QUERY = "vitamin D bone density"


def cli_json(capsys, *args: str) -> dict:
    assert main(["search", *args, "--json"]) == 0
    return json.loads(capsys.readouterr().out)


def test_cli_json_is_the_rest_response(tiny_if_index, capsys):
    from starlette.testclient import TestClient

    from tandem.retrieval.searcher import Searcher
    from tandem.service.app import create_app
    from tandem.service.schemas import HitOut, SearchResponse, TermOut

    cli = cli_json(capsys, "--index", str(tiny_if_index), QUERY, "-k", "3", "--mode", "sparse", "--explain")
    client = TestClient(create_app(Searcher.open(tiny_if_index)), base_url="http://localhost")
    rest = client.post("/search", json={"query": QUERY, "k": 3, "mode": "sparse", "explain": True}).json()
    assert set(cli) == set(rest) == set(SearchResponse.model_fields)
    for hit in cli["hits"]:
        assert set(hit) == set(HitOut.model_fields)
        assert hit["explain"] and all(set(term) == set(TermOut.model_fields) for term in hit["explain"])
    # not only the names: the same hits, fields, highlights and explanations (timings differ)
    assert cli["hits"] == rest["hits"]
    assert cli["hits"][0]["doc_id"] == "d3" and cli["hits"][0]["title"] == "Vitamin D"
    assert {"vitamin", "bone", "density"} <= {t["token"] for t in cli["hits"][0]["explain"]}


def test_table_explain_lists_the_sparse_terms(tiny_if_index, capsys):
    assert main(["search", "--index", str(tiny_if_index), QUERY, "-k", "1", "--mode", "sparse", "--explain"]) == 0
    out = capsys.readouterr().out
    assert "matched sparse terms" in out
    line = next(row for row in out.splitlines() if row.strip().startswith("1 d3:"))
    assert "vitamin=" in line and "bone=" in line


@pytest.mark.slow
def test_explain_in_dense_mode_shows_no_sparse_terms(tiny_index, capsys):
    assert main(["search", "--index", str(tiny_index), QUERY, "-k", "2", "--mode", "dense", "--explain"]) == 0
    captured = capsys.readouterr()
    assert "matched" not in captured.out and "=" not in captured.out
    assert "(no term-level explanation for mode 'dense'" in captured.err
    payload = cli_json(capsys, "--index", str(tiny_index), QUERY, "-k", "2", "--mode", "dense", "--explain")
    assert [hit["explain"] for hit in payload["hits"]] == [None, None]
    hybrid = cli_json(capsys, "--index", str(tiny_index), QUERY, "-k", "2", "--explain")
    assert hybrid["mode"] == "hybrid" and all(hit["explain"] for hit in hybrid["hits"])  # hybrid: its sparse retriever's terms


@pytest.mark.parametrize("flags, where, fragment", [
    (["--k1", "-0.1"], "--k1", "between 0 and 100"),
    (["--k1", "nan"], "--k1", "between 0 and 100"),
    (["--b", "1.5"], "--b", "between 0 and 1"),
    (["--b", "x"], "--b", "expected a number"),
])
def test_bm25_parameters_out_of_range_are_refused(tiny_if_index, capsys, flags, where, fragment):
    assert main(["search", "--index", str(tiny_if_index), QUERY, *flags]) == 2
    err = capsys.readouterr().err
    assert f"argument {where}: " in err and fragment in err and err.count("\n") == 1


def test_bm25_parameters_need_a_bm25_retriever(tiny_if_index, capsys):
    assert main(["search", "--index", str(tiny_if_index), QUERY, "--mode", "sparse", "--b", "0.5"]) == 2
    assert capsys.readouterr().err == "tandem: error: --b: BM25 parameter given, but mode 'sparse' uses no BM25 retriever (it searches: sparse)\n"


# Lengths and term frequencies differ, so both k1 (saturation) and b (length normalisation) change scores.
BM25_DOCS = [
    {"_id": "short", "title": "", "text": "tower in paris"},
    {"_id": "long", "title": "", "text": "tower " + "the city of light has many old streets and bridges " * 6 + "paris"},
    {"_id": "repeat", "title": "", "text": "tower tower tower tower next to the river and the paris paris market"},
    {"_id": "other", "title": "", "text": "bridges over the river"},
]


@pytest.mark.lucene
@pytest.mark.slow
def test_k1_and_b_at_search_time_score_as_a_searcher_opened_with_them(tmp_path, capsys):
    from tandem.index.lucene.bm25 import LuceneBM25Searcher
    from tandem.retrieval.build import BuildConfig, build_index
    from tandem.retrieval.searcher import Searcher

    corpus = write_jsonl(tmp_path / "corpus.jsonl", BM25_DOCS)
    out = tmp_path / "bm25"
    build_index(BuildConfig(corpus=str(corpus), sparse=None, dense=None, bm25=True), out, corpus, log=lambda _: None)
    with Searcher.open(out) as searcher:
        lucene_dir = searcher.root / searcher.manifest.component("bm25").shared_dir

    def scores(*flags: str) -> dict[str, float]:
        return {h["doc_id"]: h["score"] for h in cli_json(capsys, "--index", str(out), "tower paris", "--mode", "bm25", *flags)["hits"]}

    def reference(k1: float, b: float) -> dict[str, float]:
        searcher = LuceneBM25Searcher(lucene_dir, k1=k1, b=b)
        try:
            return dict(searcher.search("tower paris", 10))
        finally:
            searcher.close()

    default, tuned, only_b = scores(), scores("--k1", "2.0", "--b", "1.0"), scores("--b", "0")
    assert default == reference(0.9, 0.4)
    assert tuned == reference(2.0, 1.0) and only_b == reference(0.9, 0.0)
    assert set(default) == set(tuned) == {"short", "long", "repeat"}
    assert all(tuned[d] != default[d] for d in default) and all(only_b[d] != default[d] for d in default)


def test_search_prepares_only_the_retrievers_its_mode_runs(tiny_index, monkeypatch, capsys):
    """`--mode dense` on a sparse + dense index does not compile the sparse kernels; hybrid prepares what it fuses."""
    from tandem.retrieval import warmup

    prepared: list[list[str]] = []
    monkeypatch.setattr(warmup, "prepare_search", lambda components, out=None: prepared.append([c.name for c in components]) or 0.0)
    assert main(["search", "--index", str(tiny_index), QUERY, "-k", "2", "--mode", "dense"]) == 0
    assert main(["search", "--index", str(tiny_index), QUERY, "-k", "2", "--mode", "sparse"]) == 0
    assert main(["search", "--index", str(tiny_index), QUERY, "-k", "2"]) == 0
    assert prepared == [["dense"], ["sparse"], ["sparse", "dense"]]
    assert main(["search", "--index", str(tiny_index), QUERY, "--mode", "bm25"]) == 2  # refused before preparing anything
    assert prepared == [["dense"], ["sparse"], ["sparse", "dense"]]
    assert "mode 'bm25' is not available" in capsys.readouterr().err
