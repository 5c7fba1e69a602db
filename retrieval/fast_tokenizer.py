"""A tokenizer saved beside an index, loaded with the ``tokenizers`` library alone.

Searching an inference-free sparse index needs only the tokenizer, and ``transformers.AutoTokenizer``
imports ``transformers`` and torch to load it (about 3 s of CPU) where ``tokenizers.Tokenizer.from_file``
takes 0.05 s. :class:`SavedTokenizer` reads the same ``tokenizer.json`` (normalizer, pre-tokenizer,
WordPiece model, post-processor) and so gives the same token ids (``tests/test_fast_tokenizer.py``
checks that against ``AutoTokenizer``). It offers the part of the Hugging Face tokenizer interface
that the query side uses: ``tokenizer(texts, add_special_tokens=..., truncation=..., max_length=...)
["input_ids"]``, ``all_special_ids``, ``convert_ids_to_tokens``, ``get_vocab``, ``save_pretrained``,
and for one text the encoding's ``tokens()``, ``word_ids()`` and ``word_to_chars()``.
"""
from __future__ import annotations

import json
import shutil
import threading
from pathlib import Path
from typing import NamedTuple, Sequence

from tandem.index.errors import IndexFormatError

TOKENIZER_FILE = "tokenizer.json"
CONFIG_FILE = "tokenizer_config.json"
SPECIAL_TOKENS_MAP_FILE = "special_tokens_map.json"
_LIST_KEYS = ("additional_special_tokens", "extra_special_tokens")


class CharSpan(NamedTuple):
    """Character offsets ``[start, end)`` of a word in the text (as ``transformers.CharSpan``)."""

    start: int
    end: int


class Encoded(dict):
    """``{"input_ids", "attention_mask"}``; for one text also the encoding's token and word positions."""

    def __init__(self, input_ids, encoding=None) -> None:
        ids = input_ids
        mask = [1] * len(ids) if encoding is not None else [[1] * len(row) for row in ids]
        super().__init__(input_ids=ids, attention_mask=mask)
        self._encoding = encoding

    def tokens(self) -> list[str]:
        return list(self._single().tokens)

    def word_ids(self) -> list[int | None]:
        return list(self._single().word_ids)

    def word_to_chars(self, word_index: int) -> CharSpan | None:
        span = self._single().word_to_chars(word_index)
        return CharSpan(*span) if span is not None else None

    def _single(self):
        if self._encoding is None:
            raise TypeError("token positions are kept for one text, not for a batch")
        return self._encoding


class SavedTokenizer:
    """The tokenizer saved in ``directory`` (``tokenizer.json`` and ``tokenizer_config.json``)."""

    def __init__(self, directory: Path) -> None:
        from tokenizers import Tokenizer

        self.directory = Path(directory)
        self._tokenizer = Tokenizer.from_file(str(self.directory / TOKENIZER_FILE))
        self._tokenizer.no_truncation()
        self._tokenizer.no_padding()
        config = _read_json(self.directory / CONFIG_FILE)
        self.model_max_length = int(config.get("model_max_length") or 512)
        names = {**_read_json(self.directory / SPECIAL_TOKENS_MAP_FILE), **config}
        self.all_special_tokens = _special_tokens(names)
        self.all_special_ids = [i for i in (self._tokenizer.token_to_id(t) for t in self.all_special_tokens) if i is not None]
        self._truncating: dict[int, object] = {}
        self._lock = threading.Lock()

    def __call__(self, text: str | Sequence[str], add_special_tokens: bool = True, truncation: bool = False, max_length: int | None = None, **_) -> Encoded:
        """Token ids of one text (``Encoded`` with token positions) or of a list of texts."""
        tokenizer = self._truncated(max_length or self.model_max_length) if truncation else self._tokenizer
        if isinstance(text, str):
            encoding = tokenizer.encode(text, add_special_tokens=add_special_tokens)
            return Encoded(encoding.ids, encoding)
        # a batch returns ids only: the variant without character offsets (tokenizers >= 0.21) when there is one
        encode_batch = getattr(tokenizer, "encode_batch_fast", tokenizer.encode_batch)
        encodings = encode_batch(list(text), add_special_tokens=add_special_tokens)
        return Encoded([e.ids for e in encodings])

    def convert_ids_to_tokens(self, ids: int | Sequence[int]) -> str | list[str]:
        if isinstance(ids, int):
            return self._tokenizer.id_to_token(ids)
        return [self._tokenizer.id_to_token(int(i)) for i in ids]

    def convert_tokens_to_ids(self, tokens: str | Sequence[str]) -> int | list[int]:
        if isinstance(tokens, str):
            return self._tokenizer.token_to_id(tokens)
        return [self._tokenizer.token_to_id(t) for t in tokens]

    def get_vocab(self) -> dict[str, int]:
        return self._tokenizer.get_vocab(with_added_tokens=True)

    def __len__(self) -> int:
        return self._tokenizer.get_vocab_size(with_added_tokens=True)

    def save_pretrained(self, directory: str | Path) -> None:
        """Copy the saved tokenizer's files (byte for byte) into ``directory``."""
        target = Path(directory)
        target.mkdir(parents=True, exist_ok=True)
        for name in (TOKENIZER_FILE, CONFIG_FILE, SPECIAL_TOKENS_MAP_FILE):
            if (self.directory / name).is_file():
                shutil.copyfile(self.directory / name, target / name)

    def _truncated(self, max_length: int):
        """A copy of the tokenizer that truncates to ``max_length`` tokens (counting special tokens it adds)."""
        from tokenizers import Tokenizer

        with self._lock:
            if max_length not in self._truncating:
                copy = Tokenizer.from_str(self._tokenizer.to_str())
                copy.enable_truncation(max_length)
                self._truncating[max_length] = copy
            return self._truncating[max_length]


def can_load(directory: Path) -> bool:
    """Whether ``directory`` holds a ``tokenizer.json`` (every fast tokenizer saves one)."""
    return (Path(directory) / TOKENIZER_FILE).is_file()


def _read_json(path: Path) -> dict:
    if not path.is_file():
        return {}
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as exc:
        raise IndexFormatError(f"not valid JSON: {exc.msg} (line {exc.lineno})", str(path)) from None


def _special_tokens(config: dict) -> list[str]:
    """The special tokens a tokenizer config names (``cls_token``, ..., additional ones), in order, once each."""
    found: list[str] = []
    for key, value in config.items():
        values = value if key in _LIST_KEYS else [value] if key.endswith("_token") else []
        if isinstance(values, dict):  # extra_special_tokens may map names to tokens
            values = list(values.values())
        for item in values:
            token = item.get("content") if isinstance(item, dict) else item
            if isinstance(token, str) and token not in found:
                found.append(token)
    return found
