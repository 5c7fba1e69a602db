"""Pooling token states into one vector per text: the one implementation for training and serving.

* :func:`pool` — dense pooling of ``last_hidden_state`` ``[B, L, H]`` over each text's own tokens
  (``cls``, ``mean``, ``max``; sentence-transformers' ``1_Pooling`` semantics).
* :func:`model_pooling` — the pooling a model folder declares in ``1_Pooling/config.json``.
* :func:`splade_pool` — SPLADE term weights ``log(1 + ReLU(max_i logits_ij))`` over the non-padding
  tokens i of each text, special tokens ([CLS], [SEP], [PAD], ...) set to 0. Taking the max before
  ``log1p(ReLU)`` equals SPLADE's ``max_i log(1 + ReLU(logits_ij))`` (both are monotone
  non-decreasing) and is ~1.5x faster.

All functions work with and without autograd (training and ``torch.inference_mode`` serving).
"""
from __future__ import annotations

import json
from pathlib import Path

import torch

from tandem.index.errors import TandemError

from .models import ModelRef


def _cls(hidden: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    return hidden[:, 0]


def _mean(hidden: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    weights = mask.unsqueeze(-1).to(hidden.dtype)
    return (hidden * weights).sum(dim=1) / weights.sum(dim=1).clamp(min=1e-9)


def _max(hidden: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    return hidden.masked_fill(~mask.unsqueeze(-1).bool(), float("-inf")).amax(dim=1)


_POOLERS = {"cls": _cls, "mean": _mean, "max": _max}
POOLING_METHODS = tuple(_POOLERS)


def check_pooling(method: str) -> str:
    """``method`` if it is a known pooling, else a :class:`TandemError`."""
    if method not in _POOLERS:
        raise TandemError(f"unknown pooling {method!r} (choose {', '.join(POOLING_METHODS)})", "pooling")
    return method


def pool(hidden: torch.Tensor, mask: torch.Tensor, method: str) -> torch.Tensor:
    """``[B, L, H]`` token states and ``[B, L]`` attention mask -> ``[B, H]`` (not normalised)."""
    return _POOLERS[check_pooling(method)](hidden, mask)


def model_pooling(ref: ModelRef) -> str:
    """The pooling a local sentence-transformers folder declares (``cls``, ``max``), else ``mean``."""
    config = Path(ref.location) / "1_Pooling" / "config.json"
    if ref.is_local and config.is_file():
        settings = json.loads(config.read_text(encoding="utf-8"))
        if settings.get("pooling_mode_cls_token"):
            return "cls"
        if settings.get("pooling_mode_max_tokens"):
            return "max"
    return "mean"


def _is_right_padded(mask: torch.Tensor, lengths: torch.Tensor) -> bool:
    positions = torch.arange(mask.shape[1], device=mask.device)
    return bool(torch.equal(mask.bool(), positions.unsqueeze(0) < lengths.unsqueeze(1)))


def splade_pool(logits: torch.Tensor, mask: torch.Tensor, special_ids: torch.Tensor | None = None) -> torch.Tensor:
    """``[B, L, V]`` MLM logits -> ``[B, V]`` SPLADE weights (see the module docstring).

    The max runs over each text's own tokens in one pass, with no ``[B, L, V]`` mask temporaries.
    """
    lengths = mask.sum(dim=1)
    if bool((lengths == logits.shape[1]).all()):
        pooled = logits.amax(dim=1)
    elif _is_right_padded(mask, lengths):
        pooled = torch.stack([row[:n].amax(dim=0) if n else row.new_zeros(row.shape[-1]) for row, n in zip(logits, lengths.tolist())])
    else:  # left padding or holes: select each text's tokens
        pooled = torch.stack([row[m.bool()].amax(dim=0) if m.any() else row.new_zeros(row.shape[-1]) for row, m in zip(logits, mask)])
    weights = torch.log1p(torch.relu(pooled))
    if special_ids is not None and special_ids.numel():
        weights = weights.index_fill(1, special_ids.to(weights.device), 0.0)
    return weights
