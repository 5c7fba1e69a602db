"""``lucene-impact``: learned sparse vectors as integer impacts in a Lucene index (Anserini
``-impact -pretokenized``), the peer engine for Tandem's own sparse index; index-wide.

Its shared folder holds ``lucene/`` (an ordinary Anserini impact index), and the query side
(tokenizer, IDF table) so that this retriever owns its query encoder. Scores are divided by
``scale**2`` to be on the native sparse scale.
"""
from __future__ import annotations

import os

import scipy.sparse as sp

from tandem.index.commits import link_tree
from tandem.index.manifest import ComponentInfo
from tandem.index.segments import IndexSnapshot
from tandem.index.threads import search_threads

from ..encoders import encoder_key
from ..types import Ranking
from .base import Backend, EncodedDocs, EncodingRetriever, SharedChange, WriteContext
from .sparse_common import QUERY_WEIGHTS, TOKENIZER_DIR, SparseQueryEncoder, check_query_side, initial_idf, update_query_side, write_query_side

LUCENE_DIR = "lucene"


def impact_vectors(docs: EncodedDocs, key: str, scale: float):
    """``(doc_id, {token: impact})`` pairs for Anserini, from the encoded documents."""
    from tandem.index.lucene.impact import quantize

    matrix: sp.csr_matrix = docs.sparse[key]
    vocab = docs.tokenizers[key].convert_ids_to_tokens(list(range(matrix.shape[1])))
    for doc, start, end in zip(docs.docs, matrix.indptr[:-1], matrix.indptr[1:]):
        weights = {vocab[t]: float(w) for t, w in zip(matrix.indices[start:end], matrix.data[start:end])}
        yield doc.doc_id, quantize(weights, scale)


class LuceneImpactBackend(Backend):
    name = "lucene-impact"
    doc_input = "sparse"
    segment_local = False
    description = "Lucene impact index"
    required_settings = ("mode", "scale", "encoder.model", "encoder.max_length")
    has_shared_dir = True

    def settings_from(self, config) -> dict:
        return {"scale": float(config.impact_scale)}

    def update_shared(self, component: ComponentInfo, change: SharedChange, context: WriteContext) -> dict | None:
        from tandem.index.lucene import live
        from tandem.index.lucene.impact import build_impact_index

        settings = component.settings
        key = encoder_key("sparse", settings["encoder"])
        scale = float(settings["scale"])
        if change.previous_dir is None:
            docs = change.added
            tokenizer = docs.tokenizers[key]
            weights, source = initial_idf(settings, tokenizer, int(settings["encoder"]["vocab_size"]), docs)
            write_query_side(change.new_dir, tokenizer, weights)
            built = build_impact_index(impact_vectors(docs, key, scale), change.new_dir / LUCENE_DIR, total=len(docs.docs))
            return {**built, "idf_source": source}
        previous_lucene, new_lucene = change.previous_dir / LUCENE_DIR, change.new_dir / LUCENE_DIR
        change.new_dir.mkdir(parents=True)
        live.snapshot(previous_lucene, new_lucene)
        if change.deleted_ids:
            live.delete_documents(new_lucene, change.deleted_ids)
        if change.added is not None:
            live.append_impact(new_lucene, impact_vectors(change.added, key, scale))
        if change.merge:
            live.force_merge(new_lucene)
        new_idf = update_query_side(settings, change.previous_dir, change.new_dir, change.merge, change.live_docs)
        if new_idf is None:  # the query side is unchanged: link it into the new folder
            link_tree(change.previous_dir / TOKENIZER_DIR, change.new_dir / TOKENIZER_DIR)
            if (change.previous_dir / QUERY_WEIGHTS).is_file():
                os.link(change.previous_dir / QUERY_WEIGHTS, change.new_dir / QUERY_WEIGHTS)
        return {**live.index_stats(new_lucene), **(new_idf or {})}

    def check(self, snapshot: IndexSnapshot, component: ComponentInfo, thorough: bool = False) -> None:
        check_query_side(component.settings, snapshot.root / component.shared_dir)

    def open(self, snapshot: IndexSnapshot, component: ComponentInfo, device: str = "cpu") -> "LuceneImpactRetriever":
        return LuceneImpactRetriever(snapshot, component, device)

    def describe(self, component: ComponentInfo, segments=()) -> str:
        return f"Lucene impact, scale {component.settings.get('scale'):g}"


class LuceneImpactRetriever(EncodingRetriever):
    backend = LuceneImpactBackend.name

    def __init__(self, snapshot: IndexSnapshot, component: ComponentInfo, device: str = "cpu") -> None:
        from tandem.index.lucene.impact import LuceneImpactSearcher

        self.name = component.name
        self.settings = component.settings
        shared = snapshot.root / component.shared_dir
        self.scale = float(self.settings["scale"])
        self.query_encoder = SparseQueryEncoder(self.settings, shared, device)
        self.searcher = LuceneImpactSearcher(shared / LUCENE_DIR)

    @property
    def tokenizer(self):
        return self.query_encoder.tokenizer

    def encode(self, queries: list[str]) -> list[dict[str, int]]:
        """Integer impacts ``{token: round(w * scale)}`` of each query's sparse vector."""
        from tandem.index.lucene.impact import quantize

        tokenizer = self.tokenizer
        return [quantize(dict(zip(tokenizer.convert_ids_to_tokens(v.ids.tolist()), v.weights.tolist())), self.scale)
                for v in self.query_encoder.encode(queries)]

    def search_encoded(self, weights: list[dict[str, int]], k: int) -> list[Ranking]:
        qids = [str(i) for i in range(len(weights))]
        if len(weights) == 1:  # one query on the calling thread (Anserini's batch search starts a thread pool per call)
            results = {qids[0]: self.searcher.search(weights[0], k)}
        else:
            results = self.searcher.batch_search(weights, qids, k, threads=search_threads())
        unit = self.scale ** 2  # back to the native sparse score scale
        return [{doc: score / unit for doc, score in results[q]} for q in qids]

    def close(self) -> None:
        self.searcher.close()
