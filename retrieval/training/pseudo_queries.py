"""Pseudo-queries from the corpus itself: a document's title (or, failing that, its first sentence)
as a query whose one relevant document is that document.

The corpus-local analogue of the weakly supervised (title, body) pairs the paper pre-trains on;
the teacher then scores BM25 ∪ dense candidates for these queries as for real ones.
"""
from __future__ import annotations

import random
import re
from pathlib import Path

from tandem.index.corpus import Document, read_corpus

from ..datasets import EvalSet, Query

PREFIX = "pq-"
_SENTENCE_END = re.compile(r"(?<=[.!?])\s+")


def pseudo_query_text(doc: Document, min_words: int = 2, max_words: int = 32) -> str | None:
    """The title, else (no title, or a one-word one) the first sentence of the text; None when
    neither has ``min_words`` words."""
    for text in (doc.title.strip(), _SENTENCE_END.split(doc.text.strip(), maxsplit=1)[0]):
        words = text.split()
        if len(words) >= min_words:
            return " ".join(words[:max_words])
    return None


def pseudo_queries(corpus_path: str | Path, count: int, seed: int = 13, exclude: set[str] = frozenset()) -> tuple[list[Query], dict[str, dict[str, int]]]:
    """``count`` pseudo-queries from documents drawn at random (seeded); ids are ``pq-<doc id>``.

    Documents in ``exclude`` (e.g. the judged documents of the evaluation queries) are skipped.
    """
    docs = [d for d in read_corpus(corpus_path) if d.doc_id not in exclude]
    random.Random(seed).shuffle(docs)
    queries, qrels = [], {}
    for doc in docs:
        if len(queries) >= count:
            break
        text = pseudo_query_text(doc)
        if text is None:
            continue
        qid = PREFIX + doc.doc_id
        queries.append(Query(qid, text))
        qrels[qid] = {doc.doc_id: 1}
    return queries, qrels


def with_pseudo_queries(eval_set: EvalSet, count: int, seed: int = 13, exclude: set[str] = frozenset()) -> EvalSet:
    """The split's queries followed by ``count`` pseudo-queries from its corpus."""
    queries, qrels = pseudo_queries(eval_set.require_corpus(), count, seed, exclude)
    return EvalSet(
        name=eval_set.name, split=f"{eval_set.split}+pseudo{len(queries)}", queries=eval_set.queries + queries,
        qrels={**eval_set.qrels, **qrels}, corpus_path=eval_set.corpus_path, report=eval_set.report,
    )
