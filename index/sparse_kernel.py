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
dense score array and selects in one pass (the default: fastest measured on 20k-1M documents).
``search_top_k`` is window-level block-max MaxScore: documents are visited in ascending windows
of ``WINDOW`` ids; per window each query term's upper bound is the largest block maximum
overlapping the window. The leading terms whose bounds can still lift a document above the
current k-th score are *essential*: they are accumulated term-at-a-time into the window (and so
are the next terms while their postings in the window are few compared with the documents they
would be probed for); the remaining (low-bound) terms are only probed, in order, for documents
whose partial score plus the remaining bounds can still beat the k-th score. Documents that beat
it go to a candidate buffer, cut back to the k best (raising the threshold) when full and once
per window.

Both sum a document's contributions with query terms in one *canonical order* (descending
global upper bound, then term id), the order ``accumulate`` uses, so every returned score is
bit-identical to the exhaustive score; ties are broken by doc index ascending, as
``tandem.index.sparse.top_k`` does.
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
WINDOW = 16384  # default documents per search window (a multiple of 64)
PROBE_RATIO = 2.0  # accumulate a term rather than probe it when its window postings <= this x touched docs
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


SCATTER, MARK = 0, 1  # what _packed_block does with each posting


@njit(cache=True, inline="always")
def _emit(mode, out, bits, w, j, d, m):
    out[d] += np.float64(w[j]) * m
    if mode == MARK:  # a window's accumulator: also mark d touched
        bits[d >> np.uint64(6)] |= np.uint64(1) << (d & np.uint64(63))


@njit(cache=True, inline="always")
def _packed_block(mode, P, b, p0, cnt, doc, m, out, bits):
    """Decode packed block b (first posting p0, cnt postings, doc base ``doc``) and add each
    posting's weight * m to ``out`` at its doc id; with ``mode`` MARK (a constant at each call
    site, so the test is compiled away) also set the doc's bit in ``bits``.

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
            _emit(mode, out, bits, w, j, d, m)
            d += ((x >> nbits) & mask) + one
            _emit(mode, out, bits, w, j + one, d, m)
            d += ((x >> n2) & mask) + one
            _emit(mode, out, bits, w, j + np.uint64(2), d, m)
            d += ((x >> n3) & mask) + one
            _emit(mode, out, bits, w, j + np.uint64(3), d, m)
            pos += n4
            j += np.uint64(4)
    elif nbits <= np.uint64(28):
        n2 = nbits + nbits
        while j + one < n:
            x = _bits_at(g8, pos)
            d += (x & mask) + one
            _emit(mode, out, bits, w, j, d, m)
            d += ((x >> nbits) & mask) + one
            _emit(mode, out, bits, w, j + one, d, m)
            pos += n2
            j += np.uint64(2)
    while j < n:
        d += (_bits_at(g8, pos) & mask) + one
        _emit(mode, out, bits, w, j, d, m)
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


@njit(cache=True)
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


@njit(cache=True)
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


@njit(cache=True)
def accumulate(P, terms, mult, out):
    """out[d] += weight * mult[i] for every posting of terms[i], terms in the given order."""
    no_bits = np.zeros(1, np.uint64)  # the bitmap argument of _packed_block, unused when scattering
    for i in range(terms.size):
        t = terms[i]
        m = mult[i]
        for b in range(P.block_offsets[t], P.block_offsets[t + 1]):
            p0, cnt, doc = _block_start(P, t, b)
            w = P.weights[p0:p0 + cnt]
            s = P.shift[b]
            if P.packed:
                _packed_block(SCATTER, P, b, p0, cnt, doc, m, out, no_bits)
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


@njit(cache=True, inline="always")
def _load_block(P, t, b, i, buf, dec_b, dec_p0, dec_cnt, pos):
    """Make block b of term t (query position i) the decoded one in buf[i], cursor at its start."""
    if dec_b[i] != b:
        dec_p0[i], dec_cnt[i] = _decode(P, t, b, buf[i])
        dec_b[i] = b
        pos[i] = 0


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


@njit(cache=True, inline="always")
def _mark(acc, bits, x, c):
    acc[x] += c
    bits[x >> 6] |= np.uint64(1) << np.uint64(x & 63)


@njit(cache=True, inline="always")
def _accumulate_block(P, t, b, m, ws, acc, bits):
    """Add a whole block (all its docs inside the window starting at ws), decoding as it goes."""
    p0, cnt, doc = _block_start(P, t, b)
    w = P.weights[p0:p0 + cnt]
    s = P.shift[b]
    doc -= ws
    if P.packed:
        _packed_block(MARK, P, b, p0, cnt, doc, m, acc, bits)
    elif s == 0:
        g8 = P.gaps8[P.data_off[b]:]
        for j in range(cnt):
            doc += np.int64(g8[j])
            _mark(acc, bits, doc, np.float64(w[j]) * m)
    elif s == 1:
        g16 = P.gaps16[P.data_off[b] >> 1:]
        for j in range(cnt):
            doc += np.int64(g16[j])
            _mark(acc, bits, doc, np.float64(w[j]) * m)
    else:
        g32 = P.gaps32[P.data_off[b] >> 2:]
        for j in range(cnt):
            doc += np.int64(g32[j])
            _mark(acc, bits, doc, np.float64(w[j]) * m)


@njit(cache=True, inline="always")
def _accumulate_window(P, t, m, i, ws, we, cur_b, end_b, buf, dec_b, dec_p0, dec_cnt, pos, acc, bits):
    """Add term t's (query position i) contributions to the documents of window [ws, we)."""
    b = cur_b[i]
    row = buf[i]
    while b < end_b[i]:
        if dec_b[i] != b and P.last_doc[b] < we and _first_doc(P, t, b) >= ws:
            _accumulate_block(P, t, b, m, ws, acc, bits)  # the common case: block inside the window
            b += 1
            continue
        _load_block(P, t, b, i, buf, dec_b, dec_p0, dec_cnt, pos)
        p = pos[i]
        cnt = dec_cnt[i]
        w = P.weights[dec_p0[i]:dec_p0[i] + cnt]
        while p < cnt and row[p] < ws:
            p += 1
        while p < cnt:
            d = row[p]
            if d >= we:
                break
            _mark(acc, bits, d - ws, np.float64(w[p]) * m)
            p += 1
        pos[i] = p
        if p < cnt:
            break
        b += 1
    cur_b[i] = b


@njit(cache=True, inline="always")
def _popcount(x):
    x = x - ((x >> np.uint64(1)) & np.uint64(0x5555555555555555))
    x = (x & np.uint64(0x3333333333333333)) + ((x >> np.uint64(2)) & np.uint64(0x3333333333333333))
    x = (x + (x >> np.uint64(4))) & np.uint64(0x0F0F0F0F0F0F0F0F)
    return np.int64((x * np.uint64(0x0101010101010101)) >> np.uint64(56))


@njit(cache=True)
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


@njit(cache=True)
def search_top_k(P, terms, mult, k, num_docs, window, probe_ratio):
    """Exact top-k (unordered: scores, doc ids) for non-negative weights and multipliers.

    ``terms``/``mult`` must be in canonical order (see the module docstring); a document is
    returned only if its score is positive. ``window`` (a multiple of 64) is the number of doc
    ids scored together. A term that pruning would only probe is accumulated instead when its
    expected postings in the window are at most ``probe_ratio`` times the documents to probe.
    """
    n = terms.size
    k = min(k, num_docs)
    window = min(window, (num_docs + 63) // 64 * 64)
    cap = max(4 * k, 256)
    cs = np.empty(cap, np.float64)  # candidates: scores, doc ids (ascending), count c
    cd = np.empty(cap, np.int64)
    c = 0
    theta = 0.0  # a document must score above theta to enter (the k-th best once there are k)
    if k == 0 or n == 0:
        return cs[:0], cd[:0]

    end_b = np.empty(n, np.int64)
    cur_b = np.empty(n, np.int64)
    density = np.empty(n, np.float64)  # postings per document id
    for i in range(n):
        t = terms[i]
        cur_b[i] = P.block_offsets[t]
        end_b[i] = P.block_offsets[t + 1]
        density[i] = (P.offsets[t + 1] - P.offsets[t]) / num_docs
    dec_b = np.full(n, -1, np.int64)  # block currently decoded into buf[i]
    dec_p0 = np.zeros(n, np.int64)
    dec_cnt = np.zeros(n, np.int64)
    pos = np.zeros(n, np.int64)  # cursor inside the decoded block
    buf = np.empty((n, BLOCK), np.int64)

    acc = np.zeros(window, np.float64)
    bits = np.zeros(window // 64, np.uint64)
    sv_x = np.empty(window, np.int64)  # survivors of a window: offsets, partial scores
    sv_s = np.empty(window, np.float64)
    wmax = np.zeros(n, np.float64)
    suffix = np.zeros(n + 1, np.float64)  # suffix[i] = sum of wmax[i:]
    one = np.uint64(1)

    for ws in range(0, num_docs, window):
        we = min(ws + window, num_docs)
        # Per-term upper bound inside the window: the largest overlapping block maximum.
        for i in range(n):
            t = terms[i]
            b = cur_b[i]
            while b < end_b[i] and P.last_doc[b] < ws:
                b += 1
            cur_b[i] = b
            top = 0.0
            while b < end_b[i]:
                if _first_doc(P, t, b) >= we:
                    break
                v = np.float64(P.block_max[b])
                if v > top:
                    top = v
                if P.last_doc[b] >= we:
                    break
                b += 1
            wmax[i] = top * mult[i]
        for i in range(n - 1, -1, -1):
            suffix[i] = suffix[i + 1] + wmax[i]
        if suffix[0] == 0.0 or suffix[0] * _SLACK <= theta:
            continue
        # Essential terms: the shortest prefix after which the remaining bounds cannot beat theta.
        e = n
        while e > 0 and suffix[e - 1] * _SLACK <= theta:
            e -= 1
        for i in range(e):
            if wmax[i] != 0.0:
                _accumulate_window(P, terms[i], mult[i], i, ws, we, cur_b, end_b, buf, dec_b, dec_p0, dec_cnt, pos, acc, bits)
        # Accumulate further terms while that is cheaper than probing them for every touched doc.
        if e < n:
            touched = 0
            for word in range(window // 64):
                touched += _popcount(bits[word])
            while e < n and density[e] * (we - ws) <= probe_ratio * touched:
                if wmax[e] != 0.0:
                    _accumulate_window(P, terms[e], mult[e], e, ws, we, cur_b, end_b, buf, dec_b, dec_p0, dec_cnt, pos, acc, bits)
                e += 1

        # Documents whose partial score plus the remaining bounds can beat theta (branch-free
        # filter; a densely touched 64-doc word is scanned whole), acc and bits reset on the way.
        bound = suffix[e]
        survivors = 0
        for word in range(window // 64):
            mask = bits[word]
            if mask == 0:
                continue
            bits[word] = 0
            base = word * 64
            if _popcount(mask) >= 8:
                for x in range(base, base + 64):
                    s = acc[x]
                    acc[x] = 0.0
                    sv_x[survivors] = x
                    sv_s[survivors] = s
                    survivors += (s + bound) * _SLACK > theta
            else:
                while mask != 0:
                    x = base + np.int64(trailing_zeros(mask))
                    mask &= mask - one
                    s = acc[x]
                    acc[x] = 0.0
                    sv_x[survivors] = x
                    sv_s[survivors] = s
                    survivors += (s + bound) * _SLACK > theta
        for j in range(survivors):
            s = sv_s[j]
            doc = ws + sv_x[j]
            alive = True
            for i in range(e, n):
                if (s + suffix[i]) * _SLACK <= theta:
                    alive = False
                    break
                if wmax[i] == 0.0:
                    continue
                # Probe term i at doc (docs arrive in ascending order: cursors only move forward).
                t = terms[i]
                b = cur_b[i]
                while b < end_b[i] and P.last_doc[b] < doc:
                    b += 1
                cur_b[i] = b
                if b == end_b[i]:
                    continue
                _load_block(P, t, b, i, buf, dec_b, dec_p0, dec_cnt, pos)
                p = pos[i]
                while buf[i, p] < doc:
                    p += 1
                pos[i] = p
                if buf[i, p] == doc:
                    s += np.float64(P.weights[dec_p0[i] + p]) * mult[i]
            if alive and s > theta:
                cs[c] = s
                cd[c] = doc
                c += 1
                if c == cap:
                    c, theta = _compact(cs, cd, c, k, theta)
        if c > 2 * k:  # refresh the threshold once per window
            c, theta = _compact(cs, cd, c, k, theta)
    c, theta = _compact(cs, cd, c, k, theta)
    return cs[:c], cd[:c]
