"""Loading encoders from the settings a manifest records, once per process.

A component's ``settings["encoder"]`` is what the encoder's ``settings()`` returned at build time
(model name and location, max length, batch size, ...). The same settings always give the same
encoder object (models are large: a sparse retriever and a Lucene impact retriever over the same
SPLADE model share it).
"""
from __future__ import annotations

import json
import threading
from pathlib import Path

_lock = threading.Lock()
_cache: dict[tuple, object] = {}

SPARSE_KEY_FIELDS = ("model", "location", "max_length", "top_k")
DENSE_KEY_FIELDS = ("model", "location", "max_length", "document_prefix", "pooling", "normalize")


def encoder_key(kind: str, settings: dict) -> str:
    """What determines a document encoding: two components with the same key share encoded vectors.

    ``precision`` counts only when it is not the reference ``fp32`` (so keys of indexes built before
    it was recorded stay the same)."""
    fields = SPARSE_KEY_FIELDS if kind == "sparse" else DENSE_KEY_FIELDS
    key = {f: settings.get(f) for f in fields}
    if settings.get("precision", "fp32") != "fp32":
        key["precision"] = settings["precision"]
    return kind + ":" + json.dumps(key, sort_keys=True)


def _model_name(settings: dict) -> str:
    """The model to load: the recorded location when it still exists, else the name (short name or HF id)."""
    location = settings.get("location")
    return location if location and Path(location).is_dir() else settings["model"]


def _cached(key: tuple, make):
    with _lock:
        if key not in _cache:
            _cache[key] = make()
        return _cache[key]


def splade_encoder(settings: dict, device: str = "cpu"):
    """The SPLADE encoder described by recorded settings."""
    from .splade import SpladeConfig, SpladeEncoder

    known = _recorded("SpladeEncoder", settings, device)
    if known is not None:
        return known
    config = SpladeConfig(settings["model"], int(settings["max_length"]), int(settings.get("batch_size", 16)), settings.get("top_k"), settings.get("precision", "fp32"))
    load = SpladeConfig(**{**config.__dict__, "model": _model_name(settings)})
    return _cached(("splade", json.dumps(config.__dict__, sort_keys=True), device), lambda: _renamed(SpladeEncoder(load, device), config))


def dense_encoder(settings: dict, device: str = "cpu"):
    """The dense encoder described by recorded settings."""
    from .dense_encoder import DenseConfig, DenseEncoder

    known = _recorded("DenseEncoder", settings, device)
    if known is not None:
        return known
    config = DenseConfig(settings["model"], int(settings["max_length"]), int(settings.get("batch_size", 64)),
                         settings.get("query_prefix", ""), settings.get("document_prefix", ""), settings.get("pooling"), bool(settings.get("normalize", True)),
                         settings.get("precision", "fp32"))
    load = DenseConfig(**{**config.__dict__, "model": _model_name(settings)})
    return _cached(("dense", json.dumps(config.__dict__, sort_keys=True), device), lambda: _renamed(DenseEncoder(load, device), config))


def _renamed(encoder, config):
    """Keep the model's recorded name (e.g. a short name) in the encoder's settings, wherever it was loaded
    from, and make the settings it will record find this same encoder (e.g. the resolved pooling)."""
    encoder.config = config
    recorded = encoder.settings()
    _cache.setdefault((type(encoder).__name__, "recorded", json.dumps({k: recorded.get(k) for k in sorted(recorded) if k != "location"}, sort_keys=True)), encoder)
    return encoder


def _recorded(kind: str, settings: dict, device: str):
    key = (kind, "recorded", json.dumps({k: settings.get(k) for k in sorted(settings) if k != "location"}, sort_keys=True))
    return _cache.get(key) if device == "cpu" else None


def saved_tokenizer(directory: Path):
    """A tokenizer saved beside an index (no model needed): with ``tokenizers`` alone when it has a
    tokenizer.json (same ids, no transformers/torch import), else through ``AutoTokenizer``."""
    from .fast_tokenizer import SavedTokenizer, can_load

    directory = Path(directory)
    if can_load(directory):
        return _cached(("tokenizer", str(directory.resolve())), lambda: SavedTokenizer(directory))
    from transformers import AutoTokenizer

    return _cached(("tokenizer", str(directory.resolve())), lambda: AutoTokenizer.from_pretrained(str(directory)))
