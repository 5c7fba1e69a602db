"""Snippets and highlight terms for search results."""
from __future__ import annotations

import re

_WORD = re.compile(r"[A-Za-z0-9][A-Za-z0-9\-']*")
STOPWORDS = frozenset("a an and are as at be by for from has have in is it its of on or that the to was were will with".split())


def query_words(query: str) -> list[str]:
    """Distinct lower-cased content words of a query, longest first."""
    words = {w.lower() for w in _WORD.findall(query) if len(w) > 1 and w.lower() not in STOPWORDS}
    return sorted(words, key=lambda w: (-len(w), w))


def snippet(text: str, words: list[str], width: int = 240) -> str:
    """A window of ``text`` around the densest cluster of query words (whole words, ellipses)."""
    if len(text) <= width:
        return text
    lowered = text.lower()
    positions = sorted(m.start() for w in words for m in re.finditer(r"\b" + re.escape(w), lowered))
    if not positions:
        start = 0
    else:
        best, best_count = positions[0], 0
        for p in positions:
            count = sum(1 for q in positions if p <= q < p + width)
            if count > best_count:
                best, best_count = p, count
        start = max(0, best - width // 4)
    end = min(len(text), start + width)
    if start > 0:
        space = text.find(" ", start)
        start = space + 1 if 0 <= space < start + 20 else start
    if end < len(text):
        space = text.rfind(" ", start, end)
        end = space if space > start else end
    return ("… " if start > 0 else "") + text[start:end] + (" …" if end < len(text) else "")


def highlights(words: list[str], *texts: str) -> list[str]:
    """Query words that occur (as word prefixes) in any of the texts."""
    joined = " ".join(t.lower() for t in texts if t)
    return [w for w in words if re.search(r"\b" + re.escape(w), joined)]
