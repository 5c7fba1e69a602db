"""Index information without the server's file system layout."""
from __future__ import annotations

from pathlib import Path, PurePosixPath, PureWindowsPath
from typing import Any


def without_server_paths(value: Any, root: Path) -> Any:
    """A copy of a JSON-like ``value`` in which every absolute path is shown relative to the index
    folder ``root`` when inside it, else by its last part (a corpus file, a model folder)."""
    if isinstance(value, dict):
        return {key: without_server_paths(item, root) for key, item in value.items()}
    if isinstance(value, list):
        return [without_server_paths(item, root) for item in value]
    if not isinstance(value, str) or len(value) < 2 or "\n" in value:
        return value
    if PureWindowsPath(value).is_absolute() and not value.startswith("/"):  # built on Windows (C:\...)
        return PureWindowsPath(value).name
    if PurePosixPath(value).is_absolute():
        try:
            return Path(value).resolve().relative_to(root.resolve()).as_posix()
        except ValueError:
            return PurePosixPath(value).name
    return value
