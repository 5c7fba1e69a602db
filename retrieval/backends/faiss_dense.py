"""``faiss``: dense vectors in FAISS, one FAISS index per segment (row i = segment row i).

The component's ``faiss`` settings are what was asked (``auto`` by default); each segment records
the type it got (``stats[name]["faiss"]``): with ``auto``, small segments (e.g. a live index's added
batches) are flat and exact, large ones HNSW, and compaction decides again for the merged segment.
"""
from __future__ import annotations

from collections import Counter
from functools import partial
from pathlib import Path

import numpy as np

from tandem.index.dense import FILENAME, DenseIndex, FaissConfig, check_search_parameters, write_dense_index
from tandem.index.errors import IndexFormatError, TandemError
from tandem.index.manifest import ComponentInfo
from tandem.index.segments import IndexSnapshot, SegmentReader
from tandem.index.shared_readers import shared_reader

from ..encoders import encoder_key
from ..types import Ranking
from .base import Backend, EncodedDocs, EncodingRetriever, live_top_k, merge_top_k
from .dense_common import DenseQuerySide


class FaissBackend(Backend):
    name = "faiss"
    doc_input = "dense"
    segment_local = True
    description = "FAISS"
    required_settings = ("dim", "faiss", "encoder.model", "encoder.max_length")

    def settings_from(self, config) -> dict:
        return {"faiss": config.faiss.model_dump()}

    def write_segment(self, seg_dir: Path, component: ComponentInfo, docs: EncodedDocs) -> dict:
        vectors = docs.dense[encoder_key("dense", component.settings["encoder"])]
        return _write(seg_dir, vectors, FaissConfig.recorded(component.settings["faiss"]))

    def merge_segments(self, parts: list[tuple[Path, np.ndarray]], seg_dir: Path, component: ComponentInfo, order: np.ndarray | None = None) -> dict:
        config = FaissConfig.recorded(component.settings["faiss"])
        if config.type == "ivfpq":
            raise TandemError("compacting an ivfpq dense component is not supported (its vectors are quantised); rebuild the index", "compact")
        vectors = [DenseIndex(path).vectors(rows) for path, rows in parts]
        dim = int(component.settings["dim"])
        matrix = np.concatenate(vectors) if vectors else np.zeros((0, dim), np.float32)
        return _write(seg_dir, matrix if order is None else np.ascontiguousarray(matrix[order]), config)

    def check(self, snapshot: IndexSnapshot, component: ComponentInfo, thorough: bool = False) -> None:
        for seg in snapshot.segments:
            open_segment(seg, component)

    def open(self, snapshot: IndexSnapshot, component: ComponentInfo, device: str = "cpu") -> "FaissRetriever":
        return FaissRetriever(snapshot, component, device)

    def describe(self, component: ComponentInfo, segments=()) -> str:
        """E.g. ``384-d, faiss auto: hnsw (M=32, efConstruction=400, efSearch=256, fp16 vectors, 8 threads) in 1 segment; flat in 2 segments``."""
        s = component.settings
        asked = FaissConfig.recorded(s.get("faiss", {}))
        written = [FaissConfig.recorded(seg.stats[component.name]["faiss"]) for seg in segments if "faiss" in seg.stats.get(component.name, {})]
        if not written:
            return f"{s.get('dim')}-d, faiss {asked.type}"
        counts = Counter(_parameters(config) for config in written)
        parts = [f"{what} in {n} segment{'s' if n > 1 else ''}" if len(segments) > 1 else what for what, n in counts.items()]
        line = f"{s.get('dim')}-d, faiss {asked.type}: {'; '.join(parts)}"
        largest = max((seg.num_docs for seg in segments), default=0)
        if asked.type == "flat" and largest >= asked.auto_hnsw_min_vectors:
            line += f" (exact; above {asked.auto_hnsw_min_vectors:,} vectors a segment --faiss auto would use hnsw, ~10x faster)"
        return line


def _parameters(config: FaissConfig) -> str:
    """A written segment's FAISS type and the parameters that matter for it, for summaries."""
    threads = f", {config.build_threads} threads" if config.build_threads else ""
    if config.type == "hnsw":
        rerank = f", {config.hnsw_rerank} rerank x{config.rerank_factor:g}" if config.reranks else ""
        return f"hnsw (M={config.hnsw_m}, efConstruction={config.ef_construction}, efSearch={config.ef_search}, {config.hnsw_storage} vectors{rerank}{threads})"
    if config.type == "ivfpq":
        return f"ivfpq (nlist={config.nlist}, m={config.pq_m}x{config.pq_nbits} bits, nprobe={config.nprobe}, trained on {config.train_size:,}{threads})"
    return "flat"


def _write(seg_dir: Path, vectors: np.ndarray, config: FaissConfig) -> dict:
    """One segment's FAISS index (``auto`` resolved for its size); a segment too small to train ivfpq on is stored flat (exact)."""
    if config.type == "ivfpq" and len(vectors) < max(2 ** config.pq_nbits, 39 * (config.nlist or 1)):
        config = config.model_copy(update={"type": "flat"})
    summary = write_dense_index(seg_dir, vectors, config)
    return {"num_vectors": summary["num_vectors"], "faiss": summary["faiss"], "faiss_build_seconds": summary["faiss_build_seconds"]}


def open_segment(seg: SegmentReader, component: ComponentInfo) -> DenseIndex:
    """A segment's FAISS index, refused (one line naming the file) unless it holds one vector of the
    component's dimension per row of the segment."""
    written = seg.info.stats.get(component.name, {}).get("faiss", component.settings["faiss"])
    index = DenseIndex(seg.path / component.name, FaissConfig.recorded(written))
    path = seg.path / component.name / FILENAME
    if index.num_docs != seg.info.num_docs:
        raise IndexFormatError(f"FAISS index has {index.num_docs} vectors, the segment {seg.info.num_docs}", str(path))
    if index.dim != int(component.settings["dim"]):
        raise IndexFormatError(f"FAISS index has {index.dim}-d vectors, the manifest says {component.settings['dim']}", str(path))
    return index


def shared_segment(seg: SegmentReader, component: ComponentInfo) -> DenseIndex:
    """:func:`open_segment`, or the index this process already has open for that same file (:mod:`tandem.index.shared_readers`)."""
    try:
        return shared_reader("faiss", seg.path / component.name / FILENAME, partial(open_segment, seg, component))
    except OSError:  # the file is missing: opening it says so, naming it
        return open_segment(seg, component)


def check_similarities(rows: np.ndarray, scores: np.ndarray, path: Path) -> None:
    """Inner products of unit vectors lie in [-1, 1]: anything else (or NaN) comes from damaged stored
    vectors (O(k) per query; damage that keeps scores in range is found by ``index info --verify``)."""
    found = scores[rows >= 0]
    if found.size and not bool((np.abs(found) <= 1.0 + 1e-3).all()):
        bad = found[~(np.abs(found) <= 1.0 + 1e-3)][0]
        raise IndexFormatError(f"similarity {bad:g} is impossible for unit vectors: stored vectors are damaged "
                               "(`tandem index info --verify` checks every file)", str(path))


class FaissRetriever(DenseQuerySide, EncodingRetriever):
    """Inner-product search over every segment's FAISS index, skipping deleted rows."""

    backend = FaissBackend.name

    def __init__(self, snapshot: IndexSnapshot, component: ComponentInfo, device: str = "cpu") -> None:
        self.name = component.name
        self.snapshot = snapshot
        self.settings = component.settings
        self._device = device
        # Shared with this process's other snapshots of the same segments (a reopen after a commit reads only
        # the new segments' FAISS files), so search parameters live here and go with each search call.
        self.segments = [(seg, shared_segment(seg, component)) for seg in snapshot.segments]
        self._unit_vectors = bool(self.settings["encoder"].get("normalize", True))
        self.search_parameters: dict[str, float | None] = {"ef_search": None, "nprobe": None, "rerank_factor": None}  # None: each segment's own

    def configure(self, *, ef_search: int | None = None, nprobe: int | None = None, rerank_factor: float | None = None) -> None:
        """Search-time parameters for every segment from now on (None keeps the current value; until set, each
        segment's recorded one): ``ef_search`` for HNSW segments, ``rerank_factor`` (candidates re-scored per
        result) for HNSW segments with a rerank, ``nprobe`` for IVF-PQ segments; flat segments are exact and
        ignore them. Each search passes them to FAISS per call, so threads searching meanwhile are safe."""
        check_search_parameters(ef_search, nprobe, rerank_factor)
        given = {"ef_search": ef_search, "nprobe": nprobe, "rerank_factor": rerank_factor}
        self.search_parameters = {**self.search_parameters, **{key: value for key, value in given.items() if value is not None}}

    @property
    def segment_types(self) -> list[str]:
        """The FAISS type of each segment's index (flat, hnsw, ivfpq), in segment order."""
        return [index.type for _, index in self.segments]

    def search_encoded(self, vectors: np.ndarray, k: int) -> list[Ranking]:
        return self.search_vectors(vectors, k)

    def search_vectors(self, vectors: np.ndarray, k: int) -> list[Ranking]:
        per_segment = []
        for seg, index in self.segments:
            rows, scores = index.search(vectors, k + seg.num_deleted, **self.search_parameters)
            if self._unit_vectors and index.config.type != "ivfpq":
                check_similarities(rows, scores, seg.path / self.name / FILENAME)
            per_segment.append((seg, rows, scores))
        out = []
        for q in range(len(vectors)):
            parts = []
            for seg, rows, scores in per_segment:
                found = rows[q] >= 0  # FAISS marks missing results -1
                parts.append(live_top_k(seg, rows[q][found], scores[q][found], k))
            out.append(merge_top_k(parts, k))
        return out

    def doc_vector(self, doc_id: str) -> np.ndarray | None:
        where = self.snapshot.locate(doc_id)
        if where is None:
            return None
        return self.segments[where[0]][1].vectors(np.array([where[1]]))[0]

    def close(self) -> None:
        self.segments = []
