"""Learned-sparse vectors in a Lucene impact index (Anserini ``JsonVectorCollection``, ``-impact``).

Weights become integer impacts: ``round(w * scale)`` (zeros dropped); the scale is recorded in the
manifest and applied to query weights too (Anserini takes integer query weights, so floats
below 1 would otherwise vanish). Scores are then ``sum_t q_t * d_t`` over shared tokens, i.e.
the native sparse score times ``scale**2`` up to rounding.

The directory is an ordinary Anserini impact index, searchable by pyserini's own CLI. pyserini's
launcher would add a JVM option the bundled Java 21 lacks, so run it through our wrapper, with
queries pre-encoded as ``{"id", "contents", "vector": {token: int}}`` lines (which pyserini reads
with its CachedDataQueryEncoder, no model download)::

    python -m index.lucene.run pyserini.search.lucene --index INDEX/impact --impact \\
        --topics topics.tsv --encoder encoded-queries.jsonl --output run.trec --hits 1000
"""
from __future__ import annotations

import json
import tempfile
from pathlib import Path
from typing import Iterable

from tqdm.auto import tqdm

from ..errors import TandemError
from .jvm import import_pyserini

DEFAULT_SCALE = 100.0


def quantize(weights: dict[str, float], scale: float) -> dict[str, int]:
    """Integer impacts ``round(w * scale)``, dropping the ones that round to 0."""
    out = {}
    for token, weight in weights.items():
        value = int(round(float(weight) * scale))
        if value > 0:
            out[token] = value
    return out


def build_impact_index(doc_vectors: Iterable[tuple[str, dict[str, int]]], out_dir: Path, threads: int = 2, total: int | None = None) -> dict:
    """Index ``(doc_id, {token: impact})`` pairs; returns settings for the manifest."""
    import_pyserini("pyserini.search.lucene")
    from jnius import autoclass

    out_dir = Path(out_dir)
    count = 0
    with tempfile.TemporaryDirectory(dir=out_dir.parent, prefix=".impact-collection-") as tmp:
        with (Path(tmp) / "vectors.jsonl").open("w", encoding="utf-8") as out:
            for doc_id, vector in tqdm(doc_vectors, total=total, desc="impact collection", unit="doc"):
                out.write(json.dumps({"id": doc_id, "contents": "", "vector": vector}, ensure_ascii=False) + "\n")
                count += 1
        args = [
            "-collection", "JsonVectorCollection", "-generator", "DefaultLuceneDocumentGenerator",
            "-input", tmp, "-index", str(out_dir), "-threads", str(threads), "-impact", "-pretokenized", "-quiet",
        ]
        autoclass("io.anserini.index.IndexCollection").main(args)
    if not any(out_dir.glob("segments_*")):
        raise TandemError("Lucene impact indexing produced no index", str(out_dir))
    for lock in out_dir.glob("write.lock"):
        lock.unlink()
    return {"backend": "lucene-impact", "num_docs": count, "collection": "JsonVectorCollection"}


class LuceneImpactSearcher:
    """Impact search with a ready-made ``{token: int}`` query (no query encoder involved)."""

    def __init__(self, index_dir: Path) -> None:
        import_pyserini("pyserini.search.lucene")
        from jnius import autoclass

        self.index_dir = Path(index_dir)
        if not any(self.index_dir.glob("segments_*")):
            raise TandemError("not a Lucene index", str(self.index_dir))
        self._JHashMap = autoclass("java.util.HashMap")
        self._JArrayList = autoclass("java.util.ArrayList")
        self._JInt = autoclass("java.lang.Integer")
        self.searcher = autoclass("io.anserini.search.SimpleImpactSearcher")(str(self.index_dir))

    def _query(self, weights: dict[str, int]):
        jquery = self._JHashMap()
        for token, weight in weights.items():
            jquery.put(token, self._JInt(int(weight)))
        return jquery

    def search(self, query_weights: dict[str, int], k: int) -> list[tuple[str, float]]:
        if not query_weights:
            return []
        hits = self.searcher.search(self._query(query_weights), k)
        return [(hit.docid, float(hit.score)) for hit in hits]

    def batch_search(self, queries: list[dict[str, int]], qids: list[str], k: int, threads: int = 2) -> dict[str, list[tuple[str, float]]]:
        jqueries, jqids = self._JArrayList(), self._JArrayList()
        for weights, qid in zip(queries, qids):
            jqueries.add(self._query(weights))
            jqids.add(qid)
        results = self.searcher.batch_search(jqueries, jqids, int(k), int(threads))
        out = {r.getKey(): [(hit.docid, float(hit.score)) for hit in r.getValue()] for r in results.entrySet().toArray()}
        return {qid: out.get(qid, []) for qid in qids}
