"""Dataset registry: counts and spot records on the real data dir (ir_datasets-style), plus the
offline/registry error paths on self-made folders (no network: the download URL is a closed port)."""
import json

import pytest

from tandem.retrieval import datasets
from tandem.index.errors import InputError, TandemError
from tandem.retrieval.datasets import (
    BEIR_MD5,
    available_datasets,
    available_query_sets,
    load_split,
    query_set_paths,
    read_qrels,
    read_queries,
    resolve_corpus,
    resolve_dataset,
)


def first_tenth_last(path):
    """Doc ids of records 1, 10 and last, splitting on '\\n' only (some passages hold U+2028)."""
    with open(path, encoding="utf-8", newline="\n") as handle:
        ids = [json.loads(line)["_id"] for line in handle if line.strip()]
    return len(ids), (ids[0], ids[9], ids[-1])


# name, split, judged queries, qrels rows, relevant rows (grade >= 1), docs (None: no corpus on disk)
COUNTS = [
    ("scifact", "test", 300, 339, 339, 5183),
    ("beir/scifact", "train", 809, 919, 919, 5183),
    ("nfcorpus", "test", 323, 12334, 12334, 3633),
    ("nfcorpus", "dev", 324, 11385, 11385, 3633),
    ("msmarco-dl19", "test", 43, 9260, 4102, None),
    ("msmarco-dl20", "test", 54, 11386, 3606, None),
    ("msmarco-dev-small", "dev", 6980, 7437, 7437, None),
    ("dl19-subset5k", "test", 43, 4102, 4102, 5000),
    ("msmarco/dl19-subset5k", "test", 43, 4102, 4102, 5000),
    ("classic/cranfield", "test", 225, 1612, 1612, 1400),
    ("cisi", "test", 76, 3114, 3114, 1460),
    ("classic/med", "test", 30, 696, 696, 1033),
    ("cacm", "test", 52, 796, 796, 3204),
    ("classic/vaswani", "test", 93, 2083, 2083, 11429),
    ("lisa", "test", 35, 379, 379, 5999),
    ("classic/time", "test", 83, 324, 324, 423),
    ("adi", "test", 35, 170, 170, 82),
    ("beir_queries_qrels_only/arguana", "test", 1406, 1406, 1406, None),
    ("beir_queries_qrels_only/fiqa", "test", 648, 1706, 1706, None),
    ("beir_queries_qrels_only/scidocs", "test", 1000, 29928, 4928, None),
    ("beir_queries_qrels_only/trec-covid", "test", 50, 66334, 24673, None),
    ("beir_queries_qrels_only/quora", "test", 10000, 15675, 15675, None),
]


@pytest.mark.parametrize("name, split, queries, judgments, relevant, docs", COUNTS)
def test_counts(data_dir, name, split, queries, judgments, relevant, docs):
    eval_set = load_split(name, split, data_dir)
    report = eval_set.report
    assert (report.num_queries, report.num_judgments, report.num_relevant) == (queries, judgments, relevant)
    assert len(eval_set.queries) == queries and not report.queries_without_text
    assert [q.query_id for q in eval_set.queries] == list(eval_set.qrels)  # only judged queries, qrels order
    assert not report.queries_without_relevant
    assert report.docs_not_in_corpus == 0 and report.ok
    assert report.num_docs == docs
    assert (eval_set.corpus_path is None) == (docs is None)


# dataset folder -> (docs, (first, 10th, last) doc ids) read from the files
SPOT_DOCS = {
    "beir/scifact": (5183, ("4983", "70490", "198309074")),
    "beir/nfcorpus": (3633, ("MED-10", "MED-1009", "MED-999")),
    "msmarco/dl19-subset5k": (5000, ("4380635", "4279298", "7088039")),
    "classic/cranfield": (1400, ("1", "10", "1400")),
    "classic/vaswani": (11429, ("1", "10", "11429")),  # = ir_datasets' sample docs 1, 10, 11429
    "classic/lisa": (5999, ("1", "10", "6004")),
    "classic/time": (423, ("017", "027", "563")),  # zero-padded *TEXT numbers
}


@pytest.mark.parametrize("folder", sorted(SPOT_DOCS))
def test_spot_docs(data_dir, folder):
    assert first_tenth_last(data_dir / folder / "corpus.jsonl") == SPOT_DOCS[folder]


def test_spot_queries_and_qrels(data_dir):
    scifact = load_split("scifact", "test", data_dir)
    assert scifact.queries[0].query_id == "1"
    assert scifact.queries[0].text == "0-dimensional biomaterials show inductive properties."
    assert scifact.qrels["1"] == {"31715818": 1}
    nfcorpus = load_split("nfcorpus", "test", data_dir)
    assert nfcorpus.queries[0].text == "Do Cholesterol Statin Drugs Cause Breast Cancer?"
    cranfield = load_split("cranfield", "test", data_dir)
    assert cranfield.queries[0].text.startswith("what similarity laws must be obeyed when constructing aeroelastic models")
    assert cranfield.qrels["1"]["184"] == 3 and "486" not in cranfield.qrels["1"]  # the -1 "source paper" row is dropped
    assert cranfield.qrels["125"]["995"] >= 1  # points at an empty document, kept
    vaswani = load_split("vaswani", "test", data_dir)
    assert vaswani.queries[0].text == "MEASUREMENT OF DIELECTRIC CONSTANT OF LIQUIDS BY THE USE OF MICROWAVE TECHNIQUES"
    lisa = load_split("lisa", "test", data_dir)
    assert len(lisa.qrels["22"]) == 1 and "5699" in lisa.qrels["22"]  # restored from LISARJ.NUM
    assert len(lisa.qrels["21"]) == 21


def test_msmarco_query_sets(data_dir):
    dl19 = load_split("msmarco-dl19", "test", data_dir)
    assert dl19.corpus_path is None and {q.query_id for q in dl19.queries} == set(dl19.qrels)
    assert dl19.queries[0].query_id == "19335" and dl19.queries[0].text == "anthropological definition of environment"
    assert sorted({r for docs in dl19.qrels.values() for r in docs.values()}) == [0, 1, 2, 3]
    topics, qrels = query_set_paths("msmarco-dl19", data_dir)
    assert topics.name == "topics.dl19-passage.txt" and qrels.name == "qrels.dl19-passage.txt"
    # DL20: 200 topics, only the 54 judged are loaded
    assert len(read_queries(query_set_paths("msmarco-dl20", data_dir)[0])) == 200
    # the dl19 subset: 50 queries on disk, 7 without judgments are left out
    subset = load_split("dl19-subset5k", "test", data_dir)
    assert len(read_queries(resolve_dataset("dl19-subset5k", data_dir).queries)) == 50
    assert {q.query_id for q in subset.queries} == {q.query_id for q in dl19.queries}
    # its positive qrels equal DL19's graded >= 1 judgments
    positives = {q: {d: r for d, r in docs.items() if r >= 1} for q, docs in dl19.qrels.items()}
    assert subset.qrels == positives
    assert set(available_query_sets(data_dir)) >= {"msmarco-dl19", "msmarco-dl20", "msmarco-dev-small", "beir_queries_qrels_only/fiqa"}
    with pytest.raises(InputError, match="only the 'dev' split"):
        load_split("msmarco-dev-small", "test", data_dir)


def test_no_corpus_on_disk_is_said_clearly(data_dir):
    with pytest.raises(InputError, match="no corpus on disk"):
        resolve_dataset("msmarco-dl19", data_dir)
    with pytest.raises(InputError, match="no corpus on disk"):
        resolve_corpus("msmarco-dev-small", data_dir)
    with pytest.raises(InputError, match="no corpus on disk"):
        load_split("msmarco-dl19", "test", data_dir).require_corpus()
    with pytest.raises(InputError, match=r"'fiqa' has no corpus on disk.*beir_queries_qrels_only/fiqa.*download"):
        load_split("fiqa", "test", data_dir)
    assert load_split("scifact", "test", data_dir).require_corpus().name == "corpus.jsonl"


def test_resolution_and_errors(data_dir, tmp_path):
    names = available_datasets(data_dir)
    assert {"scifact", "nfcorpus", "cranfield", "cisi", "med", "cacm", "vaswani", "lisa", "time", "adi", "dl19-subset5k"} <= set(names)
    for name in ("scifact", "beir/scifact", "cranfield", "classic/cranfield", "dl19-subset5k", "msmarco/dl19-subset5k"):
        assert resolve_dataset(name, data_dir).corpus.is_file()
    assert resolve_dataset(str(data_dir / "classic/adi")).root == data_dir / "classic/adi"  # a folder path
    with pytest.raises(InputError, match="no 'dev' split"):
        load_split("scifact", "dev", data_dir)
    with pytest.raises(InputError, match="not found"):
        load_split("fiqa", "test", tmp_path)
    with pytest.raises(InputError, match="not found"):
        resolve_dataset("no-such-set", data_dir)


# -- self-made data: validation report, qrels parsing, download paths (no data dir needed) -----------

def make_beir(root, docs, queries, qrels_rows, split="test"):
    (root / "qrels").mkdir(parents=True)
    (root / "corpus.jsonl").write_text("".join(json.dumps(d) + "\n" for d in docs))
    (root / "queries.jsonl").write_text("".join(json.dumps(q) + "\n" for q in queries))
    (root / "qrels" / f"{split}.tsv").write_text("query-id\tcorpus-id\tscore\n" + "".join(f"{q}\t{d}\t{r}\n" for q, d, r in qrels_rows))
    return root


def test_validation_reports_without_failing(tmp_path):
    root = make_beir(
        tmp_path / "beir" / "toy",
        [{"_id": "d1", "title": "", "text": "a"}, {"_id": 7, "text": "numeric id"}, {"text": "x", "_id": "d\"q"}],
        [{"_id": "q1", "text": "one"}, {"_id": "q2", "text": "two"}, {"_id": "q9", "text": "unjudged"}],
        [("q1", "d1", 1), ("q1", "gone", 1), ("q2", "7", 0), ("q3", "d\"q", 2)],
    )
    eval_set = load_split("toy", "test", tmp_path)
    report = eval_set.report
    assert [q.query_id for q in eval_set.queries] == ["q1", "q2"]  # q9 unjudged, q3 has no text
    assert report.queries_without_text == ["q3"]
    assert report.queries_without_relevant == ["q2"]
    assert report.docs_not_in_corpus == 1 and report.missing_doc_examples == ["gone"]
    assert report.num_docs == 3 and not report.ok
    text = "\n".join(report.lines())
    assert "1 qrels queries have no query text" in text and "1 judged documents are not in the corpus" in text
    assert eval_set.corpus_path == root / "corpus.jsonl"


def test_read_qrels_formats_and_errors(tmp_path):
    trec = tmp_path / "q.txt"
    trec.write_text("1 0 d1 2\n1 0 d2 0\n2 Q0 d3 -1\n")  # TREC, no header
    assert read_qrels(trec) == {"1": {"d1": 2, "d2": 0}, "2": {"d3": -1}}
    bad = tmp_path / "bad.tsv"
    bad.write_text("query-id\tcorpus-id\tscore\nq1\td1\tyes\n")
    with pytest.raises(InputError, match="not an integer") as info:
        read_qrels(bad)
    assert info.value.where == f"{bad}:2"
    bad.write_text("q1\td1\n")
    with pytest.raises(InputError, match="columns"):
        read_qrels(bad)


def test_md5_registry_and_missing_dataset_offline(tmp_path, monkeypatch):
    for name in ("scifact", "nfcorpus", "arguana", "fiqa", "scidocs", "trec-covid", "quora"):
        assert BEIR_MD5[name] is None or len(BEIR_MD5[name]) == 32
    assert BEIR_MD5["scifact"] == "5f7d1de60b170fc8027bb7898e2efca1"
    called = []
    monkeypatch.setattr(datasets, "download_beir", lambda *a, **k: called.append(a))
    with pytest.raises(InputError, match="'fiqa' not found"):
        load_split("fiqa", "test", tmp_path)  # download not allowed: no network attempt
    assert called == []


def test_offline_download_fails_clearly(tmp_path, monkeypatch):
    monkeypatch.setattr(datasets, "BEIR_URL", "http://127.0.0.1:9/{name}.zip")  # discard port: closed
    with pytest.raises(TandemError, match="unreachable") as info:
        load_split("fiqa", "test", tmp_path, download=True)
    assert "'fiqa'" in str(info.value) and "offline" in str(info.value)
    assert not (tmp_path / "beir" / "fiqa").exists()  # nothing half-written


def test_download_verifies_md5_and_unpacks(tmp_path, monkeypatch):
    """The download path end to end against a fake urlopen (no network)."""
    import hashlib
    import io
    import urllib.request
    import zipfile

    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as zf:
        zf.writestr("scifact/corpus.jsonl", '{"_id": "d1", "text": "x"}\n')
        zf.writestr("scifact/queries.jsonl", '{"_id": "q1", "text": "y"}\n')
        zf.writestr("scifact/qrels/test.tsv", "query-id\tcorpus-id\tscore\nq1\td1\t1\n")
    payload = buffer.getvalue()
    monkeypatch.setattr(urllib.request, "urlopen", lambda url, timeout=None: io.BytesIO(payload))
    monkeypatch.setitem(datasets.BEIR_MD5, "scifact", "0" * 32)
    with pytest.raises(InputError, match="md5"):
        load_split("scifact", "test", tmp_path, download=True)
    monkeypatch.setitem(datasets.BEIR_MD5, "scifact", hashlib.md5(payload).hexdigest())
    eval_set = load_split("scifact", "test", tmp_path, download=True)
    assert eval_set.corpus_path == tmp_path / "beir" / "scifact" / "corpus.jsonl"
    assert eval_set.report.ok and eval_set.qrels == {"q1": {"d1": 1}}


def test_self_hit_removal_applies_only_where_ids_share_a_namespace(data_dir):
    # BEIR query and doc ids share one namespace (arguana, quora); classic collections and MS MARCO
    # number queries and documents independently, so doc "1" is not query "1".
    assert load_split("scifact", "test", data_dir).shares_id_space
    assert not load_split("cranfield", "test", data_dir).shares_id_space
    assert not load_split("msmarco-dl19", "test", data_dir).shares_id_space
