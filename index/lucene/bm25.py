"""BM25 on Lucene (Anserini 1.7.1 from pyserini 1.6.0), exactly as pyserini's BEIR ``bm25-flat`` / ``bm25-multifield``.

``flat``: one ``contents`` field = title + " " + text (the text alone when there is no title), as in
the ``beir-v1.0.0-*.flat`` corpora. ``multifield``: ``title`` and ``contents`` (= text) indexed as
separate fields (``-fields title``) and searched with weights title 1.0 / contents 1.0, as
``bm25-multifield``. Indexing runs Anserini's ``IndexCollection`` on a ``JsonCollection`` written
to a temporary directory, with ``DefaultLuceneDocumentGenerator`` and Anserini's default analyzer
(``DefaultEnglishAnalyzer``: Lucene StandardTokenizer, lower-casing, Lucene's 33 English
stopwords, Porter stemming); positions and docvectors are stored, as in the 2CR indexes; raw
documents only with ``store_raw=True`` (they do not change scores). Documents whose text analyses
to nothing are skipped by Anserini, as in pyserini.

Search uses Anserini's ``SimpleSearcher`` (the class pyserini's ``LuceneSearcher`` wraps) through
jnius, so pyserini itself is never imported here. The directory is a plain Anserini index::

    python -m tandem.index.lucene.run pyserini.search.lucene --index DIR --bm25 --topics topics.tsv \\
        --output run.trec --hits 1000 --remove-query
"""
from __future__ import annotations

import json
import tempfile
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
from typing import Iterable

from ..corpus import Document
from ..errors import TandemError
from ..progress import elapsed, progress
from .jvm import anserini_jar, ensure_jvm

FIELDS = ("flat", "multifield")
MULTIFIELD_WEIGHTS = {"contents": 1.0, "title": 1.0}
DEFAULT_K1, DEFAULT_B = 0.9, 0.4


def flat_contents(doc: Document) -> str:
    """The ``contents`` of pyserini's BEIR flat corpora: title and text joined by one space."""
    return f"{doc.title} {doc.text}" if doc.title else doc.text


def write_json_collection(docs: Iterable[Document], directory: Path, fields: str = "flat", shard_size: int = 100_000) -> int:
    """Write an Anserini ``JsonCollection`` (``{"id", "contents"[, "title"]}`` lines); returns the doc count."""
    directory.mkdir(parents=True, exist_ok=True)
    count, shard, out = 0, -1, None
    try:
        for doc in progress(docs, desc="BM25 collection", unit="doc", leave=False):
            if count % shard_size == 0:
                if out:
                    out.close()
                shard += 1
                out = (directory / f"docs{shard:03d}.jsonl").open("w", encoding="utf-8")
            if fields == "flat":
                record = {"id": doc.doc_id, "contents": flat_contents(doc)}
            else:
                record = {"id": doc.doc_id, "title": doc.title, "contents": doc.text}
            out.write(json.dumps(record, ensure_ascii=False) + "\n")
            count += 1
    finally:
        if out:
            out.close()
    return count


PROGRESS_MIN_DOCS = 20_000  # collections at least this large show the elapsed time while Anserini indexes them


def run_index_collection(args: list[str], out_dir: Path, desc: str = "Lucene index", num_docs: int = 0) -> None:
    """Run Anserini's ``IndexCollection`` in this JVM; Java errors become a TandemError. Anserini says nothing
    while it indexes (``-quiet``; 6 minutes for the impacts of 729k documents here), so a collection of
    ``num_docs`` >= :data:`PROGRESS_MIN_DOCS` shows ``desc``, its size and the elapsed time meanwhile."""
    ensure_jvm()
    from jnius import autoclass

    out_dir.parent.mkdir(parents=True, exist_ok=True)
    try:
        with elapsed(desc, num_docs, "docs", disable=num_docs < PROGRESS_MIN_DOCS):
            autoclass("io.anserini.index.IndexCollection").main(args)
    except Exception as exc:  # jnius.JavaException
        first = (str(exc).strip().splitlines() or [type(exc).__name__])[0][:300]
        raise TandemError(f"Lucene indexing failed: {first}", str(out_dir)) from None
    if not any(out_dir.glob("segments_*")):
        raise TandemError("Lucene indexing produced no index", str(out_dir))
    for lock in out_dir.glob("write.lock"):
        lock.unlink()


def require_lucene_index(index_dir: Path) -> Path:
    """``index_dir`` as a Path, or a TandemError naming it when it holds no Lucene commit."""
    index_dir = Path(index_dir)
    if not any(index_dir.glob("segments_*")):
        raise TandemError("not a Lucene index (no segments_* file)", str(index_dir))
    return index_dir


def lucene_num_docs(index_dir: Path) -> int:
    ensure_jvm()
    from jnius import autoclass

    directory = autoclass("org.apache.lucene.store.FSDirectory").open(autoclass("java.io.File")(str(index_dir)).toPath())
    reader = autoclass("org.apache.lucene.index.DirectoryReader").open(directory)
    try:
        return int(reader.numDocs())
    finally:
        reader.close()
        directory.close()


def versions() -> dict:
    """Versions of the Lucene stack, for manifests."""
    ensure_jvm()
    from jnius import autoclass

    def pkg(name: str) -> str:
        try:
            return version(name)
        except PackageNotFoundError:
            return "unknown"

    system = autoclass("java.lang.System")
    return {
        "pyserini_version": pkg("pyserini"),
        "anserini_jar": anserini_jar().name,
        "lucene_version": str(autoclass("org.apache.lucene.util.Version").LATEST.toString()),
        "java_version": str(system.getProperty("java.version")),
    }


def check_fields(fields: str) -> None:
    """Reject an unknown field layout (one of :data:`FIELDS`)."""
    if fields not in FIELDS:
        raise TandemError(f"unknown BM25 field layout {fields!r} (choose {', '.join(FIELDS)})", "--bm25-fields")


def bm25_index_args(collection_dir: Path, index_dir: Path, *, fields: str, threads: int, store_raw: bool) -> list[str]:
    """``IndexCollection`` arguments that index a ``JsonCollection`` for BM25 (full builds and live appends)."""
    args = [
        "-collection", "JsonCollection", "-generator", "DefaultLuceneDocumentGenerator",
        "-input", str(collection_dir), "-index", str(index_dir), "-threads", str(int(threads)),
        "-storePositions", "-storeDocvectors", "-quiet",
    ]
    if store_raw:
        args.append("-storeRaw")
    if fields == "multifield":
        args += ["-fields", "title"]
    return args


def build_bm25_index(docs: Iterable[Document], out_dir: Path, *, fields: str = "flat", threads: int = 2, store_raw: bool = False) -> dict:
    """Build a Lucene BM25 index at ``out_dir``; returns the settings to record in the manifest."""
    check_fields(fields)
    ensure_jvm()
    out_dir = Path(out_dir)
    out_dir.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=out_dir.parent, prefix=".bm25-collection-") as tmp:
        num_written = write_json_collection(docs, Path(tmp), fields)
        run_index_collection(bm25_index_args(Path(tmp), out_dir, fields=fields, threads=threads, store_raw=store_raw), out_dir, "Lucene BM25 index", num_written)
    return {
        "backend": "lucene",
        "fields": fields,
        "field_weights": dict(MULTIFIELD_WEIGHTS) if fields == "multifield" else {"contents": 1.0},
        "flat_join": "title + ' ' + text" if fields == "flat" else None,
        "collection": "JsonCollection",
        "generator": "DefaultLuceneDocumentGenerator",
        "analyzer": "Anserini DefaultEnglishAnalyzer (StandardTokenizer, lowercase, Lucene English stopwords)",
        "stemmer": "porter",
        "stopwords": "lucene-english-33",
        "store": {"positions": True, "docvectors": True, "raw": bool(store_raw)},
        "k1": DEFAULT_K1,
        "b": DEFAULT_B,
        "num_docs": num_written,
        "num_indexed": lucene_num_docs(out_dir),
        **versions(),
    }


class _AnseriniSearcher:
    """What every Anserini-backed searcher shares: ``self.searcher`` is the Java searcher object."""

    searcher = None

    @property
    def num_docs(self) -> int:
        return int(self.searcher.get_total_num_docs())

    def close(self) -> None:
        if self.searcher is not None:
            self.searcher.close()
            self.searcher = None


class LuceneBM25Searcher(_AnseriniSearcher):
    """BM25 search over a Lucene index (k1=0.9, b=0.4 by default, as Anserini's BEIR runs).

    ``fields="multifield"`` (or a ``{field: weight}`` dict) searches title and contents with weights
    1.0 / 1.0; otherwise the ``contents`` field alone. Hits are ``(doc_id, score)``, best first, in
    Anserini's order (score desc, then doc id asc).
    """

    def __init__(self, index_dir: Path, k1: float = DEFAULT_K1, b: float = DEFAULT_B, fields: str | dict | None = None) -> None:
        ensure_jvm()
        from jnius import autoclass

        self.index_dir = require_lucene_index(index_dir)
        if isinstance(fields, dict):
            self.fields = {str(f): float(w) for f, w in fields.items()}
        elif fields == "multifield":
            self.fields = dict(MULTIFIELD_WEIGHTS)
        elif fields in (None, "flat"):
            self.fields = {}
        else:
            raise TandemError(f"unknown BM25 field layout {fields!r} (choose {', '.join(FIELDS)})", "fields")
        self._JArrayList = autoclass("java.util.ArrayList")
        self._jfields = autoclass("java.util.HashMap")()
        JFloat = autoclass("java.lang.Float")
        for field, weight in self.fields.items():
            self._jfields.put(field, JFloat(weight))
        self.searcher = autoclass("io.anserini.search.SimpleSearcher")(str(self.index_dir))
        self.set_bm25(k1, b)

    def set_bm25(self, k1: float, b: float) -> None:
        """Score the following searches with these BM25 parameters (Anserini's ``set_bm25``)."""
        self.searcher.set_bm25(float(k1), float(b))
        self.k1, self.b = float(k1), float(b)

    @staticmethod
    def _hits(hits) -> list[tuple[str, float]]:
        return [(hit.docid, float(hit.score)) for hit in hits]

    def search(self, query: str, k: int) -> list[tuple[str, float]]:
        if not query.strip() or k <= 0:
            return []
        if self.fields:
            return self._hits(self.searcher.search_fields(query, self._jfields, int(k)))
        return self._hits(self.searcher.search(query, int(k)))

    def batch_search(self, queries: list[str], qids: list[str], k: int, threads: int = 2) -> dict[str, list[tuple[str, float]]]:
        if len(queries) != len(qids):
            raise ValueError(f"{len(queries)} queries but {len(qids)} query ids")
        if k <= 0 or not queries:
            return {qid: [] for qid in qids}
        jqueries, jqids = self._JArrayList(), self._JArrayList()
        for query, qid in zip(queries, qids):
            jqueries.add(query)
            jqids.add(str(qid))
        if self.fields:
            results = self.searcher.batch_search_fields(jqueries, jqids, int(k), int(threads), self._jfields)
        else:
            results = self.searcher.batch_search(jqueries, jqids, int(k), int(threads))
        out = {entry.getKey(): self._hits(entry.getValue()) for entry in results.entrySet().toArray()}
        return {str(qid): out.get(str(qid), []) for qid in qids}

