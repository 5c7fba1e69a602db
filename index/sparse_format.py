"""On-disk format of the sparse inverted index: its configuration, weight quantisation and files.

Directory layout (format 2; ``SparseIndexInfo`` in ``sparse_config.json`` says how to read it):
- ``postings_offsets.npy`` [V+1]: term t's postings are ``[offsets[t], offsets[t+1])``
- ``postings_weights.npy`` float32 / uint16 / uint8 [P]: stored weights (weight = stored * scale)
- ``postings_gaps.npy``: doc-id gaps, block by block (see ``tandem.index.sparse_kernel``)
- ``block_offsets.npy`` [V+1], ``block_last_doc.npy`` int32[B], ``block_max.npy`` [B], and per
  block the gap width and the offset of its gaps: per-block skip data
- ``forward_indptr.npy`` / ``forward_terms.npy`` / ``forward_weights.npy`` (only with
  ``forward=True``): the same matrix row-wise; without them rows are derived from the postings
- ``query_weights.npy`` float32[V] (optional): the IDF table for inference-free queries

Two layouts of the gaps (``SparseIndexConfig.layout``; indexes written before it was recorded are
``aligned``):
- ``packed`` (the default): gaps bit-packed per block into uint32 words (``postings_gaps.npy``
  uint32[W]), ``block_bits.npy`` uint8[B] bits per gap, ``block_data_offsets.npy`` uint32[B]
  word offsets; term offsets uint32 and block offsets uint16 or uint32 (the narrowest that holds
  the count; int64 only where it reaches 2^32).
- ``aligned``: gaps of 1, 2 or 4 bytes per block (``postings_gaps.npy`` uint8[...]),
  ``block_shift.npy`` uint8[B], ``block_data_offsets.npy`` int64[B] byte offsets; term and block
  offsets int64.

Format 1 (before ``sparse_config.json``: int32 ``postings_docs.npy``, float32 weights, always a
forward copy) is still read; it is block-encoded in memory when opened.

Measured with uint8 weights (``bench/bench_sparse_kernel.py`` -> ``bench/results/sparse_kernel.json``;
every posting file / postings, against every file of an optimised Lucene impact index of the same
vectors, and in brackets that without its stored doc ids): packed / aligned bytes per posting
pkgsum 100k 2.31 / 2.89 (Lucene 2.79 [2.47]), scifact 2.15 / 2.80 (2.20 [2.16]), synthetic long
documents 100k 1.92 / 2.32 (1.97 [1.92]) and 1M 1.90 / 2.30; gaps take 0.83-1.14 bytes a posting
packed vs 1.18-1.59 aligned. Scan latency is the aligned layout's within the noise of the run.
"""
from __future__ import annotations

import json
from pathlib import Path
from typing import Literal

import numpy as np
import scipy.sparse as sp
from pydantic import BaseModel, ConfigDict, field_validator

from . import sparse_kernel as kernel
from .errors import IndexFormatError, TandemError

FORMAT_VERSION = 2
CONFIG_FILE = "sparse_config.json"
POSTING_FILES = {  # the aligned layout's files
    "offsets": "postings_offsets.npy",
    "block_offsets": "block_offsets.npy",
    "last_doc": "block_last_doc.npy",
    "block_max": "block_max.npy",
    "shift": "block_shift.npy",
    "data_off": "block_data_offsets.npy",
    "gaps": "postings_gaps.npy",
    "weights": "postings_weights.npy",
}
PACKED_FILES = {**POSTING_FILES, "shift": "block_bits.npy"}  # the packed layout's: bits per gap instead of a byte width
LAYOUT_FILES = {"aligned": POSTING_FILES, "packed": PACKED_FILES}
FORWARD_FILES = ("forward_indptr.npy", "forward_terms.npy", "forward_weights.npy")
LEGACY_DOCS_FILE = "postings_docs.npy"
QUANTISATION_LEVELS = {"uint16": 65535, "uint8": 255}
_CHUNK = 1 << 24  # postings per quantisation step (bounds float64 temporaries)


class SparseIndexConfig(BaseModel):
    """How ``write_sparse_index`` stores postings; saved with the index, so it opens without being told.

    ``weights``: ``float32`` keeps the weights exactly; ``uint16`` / ``uint8`` store
    ``round(w / scale)`` (at least 1) with ``scale = max weight / (2^16 - 1 or 2^8 - 1)``, so each
    stored weight is within ``scale`` of the original (within ``scale / 2`` unless the weight is
    below ``scale / 2``) and a score within ``scale * sum(|query weights|)``.
    ``forward``: also store the documents row-wise (faster ``doc_vector`` / ``doc_matrix``);
    without it they are derived from the postings.
    ``layout``: how doc-id gaps are stored (module docstring): ``packed`` bit-packs them per
    block, ``aligned`` (the layout before ``packed`` existed) uses 1, 2 or 4 bytes per gap.
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    weights: Literal["float32", "uint16", "uint8"] = "float32"
    forward: bool = False
    layout: Literal["aligned", "packed"] = "packed"


class SparseIndexInfo(BaseModel):
    """Contents of ``sparse_config.json``: the configuration plus what reading needs."""

    model_config = ConfigDict(extra="forbid")

    format_version: int = FORMAT_VERSION
    config: SparseIndexConfig
    num_docs: int
    vocab_size: int
    num_postings: int
    scale: float  # weight = stored weight * scale
    min_weight: float  # smallest stored weight (pruning needs >= 0)
    max_weight_error: float  # largest |weight - stored * scale| over all postings

    @field_validator("config", mode="before")
    @classmethod
    def _recorded_before_layouts(cls, value):
        """A ``sparse_config.json`` written before ``layout`` existed describes the aligned layout."""
        if isinstance(value, dict) and "layout" not in value:
            return {**value, "layout": "aligned"}
        return value


def quantise(weights: np.ndarray, kind: str) -> tuple[np.ndarray, float, float]:
    """(stored weights, scale, largest absolute error) for ``SparseIndexConfig.weights`` = kind."""
    weights = np.asarray(weights, dtype=np.float32)
    if kind == "float32":
        return weights, 1.0, 0.0
    levels = QUANTISATION_LEVELS[kind]
    if weights.size and float(weights.min()) < 0:
        raise TandemError(f"{kind} weights need non-negative document weights (smallest is {float(weights.min())}); use float32", "weights")
    top = float(weights.max()) if weights.size else 0.0
    scale = top / levels if top > 0 else 1.0
    stored = np.empty(weights.size, dtype=kind)
    error = 0.0
    for start in range(0, weights.size, _CHUNK):
        part = weights[start:start + _CHUNK].astype(np.float64)
        q = np.clip(np.rint(part / scale), 1, levels)
        stored[start:start + _CHUNK] = q
        error = max(error, float(np.abs(q * scale - part).max()))
    return stored, scale, error


def encode_postings(indptr: np.ndarray, indices: np.ndarray, stored: np.ndarray, layout: str = "packed") -> kernel.Postings:
    """Block-encode CSC postings (docs ascending within each term) with their stored weights."""
    indptr = np.ascontiguousarray(indptr, dtype=np.int64)
    indices = np.ascontiguousarray(indices)
    stored = np.ascontiguousarray(stored)
    blocks = (np.diff(indptr) + kernel.BLOCK - 1) // kernel.BLOCK
    block_offsets = np.zeros(indptr.size, dtype=np.int64)
    np.cumsum(blocks, out=block_offsets[1:])
    num_blocks = int(block_offsets[-1])
    last_doc = np.empty(num_blocks, np.int32)
    block_max = np.empty(num_blocks, stored.dtype)
    shift = np.empty(num_blocks, np.uint8)
    if layout == "packed":
        # At most 32 bits a posting plus one partial word a block, plus padding: uint32 word offsets unless that could overflow.
        data_off = np.empty(num_blocks, _narrowest(2 * stored.size + num_blocks + kernel.PACK_PADDING))
        length = kernel.layout_packed_blocks(indptr, indices, stored, block_offsets, last_doc, block_max, shift, data_off)
        postings = kernel.Postings(indptr, block_offsets, last_doc, block_max, shift, data_off, *kernel.gap_views(np.zeros(length, np.uint32)), stored, True)
        kernel.write_packed(postings, indices)
        return postings
    data_off = np.empty(num_blocks, np.int64)
    length = kernel.layout_blocks(indptr, indices, stored, block_offsets, last_doc, block_max, shift, data_off)
    postings = kernel.Postings(indptr, block_offsets, last_doc, block_max, shift, data_off, *kernel.gap_views(np.zeros(length, np.uint8)), stored)
    kernel.write_gaps(postings, indices)
    return postings


def _narrowest(largest: int) -> type:
    """uint32 when every value up to ``largest`` fits, else int64 (packed layout offsets)."""
    return np.uint32 if largest < 2**32 else np.int64


def save_postings(directory: Path, postings: kernel.Postings) -> dict[str, int]:
    """Write the posting arrays; returns each file's size in bytes (by ``POSTING_FILES`` key)."""
    arrays = postings._asdict()
    packed = arrays.pop("packed")
    if packed:  # words; term and block offsets as narrow as they fit (widened again when loaded)
        arrays["gaps"] = arrays.pop("gaps32")
        arrays["offsets"] = arrays["offsets"].astype(_narrowest(int(arrays["offsets"][-1])))
        blocks = int(arrays["block_offsets"][-1])
        arrays["block_offsets"] = arrays["block_offsets"].astype(np.uint16 if blocks < 2**16 else _narrowest(blocks))
    else:
        arrays["gaps"] = arrays.pop("gaps8")
    sizes = {}
    for key, name in LAYOUT_FILES["packed" if packed else "aligned"].items():
        np.save(directory / name, arrays[key])
        sizes[key] = (directory / name).stat().st_size
    return sizes


def load_postings(directory: Path, mmap: bool, layout: str = "aligned") -> kernel.Postings:
    mode = "r" if mmap else None
    try:
        arrays = {key: np.asarray(np.load(directory / name, mmap_mode=mode)) for key, name in LAYOUT_FILES[layout].items()}
    except FileNotFoundError as exc:
        raise IndexFormatError(f"sparse index file missing: {Path(exc.filename).name}", str(directory)) from None
    gaps8, gaps16, gaps32 = kernel.gap_views(arrays.pop("gaps"))
    # stored narrower in the packed layout; widened (V+1 and one per block of 128 postings: costs nothing measurable)
    # so every layout reaches the kernels in one form (kernel.searchable)
    return kernel.searchable(kernel.Postings(**arrays, gaps8=gaps8, gaps16=gaps16, gaps32=gaps32, packed=layout == "packed"))


def save_forward(directory: Path, csc: sp.csc_matrix, stored: np.ndarray) -> int:
    """Write the row-wise copy (stored weights); returns its size in bytes."""
    csr = sp.csc_matrix((stored, csc.indices, csc.indptr), shape=csc.shape).tocsr()
    csr.sort_indices()
    np.save(directory / FORWARD_FILES[0], csr.indptr.astype(np.int64))
    np.save(directory / FORWARD_FILES[1], csr.indices.astype(np.int32))
    np.save(directory / FORWARD_FILES[2], csr.data)
    return sum((directory / name).stat().st_size for name in FORWARD_FILES)


def load_forward(directory: Path, mmap: bool) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    mode = "r" if mmap else None
    try:
        return tuple(np.load(directory / name, mmap_mode=mode) for name in FORWARD_FILES)  # type: ignore[return-value]
    except FileNotFoundError as exc:
        raise IndexFormatError(f"sparse index file missing: {Path(exc.filename).name}", str(directory)) from None


def save_info(directory: Path, info: SparseIndexInfo) -> None:
    (directory / CONFIG_FILE).write_text(info.model_dump_json(indent=2) + "\n", encoding="utf-8")


def load_info(directory: Path) -> SparseIndexInfo | None:
    """The saved ``SparseIndexInfo``, or None for a format-1 directory."""
    path = directory / CONFIG_FILE
    if not path.exists():
        if (directory / LEGACY_DOCS_FILE).exists():
            return None
        raise IndexFormatError(f"sparse index file missing: {CONFIG_FILE}", str(directory))
    try:
        info = SparseIndexInfo.model_validate(json.loads(path.read_text(encoding="utf-8")))
    except (ValueError, TypeError) as exc:
        raise IndexFormatError(f"unreadable {CONFIG_FILE}: {str(exc).splitlines()[0]}", str(path)) from None
    if info.format_version != FORMAT_VERSION:
        raise IndexFormatError(f"sparse index format {info.format_version} is not supported (expected {FORMAT_VERSION}); rebuild the index", str(path))
    return info


def load_legacy(directory: Path, mmap: bool) -> tuple[SparseIndexInfo, kernel.Postings, tuple[np.ndarray, np.ndarray, np.ndarray]]:
    """A format-1 directory, block-encoded in memory (float32 weights, forward copy kept)."""
    mode = "r" if mmap else None
    try:
        offsets = np.load(directory / POSTING_FILES["offsets"], mmap_mode=mode)
        docs = np.load(directory / LEGACY_DOCS_FILE, mmap_mode=mode)
        weights = np.load(directory / POSTING_FILES["weights"], mmap_mode=mode)
    except FileNotFoundError as exc:
        raise IndexFormatError(f"sparse index file missing: {Path(exc.filename).name}", str(directory)) from None
    forward = load_forward(directory, mmap)
    postings = kernel.searchable(encode_postings(offsets, docs, np.asarray(weights, dtype=np.float32)))
    info = SparseIndexInfo(
        format_version=1, config=SparseIndexConfig(weights="float32", forward=True), num_docs=int(forward[0].shape[0] - 1),
        vocab_size=int(offsets.shape[0] - 1), num_postings=int(docs.shape[0]), scale=1.0,
        min_weight=float(np.min(weights)) if weights.size else 0.0, max_weight_error=0.0,
    )
    return info, postings, forward


def remove_stale(directory: Path, forward: bool, layout: str = "packed") -> None:
    """Delete files of an earlier index in the same directory that this one does not use."""
    other = {"aligned": "packed", "packed": "aligned"}[layout]
    unused = set(LAYOUT_FILES[other].values()) - set(LAYOUT_FILES[layout].values())
    stale = [LEGACY_DOCS_FILE, *sorted(unused)] + ([] if forward else list(FORWARD_FILES))
    for name in stale:
        (directory / name).unlink(missing_ok=True)
