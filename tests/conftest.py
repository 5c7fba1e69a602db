"""Shared fixtures: the data dir, tiny self-written corpora, and session-built indexes."""
from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]


def pytest_configure(config):
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    try:
        from transformers.utils import logging as hf_logging

        hf_logging.set_verbosity_error()
        hf_logging.disable_progress_bar()
    except ImportError:
        pass


@pytest.fixture(scope="session")
def data_dir() -> Path:
    value = os.environ.get("TANDEM_DATA_DIR")
    if not value or not Path(value).is_dir():
        pytest.skip("TANDEM_DATA_DIR is not set to the shared data folder")
    return Path(value)


def write_jsonl(path: Path, records: list[dict]) -> Path:
    path.write_text("".join(json.dumps(r) + "\n" for r in records), encoding="utf-8")
    return path


TINY_DOCS = [
    {"_id": "d1", "title": "Eiffel Tower", "text": "The Eiffel Tower is a wrought-iron lattice tower in Paris, France."},
    {"_id": "d2", "title": "Photosynthesis", "text": "Plants convert sunlight, water and carbon dioxide into glucose and oxygen."},
    {"_id": "d3", "title": "Vitamin D", "text": "Vitamin D deficiency is associated with low bone density and rickets."},
    {"_id": "d4", "title": "Python", "text": "Python is a programming language with dynamic typing and garbage collection."},
    {"_id": "d5", "title": "Mitochondria", "text": "Mitochondria produce ATP through oxidative phosphorylation in cells."},
    {"_id": "d6", "title": "", "text": ""},
]


@pytest.fixture(scope="session")
def tiny_corpus(tmp_path_factory) -> Path:
    return write_jsonl(tmp_path_factory.mktemp("corpus") / "corpus.jsonl", TINY_DOCS)


@pytest.fixture(scope="session")
def splade():
    from tandem.retrieval.splade import SpladeEncoder

    return SpladeEncoder()


@pytest.fixture(scope="session")
def tiny_index(tmp_path_factory, tiny_corpus) -> Path:
    """Siamese sparse + dense flat index of the tiny corpus."""
    from tandem.retrieval.build import BuildConfig, build_index

    out = tmp_path_factory.mktemp("indexes") / "tiny"
    build_index(BuildConfig(corpus=str(tiny_corpus), sparse_mode="siamese", chunk_size=4), out, tiny_corpus, log=lambda _: None)
    return out


@pytest.fixture(scope="session")
def tiny_if_index(tmp_path_factory, tiny_corpus) -> Path:
    """Inference-free sparse-only index of the tiny corpus."""
    from tandem.retrieval.build import BuildConfig, build_index

    out = tmp_path_factory.mktemp("indexes") / "tiny-if"
    build_index(BuildConfig(corpus=str(tiny_corpus), sparse_mode="inference-free", dense=None), out, tiny_corpus, log=lambda _: None)
    return out


@pytest.fixture(scope="session")
def scifact_subset(data_dir, tmp_path_factory):
    """A BEIR-layout folder: the first 300 scifact documents, and the test and train queries
    whose relevant documents are among them (qrels restricted to those queries)."""
    from tandem.retrieval.datasets import read_qrels, read_queries

    root = tmp_path_factory.mktemp("scifact-subset") / "scifact-subset"
    (root / "qrels").mkdir(parents=True)
    lines = (data_dir / "beir/scifact/corpus.jsonl").read_text(encoding="utf-8").splitlines()[:300]
    (root / "corpus.jsonl").write_text("\n".join(lines) + "\n", encoding="utf-8")
    ids = {json.loads(line)["_id"] for line in lines}
    all_qids = set()
    test_qrels = {}
    for split in ("test", "train"):
        qrels = read_qrels(data_dir / f"beir/scifact/qrels/{split}.tsv")
        kept = {q: rel for q, rel in qrels.items() if set(rel) & ids}
        rows = ["query-id\tcorpus-id\tscore"] + [f"{q}\t{d}\t{r}" for q, rel in kept.items() for d, r in rel.items()]
        (root / "qrels" / f"{split}.tsv").write_text("\n".join(rows) + "\n")
        all_qids |= set(kept)
        if split == "test":
            test_qrels = kept
    queries = read_queries(data_dir / "beir/scifact/queries.jsonl", all_qids)
    write_jsonl(root / "queries.jsonl", [{"_id": q.query_id, "text": q.text} for q in queries])
    return root, test_qrels, ids


@pytest.fixture(scope="session")
def encoded_scifact(data_dir, tmp_path_factory):
    """All of BEIR scifact encoded once per session by the default sparse encoder of ``tandem index build``
    (an :class:`scifact_encoded.EncodedCorpus`: shard folder, vectors, texts, tokenizer); shared by the
    slow tests that need real SPLADE vectors."""
    from scifact_encoded import encode_corpus

    return encode_corpus(data_dir / "beir/scifact/corpus.jsonl", tmp_path_factory.mktemp("scifact-encoded"))
