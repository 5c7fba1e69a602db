"""Dense vector index on FAISS (inner product over L2-normalised vectors = cosine).

Types: ``flat`` (exact), ``hnsw`` (graph; M, efConstruction, efSearch) and ``ivfpq``
(inverted file + product quantisation; nlist, m, nbits, nprobe). Row i of the FAISS index
is the document with internal index i.
"""
from __future__ import annotations

import math
from pathlib import Path

import numpy as np
from pydantic import BaseModel, Field

from .errors import IndexFormatError, TandemError

DIRNAME = "dense"
FILENAME = "faiss.index"
FAISS_TYPES = ("flat", "hnsw", "ivfpq")


class FaissConfig(BaseModel):
    """FAISS index type and its parameters; recorded in the manifest."""

    type: str = Field("flat", description="flat | hnsw | ivfpq")
    hnsw_m: int = 32
    ef_construction: int = 200
    ef_search: int = 128
    nlist: int | None = None  # ivfpq: default ~ 4*sqrt(N), capped so each list trains on >= 39 points
    pq_m: int | None = None  # ivfpq: sub-quantisers; default dim/4 rounded to a divisor of dim
    pq_nbits: int = 8
    nprobe: int = 16

    def resolved(self, num_docs: int, dim: int) -> "FaissConfig":
        if self.type not in FAISS_TYPES:
            raise TandemError(f"unknown FAISS type {self.type!r} (choose {', '.join(FAISS_TYPES)})", "--faiss")
        if self.type != "ivfpq":
            return self
        nlist = self.nlist or max(1, min(int(4 * math.sqrt(num_docs)), num_docs // 39))
        pq_m = self.pq_m or next(m for m in range(max(1, dim // 4), 0, -1) if dim % m == 0)
        if dim % pq_m:
            raise TandemError(f"pq_m={pq_m} must divide the embedding dimension {dim}", "--faiss-pq-m")
        return self.model_copy(update={"nlist": nlist, "pq_m": pq_m})


def build_faiss_index(vectors: np.ndarray, config: FaissConfig):
    import faiss

    vectors = np.ascontiguousarray(vectors, dtype=np.float32)
    num_docs, dim = vectors.shape
    config = config.resolved(num_docs, dim)
    if config.type == "flat":
        index = faiss.IndexFlatIP(dim)
    elif config.type == "hnsw":
        index = faiss.IndexHNSWFlat(dim, config.hnsw_m, faiss.METRIC_INNER_PRODUCT)
        index.hnsw.efConstruction = config.ef_construction
        index.hnsw.efSearch = config.ef_search
    else:
        quantizer = faiss.IndexFlatIP(dim)
        index = faiss.IndexIVFPQ(quantizer, dim, config.nlist, config.pq_m, config.pq_nbits, faiss.METRIC_INNER_PRODUCT)
        if num_docs < 2 ** config.pq_nbits:
            raise TandemError(f"ivfpq with {config.pq_nbits} bits needs at least {2 ** config.pq_nbits} documents to train, got {num_docs}", "--faiss")
        index.train(vectors)
        index.nprobe = config.nprobe
    index.add(vectors)
    return index, config


def write_dense_index(directory: Path, vectors: np.ndarray, config: FaissConfig) -> dict:
    import faiss

    directory.mkdir(parents=True, exist_ok=True)
    index, resolved = build_faiss_index(vectors, config)
    faiss.write_index(index, str(directory / FILENAME))
    return {"dim": int(vectors.shape[1]), "num_vectors": int(vectors.shape[0]), "faiss": resolved.model_dump()}


class DenseIndex:
    def __init__(self, directory: Path, config: FaissConfig | None = None, mmap: bool = True) -> None:
        import faiss

        path = Path(directory) / FILENAME
        if not path.exists():
            raise IndexFormatError("dense index file missing", str(path))
        flags = faiss.IO_FLAG_MMAP | faiss.IO_FLAG_READ_ONLY if mmap else 0
        try:
            self.index = faiss.read_index(str(path), flags)
        except RuntimeError:
            try:
                self.index = faiss.read_index(str(path))  # types that cannot be memory-mapped
            except RuntimeError as exc:
                reason = str(exc).strip().splitlines()[0].rsplit("Error: ", 1)[-1] if str(exc).strip() else "unknown error"
                raise IndexFormatError(f"FAISS index unreadable: {reason}", str(path)) from None
        self.config = config or FaissConfig()
        if self.config.type == "hnsw":
            faiss.downcast_index(self.index).hnsw.efSearch = self.config.ef_search
        elif self.config.type == "ivfpq":
            faiss.extract_index_ivf(self.index).nprobe = self.config.nprobe
        self.dim = self.index.d
        self.num_docs = self.index.ntotal

    def search(self, queries: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
        """Batch search: (doc indices [Q, k], scores [Q, k]); -1 marks missing results."""
        queries = np.ascontiguousarray(queries, dtype=np.float32).reshape(-1, self.dim)
        scores, ids = self.index.search(queries, max(1, min(k, self.num_docs)))
        return ids, scores

    def vectors(self, rows: np.ndarray) -> np.ndarray:
        """The stored vectors of these rows (exact for flat and hnsw; ivfpq keeps only quantised codes)."""
        import faiss

        rows = np.asarray(rows, dtype=np.int64)
        if rows.size == 0:
            return np.zeros((0, self.dim), np.float32)
        base = faiss.downcast_index(self.index)
        if isinstance(base, faiss.IndexHNSW):
            base = faiss.downcast_index(base.storage)
        if isinstance(base, faiss.IndexFlat):
            flat = faiss.rev_swig_ptr(base.get_xb(), base.ntotal * self.dim).reshape(base.ntotal, self.dim)
            return np.array(flat[rows], dtype=np.float32)
        return np.stack([self.index.reconstruct(int(r)) for r in rows])

