"""Search-time parameters of retrievers (HNSW ``ef_search``, IVF ``nprobe``, BM25 ``k1``/``b``, an
approximate engine's cut-offs): what each retriever takes, read from its ``configure`` signature, and
one place that checks and applies ``NAME.KEY=VALUE`` settings for the CLI and the service.

A retriever offers the capability by a keyword-only ``configure(*, key: type | None = None, ...)``;
the annotations give the types values are converted to. A ``configure(**params)`` takes any key and
checks it itself (values are then passed as int, float or str, whichever parses first).
"""
from __future__ import annotations

import inspect
import math
import typing
from typing import Any

from tandem.index.errors import TandemError

from .retriever import supports

ANY_KEY = "*"


def search_parameters(retriever: object) -> dict[str, type]:
    """The parameters ``retriever.configure`` takes, name -> type (``{'*': str}`` for ``**params``);
    empty when the retriever has no search-time parameters."""
    if not supports(retriever, "configure"):
        return {}
    out: dict[str, type] = {}
    hints = typing.get_type_hints(retriever.configure) if hasattr(retriever.configure, "__annotations__") else {}
    for name, param in inspect.signature(retriever.configure).parameters.items():
        if param.kind is inspect.Parameter.VAR_KEYWORD:
            out[ANY_KEY] = str
        elif param.kind in (inspect.Parameter.KEYWORD_ONLY, inspect.Parameter.POSITIONAL_OR_KEYWORD):
            out[name] = _base_type(hints.get(name, str))
    return out


def _base_type(hint: Any) -> type:
    """``int | None`` -> int; unknown -> str."""
    for candidate in (typing.get_args(hint) or (hint,)):
        if candidate in (int, float, str, bool):
            return candidate
    return str


def convert(value: str, kind: type, where: str) -> Any:
    """``value`` as ``kind`` (finite numbers only); one line naming ``where`` otherwise."""
    try:
        if kind is bool:
            if value.lower() not in ("true", "false", "1", "0", "yes", "no"):
                raise ValueError(value)
            return value.lower() in ("true", "1", "yes")
        if kind is str:
            for parse in (int, float):
                try:
                    number = parse(value)
                except ValueError:
                    continue
                return _finite(number, value)
            return value
        return _finite(kind(value), value)
    except ValueError:
        raise TandemError(f"{value!r} is not a valid {kind.__name__}", where) from None


def _finite(number, text: str):
    if isinstance(number, float) and not math.isfinite(number):
        raise ValueError(text)
    return number


def parse_assignments(items: list[str], flag: str = "--param") -> dict[str, dict[str, str]]:
    """``["dense.ef_search=512", ...]`` -> ``{"dense": {"ef_search": "512"}}``; malformed -> one line."""
    out: dict[str, dict[str, str]] = {}
    for item in items:
        target, sep, value = item.partition("=")
        name, dot, key = target.partition(".")
        if not sep or not dot or not name or not key or not value:
            raise TandemError(f"{item!r}: expected RETRIEVER.PARAMETER=VALUE, e.g. dense.ef_search=512", flag)
        out.setdefault(name, {})[key] = value
    return out


def apply_parameters(searcher, assignments: dict[str, dict[str, str]], flag: str = "--param") -> dict[str, dict[str, Any]]:
    """Check every ``retriever -> {parameter: value}`` against the index's retrievers and what each one's
    ``configure`` takes, then apply them (nothing is applied if a name, key or type is wrong; a value a
    retriever refuses stops there, naming it); returns what was applied."""
    checked: dict[str, dict[str, Any]] = {}
    for name, values in assignments.items():
        if name not in searcher.retrievers:
            raise TandemError(f"unknown retriever {name!r} (this index has: {', '.join(searcher.retrievers)})", flag)
        accepted = search_parameters(searcher.retriever(name))
        if not accepted:
            raise TandemError(f"retriever {name!r} ({searcher.retriever(name).backend}) has no search-time parameters", flag)
        checked[name] = {}
        for key, value in values.items():
            kind = accepted.get(key, accepted.get(ANY_KEY))
            if kind is None:
                raise TandemError(f"retriever {name!r} takes {', '.join(sorted(accepted))}, not {key!r}", flag)
            checked[name][key] = convert(value, kind, f"{flag} {name}.{key}")
    for name, values in checked.items():  # the retriever checks ranges (e.g. ef_search >= 1) itself
        try:
            searcher.retriever(name).configure(**values)
        except TandemError as error:
            raise TandemError(f"retriever {name!r}: {error.message}", flag) from None
    return checked
