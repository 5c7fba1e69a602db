"""Bad corpus records (issue 13 item 7 and every format of issue 14): each is one InputError line naming
``file:line`` (``file:row N`` for Parquet), and through the CLI exit 2 with nothing left behind."""
from __future__ import annotations

import gzip
import json
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from tandem.index.corpus import CorpusOptions, read_corpus
from tandem.index.errors import InputError
from tandem.index.limits import MAX_DOC_ID_CHARS
from tandem.cli import main
from test_corpus_formats import parquet_file


@dataclass(frozen=True)
class Case:
    name: str
    file_name: str
    content: bytes
    message: str  # a fragment of the error message
    line: int | str  # where, after "file:"; "" for the file itself
    options: CorpusOptions = field(default_factory=CorpusOptions)


def lines(*records: dict | str) -> bytes:
    """JSON lines from dicts (json.dumps) or raw strings (written as given)."""
    return "".join((r if isinstance(r, str) else json.dumps(r)) + "\n" for r in records).encode("utf-8")


OK = {"_id": "ok", "text": "fine"}

CASES = [
    # ids: types, control characters, surrogates, length, whitespace
    Case("id true", "c.jsonl", lines(OK, {"_id": True, "text": "x"}), "'_id' must be a string or an integer, got true", 2),
    Case("id float", "c.jsonl", lines({"_id": 1.5, "text": "x"}), "got 1.5", 1),
    Case("id list", "c.jsonl", lines({"_id": ["a"], "text": "x"}), 'got ["a"]', 1),
    Case("id empty", "c.jsonl", lines(OK, {"_id": "  ", "text": "x"}), "'_id' is empty", 2),
    Case("id newline", "c.jsonl", lines(OK, {"_id": "a\nb", "text": "x"}), "control character '\\n'", 2),
    Case("id tab", "c.jsonl", lines(OK, OK | {"_id": "a\tb"}), "control character '\\t'", 2),
    Case("id line separator", "c.jsonl", lines({"_id": "a\u2028b", "text": "x"}), "control character", 1),
    Case("id lone surrogate", "c.jsonl", lines(OK, r'{"_id": "a\ud800", "text": "x"}'), "lone surrogate", 2),
    Case("id too long", "c.jsonl", lines(OK, {"_id": "x" * (MAX_DOC_ID_CHARS + 1), "text": "x"}), f"at most {MAX_DOC_ID_CHARS}", 2),
    Case("id with space", "c.jsonl", lines(OK, {"_id": "a b", "text": "x"}), "contains whitespace: TREC run", 2),
    Case("id no-break space", "c.jsonl", lines({"_id": "a\u00a0b", "text": "x"}), "contains whitespace", 1),
    Case("id leading space allowed spaces", "c.jsonl", lines({"_id": " a", "text": "x"}), "leading or trailing whitespace", 1, CorpusOptions(allow_id_spaces=True)),
    Case("id missing", "c.jsonl", lines(OK, {"text": "no id"}), "missing '_id'", 2),
    Case("id duplicate", "c.jsonl", lines(OK, {"_id": "b"}, OK), "duplicate _id 'ok' (first on line 1)", 3),
    # title and text: anything but a string (or missing/null) is refused
    Case("title 0", "c.jsonl", lines(OK, {"_id": "b", "title": 0, "text": "x"}), "'title' must be a string, got 0", 2),
    Case("title false", "c.jsonl", lines({"_id": "b", "title": False, "text": "x"}), "'title' must be a string, got false", 1),
    Case("text list", "c.jsonl", lines(OK, {"_id": "b", "text": []}), "'text' must be a string, got []", 2),
    Case("text object", "c.jsonl", lines(OK, {"_id": "b", "text": {}}), "'text' must be a string, got {}", 2),
    Case("text 0", "c.jsonl", lines({"_id": "b", "text": 0}), "'text' must be a string, got 0", 1),
    Case("text lone surrogate", "c.jsonl", lines(OK, r'{"_id": "b", "text": "caf\udce9"}'), "lone surrogate", 2),
    Case("pyserini contents list", "docs.jsonl", lines({"id": "a", "contents": "x"}, {"id": "b", "contents": [1]}), "'contents' must be a string", 2),
    # JSON lines structure
    Case("malformed JSON", "c.jsonl", lines(OK, '{"_id": "b", "text": '), "malformed JSON", 2),
    Case("JSON array file", "c.json", b'[\n{"_id": "a"}\n]\n', "one JSON object per line", 1),
    Case("not UTF-8", "c.jsonl", lines(OK) + b'{"_id": "b", "text": "caf\xe9"}\n', "not valid UTF-8", 2),
    # TSV
    Case("tsv extra tab", "c.tsv", b"1\tone\n2\ttwo\n3\tthree\tand more\n", "expected 2 tab-separated columns (id, text), got 3", 3),
    Case("tsv too many columns", "c.tsv", b"1\ta\tb\tc\n", "expected 2 (id, text) or 3 (id, title, text)", 1),
    Case("tsv duplicate", "c.tsv", b"1\tone\n\n1\tagain\n", "duplicate id '1' (first on line 1)", 3),
    Case("tsv id with space", "c.tsv", b"doc 1\tone\n", "contains whitespace", 1),
    Case("tsv field flag needs header", "c.tsv", b"1\tone\n", "need a header row", 1, CorpusOptions(text_field="body")),
    Case("tsv header then short row", "c.tsv", b"docid\ttitle\ttext\nA\tt\n", "expected 3 tab-separated columns (docid, title, text), got 2", 2),
    Case("tsv not UTF-8", "c.tsv", b"1\tone\n2\tt\xffo\n", "not valid UTF-8", 2),
    # CSV: line numbers count the physical lines (a quoted field may span several)
    Case("csv no id column", "c.csv", b"name,text\na,b\n", "no id column: looked for _id, id", 1),
    Case("csv text flag not in header", "c.csv", b"id,text\na,b\n", "no column 'body' (columns: id, text)", "1 (--text-field)", CorpusOptions(text_field="body")),
    Case("csv short row after multi-line field", "c.csv", b'id,title,text\na,t,"two\nlines"\nb,t\n', "expected 3 comma-separated columns", 4),
    Case("csv duplicate", "c.csv", b"id,text\nx,1\ny,2\nx,3\n", "duplicate id 'x' (first on line 2)", 4),
    Case("csv unterminated quote", "c.csv", b'id,text\na,"open\n', "unexpected end of data", 2),
    Case("csv stray quote", "c.csv", b'id,text\na,"x"y\n', "malformed CSV", 2),
    # whole file
    Case("all documents empty", "c.jsonl", lines({"_id": "a", "text": ""}, {"_id": "b", "title": " "}), "all 2 documents are empty", ""),
    Case("no documents", "c.tsv", b"\n\n", "corpus is empty", ""),
]


@pytest.mark.parametrize("case", CASES, ids=[c.name for c in CASES])
def test_bad_corpus_record_names_file_and_line(tmp_path, case):
    path = tmp_path / case.file_name
    path.write_bytes(case.content)
    with pytest.raises(InputError) as info:
        read_corpus(path, options=case.options)
    assert case.message in info.value.message
    assert info.value.where == (f"{path}:{case.line}" if case.line != "" else str(path))
    assert "\n" not in str(info.value)


def test_gzipped_corpus_reports_the_same_line(tmp_path):
    path = tmp_path / "c.jsonl.gz"
    path.write_bytes(gzip.compress(lines(OK, {"_id": True})))
    with pytest.raises(InputError) as info:
        read_corpus(path)
    assert info.value.where == f"{path}:2" and "got true" in info.value.message


def test_truncated_gzip_is_one_line(tmp_path):
    path = tmp_path / "c.jsonl.gz"
    data = gzip.compress(lines(*({"_id": str(i), "text": "words " * 50} for i in range(200))))
    path.write_bytes(data[: len(data) // 2])
    with pytest.raises(InputError) as info:
        read_corpus(path)
    assert "corrupt or truncated" in info.value.message and info.value.where.startswith(f"{path}:")


@pytest.mark.parametrize(
    "columns, message, where",
    [
        ({"id": ["a", None], "text": ["x", "y"]}, "missing 'id'", "row 2"),
        ({"id": ["a", "b", "a"], "text": ["x", "y", "z"]}, "duplicate id 'a' (first on row 1)", "row 3"),
        ({"id": ["a", "b c"], "text": ["x", "y"]}, "contains whitespace", "row 2"),
        ({"id": [True, False], "text": ["x", "y"]}, "column 'id' has type bool; ids must be strings or integers", None),
        ({"id": ["a"], "text": [3]}, "column 'text' has type int64; it must hold strings", None),
        ({"key": ["a"], "text": ["x"]}, "no id column: looked for _id, id", None),
    ],
)
def test_bad_parquet_names_file_and_row(tmp_path, columns, message, where):
    path = parquet_file(tmp_path / "c.parquet", columns)
    with pytest.raises(InputError) as info:
        read_corpus(path)
    assert message in info.value.message
    assert info.value.where == (f"{path}:{where}" if where else str(path))


def test_not_a_parquet_file(tmp_path):
    pytest.importorskip("pyarrow")
    path = tmp_path / "c.parquet"
    path.write_bytes(b"id,text\n")
    with pytest.raises(InputError, match="not a readable Parquet file") as info:
        read_corpus(path)
    assert info.value.where == str(path)


# -- through the command line ----------------------------------------------------------------------

def test_cli_bad_corpus_one_line_exit_2_nothing_left(tmp_path, capsys):
    corpus = tmp_path / "corpus.jsonl"
    corpus.write_bytes(lines(OK, r'{"_id": "b", "text": "\ud800"}'))
    out = tmp_path / "idx"
    code = main(["index", "build", "--corpus", str(corpus), "--out", str(out), "--dense", "none"])
    err = capsys.readouterr().err
    assert code == 2
    assert err.count("\n") == 1 and err.startswith(f"tandem: error: {corpus}:2: ") and "lone surrogate" in err
    assert left_behind(tmp_path) == ["corpus.jsonl"]


def left_behind(folder: Path) -> list[str]:
    """Names in ``folder`` apart from a writer's lock file (``.<index>.lock``, kept by design)."""
    return sorted(p.name for p in folder.iterdir() if not p.name.endswith(".lock"))


def test_cli_folder_without_corpus(tmp_path, capsys):
    folder = tmp_path / "data"
    folder.mkdir()
    (folder / "queries.jsonl").write_text("{}\n")
    out = tmp_path / "idx"
    code = main(["index", "build", "--corpus", str(folder), "--out", str(out), "--dense", "none"])
    err = capsys.readouterr().err
    assert code == 2 and err.count("\n") == 1
    assert f"no corpus file in folder {folder}" in err and "queries.jsonl" in err
    assert left_behind(tmp_path) == ["data"]
