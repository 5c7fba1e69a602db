"""Lucene backend (Anserini through jnius, pyserini's jar): BM25 and learned-sparse impact indexes.

Importing this package does not import pyserini or jnius, nor start the JVM; the functions and
classes in ``bm25`` / ``impact`` do, on first use (see ``jvm``).
"""
from .jvm import ensure_jvm, import_pyserini

__all__ = ["ensure_jvm", "import_pyserini"]
