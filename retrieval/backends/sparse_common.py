"""What the two learned-sparse backends (native and Lucene impact) share: the query encoder, the
index-wide files it needs (tokenizer, IDF table) and the IDF policy.

IDF policy for inference-free queries: the model's own ``idf.json`` when it ships one; otherwise
the IDF of the corpus the index was built from, *frozen* when documents are added or deleted (so
scores of unchanged documents stay comparable across generations) and recomputed over the live
documents by ``tandem index compact``.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np

from tandem.index.corpus import Document
from tandem.index.errors import IndexFormatError
from tandem.index.npy_files import check_npy
from tandem.index.sparse import SparseVector

from ..encoders import saved_tokenizer, splade_encoder
from ..idf_query import IdfQueryEncoder, document_frequencies, idf_from_df, load_idf_json

TOKENIZER_DIR = "tokenizer"
QUERY_WEIGHTS = "query_weights.npy"


class SparseQueryEncoder:
    """Query text -> sparse vector: tokenizer + IDF (inference-free) or the SPLADE model (siamese)."""

    def __init__(self, settings: dict, shared_dir: Path, device: str = "cpu") -> None:
        check_query_side(settings, shared_dir)
        self.mode = settings["mode"]
        self.tokenizer = saved_tokenizer(shared_dir / TOKENIZER_DIR)
        if self.mode == "inference-free":
            self.encoder = IdfQueryEncoder(self.tokenizer, np.load(shared_dir / QUERY_WEIGHTS))
        else:
            self.encoder = splade_encoder(settings["encoder"], device)

    @property
    def query_weights(self) -> np.ndarray | None:
        """The IDF table of inference-free queries (None for siamese)."""
        return self.encoder.idf if isinstance(self.encoder, IdfQueryEncoder) else None

    def encode(self, queries: list[str]) -> list[SparseVector]:
        return self.encoder.encode(list(queries))


class SparseQuerySide:
    """What every retriever of SPLADE vectors shares on the query side: its :class:`SparseQueryEncoder`,
    opened on first use from ``self.settings`` and the component's shared folder ``self._shared``
    (on ``self._device``), its tokenizer, and ``encode`` (query texts -> sparse vectors)."""

    settings: dict
    _shared: Path
    _device: str = "cpu"
    _encoder: "SparseQueryEncoder | None" = None

    def _open_query_side(self, snapshot, component, device: str) -> None:
        """The retriever's name, commit and settings, and where its query side is (opened on first use)."""
        self.name = component.name
        self.snapshot = snapshot
        self.settings = component.settings
        self._shared = snapshot.root / component.shared_dir
        self._device = device
        self._encoder = None

    @property
    def query_encoder(self) -> "SparseQueryEncoder":
        if self._encoder is None:
            self._encoder = SparseQueryEncoder(self.settings, self._shared, self._device)
        return self._encoder

    @property
    def tokenizer(self):
        return self.query_encoder.tokenizer

    def encode(self, queries: list[str]) -> list[SparseVector]:
        return self.query_encoder.encode(queries)


def check_query_side(settings: dict, shared_dir: Path) -> None:
    """The tokenizer folder is there, and an inference-free IDF table is complete with one float32 weight
    per vocabulary entry (header only; one line naming the file otherwise)."""
    tokenizer = Path(shared_dir) / TOKENIZER_DIR
    if not tokenizer.is_dir():
        raise IndexFormatError("tokenizer folder missing", str(tokenizer))
    if settings["mode"] == "inference-free":
        check_npy(Path(shared_dir) / QUERY_WEIGHTS, "float32", (settings["encoder"].get("vocab_size"),))


def write_query_side(new_dir: Path, tokenizer, query_weights: np.ndarray | None) -> None:
    new_dir.mkdir(parents=True, exist_ok=True)
    tokenizer.save_pretrained(new_dir / TOKENIZER_DIR)
    if query_weights is not None:
        np.save(new_dir / QUERY_WEIGHTS, query_weights.astype(np.float32))


def initial_idf(settings: dict, tokenizer, vocab_size: int, added) -> tuple[np.ndarray | None, str | None]:
    """(query weights, source) for a new index of ``added`` (``EncodedDocs``): None for siamese; the model's
    idf.json, else the corpus IDF, computed once per encoder however many components want it (the native
    sparse index and a Lucene impact index beside it share one table)."""
    if settings["mode"] != "inference-free":
        return None, None
    location = Path(settings["encoder"].get("location", ""))
    table = load_idf_json(location, tokenizer, vocab_size) if location.is_dir() else None
    if table is not None:
        return table, "model idf.json"
    from tandem.retrieval.encoders import encoder_key

    key = ("corpus_idf", encoder_key("sparse", settings["encoder"]), vocab_size)
    if key not in added.derived:
        added.derived[key] = corpus_idf(tokenizer, vocab_size, added.docs)
    return added.derived[key].copy(), "corpus"


def corpus_idf(tokenizer, vocab_size: int, docs: list[Document]) -> np.ndarray:
    df, n = document_frequencies(tokenizer, (d.contents for d in docs), vocab_size, show_progress=len(docs) > 20_000, total=len(docs))
    return idf_from_df(df, n)


def update_query_side(settings: dict, previous_dir: Path, new_dir: Path, merge: bool, live_docs: list[Document] | None) -> dict | None:
    """The IDF policy applied to a change: only a compaction of a corpus-IDF index writes a new table."""
    if not merge or settings.get("mode") != "inference-free" or settings.get("idf_source") != "corpus":
        return None
    tokenizer = saved_tokenizer(previous_dir / TOKENIZER_DIR)
    vocab_size = int(settings["encoder"]["vocab_size"])
    write_query_side(new_dir, tokenizer, corpus_idf(tokenizer, vocab_size, live_docs or []))
    return {"idf_docs": len(live_docs or [])}


def apply_query_side_change(settings: dict, change) -> dict | None:
    """The sparse query side (tokenizer, IDF table) of an index-wide change (a ``SharedChange``): written
    for a new index under the IDF policy of :func:`initial_idf`, then kept, or recomputed over the live
    documents by a merge (:func:`update_query_side`); returns the settings to record, or None."""
    from tandem.retrieval.encoders import encoder_key

    if change.previous_dir is None:
        tokenizer = change.added.tokenizers[encoder_key("sparse", settings["encoder"])]
        weights, source = initial_idf(settings, tokenizer, int(settings["encoder"]["vocab_size"]), change.added)
        write_query_side(change.new_dir, tokenizer, weights)
        return {"idf_source": source}
    return update_query_side(settings, change.previous_dir, change.new_dir, change.merge, change.live_docs)


def postings_summary(component, segments) -> tuple[str, list[dict]]:
    """``", N postings, T terms/doc"`` over the segments' recorded statistics of ``component`` ("" for no
    documents), and those statistics (per segment), for `tandem index info` lines."""
    stats = [seg.stats.get(component.name, {}) for seg in segments]
    postings = sum(int(st.get("num_postings", 0)) for st in stats)
    docs = sum(int(st.get("num_docs", 0)) for st in stats)
    return (f", {postings:,} postings, {postings / docs:.1f} terms/doc" if docs else ""), stats
