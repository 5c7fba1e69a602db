"""What the tests of the per-segment sparse engines (test_seismic.py, test_bmp.py) share: SPLADE-like
random documents and queries, the tiny corpus in an index of the engine, the check that importing
Tandem does not import the engine, and one add / delete / compact sequence on a copy of an index.
"""
from __future__ import annotations

import functools
import json
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import scipy.sparse as sp

from tandem.index.sparse import SparseVector

VOCAB = 400


def random_docs(num: int, seed: int = 0, terms_per_doc: int = 20, empty_rows: tuple[int, ...] = ()) -> sp.csr_matrix:
    """SPLADE-like documents: ~``terms_per_doc`` terms each from a Zipf-skewed vocabulary, positive
    weights; ``empty_rows`` have no terms."""
    rng = np.random.default_rng(seed)
    rows, cols, vals = [], [], []
    popularity = 1.0 / np.arange(1, VOCAB + 1) ** 0.8
    popularity /= popularity.sum()
    for r in range(num):
        if r in empty_rows:
            continue
        terms = np.unique(rng.choice(VOCAB, size=terms_per_doc, p=popularity))
        rows += [r] * terms.size
        cols += terms.tolist()
        vals += rng.gamma(2.0, 0.6, terms.size).tolist()
    return sp.csr_matrix((np.asarray(vals, np.float32), (rows, cols)), shape=(num, VOCAB))


def random_queries(num: int, seed: int = 1, terms: int = 6) -> list[SparseVector]:
    """Queries of up to ``terms`` distinct random terms, weights in [0.5, 3)."""
    rng = np.random.default_rng(seed)
    out = []
    for _ in range(num):
        ids = np.unique(rng.integers(0, VOCAB, terms)).astype(np.int32)
        out.append(SparseVector(ids, rng.uniform(0.5, 3.0, ids.size).astype(np.float32)))
    return out


@functools.lru_cache(maxsize=1)
def modules_after_importing_tandem() -> frozenset[str]:
    """The modules a fresh interpreter holds after importing Tandem's retrieval package, its backends and
    its builder (one interpreter per test session, ~5 s: the engines' tests share it)."""
    code = ("import json, sys, tandem.retrieval, tandem.retrieval.backends, tandem.retrieval.build; "
            "print(json.dumps(sorted(sys.modules)))")
    result = subprocess.run([sys.executable, "-c", code], check=True, capture_output=True, text=True)
    return frozenset(json.loads(result.stdout.splitlines()[-1]))


def build_tiny_index(root: Path, **config) -> Path:
    """The tiny corpus (conftest.TINY_DOCS), inference-free, sparse only, in ``root/index`` with the
    ``BuildConfig`` fields given (e.g. ``sparse_backend="bmp", bmp=...``)."""
    from conftest import TINY_DOCS, write_jsonl
    from tandem.retrieval.build import BuildConfig, build_index

    corpus = write_jsonl(root / "corpus.jsonl", TINY_DOCS)
    out = root / "index"
    build_index(BuildConfig(corpus=str(corpus), dense=None, **config), out, corpus, log=lambda _: None, show_progress=False)
    return out


LIVE_QUERY = "vitamin bone density calcium"


@dataclass
class LiveChanges:
    """Sparse top-10 hits of :data:`LIVE_QUERY` (id, score) after adding d7/d8 and deleting d3, and after compacting."""

    segments_before: int
    before: list[tuple[str, float]]
    segments_after: int
    after: list[tuple[str, float]]
    deleted_vector_after: object  # doc_vector("d3") once compacted
    parameters_after: dict  # the retriever's search parameters once compacted


def add_delete_compact(index: Path, work: Path) -> LiveChanges:
    """On a copy of ``index`` in ``work``: add d7 (about bones, vitamin D, calcium) and an empty d8 and delete
    d3 (one new segment), search; compact into one segment, search again."""
    from tandem.index.corpus import Document
    from tandem.retrieval.searcher import Searcher
    from tandem.retrieval.writer import IndexWriter

    root = work / "live"
    shutil.copytree(index, root)
    writer = IndexWriter(root, show_progress=False)
    writer.add([Document("d7", "Bones", "Calcium and vitamin D keep bones dense."), Document("d8", "", "")])
    writer.delete(["d3"])
    with Searcher.open(root) as searcher:
        segments_before = len(searcher.snapshot.segments)
        before = [(h.doc_id, h.score) for h in searcher.search(LIVE_QUERY, k=10, mode="sparse").hits]
    report = writer.compact()
    with Searcher.open(root) as searcher:
        after = [(h.doc_id, h.score) for h in searcher.search(LIVE_QUERY, k=10, mode="sparse").hits]
        retriever = searcher.retriever("sparse")
        return LiveChanges(segments_before, before, report.num_segments, after, retriever.doc_vector("d3"), retriever.search_parameters)
