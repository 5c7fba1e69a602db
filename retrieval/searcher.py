"""Searcher: the retrievers of one index commit, composed with fusion.

Each component of the manifest is opened by the backend it names (:mod:`tandem.retrieval.backends`) as a
:class:`~tandem.retrieval.retriever.Retriever`; a mode is a retriever's name, or ``hybrid`` (fusion of
several). Retrievers open lazily, so a search in one mode never starts the JVM or loads a model
that another mode needs.
"""
from __future__ import annotations

import threading
import time
from pathlib import Path
from typing import Sequence

from tandem.index.corpus import Document
from tandem.index.errors import TandemError
from tandem.index.manifest import FILENAME, Manifest
from tandem.index.segments import IndexSnapshot

from .backends import backend
from .fusion import FusionConfig, fuse
from .integrity import load_errors
from .limits import check_query_text
from .retriever import Retriever, TermContribution, supports
from .types import Component, Hit, Ranking, SearchResult

FUSION_FILENAME = "fusion.json"
HYBRID = "hybrid"

__all__ = ["FUSION_FILENAME", "HYBRID", "Searcher", "TermContribution"]


class Searcher:
    """Open with :meth:`open`; thread-safe for concurrent searches after loading."""

    def __init__(self, snapshot: IndexSnapshot, device: str = "cpu") -> None:
        self.snapshot = snapshot
        self.root = snapshot.root
        self.manifest: Manifest = snapshot.manifest
        self.device = device
        self._retrievers: dict[str, Retriever] = {}
        self._ready: dict[str, Retriever] = {}  # retrievers whose query encoder is loaded: the per-query path
        self._query_tokenizer: list = []  # [tokenizer] once looked up
        self._open_lock = threading.Lock()
        for component in self.manifest.components:  # an unknown backend or a missing setting is refused now, not at the first search
            backend(component.backend).check_settings(component, str(self.root / FILENAME))
        self.default_fusion = self._load_fusion()

    @classmethod
    def open(cls, index_dir: str | Path, device: str = "cpu", load_models: bool = False) -> "Searcher":
        """Open the current commit of the index (holding it until :meth:`close`).

        Retrievers open on first use (a sparse search never starts the JVM); ``load_models=True``
        opens them all now, as a server does before it reports ready."""
        snapshot = IndexSnapshot.open(Path(index_dir))
        try:
            searcher = cls(snapshot, device)
        except BaseException:
            snapshot.close()  # a refused index keeps no lease
            raise
        if load_models:
            try:
                searcher.load_models()
            except BaseException:
                searcher.close()
                raise
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

    def load_models(self, names: Sequence[str] | None = None) -> None:
        """Open retrievers (and load their query encoders) now rather than on first use."""
        for name in names or self.retrievers:
            self._with_query_encoder(name)

    def retriever(self, name: str) -> Retriever:
        """The retriever called ``name`` (opened on first use)."""
        if name not in self.retrievers:
            raise TandemError(f"index has no {name!r} retriever (has: {', '.join(self.retrievers)})", "mode")
        with self._open_lock:
            if name not in self._retrievers:
                component = self.manifest.component(name)
                with load_errors(self.root, self.manifest, component, "open"):
                    self._retrievers[name] = backend(component.backend).open(self.snapshot, component, self.device)
            return self._retrievers[name]

    def _with_query_encoder(self, name: str) -> Retriever:
        """The retriever called ``name`` with its query encoder loaded (a load failure is one IndexFormatError)."""
        ready = self._ready.get(name)
        if ready is not None:
            return ready
        retriever = self.retriever(name)
        if supports(retriever, "tokenizer"):
            with load_errors(self.root, self.manifest, self.manifest.component(name), "load the query encoder of"):
                retriever.tokenizer  # noqa: B018 - loads the query encoder (once)
        self._ready[name] = retriever
        return retriever

    @property
    def retrievers(self) -> list[str]:
        """Retriever names, as the manifest lists them."""
        return self.manifest.component_names

    @property
    def generation(self) -> int:
        return self.manifest.generation

    @property
    def modes(self) -> list[str]:
        return self.retrievers + ([HYBRID] if len(self.retrievers) > 1 else [])

    @property
    def default_mode(self) -> str:
        return HYBRID if len(self.retrievers) > 1 else self.retrievers[0]

    def searched_by(self, mode: str | None = None, fusion: FusionConfig | None = None) -> list[str]:
        """The retrievers a search in ``mode`` runs: that retriever; for hybrid, those of ``fusion`` (default:
        the index's fusion) that this index has, else all of them."""
        mode = mode or self.default_mode
        if mode != HYBRID:
            return [mode] if mode in self.retrievers else []
        fusion = fusion or self.default_fusion
        return [n for n in (fusion.retrievers or self.retrievers) if n in self.retrievers]

    def prepare_search(self, names: Sequence[str] | None = None, out=None) -> float:
        """Make the search code of the retrievers ``names`` (default: all) ready before the first query
        (:func:`tandem.retrieval.warmup.prepare_search`). Returns the seconds taken."""
        from .warmup import prepare_search

        wanted = set(self.retrievers if names is None else names)
        return prepare_search([c for c in self.manifest.components if c.name in wanted], out)

    @property
    def docs(self) -> IndexSnapshot:
        """Document lookup (``get``, ``get_many``, ``in``) over the live documents of this commit."""
        return self.snapshot

    def query_tokenizer(self):
        """The tokenizer that bounds query length: the first retriever that has one (BM25 only: None)."""
        if not self._query_tokenizer:
            found = None
            for name in self.retrievers:
                component = self.manifest.component(name)
                if backend(component.backend).doc_input != "text":
                    found = self._with_query_encoder(name).tokenizer
                    break
            self._query_tokenizer.append(found)
        return self._query_tokenizer[0]

    # -- retrieval -----------------------------------------------------------------------------
    def retrieve(self, name: str, queries: Sequence[str], depth: int, timings: dict[str, float] | None = None) -> list[Ranking]:
        """Ranked lists (doc_id -> score, best first) from one retriever for a batch of queries."""
        return self._with_query_encoder(name).search(list(queries), depth, timings=timings)

    def batch_search(self, queries: Sequence[str], k: int = 10, mode: str | None = None, fusion: FusionConfig | None = None) -> list[SearchResult]:
        mode = mode or self.default_mode
        if mode not in self.modes:
            raise TandemError(f"mode {mode!r} not available for this index (choose {', '.join(self.modes)})", "mode")
        if k < 1:
            raise TandemError("k must be at least 1", "k")
        for i, query in enumerate(queries):
            self._check_query(query, f"query[{i}]" if len(queries) > 1 else "query")
        timings: dict[str, float] = {}
        if mode != HYBRID:
            rankings = self.retrieve(mode, queries, k, timings)
            return [SearchResult(query, mode, _single_hits(mode, ranking), dict(timings)) for query, ranking in zip(queries, rankings)]
        fusion = fusion or self.default_fusion
        names = self.searched_by(HYBRID, fusion)
        if not names:
            raise TandemError(f"fusion names no retriever this index has ({', '.join(self.retrievers)})", "fusion.retrievers")
        per_retriever = {name: self.retrieve(name, queries, max(fusion.depth, k), timings) for name in names}
        t0 = time.perf_counter()
        fused = [fuse({name: lists[i] for name, lists in per_retriever.items()}, fusion, k) for i in range(len(queries))]
        fusion_ms = (time.perf_counter() - t0) * 1000 / max(len(queries), 1)
        return [SearchResult(query, HYBRID, hits, {**timings, "fusion": round(fusion_ms, 3)}) for query, hits in zip(queries, fused)]

    def search(self, query: str, k: int = 10, mode: str | None = None, fusion: FusionConfig | None = None) -> SearchResult:
        t0 = time.perf_counter()
        result = self.batch_search([query], k, mode, fusion)[0]
        result.timings_ms["total"] = round((time.perf_counter() - t0) * 1000, 3)
        return result

    def _check_query(self, query: str, where: str) -> None:
        check_query_text(query, where, self.query_tokenizer())

    # -- documents and explanations ------------------------------------------------------------
    def document(self, doc_id: str) -> Document | None:
        return self.snapshot.get(doc_id)

    def explainer(self, mode: str | None = None) -> Retriever | None:
        """The retriever that explains hits of ``mode``: that retriever if it can, for hybrid the first
        that can; None when the mode has no term-level explanation (dense, BM25)."""
        mode = mode or self.default_mode
        names = self.retrievers if mode == HYBRID else [mode] if mode in self.retrievers else []
        for name in names:
            component = self.manifest.component(name)
            if backend(component.backend).doc_input == "sparse":
                retriever = self._with_query_encoder(name)
                if supports(retriever, "explain"):
                    return retriever
        return None

    def explain(self, query: str, doc_id: str, top: int = 10, mode: str | None = None, query_vector=None) -> list[TermContribution]:
        """The sparse terms a query and a document share, by contribution (empty when the mode has none)."""
        retriever = self.explainer(mode)
        if retriever is None:
            return []
        if doc_id not in self.snapshot:
            raise TandemError(f"unknown document id {doc_id!r}", "doc_id")
        return retriever.explain(query, doc_id, top, query_vector=query_vector)

    def __enter__(self) -> "Searcher":
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def close(self) -> None:
        """Close the retrievers and release this commit (its files may then be collected)."""
        for retriever in self._retrievers.values():
            retriever.close()
        self._retrievers.clear()
        self._ready.clear()
        self.snapshot.close()


def _single_hits(mode: str, ranking: Ranking) -> list[Hit]:
    return [Hit(doc_id, score, rank, {mode: Component(rank, score, score)}) for rank, (doc_id, score) in enumerate(ranking.items(), start=1)]
