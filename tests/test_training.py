"""Training: losses by hand, ensemble teacher, teacher-file round trip, a few real training steps."""
import json
import math

import numpy as np
import pytest
import torch

from tandem.index.errors import InputError
from tandem.retrieval.training import losses
from tandem.retrieval.training.teacher import TeacherRecord, ensemble, minmax_normalize, read_teacher_file, write_teacher_file


def test_flops_by_hand():
    w = torch.tensor([[1.0, 0.0, 2.0], [3.0, 0.0, 0.0]])
    # column means: 2, 0, 1 -> 4 + 0 + 1
    assert losses.flops(w).item() == pytest.approx(5.0)


def test_plain_and_idf_aware_flops_by_hand():
    w = torch.tensor([[1.0, 2.0], [3.0, 0.0]])
    idf = torch.tensor([0.5, 4.0])
    # score space a = idf * w: column means 0.5*2 = 1.0, 4*1 = 4.0
    assert losses.plain_flops_score_space(w, idf).item() == pytest.approx(1.0**2 + 4.0**2)
    # idf-aware: (1/0.25)*1 + (1/16)*16 = 4 + 1 = 5 = flops(w) (means 2 and 1)
    assert losses.idf_aware_flops(w, idf).item() == pytest.approx(5.0)
    assert losses.idf_aware_flops(w, idf).item() == pytest.approx(losses.flops(w).item())


def test_idf_aware_gradient_is_larger_on_low_idf_terms():
    """Same score-space activation on a common and a rare term: the common one is pushed harder."""
    idf = torch.tensor([0.5, 5.0])  # term 0 common, term 1 rare
    activation = torch.tensor([[2.0, 2.0]], requires_grad=True)  # a = idf * w, equal for both terms
    losses.idf_aware_flops(activation / idf, idf).backward()
    grad_low, grad_high = activation.grad[0].tolist()
    assert grad_low > grad_high > 0
    assert grad_low / grad_high == pytest.approx((5.0 / 0.5) ** 2)  # 1/idf^2 ratio
    # plain FLOPS in score space treats them alike
    activation.grad = None
    losses.plain_flops_score_space(activation / idf, idf).backward()
    assert activation.grad[0, 0].item() == pytest.approx(activation.grad[0, 1].item())


def test_kl_margin_mse_infonce_by_hand():
    student = torch.tensor([[1.0, 0.0, 0.0]])
    teacher = torch.tensor([[0.0, 0.0, 0.0]])
    # KL(uniform || softmax(1,0,0)) = sum_i 1/3 * (log(1/3) - log p_i), p = (e, 1, 1)/(e+2)
    p = np.array([math.e, 1, 1]) / (math.e + 2)
    expected = sum(1 / 3 * (math.log(1 / 3) - math.log(pi)) for pi in p)
    assert losses.kl_distillation(student, teacher).item() == pytest.approx(expected, rel=1e-5)
    assert losses.kl_distillation(teacher, teacher).item() == pytest.approx(0.0, abs=1e-7)
    # Margin-MSE: student margins 3-1=2 and 2-2=0; teacher margins 1 and 0 -> ((2-1)^2 + 0)/2
    mm = losses.margin_mse(torch.tensor([3.0, 2.0]), torch.tensor([1.0, 2.0]), torch.tensor([1.0, 0.5]), torch.tensor([0.0, 0.5]))
    assert mm.item() == pytest.approx(0.5)
    # InfoNCE 2x2: q0.d0 = 1, q0.d1 = 0, q1.d0 = 0, q1.d1 = 1 -> -log(e/(e+1)) each
    q = torch.eye(2)
    assert losses.info_nce(q, q).item() == pytest.approx(-math.log(math.e / (math.e + 1)), rel=1e-6)


def test_quadratic_warmup():
    assert losses.quadratic_warmup(0, 10, 1.0) == 0.0
    assert losses.quadratic_warmup(5, 10, 2.0) == pytest.approx(0.5)
    assert losses.quadratic_warmup(20, 10, 2.0) == 2.0


def test_minmax_ensemble_with_missing_candidate():
    assert minmax_normalize([2.0, 4.0, 3.0]).tolist() == [0.0, 1.0, 0.5]
    assert minmax_normalize([7.0, 7.0]).tolist() == [0.0, 0.0]
    # dense over (a, b, c): 0.2, 0.6, 1.0 -> 0, 0.5, 1
    # bm25 over (a, b, c): 10, None, 30 -> missing b takes bm25's minimum (10) -> 0, 0, 1
    combined = ensemble({"dense": [0.2, 0.6, 1.0], "bm25": [10.0, None, 30.0]}, scale=30)
    np.testing.assert_allclose(combined, [0.0, 30 * (0.5 + 0) / 2, 30.0])
    weighted = ensemble({"dense": [0.2, 0.6, 1.0], "bm25": [10.0, None, 30.0]}, {"dense": 3.0, "bm25": 1.0}, scale=1)
    np.testing.assert_allclose(weighted, [0.0, 3 * 0.5 / 4, 1.0])


def test_teacher_file_round_trip_and_errors(tmp_path):
    records = [TeacherRecord("q1", "a query", ["d1", "d2"], {"dense": [0.5, 0.25], "bm25": [None, 3.0]}, [15.0, 7.5], ["d1"])]
    path = tmp_path / "teachers.jsonl"
    write_teacher_file(path, {"teachers": ["dense", "bm25"], "scale": 30.0}, records)
    loaded = read_teacher_file(path)
    assert loaded.records == records and loaded.header["teachers"] == ["dense", "bm25"]
    lines = path.read_text().splitlines()
    path.write_text("\n".join(lines[:1] + ['{"qid": "q2", "query": "x", "doc_ids": ["d1"], "scores": {"dense": [1, 2]}, "ensemble": [1]}']) + "\n")
    with pytest.raises(InputError, match="differ in length") as info:
        read_teacher_file(path)
    assert info.value.where == f"{path}:2"
    path.write_text('{"format": "something else"}\n')
    with pytest.raises(InputError, match="not a teacher-score file"):
        read_teacher_file(path)


@pytest.fixture(scope="module")
def tiny_training_setup(tmp_path_factory, tiny_corpus):
    """A teacher file over the tiny corpus: for each query, the matching document scores highest."""
    root = tmp_path_factory.mktemp("train")
    pairs = [("vitamin deficiency bones", "d3"), ("tower in paris", "d1"), ("plants make glucose", "d2"), ("programming language typing", "d4")]
    records = []
    for query, positive in pairs:
        doc_ids = ["d1", "d2", "d3", "d4", "d5"]
        scores = {"dense": [1.0 if d == positive else 0.1 * i for i, d in enumerate(doc_ids)]}
        records.append(TeacherRecord(positive, query, doc_ids, scores, ensemble(scores).tolist(), [positive]))
    path = root / "teachers.jsonl"
    write_teacher_file(path, {"teachers": ["dense"], "scale": 30.0}, records)
    return root, path


@pytest.mark.slow
def test_training_steps_reduce_loss_keep_weights_nonnegative_and_reload(tiny_training_setup, tiny_corpus, splade):
    from tandem.retrieval.splade import SpladeConfig, SpladeEncoder
    from tandem.retrieval.training.sparse import SparseTrainConfig, train_sparse

    root, teacher_file = tiny_training_setup
    out = root / "student"
    config = SparseTrainConfig(teacher_file=str(teacher_file), corpus=str(tiny_corpus), out=str(out), candidates=4, batch_queries=4,
                               max_steps=12, lr=3e-4, lambda_d=1e-3, warmup_steps=2, max_length=64)
    summary = train_sparse(config)
    history = summary["history"]
    first, last = np.mean([h["rank"] for h in history[:3]]), np.mean([h["rank"] for h in history[-3:]])
    assert last < first
    saved = json.loads((out / "tandem_training.json").read_text())
    assert saved["config"]["sparsity"] == "idf-aware" and saved["steps"] == 12
    # The checkpoint is an HF folder the encoder (and `tandem index build --sparse PATH`) loads directly.
    student = SpladeEncoder(SpladeConfig(str(out)))
    texts = ["Vitamin D deficiency", "The Eiffel Tower"]
    a, b = student.encode(texts), SpladeEncoder(SpladeConfig(str(out))).encode(texts)
    for x, y in zip(a, b):
        np.testing.assert_array_equal(x.ids, y.ids)
        np.testing.assert_allclose(x.weights, y.weights)
        assert (x.weights > 0).all()
    # Training changed the model.
    assert any(not np.array_equal(x.ids, y.ids) or not np.allclose(x.weights, y.weights) for x, y in zip(a, splade.encode(texts)))


@pytest.mark.slow
def test_trainable_idf_is_saved_as_idf_json(tiny_training_setup, tiny_corpus):
    from tandem.retrieval.training.sparse import SparseTrainConfig, train_sparse

    root, teacher_file = tiny_training_setup
    out = root / "student-idf"
    train_sparse(SparseTrainConfig(teacher_file=str(teacher_file), corpus=str(tiny_corpus), out=str(out), candidates=3, batch_queries=2,
                                   max_steps=2, idf_lr=1e-2, max_length=32))
    table = json.loads((out / "idf.json").read_text())
    assert table and all(v > 0 for v in table.values())
