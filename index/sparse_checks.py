"""Consistency checks of a sparse index directory (one line naming the file at fault).

The search kernels index arrays by stored offsets and doc ids without bounds checks, so a
damaged file must be refused before it reaches them. :func:`open_checked` runs, on every open:

- :func:`check_sparse_files`, headers only (O(1) per file): every array file is complete and has
  the dtype and shape that ``sparse_config.json`` implies (offsets = vocabulary + 1, weights =
  postings, per-block arrays of one length);
- :func:`check_postings` without ``thorough``: term and block offsets agree (O(V)); every block's
  gap width and place in the gap stream are valid and its last doc id is ascending within its
  term and below the document count (O(B), blocks of 128 postings).

``thorough=True`` (``tandem index info --verify``, and compaction, which reads everything anyway)
also decodes every block (O(P)): doc ids ascending and ending at the block's last doc, the block
maximum equal to its weights' maximum. Measured (CPU time) on a 100k-document index with 10.3M
postings: opening it costs ~110 ms (document ids 83 ms, postings 2 ms, tokenizer and IDF 26 ms);
the checks on open add ~4.5 ms (~4%); decoding every block costs ~10-12 ms (~10%), over the 5%
budget for every open. So searches decode instead, with :class:`TermChecks`, the blocks of each
query term the first time it is used (once per term and open index), and a retriever checks every
term on a background thread after open (:func:`check_in_background`), off the queries' path. What
no check but sha256 can see: a same-size rewrite of weights that keeps every block's maximum
(``--verify`` finds it).
"""
from __future__ import annotations

import threading
from pathlib import Path
from typing import Callable

import numpy as np
from numba import njit

from . import sparse_kernel as kernel
from .errors import IndexFormatError
from .npy_files import check_npy
from .sparse import SparseIndex
from .sparse_format import FORWARD_FILES, LAYOUT_FILES, LEGACY_DOCS_FILE, POSTING_FILES, load_info

INDEX_DTYPES = {"offsets": "int64", "block_offsets": "int64", "last_doc": "int32", "shift": "uint8", "data_off": "int64", "gaps": "uint8"}
PACKED_DTYPES = {**INDEX_DTYPES, "offsets": ("uint32", "int64"), "block_offsets": ("uint16", "uint32", "int64"), "data_off": ("uint32", "int64"), "gaps": "uint32"}
BACKGROUND_CHUNK = 1024  # terms per step of TermChecks.check_all (~2 ms a step on pkgsum 729k)
PROBLEMS = {1: ("shift", "a block's gap width is not 1, 2 or 4 bytes (aligned) or 0-32 bits (packed)"),
            2: ("data_off", "a block's gaps lie outside the gap stream"),
            3: ("gaps", "doc ids decoded from the gaps are not ascending, or disagree with block_last_doc.npy"),
            4: ("last_doc", "last doc ids of the blocks are not ascending within a term, or not below the document count"),
            5: ("weights", "the weights of a block disagree with its maximum in block_max.npy")}


def open_checked(directory: Path, num_docs: int | None, thorough: bool = False) -> SparseIndex:
    """The sparse index in ``directory`` of a segment of ``num_docs`` rows (None: as recorded), checked (``thorough``: O(P) too)."""
    directory = Path(directory)
    check_sparse_files(directory, num_docs)
    try:
        index = SparseIndex(directory)
    except (ValueError, IndexError, OSError) as exc:
        raise IndexFormatError(f"sparse index unreadable: {str(exc).splitlines()[0] if str(exc) else type(exc).__name__}", str(directory)) from None
    check_postings(index, thorough)
    return index


def check_sparse_files(directory: Path, num_docs: int | None) -> None:
    """Headers only: each array complete, with the dtype and shape ``sparse_config.json`` implies
    (``num_docs``: the rows the segment has; None = as recorded there)."""
    directory = Path(directory)
    info = load_info(directory)
    if info is None:  # format 1: docs, weights and the forward copy, block-encoded when opened
        vocab1 = check_npy(directory / POSTING_FILES["offsets"], "int64", (None,))[0]
        num_postings = check_npy(directory / LEGACY_DOCS_FILE, "int32", (None,))[0]
        check_npy(directory / POSTING_FILES["weights"], "float32", (num_postings,))
        _check_forward(directory, num_docs, num_postings, "float32")  # num_docs None: any
        if vocab1 < 1:
            raise IndexFormatError("array is empty, expected vocabulary size + 1 offsets", str(directory / POSTING_FILES["offsets"]))
        return
    num_docs = info.num_docs if num_docs is None else num_docs
    if info.num_docs != num_docs:
        raise IndexFormatError(f"sparse index has {info.num_docs} rows, the segment {num_docs}", str(directory / "sparse_config.json"))
    weights = info.config.weights
    packed = info.config.layout == "packed"
    files, dtypes = LAYOUT_FILES[info.config.layout], PACKED_DTYPES if packed else INDEX_DTYPES
    check_npy(directory / files["offsets"], dtypes["offsets"], (info.vocab_size + 1,))
    check_npy(directory / files["block_offsets"], dtypes["block_offsets"], (info.vocab_size + 1,))
    num_blocks = check_npy(directory / files["last_doc"], "int32", (None,))[0]
    for key in ("shift", "data_off"):
        check_npy(directory / files[key], dtypes[key], (num_blocks,))
    check_npy(directory / files["block_max"], weights, (num_blocks,))
    check_npy(directory / files["weights"], weights, (info.num_postings,))
    gaps = check_npy(directory / files["gaps"], dtypes["gaps"], (None,))[0]
    if gaps % 4 and not packed:
        raise IndexFormatError(f"gap stream of {gaps} bytes is not a multiple of 4", str(directory / files["gaps"]))
    if info.config.forward:
        _check_forward(directory, num_docs, info.num_postings, weights)


def _check_forward(directory: Path, num_docs: int | None, num_postings: int, weights: str) -> None:
    check_npy(directory / FORWARD_FILES[0], "int64", (None if num_docs is None else num_docs + 1,))
    check_npy(directory / FORWARD_FILES[1], "int32", (num_postings,))
    check_npy(directory / FORWARD_FILES[2], weights, (num_postings,))


def check_postings(index: SparseIndex, thorough: bool = False) -> None:
    """Values: term and block offsets agree (O(V)), the skip data of every block is valid (O(B));
    ``thorough``: every block also decodes consistently (O(P)) and forward term ids are in range."""
    P = index.postings
    directory = index.directory
    files = _files(index)
    offsets = np.asarray(P.offsets)
    block_offsets = np.asarray(P.block_offsets)
    counts = np.diff(offsets)
    if offsets[0] != 0 or offsets[-1] != P.weights.size or (counts < 0).any():
        raise IndexFormatError(f"term offsets are not ascending from 0 to the {P.weights.size:,} postings", str(directory / files["offsets"]))
    if block_offsets[0] != 0 or block_offsets[-1] != P.last_doc.size or not np.array_equal(np.diff(block_offsets), (counts + kernel.BLOCK - 1) // kernel.BLOCK):
        raise IndexFormatError("block offsets do not match the term offsets", str(directory / files["block_offsets"]))
    if index.forward is not None:
        indptr, terms, _ = index.forward
        indptr = np.asarray(indptr)
        if indptr[0] != 0 or indptr[-1] != P.weights.size or (np.diff(indptr) < 0).any():
            raise IndexFormatError("forward row offsets are not ascending from 0 to the postings", str(directory / FORWARD_FILES[0]))
        if thorough and terms.size and (int(np.min(terms)) < 0 or int(np.max(terms)) >= index.vocab_size):
            raise IndexFormatError(f"a term id is outside the vocabulary (0..{index.vocab_size - 1})", str(directory / FORWARD_FILES[1]))
    _check_blocks(index, np.arange(index.vocab_size, dtype=np.int64), thorough)


class TermChecks:
    """Decodes the blocks of each term the first time a query uses it (the thorough check, spread over
    searches: O(postings of the terms not seen before), then a few microseconds a query), so that
    damaged gaps or block maxima are refused before the search kernel reads them. Thread-safe.

    :meth:`check_all` checks every term, :data:`BACKGROUND_CHUNK` terms at a time without holding the GIL;
    :func:`check_in_background` runs it for a retriever's segments on one thread after open (54 ms of one
    core for pkgsum 729k's 26.6M postings), so that an open index soon checks nothing per query
    (otherwise each query with a term not seen yet decodes that term's postings: 869 of the first 1,000
    MS MARCO queries on pkgsum 729k did, 4.6% of their mean time, measured side by side). A chunk
    with a damaged block is left unmarked: the query that uses its terms decodes them and is refused, as
    without the pass."""

    def __init__(self, index: SparseIndex) -> None:
        self.index = index
        self.checked = np.zeros(index.vocab_size, dtype=bool)
        self.all_checked = False  # set by check_all when every term is checked

    def check_all(self, stop: threading.Event | None = None) -> bool:
        """Check every term not checked yet (stopping between chunks once ``stop`` is set); True when all are."""
        P = self.index.postings
        gaps_len = np.int64(P.gaps32.size if P.packed else P.gaps8.size)
        num_docs = np.int64(self.index.num_docs)
        complete = True
        for start in range(0, self.checked.size, BACKGROUND_CHUNK):
            if stop is not None and stop.is_set():
                return False
            end = min(start + BACKGROUND_CHUNK, self.checked.size)
            if self.checked[start:end].all():
                continue
            _, problem = first_bad_block(P, num_docs, gaps_len, np.arange(start, end, dtype=np.int64), True)
            if problem:
                complete = False  # left to the query that uses these terms
                continue
            self.checked[start:end] = True
        self.all_checked = complete
        return complete

    def check(self, term_ids: np.ndarray) -> None:
        if self.all_checked:
            return
        ids = np.asarray(term_ids, dtype=np.int64)
        if ids.size and (ids.min() < 0 or ids.max() >= self.checked.size):
            ids = ids[(ids >= 0) & (ids < self.checked.size)]  # out-of-vocabulary ids are refused by the search itself
        new = ids[~self.checked[ids]]
        if new.size:  # none once an index has served a while: no sort on the common path
            new = np.unique(new)
            _check_blocks(self.index, new, True)
            self.checked[new] = True


def check_in_background(checks: list[TermChecks], then: Callable[[SparseIndex, threading.Event], object] | None = None) -> threading.Event:
    """Run :meth:`TermChecks.check_all` for each of ``checks`` on one daemon thread, and after each ``then(index,
    stop)`` if given (more preparation off the queries' path); set the returned event to stop it after its current
    chunk (a retriever's ``close``). Errors are left to the per-query checks."""
    stop = threading.Event()

    def run() -> None:
        for one in checks:
            try:
                one.check_all(stop)
                if then is not None:
                    then(one.index, stop)
            except Exception:  # noqa: BLE001 - an optimisation only: the per-query check still runs and reports
                pass

    if checks:
        threading.Thread(target=run, name="tandem-postings-check", daemon=True).start()
    return stop


def _files(index: SparseIndex) -> dict[str, str]:
    return LAYOUT_FILES[index.info.config.layout] if index.info.format_version > 1 else POSTING_FILES


def _check_blocks(index: SparseIndex, terms: np.ndarray, decode: bool) -> None:
    P = index.postings
    gaps_len = P.gaps32.size if P.packed else P.gaps8.size
    block, problem = first_bad_block(P, np.int64(index.num_docs), np.int64(gaps_len), terms, decode)
    if problem:
        key, message = PROBLEMS[problem]
        legacy = (index.directory / LEGACY_DOCS_FILE).exists() and key in ("gaps", "last_doc")  # format 1: doc ids come from postings_docs.npy
        raise IndexFormatError(f"{message} (block {block})", str(index.directory / (LEGACY_DOCS_FILE if legacy else _files(index)[key])))


@njit(cache=True, nogil=True)
def first_bad_block(P, num_docs, gaps_len, terms, decode):
    """(block, problem) of the first inconsistent block of ``terms``, (-1, 0) when all agree (codes: ``PROBLEMS``).

    ``gaps_len``: elements of the gap stream (bytes aligned, words packed). Without ``decode`` only
    the skip data is read (O(blocks)); with it the blocks are decoded (O(postings)).
    Assumes the offsets were checked (every block's postings lie inside the arrays).
    """
    for t in terms:
        first = P.block_offsets[t]
        for b in range(first, P.block_offsets[t + 1]):
            p0, cnt, base = kernel._block_start(P, t, b)
            s = P.shift[b]
            o = np.int64(P.data_off[b])
            if P.packed:
                if s > 32:
                    return b, 1
                # A block's words, then two more that reading its last value may touch.
                if o < 0 or o + ((np.int64(s) * cnt + 31) >> 5) + kernel.PACK_PADDING > gaps_len:
                    return b, 2
            else:
                if s > 2:
                    return b, 1
                width = np.int64(1) << s
                if o < 0 or o & (width - 1) != 0 or o + cnt * width > gaps_len:
                    return b, 2
            last = np.int64(P.last_doc[b])
            lowest = base + cnt if b > first else cnt - 1  # unique ascending ids after the previous block's last
            if last < lowest or last >= num_docs:
                return b, 4
            if not decode:
                continue
            doc = base
            top = P.weights[p0]
            if P.packed:  # every value is gap - 1 >= 0: ascending by construction, so only the end can disagree
                nbits = np.int64(s)
                mask = kernel._mask(nbits)
                for j in range(cnt):
                    doc += kernel._unpack(P.gaps8, o, nbits, mask, j) + 1
                    if P.weights[p0 + j] > top:
                        top = P.weights[p0 + j]
            else:
                o >>= s
                for j in range(cnt):
                    gap = kernel._gap(P, s, o, j)
                    if gap == 0 and not (b == first and j == 0):
                        return b, 3
                    doc += gap
                    if P.weights[p0 + j] > top:
                        top = P.weights[p0 + j]
            if doc != last:
                return b, 3
            if top != P.block_max[b]:
                return b, 5
    return -1, 0
