"""Losses and score functions for training learned sparse (and dense) retrievers.

Notation
--------
``w`` [N, V]: document term weights from the encoder, ``w(d) = max_i log(1 + ReLU(logits_i))``, so
``w >= 0``. ``idf`` [V]: the inference-free query weights (a fixed or trainable table).

Scoring
-------
- Inference-free: ``s(q, d) = sum_{t in q} idf_t * w_t(d)``. The query is the IDF-weighted bag of its
  tokens (presence, not counts; no model call), ``q_t = idf_t * 1[t in q]``, and ``s = q . w(d)``.
- Siamese: ``s(q, d) = q . d`` with both sides from the encoder.

Sparsity penalties
------------------
- ``flops(w) = sum_j (mean_i |w_ij|)^2`` (Paria et al., 2020; SPLADE).
- ``idf_aware_flops(w, idf)``: the IDF-aware FLOPS of Geng, Ru & Yang, "Towards Competitive Search
  Relevance for Inference-Free Learned Sparse Retrievers" (arXiv 2411.04403). The penalty is
  ``flops(w)``, taken on the *raw* document weights, while the ranking score carries the IDF
  (``s = sum_t idf_t w_t``). Writing ``a_t = idf_t w_t`` for a term's contribution to the score
  ("score space"), the same penalty reads

      idf_aware_flops(w, idf) = sum_j (mean_i w_ij)^2 = sum_j (1 / idf_j^2) (mean_i a_ij)^2,

  i.e. a FLOPS in score space whose per-term weight ``1 / idf_j^2`` decreases with IDF: common
  (low-IDF) terms are penalised hardest for the same contribution to the score. Equivalently, on a raw
  weight the ranking gradient is proportional to ``idf_t`` while the penalty gradient is not, so
  a low-IDF term pays more sparsity per unit of score it adds. (The paper's section text was not
  readable here; the form above is the one in the first author's training code,
  github.com/zhichao-aws/opensearch-sparse-model-tuning-sample: ``scripts/train/trainer.py``
  ``flops_value`` applies ``sum(mean(|d_rep|)^2)`` to the raw document representation and
  ``scripts/model/sparse_encoders.py`` ``_encode_inf_free`` builds the query as
  ``one_hot(tokens) * relu(idf)``; it matches the abstract, "suppresses the contribution of low-IDF
  tokens".)
- ``plain_flops_score_space(w, idf) = flops(idf * w)``: the ablation without IDF-awareness, every term
  penalised alike in score space (so on raw weights, high-IDF terms are penalised *more*).
- ``l1(w) = mean_i sum_j |w_ij|``.
- ℓ0-style threshold (``max_active=N`` on the penalties above): only documents with more than ``N``
  nonzero terms are penalised; the rest are zeroed before averaging over the whole batch, as in the
  authors' ``flops_threshold``.
- ``quadratic_warmup(step, T, lam) = lam * min(1, step / T)^2`` (SPLADE's schedule).

Ranking losses
--------------
- ``kl_distillation``: ``KL(softmax(t / tau) || softmax(s / tau))`` per query, mean over queries.
- ``margin_mse``: ``mean(((s+ - s-) - (t+ - t-))^2)`` (Hofstätter et al., 2020).
- ``info_nce``: in-batch negatives, cross entropy over ``q_i . d_j / tau`` with positive ``j = i``.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F

__all__ = [
    "active_mask", "dot_scores", "flops", "idf_aware_flops", "inference_free_query_reps", "inference_free_scores",
    "info_nce", "kl_distillation", "l1", "margin_mse", "margin_mse_candidates", "plain_flops_score_space",
    "quadratic_warmup", "thresholded_flops",
]


# --------------------------------------------------------------------------------------------------
# Sparsity


def active_mask(reps: torch.Tensor, max_active: int) -> torch.Tensor:
    """Float mask [N]: 1 for rows with more than ``max_active`` nonzero terms, else 0 (no gradient)."""
    if max_active < 0:
        raise ValueError(f"max_active must be >= 0, got {max_active}")
    return ((reps.detach() != 0).sum(dim=1) > max_active).to(reps.dtype)


def _masked(reps: torch.Tensor, max_active: int | None) -> torch.Tensor:
    return reps if max_active is None else reps * active_mask(reps, max_active).unsqueeze(1)


def flops(reps: torch.Tensor, max_active: int | None = None) -> torch.Tensor:
    """FLOPS regulariser ``sum_j (mean_i |reps_ij|)^2`` over a batch ``reps`` [N, V].

    With ``max_active=K`` (ℓ0-style threshold), rows with at most ``K`` nonzero terms are zeroed first;
    the mean is still over all ``N`` rows: ``sum_j ((1/N) sum_i m_i |reps_ij|)^2``, ``m_i = [nnz_i > K]``.
    """
    if reps.dim() != 2:
        raise ValueError(f"flops expects [N, V], got shape {tuple(reps.shape)}")
    return _masked(reps, max_active).abs().mean(dim=0).pow(2).sum()


def idf_aware_flops(doc_reps: torch.Tensor, idf: torch.Tensor, max_active: int | None = None) -> torch.Tensor:
    """IDF-aware FLOPS (arXiv 2411.04403) for inference-free scoring ``s = sum_t idf_t w_t(d)``.

    ``= sum_j (mean_i w_ij)^2 = sum_j (1 / idf_j^2) (mean_i idf_j w_ij)^2``: FLOPS on the raw document
    weights ``doc_reps`` [N, V]; ``idf`` [V] enters only through the score. In score space
    (``a = idf * w``) the per-term penalty weight is ``1 / idf^2``, and
    ``d penalty / d a_j = 2 mean_i(a_ij) / (N idf_j^2)``: larger on low-IDF terms for the same
    activation. See the module docstring for the source. ``idf`` is checked for shape only (terms with
    idf 0, e.g. special tokens, are still penalised on their raw weight).
    """
    if idf.dim() != 1 or idf.shape[0] != doc_reps.shape[-1]:
        raise ValueError(f"idf must be [V={doc_reps.shape[-1]}], got shape {tuple(idf.shape)}")
    return flops(doc_reps, max_active)


def plain_flops_score_space(doc_reps: torch.Tensor, idf: torch.Tensor, max_active: int | None = None) -> torch.Tensor:
    """``flops(idf * w)``: FLOPS on the score-space representation, no IDF-awareness (the ablation).

    Every term is penalised alike per unit of score; on raw weights the gradient scales with ``idf^2``.
    """
    if idf.dim() != 1 or idf.shape[0] != doc_reps.shape[-1]:
        raise ValueError(f"idf must be [V={doc_reps.shape[-1]}], got shape {tuple(idf.shape)}")
    return flops(_masked(doc_reps, max_active) * idf)


def thresholded_flops(reps: torch.Tensor, max_active: int) -> torch.Tensor:
    """``flops(reps, max_active=max_active)``: penalise only documents with more than ``max_active`` terms."""
    return flops(reps, max_active)


def l1(reps: torch.Tensor, max_active: int | None = None) -> torch.Tensor:
    """Mean L1 norm of the rows, ``(1/N) sum_i sum_j |reps_ij|``; with ``max_active``, only rows with
    more than that many nonzero terms count (still divided by ``N``)."""
    if reps.dim() != 2:
        raise ValueError(f"l1 expects [N, V], got shape {tuple(reps.shape)}")
    return _masked(reps, max_active).abs().sum(dim=1).mean()


def quadratic_warmup(step: int, total_warmup: int, lam: float) -> float:
    """``lam * min(1, step / T)^2`` with ``T = total_warmup`` (``step < 0`` counts as 0; ``T <= 0``: ``lam``)."""
    if total_warmup <= 0:
        return float(lam)
    return float(lam) * min(1.0, max(0.0, step / total_warmup)) ** 2


# --------------------------------------------------------------------------------------------------
# Ranking losses


def kl_distillation(student_scores: torch.Tensor, teacher_scores: torch.Tensor, temperature: float = 1.0) -> torch.Tensor:
    """``(1/B) sum_b KL(softmax(t_b / tau) || softmax(s_b / tau))`` over [B, C] candidate scores.

    ``= (1/B) sum_b sum_c p_bc (log p_bc - log_softmax(s_b / tau)_c)``, ``p = softmax(t / tau)``;
    computed with ``log_softmax`` on both sides (no ``tau^2`` factor). The teacher gets no gradient.
    """
    if student_scores.shape != teacher_scores.shape or student_scores.dim() != 2:
        raise ValueError(f"student and teacher scores must both be [B, C], got {tuple(student_scores.shape)} and {tuple(teacher_scores.shape)}")
    if temperature <= 0:
        raise ValueError(f"temperature must be > 0, got {temperature}")
    log_p_teacher = F.log_softmax(teacher_scores.detach() / temperature, dim=-1)
    log_p_student = F.log_softmax(student_scores / temperature, dim=-1)
    return F.kl_div(log_p_student, log_p_teacher, reduction="batchmean", log_target=True)


def margin_mse(student_pos: torch.Tensor, student_neg: torch.Tensor, teacher_pos: torch.Tensor, teacher_neg: torch.Tensor) -> torch.Tensor:
    """Margin-MSE (Hofstätter et al., 2020): ``mean(((s+ - s-) - (t+ - t-))^2)`` over the pairs."""
    return F.mse_loss(student_pos - student_neg, (teacher_pos - teacher_neg).detach())


def margin_mse_candidates(student: torch.Tensor, teacher: torch.Tensor) -> torch.Tensor:
    """Margin-MSE on [B, C] scores with column 0 as the positive and every other column a negative."""
    return margin_mse(student[:, :1], student[:, 1:], teacher[:, :1], teacher[:, 1:])


def info_nce(query_reps: torch.Tensor, doc_reps: torch.Tensor, temperature: float = 1.0) -> torch.Tensor:
    """InfoNCE with in-batch negatives: ``mean_i -log softmax_j(q_i . d_j / tau)[i]``.

    ``query_reps`` [B, V], ``doc_reps`` [M, V] with ``M >= B``: query ``i``'s positive is document
    ``i`` (the diagonal); every other document, including extra rows ``B..M-1`` (hard negatives), is a
    negative. For inference-free training pass ``inference_free_query_reps(...)`` as ``query_reps``.
    """
    if query_reps.dim() != 2 or doc_reps.dim() != 2 or doc_reps.shape[0] < query_reps.shape[0]:
        raise ValueError(f"info_nce expects queries [B, V] and documents [M>=B, V], got {tuple(query_reps.shape)} and {tuple(doc_reps.shape)}")
    if temperature <= 0:
        raise ValueError(f"temperature must be > 0, got {temperature}")
    scores = query_reps @ doc_reps.T / temperature
    return F.cross_entropy(scores, torch.arange(scores.shape[0], device=scores.device))


# --------------------------------------------------------------------------------------------------
# Score functions


def inference_free_query_reps(input_ids: torch.Tensor, idf: torch.Tensor, attention_mask: torch.Tensor | None = None,
                              special_ids: list[int] | torch.Tensor | None = None) -> torch.Tensor:
    """IDF-weighted bag of query tokens [B, V]: ``q_bt = idf_t`` if token ``t`` occurs in query ``b``
    (presence, not counts; padding and ``special_ids`` excluded), else 0. No model call."""
    present = torch.zeros(input_ids.shape[0], idf.shape[0], dtype=idf.dtype, device=input_ids.device)
    values = torch.ones_like(input_ids, dtype=idf.dtype) if attention_mask is None else attention_mask.to(idf.dtype)
    present.scatter_reduce_(1, input_ids, values, reduce="amax")
    if special_ids is not None and len(special_ids):
        present[:, torch.as_tensor(special_ids, device=present.device)] = 0.0
    return present * idf


def _grouped_docs(doc_reps: torch.Tensor, batch: int) -> torch.Tensor:
    if doc_reps.dim() == 3:
        if doc_reps.shape[0] != batch:
            raise ValueError(f"documents [B, C, V] must have B={batch}, got {tuple(doc_reps.shape)}")
        return doc_reps
    if doc_reps.dim() != 2 or batch == 0 or doc_reps.shape[0] % batch:
        raise ValueError(f"documents must be [B*C, V] (query-major) or [B, C, V] for B={batch}, got {tuple(doc_reps.shape)}")
    return doc_reps.view(batch, doc_reps.shape[0] // batch, doc_reps.shape[1])


def dot_scores(query_reps: torch.Tensor, doc_reps: torch.Tensor) -> torch.Tensor:
    """Siamese scores ``s_bc = q_b . d_bc`` [B, C] for queries [B, V] and each query's candidates,
    given as [B*C, V] (query-major: rows ``b*C .. b*C+C-1`` belong to query ``b``) or [B, C, V]."""
    docs = _grouped_docs(doc_reps, query_reps.shape[0])
    return torch.einsum("bv,bcv->bc", query_reps, docs)


def inference_free_scores(query_token_weights: torch.Tensor, doc_reps: torch.Tensor, idf: torch.Tensor | None = None) -> torch.Tensor:
    """Inference-free scores ``s_bc = sum_t q_bt w_t(d_bc)`` [B, C].

    ``query_token_weights`` [B, V], dense or a torch sparse (COO) tensor, is the IDF-weighted bag of
    query tokens (see ``inference_free_query_reps``); if ``idf`` [V] is given, the weights are taken as
    token presence/counts and multiplied by it. Candidates as in ``dot_scores``. With a sparse query
    only its nonzero entries are gathered from the documents (differentiable in ``doc_reps``).
    """
    batch = query_token_weights.shape[0]
    docs = _grouped_docs(doc_reps, batch)
    if not query_token_weights.is_sparse:
        weights = query_token_weights if idf is None else query_token_weights * idf
        return torch.einsum("bv,bcv->bc", weights, docs)
    q = query_token_weights.coalesce()
    rows, terms = q.indices()
    values = q.values() if idf is None else q.values() * idf[terms]
    contrib = values.unsqueeze(1) * docs[rows, :, terms]  # [nnz, C]
    return torch.zeros(batch, docs.shape[1], dtype=contrib.dtype, device=contrib.device).index_add(0, rows, contrib)
