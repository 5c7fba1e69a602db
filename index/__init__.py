"""Storage: corpus reading, document store, sparse inverted index, FAISS index, manifest.

Knows nothing of models: vectors come in as arrays.
"""
from typing import TYPE_CHECKING

from .lazy_exports import lazy_exports

_EXPORTS = {
    "Document": "corpus", "read_corpus": "corpus",
    "DenseIndex": "dense", "FaissConfig": "dense",
    "DocStore": "docstore",
    "IndexFormatError": "errors", "InputError": "errors", "TandemError": "errors",
    "FORMAT_VERSION": "manifest", "Manifest": "manifest", "read_manifest": "manifest",
    "SparseIndex": "sparse", "SparseVector": "sparse",
}
# Imported on first use: `from tandem.index.errors import TandemError` must not load numba, FAISS or pydantic models.
__getattr__, __dir__ = lazy_exports(__name__, _EXPORTS)

if TYPE_CHECKING:
    from .corpus import Document, read_corpus
    from .dense import DenseIndex, FaissConfig
    from .docstore import DocStore
    from .errors import IndexFormatError, InputError, TandemError
    from .manifest import FORMAT_VERSION, Manifest, read_manifest
    from .sparse import SparseIndex, SparseVector

__all__ = list(_EXPORTS)
