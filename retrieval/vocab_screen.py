"""SPLADE's projection onto the vocabulary, screened in bfloat16 and rescored exactly in float32.

For a small SPLADE model nearly all the work is the MLM head's projection of every token onto the
whole vocabulary (``[L, H] x [H, V]`` per text, V ≈ 30k), yet a document keeps only the few dozen to
few hundred terms whose maximum logit over its tokens is positive. :class:`VocabScreen` therefore

1. computes the logits with bfloat16 inputs (3–5x faster than float32 for this shape on CPUs with
   AVX512-BF16/AMX, and half the memory traffic for the max over tokens),
2. keeps as *candidates* the terms whose bf16 maximum could be positive given a bound on the bf16
   rounding error, and
3. recomputes exactly those terms in float32 with :func:`tandem.retrieval.pooling.splade_pool`.

A term that is not a candidate is provably 0 in float32, and every candidate gets its float32 value,
so the output equals the float32 encoder's (up to the summation order of one dot product, ~1e-6).

Error bound. Rounding ``h`` and ``w`` to bf16 (unit roundoff u = 2^-9) changes each product
``h_k w_k`` by at most ``(2u + u^2) |h_k w_k|``, hence the dot product by at most
``2^-8 (1 + u) ||h|| ||w||`` (Cauchy-Schwarz); float32 accumulation adds well under 1 % of that, and
rounding the bf16 result adds at most ``u |z|``. The screen allows twice each term:
``2^-7 max_i ||h_i|| ||w_j|| + 2^-8 (|z_j| + |b_j|)``.
"""
from __future__ import annotations

import threading

import torch

from tandem.index.errors import TandemError

from .pooling import splade_pool

TOKEN_BLOCK = 512  # token rows per bf16 projection (a [512, V] block measured faster than whole batches of long texts)
PRODUCT_SLACK = 2.0 ** -7  # 2x the bf16 dot-product rounding bound, relative to ||h|| ||w||
OUTPUT_SLACK = 2.0 ** -8  # 2x the rounding of a bf16 result, relative to its magnitude


class VocabScreen:
    """Exact SPLADE weights of a masked-LM at bf16 speed (see the module docstring).

    Works for any model whose output embeddings are an ``nn.Linear`` fed the final ``[B, L, H]``
    states (BERT, DistilBERT, RoBERTa, ...). The weights are copied to bf16 once: build a new screen
    if the model changes (e.g. during training).
    """

    def __init__(self, model: torch.nn.Module) -> None:
        head = model.get_output_embeddings()
        if not isinstance(head, torch.nn.Linear):
            raise TandemError(f"precision bf16 needs a model whose vocabulary projection is a linear layer, not {type(head).__name__}", "precision")
        self.head = head
        weight = head.weight.detach()
        self.weight = weight  # [V, H], float32 (shared with the model, not copied)
        self.bias = head.bias.detach() if head.bias is not None else weight.new_zeros(weight.shape[0])
        self.weight_bf16_t = weight.to(torch.bfloat16).t().contiguous()  # [H, V]
        self.weight_norms = weight.norm(dim=1)
        self._local = threading.local()
        head.register_forward_pre_hook(self._capture)

    def _capture(self, module: torch.nn.Module, args: tuple):
        """While this thread asks for hidden states, keep the projection's input and give the
        projection nothing to do (an empty sequence axis); inert otherwise (e.g. for training)."""
        if not getattr(self._local, "active", False):
            return None
        self._local.hidden = args[0]
        return (args[0][..., :0, :],) + tuple(args[1:])

    def hidden_states(self, model: torch.nn.Module, batch: dict) -> torch.Tensor:
        """``[B, L, H]``: what the model feeds its vocabulary projection, without running the projection."""
        self._local.active = True
        try:
            model(**batch)
            return self._local.hidden
        finally:
            self._local.active = False
            self._local.hidden = None

    def splade_weights(self, hidden: torch.Tensor, mask: torch.Tensor, special_ids: torch.Tensor | None = None) -> torch.Tensor:
        """``[B, V]`` SPLADE weights of the texts whose projection inputs are ``hidden`` (float32)."""
        lengths = mask.sum(dim=1).tolist()
        per_text = torch.split(hidden[mask.bool()], lengths)  # each text's own tokens, in order
        candidates = self._candidates(per_text, special_ids)
        out = torch.zeros(len(lengths), self.weight.shape[0], dtype=torch.float32, device=hidden.device)
        for row, tokens in enumerate(per_text):
            columns = torch.nonzero(candidates[row], as_tuple=True)[0]
            if columns.numel() and tokens.shape[0]:
                logits = torch.nn.functional.linear(tokens.float(), self.weight[columns], self.bias[columns]).unsqueeze(0)
                out[row, columns] = splade_pool(logits, torch.ones(logits.shape[:2], dtype=torch.long, device=logits.device))[0]
        return out

    def _bf16_maxima(self, per_text: tuple[torch.Tensor, ...]) -> torch.Tensor:
        """``[B, V]`` float32: each text's maximum bf16 logit (without bias) per term; -inf for an empty text.

        Texts go longest first into blocks of at most :data:`TOKEN_BLOCK` token rows, each padded to
        its longest text by repeating the text's first token (which leaves its maximum unchanged);
        the maximum over positions is a tree of element-wise maxima of halves (several times faster
        than ``amax`` over the token axis for bf16 on CPU)."""
        lengths = [t.shape[0] for t in per_text]
        hidden_size, vocab = self.weight.shape[1], self.weight.shape[0]
        maxima = torch.full((len(per_text), vocab), float("-inf"), dtype=torch.float32, device=self.weight.device)
        order = sorted((r for r in range(len(per_text)) if lengths[r]), key=lambda r: -lengths[r])
        for rows in _padded_blocks([lengths[r] for r in order], TOKEN_BLOCK):
            texts = [order[i] for i in rows]
            longest = lengths[texts[0]]
            block = torch.empty(len(texts), longest, hidden_size, dtype=torch.bfloat16, device=self.weight.device)
            for j, r in enumerate(texts):
                block[j, : lengths[r]] = per_text[r]
                block[j, lengths[r] :] = per_text[r][0]
            logits = (block.view(-1, hidden_size) @ self.weight_bf16_t).view(len(texts), longest, vocab)
            maxima[texts] = _max_over_positions(logits).float()
        return maxima

    def _candidates(self, per_text: tuple[torch.Tensor, ...], special_ids: torch.Tensor | None) -> torch.Tensor:
        """``[B, V]`` bool: the terms whose float32 weight may be positive."""
        maxima = self._bf16_maxima(per_text)
        norms = torch.stack([t.float().norm(dim=1).max() if t.shape[0] else t.new_zeros((), dtype=torch.float32) for t in per_text])
        finite = torch.nan_to_num(maxima, neginf=0.0)
        slack = PRODUCT_SLACK * norms[:, None] * self.weight_norms[None, :] + OUTPUT_SLACK * (finite.abs() + self.bias.abs()[None, :])
        candidates = (maxima + self.bias[None, :] + slack) > 0
        if special_ids is not None and special_ids.numel():
            candidates[:, special_ids.to(candidates.device)] = False
        return candidates


def _max_over_positions(values: torch.Tensor) -> torch.Tensor:
    """``[B, L, V]`` -> ``[B, V]`` maximum over L, as a tree of element-wise maxima of halves."""
    while values.shape[1] > 1:
        half = values.shape[1] // 2
        folded = torch.maximum(values[:, :half], values[:, half : 2 * half])
        if values.shape[1] % 2:
            folded[:, 0] = torch.maximum(folded[:, 0], values[:, 2 * half])
        values = folded
    return values[:, 0]


def _padded_blocks(lengths: list[int], budget: int) -> list[list[int]]:
    """Consecutive texts (longest first) grouped so that each group, right-padded to its first
    text's length, has at most ``budget`` token rows (or is one text)."""
    groups: list[list[int]] = []
    for row, n in enumerate(lengths):
        if groups and (len(groups[-1]) + 1) * lengths[groups[-1][0]] <= budget:
            groups[-1].append(row)
        else:
            groups.append([row])
    return groups
