"""BM25 on Lucene through pyserini/Anserini, as pyserini's BEIR ``bm25-flat`` and ``bm25-multifield``.

``flat``: title and text in one ``contents`` field (title + " " + text). ``multifield``: ``title``
and ``contents`` indexed as separate fields and searched with weights 1.0 / 1.0. Indexing uses
Anserini's ``IndexCollection`` on a ``JsonCollection`` with its default analyzer (Lucene English
stopwords, Porter stemming), positions, docvectors and raw documents stored, as the 2CR runs do.
"""
from __future__ import annotations

import json
import shutil
import tempfile
from pathlib import Path
from typing import Iterable

from tqdm.auto import tqdm

from ..corpus import Document
from ..errors import TandemError
from .jvm import import_pyserini

FIELDS = ("flat", "multifield")
MULTIFIELD_WEIGHTS = {"contents": 1.0, "title": 1.0}


def write_json_collection(docs: Iterable[Document], directory: Path, fields: str, shard_size: int = 100_000) -> int:
    directory.mkdir(parents=True, exist_ok=True)
    count, shard, out = 0, -1, None
    try:
        for doc in tqdm(docs, desc="BM25 collection", unit="doc"):
            if count % shard_size == 0:
                if out:
                    out.close()
                shard += 1
                out = (directory / f"docs{shard:03d}.jsonl").open("w", encoding="utf-8")
            if fields == "flat":
                record = {"id": doc.doc_id, "contents": f"{doc.title} {doc.text}" if doc.title else doc.text}
            else:
                record = {"id": doc.doc_id, "title": doc.title, "contents": doc.text}
            out.write(json.dumps(record, ensure_ascii=False) + "\n")
            count += 1
    finally:
        if out:
            out.close()
    return count


def build_bm25_index(docs: Iterable[Document], out_dir: Path, *, fields: str = "flat", threads: int = 2) -> dict:
    """Build a Lucene index at ``out_dir``; returns the settings to record in the manifest."""
    if fields not in FIELDS:
        raise TandemError(f"unknown BM25 field layout {fields!r} (choose {', '.join(FIELDS)})", "--bm25-fields")
    lucene = import_pyserini("pyserini.search.lucene")  # starts the JVM with the right Java
    from jnius import autoclass

    out_dir = Path(out_dir)
    with tempfile.TemporaryDirectory(dir=out_dir.parent, prefix=".bm25-collection-") as tmp:
        num_docs = write_json_collection(docs, Path(tmp), fields)
        args = [
            "-collection", "JsonCollection", "-generator", "DefaultLuceneDocumentGenerator",
            "-input", tmp, "-index", str(out_dir), "-threads", str(threads),
            "-storePositions", "-storeDocvectors", "-storeRaw", "-quiet",
        ]
        if fields == "multifield":
            args += ["-fields", "title"]
        autoclass("io.anserini.index.IndexCollection").main(args)
    if not any(out_dir.glob("segments_*")):
        raise TandemError("Lucene indexing produced no index", str(out_dir))
    for lock in out_dir.glob("write.lock"):
        lock.unlink()
    return {
        "backend": "lucene",
        "fields": fields,
        "field_weights": MULTIFIELD_WEIGHTS if fields == "multifield" else {"contents": 1.0},
        "analyzer": "Anserini DefaultEnglishAnalyzer (Lucene English stopwords, Porter stemmer)",
        "collection": "JsonCollection",
        "k1": 0.9,
        "b": 0.4,
        "num_docs": num_docs,
        "pyserini_version": _version("pyserini"),
        "anserini_jar": _anserini_jar(lucene),
    }


def _version(package: str) -> str:
    from importlib.metadata import version

    return version(package)


def _anserini_jar(lucene_module) -> str:
    jars = sorted(Path(lucene_module.__file__).parents[2].glob("resources/jars/anserini-*-fatjar.jar"))
    return jars[-1].name if jars else "unknown"


class LuceneBM25Searcher:
    """BM25 search over a Lucene index (k1=0.9, b=0.4 by default, as Anserini's BEIR runs)."""

    def __init__(self, index_dir: Path, k1: float = 0.9, b: float = 0.4, fields: str | None = None) -> None:
        lucene = import_pyserini("pyserini.search.lucene")
        self.index_dir = Path(index_dir)
        if not any(self.index_dir.glob("segments_*")):
            raise TandemError("not a Lucene index", str(self.index_dir))
        self.searcher = lucene.LuceneSearcher(str(self.index_dir))
        self.searcher.set_bm25(k1, b)
        self.k1, self.b = k1, b
        self.fields = MULTIFIELD_WEIGHTS if fields == "multifield" else {}

    def search(self, query: str, k: int) -> list[tuple[str, float]]:
        hits = self.searcher.search(query, k, fields=self.fields) if self.fields else self.searcher.search(query, k)
        return [(hit.docid, float(hit.score)) for hit in hits]

    def batch_search(self, queries: list[str], qids: list[str], k: int, threads: int = 2) -> dict[str, list[tuple[str, float]]]:
        if self.fields:
            results = self.searcher.batch_search(queries, qids, k, threads, fields=self.fields)
        else:
            results = self.searcher.batch_search(queries, qids, k, threads)
        return {qid: [(hit.docid, float(hit.score)) for hit in hits] for qid, hits in results.items()}

    @property
    def num_docs(self) -> int:
        return int(self.searcher.num_docs)
