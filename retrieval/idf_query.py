"""Inference-free query side: the tokenizer plus an IDF weight table, no model call.

``q_t = idf(t)`` for each distinct (non-special) token t of the query, with
``idf(t) = ln(1 + (N - df_t + 0.5) / (df_t + 0.5))`` (the BM25/Lucene IDF) computed over the
indexed corpus with the model's tokenizer. An ``idf.json`` (``{token: weight}``) shipped in
the model folder overrides the corpus IDF, as OpenSearch's inference-free models ship one.
"""
from __future__ import annotations

import json
from pathlib import Path
from typing import Iterable, Sequence

import numpy as np

from tandem.index.errors import TandemError
from tandem.index.progress import progress
from tandem.index.sparse import SparseVector


def document_frequencies(tokenizer, texts: Iterable[str], vocab_size: int, batch_size: int = 1000, show_progress: bool = False, total: int | None = None) -> tuple[np.ndarray, int]:
    """(df per token id, number of documents); special tokens are not counted."""
    df = np.zeros(vocab_size, dtype=np.int64)
    special = np.array(sorted(set(tokenizer.all_special_ids)), dtype=np.int64)
    num_docs = 0
    batch: list[str] = []
    bar = progress(total=total, desc="document frequencies", unit="doc", disable=not show_progress)

    def flush() -> None:
        nonlocal num_docs
        for ids in tokenizer(batch, add_special_tokens=False)["input_ids"]:
            df[np.unique(np.asarray(ids, dtype=np.int64))] += 1
        num_docs += len(batch)
        bar.update(len(batch))
        batch.clear()

    for text in texts:
        batch.append(text)
        if len(batch) == batch_size:
            flush()
    if batch:
        flush()
    bar.close()
    df[special] = 0
    return df, num_docs


def idf_from_df(df: np.ndarray, num_docs: int) -> np.ndarray:
    df = df.astype(np.float64)
    return np.log1p((num_docs - df + 0.5) / (df + 0.5)).astype(np.float32)


def load_idf_json(model_dir: Path, tokenizer, vocab_size: int) -> np.ndarray | None:
    """The model's own ``idf.json`` as a vocabulary-sized array, or None if it has none."""
    path = Path(model_dir) / "idf.json"
    if not path.is_file():
        return None
    try:
        table = json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as exc:
        raise TandemError(f"idf.json is not valid JSON: {exc.msg} (line {exc.lineno})", str(path)) from None
    idf = np.zeros(vocab_size, dtype=np.float32)
    vocab = tokenizer.get_vocab()
    for token, weight in table.items():
        token_id = vocab.get(token)
        if token_id is not None and token_id < vocab_size:
            idf[token_id] = float(weight)
    return idf


class IdfQueryEncoder:
    """Maps a query to ``{token id: idf}`` over its distinct non-special tokens."""

    def __init__(self, tokenizer, idf: np.ndarray) -> None:
        self.tokenizer = tokenizer
        self.idf = np.asarray(idf, dtype=np.float32)
        # the table a query reads: special tokens weigh 0, so they drop out with the other zero-weight tokens
        self._query_weights = self.idf.copy()
        self._query_weights[[i for i in set(tokenizer.all_special_ids) if 0 <= i < self.idf.size]] = 0.0

    def encode(self, queries: Sequence[str]) -> list[SparseVector]:
        out = []
        for ids in self.tokenizer(list(queries), add_special_tokens=False, truncation=True, max_length=512)["input_ids"]:
            unique = np.unique(np.array(ids, dtype=np.int32))
            weights = self._query_weights[unique]
            keep = weights > 0
            out.append(SparseVector(unique[keep], weights[keep]))
        return out
