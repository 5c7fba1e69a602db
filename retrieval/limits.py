"""The one query check, used by the searcher (CLI, Python API, evaluation) and the REST service."""
from __future__ import annotations

from tandem.index.errors import TandemError
from tandem.index.limits import MAX_QUERY_CHARS


def check_query_text(query: str, where: str, tokenizer=None, max_chars: int = MAX_QUERY_CHARS, max_tokens: int | None = None) -> None:
    """Raise one TandemError naming ``where`` for an empty, too long, or unsearchable query.

    With a ``tokenizer`` (the index's learned-sparse or dense query tokenizer), a query must have a
    token that is not special, and at most ``max_tokens`` tokens when that is given.
    """
    if not isinstance(query, str) or not query.strip():
        raise TandemError("query is empty", where)
    if len(query) > max_chars:
        raise TandemError(f"query is longer than {max_chars} characters", where)
    if tokenizer is None:
        return
    ids = tokenizer(query, add_special_tokens=False)["input_ids"]
    if max_tokens is not None and len(ids) > max_tokens:
        raise TandemError(f"{len(ids)} tokens, more than the limit of {max_tokens}", where)
    special = set(tokenizer.all_special_ids)
    if not any(t not in special for t in ids):
        raise TandemError("query has no searchable terms (only special tokens)", where)
