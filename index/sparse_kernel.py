"""Compiled (numba) kernels over the block-compressed inverted index of ``tandem.index.sparse``.

Postings layout: each term's postings (doc ascending) are cut into blocks of ``BLOCK``
postings; ``last_doc`` and ``block_max`` per block allow skipping. The weights are a separate
fixed-width array (float32, uint16 or uint8 quantised), one per posting. A block's doc ids are
stored as gaps in one of two layouts (``Postings.packed``, per index):

- *aligned*: gaps (the first from the previous block's last doc, or from 0) in one fixed width
  of 1, 2 or 4 bytes chosen per block (``shift``: width ``1 << shift``), aligned to that width
  inside one byte stream; ``data_off`` is the byte offset.
- *packed* (frame of reference, as Lucene's ``ForDeltaUtil``): ``gap - 1`` (the first from the
  previous block's last doc, or from -1, i.e. the first doc id of a term itself) in ``shift``
  bits, the fewest that hold the block's largest one (0 for a block of consecutive ids), packed
  back to back into a stream of little-endian uint32 words starting at word ``data_off`` (a
  block takes ``ceil(count * bits / 32)`` words). A value is read with one unaligned 64-bit load
  at its first byte, shifted and masked (up to 4 values per load when they fit in its 57 usable
  bits), so the stream ends with two padding words. ~6.6 bits a gap instead of ~9.4 on
  scifact-like long documents, at the aligned layout's scan speed (bench/results/sparse_kernel.json).

Two exact top-k searches. ``scan_top_k`` accumulates every posting of the query terms into a
dense score array (one float64 per document) and selects in one pass over it: no bounds, so it
also serves negative weights, but a query costs time in proportion to N besides its postings.
``search_top_k`` is windowed block-max MaxScore: documents are visited in ascending windows of
``WINDOW`` ids whose float64 accumulator stays in the L2 cache. Per window each query term's upper
bound is the largest block maximum overlapping the window; a window whose summed bounds cannot
beat the current k-th score is skipped without decoding. The leading terms whose bounds can still
lift a document above the k-th score are *essential*: their postings in the window are scattered
into the accumulator (each touched document marked in a bitmap). Touched documents whose partial
score plus the remaining bounds can beat it become candidates; each remaining term then adds its
weights to them, term by term, decoding only blocks whose doc range holds a candidate that the
block maximum can still lift over the k-th score (a term whose window postings are few next to
the candidates is scattered whole instead), and candidates that can no longer make it are dropped
after each term. The survivors go to a k-entry heap, whose worst score is the threshold from then
on. Before the first window the threshold starts at a score k documents are known to reach (the
k-th largest weight of one term, cached per term). Selection and clearing read only the marked
documents, so a query costs in proportion to the postings it touches, not to N.

Both sum a document's contributions with query terms in one *canonical order* (descending
global upper bound, then term id), the order ``accumulate`` uses, so every returned score is
bit-identical to the exhaustive score; ties are broken by doc index ascending, as
``tandem.index.sparse.top_k`` does.

The entry points called from Python release the GIL (``nogil``): searches on several threads (a
batch split by :func:`tandem.index.threads.map_in_threads`, the service's request threads) run on
several cores at once.
"""
from __future__ import annotations

from typing import NamedTuple

import numpy as np
from llvmlite import ir
from numba import njit, types
from numba.core import cgutils
from numba.cpython.unsafe.numbers import trailing_zeros
from numba.extending import intrinsic

BLOCK = 128  # postings per block
WINDOW = 32768  # default documents per search window (a multiple of 64): a 256 KiB float64 accumulator
PROBE_RATIO = 2.0  # accumulate a term rather than probe it when its window postings <= this x candidates
PRUNE_DOCS_PER_K = 10_000  # SparseIndex strategy 'auto': the pruning kernel when num_docs >= this x k, else the scan
# Upper bounds are sums in a different order than the scores they bound: inflate them by far
# more than any float64 rounding difference (n * 2^-53 relative) before pruning.
_SLACK = 1.0 + 1e-9


class Postings(NamedTuple):
    """The arrays of a block-compressed inverted index (possibly memory-mapped)."""

    offsets: np.ndarray  # int64[V+1]: term t's postings are [offsets[t], offsets[t+1])
    block_offsets: np.ndarray  # int64[V+1]: term t's blocks are [block_offsets[t], block_offsets[t+1])
    last_doc: np.ndarray  # int32[B]: last doc id of each block
    block_max: np.ndarray  # weight dtype [B]: largest weight of each block
    shift: np.ndarray  # uint8[B]: aligned: gap width of each block is 1 << shift bytes; packed: bits per gap
    data_off: np.ndarray  # [B]: aligned: int64 byte offset of each block's gaps; packed: uint32/int64 word offset
    gaps8: np.ndarray  # the gap stream viewed as uint8 ...
    gaps16: np.ndarray  # ... as uint16 ...
    gaps32: np.ndarray  # ... and as uint32 (the packed layout's words)
    weights: np.ndarray  # weight dtype [P]
    packed: bool = False  # the layout of the gaps (see the module docstring)


def gap_views(stream: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The gap stream (uint8 with a length a multiple of 4, or uint32 words) viewed at the three widths."""
    stream = stream.view(np.uint8)
    return stream, stream.view(np.uint16), stream.view(np.uint32)


def searchable(postings: Postings) -> Postings:
    """``postings`` in the one form the search kernels get: term, block and data offsets as int64 and every
    array a read-only view (the arrays are shared, not copied, except offsets stored narrower).

    numba compiles a kernel once per combination of argument types, and a writable array is another type
    than a read-only (memory-mapped) one, uint32 offsets another than int64: the packed layout's loaded
    postings, the aligned layout's and ones encoded in memory made six compilations of each kernel where
    three (one per weight dtype) do. Compiling costs seconds per kernel on first use, once per machine
    (numba's cache)."""
    arrays = postings._asdict()
    for key in ("offsets", "block_offsets", "data_off"):
        arrays[key] = np.asarray(arrays[key], dtype=np.int64)
    for key, value in arrays.items():
        if isinstance(value, np.ndarray) and value.flags.writeable:
            view = value.view()
            view.flags.writeable = False
            arrays[key] = view
    return Postings(**arrays)


PACK_PADDING = 2  # words after the last block of a packed stream (a value's 64-bit load may pass its end)


# ---------------------------------------------------------------------------------------------
# Writing


@njit(cache=True)
def layout_blocks(indptr, indices, weights, block_offsets, last_doc, block_max, shift, data_off):
    """First pass: per block its width, aligned byte offset, last doc and max weight.

    Returns the stream length in bytes (rounded up to a multiple of 4).
    """
    pos = 0
    for t in range(indptr.size - 1):
        prev = 0
        b = block_offsets[t]
        p = indptr[t]
        end = indptr[t + 1]
        while p < end:
            q = min(p + BLOCK, end)
            max_gap = 0
            top = weights[p]
            for j in range(p, q):
                gap = np.int64(indices[j]) - prev
                prev = np.int64(indices[j])
                if gap > max_gap:
                    max_gap = gap
                if weights[j] > top:
                    top = weights[j]
            s = 0 if max_gap < 256 else (1 if max_gap < 65536 else 2)
            width = 1 << s
            pos = (pos + width - 1) // width * width
            data_off[b] = pos
            shift[b] = s
            last_doc[b] = indices[q - 1]
            block_max[b] = top
            pos += width * (q - p)
            b += 1
            p = q
    return (pos + 3) // 4 * 4


@njit(cache=True)
def layout_packed_blocks(indptr, indices, weights, block_offsets, last_doc, block_max, bits, data_off):
    """First pass of the packed layout: per block its bit width, word offset, last doc and max
    weight. Returns the stream length in words (padding included)."""
    pos = np.int64(0)
    for t in range(indptr.size - 1):
        prev = np.int64(-1)
        b = block_offsets[t]
        p = indptr[t]
        end = indptr[t + 1]
        while p < end:
            q = min(p + BLOCK, end)
            largest = np.int64(0)
            top = weights[p]
            for j in range(p, q):
                value = np.int64(indices[j]) - prev - 1
                prev = np.int64(indices[j])
                if value > largest:
                    largest = value
                if weights[j] > top:
                    top = weights[j]
            nbits = 0
            while largest >> nbits:
                nbits += 1
            data_off[b] = pos
            bits[b] = nbits
            last_doc[b] = indices[q - 1]
            block_max[b] = top
            pos += (np.int64(nbits) * (q - p) + 31) >> 5
            b += 1
            p = q
    return pos + PACK_PADDING


@njit(cache=True)
def write_packed(P, indices):
    """Second pass of the packed layout: every block's ``gap - 1`` values into P's (zeroed) word
    stream at the offsets and widths ``layout_packed_blocks`` chose."""
    words = P.gaps32
    for t in range(P.offsets.size - 1):
        for b in range(P.block_offsets[t], P.block_offsets[t + 1]):
            p0, cnt, prev = _block_start(P, t, b)
            nbits = np.int64(P.shift[b])
            o = np.int64(P.data_off[b])
            for j in range(cnt):
                doc = np.int64(indices[p0 + j])
                value = np.uint64(doc - prev - 1)
                prev = doc
                pos = j * nbits
                w = o + (pos >> 5)
                sh = pos & 31
                words[w] |= np.uint32((value << np.uint64(sh)) & np.uint64(0xFFFFFFFF))
                if sh + nbits > 32:
                    words[w + 1] |= np.uint32(value >> np.uint64(32 - sh))


@njit(cache=True)
def write_gaps(P, indices):
    """Second pass: the doc gaps of every block into P's stream, at the offsets and widths
    ``layout_blocks`` chose (P's other arrays are complete)."""
    for t in range(P.offsets.size - 1):
        for b in range(P.block_offsets[t], P.block_offsets[t + 1]):
            p0, cnt, prev = _block_start(P, t, b)
            s = P.shift[b]
            o = P.data_off[b] >> s
            for j in range(cnt):
                doc = np.int64(indices[p0 + j])
                if s == 0:
                    P.gaps8[o + j] = doc - prev
                elif s == 1:
                    P.gaps16[o + j] = doc - prev
                else:
                    P.gaps32[o + j] = doc - prev
                prev = doc


# ---------------------------------------------------------------------------------------------
# Decoding


@intrinsic
def _load_u64(typingctx, stream, index):
    """The 8 bytes of a uint8 array from ``index`` on as one little-endian uint64 (unaligned load,
    no bounds check: the packed stream's padding keeps it inside the array)."""
    def codegen(context, builder, signature, args):
        array_type = signature.args[0]
        array = context.make_array(array_type)(context, builder, args[0])
        pointer = cgutils.get_item_pointer(context, builder, array_type, array, [args[1]], wraparound=False)
        return builder.load(builder.bitcast(pointer, ir.IntType(64).as_pointer()), align=1)
    return types.uint64(stream, index), codegen


@njit(cache=True, inline="always")
def _mask(nbits):
    return (np.uint64(1) << np.uint64(nbits)) - np.uint64(1)


@njit(cache=True, inline="always")
def _bits_at(g8, pos):
    """The stream (bytes g8) from bit ``pos`` on, in the low bits of a uint64 (at least 57 valid)."""
    return _load_u64(g8, pos >> np.uint64(3)) >> (pos & np.uint64(7))


@njit(cache=True, inline="always")
def _unpack(g8, o, nbits, mask, j):
    """Value j of a packed block of ``nbits``-bit values starting at word o."""
    pos = (np.uint64(o) << np.uint64(5)) + np.uint64(j) * np.uint64(nbits)
    return np.int64(_bits_at(g8, pos) & mask)


SCATTER, MARK, DECODE = 0, 1, 2  # what _packed_block / _block do with each posting


@njit(cache=True, inline="always")
def _emit(mode, out, bits, dst, w, j, d, m):
    if mode == DECODE:  # doc id into dst[j]
        dst[j] = d
    else:
        out[d] += np.float64(w[j]) * m
        if mode == MARK:  # a window's accumulator: also mark d touched
            bits[d >> np.uint64(6)] |= np.uint64(1) << (np.uint64(d) & np.uint64(63))


@njit(cache=True, inline="always")
def _packed_block(mode, P, b, p0, cnt, doc, m, out, bits, dst):
    """Decode packed block b (first posting p0, cnt postings, doc base ``doc``) and add each
    posting's weight * m to ``out`` at its doc id (SCATTER), also setting the doc's bit in ``bits``
    (MARK), or write the doc ids to ``dst`` (DECODE); ``mode`` is a constant at each call site, so
    the test is compiled away.

    Unsigned doc and stream arithmetic (a base of -1 wraps and comes back): no wraparound
    checks; up to four values decoded from one 64-bit load."""
    g8 = P.gaps8
    w = P.weights[p0:p0 + cnt]
    nbits = np.uint64(P.shift[b])
    mask = _mask(nbits)
    pos = np.uint64(P.data_off[b]) << np.uint64(5)
    one = np.uint64(1)
    d = np.uint64(doc)
    j = np.uint64(0)
    n = np.uint64(cnt)
    if nbits <= np.uint64(14):
        n2 = nbits + nbits
        n3 = n2 + nbits
        n4 = n2 + n2
        while j + np.uint64(3) < n:
            x = _bits_at(g8, pos)
            d += (x & mask) + one
            _emit(mode, out, bits, dst, w, j, d, m)
            d += ((x >> nbits) & mask) + one
            _emit(mode, out, bits, dst, w, j + one, d, m)
            d += ((x >> n2) & mask) + one
            _emit(mode, out, bits, dst, w, j + np.uint64(2), d, m)
            d += ((x >> n3) & mask) + one
            _emit(mode, out, bits, dst, w, j + np.uint64(3), d, m)
            pos += n4
            j += np.uint64(4)
    elif nbits <= np.uint64(28):
        n2 = nbits + nbits
        while j + one < n:
            x = _bits_at(g8, pos)
            d += (x & mask) + one
            _emit(mode, out, bits, dst, w, j, d, m)
            d += ((x >> nbits) & mask) + one
            _emit(mode, out, bits, dst, w, j + one, d, m)
            pos += n2
            j += np.uint64(2)
    while j < n:
        d += (_bits_at(g8, pos) & mask) + one
        _emit(mode, out, bits, dst, w, j, d, m)
        pos += nbits
        j += one


@njit(cache=True, inline="always")
def _gap(P, s, o, j):
    """Gap j of an aligned block of width 1 << s at element offset o."""
    if s == 0:
        return np.int64(P.gaps8[o + j])
    if s == 1:
        return np.int64(P.gaps16[o + j])
    return np.int64(P.gaps32[o + j])


@njit(cache=True, inline="always")
def _block_start(P, t, b):
    """(first posting index, posting count, doc base) of block b of term t."""
    j = b - P.block_offsets[t]
    p0 = P.offsets[t] + j * BLOCK
    cnt = min(BLOCK, P.offsets[t + 1] - p0)
    if j > 0:
        base = np.int64(P.last_doc[b - 1])
    elif P.packed:
        base = np.int64(-1)
    else:
        base = np.int64(0)
    return p0, cnt, base


@njit(cache=True, inline="always")
def _decode(P, t, b, out):
    """Doc ids of block b of term t into out[:cnt]; returns (first posting index, cnt).

    One loop per gap width (not a width test per gap): numba then runs near C speed.
    """
    p0, cnt, doc = _block_start(P, t, b)
    s = P.shift[b]
    if P.packed:
        nbits = np.int64(s)
        mask = _mask(nbits)
        o = np.int64(P.data_off[b])
        for j in range(cnt):
            doc += _unpack(P.gaps8, o, nbits, mask, j) + 1
            out[j] = doc
    elif s == 0:
        g8 = P.gaps8[P.data_off[b]:]
        for j in range(cnt):
            doc += np.int64(g8[j])
            out[j] = doc
    elif s == 1:
        g16 = P.gaps16[P.data_off[b] >> 1:]
        for j in range(cnt):
            doc += np.int64(g16[j])
            out[j] = doc
    else:
        g32 = P.gaps32[P.data_off[b] >> 2:]
        for j in range(cnt):
            doc += np.int64(g32[j])
            out[j] = doc
    return p0, cnt


@njit(cache=True, inline="always")
def _first_doc(P, t, b):
    _, _, base = _block_start(P, t, b)
    s = P.shift[b]
    if P.packed:
        return base + 1 + _unpack(P.gaps8, P.data_off[b], s, _mask(s), 0)
    return base + _gap(P, s, P.data_off[b] >> s, 0)


@njit(cache=True, nogil=True)
def decode_all(P):
    """Every posting's doc id (int32[P]), term by term."""
    docs = np.empty(P.weights.size, np.int32)
    buf = np.empty(BLOCK, np.int64)
    for t in range(P.offsets.size - 1):
        for b in range(P.block_offsets[t], P.block_offsets[t + 1]):
            p0, cnt = _decode(P, t, b, buf)
            for j in range(cnt):
                docs[p0 + j] = buf[j]
    return docs


@njit(cache=True, nogil=True)
def doc_postings(P, doc, terms):
    """(term ids, posting indices) of one document among ``terms`` (ascending in, ascending out): the
    derived forward row (all terms) or the part an explanation needs (the query's terms)."""
    out_terms = np.empty(terms.size, np.int64)
    posts = np.empty(terms.size, np.int64)
    c = 0
    for i in range(terms.size):
        t = terms[i]
        lo = P.block_offsets[t]
        hi = P.block_offsets[t + 1]
        while lo < hi:
            mid = (lo + hi) >> 1
            if P.last_doc[mid] < doc:
                lo = mid + 1
            else:
                hi = mid
        if lo == P.block_offsets[t + 1]:
            continue
        p0, cnt, cur = _block_start(P, t, lo)
        s = P.shift[lo]
        packed = P.packed
        o = np.int64(P.data_off[lo]) if packed else np.int64(P.data_off[lo] >> s)
        mask = _mask(s)
        for j in range(cnt):
            if packed:
                cur += _unpack(P.gaps8, o, s, mask, j) + 1
            else:
                cur += _gap(P, s, o, j)
            if cur >= doc:
                if cur == doc:
                    out_terms[c] = t
                    posts[c] = p0 + j
                    c += 1
                break
    return out_terms[:c], posts[:c]


# ---------------------------------------------------------------------------------------------
# Scoring


@njit(cache=True, nogil=True)
def canonical_terms(ids, weights, term_max, scale):
    """A query in the canonical scoring order: (term ids, multipliers = weight * scale, position of
    the first out-of-vocabulary id or -1). Zero weights are dropped; terms sort by descending upper bound
    ``term_max[t] * multiplier``, ties by term id (an insertion sort: queries have few terms)."""
    n = ids.size
    terms = np.empty(n, np.int64)
    mult = np.empty(n, np.float64)
    key = np.empty(n, np.float64)
    c = 0
    for i in range(n):
        t = np.int64(ids[i])
        if t < 0 or t >= term_max.size:
            return terms[:0], mult[:0], np.int64(i)
    for i in range(n):
        w = np.float64(weights[i])
        if w == 0.0:
            continue
        t = np.int64(ids[i])
        m = w * scale
        bound = term_max[t] * m
        j = c
        while j > 0 and (key[j - 1] < bound or (key[j - 1] == bound and terms[j - 1] > t)):
            terms[j] = terms[j - 1]
            mult[j] = mult[j - 1]
            key[j] = key[j - 1]
            j -= 1
        terms[j] = t
        mult[j] = m
        key[j] = bound
        c += 1
    return terms[:c], mult[:c], np.int64(-1)


@njit(cache=True, nogil=True)
def accumulate(P, terms, mult, out):
    """out[d] += weight * mult[i] for every posting of terms[i], terms in the given order."""
    no_bits = np.zeros(1, np.uint64)  # the bitmap / doc-id arguments of _packed_block, unused when scattering
    no_docs = np.zeros(1, np.int64)
    for i in range(terms.size):
        t = terms[i]
        m = mult[i]
        for b in range(P.block_offsets[t], P.block_offsets[t + 1]):
            p0, cnt, doc = _block_start(P, t, b)
            w = P.weights[p0:p0 + cnt]
            s = P.shift[b]
            if P.packed:
                _packed_block(SCATTER, P, b, p0, cnt, doc, m, out, no_bits, no_docs)
            elif s == 0:
                g8 = P.gaps8[P.data_off[b]:]
                for j in range(cnt):
                    doc += np.int64(g8[j])
                    out[doc] += np.float64(w[j]) * m
            elif s == 1:
                g16 = P.gaps16[P.data_off[b] >> 1:]
                for j in range(cnt):
                    doc += np.int64(g16[j])
                    out[doc] += np.float64(w[j]) * m
            else:
                g32 = P.gaps32[P.data_off[b] >> 2:]
                for j in range(cnt):
                    doc += np.int64(g32[j])
                    out[doc] += np.float64(w[j]) * m


@njit(cache=True)
def _compact(cs, cd, c, k, theta):
    """Keep the k best of the c candidates (appended in ascending doc order, so among equal scores
    the first are the smallest doc ids); returns (new count, new threshold = k-th best score)."""
    if c <= k:
        return c, theta
    kth = np.partition(cs[:c].copy(), c - k)[c - k]
    above = 0
    for j in range(c):
        if cs[j] > kth:
            above += 1
    ties = k - above
    w = 0
    for j in range(c):
        if cs[j] > kth or (cs[j] == kth and ties > 0):
            if cs[j] == kth:
                ties -= 1
            cs[w] = cs[j]
            cd[w] = cd[j]
            w += 1
    return w, kth


@njit(cache=True, nogil=True)
def scan_top_k(P, terms, mult, k, out):
    """Exact top-k (unordered: scores, doc ids) by exhaustive accumulation into ``out`` (float64,
    one per document, all zero; left all zero) and one selection pass. No pruning, so it also
    handles negative weights; only documents with a nonzero score are returned."""
    accumulate(P, terms, mult, out)
    k = min(k, out.size)
    cap = max(4 * k, 256)
    cs = np.empty(cap, np.float64)
    cd = np.empty(cap, np.int64)
    c = 0
    full = False
    theta = 0.0
    for x in range(out.size):
        s = out[x]
        if (s > theta or not full) and s != 0.0:  # once full, a rarely taken (well predicted) branch
            cs[c] = s
            cd[c] = x
            c += 1
            if c == cap:
                c, theta = _compact(cs, cd, c, k, theta)
                full = True
    out[:] = 0.0
    c, theta = _compact(cs, cd, c, k, theta)
    return cs[:c], cd[:c]


@njit(cache=True, inline="always")
def _block(mode, P, t, b, m, base, out, bits, dst):
    """Block b of term t: add each weight * m to out[doc - base] (SCATTER, or MARK: also set the
    bit of doc - base) or write its doc ids to dst[:cnt] (DECODE). Returns (first posting, cnt)."""
    p0, cnt, doc = _block_start(P, t, b)
    doc -= base
    if P.packed:
        _packed_block(mode, P, b, p0, cnt, doc, m, out, bits, dst)
        return p0, cnt
    w = P.weights[p0:p0 + cnt]
    s = P.shift[b]
    if s == 0:
        g8 = P.gaps8[P.data_off[b]:]
        for j in range(cnt):
            doc += np.int64(g8[j])
            _emit(mode, out, bits, dst, w, j, doc, m)
    elif s == 1:
        g16 = P.gaps16[P.data_off[b] >> 1:]
        for j in range(cnt):
            doc += np.int64(g16[j])
            _emit(mode, out, bits, dst, w, j, doc, m)
    else:
        g32 = P.gaps32[P.data_off[b] >> 2:]
        for j in range(cnt):
            doc += np.int64(g32[j])
            _emit(mode, out, bits, dst, w, j, doc, m)
    return p0, cnt


@njit(cache=True, inline="always")
def _scatter_window(P, t, m, b, end, ws, we, acc, bits, row):
    """Add term t's postings with doc ids in [ws, we) to acc[doc - ws] and mark them in bits, from
    its block b on (the first whose last doc >= ws). Returns the first block that does not end
    inside the window (a block straddling we is read again by the next window)."""
    while b < end:
        last = np.int64(P.last_doc[b])
        if last < we and _first_doc(P, t, b) >= ws:  # the common case: the whole block is inside
            _block(MARK, P, t, b, m, ws, acc, bits, row)
            b += 1
            continue
        p0, cnt = _block(DECODE, P, t, b, m, 0, acc, bits, row)
        w = P.weights[p0:p0 + cnt]
        for j in range(cnt):
            d = row[j]
            if d >= ws and d < we:
                x = d - ws
                acc[x] += np.float64(w[j]) * m
                bits[x >> 6] |= np.uint64(1) << np.uint64(x & 63)
        if last >= we:
            break
        b += 1
    return b


@njit(cache=True, inline="always")
def _worse(s_a, d_a, s_b, d_b):
    """Whether (score a, doc a) ranks below (score b, doc b): lower score, or equal and larger doc."""
    return s_a < s_b or (s_a == s_b and d_a > d_b)


@njit(cache=True)
def _heap_push(hs, hd, size, k, s, d):
    """Insert (s, d) into the heap of at most k entries whose root is the worst; when it is full,
    (s, d) replaces the root (the caller has checked that it ranks above it). Returns the new size."""
    if size < k:
        j = size
        size += 1
        while j > 0:
            parent = (j - 1) >> 1
            if not _worse(s, d, hs[parent], hd[parent]):
                break
            hs[j] = hs[parent]
            hd[j] = hd[parent]
            j = parent
        hs[j] = s
        hd[j] = d
        return size
    j = 0
    while True:
        child = 2 * j + 1
        if child >= size:
            break
        if child + 1 < size and _worse(hs[child + 1], hd[child + 1], hs[child], hd[child]):
            child += 1
        if not _worse(hs[child], hd[child], s, d):
            break
        hs[j] = hs[child]
        hd[j] = hd[child]
        j = child
    hs[j] = s
    hd[j] = d
    return size


@njit(cache=True)
def _kth_largest_weight(P, t, k):
    """Term t's k-th largest stored weight as float64 (0 below k postings). Only blocks whose maximum
    reaches the k-th largest block maximum can hold one of its k largest weights (that maximum is at
    most the k-th largest weight), so only their postings are partitioned."""
    lo = P.offsets[t]
    n = P.offsets[t + 1] - lo
    if n < k:
        return 0.0
    b0 = P.block_offsets[t]
    nb = P.block_offsets[t + 1] - b0
    floor = -1.0
    if nb > k:
        maxima = np.empty(nb, np.float64)
        for b in range(nb):
            maxima[b] = np.float64(P.block_max[b0 + b])
        floor = np.partition(maxima, nb - k)[nb - k]
    count = 0
    for b in range(nb):
        if np.float64(P.block_max[b0 + b]) >= floor:
            count += min(BLOCK, n - b * BLOCK)
    vals = np.empty(count, np.float64)
    c = 0
    for b in range(nb):
        if np.float64(P.block_max[b0 + b]) >= floor:
            for p in range(lo + b * BLOCK, lo + min((b + 1) * BLOCK, n)):
                vals[c] = np.float64(P.weights[p])
                c += 1
    return np.partition(vals, count - k)[count - k]


@njit(cache=True, nogil=True)
def fill_kth_weights(P, k, kth_weight, start, end):
    """Terms start..end-1 of the cache of :func:`_kth_weight_floor` (``kth_weight``, NaN = not known yet) computed
    ahead of their first query (a term already known is left as it is)."""
    for t in range(start, end):
        if np.isnan(kth_weight[t]):
            kth_weight[t] = _kth_largest_weight(P, t, k)


@njit(cache=True)
def _kth_weight_floor(P, terms, mult, k, kth_weight):
    """A score that at least k documents reach: per term with at least k postings, its k-th largest
    weight times its multiplier (k distinct documents hold a weight at least that large, and the
    other terms only add non-negative contributions); the best over the terms, or 0.

    ``kth_weight`` (float64[V], NaN = not known yet) caches each term's k-th largest stored weight
    across queries (:func:`_kth_largest_weight`, on the term's first use)."""
    best = 0.0
    for i in range(terms.size):
        t = terms[i]
        v = kth_weight[t]
        if np.isnan(v):
            v = _kth_largest_weight(P, t, k)
            kth_weight[t] = v
        if v * mult[i] > best:
            best = v * mult[i]
    return best


@njit(cache=True)
def _probe_term(P, t, m, b, end, ws, we, acc, cand, nc, rest, cut, bound_factor, row, counters):
    """Add term t's contributions (multiplier m) to the candidates (offsets from ws, ascending, their
    partial scores in acc) that have a posting of it. A block is decoded only if its doc range holds
    a candidate that its block maximum can still lift above ``cut``. Keeps, in place, the candidates
    whose partial score plus ``rest`` (the bounds of the terms after t) can beat cut; returns how many.
    Block maxima are multiplied by ``bound_factor`` (1: exact)."""
    first_b = P.block_offsets[t]
    kept = 0
    ci = 0
    while ci < nc and b < end:
        lo = np.int64(P.last_doc[b - 1]) + 1 if b > first_b else np.int64(0)
        hi = np.int64(P.last_doc[b])
        while ci < nc and ws + cand[ci] < lo:  # between two blocks: no posting of t
            x = cand[ci]
            cand[kept] = x
            kept += (acc[x] + rest) * _SLACK > cut
            ci += 1
        if ci == nc or ws + cand[ci] > hi:
            if hi >= we:
                break
            b += 1
            continue
        top = np.float64(P.block_max[b]) * m * bound_factor
        cj = ci
        live = False
        while cj < nc and ws + cand[cj] <= hi:
            live |= (acc[cand[cj]] + top + rest) * _SLACK > cut
            cj += 1
        if live:
            counters[2] += 1
            p0, cnt = _block(DECODE, P, t, b, m, 0, acc, cand, row)
            w = P.weights[p0:p0 + cnt]
            p = 0
            while ci < cj:
                x = cand[ci]
                d = ws + x
                while row[p] < d:  # stops at the block's last doc at the latest (d <= hi)
                    p += 1
                s = acc[x]
                if row[p] == d:
                    s += np.float64(w[p]) * m
                    acc[x] = s
                cand[kept] = x
                kept += (s + rest) * _SLACK > cut
                ci += 1
        else:  # none of them can beat cut even with this block's maximum: all dropped
            ci = cj
        if hi >= we:
            break
        b += 1
    while ci < nc:
        x = cand[ci]
        cand[kept] = x
        kept += (acc[x] + rest) * _SLACK > cut
        ci += 1
    return kept


@njit(cache=True)
def _push_marked(acc, bits, words, ws, cut, hs, hd, size, k):
    """Push every marked document of the window whose score beats cut into the heap (raising cut to
    the heap's worst score once it holds k); zero acc and bits on the way. Returns (size, cut)."""
    one = np.uint64(1)
    for word in range(words):
        mask = bits[word]
        if mask == 0:
            continue
        bits[word] = 0
        base = word << 6
        while mask != 0:
            x = base + np.int64(trailing_zeros(mask))
            mask &= mask - one
            s = acc[x]
            acc[x] = 0.0
            if s > cut:
                size = _heap_push(hs, hd, size, k, s, ws + x)
                if size == k and hs[0] > cut:
                    cut = hs[0]
    return size, cut


@njit(cache=True)
def _clear_marked(acc, bits, words):
    one = np.uint64(1)
    for word in range(words):
        mask = bits[word]
        if mask == 0:
            continue
        bits[word] = 0
        base = word << 6
        while mask != 0:
            acc[base + np.int64(trailing_zeros(mask))] = 0.0
            mask &= mask - one


@njit(cache=True, nogil=True)
def search_top_k(P, terms, mult, k, num_docs, probe_ratio, bound_factor, acc, bits, cand, counters, kth_weight):
    """Exact top-k (unordered: scores, doc ids) for non-negative weights and positive multipliers,
    by windowed block-max MaxScore (see the module docstring).

    ``terms``/``mult`` must be in canonical order. Scratch: ``acc`` float64[window] and ``bits``
    uint64[window / 64] all zero (left all zero; the window, a multiple of 64, is acc.size) and
    ``cand`` int64[window]; ``kth_weight`` float64[V]: the cache of :func:`_kth_weight_floor` for
    this k. A term that pruning would only probe is accumulated instead when its
    postings in the window are at most ``probe_ratio`` times the candidates. ``counters`` (int64[3])
    gets += windows skipped whole, candidates probed, blocks decoded for probing. Only documents
    with a positive score are returned.

    ``bound_factor`` 1 is exact. Below 1 the search is approximate (*Tandem approximate*): every
    upper bound is multiplied by it before it is compared with the k-th score, so windows, terms
    and candidates are dropped earlier and a document whose true score beats the k-th may be
    missed; returned scores stay exact.
    """
    n = terms.size
    k = min(k, num_docs)
    hs = np.empty(max(k, 1), np.float64)  # the k best so far: a heap with the worst at the root
    hd = np.empty(max(k, 1), np.int64)
    size = 0
    if k == 0 or n == 0:
        return hs[:0], hd[:0]
    window = acc.size
    cur_b = np.empty(n, np.int64)  # per term: the first block whose last doc >= the window start
    end_b = np.empty(n, np.int64)
    for i in range(n):
        cur_b[i] = P.block_offsets[terms[i]]
        end_b[i] = P.block_offsets[terms[i] + 1]
    row = np.empty(BLOCK, np.int64)  # one decoded block
    wmax = np.zeros(n, np.float64)  # per term: upper bound of its contribution inside the window
    blocks = np.zeros(n, np.int64)  # per term: blocks overlapping the window
    suffix = np.zeros(n + 1, np.float64)  # suffix[i] = sum of wmax[i:]
    # A document must score above cut to enter (docs arrive in ascending order, so one that only ties
    # the k-th best loses the tie): first a score k documents are known to reach (lowered by a
    # relative 1e-12 so that they still enter), then the heap's worst once it holds k.
    cut = _kth_weight_floor(P, terms, mult, k, kth_weight) * (1.0 - 1e-12)
    for ws in range(0, num_docs, window):
        we = min(ws + window, num_docs)
        for i in range(n):
            t = terms[i]
            b = cur_b[i]
            while b < end_b[i] and P.last_doc[b] < ws:
                b += 1
            cur_b[i] = b
            top = 0.0
            while b < end_b[i]:
                last = P.last_doc[b]
                if last >= we and _first_doc(P, t, b) >= we:
                    break
                v = np.float64(P.block_max[b])
                if v > top:
                    top = v
                b += 1
                if last >= we:
                    break
            wmax[i] = top * mult[i] * bound_factor
            blocks[i] = b - cur_b[i]
        for i in range(n - 1, -1, -1):
            suffix[i] = suffix[i + 1] + wmax[i]
        if suffix[0] * _SLACK <= cut:
            counters[0] += 1
            continue
        # Essential terms: the shortest prefix after which the remaining bounds cannot beat cut.
        e = n
        while e > 0 and suffix[e - 1] * _SLACK <= cut:
            e -= 1
        for i in range(e):
            if wmax[i] != 0.0:
                cur_b[i] = _scatter_window(P, terms[i], mult[i], cur_b[i], end_b[i], ws, we, acc, bits, row)
        words = (we - ws + 63) >> 6
        if e == n:
            size, cut = _push_marked(acc, bits, words, ws, cut, hs, hd, size, k)
            continue
        # Candidates: touched documents whose partial score plus the remaining bounds can beat cut.
        bound = suffix[e]
        one = np.uint64(1)
        nc = 0
        for word in range(words):
            mask = bits[word]
            base = word << 6
            while mask != 0:
                x = base + np.int64(trailing_zeros(mask))
                mask &= mask - one
                cand[nc] = x
                nc += (acc[x] + bound) * _SLACK > cut
        counters[1] += nc
        # The other terms in canonical order: each adds to the candidates (accumulated whole when its
        # window postings are few next to them, else probed), which are cut down after each term.
        for i in range(e, n):
            if nc == 0:
                break
            if wmax[i] == 0.0:
                continue
            if blocks[i] * BLOCK <= probe_ratio * nc:
                cur_b[i] = _scatter_window(P, terms[i], mult[i], cur_b[i], end_b[i], ws, we, acc, bits, row)
                rest = suffix[i + 1]
                kept = 0
                for j in range(nc):
                    x = cand[j]
                    cand[kept] = x
                    kept += (acc[x] + rest) * _SLACK > cut
                nc = kept
            else:
                nc = _probe_term(P, terms[i], mult[i], cur_b[i], end_b[i], ws, we, acc, cand, nc, suffix[i + 1], cut, bound_factor, row, counters)
        for j in range(nc):
            x = cand[j]
            s = acc[x]
            if s > cut:
                size = _heap_push(hs, hd, size, k, s, ws + x)
                if size == k and hs[0] > cut:
                    cut = hs[0]
        _clear_marked(acc, bits, words)
    return hs[:size], hd[:size]
