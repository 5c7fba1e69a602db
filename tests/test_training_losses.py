"""Training losses and score functions against hand-computed values (pure torch, no models)."""
import math

import pytest
import torch

from tandem.retrieval.training import losses


def test_flops_on_a_2x3_batch():
    w = torch.tensor([[1.0, 0.0, 2.0], [3.0, 0.0, 4.0]], requires_grad=True)
    # column means: (1+3)/2 = 2, 0, (2+4)/2 = 3  ->  2^2 + 0^2 + 3^2 = 13
    value = losses.flops(w)
    assert value.item() == pytest.approx(13.0)
    # d/dw_ij = 2 * mean_j / N: column 0 -> 2*2/2 = 2, column 1 -> 0, column 2 -> 2*3/2 = 3
    value.backward()
    assert w.grad.tolist() == [[2.0, 0.0, 3.0], [2.0, 0.0, 3.0]]


def test_l0_threshold_variants():
    w = torch.tensor([[1.0, 0.0, 2.0], [3.0, 0.0, 4.0], [0.0, 0.0, 0.0]])
    # nonzeros per row: 2, 2, 0. max_active=1 keeps rows 0 and 1; means over all N=3 rows:
    # (1+3)/3, 0, (2+4)/3 -> (4/3)^2 + 2^2 = 16/9 + 4
    assert losses.flops(w, max_active=1).item() == pytest.approx(16 / 9 + 4)
    assert losses.thresholded_flops(w, 1).item() == pytest.approx(16 / 9 + 4)
    # max_active=2: no row has more than 2 active terms -> nothing penalised
    assert losses.flops(w, max_active=2).item() == 0.0
    # l1: row sums 3, 7, 0 -> mean 10/3; thresholded at 1: same rows count -> 10/3; at 2: 0
    assert losses.l1(w).item() == pytest.approx(10 / 3)
    assert losses.l1(w, max_active=1).item() == pytest.approx(10 / 3)
    assert losses.l1(w, max_active=2).item() == 0.0
    v = torch.tensor([[1.0, 1.0, 1.0], [5.0, 0.0, 0.0]])
    # only row 0 (3 active) is over 2: l1 = (3 + 0) / 2 = 1.5; flops = 3 * (1/2)^2 = 0.75
    assert losses.l1(v, max_active=2).item() == pytest.approx(1.5)
    assert losses.idf_aware_flops(v, torch.ones(3), max_active=2).item() == pytest.approx(0.75)


def test_idf_aware_flops_by_hand():
    w = torch.tensor([[1.0, 2.0], [3.0, 0.0]])
    idf = torch.tensor([0.5, 4.0])
    # raw-weight column means: 2, 1 -> IDF-aware FLOPS = 2^2 + 1^2 = 5 (the penalty sees the raw weights)
    assert losses.idf_aware_flops(w, idf).item() == pytest.approx(5.0)
    # same value written in score space a = idf * w: means 0.5*2 = 1, 4*1 = 4;
    # sum_j (1/idf_j^2) mean(a_j)^2 = (1/0.25)*1 + (1/16)*16 = 4 + 1 = 5
    assert sum((1 / i**2) * m**2 for i, m in [(0.5, 1.0), (4.0, 4.0)]) == pytest.approx(5.0)
    # the ablation, FLOPS on the score-space vectors: 1^2 + 4^2 = 17
    assert losses.plain_flops_score_space(w, idf).item() == pytest.approx(17.0)
    with pytest.raises(ValueError):
        losses.idf_aware_flops(w, torch.ones(3))


def test_idf_aware_gradient_is_larger_on_a_low_idf_term_for_the_same_activation():
    """Score-space activation a_t = idf_t * w_t (the term's weight in s(q, d)); equal for both terms."""
    idf = torch.tensor([0.5, 5.0])  # term 0 common (low IDF), term 1 rare (high IDF)
    a = torch.tensor([[2.0, 2.0]], requires_grad=True)
    losses.idf_aware_flops(a / idf, idf).backward()
    # d/da_j = 2 mean(a_j) / (N idf_j^2), N = 1: 2*2/0.25 = 16 and 2*2/25 = 0.16
    grad_low, grad_high = a.grad[0].tolist()
    assert grad_low == pytest.approx(16.0) and grad_high == pytest.approx(0.16)
    assert grad_low > grad_high > 0
    # without IDF-awareness both get 2*2 = 4
    a.grad = None
    losses.plain_flops_score_space(a / idf, idf).backward()
    assert a.grad[0].tolist() == pytest.approx([4.0, 4.0])


def test_idf_aware_penalty_costs_low_idf_terms_more_per_unit_of_score():
    """On raw weights: the score gradient is idf_t, the penalty gradient is not, so a low-IDF term pays
    more sparsity per unit of score and settles lower."""
    idf = torch.tensor([0.5, 5.0])
    w = torch.tensor([[1.0, 1.0]], requires_grad=True)
    losses.idf_aware_flops(w, idf).backward()
    # penalty gradient 2*1/1 = 2 on both raw weights; score gradient = idf -> ratio 4 vs 0.4
    penalty_per_score = (w.grad[0] / idf).tolist()
    assert penalty_per_score == pytest.approx([4.0, 0.4])
    # minimise -s + lam * penalty with N = 1: d/dw_t (-idf_t w_t + lam w_t^2) = 0 -> w_t = idf_t / (2 lam)
    lam = 0.5
    w = torch.zeros(1, 2, requires_grad=True)
    for _ in range(60):  # gradient descent, lr 0.5: w <- w + 0.5 (idf - w), error halves each step
        w.grad = None
        (-(w * idf).sum() + lam * losses.idf_aware_flops(w, idf)).backward()
        with torch.no_grad():
            w -= 0.5 * w.grad
    assert w.detach()[0].tolist() == pytest.approx([0.5, 5.0], rel=1e-4)  # idf / (2 * 0.5)


def test_quadratic_warmup():
    # lam * min(1, step/T)^2
    assert losses.quadratic_warmup(0, 10, 1.0) == 0.0
    assert losses.quadratic_warmup(5, 10, 2.0) == pytest.approx(0.5)  # 2 * 0.5^2
    assert losses.quadratic_warmup(1, 4, 8.0) == pytest.approx(0.5)  # 8 * (1/4)^2
    assert losses.quadratic_warmup(10, 10, 2.0) == 2.0
    assert losses.quadratic_warmup(20, 10, 2.0) == 2.0
    assert losses.quadratic_warmup(-3, 10, 2.0) == 0.0
    assert losses.quadratic_warmup(3, 0, 2.0) == 2.0


def test_kl_distillation_1x3():
    teacher = torch.tensor([[math.log(2.0), 0.0, 0.0]])  # softmax -> (2, 1, 1)/4 = (1/2, 1/4, 1/4)
    student = torch.zeros(1, 3, requires_grad=True)  # softmax -> (1/3, 1/3, 1/3)
    # KL(p || q) = 1/2 ln(1/2 / 1/3) + 2 * 1/4 ln(1/4 / 1/3) = 1/2 ln(3/2) + 1/2 ln(3/4) = 1/2 ln(9/8)
    value = losses.kl_distillation(student, teacher)
    assert value.item() == pytest.approx(0.5 * math.log(9 / 8), rel=1e-6)
    # d KL / d s = (q - p) / (tau * B) = (1/3 - 1/2, 1/3 - 1/4, 1/3 - 1/4) = (-1/6, 1/12, 1/12)
    value.backward()
    assert student.grad[0].tolist() == pytest.approx([-1 / 6, 1 / 12, 1 / 12], abs=1e-7)
    # temperature 2: p = (sqrt2, 1, 1)/(sqrt2 + 2), q uniform -> sum_i p_i ln(3 p_i)
    p = [math.sqrt(2) / (math.sqrt(2) + 2), 1 / (math.sqrt(2) + 2), 1 / (math.sqrt(2) + 2)]
    assert losses.kl_distillation(torch.zeros(1, 3), teacher, temperature=2.0).item() == pytest.approx(sum(x * math.log(3 * x) for x in p), rel=1e-5)  # float32
    assert losses.kl_distillation(teacher, teacher).item() == pytest.approx(0.0, abs=1e-7)
    # batchmean: two identical rows give the same value as one
    assert losses.kl_distillation(torch.zeros(2, 3), teacher.repeat(2, 1)).item() == pytest.approx(0.5 * math.log(9 / 8), rel=1e-6)


def test_margin_mse():
    # student margins 3-1 = 2 and 2-2 = 0; teacher margins 1-0 = 1 and 0.5-0.5 = 0 -> ((2-1)^2 + 0^2)/2 = 0.5
    mm = losses.margin_mse(torch.tensor([3.0, 2.0]), torch.tensor([1.0, 2.0]), torch.tensor([1.0, 0.5]), torch.tensor([0.0, 0.5]))
    assert mm.item() == pytest.approx(0.5)
    # candidates form, column 0 positive: student margins (3-1, 3-2) = (2, 1), teacher (1-0, 1-0) = (1, 1) -> (1 + 0)/2
    assert losses.margin_mse_candidates(torch.tensor([[3.0, 1.0, 2.0]]), torch.tensor([[1.0, 0.0, 0.0]])).item() == pytest.approx(0.5)


def test_info_nce_2x2():
    q = torch.tensor([[1.0, 0.0], [0.0, 2.0]])
    d = torch.eye(2)
    # scores [[1, 0], [0, 2]]: -log(e/(e+1)) = log(1 + e^-1) and -log(e^2/(e^2+1)) = log(1 + e^-2); mean
    expected = (math.log(1 + math.exp(-1)) + math.log(1 + math.exp(-2))) / 2
    assert losses.info_nce(q, d).item() == pytest.approx(expected, rel=1e-6)
    # temperature 0.5 doubles the scores: log(1 + e^-2) and log(1 + e^-4)
    assert losses.info_nce(q, d, temperature=0.5).item() == pytest.approx((math.log(1 + math.exp(-2)) + math.log(1 + math.exp(-4))) / 2, rel=1e-6)
    # an extra hard negative row (scores 1 and 2 against it): log(1 + e^-1 + e^0) and log(1 + e^-2 + e^0)
    extra = torch.cat([d, torch.tensor([[1.0, 1.0]])])
    assert losses.info_nce(q, extra).item() == pytest.approx((math.log(2 + math.exp(-1)) + math.log(2 + math.exp(-2))) / 2, rel=1e-6)


def test_inference_free_and_dot_scores():
    idf = torch.tensor([0.1, 1.0, 2.0, 3.0])
    ids = torch.tensor([[1, 2, 1, 3]])
    mask = torch.tensor([[1, 1, 1, 0]])  # token 3 is padding; token 1 repeats (presence counts once)
    q = losses.inference_free_query_reps(ids, idf, mask)
    assert q.tolist() == [[0.0, 1.0, 2.0, 0.0]]
    assert losses.inference_free_query_reps(ids, idf, mask, special_ids=[2]).tolist() == [[0.0, 1.0, 0.0, 0.0]]
    docs = torch.tensor([[9.0, 1.0, 1.0, 9.0], [0.0, 0.0, 2.0, 5.0]], requires_grad=True)  # [B*C, V], B=1, C=2
    # d0: idf_1*1 + idf_2*1 = 1 + 2 = 3; d1: 2*2 = 4 (tokens 0 and 3 are not in the query)
    assert losses.inference_free_scores(q, docs).tolist() == [[3.0, 4.0]]
    assert losses.inference_free_scores(q, docs.view(1, 2, 4)).tolist() == [[3.0, 4.0]]
    presence = torch.tensor([[0.0, 1.0, 1.0, 0.0]])
    assert losses.inference_free_scores(presence, docs, idf=idf).tolist() == [[3.0, 4.0]]
    # sparse query: same scores, gradient reaches the documents only on query terms (idf_t)
    scores = losses.inference_free_scores(q.to_sparse(), docs)
    assert scores.tolist() == [[3.0, 4.0]]
    scores.sum().backward()
    assert docs.grad.tolist() == [[0.0, 1.0, 2.0, 0.0]] * 2
    assert losses.inference_free_scores(presence.to_sparse(), docs, idf=idf).tolist() == [[3.0, 4.0]]
    # siamese: q = (1, 2) against (1, 1) and (0, 3) -> 3 and 6; two queries with one candidate each
    assert losses.dot_scores(torch.tensor([[1.0, 2.0]]), torch.tensor([[1.0, 1.0], [0.0, 3.0]])).tolist() == [[3.0, 6.0]]
    assert losses.dot_scores(torch.tensor([[1.0, 0.0], [0.0, 1.0]]), torch.tensor([[5.0, 7.0], [5.0, 7.0]])).tolist() == [[5.0], [7.0]]
    with pytest.raises(ValueError):
        losses.dot_scores(torch.ones(2, 2), torch.ones(3, 2))
