"""Each kind of bad input: a one-line error naming file and line (or parameter), exit 2, no output."""
import json

import pytest

from tandem.index.corpus import read_corpus
from tandem.index.errors import InputError
from tandem.cli import main


@pytest.mark.parametrize(
    "content, message, line",
    [
        (b'{"_id": "a", "text": "x"}\n{"_id": "b", "text": \n', "malformed JSON", 2),
        (b'{"_id": "a", "text": "x"}\n{"text": "no id"}\n', "missing '_id'", 2),
        (b'{"_id": "a", "text": "x"}\n{"_id": "c"}\n{"_id": "a", "text": "y"}\n', "duplicate _id 'a'", 3),
        (b'{"_id": "a", "text": "caf\xe9"}\n', "not valid UTF-8", 1),
        (b'[1, 2]\n', "expected a JSON object", 1),
    ],
)
def test_corpus_errors_name_file_and_line(tmp_path, content, message, line):
    path = tmp_path / "corpus.jsonl"
    path.write_bytes(content)
    with pytest.raises(InputError) as info:
        read_corpus(path)
    assert message in str(info.value)
    assert info.value.where == f"{path}:{line}"


def test_empty_corpus(tmp_path):
    path = tmp_path / "corpus.jsonl"
    path.write_text("\n")
    with pytest.raises(InputError, match="corpus is empty"):
        read_corpus(path)


def test_empty_text_is_indexed_and_counted(tmp_path):
    from tandem.index.corpus import CorpusStats

    path = tmp_path / "c.jsonl"
    path.write_text(json.dumps({"_id": "a", "title": "", "text": ""}) + "\n" + json.dumps({"_id": 2, "text": "y"}) + "\n")
    stats = CorpusStats()
    docs = read_corpus(path, stats)
    assert [d.doc_id for d in docs] == ["a", "2"] and stats.num_empty == 1


def run_cli(capsys, *args):
    code = main(list(args))
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def test_cli_bad_corpus_exit_2_and_no_output(tmp_path, capsys):
    corpus = tmp_path / "corpus.jsonl"
    corpus.write_text('{"_id": "a", "text": "fine"}\n{"_id": "a", "text": "dup"}\n')
    out = tmp_path / "idx"
    code, _, err = run_cli(capsys, "index", "build", "--corpus", str(corpus), "--out", str(out), "--dense", "none")
    assert code == 2
    assert err.strip().count("\n") == 0 and f"{corpus}:2" in err and "duplicate" in err
    assert not out.exists() and not list(tmp_path.glob(".idx*"))


def test_cli_missing_model_path(tmp_path, tiny_corpus, capsys):
    out = tmp_path / "idx"
    code, _, err = run_cli(capsys, "index", "build", "--corpus", str(tiny_corpus), "--out", str(out), "--sparse", str(tmp_path / "nope"), "--dense", "none")
    assert code == 2 and "model path does not exist" in err and str(tmp_path / "nope") in err
    assert not out.exists()


def test_cli_not_an_index(tmp_path, capsys):
    code, _, err = run_cli(capsys, "search", "--index", str(tmp_path), "anything")
    assert code == 2 and "not a Tandem index" in err


def test_cli_empty_query(tiny_index, capsys):
    code, _, err = run_cli(capsys, "search", "--index", str(tiny_index), "  ")
    assert code == 2 and "query is empty" in err
    code, _, err = run_cli(capsys, "search", "--index", str(tiny_index), "[CLS]")
    assert code == 2 and "only special tokens" in err


def test_cli_unknown_dataset(tmp_path, capsys):
    code, _, err = run_cli(capsys, "index", "build", "--corpus", "no-such-set", "--out", str(tmp_path / "i"), "--data-dir", str(tmp_path))
    assert code == 2 and "no-such-set" in err
