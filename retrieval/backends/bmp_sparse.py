"""``bmp``: learned-sparse search through BMP, block-max pruning (``pip install bmp``), one BMP index per segment.
What is not BMP's own (settings, writing and compacting segments, checks, query side, search parameters,
explanations) is :mod:`.per_segment_sparse`'s, shared with ``seismic``.

BMP (Mallia, Suel and Tonellotto, SIGIR 2024) groups documents into blocks of ``block_size``
consecutive rows, keeps each term's maximum weight per block, and at search time scores whole blocks
in decreasing order of their upper bound, stopping when the next block's bound times ``alpha`` cannot
beat the current k-th score. ``alpha = 1`` is safe (exact) pruning; lower values stop earlier.
``beta`` keeps only the ``ceil(beta * n)`` query terms of largest weight (1 = all).

How Tandem uses it (what BMP 0.2.8 needs, each measured in ``tests/test_bmp.py``):

- BMP stores document weights as 8-bit integers and sums scores in 16 bits (a larger score wraps
  around), and scales every query so its largest weight is 32 (``ceil(32 w / max w)``). Each segment
  therefore quantises its weights as ``min(255, max(1, round(w * scale)))`` with the largest
  ``scale`` for which no document's quantised weights sum to more than 2,047 (32 x 2,047 < 2^16), so
  no score can wrap whatever the query; the scale is recorded in the segment's statistics.
- BMP's block loop never scores the last block it selects (with one candidate block it returns
  nothing), and it selects only blocks whose bound exceeds an initial threshold: the largest
  ``query weight x 10th / 100th / 1000th largest weight`` of one query term (for k up to 10 / 100 /
  1000; none above). Each segment therefore ends with padding rows up to a block boundary and one
  *sentinel* row holding only three sentinel terms (stored weights 1, 32 and 255); every query
  carries them with integer weights that give the sentinel block a bound of exactly that threshold
  + 1, the lowest bound BMP selects, so the sentinel block (last in row order among equal bounds) is
  the one left unscored. BMP also keeps only scores strictly above its threshold, so when a search
  returns fewer than asked while a threshold was set, it is asked again above 1,000 results, where
  it sets none. The thresholds need each term's 10th/100th/1000th largest stored weight
  (``term_kth.npy``); query weights are quantised here (``query_levels``) and given to BMP as the
  exact integers it would compute. Padding and sentinel rows are never returned. ``beta`` is
  applied here, before BMP (BMP's own would drop the sentinel terms first); BMP gets ``beta = 1``.
  With all this, BMP's candidates at ``alpha = 1`` are exactly the top-k of its integer scores
  (tested against brute force, every k from 1 to 1,001 on a 1,500-row list); without it, 94 of 200
  random queries on 2,000 rows lost results.
- BMP finds candidates; Tandem scores them exactly on the float32 document vectors it keeps beside
  BMP's index (``forward_*.npy``), so scores equal the native engine's and candidates are ordered by
  their true score. ``candidates`` (>= 1) asks BMP for ``candidates x k`` documents to rescore:
  more candidates repair the ranking errors of 8-bit weights and 5-bit query weights. ``alpha = 1``
  is therefore exact on BMP's integer scores, not on the float ones: recall@10 against the native
  exact engine 0.94 with 1 x k candidates and 0.999 with 2 x k.
- Explanations and ``doc_vector`` read the forward copy (``explain`` is native-sparse's, delegated).

Measured (``bench/results/approx_sparse.json``, run "bmp": 1,000 MS MARCO dev queries inference-free,
k = 10, one thread, CPU time per query, machine load ~13-15 on 2 cores; exact = the native engine in
the same run): defaults (block 8, compressed ranges, alpha 1, beta 1, 2 x k candidates) on the 100k
pkgsum prefix recall@10 0.9992 at 0.35 ms vs exact 0.12 ms (0.35x exact speed); on all 729k pkgsum
documents 0.9993 at 0.53 ms vs 0.69 ms (1.3x; 1.24x in a second run, run "bmp-729k-block-4-vs-8", where
block 4 took 0.69 ms). Block 32 is slower (0.76 / 1.03 ms), alpha 0.9 gains
< 10% for recall 0.98-0.99, alpha 0.8 and beta 0.8 lose more recall than they gain speed. BMP costs
about 0.1 ms of CPU per call whatever the index, and at k = 1000 (``tandem eval``) it scores far more
blocks: scifact eval p50 27 ms vs 0.33 ms native (same nDCG@10, 0.6544). Size: 741 MB for 729k
documents (BMP's index 575 MB, the forward copy 6 bytes/posting: 160 MB) vs 140 MB native. The issue's goal
(recall@10 >= 0.99 at >= 5x exact speed) is not met by BMP here: Tandem's exact kernel is as fast.

Files of a segment (``segments/<segment>/<component>/``): ``index.bmp`` (BMP's format; documents
named by segment row, terms by term id), ``forward_indptr.npy`` / ``forward_terms.npy`` /
``forward_weights.npy`` (the segment's vectors row-wise, float32 weights; used for rescoring,
explanations, ``doc_vector`` and compaction), ``term_max.npy`` (uint8 per vocabulary entry: the
largest stored weight of each term, 0 = absent), ``term_kth.npy`` (uint8, its 10th, 100th and 1000th
largest) and ``bmp_config.json`` (rows, scale, block size).

Settings (``component.settings["bmp"]``, :class:`BmpConfig`): the build parameters and the default
search parameters, chosen by the measurements above; search parameters change at search time through
:meth:`BmpRetriever.configure` (``tandem search --param sparse.alpha=0.9``), and the values each
search used are in its timings (``<name>_alpha``, ``<name>_beta``, ``<name>_candidates``). BMP's
index is loaded into memory by the first search of a segment (about 7 s for 729k documents).
"""
from __future__ import annotations

import json
import math
import threading
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import scipy.sparse as sp
from numba import njit
from pydantic import BaseModel, ConfigDict, Field

from tandem.index.errors import IndexFormatError, TandemError
from tandem.index.limits import available_memory_bytes
from tandem.index.manifest import ComponentInfo
from tandem.index.npy_files import check_npy
from tandem.index.progress import progress
from tandem.index.segments import IndexSnapshot
from tandem.index.sparse import SparseVector

from ..types import Ranking
from .base import merge_top_k
from .per_segment_sparse import PerSegmentSparseBackend, PerSegmentSparseRetriever, PerSegmentSparseSegment, import_engine

INDEX_FILE = "index.bmp"
CONFIG_FILE = "bmp_config.json"
FORWARD_FILES = {"indptr": "forward_indptr.npy", "terms": "forward_terms.npy", "weights": "forward_weights.npy"}
TERM_MAX_FILE = "term_max.npy"
TERM_KTH_FILE = "term_kth.npy"
INSTALL_HINT = "pip install 'tandem-retrieval[bmp]' (bmp)"
# The sentinel row's terms and stored weights (BMP's terms are otherwise decimal term ids: no collision).
# A query gives them integer weights q0 (1..32), q1, q2 (0..32), so the sentinel block's bound is any
# q0 + 32 q1 + 255 q2 from 1 to 8,416, which covers every initial threshold (<= 32 x 255 = 8,160).
SENTINEL_TERMS = (("sentinel0", 1), ("sentinel1", 32), ("sentinel2", 255))
KTH_RANKS = (10, 100, 1000)  # BMP keeps each term's 10th, 100th and 1000th largest weight
MAX_DOC_WEIGHT = 255  # BMP stores document weights in 8 bits
QUERY_LEVELS = 32  # BMP scales a query's largest weight to 32
MAX_SCORE = 65535  # BMP sums scores in 16 bits
MAX_DOC_SUM = MAX_SCORE // QUERY_LEVELS  # a document whose quantised weights sum to this cannot wrap any score
PROGRESS_MIN_DOCS = 20_000  # segments at least this large show a progress bar while BMP's index is written
# Peak memory of BMP 0.2.8 writing one index, per posting, measured on synthetic long documents (block 8,
# compressed ranges): +1.86 GB for 24.8M postings, +5.55 GB for 74.5M (74-75 bytes each); 248M postings were
# killed at 20 GB. A segment that would need more than the memory available is refused before anything is written.
BUILD_BYTES_PER_POSTING = 75


class BmpConfig(BaseModel):
    """BMP's build parameters and default search parameters; saved as the component's ``bmp`` settings.

    Build: ``block_size`` rows per block (BMP's own default is 32; smaller blocks give tighter bounds
    and more of them), ``compress_range`` (BMP keeps only the nonzero block maxima of each term instead
    of one byte per block: on the 100k pkgsum prefix 60 MB instead of 98 MB at block 32 and 77 MB instead
    of 294 MB at block 8, at the same or better speed). Search: ``alpha``
    (0 < a <= 1; 1 = exact block-max pruning, lower stops earlier), ``beta`` (0 < b <= 1: fraction of
    query terms kept, largest weights first) and ``candidates`` (BMP returns ``candidates x k``
    documents, rescored exactly)."""

    model_config = ConfigDict(extra="forbid")

    block_size: int = Field(8, ge=1, le=4096)
    compress_range: bool = True
    alpha: float = Field(1.0, gt=0, le=1)
    beta: float = Field(1.0, gt=0, le=1)
    candidates: float = Field(2.0, ge=1, le=100)


@dataclass(frozen=True)
class SearchParameters:
    """What one BMP search uses (replaced as a whole by ``configure``: concurrent searches see one consistent set)."""

    alpha: float
    beta: float
    candidates: float


def load_bmp():
    """The ``bmp`` module, or one line saying how to install it."""
    return import_engine("bmp", "bmp", "the bmp package", INSTALL_HINT)


# -- one segment ----------------------------------------------------------------------------------
def quantisation_scale(matrix: sp.csr_matrix) -> float:
    """The largest ``scale`` such that every stored weight ``min(255, max(1, round(w * scale)))`` keeps
    each document's sum of stored weights within :data:`MAX_DOC_SUM` (no 16-bit score can wrap)."""
    if matrix.nnz == 0:
        return 1.0
    longest = int(np.diff(matrix.indptr).max())
    if longest > MAX_DOC_SUM:
        raise TandemError(f"a document has {longest:,} terms; BMP's 16-bit scores allow at most {MAX_DOC_SUM:,} "
                          "(prune documents with --doc-top-k)", "bmp")
    scale = MAX_DOC_WEIGHT / float(matrix.data.max())
    for _ in range(64):  # each step lowers the scale by the excess; a few steps suffice
        sums = np.add.reduceat(_stored(matrix.data, scale).astype(np.int64), matrix.indptr[:-1][np.diff(matrix.indptr) > 0])
        largest = int(sums.max())
        if largest <= MAX_DOC_SUM:
            return scale
        scale *= min(MAX_DOC_SUM / largest, 0.999)
    raise TandemError("no 8-bit scale keeps BMP's scores within 16 bits", "bmp")


def check_build_memory(num_postings: int, available: int | None = None) -> None:
    """Refuse, in one line, a segment whose BMP build would need more memory than is available
    (:data:`BUILD_BYTES_PER_POSTING`; ``available`` defaults to the kernel's MemAvailable), instead of
    being killed part-way through writing it."""
    need = num_postings * BUILD_BYTES_PER_POSTING
    available = available_memory_bytes() if available is None else available
    if available is not None and need > available:
        raise TandemError(f"a BMP index of {num_postings:,} postings needs about {need / 1e9:.1f} GB to write "
                          f"({BUILD_BYTES_PER_POSTING} bytes a posting) and {available / 1e9:.1f} GB are available: build the corpus "
                          "in parts (`tandem index build` on one part, `tandem index add` for each further one: a segment each) "
                          "or use --sparse-backend native-sparse or seismic", "bmp")


def _term_dtype(vocab_size: int) -> type:
    """Term ids of the forward copy: 2 bytes when the vocabulary allows (BERT's 30,522 does), else 4."""
    return np.uint16 if vocab_size <= 1 << 16 else np.int32


def _stored(weights: np.ndarray, scale: float) -> np.ndarray:
    return np.clip(np.rint(weights.astype(np.float64) * scale), 1, MAX_DOC_WEIGHT).astype(np.uint8)


def write_bmp_segment(seg_dir: Path, matrix: sp.spmatrix, config: BmpConfig) -> dict:
    """One segment's BMP index of ``matrix`` (docs x vocab; row i = segment row i), its float32 forward
    copy and its statistics (rows, postings, FLOPS, the 8-bit scale, build seconds)."""
    bmp = load_bmp()
    matrix = sp.csr_matrix(matrix, dtype=np.float32)
    matrix.sum_duplicates()
    matrix.eliminate_zeros()
    matrix.sort_indices()
    if matrix.nnz and not np.isfinite(matrix.data).all():
        raise TandemError("document weights must be finite (found NaN or infinity)", "sparse vectors")
    if matrix.nnz and float(matrix.data.min()) < 0:
        raise TandemError("BMP stores non-negative weights only (found a negative document weight)", "sparse vectors")
    num_docs, vocab_size = matrix.shape
    check_build_memory(matrix.nnz)
    scale = quantisation_scale(matrix)
    stored = _stored(matrix.data, scale)
    seg_dir.mkdir(parents=True, exist_ok=True)
    np.save(seg_dir / FORWARD_FILES["indptr"], matrix.indptr.astype(np.int64))
    np.save(seg_dir / FORWARD_FILES["terms"], matrix.indices.astype(_term_dtype(vocab_size)))
    np.save(seg_dir / FORWARD_FILES["weights"], matrix.data.astype(np.float32))
    term_max, term_kth = _term_statistics(matrix.indices, stored, vocab_size)
    np.save(seg_dir / TERM_MAX_FILE, term_max)
    np.save(seg_dir / TERM_KTH_FILE, term_kth)
    t0 = time.perf_counter()
    padding = -num_docs % config.block_size
    if num_docs:
        indexer = bmp.Indexer(str(seg_dir / INDEX_FILE), bsize=config.block_size, compress_range=config.compress_range)
        indptr, terms = matrix.indptr, matrix.indices
        names = [str(t) for t in range(vocab_size)]
        with progress(total=num_docs, desc="BMP index", unit="doc", disable=num_docs < PROGRESS_MIN_DOCS) as bar:
            for row in range(num_docs):
                start, end = indptr[row], indptr[row + 1]
                indexer.add_document(str(row), {names[t]: int(w) for t, w in zip(terms[start:end].tolist(), stored[start:end].tolist())})
                if row % 4096 == 4095:
                    bar.update(4096)
            bar.update(num_docs - bar.n)
        for row in range(num_docs, num_docs + padding):  # the sentinel starts a block of its own
            indexer.add_document(str(row), {})
        indexer.add_document(str(num_docs + padding), dict(SENTINEL_TERMS))
        indexer.finish()
    seconds = time.perf_counter() - t0
    info = {"num_docs": int(num_docs), "vocab_size": int(vocab_size), "num_postings": int(matrix.nnz), "scale": scale,
            "block_size": config.block_size, "compress_range": config.compress_range, "padding": int(padding)}
    (seg_dir / CONFIG_FILE).write_text(json.dumps(info, indent=1) + "\n", encoding="utf-8")
    df = np.bincount(matrix.indices, minlength=vocab_size).astype(np.float64)
    flops = float(((df / num_docs) ** 2).sum()) if num_docs else 0.0
    size = sum(f.stat().st_size for f in seg_dir.iterdir() if f.is_file())
    return {"num_docs": int(num_docs), "num_postings": int(matrix.nnz), "avg_nnz_per_doc": matrix.nnz / num_docs if num_docs else 0.0,
            "flops": flops, "scale": scale, "block_size": config.block_size, "bmp_build_seconds": round(seconds, 3),
            "bytes": size, "bmp_bytes": (seg_dir / INDEX_FILE).stat().st_size if num_docs else 0}


def _term_statistics(terms: np.ndarray, stored: np.ndarray, vocab_size: int) -> tuple[np.ndarray, np.ndarray]:
    """Per term: the largest stored weight (0 = absent) and the 10th, 100th and 1000th largest (0 when
    the term has fewer postings), as BMP computes them for its initial threshold."""
    order = np.lexsort((-stored.astype(np.int16), terms))  # by term, weights descending
    sorted_terms, sorted_weights = terms[order], stored[order]
    starts = np.searchsorted(sorted_terms, np.arange(vocab_size))
    counts = np.bincount(terms, minlength=vocab_size)
    term_max = np.zeros(vocab_size, np.uint8)
    term_kth = np.zeros((vocab_size, len(KTH_RANKS)), np.uint8)
    present = counts > 0
    term_max[present] = sorted_weights[starts[present]]
    for column, rank in enumerate(KTH_RANKS):
        long_enough = counts >= rank
        term_kth[long_enough, column] = sorted_weights[starts[long_enough] + rank - 1]
    return term_max, term_kth


def query_levels(weights: np.ndarray) -> np.ndarray:
    """BMP's query weights: ``ceil(32 w / max w)``, computed here and given to BMP as exact integers."""
    return np.ceil(weights.astype(np.float64) * QUERY_LEVELS / float(weights.max())).astype(np.int64)


def kth_column(k: int) -> int | None:
    """Which of BMP's kept ranks seeds its initial threshold for a search of ``k`` (None: no threshold)."""
    for column, rank in enumerate(KTH_RANKS):
        if k <= rank:
            return column
    return None


def sentinel_weights(bound: int) -> dict[str, float]:
    """Query weights of the sentinel terms giving the sentinel block exactly the upper bound ``bound``."""
    q2 = (bound - 1) // SENTINEL_TERMS[2][1]
    rest = bound - q2 * SENTINEL_TERMS[2][1]
    q1 = (rest - 1) // SENTINEL_TERMS[1][1]
    q0 = rest - q1 * SENTINEL_TERMS[1][1]
    levels = {SENTINEL_TERMS[0][0]: q0, SENTINEL_TERMS[1][0]: q1, SENTINEL_TERMS[2][0]: q2}
    return {name: float(level) for name, level in levels.items() if level > 0}


@njit(cache=True)
def _rescore(indptr, terms, weights, rows, query_dense):  # pragma: no cover - compiled
    out = np.zeros(rows.size, dtype=np.float64)
    for i in range(rows.size):
        r = rows[i]
        total = 0.0
        for j in range(indptr[r], indptr[r + 1]):
            total += query_dense[terms[j]] * weights[j]
        out[i] = total
    return out


class BmpSegment(PerSegmentSparseSegment):
    """One segment's BMP files, checked on opening (headers only; BMP's index is loaded by :meth:`load`)."""

    def __init__(self, path: Path, num_docs: int | None = None) -> None:
        self.path = Path(path)
        config_path = self.path / CONFIG_FILE
        try:
            info = json.loads(config_path.read_text(encoding="utf-8"))
            self.num_docs = int(info["num_docs"])
            self.vocab_size = int(info["vocab_size"])
            self.num_postings = int(info["num_postings"])
            self.scale = float(info["scale"])
        except FileNotFoundError:
            raise IndexFormatError("BMP segment description missing", str(config_path)) from None
        except (ValueError, KeyError, TypeError) as exc:
            raise IndexFormatError(f"BMP segment description unreadable ({type(exc).__name__}: {exc})", str(config_path)) from None
        if num_docs is not None and self.num_docs != num_docs:
            raise IndexFormatError(f"BMP segment holds {self.num_docs} rows, the manifest says {num_docs}", str(config_path))
        check_npy(self.path / FORWARD_FILES["indptr"], "int64", (self.num_docs + 1,))
        check_npy(self.path / FORWARD_FILES["terms"], ("uint16", "int32"), (self.num_postings,))  # int32: written before 2-byte ids
        check_npy(self.path / FORWARD_FILES["weights"], "float32", (self.num_postings,))
        check_npy(self.path / TERM_MAX_FILE, "uint8", (self.vocab_size,))
        check_npy(self.path / TERM_KTH_FILE, "uint8", (self.vocab_size, len(KTH_RANKS)))
        if self.num_docs and not (self.path / INDEX_FILE).is_file():
            raise IndexFormatError("BMP index file missing", str(self.path / INDEX_FILE))
        # memory-mapped, as plain ndarray views (numba dispatches faster on them than on np.memmap)
        self.indptr = np.asarray(np.load(self.path / FORWARD_FILES["indptr"], mmap_mode="r"))
        self.terms = np.asarray(np.load(self.path / FORWARD_FILES["terms"], mmap_mode="r"))
        self.weights = np.asarray(np.load(self.path / FORWARD_FILES["weights"], mmap_mode="r"))
        self.term_max = np.load(self.path / TERM_MAX_FILE)
        self.term_kth = np.load(self.path / TERM_KTH_FILE)
        self.searcher = None
        self._load_lock = threading.Lock()

    def check_data(self) -> None:
        """Read every forward array: offsets ascending within the postings, term ids inside the vocabulary."""
        indptr = np.asarray(self.indptr)
        where = str(self.path / FORWARD_FILES["indptr"])
        if indptr[0] != 0 or indptr[-1] != self.num_postings or np.any(np.diff(indptr) < 0):
            raise IndexFormatError("row offsets are not ascending from 0 to the number of postings", where)
        terms = np.asarray(self.terms)
        if terms.size and (int(terms.min()) < 0 or int(terms.max()) >= self.vocab_size):
            raise IndexFormatError("a term id lies outside the vocabulary", str(self.path / FORWARD_FILES["terms"]))
        if not np.isfinite(np.asarray(self.weights)).all():
            raise IndexFormatError("a weight is not finite", str(self.path / FORWARD_FILES["weights"]))

    def verify(self) -> None:
        """What ``tandem index info --verify`` reads: every forward array (:meth:`check_data`) and BMP's index (:meth:`load`)."""
        self.check_data()
        self.load()

    def load(self) -> "BmpSegment":
        """Load BMP's index into memory (once; refused in one line when BMP cannot read it)."""
        if self.searcher is not None or not self.num_docs:
            return self
        bmp = load_bmp()
        with self._load_lock:
            if self.searcher is None:
                try:
                    self.searcher = bmp.Searcher(str(self.path / INDEX_FILE))
                except BaseException as exc:  # BMP panics (a BaseException) on a file it cannot read
                    if isinstance(exc, (KeyboardInterrupt, SystemExit)):
                        raise
                    raise IndexFormatError(f"BMP index unreadable ({str(exc).splitlines()[0] if str(exc) else type(exc).__name__})",
                                           str(self.path / INDEX_FILE)) from None
        return self

    def vector(self, row: int) -> SparseVector:
        start, end = int(self.indptr[row]), int(self.indptr[row + 1])
        return SparseVector(self.terms[start:end].astype(np.int32), np.asarray(self.weights[start:end]))

    def doc_matrix(self, rows: np.ndarray, vocab_size: int | None = None) -> sp.csr_matrix:
        """The float32 vectors of ``rows`` (in that order) as a CSR matrix of ``vocab_size`` columns (default:
        the segment's vocabulary), for compaction."""
        shape = (self.num_docs, vocab_size or self.vocab_size)
        full = sp.csr_matrix((np.asarray(self.weights), np.asarray(self.terms), np.asarray(self.indptr)), shape=shape)
        return full[np.asarray(rows, dtype=np.int64)]

    def candidates(self, ids: np.ndarray, weights: np.ndarray, k: int, params: SearchParameters) -> np.ndarray:
        """Segment rows of BMP's top ``k`` for a query (term ids, weights; positive weights only)."""
        present = self.term_max[ids] > 0
        ids, weights = ids[present], weights[present]
        if k <= 0 or ids.size == 0 or not self.num_docs:
            return np.zeros(0, np.int64)
        if params.beta < 1:  # BMP's rule (largest weights first), applied here so the sentinel term stays
            keep = math.ceil(ids.size * params.beta)
            order = np.argsort(-weights, kind="stable")[:keep]
            ids, weights = ids[order], weights[order]
        levels = query_levels(weights)
        self.load()
        rows, threshold = self._search(ids, levels, k + 1, params.alpha)
        if threshold and rows.size < k + 1:
            # BMP keeps only scores above its initial threshold, so rows tied with it may be missing:
            # ask again above 1,000 results, where BMP seeds no threshold.
            rows, _ = self._search(ids, levels, max(k + 1, KTH_RANKS[-1] + 1), params.alpha)
        return rows[:k]

    def _search(self, ids: np.ndarray, levels: np.ndarray, k: int, alpha: float) -> tuple[np.ndarray, int]:
        """(segment rows of BMP's top ``k``, BMP's initial threshold) for integer query weights."""
        column = kth_column(k)
        threshold = int((levels * self.term_kth[ids, column]).max()) if column is not None else 0
        query = {str(t): float(level) for t, level in zip(ids.tolist(), levels.tolist())}
        query.update(sentinel_weights(threshold + 1))  # the lowest bound above BMP's initial threshold: its block is the one left unscored
        names, _ = self.searcher.search(query, k=k, alpha=alpha, beta=1.0)
        rows = np.fromiter((int(n) for n in names), dtype=np.int64, count=len(names))
        return rows[rows < self.num_docs], threshold

    def rescore(self, rows: np.ndarray, query_dense: np.ndarray) -> np.ndarray:
        """Exact scores (float64) of ``rows`` for a query given densely (one weight per vocabulary entry)."""
        return _rescore(self.indptr, self.terms, self.weights, rows, query_dense)

    def top_k(self, ids: np.ndarray, weights: np.ndarray, query_dense: np.ndarray, k: int, params: SearchParameters,
              deleted: np.ndarray | None = None, num_deleted: int = 0) -> tuple[np.ndarray, np.ndarray]:
        """(rows, exact scores) of the best ``k`` live rows among BMP's candidates, score descending, ties by row.

        BMP is asked for ``candidates x k`` rows plus room for deleted ones; when deletions still leave
        fewer live rows than wanted while BMP had more to give, it is asked again for more."""
        wanted = max(k, math.ceil(k * params.candidates))
        fetch = wanted + min(num_deleted, wanted)
        while True:
            found = self.candidates(ids, weights, fetch, params)
            rows = found if deleted is None or not found.size else found[~deleted[found]]
            if rows.size >= wanted or found.size < fetch or fetch >= wanted + num_deleted:
                break  # enough live rows, or BMP has no more to give
            fetch = min(fetch * 4, wanted + num_deleted)  # refill: deletions took too many
        rows = rows[:wanted]
        scores = self.rescore(rows, query_dense)
        order = np.lexsort((rows, -scores))[:k]
        return rows[order], scores[order]


class BmpRetriever(PerSegmentSparseRetriever):
    """Sparse dot-product search through every segment's BMP index, skipping deleted rows; candidates are
    scored exactly on the stored float32 vectors. Queries are encoded as for native-sparse
    (:class:`SparseQueryEncoder`: IDF table or SPLADE)."""

    backend = "bmp"
    settings_key = "bmp"
    config_class = BmpConfig
    parameters_class = SearchParameters
    segment_class = BmpSegment

    def __init__(self, snapshot: IndexSnapshot, component: ComponentInfo, device: str = "cpu") -> None:
        super().__init__(snapshot, component, device)
        self._vocab_size = int(self.settings["encoder"]["vocab_size"])
        self._scratch = threading.local()

    def configure(self, *, alpha: float | None = None, beta: float | None = None, candidates: float | None = None) -> None:
        """Search-time parameters for the following searches (None keeps the current value): ``alpha``
        (0 < a <= 1; 1 = exact block-max pruning, lower stops earlier: faster, may miss documents),
        ``beta`` (0 < b <= 1: fraction of the query terms BMP uses, largest weights first) and
        ``candidates`` (>= 1: BMP returns candidates x k documents, all scored exactly)."""
        self._reconfigure(alpha=alpha, beta=beta, candidates=candidates)

    def _query_dense(self, ids: np.ndarray, weights: np.ndarray) -> np.ndarray:
        """This thread's vocabulary-sized query buffer holding the query (the caller zeroes it again)."""
        dense = getattr(self._scratch, "query", None)
        if dense is None:
            dense = self._scratch.query = np.zeros(self._vocab_size, dtype=np.float64)
        if ids.size and (ids.min() < 0 or ids.max() >= self._vocab_size):
            bad = int(ids[(ids < 0) | (ids >= self._vocab_size)][0])
            raise TandemError(f"term id {bad} is outside the index vocabulary (0..{self._vocab_size - 1})", "query")
        dense[ids] = weights
        return dense

    def search_vector(self, vector: SparseVector, k: int, params: SearchParameters | None = None) -> Ranking:
        """One query's top-k over all segments (``params``: the current search parameters by default)."""
        params = params or self._params
        all_ids = np.asarray(vector.ids, dtype=np.int64)
        weights = np.asarray(vector.weights, dtype=np.float32)
        dense = self._query_dense(all_ids, weights)
        try:
            positive = weights > 0  # BMP holds non-negative weights; others still count in the exact scores
            ids, weights = all_ids[positive], weights[positive]
            parts = []
            for seg, segment in self.segments:
                rows, scores = segment.top_k(ids, weights, dense, k, params, seg.deleted, seg.num_deleted)
                names = seg.docs.doc_ids
                parts.append(([names[r] for r in rows.tolist()], scores))
            return merge_top_k(parts, k)
        finally:
            dense[all_ids] = 0.0


class BmpBackend(PerSegmentSparseBackend):
    name = "bmp"
    description = "BMP block-max pruning on 8-bit weights, candidates rescored exactly (approximate top-k, bmp)"
    retriever_class = BmpRetriever

    write_matrix = staticmethod(write_bmp_segment)

    def describe_engine(self, config: BmpConfig) -> str:
        """E.g. ``BMP block-max pruning (block 8, compressed ranges; alpha 0.9, beta 1; 2x k candidates rescored in float32)``."""
        c = config
        exact = " = safe pruning of 8-bit scores" if c.alpha == 1 and c.beta == 1 else ""
        return (f"BMP block-max pruning (block {c.block_size}{', compressed ranges' if c.compress_range else ''}; "
                f"alpha {c.alpha:g}, beta {c.beta:g}{exact}; {c.candidates:g}x k candidates rescored in float32)")

    def describe_statistics(self, stats: list[dict]) -> str:
        """The 8-bit scale of a one-segment index (e.g. ``, 8-bit scale 43.1``)."""
        return f", 8-bit scale {stats[0].get('scale', 0):.4g}" if len(stats) == 1 else ""
