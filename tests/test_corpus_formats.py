"""Corpus input in every supported format (BEIR, pyserini JSON lines, TSV, CSV, Parquet, each gzipped too),
format detection, field options, the all-empty error and corpus resolution in folders."""
from __future__ import annotations

import argparse
import gzip
import itertools
import json
from pathlib import Path

import pytest

from tandem.index.corpus import CorpusOptions, CorpusStats, Document, detect_format, iter_corpus, read_corpus
from tandem.index.errors import InputError, TandemError
from tandem.index.limits import MAX_DOC_ID_CHARS
from tandem.retrieval.datasets import CORPUS_FILE_NAMES, resolve_corpus, resolve_dataset
from tandem.commands.common import add_corpus_options, corpus_options_from_args

EXPECTED = [
    Document("d1", "Eiffel Tower", "The tower is in Paris."),
    Document("d2", "Photosynthesis", "Plants, water, and light."),
]
EXPECTED_NO_TITLE = [Document(d.doc_id, "", d.text) for d in EXPECTED]


def write(path: Path, text: str, compress: bool = False) -> Path:
    data = text.encode("utf-8")
    path.write_bytes(gzip.compress(data) if compress else data)
    return path


def jsonl(records: list[dict]) -> str:
    return "".join(json.dumps(r) + "\n" for r in records)


BEIR_TEXT = jsonl([{"_id": d.doc_id, "title": d.title, "text": d.text, "metadata": {}} for d in EXPECTED])
PYSERINI_TEXT = jsonl([{"id": d.doc_id, "contents": d.text} for d in EXPECTED])
TSV2_TEXT = "".join(f"{d.doc_id}\t{d.text}\n" for d in EXPECTED)
TSV3_TEXT = "".join(f"{d.doc_id}\t{d.title}\t{d.text}\n" for d in EXPECTED)
CSV_TEXT = "id,title,text\n" + "".join(f'{d.doc_id},{d.title},"{d.text}"\n' for d in EXPECTED)


@pytest.mark.parametrize("compress", [False, True], ids=["plain", "gzip"])
@pytest.mark.parametrize(
    "name, text, expected, fmt",
    [
        ("corpus.jsonl", BEIR_TEXT, EXPECTED, "beir"),
        ("docs.jsonl", PYSERINI_TEXT, EXPECTED_NO_TITLE, "jsonl"),
        ("collection.tsv", TSV2_TEXT, EXPECTED_NO_TITLE, "tsv"),
        ("corpus.tsv", TSV3_TEXT, EXPECTED, "tsv"),
        ("corpus.csv", CSV_TEXT, EXPECTED, "csv"),
    ],
)
def test_text_formats_read_the_same_documents(tmp_path, name, text, expected, fmt, compress):
    path = write(tmp_path / (name + (".gz" if compress else "")), text, compress)
    stats = CorpusStats()
    assert read_corpus(path, stats) == expected
    assert stats.num_docs == 2 and stats.num_empty == 0
    assert stats.format == fmt + ("+gzip" if compress else "")


def test_pyserini_json_collection_is_not_empty(tmp_path):
    """Issue 14: {"id", "contents"} used to build an index of empty documents."""
    path = write(tmp_path / "docs00.json", PYSERINI_TEXT)
    docs = read_corpus(path)
    assert [d.contents for d in docs] == [d.text for d in EXPECTED]


def test_tsv_header_row_names_the_columns(tmp_path):
    rows = "".join(f"{d.text}\t{d.doc_id}\t{d.title}\n" for d in EXPECTED)
    path = write(tmp_path / "corpus.tsv", "body\tdocid\tTitle\n" + rows)
    assert read_corpus(path) == EXPECTED


def test_tsv_field_options_match_header_names_ignoring_case(tmp_path):
    path = write(tmp_path / "corpus.tsv", "DocID\tAbstract\nA1\tsome words\n")
    assert read_corpus(path, options=CorpusOptions(id_field="docid", text_field="abstract")) == [Document("A1", "", "some words")]


def test_tsv_first_row_of_data_is_not_a_header(tmp_path):
    """MS MARCO's collection.tsv starts with a document, not a header."""
    path = write(tmp_path / "collection.tsv", "0\tThe presence of communication amid scientific minds\n1\ttext\n")
    assert [d.doc_id for d in read_corpus(path)] == ["0", "1"]


def test_csv_quoted_fields_with_commas_and_newlines(tmp_path):
    path = write(tmp_path / "corpus.csv", 'doc_id,body,title\nd1,"a, b\nand c",T\nd2,"say ""hi""",\n')
    assert read_corpus(path) == [Document("d1", "T", "a, b\nand c"), Document("d2", "", 'say "hi"')]


def test_csv_and_jsonl_field_options(tmp_path):
    csv_path = write(tmp_path / "corpus.csv", "key,abstract,name,text\nk1,the abstract,N,ignored\n")
    options = CorpusOptions(id_field="key", title_field="name", text_field="abstract")
    assert read_corpus(csv_path, options=options) == [Document("k1", "N", "the abstract")]
    json_path = write(tmp_path / "corpus.jsonl", jsonl([{"pid": 7, "passage": "p", "headline": "h"}]))
    assert read_corpus(json_path, options=CorpusOptions(title_field="headline")) == [Document("7", "h", "p")]


def parquet_file(path: Path, columns: dict[str, list]) -> Path:
    pa = pytest.importorskip("pyarrow")
    import pyarrow.parquet as pq

    pq.write_table(pa.table(columns), path)
    return path


def test_parquet_by_column_name(tmp_path):
    path = parquet_file(tmp_path / "corpus.parquet", {"text": [d.text for d in EXPECTED], "id": [1, 2], "title": [d.title for d in EXPECTED]})
    stats = CorpusStats()
    docs = read_corpus(path, stats)
    assert docs == [Document("1", EXPECTED[0].title, EXPECTED[0].text), Document("2", EXPECTED[1].title, EXPECTED[1].text)]
    assert stats.format == "parquet"


def test_parquet_gzipped_and_with_field_options(tmp_path):
    plain = parquet_file(tmp_path / "x.parquet", {"key": ["a", "b"], "abstract": ["one", None]})
    gz = tmp_path / "corpus.parquet.gz"
    gz.write_bytes(gzip.compress(plain.read_bytes()))
    docs = read_corpus(gz, options=CorpusOptions(id_field="key", text_field="abstract"))
    assert docs == [Document("a", "", "one"), Document("b", "", "")]


def test_parquet_without_pyarrow_names_the_package(tmp_path, monkeypatch):
    import sys

    path = write(tmp_path / "corpus.parquet", "PAR1")
    monkeypatch.setitem(sys.modules, "pyarrow", None)
    monkeypatch.setitem(sys.modules, "pyarrow.parquet", None)
    with pytest.raises(InputError) as info:
        read_corpus(path)
    assert "'pyarrow'" in info.value.message and "tandem-retrieval[parquet]" in info.value.message
    assert info.value.where == str(path)


@pytest.mark.parametrize(
    "name, content, expected",
    [
        ("corpus.JSONL", BEIR_TEXT, "jsonl"),
        ("corpus.txt", TSV2_TEXT, "tsv"),
        ("corpus", BEIR_TEXT, "jsonl"),
        ("corpus.data", CSV_TEXT, "csv"),
        ("corpus.tab.gz", TSV2_TEXT, "tsv"),
    ],
)
def test_format_detected_from_name_then_content(tmp_path, name, content, expected):
    path = write(tmp_path / name, content, compress=name.endswith(".gz"))
    assert detect_format(path) == expected


def test_format_detected_from_parquet_magic(tmp_path):
    path = parquet_file(tmp_path / "corpus.bin", {"id": ["a"], "text": ["t"]})
    assert detect_format(path) == "parquet"
    assert read_corpus(path) == [Document("a", "", "t")]


def test_explicit_format_overrides_the_name(tmp_path):
    path = write(tmp_path / "corpus.txt", CSV_TEXT)
    assert read_corpus(path, options=CorpusOptions(format="csv")) == EXPECTED


def test_undetectable_format_asks_for_format(tmp_path):
    path = write(tmp_path / "corpus.dat", "just words\n")
    with pytest.raises(InputError, match="give --format") as info:
        read_corpus(path)
    assert info.value.where == str(path)


def test_all_empty_documents_is_an_error_naming_the_file(tmp_path):
    """A pyserini file read as BEIR has no 'text': every document would be empty."""
    path = write(tmp_path / "corpus.jsonl", PYSERINI_TEXT)
    with pytest.raises(InputError) as info:
        read_corpus(path, options=CorpusOptions(format="beir", id_field="id"))
    assert info.value.where == str(path)
    assert "all 2 documents are empty" in info.value.message and "id, contents" in info.value.message
    assert "\n" not in str(info.value)


def test_all_empty_when_no_known_text_field(tmp_path):
    path = write(tmp_path / "corpus.jsonl", jsonl([{"_id": "a", "abstract_text": "words"}]))
    with pytest.raises(InputError, match="the first record has _id, abstract_text"):
        read_corpus(path)
    assert read_corpus(path, options=CorpusOptions(text_field="abstract_text")) == [Document("a", "", "words")]


def test_some_empty_documents_are_kept_and_counted(tmp_path):
    path = write(tmp_path / "corpus.tsv", "a\t\nb\ttext\n")
    stats = CorpusStats()
    assert [d.doc_id for d in read_corpus(path, stats)] == ["a", "b"] and stats.num_empty == 1


def test_header_only_csv_is_an_empty_corpus(tmp_path):
    path = write(tmp_path / "corpus.csv", "id,text\n")
    with pytest.raises(InputError, match="corpus is empty"):
        read_corpus(path)


def test_longest_id_and_spaces_when_allowed(tmp_path):
    long_id = "x" * MAX_DOC_ID_CHARS
    path = write(tmp_path / "corpus.jsonl", jsonl([{"_id": long_id, "text": "t"}, {"_id": "two words", "text": "u"}]))
    docs = read_corpus(path, options=CorpusOptions(allow_id_spaces=True))
    assert [d.doc_id for d in docs] == [long_id, "two words"]


def test_utf8_bom_is_ignored(tmp_path):
    path = tmp_path / "corpus.csv"
    path.write_bytes(b"\xef\xbb\xbf" + CSV_TEXT.encode("utf-8"))
    assert read_corpus(path) == EXPECTED


def test_iter_corpus_streams_the_gzipped_scale_corpus(data_dir):
    path = data_dir / "scale" / "pkgsum" / "corpus.jsonl.gz"
    if not path.is_file():
        pytest.skip(f"{path} is not in the data dir")
    stats = CorpusStats()
    first = list(itertools.islice(iter_corpus(path, stats=stats), 1000))
    assert len(first) == 1000 == stats.num_docs and len({d.doc_id for d in first}) == 1000
    assert stats.format == "beir+gzip"
    with gzip.open(path, "rt", encoding="utf-8") as handle:
        head = json.loads(handle.readline())
    assert first[0] == Document(head["_id"], head["title"], head["text"])


# -- finding the corpus file in a folder ------------------------------------------------------------

@pytest.mark.parametrize("name", ["corpus.jsonl.gz", "collection.tsv", "docs.jsonl", "corpus.csv"])
def test_resolve_corpus_finds_the_usual_names_in_a_folder(tmp_path, name):
    folder = tmp_path / "mine"
    folder.mkdir()
    (folder / "queries.jsonl").write_text("{}\n")
    write(folder / name, "x", compress=name.endswith(".gz"))
    assert name in CORPUS_FILE_NAMES
    assert resolve_corpus(str(folder)) == folder / name


def test_resolve_corpus_prefers_beir_corpus_jsonl(tmp_path):
    for name in ("collection.tsv", "corpus.jsonl.gz", "corpus.jsonl"):
        (tmp_path / name).write_text("x")
    assert resolve_corpus(str(tmp_path)) == tmp_path / "corpus.jsonl"


def test_folder_without_corpus_says_what_it_looked_for(tmp_path):
    """Issue 13 item 7: it used to say 'dataset not found in data dir'."""
    folder = tmp_path / "mine"
    folder.mkdir()
    (folder / "docs00.json").write_text("{}\n")
    for data in (None, str(tmp_path)):
        with pytest.raises(InputError) as info:
            resolve_corpus(str(folder), data)
        message = info.value.message
        assert f"no corpus file in folder {folder}" in message
        assert "corpus / collection / documents / docs" in message and "docs00.json" in message
        assert "not found in data dir" not in message


def test_dataset_name_resolves_to_a_gzipped_corpus(tmp_path):
    folder = tmp_path / "beir" / "packages"
    folder.mkdir(parents=True)
    write(folder / "corpus.jsonl.gz", BEIR_TEXT, compress=True)
    assert resolve_corpus("packages", tmp_path) == folder / "corpus.jsonl.gz"
    assert resolve_dataset("packages", tmp_path).corpus == folder / "corpus.jsonl.gz"
    assert read_corpus(resolve_corpus("packages", tmp_path)) == EXPECTED


def test_unknown_name_lists_the_folders_looked_in(tmp_path):
    with pytest.raises(InputError) as info:
        resolve_corpus("nothing-here", tmp_path)
    assert str(tmp_path / "beir" / "nothing-here") in info.value.message


# -- command-line flags -----------------------------------------------------------------------------

def corpus_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser()
    add_corpus_options(parser)
    return parser


def test_corpus_flags_become_options():
    args = corpus_parser().parse_args(["--format", "csv", "--id-field", "key", "--text-field", "body", "--allow-id-spaces"])
    assert corpus_options_from_args(args) == CorpusOptions(format="csv", id_field="key", text_field="body", allow_id_spaces=True)
    assert corpus_options_from_args(corpus_parser().parse_args([])) == CorpusOptions()


def test_corpus_flags_reject_an_empty_field_name():
    with pytest.raises(TandemError) as info:
        corpus_options_from_args(corpus_parser().parse_args(["--text-field", " "]))
    assert info.value.where == "--text-field"


def test_corpus_flags_help_shows_defaults_and_no_none():
    text = corpus_parser().format_help()
    for flag in ("--format", "--id-field", "--title-field", "--text-field", "--allow-id-spaces"):
        assert flag in text
    assert "None" not in text and "default: the first of _id, id" in " ".join(text.split())
