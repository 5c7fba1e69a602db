"""Searcher: one object to query an index by sparse, dense, BM25 or fused hybrid retrieval."""
from __future__ import annotations

import json
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Sequence

import numpy as np

from index import docstore
from index.corpus import Document
from index.dense import DenseIndex, FaissConfig
from index.errors import TandemError
from index.manifest import Manifest, read_manifest
from index.sparse import SparseIndex, SparseVector

from .dense_encoder import DenseConfig, DenseEncoder
from .fusion import FusionConfig, fuse
from .idf_query import IdfQueryEncoder
from .splade import SpladeConfig, SpladeEncoder
from .types import Component, Hit, Ranking, SearchResult

FUSION_FILENAME = "fusion.json"
MAX_QUERY_CHARS = 4096


@dataclass(slots=True)
class TermContribution:
    token: str
    query_weight: float
    doc_weight: float
    contribution: float
    in_document_text: bool  # False = an expansion term the document never contained literally


class Searcher:
    """Open with :meth:`open`; thread-safe for concurrent searches after loading."""

    def __init__(self, root: Path, manifest: Manifest, device: str = "cpu") -> None:
        self.root = root
        self.manifest = manifest
        self.device = device
        self.docs = docstore.DocStore(root / docstore.FILENAME)
        self.sparse: SparseIndex | None = None
        self.sparse_mode: str | None = None
        self._sparse_query_encoder: SpladeEncoder | IdfQueryEncoder | None = None
        self.dense: DenseIndex | None = None
        self._dense_encoder: DenseEncoder | None = None
        self.bm25 = None
        self.impact = None
        if manifest.has("sparse"):
            settings = manifest.settings("sparse")
            self.sparse = SparseIndex(root / "sparse")
            self.sparse_mode = settings["mode"]
        if manifest.has("dense"):
            settings = manifest.settings("dense")
            self.dense = DenseIndex(root / "dense", FaissConfig(**settings["faiss"]))
        if manifest.has("bm25"):
            from index.lucene.bm25 import LuceneBM25Searcher

            self.bm25 = LuceneBM25Searcher(root / "bm25", fields=manifest.settings("bm25").get("fields"))
        if manifest.has("impact"):
            from index.lucene.impact import LuceneImpactSearcher

            self.impact = LuceneImpactSearcher(root / "impact")
            self.impact_scale = float(manifest.settings("impact")["scale"])
        self.default_fusion = self._load_fusion()

    @classmethod
    def open(cls, index_dir: str | Path, device: str = "cpu", load_models: bool = True) -> "Searcher":
        root = Path(index_dir)
        searcher = cls(root, read_manifest(root), device)
        if load_models:
            searcher.load_models()
        return searcher

    # -- set-up ------------------------------------------------------------------------------
    def _load_fusion(self) -> FusionConfig:
        path = self.root / FUSION_FILENAME
        if path.is_file():
            try:
                return FusionConfig.model_validate_json(path.read_text(encoding="utf-8"))
            except ValueError as exc:
                raise TandemError(f"invalid fusion config: {exc}", str(path)) from None
        return FusionConfig()

    def load_models(self) -> None:
        """Load the query encoders now (otherwise on first use)."""
        if self.sparse is not None:
            self.sparse_query_encoder
        if self.dense is not None:
            self.dense_encoder

    @property
    def sparse_query_encoder(self) -> SpladeEncoder | IdfQueryEncoder:
        if self._sparse_query_encoder is None:
            if self.sparse_mode == "inference-free":
                from transformers import AutoTokenizer

                tokenizer = AutoTokenizer.from_pretrained(str(self.root / "sparse" / "tokenizer"))
                self._sparse_query_encoder = IdfQueryEncoder(tokenizer, self.sparse.query_weights)
            else:
                encoder_settings = self.manifest.settings("sparse")["encoder"]
                config = SpladeConfig(encoder_settings["model"], encoder_settings["max_length"], encoder_settings["batch_size"])
                self._sparse_query_encoder = SpladeEncoder(config, self.device)
        return self._sparse_query_encoder

    @property
    def dense_encoder(self) -> DenseEncoder:
        if self._dense_encoder is None:
            s = self.manifest.settings("dense")["encoder"]
            config = DenseConfig(s["model"], s["max_length"], s["batch_size"], s["query_prefix"], s["document_prefix"], s["pooling"], s["normalize"])
            self._dense_encoder = DenseEncoder(config, self.device)
        return self._dense_encoder

    @property
    def retrievers(self) -> list[str]:
        parts = (("sparse", self.sparse), ("dense", self.dense), ("bm25", self.bm25), ("impact", self.impact))
        return [name for name, part in parts if part is not None]

    @property
    def modes(self) -> list[str]:
        return self.retrievers + (["hybrid"] if len(self.retrievers) > 1 else [])

    @property
    def default_mode(self) -> str:
        return "hybrid" if len(self.retrievers) > 1 else self.retrievers[0]

    # -- query encoding ------------------------------------------------------------------------
    def encode_sparse(self, queries: Sequence[str]) -> list[SparseVector]:
        return self.sparse_query_encoder.encode(list(queries))

    def encode_dense(self, queries: Sequence[str]) -> np.ndarray:
        return self.dense_encoder.encode_queries(list(queries))

    # -- retrieval -----------------------------------------------------------------------------
    def retrieve(self, name: str, queries: Sequence[str], depth: int, timings: dict[str, float] | None = None) -> list[Ranking]:
        """Ranked lists (doc_id -> score, best first) from one retriever for a batch of queries."""
        timings = timings if timings is not None else {}
        ids = self.docs.doc_ids
        if name == "sparse":
            t0 = time.perf_counter()
            vectors = self.encode_sparse(queries)
            timings["sparse_encode"] = _ms(t0)
            t0 = time.perf_counter()
            out = []
            for vector in vectors:
                idx, scores = self.sparse.search(vector, depth)
                out.append({ids[i]: float(s) for i, s in zip(idx, scores)})
            timings["sparse_search"] = _ms(t0)
            return out
        if name == "dense":
            t0 = time.perf_counter()
            vectors = self.encode_dense(queries)
            timings["dense_encode"] = _ms(t0)
            t0 = time.perf_counter()
            idx, scores = self.dense.search(vectors, depth)
            timings["dense_search"] = _ms(t0)
            return [{ids[i]: float(s) for i, s in zip(row_i, row_s) if i >= 0} for row_i, row_s in zip(idx, scores)]
        if name == "bm25":
            t0 = time.perf_counter()
            qids = [str(i) for i in range(len(queries))]
            results = self.bm25.batch_search(list(queries), qids, depth) if len(queries) > 1 else {"0": self.bm25.search(queries[0], depth)}
            timings["bm25_search"] = _ms(t0)
            return [dict(results.get(q, [])) for q in qids]
        if name == "impact":
            from index.lucene.impact import quantize

            t0 = time.perf_counter()
            vectors = self.encode_sparse(queries)
            tokenizer = self.sparse_query_encoder.tokenizer
            weights = [quantize(dict(zip(tokenizer.convert_ids_to_tokens(v.ids.tolist()), v.weights.tolist())), self.impact_scale) for v in vectors]
            timings["sparse_encode"] = _ms(t0)
            t0 = time.perf_counter()
            qids = [str(i) for i in range(len(queries))]
            results = self.impact.batch_search(weights, qids, depth)
            timings["impact_search"] = _ms(t0)
            unit = self.impact_scale**2  # back to the native sparse score scale
            return [{doc: score / unit for doc, score in results[q]} for q in qids]
        raise TandemError(f"index has no {name!r} retriever (has: {', '.join(self.retrievers)})", "mode")

    def batch_search(self, queries: Sequence[str], k: int = 10, mode: str | None = None, fusion: FusionConfig | None = None) -> list[SearchResult]:
        mode = mode or self.default_mode
        if mode not in self.modes:
            raise TandemError(f"mode {mode!r} not available for this index (choose {', '.join(self.modes)})", "mode")
        if k < 1:
            raise TandemError("k must be at least 1", "k")
        for i, query in enumerate(queries):
            self._check_query(query, f"query[{i}]" if len(queries) > 1 else "query")
        if mode != "hybrid":
            timings: dict[str, float] = {}
            rankings = self.retrieve(mode, queries, k, timings)
            results = []
            for query, ranking in zip(queries, rankings):
                hits = [Hit(doc_id, score, rank, {mode: Component(rank, score, score)}) for rank, (doc_id, score) in enumerate(ranking.items(), start=1)]
                results.append(SearchResult(query, mode, hits, dict(timings)))
            return results
        fusion = fusion or self.default_fusion
        names = [n for n in (fusion.retrievers or self.retrievers) if n in self.retrievers]
        if not names:
            raise TandemError(f"fusion names no retriever this index has ({', '.join(self.retrievers)})", "fusion.retrievers")
        timings = {}
        per_retriever = {name: self.retrieve(name, queries, max(fusion.depth, k), timings) for name in names}
        results = []
        t0 = time.perf_counter()
        for i, query in enumerate(queries):
            hits = fuse({name: lists[i] for name, lists in per_retriever.items()}, fusion, k)
            results.append(SearchResult(query, "hybrid", hits, timings))
        fusion_ms = _ms(t0)
        for result in results:
            result.timings_ms = {**timings, "fusion": fusion_ms / max(len(results), 1)}
        return results

    def search(self, query: str, k: int = 10, mode: str | None = None, fusion: FusionConfig | None = None) -> SearchResult:
        t0 = time.perf_counter()
        result = self.batch_search([query], k, mode, fusion)[0]
        result.timings_ms["total"] = _ms(t0)
        return result

    def _check_query(self, query: str, where: str) -> None:
        if not isinstance(query, str) or not query.strip():
            raise TandemError("query is empty", where)
        if len(query) > MAX_QUERY_CHARS:
            raise TandemError(f"query is longer than {MAX_QUERY_CHARS} characters", where)
        if self.sparse is not None:
            tokenizer = self.sparse_query_encoder.tokenizer
            special = set(tokenizer.all_special_ids)
            if not [t for t in tokenizer(query, add_special_tokens=False)["input_ids"] if t not in special]:
                raise TandemError("query has no searchable terms (only special tokens)", where)

    # -- documents and explanations ------------------------------------------------------------
    def document(self, doc_id: str) -> Document | None:
        return self.docs.get(doc_id)

    def explain(self, query: str, doc_id: str, top: int = 10, query_vector: SparseVector | None = None) -> list[TermContribution]:
        """The sparse terms a query and a document share, by contribution to the sparse score.

        Pass ``query_vector`` (from :meth:`encode_sparse`) to explain many hits of one query.
        """
        if self.sparse is None:
            return []
        idx = self.docs.idx(doc_id)
        if idx is None:
            raise TandemError(f"unknown document id {doc_id!r}", "doc_id")
        qvec = query_vector if query_vector is not None else self.encode_sparse([query])[0]
        dvec = self.sparse.doc_vector(idx)
        common, qi, di = np.intersect1d(qvec.ids, dvec.ids, assume_unique=True, return_indices=True)
        contrib = qvec.weights[qi].astype(np.float64) * dvec.weights[di]
        order = np.argsort(-contrib, kind="stable")[:top]
        tokenizer = self.sparse_query_encoder.tokenizer
        doc = self.docs.get(doc_id)
        literal = set(tokenizer(doc.contents, add_special_tokens=False)["input_ids"]) if doc else set()
        tokens = tokenizer.convert_ids_to_tokens([int(common[i]) for i in order])
        return [
            TermContribution(tok, float(qvec.weights[qi[i]]), float(dvec.weights[di[i]]), float(contrib[i]), int(common[i]) in literal)
            for tok, i in zip(tokens, order)
        ]


def _ms(t0: float) -> float:
    return round((time.perf_counter() - t0) * 1000, 3)
