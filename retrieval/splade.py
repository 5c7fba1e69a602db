"""SPLADE encoder for any Hugging Face masked-LM checkpoint.

``w_j = log(1 + ReLU(max_i logits_ij))`` over the non-padding tokens i of a text, special tokens
([CLS], [SEP], [PAD], ...) at 0: :func:`tandem.retrieval.pooling.splade_pool`, the same function training uses.

``precision``: ``fp32`` (the reference) runs the whole model in float32; ``bf16`` screens the
vocabulary projection in bfloat16 and recomputes the surviving terms in float32
(:class:`tandem.retrieval.vocab_screen.VocabScreen`): the same vectors, 2-3x faster on CPUs with bf16 units.
"""
from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Iterator, Sequence

import numpy as np
import torch

from tandem.index.progress import progress
from tandem.index.sparse import SparseVector

from .models import ModelRef, load_pretrained, resolve_model
from .pooling import splade_pool
from .precision import Precision, check_precision
from .vocab_screen import VocabScreen


@dataclass
class SpladeConfig:
    model: str = "splade-tiny"
    max_length: int = 256
    batch_size: int = 16
    top_k: int | None = None  # keep only the k largest document weights (None = all)
    precision: Precision = "fp32"  # bf16: screened vocabulary projection, same vectors (see the module docstring)


class SpladeEncoder:
    """Encodes texts into sparse term-weight vectors over the model's vocabulary."""

    def __init__(self, config: SpladeConfig | None = None, device: str = "cpu") -> None:
        from transformers import AutoModelForMaskedLM, AutoTokenizer

        self.config = config or SpladeConfig()
        self.ref: ModelRef = resolve_model(self.config.model)
        self._attach(load_pretrained(AutoModelForMaskedLM, self.ref).to(device).eval(), load_pretrained(AutoTokenizer, self.ref), device)

    @classmethod
    def around(cls, model, tokenizer, config: SpladeConfig, device: str = "cpu") -> "SpladeEncoder":
        """An encoder over an already loaded model (e.g. a student during training); the caller
        chooses train/eval mode."""
        encoder = cls.__new__(cls)
        encoder.config, encoder.ref = config, resolve_model(config.model)
        encoder._attach(model, tokenizer, device)
        return encoder

    def _attach(self, model, tokenizer, device: str) -> None:
        self.model, self.tokenizer, self.device = model, tokenizer, device
        self.vocab_size = int(model.config.vocab_size)
        self.special_ids = torch.tensor(sorted(set(tokenizer.all_special_ids)), dtype=torch.long)
        self._screen = VocabScreen(model) if check_precision(self.config.precision) == "bf16" else None

    def settings(self) -> dict:
        return {**asdict(self.config), "location": self.ref.location, "vocab_size": self.vocab_size}

    def batches(self, texts: Sequence[str]) -> Iterator[tuple[np.ndarray, dict]]:
        """Yield (positions, tokenised batch) with texts sorted by length to minimise padding."""
        enc = self.tokenizer(list(texts), truncation=True, max_length=self.config.max_length, add_special_tokens=True)
        order = np.argsort([len(ids) for ids in enc["input_ids"]], kind="stable")
        for start in range(0, len(order), self.config.batch_size):
            positions = order[start : start + self.config.batch_size]
            features = [{key: enc[key][i] for key in enc.keys()} for i in positions]
            yield positions, self.tokenizer.pad(features, return_tensors="pt")

    @torch.inference_mode()
    def forward_batch(self, batch: dict) -> torch.Tensor:
        """Dense [B, V] SPLADE weights for one tokenised batch."""
        batch = {key: value.to(self.device) for key, value in batch.items()}
        if self._screen is not None:
            hidden = self._screen.hidden_states(self.model, batch)
            return self._screen.splade_weights(hidden, batch["attention_mask"], self.special_ids)
        return splade_pool(self.model(**batch).logits, batch["attention_mask"], self.special_ids)

    def encode(self, texts: Sequence[str], show_progress: bool = False, desc: str = "sparse encode", on_batch=None) -> list[SparseVector]:
        """Sparse vectors of ``texts``; ``on_batch(n)`` is called after each batch of n texts (for a caller's progress bar)."""
        out: list[SparseVector | None] = [None] * len(texts)
        with progress(total=len(texts), desc=desc, unit="doc", disable=not show_progress) as bar:
            for positions, batch in self.batches(texts):
                weights = self.forward_batch(batch).cpu()
                for row, pos in zip(weights, positions):
                    out[pos] = self._to_sparse(row)
                bar.update(len(positions))
                if on_batch is not None:
                    on_batch(len(positions))
        return out  # type: ignore[return-value]

    def _to_sparse(self, row: torch.Tensor) -> SparseVector:
        ids = torch.nonzero(row, as_tuple=True)[0]
        values = row[ids]
        if self.config.top_k is not None and ids.numel() > self.config.top_k:
            keep = torch.topk(values, self.config.top_k).indices
            ids, values = ids[keep], values[keep]
            order = torch.argsort(ids)
            ids, values = ids[order], values[order]
        return SparseVector(ids.numpy().astype(np.int32), values.numpy().astype(np.float32))

    def token_strings(self, ids: np.ndarray) -> list[str]:
        return self.tokenizer.convert_ids_to_tokens([int(i) for i in ids])
