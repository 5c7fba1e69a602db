"""`tandem index upgrade`: a Tandem 0.1 index (format 1) becomes a live index (format 2) in place.

Nothing is re-encoded: the 0.1 files are hard-linked into one segment (document store, sparse
postings, FAISS index) and the components' shared folders (tokenizer and IDF table, Lucene
indexes); the document store is copied to record the new index id. The format-2 manifest is then
committed atomically and only after that are the 0.1 files removed, so a crash at any point
leaves a readable index (0.1 before the commit, 0.2 after it).
"""
from __future__ import annotations

import json
import os
import shutil
import sqlite3
from contextlib import contextmanager
from pathlib import Path

from tandem.index import docstore
from tandem.index.build_dir import disk_errors
from tandem.index.commits import COMMITS, COMPONENTS, SEGMENTS, STAGING, clear_staging, commit, link_tree
from tandem.index.errors import IndexFormatError, TandemError
from tandem.index.locking import WriterLock
from tandem.index.sparse import SparseIndex, write_sparse_index
from tandem.index.sparse_format import SparseIndexConfig
from tandem.index.manifest import ComponentInfo, CorpusInfo, FileSet, Manifest, SegmentInfo, describe_files, files_under, raw_format_version

from .writer import move_into_place, new_shared_dir

V1_BACKENDS = {"sparse": "native-sparse", "dense": "faiss", "bm25": "lucene-bm25", "impact": "lucene-impact"}


def upgrade_index(root: Path, wait: float = 0.0) -> Manifest:
    root = Path(root)
    with WriterLock(root, "upgrade", wait), disk_errors(str(root)), _undone_on_error(root):
        version = raw_format_version(root)
        if version is None:
            raise IndexFormatError("not a Tandem index (no valid manifest.json)", str(root))
        if version != 1:
            raise TandemError(f"index is already format {version}: nothing to upgrade", str(root))
        raw = json.loads((root / "manifest.json").read_text(encoding="utf-8"))
        old = raw.get("components", {})
        stage = clear_staging(root)
        manifest = Manifest(corpus=CorpusInfo(**raw["corpus"]), build_config=raw.get("build_config", {}), build_seconds=raw.get("build_seconds", 0.0),
                            created_at=raw.get("created_at") or Manifest.model_fields["created_at"].default_factory())
        seg_name = "s000001-upgraded"
        seg_dir = stage / SEGMENTS / seg_name
        seg_dir.mkdir(parents=True)
        _copy_docstore(root / docstore.FILENAME, seg_dir / docstore.FILENAME, manifest.index_id)
        components, stats = [], {}
        for name, info in old.items():
            if name == "docstore":
                continue
            if name not in V1_BACKENDS:
                raise TandemError(f"unknown component {name!r} in a format-1 manifest", str(root / "manifest.json"))
            settings = dict(info.get("settings", {}))
            component = ComponentInfo(name=name, backend=V1_BACKENDS[name], settings=settings)
            shared = None
            if name == "sparse":  # postings rewritten once in the current format (the query side is index-wide)
                write_sparse_index(seg_dir / "sparse", SparseIndex(root / "sparse").doc_matrix())
                settings["index"] = SparseIndexConfig().model_dump()
                shared = new_shared_dir(component, 1)
                _link_query_side(root / "sparse", stage / shared)
                stats[name] = {k: settings.get(k) for k in ("num_postings", "avg_nnz_per_doc", "flops") if k in settings}
            elif name == "dense":
                link_tree(root / "dense", seg_dir / "dense")
                stats[name] = {"num_vectors": settings.get("num_vectors"), "faiss": settings.get("faiss")}
            elif name == "bm25":
                shared = new_shared_dir(component, 1)
                link_tree(root / "bm25", stage / shared)
            else:  # impact: owns a copy of the sparse query side
                settings.setdefault("encoder", old.get("sparse", {}).get("settings", {}).get("encoder"))
                settings.setdefault("idf_source", old.get("sparse", {}).get("settings", {}).get("idf_source"))
                shared = new_shared_dir(component, 1)
                link_tree(root / "impact", stage / shared / "lucene")
                _link_query_side(root / "sparse", stage / shared)
            described = describe_files(stage, files_under(stage / shared)) if shared else FileSet()
            components.append(component.model_copy(update={"settings": settings, "shared_dir": shared, **described.model_dump()}))
        described = describe_files(stage, files_under(seg_dir))
        num_docs = int(raw["corpus"]["num_docs"])
        segment = SegmentInfo(name=seg_name, num_docs=num_docs, stats=stats, **described.model_dump())
        move_into_place(stage, root)
        new = commit(root, manifest.model_copy(update={"components": components, "segments": [segment], "next_segment": 2}), "upgrade", {"from_format": 1})
        shutil.rmtree(stage, ignore_errors=True)
        for name in ["docstore", *old]:  # the format-1 files, now superseded
            path = root / (docstore.FILENAME if name == "docstore" else name)
            shutil.rmtree(path, ignore_errors=True) if path.is_dir() else path.unlink(missing_ok=True)
        return new


@contextmanager
def _undone_on_error(root: Path):
    """A failed upgrade (e.g. a full disk) leaves the format-1 index as it was: what it staged, moved in
    or committed is removed (a format-1 index has none of these folders)."""
    try:
        yield
    except BaseException:
        if raw_format_version(root) == 1:
            for name in (STAGING, SEGMENTS, COMPONENTS, COMMITS):
                shutil.rmtree(root / name, ignore_errors=True)
        raise


def _copy_docstore(source: Path, target: Path, index_id: str) -> None:
    if not source.is_file():
        raise IndexFormatError("document store missing", str(source))
    shutil.copyfile(source, target)
    con = sqlite3.connect(target)
    try:
        count = con.execute("SELECT COUNT(*) FROM docs").fetchone()[0]
        con.execute("CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT)")
        con.executemany("INSERT OR REPLACE INTO meta VALUES (?, ?)", [("index_id", index_id), ("num_docs", str(count))])
        con.commit()
    finally:
        con.close()


def _link_query_side(sparse_dir: Path, target: Path) -> None:
    target.mkdir(parents=True, exist_ok=True)
    link_tree(sparse_dir / "tokenizer", target / "tokenizer")
    if (sparse_dir / "query_weights.npy").is_file():
        os.link(sparse_dir / "query_weights.npy", target / "query_weights.npy")
