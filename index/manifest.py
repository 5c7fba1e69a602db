"""The manifest that makes an index directory self-describing."""
from __future__ import annotations

import hashlib
import json
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from pydantic import BaseModel, Field, ValidationError

from .errors import IndexFormatError

FORMAT_VERSION = 1
FILENAME = "manifest.json"


class CorpusInfo(BaseModel):
    source: str
    sha256: str
    num_docs: int
    num_empty: int = 0


class ComponentInfo(BaseModel):
    """One part of the index (docstore, sparse, dense, bm25, ...): its files' checksums and size."""

    files: dict[str, str] = Field(default_factory=dict, description="relative path -> sha256")
    bytes: int = 0
    settings: dict[str, Any] = Field(default_factory=dict)


class Manifest(BaseModel):
    format_version: int = FORMAT_VERSION
    tandem_version: str = "0.1.0"
    created_at: str = Field(default_factory=lambda: datetime.now(timezone.utc).isoformat(timespec="seconds"))
    build_seconds: float = 0.0
    corpus: CorpusInfo
    components: dict[str, ComponentInfo] = Field(default_factory=dict)
    build_config: dict[str, Any] = Field(default_factory=dict, description="the settings the index was built with")

    @property
    def num_docs(self) -> int:
        return self.corpus.num_docs

    def has(self, component: str) -> bool:
        return component in self.components

    def settings(self, component: str) -> dict[str, Any]:
        return self.components[component].settings


def describe_component(root: Path, relpaths: list[str] | None = None, subdir: str | None = None, settings: dict | None = None) -> ComponentInfo:
    """Checksum a component's files (all files under ``subdir``, or the listed ones)."""
    if subdir is not None:
        paths = sorted(p for p in (root / subdir).rglob("*") if p.is_file())
    else:
        paths = [root / rel for rel in relpaths or []]
    files = {str(p.relative_to(root)): sha256_file(p) for p in paths}
    size = sum(p.stat().st_size for p in paths)
    return ComponentInfo(files=files, bytes=size, settings=settings or {})


def sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def write_manifest(root: Path, manifest: Manifest) -> None:
    (root / FILENAME).write_text(manifest.model_dump_json(indent=2) + "\n", encoding="utf-8")


def read_manifest(root: Path) -> Manifest:
    root = Path(root)
    path = root / FILENAME
    if not root.is_dir():
        raise IndexFormatError("index directory does not exist", str(root))
    if not path.is_file():
        raise IndexFormatError(f"not a Tandem index (no {FILENAME})", str(root))
    try:
        raw = json.loads(path.read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise IndexFormatError(f"manifest is not valid JSON: {exc}", str(path)) from None
    version = raw.get("format_version") if isinstance(raw, dict) else None
    if not isinstance(version, int):
        raise IndexFormatError("manifest has no integer format_version", str(path))
    if version > FORMAT_VERSION:
        raise IndexFormatError(
            f"index format version {version} is newer than this Tandem supports ({FORMAT_VERSION}); upgrade Tandem",
            str(path),
        )
    try:
        return Manifest.model_validate(raw)
    except ValidationError as exc:
        first = exc.errors()[0]
        loc = ".".join(str(part) for part in first["loc"])
        raise IndexFormatError(f"manifest field {loc}: {first['msg']}", str(path)) from None


def verify_checksums(root: Path, manifest: Manifest) -> list[str]:
    """Files whose checksum no longer matches the manifest (empty list = intact)."""
    bad = []
    for component in manifest.components.values():
        for rel, digest in component.files.items():
            path = root / rel
            if not path.is_file() or sha256_file(path) != digest:
                bad.append(rel)
    return bad
