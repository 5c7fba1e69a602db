"""Build an index directory from a corpus: document store, learned sparse, dense (FAISS)."""
from __future__ import annotations

import hashlib
import json
import time
from pathlib import Path
from typing import Callable, Literal, Sequence

import numpy as np
from pydantic import BaseModel, Field
from tqdm.auto import tqdm

from index import docstore, manifest as mf
from index.build_dir import ChunkCache, StagingDir
from index.corpus import CorpusStats, Document, file_sha256, read_corpus
from index.dense import FaissConfig, write_dense_index
from index.errors import TandemError
from index.sparse import SparseVector, stack_vectors, write_sparse_index

from .dense_encoder import DenseConfig, DenseEncoder
from .idf_query import document_frequencies, idf_from_df, load_idf_json
from .splade import SpladeConfig, SpladeEncoder

SparseMode = Literal["siamese", "inference-free"]
SPARSE_MODES = ("siamese", "inference-free")


class BuildConfig(BaseModel):
    """Everything that determines an index; saved in the manifest as ``build_config``."""

    corpus: str
    sparse: str | None = "splade-tiny"
    sparse_mode: SparseMode = "inference-free"
    dense: str | None = "minilm-l6"
    faiss: FaissConfig = Field(default_factory=FaissConfig)
    bm25: bool = False
    bm25_fields: Literal["flat", "multifield"] = "flat"
    lucene_impact: bool = False  # also index the sparse vectors in a Lucene impact index
    impact_scale: float = 100.0  # impacts are round(weight * scale)
    max_length: int = 256
    batch_size: int = 16
    doc_top_k: int | None = None
    query_prefix: str = ""
    document_prefix: str = ""
    chunk_size: int = 2048

    def chunk_key(self, component: str) -> str:
        """Short hash of the settings that determine a component's encoded chunks."""
        fields = {"sparse": ("sparse", "max_length", "doc_top_k"), "dense": ("dense", "max_length", "document_prefix")}[component]
        relevant = {name: getattr(self, name) for name in fields}
        return hashlib.sha256(json.dumps(relevant, sort_keys=True).encode()).hexdigest()[:12]


def _encode_in_chunks(
    docs: Sequence[Document],
    cache: ChunkCache,
    chunk_size: int,
    encode_chunk: Callable[[list[str]], dict[str, np.ndarray]],
    desc: str,
) -> list[dict[str, np.ndarray]]:
    """Encode documents chunk by chunk, reusing chunks cached by an interrupted build."""
    chunks = []
    num_chunks = (len(docs) + chunk_size - 1) // chunk_size
    with tqdm(total=len(docs), desc=desc, unit="doc") as bar:
        for i in range(num_chunks):
            part = docs[i * chunk_size : (i + 1) * chunk_size]
            arrays = cache.get(i)
            if arrays is None:
                arrays = encode_chunk([d.contents for d in part])
                cache.put(i, **arrays)
            else:
                bar.set_postfix_str("resumed from cache")
            chunks.append(arrays)
            bar.update(len(part))
    return chunks


def _sparse_chunk(encoder: SpladeEncoder) -> Callable[[list[str]], dict[str, np.ndarray]]:
    def encode(texts: list[str]) -> dict[str, np.ndarray]:
        vectors = encoder.encode(texts)
        indptr = np.zeros(len(vectors) + 1, dtype=np.int64)
        np.cumsum([v.nnz for v in vectors], out=indptr[1:])
        ids = np.concatenate([v.ids for v in vectors]) if vectors else np.zeros(0, np.int32)
        weights = np.concatenate([v.weights for v in vectors]) if vectors else np.zeros(0, np.float32)
        return {"indptr": indptr, "ids": ids, "weights": weights}

    return encode


def _unpack_sparse(chunks: list[dict[str, np.ndarray]]) -> list[SparseVector]:
    vectors = []
    for chunk in chunks:
        indptr, ids, weights = chunk["indptr"], chunk["ids"], chunk["weights"]
        for start, end in zip(indptr[:-1], indptr[1:]):
            vectors.append(SparseVector(ids[start:end], weights[start:end]))
    return vectors


def build_index(
    config: BuildConfig,
    out: Path,
    corpus_path: Path,
    overwrite: bool = False,
    log: Callable[[str], None] = print,
) -> mf.Manifest:
    """Build the index described by ``config`` at ``out`` (atomically; resumable)."""
    if config.lucene_impact and config.sparse is None:
        raise TandemError("a Lucene impact index needs a sparse encoder", "--lucene-impact")
    if config.sparse is None and config.dense is None and not config.bm25:
        raise TandemError("nothing to build: give --sparse, --dense or --bm25", "index build")
    if config.sparse_mode not in SPARSE_MODES:
        raise TandemError(f"unknown sparse mode {config.sparse_mode!r}", "--sparse-mode")
    started = time.perf_counter()
    stats = CorpusStats()
    docs = read_corpus(corpus_path, stats)
    if stats.num_empty:
        log(f"warning: {stats.num_empty} document(s) have empty title and text; indexed as empty")
    corpus_sha = file_sha256(corpus_path)
    # Load encoders before creating any directory, so a bad model name leaves nothing behind.
    sparse_encoder = SpladeEncoder(SpladeConfig(config.sparse, config.max_length, config.batch_size, config.doc_top_k)) if config.sparse else None
    dense_encoder = (
        DenseEncoder(DenseConfig(config.dense, config.max_length, config.batch_size, config.query_prefix, config.document_prefix))
        if config.dense
        else None
    )
    components: dict[str, mf.ComponentInfo] = {}
    timings: dict[str, float] = {}
    with StagingDir(out, corpus_sha, overwrite) as staging:
        root = staging.stage
        t0 = time.perf_counter()
        docstore.write_docstore(root / docstore.FILENAME, tqdm(docs, desc="document store", unit="doc"))
        components["docstore"] = mf.describe_component(root, [docstore.FILENAME], settings={})
        timings["docstore"] = time.perf_counter() - t0

        if sparse_encoder is not None:
            t0 = time.perf_counter()
            chunks = _encode_in_chunks(docs, ChunkCache(staging.cache, f"sparse-{config.chunk_key('sparse')}"), config.chunk_size, _sparse_chunk(sparse_encoder), "sparse encode")
            matrix = stack_vectors(_unpack_sparse(chunks), sparse_encoder.vocab_size)
            query_weights, idf_source = None, None
            if config.sparse_mode == "inference-free":
                query_weights = load_idf_json(Path(sparse_encoder.ref.location), sparse_encoder.tokenizer, sparse_encoder.vocab_size) if sparse_encoder.ref.is_local else None
                idf_source = "model idf.json"
                if query_weights is None:
                    df, n = document_frequencies(sparse_encoder.tokenizer, (d.contents for d in docs), sparse_encoder.vocab_size, show_progress=True, total=len(docs))
                    query_weights, idf_source = idf_from_df(df, n), "corpus"
            sparse_dir = root / "sparse"
            summary = write_sparse_index(sparse_dir, matrix, query_weights)
            sparse_encoder.tokenizer.save_pretrained(sparse_dir / "tokenizer")
            settings = {"encoder": sparse_encoder.settings(), "mode": config.sparse_mode, "idf_source": idf_source, **summary}
            components["sparse"] = mf.describe_component(root, subdir="sparse", settings=settings)
            timings["sparse"] = time.perf_counter() - t0
            if config.lucene_impact:
                t0 = time.perf_counter()
                from index.lucene.impact import build_impact_index

                vocab = sparse_encoder.tokenizer.convert_ids_to_tokens(list(range(sparse_encoder.vocab_size)))
                vectors = (
                    (doc.doc_id, {vocab[t]: int(round(float(w) * config.impact_scale)) for t, w in zip(matrix.indices[s:e], matrix.data[s:e]) if round(float(w) * config.impact_scale) > 0})
                    for doc, s, e in zip(docs, matrix.indptr[:-1], matrix.indptr[1:])
                )
                settings = build_impact_index(vectors, root / "impact", total=len(docs))
                settings.update({"scale": config.impact_scale, "mode": config.sparse_mode})
                components["impact"] = mf.describe_component(root, subdir="impact", settings=settings)
                timings["impact"] = time.perf_counter() - t0

        if dense_encoder is not None:
            t0 = time.perf_counter()
            chunks = _encode_in_chunks(
                docs,
                ChunkCache(staging.cache, f"dense-{config.chunk_key('dense')}"),
                config.chunk_size,
                lambda texts: {"vectors": dense_encoder.encode_documents(texts)},
                "dense encode",
            )
            vectors = np.concatenate([c["vectors"] for c in chunks])
            log("writing FAISS index ...")
            summary = write_dense_index(root / "dense", vectors, config.faiss)
            components["dense"] = mf.describe_component(root, subdir="dense", settings={"encoder": dense_encoder.settings(), **summary})
            timings["dense"] = time.perf_counter() - t0

        if config.bm25:
            t0 = time.perf_counter()
            from index.lucene.bm25 import build_bm25_index

            settings = build_bm25_index(docs, root / "bm25", fields=config.bm25_fields)
            components["bm25"] = mf.describe_component(root, subdir="bm25", settings=settings)
            timings["bm25"] = time.perf_counter() - t0

        for name, seconds in timings.items():
            components[name].settings["build_seconds"] = round(seconds, 2)
        manifest = mf.Manifest(
            build_seconds=round(time.perf_counter() - started, 2),
            corpus=mf.CorpusInfo(source=str(corpus_path), sha256=corpus_sha, num_docs=len(docs), num_empty=stats.num_empty),
            components=components,
            build_config=config.model_dump(),
        )
        mf.write_manifest(root, manifest)
        staging.publish()
    return manifest
