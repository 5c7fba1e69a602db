"""Losses for training learned sparse and dense retrievers.

Notation: ``w`` [N, V] are document term weights from the encoder (non-negative), ``idf`` [V] the
inference-free query weights, so an inference-free score is ``s(q, d) = sum_{t in q} idf_t w_t(d)``:
the matching function sees the document as ``a = idf ⊙ w`` ("score space").

Sparsity:
- ``flops(w) = sum_j (mean_i w_ij)^2`` (Paria et al., 2020; SPLADE).
- ``plain_flops_score_space(w, idf) = flops(idf ⊙ w)``: FLOPS on the representation the matching
  function uses; every term is penalised alike in score space.
- ``idf_aware_flops(w, idf) = sum_j (1 / idf_j^2) (mean_i idf_j w_ij)^2``: the same FLOPS term
  rescaled per term by ``1 / idf^2``. It equals ``flops(w)`` (the penalty acts on the raw weights)
  while the ranking score carries the IDF, so in score space a term is penalised in proportion to
  ``1 / idf_t^2``: common, low-IDF terms are suppressed hardest and informative terms keep their
  weight (arXiv 2411.04403, "IDF-aware FLOPS"). The gradient with respect to a score-space
  activation ``a_j`` is ``2 mean(a_j) / (N idf_j^2)``: larger for low-IDF terms.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F


def flops(reps: torch.Tensor) -> torch.Tensor:
    """FLOPS regulariser: ``sum_j (mean_i reps_ij)^2`` over a batch [N, V]."""
    return reps.mean(dim=0).pow(2).sum()


def plain_flops_score_space(doc_reps: torch.Tensor, idf: torch.Tensor) -> torch.Tensor:
    """FLOPS on ``idf ⊙ w``: no IDF-awareness, every term treated alike in score space."""
    return flops(doc_reps * idf)


def idf_aware_flops(doc_reps: torch.Tensor, idf: torch.Tensor, eps: float = 1e-6) -> torch.Tensor:
    """IDF-aware FLOPS: ``sum_j (1/idf_j^2) (mean_i idf_j w_ij)^2`` (see the module docstring)."""
    idf = idf.clamp(min=eps)
    score_space = (doc_reps * idf).mean(dim=0)
    return (score_space.pow(2) / idf.pow(2)).sum()


def l1(reps: torch.Tensor) -> torch.Tensor:
    """Mean L1 norm of the rows (a sparsity penalty often used on queries)."""
    return reps.abs().sum(dim=1).mean()


def thresholded(penalty_per_row: torch.Tensor, reps: torch.Tensor, max_active: int) -> torch.Tensor:
    """l0-style threshold: keep a row's penalty only if it has more than ``max_active`` nonzeros."""
    active = (reps > 0).sum(dim=1)
    return (penalty_per_row * (active > max_active).to(penalty_per_row.dtype)).mean()


def thresholded_flops(reps: torch.Tensor, max_active: int) -> torch.Tensor:
    """FLOPS over only the documents with more than ``max_active`` active terms."""
    mask = (reps > 0).sum(dim=1) > max_active
    if not mask.any():
        return reps.sum() * 0.0
    return flops(reps[mask]) * mask.float().mean()


def quadratic_warmup(step: int, warmup_steps: int, lam: float) -> float:
    """``lam * min(1, step / T)^2`` (SPLADE's schedule for the sparsity weight)."""
    if warmup_steps <= 0:
        return lam
    return lam * min(1.0, step / warmup_steps) ** 2


def kl_distillation(student: torch.Tensor, teacher: torch.Tensor, temperature: float = 1.0) -> torch.Tensor:
    """``KL(softmax(teacher/τ) || softmax(student/τ))`` over each query's candidates, batch mean."""
    target = F.softmax(teacher / temperature, dim=-1)
    return F.kl_div(F.log_softmax(student / temperature, dim=-1), target, reduction="batchmean")


def margin_mse(student_pos: torch.Tensor, student_neg: torch.Tensor, teacher_pos: torch.Tensor, teacher_neg: torch.Tensor) -> torch.Tensor:
    """Margin-MSE (Hofstätter et al., 2020): ``mean((Δ_student - Δ_teacher)^2)``."""
    return F.mse_loss(student_pos - student_neg, teacher_pos - teacher_neg)


def margin_mse_candidates(student: torch.Tensor, teacher: torch.Tensor) -> torch.Tensor:
    """Margin-MSE with column 0 as the positive and every other column as a negative."""
    return F.mse_loss(student[:, :1] - student[:, 1:], teacher[:, :1] - teacher[:, 1:])


def info_nce(query_reps: torch.Tensor, doc_reps: torch.Tensor, temperature: float = 1.0) -> torch.Tensor:
    """InfoNCE with in-batch negatives: query i's positive is document i (the diagonal)."""
    scores = query_reps @ doc_reps.T / temperature
    return F.cross_entropy(scores, torch.arange(scores.shape[0], device=scores.device))


def inference_free_scores(query_weights: torch.Tensor, doc_reps: torch.Tensor) -> torch.Tensor:
    """Scores [B, C] from IDF query vectors [B, V] and candidate documents [B, C, V]."""
    return torch.einsum("bv,bcv->bc", query_weights, doc_reps)
