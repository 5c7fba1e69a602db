"""The one interface every retriever answers, whatever backend holds it.

A retriever is opened from one component of an index commit by the backend registered under the
component's ``backend`` name (see :mod:`tandem.retrieval.backends`). It owns its query encoder (an IDF
table, a SPLADE model, a dense model, a Lucene analyzer) and returns real document ids.

Optional capabilities are tested for, never assumed (:func:`supports`):

- ``explain(query, doc_id, top) -> list[TermContribution]``: why a document matched;
- ``doc_vector(doc_id)``: the document's stored vector (sparse or dense);
- ``tokenizer``: the query tokenizer, for query-length limits and "no searchable terms" checks;
- ``configure(k1=, b=)``: BM25 parameters for the following searches (``tandem search --k1/--b``).

Adding and deleting documents are operations on the index (:class:`tandem.retrieval.writer.IndexWriter`),
which asks each component's backend to apply them, so a new backend implements them once.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol, Sequence, runtime_checkable

from .types import Ranking


@dataclass(slots=True)
class TermContribution:
    """One matched term of a sparse explanation."""

    token: str
    query_weight: float
    doc_weight: float
    contribution: float
    in_document_text: bool  # False = an expansion term the document never contained literally


@runtime_checkable
class Retriever(Protocol):
    """``search(queries, k)``: for each query its ranked list (doc id -> score, best first)."""

    name: str
    backend: str

    def search(self, queries: Sequence[str], k: int, *, timings: dict[str, float] | None = None) -> list[Ranking]: ...

    def close(self) -> None: ...


def supports(retriever: object, capability: str) -> bool:
    """Whether a retriever offers an optional capability (``explain``, ``doc_vector``, ``tokenizer``)."""
    return getattr(retriever, capability, None) is not None
