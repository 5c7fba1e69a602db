"""Backends by name. A new backend is one module with a :class:`Backend` subclass, registered here.

The manifest names each component's backend, so opening an index needs no if-chain:
``backend(component.backend).open(snapshot, component)``.
"""
from __future__ import annotations

from tandem.index.errors import IndexFormatError

from .base import Backend, EncodedDocs, SharedChange, WriteContext
from .bmp_sparse import BmpBackend  # imports bmp only when a BMP index is written or opened
from .faiss_dense import FaissBackend
from .lucene_bm25 import LuceneBM25Backend
from .lucene_impact import LuceneImpactBackend
from .milvus import MilvusBM25Backend, MilvusDenseBackend, MilvusSparseBackend  # imports pymilvus only when a Milvus component is written or opened
from .native_sparse import NativeSparseBackend
from .seismic_sparse import SeismicBackend  # imports pyseismic-lsr only when a Seismic index is written or opened

BACKENDS: dict[str, Backend] = {}


def register(backend: Backend) -> Backend:
    """Make a backend available under its name (to builds, manifests and the CLI)."""
    BACKENDS[backend.name] = backend
    return backend


for _backend in (NativeSparseBackend(), FaissBackend(), LuceneBM25Backend(), LuceneImpactBackend(), SeismicBackend()):
    register(_backend)
register(BmpBackend())
register(MilvusSparseBackend())
register(MilvusDenseBackend())
register(MilvusBM25Backend())


def backend(name: str) -> Backend:
    """The backend registered as ``name``; an index naming an unknown one is refused in one line."""
    try:
        return BACKENDS[name]
    except KeyError:
        raise IndexFormatError(f"unknown backend {name!r} (this Tandem has: {', '.join(sorted(BACKENDS))})", "manifest") from None


__all__ = ["BACKENDS", "Backend", "EncodedDocs", "SharedChange", "WriteContext", "backend", "register"]
