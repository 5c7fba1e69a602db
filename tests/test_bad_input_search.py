"""`tandem search` with bad input: one line naming the flag or file:line, exit 2, no file left behind.

Table-driven: each case gives the arguments (and a queries file's bytes), the exit code, a message
fragment and where the message must point. Cases checked before the index is opened run against a
path that is not an index (which also shows that nothing is loaded before the input is checked);
the others need the tiny inference-free index and are marked slow.
"""
from __future__ import annotations

import argparse
import ast
import io
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tandem.eval.runs import RunWriter, read_run
from tandem.index.errors import TandemError
from tandem.index.progress import progress
from tandem.retrieval.fusion import FusionConfig, override_fusion
from tandem.cli import EXIT_BROKEN_PIPE, build_parser, main
from tandem.commands.search_cmd import describe_fusion

REPO = Path(__file__).resolve().parents[1]
GOOD_QUERIES = b'{"_id": "q1", "text": "Eiffel Tower Paris"}\n{"_id": "q2", "text": "vitamin deficiency"}\n'


def files_under(root: Path) -> set[Path]:
    return {p for p in root.rglob("*") if p.is_file()}


def run_case(tmp_path: Path, capsys, index: Path, args: list[str], queries: bytes | None, queries_name: str):
    """Run ``tandem search`` with ``{index}``, ``{queries}``, ``{run}``, ``{folder}`` filled in; return (code, out, err, new files)."""
    queries_path = tmp_path / queries_name
    if queries is not None:
        queries_path.write_bytes(queries)
    (tmp_path / "folder").mkdir()
    before = files_under(tmp_path)
    names = {"index": str(index), "queries": str(queries_path), "run": str(tmp_path / "out" / "run.trec"), "folder": str(tmp_path / "folder")}
    code = main(["search", *[a.format(**names) for a in args]])
    captured = capsys.readouterr()
    return code, captured.out, captured.err, files_under(tmp_path) - before, names


# name, arguments, queries file bytes (None: no file), message fragment, where (formatted like the arguments)
FILE_CASES = [
    ("empty query text", ["--index", "{index}", "--queries", "{queries}", "--run", "{run}"],
     b'{"_id": "q1", "text": "fine"}\n{"_id": "q2", "text": "   "}\n', "query 'q2' has no text", "{queries}:2"),
    ("invalid UTF-8", ["--index", "{index}", "--queries", "{queries}", "--run", "{run}"],
     b'{"_id": "q1", "text": "fine"}\n\n{"_id": "q2", "text": "caf\xe9"}\n', "not valid UTF-8", "{queries}:3"),
    ("invalid UTF-8 in a TSV", ["--index", "{index}", "--topics", "{queries}", "--output", "{run}"],
     b"q1\tfine\nq2\tcaf\xe9\n", "not valid UTF-8", "{queries}:2"),
    ("duplicate query id", ["--index", "{index}", "--queries", "{queries}", "--run", "{run}"],
     b'{"_id": "q1", "text": "one"}\n{"_id": "q2", "text": "two"}\n{"_id": "q1", "text": "three"}\n',
     "duplicate query id 'q1' (first on line 1)", "{queries}:3"),
    ("query id with a space", ["--index", "{index}", "--queries", "{queries}", "--run", "{run}"],
     b"q 1\tsome text\n", "contains whitespace", "{queries}:1"),
    ("TSV line without text", ["--index", "{index}", "--queries", "{queries}", "--run", "{run}"],
     b"q1\tfine\nq2\n", "expected 'query-id<TAB>text'", "{queries}:2"),
    ("no queries", ["--index", "{index}", "--queries", "{queries}", "--run", "{run}"], b"\n\n", "no queries in the file", "{queries}"),
    ("run is a folder", ["--index", "{index}", "--queries", "{queries}", "--run", "{folder}"], GOOD_QUERIES, "is a folder", "{folder}"),
    ("queries without run", ["--index", "{index}", "--queries", "{queries}"], GOOD_QUERIES, "--queries needs --run", "--run"),
    ("query and queries", ["--index", "{index}", "text", "--queries", "{queries}", "--run", "{run}"], GOOD_QUERIES,
     "either a query text or --queries", "search"),
    ("bad weights syntax", ["--index", "{index}", "--queries", "{queries}", "--run", "{run}", "--weights", "sparse:1"], GOOD_QUERIES,
     "expected name=number pairs", "--weights"),
    ("k of zero", ["--index", "{index}", "text", "-k", "0"], None, "expected a whole number >= 1, got 0", "argument -k/--hits"),
    ("negative batch size", ["--index", "{index}", "text", "--batch-size", "-3"], None, "expected a whole number >= 1", "argument --batch-size"),
]

INDEX_CASES = [
    ("nan weight", ["--index", "{index}", "text", "--weights", "sparse=nan"], None, "must be a finite number >= 0, got nan", "--weights"),
    ("infinite weight", ["--index", "{index}", "text", "--weights", "sparse=inf"], None, "must be a finite number >= 0, got inf", "--weights"),
    ("negative weight", ["--index", "{index}", "text", "--weights", "sparse=-0.5"], None, "must be a finite number >= 0, got -0.5", "--weights"),
    ("misspelt retriever", ["--index", "{index}", "text", "--weights", "sprase=1"], None,
     "unknown retriever(s) 'sprase'; this index has sparse", "--weights"),
    ("nan rrf k", ["--index", "{index}", "text", "--rrf-k", "nan"], None, "rrf_k must be a finite number above 0, got nan", "--rrf-k"),
    ("negative rrf k", ["--index", "{index}", "text", "--rrf-k", "-1"], None, "rrf_k must be a finite number above 0, got -1", "--rrf-k"),
    ("zero rrf k", ["--index", "{index}", "text", "--rrf-k", "0"], None, "rrf_k must be a finite number above 0", "--rrf-k"),
    ("mode the index lacks", ["--index", "{index}", "text", "--mode", "dense"], None, "mode 'dense' is not available", "--mode"),
    ("bad fusion in a run", ["--index", "{index}", "--queries", "{queries}", "--run", "{run}", "--weights", "dense=1"], GOOD_QUERIES,
     "unknown retriever(s) 'dense'", "--weights"),
    ("query of special tokens only", ["--index", "{index}", "--queries", "{queries}", "--run", "{run}", "--batch-size", "2"],
     b'{"_id": "q1", "text": "fine words"}\n{"_id": "q2", "text": "[CLS] [SEP]"}\n', "only special tokens", "{queries}: query 'q2'"),
]


def check_refused(code, out, err, new_files, names, fragment, where) -> None:
    assert code == 2
    assert out == ""
    assert err.count("\n") == 1, err  # exactly one line
    assert fragment in err
    assert where.format(**names) + ":" in err
    assert new_files == set(), new_files  # no run file, no run.trec.tmp


@pytest.mark.parametrize("name, args, queries, fragment, where", FILE_CASES, ids=[c[0] for c in FILE_CASES])
def test_refused_before_the_index_is_opened(tmp_path, capsys, name, args, queries, fragment, where):
    suffix = ".tsv" if queries is not None and b"\t" in queries else ".jsonl"
    not_an_index = tmp_path / "not-an-index"  # opening it would fail with another message
    result = run_case(tmp_path, capsys, not_an_index, args, queries, "queries" + suffix)
    check_refused(*result, fragment, where)


@pytest.mark.slow
@pytest.mark.parametrize("name, args, queries, fragment, where", INDEX_CASES, ids=[c[0] for c in INDEX_CASES])
def test_refused_by_the_index(tiny_if_index, tmp_path, capsys, name, args, queries, fragment, where):
    result = run_case(tmp_path, capsys, tiny_if_index, args, queries, "queries.jsonl")
    check_refused(*result, fragment, where)


@pytest.mark.slow
def test_pyserini_aliases_write_the_same_run(tiny_if_index, tmp_path, capsys):
    queries = tmp_path / "queries.jsonl"
    queries.write_bytes(GOOD_QUERIES)
    ours, theirs = tmp_path / "ours.trec", tmp_path / "theirs.trec"
    assert main(["search", "--index", str(tiny_if_index), "--queries", str(queries), "--run", str(ours), "-k", "3"]) == 0
    assert main(["search", "--index", str(tiny_if_index), "--topics", str(queries), "--output", str(theirs), "--hits", "3",
                 "--batch-size", "1", "--threads", "1"]) == 0
    assert ours.read_text() == theirs.read_text()
    run = read_run(ours)  # the run-file reader accepts it: no duplicate documents, finite scores
    assert sorted(run) == ["q1", "q2"] and max(len(hits) for hits in run.values()) <= 3
    best = {qid: max(hits, key=hits.get) for qid, hits in run.items()}
    assert best == {"q1": "d1", "q2": "d3"}  # the Eiffel Tower and the vitamin D documents
    assert sorted(p.name for p in tmp_path.iterdir()) == ["ours.trec", "queries.jsonl", "theirs.trec"]


@pytest.mark.slow
def test_fusion_flags_in_a_single_retriever_mode_are_reported(tiny_if_index, capsys):
    assert main(["search", "--index", str(tiny_if_index), "Eiffel Tower", "--weights", "sparse=0.5", "--json"]) == 0
    err = capsys.readouterr().err
    assert "note: --weights not used: mode 'sparse' searches one retriever" in err


def test_describe_fusion_names_every_weight_and_what_is_ignored():
    weighted_rrf = FusionConfig(method="rrf", rrf_k=20, weights={"sparse": 0.5})
    line = describe_fusion(weighted_rrf, ["sparse", "dense"], {"weights": {"sparse": 0.5}, "normalization": "zscore"})
    assert line == "fusion: weighted rrf (k=20), weights sparse=0.5, dense=1, depth 100 per retriever (--norm ignored: not used by rrf)"
    wsum = FusionConfig(method="wsum", normalization="zscore")
    line = describe_fusion(wsum, ["sparse", "dense", "bm25"], {"method": "wsum", "rrf_k": 10.0})
    assert line == "fusion: wsum of zscore-normalised scores, weights sparse=1, dense=1, bm25=1, depth 100 per retriever (--rrf-k ignored: not used by wsum)"


def test_override_fusion_merges_weights_and_names_the_field():
    base = FusionConfig(weights={"sparse": 0.3, "dense": 0.7})
    merged = override_fusion(base, {"weights": {"dense": 0.2}, "method": "wsum"}, ["sparse", "dense"], lambda f: f"fusion.{f}")
    assert merged.weights == {"sparse": 0.3, "dense": 0.2} and merged.method == "wsum"
    assert base.weights == {"sparse": 0.3, "dense": 0.7}  # the base is not changed
    cases = [
        ({"rrf_k": float("inf")}, "fusion.rrf_k", "finite number above 0"),
        ({"weights": {"sparse": float("nan")}}, "fusion.weights", "finite number >= 0"),
        ({"weights": {"bm25": 1.0}}, "fusion.weights", "unknown retriever(s) 'bm25'; this index has sparse, dense"),
        ({"retrievers": ["sparse", "impact"]}, "fusion.retrievers", "unknown retriever(s) 'impact'"),
        ({"depth": 0}, "fusion.depth", "depth must be at least 1"),
    ]
    for overrides, where, fragment in cases:
        with pytest.raises(TandemError) as info:
            override_fusion(base, overrides, ["sparse", "dense"], lambda f: f"fusion.{f}")
        assert info.value.where == where and fragment in info.value.message


def test_run_writer_streams_and_leaves_nothing_on_error(tmp_path):
    path = tmp_path / "run.trec"
    with RunWriter(path, tag="t") as writer:
        writer.add("q2", {"b": 1.0, "a": 1.0, "c": 3.0})
        writer.add("q1", {"x": 0.5})
    assert path.read_text().splitlines() == ["q2 Q0 c 1 3.000000 t", "q2 Q0 a 2 1.000000 t", "q2 Q0 b 3 1.000000 t", "q1 Q0 x 1 0.500000 t"]
    before = path.read_text()
    with pytest.raises(TandemError, match="query id given twice"):
        with RunWriter(path) as writer:
            writer.add("q1", {"x": 1.0})
            writer.add("q1", {"y": 1.0})
    assert path.read_text() == before and sorted(p.name for p in tmp_path.iterdir()) == ["run.trec"]
    with pytest.raises(TandemError, match="not finite"):
        with RunWriter(tmp_path / "other.trec") as writer:
            writer.add("q1", {"x": float("nan")})
    assert sorted(p.name for p in tmp_path.iterdir()) == ["run.trec"]


def iter_parsers(parser: argparse.ArgumentParser, name: str = "tandem"):
    yield name, parser
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for child_name, child in action.choices.items():
                yield from iter_parsers(child, f"{name} {child_name}")


def test_every_help_text_explains_every_flag_and_shows_only_real_defaults():
    parsers = dict(iter_parsers(build_parser()))
    assert {"tandem search", "tandem index build", "tandem index info", "tandem eval", "tandem tune-fusion", "tandem repro",
            "tandem serve", "tandem train sparse"} <= set(parsers)
    for name, parser in parsers.items():
        text = parser.format_help()
        assert "(default: None)" not in text, name
        assert "(default: False)" not in text, name
        unexplained = [a.option_strings or a.dest for a in parser._actions if not a.help and not isinstance(a, argparse._SubParsersAction)]
        assert unexplained == [], f"{name}: {unexplained}"
    search_help = parsers["tandem search"].format_help()
    assert "(default: 10)" in search_help and "--hits" in search_help and "--topics" in search_help and "--output" in search_help


class ClosedPipe(io.StringIO):
    """A stdout whose reader has left: every write fails as it does under `| head`."""

    def write(self, text: str) -> int:
        raise BrokenPipeError(32, "Broken pipe")


def test_output_to_a_closed_pipe_ends_quietly(monkeypatch, capsys):
    def print_a_lot(args) -> int:
        for i in range(1000):
            print(f"line {i}")
        return 0

    parser = argparse.ArgumentParser(prog="tandem")
    parser.add_argument("--verbose", action="store_true")
    parser.set_defaults(handler=print_a_lot)
    monkeypatch.setattr("tandem.cli.build_parser", lambda: parser)
    monkeypatch.setattr(sys, "stdout", ClosedPipe())
    assert main([]) == EXIT_BROKEN_PIPE
    assert capsys.readouterr().err == ""


def test_help_to_a_closed_pipe_prints_no_traceback():
    read_end, write_end = os.pipe()
    os.close(read_end)  # like `tandem ... | head` after head has left
    try:
        proc = subprocess.run([sys.executable, "-m", "tandem", "search", "--help"], stdout=write_end, stderr=subprocess.PIPE,
                              cwd=REPO, timeout=120)
    finally:
        os.close(write_end)
    assert proc.returncode in (0, EXIT_BROKEN_PIPE)  # argparse itself ignores the failed write
    assert proc.stderr == b""


@pytest.mark.slow
def test_index_info_json_to_a_closed_pipe_exits_quietly(tiny_if_index):
    read_end, write_end = os.pipe()
    os.close(read_end)
    try:
        proc = subprocess.run([sys.executable, "-m", "tandem", "index", "info", str(tiny_if_index), "--json"], stdout=write_end,
                              stderr=subprocess.PIPE, cwd=REPO, timeout=120)
    finally:
        os.close(write_end)
    assert proc.returncode == EXIT_BROKEN_PIPE
    assert b"Traceback" not in proc.stderr and b"BrokenPipeError" not in proc.stderr


def test_progress_counts_without_a_rate_and_refreshes_while_idle(capsys):
    for _ in progress(range(3), desc="document store", unit="doc", rate=False):
        pass
    err = capsys.readouterr().err
    assert "document store: 3/3 doc" in err and "doc/s" not in err and "s/doc" not in err
    with progress(total=2, desc="encode", unit="doc") as bar:
        bar.update(1)
        capsys.readouterr()
        time.sleep(2.6)  # no update: the background refresh must redraw the elapsed time
        assert "[00:02" in capsys.readouterr().err
        bar.update(1)


LUCENE_BUILD = """
import sys
from pathlib import Path
from tandem.index.corpus import Document
from tandem.index.lucene.bm25 import build_bm25_index
build_bm25_index([Document("a", "", "hello world"), Document("b", "", "other text")], Path(sys.argv[1]))
"""
LUCENE_SEARCH = """
import sys
from pathlib import Path
from tandem.index.lucene.bm25 import LuceneBM25Searcher
print(LuceneBM25Searcher(Path(sys.argv[1])).batch_search(["hello", "text"], ["1", "2"], 3))
"""


def run_python(script: str, index: Path, verbose: str) -> subprocess.CompletedProcess:
    proc = subprocess.run([sys.executable, "-c", script, str(index)], capture_output=True, text=True, cwd=REPO,
                          env={**os.environ, "TANDEM_VERBOSE": verbose}, timeout=300)
    assert proc.returncode == 0, proc.stderr
    return proc


@pytest.mark.slow
@pytest.mark.lucene
def test_lucene_logging_is_quiet_unless_verbose(tmp_path):
    index = tmp_path / "bm25"
    build = run_python(LUCENE_BUILD, index, "0")
    search = run_python(LUCENE_SEARCH, index, "0")
    hits = ast.literal_eval(search.stdout.strip())  # stdout holds the results and nothing else
    assert {qid: [doc for doc, _ in ranked] for qid, ranked in hits.items()} == {"1": ["a"], "2": ["b"]}
    for noise in ("INFO", "SLF4J", "MemorySegmentIndexInput"):
        assert noise not in build.stderr and noise not in search.stderr
    # --verbose (TANDEM_VERBOSE=1) shows them again, on stderr only
    assert "SLF4J" in run_python(LUCENE_BUILD, tmp_path / "bm25-verbose", "1").stderr
    verbose_search = run_python(LUCENE_SEARCH, index, "1")
    assert "INFO: Using MemorySegmentIndexInput" in verbose_search.stderr
    assert verbose_search.stdout == search.stdout
