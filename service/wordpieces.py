"""Which query words each word piece of a query comes from (for the page's explain table)."""
from __future__ import annotations


def query_words_by_piece(tokenizer, query: str) -> dict[str, list[str]]:
    """Map each word piece of ``query`` (e.g. ``stat``, ``##ins``) to the query words, as typed, that contain it.

    Exact: it uses the tokenizer's own word boundaries and offsets (a fast tokenizer), so ``statins``
    gives ``{"stat": ["statins"], "##ins": ["statins"]}``. A piece found in several words lists each once,
    in query order. Pieces the sparse model added (expansions) are not in the map.
    """
    encoding = tokenizer(query, add_special_tokens=False)
    words: dict[str, list[str]] = {}
    for piece, word_index in zip(encoding.tokens(), encoding.word_ids()):
        if word_index is None:
            continue
        span = encoding.word_to_chars(word_index)
        word = query[span.start:span.end]
        found = words.setdefault(piece, [])
        if word not in found:
            found.append(word)
    return words
