"""Package attributes imported on first use (PEP 562), so that importing a package stays cheap.

``tandem search --mode sparse`` imports ``tandem.index.errors``; with eager ``__init__`` imports that would
also load the corpus reader, FAISS wrappers and the numba sparse kernel. A package lists its public
names once::

    __getattr__, __dir__ = lazy_exports(__name__, {"SparseIndex": "sparse", ...})
"""
from __future__ import annotations

import importlib
import sys
from typing import Any, Callable


def lazy_exports(package: str, exports: dict[str, str]) -> tuple[Callable[[str], Any], Callable[[], list[str]]]:
    """Module-level ``__getattr__`` and ``__dir__`` resolving ``name`` from submodule ``exports[name]``."""

    def __getattr__(name: str) -> Any:
        submodule = exports.get(name)
        if submodule is None:
            raise AttributeError(f"module {package!r} has no attribute {name!r}")
        value = getattr(importlib.import_module(f"{package}.{submodule}"), name)
        setattr(sys.modules[package], name, value)  # later look-ups skip __getattr__
        return value

    def __dir__() -> list[str]:
        return sorted(set(vars(sys.modules[package])) | set(exports))

    return __getattr__, __dir__
