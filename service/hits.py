"""One search hit as the REST API returns it and ``tandem search --json`` prints it: the same
pydantic models (:class:`~tandem.service.schemas.HitOut`, :class:`~tandem.service.schemas.TermOut`), built here only."""
from __future__ import annotations

from typing import Sequence

from tandem.index.corpus import Document
from tandem.index.faults import stall_point
from tandem.retrieval.types import Hit

from .schemas import ComponentOut, HitOut, TermOut
from .snippets import highlights, snippet
from .wordpieces import query_words_by_piece


def hit_out(hit: Hit, doc: Document | None, fields: Sequence[str], words: list[str]) -> HitOut:
    """The hit with the document ``fields`` asked for (title, text, snippet) and the query ``words`` it contains."""
    out = HitOut(doc_id=hit.doc_id, rank=hit.rank, score=hit.score,
                 components={name: ComponentOut(rank=c.rank, score=c.score, contribution=c.contribution) for name, c in hit.components.items()})
    if doc is not None:
        if "title" in fields:
            out.title = doc.title
        if "text" in fields:
            out.text = doc.text
        if "snippet" in fields:
            stall_point("service:snippet")  # tests: a search stuck here, as on a pathological document
            out.snippet = snippet(doc.text, words)
        out.highlights = highlights(words, doc.title, out.snippet or doc.text)
    return out


class QueryExplainer:
    """The matched sparse terms of one query's hits, by an explaining retriever (``Searcher.explainer``).

    The query is encoded once, and each word piece is mapped to the query words it comes from."""

    def __init__(self, retriever, query: str) -> None:
        self.retriever = retriever
        self.query = query
        self._query_vector = retriever.encode([query])[0]
        self._piece_words = query_words_by_piece(retriever.tokenizer, query)

    def terms(self, doc_id: str, top: int) -> list[TermOut]:
        """The ``top`` terms the query and document ``doc_id`` share, largest contribution first."""
        terms = self.retriever.explain(self.query, doc_id, top, query_vector=self._query_vector)
        return [TermOut(token=t.token, query_weight=t.query_weight, doc_weight=t.doc_weight, contribution=t.contribution,
                        expansion=not t.in_document_text, query_words=self._piece_words.get(t.token, [])) for t in terms]
