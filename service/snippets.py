"""Snippets and highlight terms for search results.

Both are linear in the text and bounded: they scan at most the first ``MAX_SCAN_CHARS`` characters of
a text, so a huge document that repeats the query word hundreds of thousands of times costs the same as
a 100 KB one.
"""
from __future__ import annotations

import re

_WORD = re.compile(r"[A-Za-z0-9][A-Za-z0-9\-']*")
STOPWORDS = frozenset("a an and are as at be by for from has have in is it its of on or that the to was were will with".split())
MAX_SCAN_CHARS = 100_000  # snippets and highlights look only at this much of a text (its beginning)


def query_words(query: str) -> list[str]:
    """Distinct lower-cased content words of a query, longest first."""
    words = {w.lower() for w in _WORD.findall(query) if len(w) > 1 and w.lower() not in STOPWORDS}
    return sorted(words, key=lambda w: (-len(w), w))


def _word_starts(words: list[str]) -> re.Pattern:
    """Matches, at every position where a query word starts a word, the longest such query word
    (zero-width, so words starting inside another match, as ``iron`` in ``wrought-iron``, are found too)."""
    alternatives = "|".join(re.escape(w) for w in sorted(words, key=len, reverse=True))
    return re.compile(r"\b(?=(" + alternatives + "))", re.IGNORECASE)


def snippet(text: str, words: list[str], width: int = 240) -> str:
    """A window of ``text`` around the densest cluster of query words (whole words, ellipses).

    Only the first ``MAX_SCAN_CHARS`` characters are searched for the window.
    """
    if len(text) <= width:
        return text
    positions = [m.start() for m in _word_starts(words).finditer(text, 0, MAX_SCAN_CHARS)] if words else []
    start = 0
    if positions:
        best, best_count, end_index = positions[0], 0, 0
        for first, p in enumerate(positions):  # sliding window over the sorted positions: linear
            while end_index < len(positions) and positions[end_index] < p + width:
                end_index += 1
            if end_index - first > best_count:
                best, best_count = p, end_index - first
        start = max(0, best - width // 4)
    end = min(len(text), start + width)
    if start > 0:
        space = text.find(" ", start, start + 20)
        start = space + 1 if space >= 0 else start
    if end < len(text):
        space = text.rfind(" ", start, end)
        end = space if space > start else end
    return ("… " if start > 0 else "") + text[start:end] + (" …" if end < len(text) else "")


def highlights(words: list[str], *texts: str) -> list[str]:
    """Query words that occur (as word prefixes) in any of the texts (the first ``MAX_SCAN_CHARS`` of each)."""
    if not words:
        return []
    pattern = _word_starts(words)
    found: set[str] = set()
    for text in texts:
        if text:
            found.update(m.group(1).lower() for m in pattern.finditer(text, 0, MAX_SCAN_CHARS))
    # the pattern reports the longest word at each position: a shorter query word that is its prefix occurs there too
    prefixes = {f[:n] for f in found for n in range(1, len(f) + 1)}
    return [w for w in words if w in prefixes]
