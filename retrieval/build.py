"""Build an index from a corpus: one segment holding every component, published atomically.

The components a :class:`BuildConfig` asks for (by their default names ``sparse``, ``impact``,
``dense``, ``bm25``) are described as ``{name, backend, settings}``; the backends named there
write them (:mod:`tandem.retrieval.backends`). A new folder is published with one rename; an existing
index (``--overwrite``) gets the new build as its next commit, so there is never a moment without
an index at ``--out``, and readers of the old one keep it until they close.
"""
from __future__ import annotations

import hashlib
import json
import shutil
import time
from pathlib import Path
from typing import Callable, Literal

from pydantic import BaseModel, Field

from tandem.index.build_dir import StagingDir, check_output, disk_errors
from tandem.index.commits import collect_garbage, commit
from tandem.index.corpus import CorpusOptions, CorpusStats, file_sha256, read_corpus
from tandem.index.dense import FaissConfig
from tandem.index.errors import TandemError
from tandem.index.faults import crash_point
from tandem.index.locking import WriterLock
from tandem.index.milvus import MilvusConfig
from tandem.index.manifest import ComponentInfo, CorpusInfo, Manifest, raw_format_version, read_manifest
from tandem.index.merge_policy import MergePolicy

from .backends import BACKENDS, SharedChange, WriteContext
from .backends.bmp_sparse import BmpConfig
from .backends.seismic_sparse import SeismicConfig
from .encode import read_shards
from .encoders import dense_encoder, splade_encoder
from .precision import Precision
from .writer import DocEncoders, apply_shared, move_into_place, new_segment_name, stage_segment

SparseMode = Literal["siamese", "inference-free"]
SPARSE_MODES = ("siamese", "inference-free")
TUNED_FILES = ("fusion.json", "tuned-fusion")  # fusion tuned for the index a build replaces


class BuildConfig(BaseModel):
    """Everything that determines an index; saved in the manifest as ``build_config``."""

    corpus: str
    sparse: str | None = "splade-tiny"
    sparse_mode: SparseMode = "inference-free"
    dense: str | None = "minilm-l6"
    faiss: FaissConfig = Field(default_factory=FaissConfig)
    bm25: bool = False
    bm25_fields: Literal["flat", "multifield"] = "flat"
    bm25_backend: str = "lucene-bm25"  # registered backend holding the 'bm25' retriever (lucene-bm25, milvus-bm25)
    sparse_backend: str = "native-sparse"  # registered backend holding the 'sparse' retriever
    # native-sparse: stored weight precision. uint8 (scale = max weight / 255, recorded) is the default: 2.2-2.3
    # bytes/posting, under Lucene impact's, at nDCG@10 within 0.001 of float32 (README "Index size");
    # float32 keeps the encoder's weights exactly.
    sparse_weights: Literal["float32", "uint16", "uint8"] = "uint8"
    sparse_forward: bool = False  # native-sparse: also store documents row-wise (faster explanations)
    # documents in the order recursive graph bisection gives their sparse terms (tandem.index.reorder): smaller
    # doc-id gaps and tighter block maxima, so the exact kernel skips more; applied to every component of the build's
    # segment, and of every segment merges and compaction write later (writer.merge_order)
    reorder: Literal["none", "bp"] = "none"
    dense_backend: str = "faiss"  # registered backend holding the 'dense' retriever
    bmp: BmpConfig | None = None  # bmp sparse backend: block size and default search parameters (None: BmpConfig's defaults)
    seismic: SeismicConfig | None = None  # seismic sparse backend: build and default search parameters (None: SeismicConfig's defaults)
    milvus: MilvusConfig | None = None  # milvus-sparse / milvus-dense: URI, collection, token variable, dense index type
    docstore: Literal["sqlite", "milvus"] = "sqlite"  # where titles and texts live: per-segment SQLite, or the Milvus collection
    lucene_impact: bool = False  # also index the sparse vectors in a Lucene impact index
    impact_scale: float = 100.0  # impacts are round(weight * scale)
    max_length: int = 256
    batch_size: int = 16
    doc_top_k: int | None = None
    query_prefix: str = ""
    document_prefix: str = ""
    precision: Precision = "fp32"  # encoders' precision (tandem.retrieval.precision): fp32 is the reference
    chunk_size: int = 2048
    corpus_options: CorpusOptions | None = None
    from_encoded: list[str] | None = None  # shard folders of `tandem encode`: vectors are read, no model is loaded
    merge_policy: MergePolicy = Field(default_factory=MergePolicy)  # automatic merges of segments after `index add` (recorded in the manifest)

    def chunk_key(self, component: str) -> str:
        """Short hash of the settings that determine a component's encoded chunks."""
        fields = {"sparse": ("sparse", "max_length", "doc_top_k"), "dense": ("dense", "max_length", "document_prefix")}[component]
        relevant = {name: getattr(self, name) for name in fields}
        return hashlib.sha256(json.dumps(relevant, sort_keys=True).encode()).hexdigest()[:12]

    def check(self) -> None:
        if self.reorder == "bp" and self.sparse is None:
            raise TandemError("--reorder bp orders documents by their learned-sparse terms: the build needs a sparse encoder", "--reorder")
        if self.lucene_impact and self.sparse is None:
            raise TandemError("a Lucene impact index needs a sparse encoder", "--lucene-impact")
        if self.sparse is None and self.dense is None and not self.bm25:
            raise TandemError("nothing to build: give --sparse, --dense or --bm25", "index build")
        if self.sparse_mode not in SPARSE_MODES:
            raise TandemError(f"unknown sparse mode {self.sparse_mode!r}", "--sparse-mode")
        if self.docstore == "milvus" and (self.milvus is None or not self.milvus.documents):
            raise TandemError("--docstore milvus keeps titles and texts in the Milvus collection: build with --backend milvus and --milvus-uri", "--docstore")
        for kind, name, flag in (("sparse", self.sparse_backend, "sparse"), ("dense", self.dense_backend, "dense"), ("text", self.bm25_backend, "bm25")):
            if name not in BACKENDS or BACKENDS[name].doc_input != kind:
                choices = ", ".join(n for n, b in BACKENDS.items() if b.doc_input == kind)
                raise TandemError(f"no {kind} backend named {name!r} (choose {choices})", f"--{flag}-backend")


def encoder_settings(config: BuildConfig) -> dict[str, dict]:
    """``{"sparse": ..., "dense": ...}``: the full settings of the encoders a config names (loads the models)."""
    out = {}
    if config.sparse:
        out["sparse"] = splade_encoder({"model": config.sparse, "max_length": config.max_length, "batch_size": config.batch_size,
                                        "top_k": config.doc_top_k, "precision": config.precision}).settings()
    if config.dense:
        out["dense"] = dense_encoder({"model": config.dense, "max_length": config.max_length, "batch_size": config.batch_size, "query_prefix": config.query_prefix,
                                      "document_prefix": config.document_prefix, "precision": config.precision}).settings()
    return out


def initial_components(config: BuildConfig, encoders: dict[str, dict] | None = None) -> list[ComponentInfo]:
    """The components a config asks for, with their encoders' full settings: ``encoders`` when given
    (e.g. recorded in encoded shards), else from :func:`encoder_settings` (loads the models)."""
    encoders = encoder_settings(config) if encoders is None else encoders
    components = []
    if "sparse" in encoders:
        settings = {"encoder": encoders["sparse"], "mode": config.sparse_mode}
        components.append(ComponentInfo(name="sparse", backend=config.sparse_backend, settings={**settings, **BACKENDS[config.sparse_backend].settings_from(config)}))
        if config.lucene_impact:
            components.append(ComponentInfo(name="impact", backend="lucene-impact", settings={**settings, **BACKENDS["lucene-impact"].settings_from(config)}))
    if "dense" in encoders:
        settings = {"encoder": encoders["dense"], "dim": int(encoders["dense"]["dim"]), **BACKENDS[config.dense_backend].settings_from(config)}
        components.append(ComponentInfo(name="dense", backend=config.dense_backend, settings=settings))
    if config.bm25:
        components.append(ComponentInfo(name="bm25", backend=config.bm25_backend, settings=BACKENDS[config.bm25_backend].settings_from(config)))
    return components


def build_index(
    config: BuildConfig,
    out: Path,
    corpus_path: Path,
    overwrite: bool = False,
    log: Callable[[str], None] = print,
    wait: float = 0.0,
    show_progress: bool = True,
) -> Manifest:
    """Build the index described by ``config`` at ``out`` (atomically, resumably, under the writer lock).

    With ``config.from_encoded`` the vectors come from `tandem encode` shards (no model is loaded)
    and the encoder fields of ``config`` are set from the shards' records."""
    shards = read_shards(config.from_encoded) if config.from_encoded else None  # bad or disagreeing shards fail here
    if shards is not None:
        config = shards.configure(config)
    config.check()
    out = Path(out)
    check_output(out, corpus_path, overwrite)  # before reading the corpus or loading any model
    started = time.perf_counter()
    with WriterLock(out, "build", wait), disk_errors(str(out)):
        check_output(out, corpus_path, overwrite)  # again: another writer may have published meanwhile
        stats = CorpusStats()
        docs = read_corpus(corpus_path, stats, config.corpus_options)
        corpus_sha = file_sha256(corpus_path)
        if shards is not None:
            shards.check_corpus(docs, corpus_path)
        components = initial_components(config, shards.encoders if shards else None)  # a bad model name fails here, before any folder exists
        with StagingDir(out, corpus_sha) as staging:
            stage = staging.stage
            manifest = Manifest(corpus=CorpusInfo(source=str(corpus_path), sha256=corpus_sha, num_docs=len(docs), num_empty=stats.num_empty),
                                components=components, build_config=config.model_dump(mode="json"), docstore=config.docstore,
                                merge_policy=config.merge_policy)
            if shards is not None:
                encoded = shards.encoded_docs(docs, show_progress=show_progress)
            else:
                encoded = DocEncoders(components).encode(docs, cache_dir=staging.cache, chunk_size=config.chunk_size, show_progress=show_progress)
            if config.reorder == "bp" and encoded.sparse:
                from tandem.index.reorder import timed_bp_order

                order, seconds = timed_bp_order(next(iter(encoded.sparse.values())), show_progress=show_progress)
                encoded = encoded.reordered(order)
                log(f"reordered {len(order):,} documents by recursive graph bisection of their sparse terms in {seconds:,.1f} s")
            segment = stage_segment(stage, new_segment_name(manifest), encoded, components, manifest.index_id, show_progress, texts=config.docstore == "sqlite")
            components = apply_shared(stage, stage, components, 1, lambda prev, new: SharedChange(None, new, added=encoded), WriteContext(stage, None))
            manifest = manifest.model_copy(update={"segments": [segment], "components": components, "next_segment": 2,
                                                   "build_seconds": round(time.perf_counter() - started, 2)})
            crash_point("build:staged")
            return publish(stage, out, manifest)


def publish(stage: Path, out: Path, manifest: Manifest) -> Manifest:
    """Make the staged build the index at ``out``: one rename for a new folder, a new commit for an existing index."""
    out = Path(out)
    if not out.exists() or not any(out.iterdir()):
        manifest = commit(stage, manifest, "build", {"docs": manifest.num_docs})
        if out.exists():
            out.rmdir()
        stage.rename(out)
        return manifest
    version = raw_format_version(out)
    old_files: list[Path] = []
    generation = 0
    if version == 1:  # a Tandem 0.1 index: its files go once the new commit is in place
        raw = json.loads((out / "manifest.json").read_text(encoding="utf-8"))
        old_files = [out / rel.split("/")[0] for component in raw.get("components", {}).values() for rel in component.get("files", {})]
    else:
        generation = read_manifest(out).generation
    move_into_place(stage, out)
    crash_point("publish:moved")
    manifest = commit(out, manifest.model_copy(update={"generation": generation}), "build", {"docs": manifest.num_docs, "replaced": True})
    for name in TUNED_FILES:
        path = out / name
        shutil.rmtree(path) if path.is_dir() else path.unlink(missing_ok=True)
    for path in sorted(set(old_files)):
        shutil.rmtree(path, ignore_errors=True) if path.is_dir() else path.unlink(missing_ok=True)
    collect_garbage(out, manifest)
    return manifest
