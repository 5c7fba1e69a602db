"""What the per-segment approximate sparse engines (``seismic``, ``bmp``) share: one engine index per
immutable segment over the SPLADE vectors of its documents, the native engine's query side and IDF
policy (:mod:`.sparse_common`), and settings kept as one pydantic model under
``component.settings[<settings_key>]`` (build parameters and default search parameters).

A new engine of this kind is three small pieces:

- a :class:`PerSegmentSparseSegment` subclass opened on ``segments/<segment>/<component>/`` as
  ``Segment(path, num_docs)`` (checking its files' headers, refusing damage in one line);
- a :class:`PerSegmentSparseRetriever` subclass naming the engine (``backend``, ``settings_key``,
  ``config_class``, ``parameters_class``, ``segment_class``), searching one vector over all segments
  (``search_vector``) and offering ``configure`` with its search parameters as keyword arguments
  (the signature is what ``--param`` reads; the body calls :meth:`~PerSegmentSparseRetriever._reconfigure`);
- a :class:`PerSegmentSparseBackend` subclass naming its ``retriever_class`` and writing one segment
  of a CSR matrix (``write_matrix``), with the line ``describe`` shows.
"""
from __future__ import annotations

import dataclasses
import importlib
import threading
from abc import abstractmethod
from pathlib import Path
from typing import ClassVar

import numpy as np
import scipy.sparse as sp
from pydantic import BaseModel, ValidationError

from tandem.index.errors import TandemError, first_validation_error
from tandem.index.manifest import ComponentInfo
from tandem.index.segments import IndexSnapshot, SegmentReader
from tandem.index.sparse import SparseVector

from ..encoders import encoder_key
from ..types import Ranking
from .base import Backend, EncodedDocs, EncodingRetriever, SharedChange, WriteContext
from .native_sparse import NativeSparseRetriever
from .sparse_common import SparseQuerySide, apply_query_side_change, check_query_side, postings_summary


def import_engine(module: str, backend: str, requirement: str, hint: str):
    """The engine's Python module, imported when an index is written or opened (so that importing Tandem
    never needs it), or one line: ``the <backend> backend needs <requirement>: <hint>``."""
    try:
        return importlib.import_module(module)
    except ImportError:
        raise TandemError(f"the {backend} backend needs {requirement}: {hint}", backend) from None


class PerSegmentSparseSegment:
    """What the backend and retriever read of one segment's engine files besides searching them."""

    def vector(self, row: int) -> SparseVector:
        """The stored vector of a segment row (``doc_vector``, explanations)."""
        raise NotImplementedError

    def doc_terms(self, row: int, term_ids: np.ndarray) -> SparseVector:
        """The stored weights of the row's terms among ``term_ids`` (what an explanation reads)."""
        full = self.vector(row)
        keep = np.isin(full.ids, np.asarray(term_ids))
        return SparseVector(full.ids[keep], full.weights[keep])

    def doc_matrix(self, rows: np.ndarray, vocab_size: int) -> sp.csr_matrix:
        """The stored vectors of ``rows`` (in that order) as a CSR matrix of ``vocab_size`` columns (compaction)."""
        raise NotImplementedError

    def verify(self) -> None:
        """What ``tandem index info --verify`` reads beyond the headers checked on opening."""
        raise NotImplementedError


class PerSegmentSparseRetriever(SparseQuerySide, EncodingRetriever):
    """Search through every segment's engine index, skipping deleted rows, with search parameters that
    change at search time (:meth:`_reconfigure`; each search reports the values it used in its timings as
    ``<name>_<parameter>``). Queries are encoded as for native-sparse (:class:`SparseQueryEncoder`)."""

    backend: ClassVar[str]  # the registered backend name
    settings_key: ClassVar[str]  # component.settings[settings_key] holds the engine's settings
    config_class: ClassVar[type[BaseModel]]  # those settings: build and default search parameters
    parameters_class: ClassVar[type]  # frozen dataclass of the search parameters (each a field of config_class)
    segment_class: ClassVar[type[PerSegmentSparseSegment]]  # one segment's engine files: Segment(path, num_docs)

    def __init__(self, snapshot: IndexSnapshot, component: ComponentInfo, device: str = "cpu") -> None:
        self._open_query_side(snapshot, component, device)
        config = self.config_class(**component.settings.get(self.settings_key, {}))
        self._params = self.parameters_class(**{key: getattr(config, key) for key in self.search_keys()})
        self._configure_lock = threading.Lock()
        self.segments: list[tuple[SegmentReader, PerSegmentSparseSegment]] = [
            (seg, self._open_segment(seg.path / component.name, seg.info.num_docs)) for seg in snapshot.segments]

    @classmethod
    def search_keys(cls) -> tuple[str, ...]:
        """The names of the search parameters, in the order timings report them."""
        return tuple(f.name for f in dataclasses.fields(cls.parameters_class))

    def _open_segment(self, path: Path, num_docs: int) -> PerSegmentSparseSegment:
        """One segment's engine files as the retriever keeps them (checked; loading may wait for a search)."""
        return self.segment_class(path, num_docs)

    @property
    def search_parameters(self) -> dict:
        """The search parameters in use, name -> value."""
        return {key: getattr(self._params, key) for key in self.search_keys()}

    def _reconfigure(self, **values) -> None:
        """Replace the search parameters given (None keeps the current value), checked by the settings model:
        a bad value is refused in one line naming it and changes nothing."""
        with self._configure_lock:
            merged = {**self.search_parameters, **{key: value for key, value in values.items() if value is not None}}
            try:
                checked = self.config_class(**merged)
            except ValidationError as exc:
                location, message = first_validation_error(exc)
                raise TandemError(f"{location}: {message}", "configure") from None
            self._params = self.parameters_class(**{key: getattr(checked, key) for key in self.search_keys()})

    def search(self, queries, k: int, *, timings: dict[str, float] | None = None) -> list[Ranking]:
        params = self._params
        out = super().search(queries, k, timings=timings)
        if timings is not None:
            for key in self.search_keys():
                timings[f"{self.name}_{key}"] = float(getattr(params, key))
        return out

    def search_encoded(self, vectors: list[SparseVector], k: int) -> list[Ranking]:
        params = self._params
        return [self.search_vector(v, k, params) for v in vectors]

    def search_vector(self, vector: SparseVector, k: int, params=None) -> Ranking:
        """One query's top-k over all segments (``params``: the current search parameters by default)."""
        raise NotImplementedError

    def doc_vector(self, doc_id: str) -> SparseVector | None:
        """The document's vector as its segment stores it, or None for an unknown id."""
        where = self.snapshot.locate(doc_id)
        if where is None:
            return None
        return self.segments[where[0]][1].vector(where[1])

    # The same term-level explanation as native-sparse, over the stored vectors (doc_vector above).
    explain = NativeSparseRetriever.explain

    def close(self) -> None:
        self.segments = []


class PerSegmentSparseBackend(Backend):
    """A segment-local sparse backend over one engine index per segment; the query side (tokenizer, IDF
    table) is index-wide and kept exactly as native-sparse keeps it. ``settings_key``, ``config_class``
    and ``required_settings`` follow from ``retriever_class``."""

    doc_input = "sparse"
    segment_local = True
    has_shared_dir = True
    retriever_class: ClassVar[type[PerSegmentSparseRetriever]]
    settings_key: ClassVar[str]
    config_class: ClassVar[type[BaseModel]]

    def __init_subclass__(cls, **kwargs) -> None:
        super().__init_subclass__(**kwargs)
        retriever = cls.__dict__.get("retriever_class")
        if retriever is not None:
            cls.settings_key = retriever.settings_key
            cls.config_class = retriever.config_class
            cls.required_settings = ("mode", retriever.settings_key, "encoder.model", "encoder.max_length")

    def config(self, component: ComponentInfo) -> BaseModel:
        """The component's engine settings (the model's defaults for any the manifest does not name)."""
        return self.config_class(**component.settings.get(self.settings_key, {}))

    # -- writing ------------------------------------------------------------------------------
    @abstractmethod
    def write_matrix(self, seg_dir: Path, matrix: sp.csr_matrix, config: BaseModel) -> dict:
        """Write one segment's engine files for ``matrix`` (docs x vocab; row i = segment row i); returns its
        statistics (subclasses: ``write_matrix = staticmethod(<the engine's segment writer>)``)."""

    def settings_from(self, config) -> dict:
        return {self.settings_key: (getattr(config, self.settings_key, None) or self.config_class()).model_dump()}

    def write_segment(self, seg_dir: Path, component: ComponentInfo, docs: EncodedDocs) -> dict:
        matrix = docs.sparse[encoder_key("sparse", component.settings["encoder"])]
        return self.write_matrix(seg_dir, matrix, self.config(component))

    def merge_segments(self, parts: list[tuple[Path, np.ndarray]], seg_dir: Path, component: ComponentInfo, order: np.ndarray | None = None) -> dict:
        """One segment of the stored vectors of the live rows of each part (rebuilt from what the engine stores)."""
        matrix = self.merged_doc_matrix(parts, component)
        return self.write_matrix(seg_dir, matrix if order is None else matrix[order], self.config(component))

    def merged_doc_matrix(self, parts: list[tuple[Path, np.ndarray]], component: ComponentInfo) -> sp.csr_matrix:
        vocab_size = int(component.settings["encoder"]["vocab_size"])
        matrices = [self.retriever_class.segment_class(path).doc_matrix(rows, vocab_size) for path, rows in parts]
        return sp.vstack(matrices).tocsr() if matrices else sp.csr_matrix((0, vocab_size), dtype=np.float32)

    def update_shared(self, component: ComponentInfo, change: SharedChange, context: WriteContext) -> dict | None:
        """The query side (tokenizer, IDF table) and its IDF policy, exactly as native-sparse keeps them."""
        return apply_query_side_change(component.settings, change)

    # -- checking and reading -----------------------------------------------------------------
    def check(self, snapshot: IndexSnapshot, component: ComponentInfo, thorough: bool = False) -> None:
        for seg in snapshot.segments:
            segment = self.retriever_class.segment_class(seg.path / component.name, seg.info.num_docs)
            if thorough:
                segment.verify()
        check_query_side(component.settings, snapshot.root / component.shared_dir)

    def open(self, snapshot: IndexSnapshot, component: ComponentInfo, device: str = "cpu") -> PerSegmentSparseRetriever:
        return self.retriever_class(snapshot, component, device)

    @abstractmethod
    def describe_engine(self, config: BaseModel) -> str:
        """The engine and its settings, for the ``describe`` line."""

    def describe_statistics(self, stats: list[dict]) -> str:
        """What the line adds after the postings summary, from the segments' statistics ("" by default)."""
        return ""

    def describe(self, component: ComponentInfo, segments=()) -> str:
        """``<mode>, <engine and settings>, N postings, T terms/doc<statistics>``."""
        summary, stats = postings_summary(component, segments)
        text = f"{component.settings.get('mode')}, {self.describe_engine(self.config(component))}{summary}"
        return text + self.describe_statistics(stats) if summary else text
