"""The manifest: one commit point of a self-describing index directory.

Format 2 (Tandem 0.2) describes a *live* index, designed as Lucene's commit points:

- ``segments``: immutable segments (``segments/<name>/``: a document store and each segment-local
  backend's files), with a deletion bitmap per segment written anew at each change;
- ``components``: the retrievers, each ``{name, backend, settings}``; a backend named in the
  registry opens it, and ``shared_dir`` holds index-wide files (an IDF table, a Lucene index);
- ``merge_policy``: which adjacent segments an ``add`` merges on its own (:mod:`.merge_policy`);
- ``generation``: increases with every commit. ``manifest.json`` is replaced atomically by each
  commit and a copy is kept as ``commits/<generation>.json`` while a reader holds it.

Format 1 (Tandem 0.1.0) indexes are refused with the command that upgrades them in place.
"""
from __future__ import annotations

import json
import os
import uuid
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, Field, ValidationError

from .checksums import sha256_file
from .errors import IndexFormatError, first_validation_error
from .merge_policy import MergePolicy

FORMAT_VERSION = 2
FILENAME = "manifest.json"
TANDEM_VERSION = "0.2.0"  # keep equal to tandem.__version__ (tests/test_cli.py checks)


def now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="seconds")


class CorpusInfo(BaseModel):
    """The corpus the index was first built from (later additions are in ``history``)."""

    source: str
    sha256: str
    num_docs: int
    num_empty: int = 0


class FileSet(BaseModel):
    """Files (relative to the index root) with their sha256 and size, and their total size.

    ``sizes`` are compared with the files on every open (one ``stat`` each: a truncated or
    replaced file is refused at once); ``files`` (sha256) are re-checked by ``index info --verify``.
    Indexes written before sizes were recorded have none, and are not size-checked.
    """

    files: dict[str, str] = Field(default_factory=dict, description="relative path -> sha256")
    sizes: dict[str, int] = Field(default_factory=dict, description="relative path -> size in bytes")
    bytes: int = 0


class ComponentInfo(FileSet):
    """One retriever: its name (data, e.g. 'sparse'), the backend that holds it, its settings, and
    the index-wide files of the current generation (``shared_dir``; segment files are in segments)."""

    name: str
    backend: str
    settings: dict[str, Any] = Field(default_factory=dict)
    shared_dir: str | None = None


class SegmentInfo(FileSet):
    """An immutable segment: ``num_docs`` rows, of which ``num_deleted`` are marked in ``deletes``."""

    name: str
    num_docs: int
    num_deleted: int = 0
    deletes: str | None = Field(None, description="relative path of the deletion bitmap (uint8 per row), or None")
    stats: dict[str, dict[str, Any]] = Field(default_factory=dict, description="component name -> what its backend wrote here")

    @property
    def num_live(self) -> int:
        return self.num_docs - self.num_deleted


class HistoryEntry(BaseModel):
    generation: int
    operation: str
    at: str = Field(default_factory=now)
    details: dict[str, Any] = Field(default_factory=dict)


class Manifest(BaseModel):
    format_version: int = FORMAT_VERSION
    tandem_version: str = TANDEM_VERSION
    index_id: str = Field(default_factory=lambda: uuid.uuid4().hex, description="stored in every document store too")
    generation: int = 0
    created_at: str = Field(default_factory=now)
    updated_at: str = Field(default_factory=now)
    build_seconds: float = 0.0
    corpus: CorpusInfo
    components: list[ComponentInfo] = Field(default_factory=list)
    segments: list[SegmentInfo] = Field(default_factory=list)
    next_segment: int = 1
    docstore: Literal["sqlite", "milvus"] = "sqlite"  # where titles and texts live (milvus: the collection of its Milvus components)
    build_config: dict[str, Any] = Field(default_factory=dict, description="the settings the index was built with")
    merge_policy: MergePolicy = Field(default_factory=MergePolicy, description="automatic merges after add (index/merge_policy.py)")
    history: list[HistoryEntry] = Field(default_factory=list)

    @property
    def num_docs(self) -> int:
        """Live documents (deleted ones not counted)."""
        return sum(s.num_live for s in self.segments)

    @property
    def component_names(self) -> list[str]:
        return [c.name for c in self.components]

    def has(self, name: str) -> bool:
        return any(c.name == name for c in self.components)

    def component(self, name: str) -> ComponentInfo:
        for c in self.components:
            if c.name == name:
                return c
        raise KeyError(name)

    def settings(self, name: str) -> dict[str, Any]:
        return self.component(name).settings

    @property
    def total_bytes(self) -> int:
        return sum(c.bytes for c in self.components) + sum(s.bytes for s in self.segments)


def describe_files(root: Path, paths: list[Path]) -> FileSet:
    """Checksum and size of files (absolute paths below ``root``): the one place a manifest's file lists are made.

    Give the result to a segment or component as ``**describe_files(...).model_dump()``.
    """
    paths = sorted(paths)
    files = {str(p.relative_to(root)): sha256_file(p) for p in paths}
    sizes = {str(p.relative_to(root)): p.stat().st_size for p in paths}
    return FileSet(files=files, sizes=sizes, bytes=sum(sizes.values()))


def check_sizes(root: Path, manifest: Manifest) -> None:
    """Refuse (one line naming the file) a listed file that is missing or whose size differs from the manifest's.

    Cheap (one ``stat`` per file), so it runs on every open; a same-size change needs ``--verify``.
    """
    for entry in [*manifest.segments, *manifest.components]:
        for rel, expected in entry.sizes.items():
            path = Path(root) / rel
            try:
                size = path.stat().st_size
            except FileNotFoundError:
                raise IndexFormatError("file listed in the manifest is missing", str(path)) from None
            if size != expected:
                raise IndexFormatError(f"file has {size:,} bytes, the manifest recorded {expected:,} (truncated or replaced; "
                                       "`tandem index info --verify` checks every file)", str(path))


def files_under(directory: Path) -> list[Path]:
    return sorted(p for p in Path(directory).rglob("*") if p.is_file())


def manifest_json(manifest: Manifest) -> str:
    return manifest.model_dump_json(indent=2) + "\n"


def write_atomic(path: Path, text: str) -> None:
    """Write a file so that a reader sees the old or the new content, never a part (tmp + fsync + rename)."""
    tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}")
    try:
        with tmp.open("w", encoding="utf-8") as handle:
            handle.write(text)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    fsync_dir(path.parent)


def fsync_dir(directory: Path) -> None:
    fd = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def parse_manifest(text: str, where: str) -> Manifest:
    try:
        raw = json.loads(text)
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise IndexFormatError(f"manifest is not valid JSON: {exc}", where) from None
    version = raw.get("format_version") if isinstance(raw, dict) else None
    if not isinstance(version, int):
        raise IndexFormatError("manifest has no integer format_version", where)
    if version > FORMAT_VERSION:
        raise IndexFormatError(f"index format version {version} is newer than this Tandem supports ({FORMAT_VERSION}); upgrade Tandem", where)
    if version < FORMAT_VERSION:
        index_dir = str(Path(where).parent)
        raise IndexFormatError(
            f"index format {version} (Tandem 0.1) cannot be opened by Tandem {TANDEM_VERSION}: run `tandem index upgrade {index_dir}` "
            "(moves its files into segments, no re-encoding)", where)
    try:
        return Manifest.model_validate(raw)
    except ValidationError as exc:
        location, message = first_validation_error(exc)
        raise IndexFormatError(f"manifest field {location}: {message}", where) from None


def read_manifest(root: Path) -> Manifest:
    """The current commit of the index at ``root`` (no lease: see ``tandem.index.commits.open_commit``)."""
    root = Path(root)
    path = root / FILENAME
    if not root.is_dir():
        raise IndexFormatError("index directory does not exist", str(root))
    if not path.is_file():
        raise IndexFormatError(f"not a Tandem index (no {FILENAME})", str(root))
    try:
        text = path.read_text(encoding="utf-8")
    except UnicodeDecodeError as exc:
        raise IndexFormatError(f"manifest is not valid UTF-8: {exc}", str(path)) from None
    return parse_manifest(text, str(path))


def raw_format_version(root: Path) -> int | None:
    """The ``format_version`` in ``root/manifest.json``, or None when there is no readable manifest."""
    try:
        raw = json.loads((Path(root) / FILENAME).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    version = raw.get("format_version") if isinstance(raw, dict) else None
    return version if isinstance(version, int) else None


def verify_checksums(root: Path, manifest: Manifest) -> list[str]:
    """Problems found by re-checking every file's sha256 (empty list = intact), one line each.

    A file list cannot be trusted by its own word: a segment or component that lists no files,
    a file on disk in its folder that it does not list (deletion bitmaps aside), and sizes that
    name other files than the checksums are problems too (an emptied ``files`` list must not
    verify as "all files match").
    """
    root = Path(root)
    bad = []
    for kind, entries in (("segment", manifest.segments), ("component", manifest.components)):
        for entry in entries:
            folder = f"segments/{entry.name}" if kind == "segment" else entry.shared_dir
            if not entry.files and folder:
                bad.append(f"{kind} {entry.name} lists no files")
            if entry.sizes and set(entry.sizes) != set(entry.files):
                bad.append(f"{kind} {entry.name}: its file sizes and checksums list different files")
            for rel, digest in entry.files.items():
                path = root / rel
                if not path.is_file():
                    bad.append(f"{rel}: missing")
                elif sha256_file(path) != digest:
                    bad.append(f"{rel}: sha256 differs from the manifest")
            if entry.files and folder and (root / folder).is_dir():
                unlisted = [str(p.relative_to(root)) for p in files_under(root / folder)
                            if str(p.relative_to(root)) not in entry.files and not (kind == "segment" and p.name.startswith("deletes-"))]
                bad.extend(f"{rel}: not listed in the manifest" for rel in unlisted)
    return bad
