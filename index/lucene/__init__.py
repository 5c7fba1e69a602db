"""Lucene backend through pyserini: BM25 and learned-sparse impact indexes.

Importing this package does not import pyserini or start the JVM; the classes do, on first use.
"""
from .jvm import ensure_jvm, import_pyserini

__all__ = ["ensure_jvm", "import_pyserini"]
