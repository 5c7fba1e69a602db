"""``native-sparse``: learned sparse vectors in Tandem's own inverted index, one per segment."""
from __future__ import annotations

from functools import partial
from pathlib import Path

import numpy as np
import scipy.sparse as sp

from tandem.index.manifest import ComponentInfo
from tandem.index.segments import IndexSnapshot
from tandem.index.sparse_format import SparseIndexConfig
from tandem.index.sparse import SparseVector, check_bound_factor, warm_search_kernels, write_sparse_index
from tandem.index.shared_readers import shared_reader
from tandem.index.sparse_checks import TermChecks, check_in_background, open_checked
from tandem.index.threads import map_in_threads

from ..encoders import encoder_key
from ..retriever import TermContribution
from ..types import Ranking
from .base import Backend, EncodedDocs, EncodingRetriever, SharedChange, WriteContext, live_top_k, merge_top_k
from .sparse_common import SparseQuerySide, apply_query_side_change, check_query_side, postings_summary


class NativeSparseBackend(Backend):
    name = "native-sparse"
    doc_input = "sparse"
    segment_local = True
    description = "Tandem's inverted index (exact top-k)"
    required_settings = ("mode", "encoder.model", "encoder.max_length")
    has_shared_dir = True

    def settings_from(self, config) -> dict:
        return {"index": SparseIndexConfig(weights=config.sparse_weights, forward=config.sparse_forward).model_dump()}

    def write_segment(self, seg_dir: Path, component: ComponentInfo, docs: EncodedDocs) -> dict:
        matrix = docs.sparse[encoder_key("sparse", component.settings["encoder"])]
        return write_sparse_index(seg_dir, matrix, config=_index_config(component))

    def merge_segments(self, parts: list[tuple[Path, np.ndarray]], seg_dir: Path, component: ComponentInfo, order: np.ndarray | None = None) -> dict:
        matrix, inherited = _merged(parts)
        return write_sparse_index(seg_dir, matrix if order is None else matrix[order], config=_index_config(component), inherited_error=inherited)

    def merged_doc_matrix(self, parts: list[tuple[Path, np.ndarray]], component: ComponentInfo) -> sp.csr_matrix:
        return _merged(parts)[0]

    def prepare_search(self, component: ComponentInfo) -> float:
        """Compile (first use on a machine, ~30 s) or load from numba's cache the search kernels for the component's weight type."""
        config = _index_config(component)
        return warm_search_kernels(config.weights, config.layout)

    def update_shared(self, component: ComponentInfo, change: SharedChange, context: WriteContext) -> dict | None:
        return apply_query_side_change(component.settings, change)

    def check(self, snapshot: IndexSnapshot, component: ComponentInfo, thorough: bool = False) -> None:
        for seg in snapshot.segments:
            open_checked(seg.path / component.name, seg.info.num_docs, thorough)
        check_query_side(component.settings, snapshot.root / component.shared_dir)

    def open(self, snapshot: IndexSnapshot, component: ComponentInfo, device: str = "cpu") -> "NativeSparseRetriever":
        return NativeSparseRetriever(snapshot, component, device)

    def describe(self, component: ComponentInfo, segments=()) -> str:
        s = component.settings
        summary, stats = postings_summary(component, segments)
        text = f"{s.get('mode')}, native inverted index{summary}"
        if summary and len(stats) == 1:
            text += f", FLOPS {stats[0].get('flops', 0):.2f}"
        return text


def _merged(parts: list[tuple[Path, np.ndarray]]) -> tuple[sp.csr_matrix, float]:
    """The live rows of the parts as one matrix (dequantised weights), and the largest weight error the parts carry."""
    indexes = [open_checked(path, None, thorough=True) for path, _ in parts]  # all data is read: check all
    matrices = [index.doc_matrix()[rows] for index, (_, rows) in zip(indexes, parts)]
    # quantised parts are dequantised and rounded again to the merged scale: their errors carry over into the recorded bound
    inherited = max((index.info.max_weight_error for index in indexes), default=0.0)
    return (sp.vstack(matrices).tocsr() if matrices else sp.csr_matrix((0, 1))), inherited


def _index_config(component: ComponentInfo) -> SparseIndexConfig:
    """How this component's segments store postings (float32, no forward copy for indexes built before it was recorded)."""
    return SparseIndexConfig(**component.settings.get("index", {}))


PREPARED_K = 10  # the k whose pruning floors an open index computes ahead (the default of search, eval and the REST API)


class SegmentPostings:
    """A segment's sparse index, checked on open, with the checks of its terms (:class:`TermChecks`)."""

    def __init__(self, directory: Path, num_docs: int) -> None:
        self.index = open_checked(directory, num_docs)
        self.checks = TermChecks(self.index)

    @classmethod
    def shared(cls, directory: Path, num_docs: int) -> "SegmentPostings":
        """The segment's postings as this process already has them open (:mod:`tandem.index.shared_readers`), or opened."""
        try:
            return shared_reader("native-sparse", directory, partial(cls, directory, num_docs))
        except OSError:  # the folder is missing: opening it says so, naming it
            return cls(directory, num_docs)


class NativeSparseRetriever(SparseQuerySide, EncodingRetriever):
    """Exact sparse dot-product search over every segment, skipping deleted rows."""

    backend = NativeSparseBackend.name

    def __init__(self, snapshot: IndexSnapshot, component: ComponentInfo, device: str = "cpu") -> None:
        self._open_query_side(snapshot, component, device)
        # Shared with this process's other snapshots of the same segments (a reopen after a commit opens and
        # checks only the new ones; their term checks and k-th weight floors stay warm), so search settings
        # live here, not in the shared index.
        self._opened = [SegmentPostings.shared(seg.path / component.name, seg.info.num_docs) for seg in snapshot.segments]
        self.segments = [(seg, opened.index) for seg, opened in zip(snapshot.segments, self._opened)]
        # Each term's blocks are decoded once before use (SegmentPostings.checks), or by one pass after open, which then
        # computes each term's floor for the usual k (a reopen finds both done)
        self._stop_checks = check_in_background([opened.checks for opened in self._opened],
                                                then=lambda index, stop: index.fill_kth_weights(PREPARED_K, stop))
        self._bound_factor = 1.0

    @property
    def bound_factor(self) -> float:
        """This retriever's bound factor (:meth:`configure`): 1 is exact."""
        return self._bound_factor

    def configure(self, *, bound_factor: float | None = None) -> None:
        """Search-time parameter for the following searches (None keeps the current value):
        ``bound_factor`` 1 (default) is exact; 0 < f < 1 is *Tandem approximate*: the pruning kernel
        multiplies every block-max upper bound by f, so it skips more and may miss documents (returned
        scores stay exact). ``tandem search --param sparse.bound_factor=0.8``."""
        if bound_factor is None:
            return
        self._bound_factor = check_bound_factor(bound_factor)  # refused here (an empty index too)

    def search_encoded(self, vectors: list[SparseVector], k: int) -> list[Ranking]:
        """Rankings of a batch of query vectors, split across the search threads (:mod:`tandem.index.threads`)."""
        return map_in_threads(lambda vector: self.search_vector(vector, k), vectors)

    def search_vector(self, vector: SparseVector, k: int) -> Ranking:
        parts = []
        for (seg, index), opened in zip(self.segments, self._opened):
            opened.checks.check(vector.ids)
            parts.append(live_top_k(seg, *index.search(vector, k + seg.num_deleted, self._bound_factor), k))
        return merge_top_k(parts, k)

    def doc_vector(self, doc_id: str) -> SparseVector | None:
        where = self.snapshot.locate(doc_id)
        if where is None:
            return None
        return self.segments[where[0]][1].doc_vector(where[1])

    def explain(self, query: str, doc_id: str, top: int = 10, query_vector: SparseVector | None = None) -> list[TermContribution]:
        """The sparse terms a query and a document share, by contribution to the score."""
        where = self.snapshot.locate(doc_id)
        if where is None:
            return []
        qvec = query_vector if query_vector is not None else self.encode([query])[0]
        dvec = self.segments[where[0]][1].doc_terms(where[1], qvec.ids)  # the query's terms only: fast without a forward copy
        common, qi, di = np.intersect1d(qvec.ids, dvec.ids, assume_unique=True, return_indices=True)
        contrib = qvec.weights[qi].astype(np.float64) * dvec.weights[di]
        order = np.argsort(-contrib, kind="stable")[:top]
        tokenizer = self.tokenizer
        doc = self.snapshot.get(doc_id)
        literal = set(tokenizer(doc.contents, add_special_tokens=False)["input_ids"]) if doc else set()
        tokens = tokenizer.convert_ids_to_tokens([int(common[i]) for i in order])
        return [TermContribution(tok, float(qvec.weights[qi[i]]), float(dvec.weights[di[i]]), float(contrib[i]), int(common[i]) in literal)
                for tok, i in zip(tokens, order)]

    def close(self) -> None:
        self._stop_checks.set()
        self.segments, self._opened = [], []
