"""Encoder precision: ``fp32`` (the reference) or ``bf16``, recorded in each encoder's settings.

- SPLADE (:mod:`tandem.retrieval.splade`): ``bf16`` screens the vocabulary projection in bfloat16 and
  recomputes the surviving terms in float32 (:mod:`tandem.retrieval.vocab_screen`): the same vectors.
- Dense (:mod:`tandem.retrieval.dense_encoder`): ``bf16`` runs the transformer under bfloat16 autocast
  and pools in float32: embeddings within ~1e-4 cosine of float32, not identical.
"""
from __future__ import annotations

import contextlib
from typing import Literal

import torch

from tandem.index.errors import TandemError

Precision = Literal["fp32", "bf16"]
PRECISIONS: tuple[str, ...] = ("fp32", "bf16")


def check_precision(precision: str) -> str:
    """``precision`` if the encoders support it, else a :class:`TandemError` naming the setting."""
    if precision not in PRECISIONS:
        raise TandemError(f"unknown precision {precision!r} (choose {', '.join(PRECISIONS)})", "precision")
    return precision


def autocast(precision: str, device: str = "cpu"):
    """A context running a model's matrix products in ``precision`` (a no-op for fp32)."""
    if check_precision(precision) == "fp32":
        return contextlib.nullcontext()
    return torch.autocast(torch.device(device).type, dtype=torch.bfloat16)
