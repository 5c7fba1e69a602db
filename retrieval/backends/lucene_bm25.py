"""``lucene-bm25``: BM25 on Lucene (Anserini, as pyserini's BEIR runs), index-wide.

Each change writes a new Lucene directory: hard links to the previous one's files, then Lucene's
own add/delete (``tandem.index.lucene.live``), so readers of the old directory are never disturbed.
Compaction merges to one segment, which expunges deleted documents from the BM25 statistics.
"""
from __future__ import annotations

import time

from tandem.index.manifest import ComponentInfo
from tandem.index.segments import IndexSnapshot
from tandem.index.threads import search_threads

from ..types import Ranking
from .base import Backend, SharedChange, WriteContext


class LuceneBM25Backend(Backend):
    name = "lucene-bm25"
    doc_input = "text"
    segment_local = False
    description = "BM25 on Lucene"
    has_shared_dir = True

    def settings_from(self, config) -> dict:
        return {"fields": config.bm25_fields}

    def update_shared(self, component: ComponentInfo, change: SharedChange, context: WriteContext) -> dict | None:
        from tandem.index.lucene import live
        from tandem.index.lucene.bm25 import build_bm25_index

        fields = component.settings.get("fields", "flat")
        if change.previous_dir is None:
            return build_bm25_index(change.added.docs, change.new_dir, fields=fields)
        live.snapshot(change.previous_dir, change.new_dir)
        if change.deleted_ids:
            live.delete_documents(change.new_dir, change.deleted_ids)
        if change.added is not None:
            live.append_bm25(change.new_dir, change.added.docs, fields=fields, store_raw=bool(component.settings.get("store", {}).get("raw", False)))
        if change.merge:
            live.force_merge(change.new_dir)
        return live.index_stats(change.new_dir)

    def open(self, snapshot: IndexSnapshot, component: ComponentInfo, device: str = "cpu") -> "LuceneBM25Retriever":
        return LuceneBM25Retriever(snapshot, component)

    def describe(self, component: ComponentInfo, segments=()) -> str:
        s = component.settings
        return f"BM25 on Lucene, fields={s.get('fields')}, k1={s.get('k1')}, b={s.get('b')}"


class LuceneBM25Retriever:
    """BM25 through Anserini's SimpleSearcher; the JVM starts when this retriever is opened."""

    backend = LuceneBM25Backend.name
    tokenizer = None

    def __init__(self, snapshot: IndexSnapshot, component: ComponentInfo) -> None:
        from tandem.index.lucene.bm25 import DEFAULT_B, DEFAULT_K1, LuceneBM25Searcher

        self.name = component.name
        s = component.settings
        self.searcher = LuceneBM25Searcher(snapshot.root / component.shared_dir, k1=s.get("k1", DEFAULT_K1), b=s.get("b", DEFAULT_B), fields=s.get("fields"))

    def configure(self, k1: float | None = None, b: float | None = None) -> None:
        """Optional capability: the BM25 parameters of the following searches (None keeps the index's)."""
        self.searcher.set_bm25(self.searcher.k1 if k1 is None else k1, self.searcher.b if b is None else b)

    def search(self, queries, k: int, *, timings: dict[str, float] | None = None) -> list[Ranking]:
        t0 = time.perf_counter()
        queries = list(queries)
        qids = [str(i) for i in range(len(queries))]
        if len(queries) == 1:
            results = {"0": self.searcher.search(queries[0], k)}
        else:
            results = self.searcher.batch_search(queries, qids, k, threads=search_threads())
        if timings is not None:
            timings[f"{self.name}_search"] = round((time.perf_counter() - t0) * 1000, 3)
        return [dict(results.get(q, [])) for q in qids]

    def close(self) -> None:
        self.searcher.close()
