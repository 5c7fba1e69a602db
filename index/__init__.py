"""Storage: corpus reading, document store, sparse inverted index, FAISS index, manifest.

Knows nothing of models: vectors come in as arrays.
"""
from .corpus import Document, read_corpus
from .dense import DenseIndex, FaissConfig
from .docstore import DocStore
from .errors import IndexFormatError, InputError, TandemError
from .manifest import FORMAT_VERSION, Manifest, read_manifest
from .sparse import SparseIndex, SparseVector

__all__ = [
    "Document",
    "read_corpus",
    "DenseIndex",
    "FaissConfig",
    "DocStore",
    "IndexFormatError",
    "InputError",
    "TandemError",
    "FORMAT_VERSION",
    "Manifest",
    "read_manifest",
    "SparseIndex",
    "SparseVector",
]
