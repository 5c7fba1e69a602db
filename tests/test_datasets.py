"""Dataset registry: counts and spot records on the real data dir (ir_datasets-style)."""
import pytest

from index.errors import InputError
from retrieval.datasets import available_datasets, load_split, resolve_dataset


@pytest.mark.parametrize(
    "name, split, queries, judgments",
    [
        ("scifact", "test", 300, 339),
        ("scifact", "train", 809, 919),
        ("nfcorpus", "test", 323, 12334),
        ("nfcorpus", "dev", 324, 11385),
        ("msmarco-dl19", "test", 43, 9260),
        ("msmarco-dl20", "test", 54, 11386),
        ("dl19-subset5k", "test", 43, 4102),
        ("cacm", "test", 52, 796),
        ("classic/vaswani", "test", 93, 2083),
    ],
)
def test_counts(data_dir, name, split, queries, judgments):
    eval_set = load_split(name, split, data_dir)
    assert eval_set.report.num_queries == queries
    assert eval_set.report.num_judgments == judgments
    assert len(eval_set.queries) == queries and not eval_set.report.queries_without_text
    assert eval_set.report.docs_not_in_corpus == 0


def test_spot_records(data_dir):
    scifact = load_split("scifact", "test", data_dir)
    assert scifact.queries[0].query_id == "1"
    assert scifact.queries[0].text == "0-dimensional biomaterials show inductive properties."
    assert scifact.qrels["1"] == {"31715818": 1}
    dl19 = load_split("msmarco-dl19", "test", data_dir)
    assert dl19.corpus_path is None
    assert {q.query_id for q in dl19.queries} == set(dl19.qrels)


def test_resolution_and_errors(data_dir, tmp_path):
    assert resolve_dataset("scifact", data_dir).corpus.is_file()
    assert "nfcorpus" in available_datasets(data_dir)
    with pytest.raises(InputError, match="no 'dev' split"):
        load_split("scifact", "dev", data_dir)
    with pytest.raises(InputError, match="not found"):
        load_split("fiqa", "test", tmp_path)


def test_offline_download_fails_clearly(tmp_path, monkeypatch):
    import retrieval.datasets as datasets

    monkeypatch.setattr(datasets, "BEIR_URL", "http://127.0.0.1:9/{name}.zip")  # closed port
    with pytest.raises(InputError, match="unreachable") as info:
        load_split("fiqa", "test", tmp_path, download=True)
    assert "fiqa" in str(info.value)
