"""One pooling implementation: hand-computed values, and training forward == serving encoder."""
import json

import numpy as np
import pytest
import torch

from tandem.index.errors import TandemError
from tandem.retrieval.pooling import model_pooling, pool, splade_pool

# two texts of 3 and 2 tokens (right padding), hidden size 2
HIDDEN = torch.tensor([[[1.0, -2.0], [3.0, 0.0], [-1.0, 4.0]], [[2.0, 2.0], [0.0, -6.0], [9.0, 9.0]]])
MASK = torch.tensor([[1, 1, 1], [1, 1, 0]])


def test_dense_pooling_by_hand_ignores_padding():
    assert pool(HIDDEN, MASK, "cls").tolist() == [[1.0, -2.0], [2.0, 2.0]]
    torch.testing.assert_close(pool(HIDDEN, MASK, "mean"), torch.tensor([[1.0, 2.0 / 3.0], [1.0, -2.0]]))
    assert pool(HIDDEN, MASK, "max").tolist() == [[3.0, 4.0], [2.0, 2.0]]  # the padded (9, 9) never wins
    with pytest.raises(TandemError, match="unknown pooling 'sum'"):
        pool(HIDDEN, MASK, "sum")


@pytest.mark.parametrize("mask", [[[1, 1, 1], [1, 1, 0]], [[1, 1, 1], [0, 1, 1]]], ids=["right-padded", "left-padded"])
def test_splade_pool_by_hand(mask):
    logits = torch.tensor([[[0.5, -1.0, 2.0, 1.0], [3.0, -2.0, 0.0, 0.0], [1.0, -1.0, 1.0, 7.0]],
                           [[1.0, 0.0, -3.0, 5.0], [2.0, -1.0, -1.0, 0.0], [4.0, 1.0, 9.0, 1.0]]])
    mask = torch.tensor(mask)
    weights = splade_pool(logits, mask, special_ids=torch.tensor([3]))
    kept = [logits[i][mask[i].bool()] for i in range(2)]
    expected = torch.stack([torch.log1p(torch.relu(k)).amax(dim=0) for k in kept])
    expected[:, 3] = 0.0
    torch.testing.assert_close(weights, expected)
    first_row = [np.log1p(3.0), 0.0, np.log1p(2.0), 0.0]
    assert weights[0].tolist() == pytest.approx(first_row)


def test_splade_pool_keeps_gradients():
    logits = torch.tensor([[[1.0, -1.0], [2.0, 0.5]]], requires_grad=True)
    splade_pool(logits, torch.tensor([[1, 0]])).sum().backward()
    # only the unpadded token's positive logit gets a gradient: d log(1 + x) / dx = 1 / (1 + x) at x = 1
    assert logits.grad.tolist() == [[[0.5, 0.0], [0.0, 0.0]]]


@pytest.fixture(scope="module")
def tiny_max_pooling_model(tmp_path_factory):
    """A random 1-layer BERT saved as a sentence-transformers folder that declares max pooling."""
    from transformers import AutoTokenizer, BertConfig, BertModel

    from tandem.retrieval.models import resolve_model

    folder = tmp_path_factory.mktemp("tiny-max-pooling")
    tokenizer = AutoTokenizer.from_pretrained(resolve_model("minilm-l6").location)
    torch.manual_seed(0)
    config = BertConfig(vocab_size=tokenizer.vocab_size, hidden_size=16, num_hidden_layers=1, num_attention_heads=2, intermediate_size=32)
    BertModel(config).save_pretrained(folder)
    tokenizer.save_pretrained(folder)
    (folder / "1_Pooling").mkdir()
    (folder / "1_Pooling" / "config.json").write_text(json.dumps({"word_embedding_dimension": 16, "pooling_mode_max_tokens": True}))
    return folder


def test_max_pooling_model_is_trained_as_it_is_served(tiny_max_pooling_model):
    from transformers import AutoModel, AutoTokenizer

    from tandem.retrieval.dense_encoder import DenseConfig, DenseEncoder
    from tandem.retrieval.models import resolve_model
    from tandem.retrieval.training.dense import student_embeddings

    texts = ["a short one", "a somewhat longer text about vitamin d and bone density", "paris"]
    ref = resolve_model(str(tiny_max_pooling_model))
    assert model_pooling(ref) == "max"
    served = DenseEncoder(DenseConfig(model=str(tiny_max_pooling_model), batch_size=2)).encode_documents(texts)
    model = AutoModel.from_pretrained(tiny_max_pooling_model).eval()
    tokenizer = AutoTokenizer.from_pretrained(tiny_max_pooling_model)
    with torch.no_grad():
        trained = student_embeddings(model, tokenizer, texts, model_pooling(ref), max_length=256).numpy()
        mean = student_embeddings(model, tokenizer, texts, "mean", max_length=256).numpy()
    np.testing.assert_allclose(trained, served, atol=1e-5)
    assert np.abs(mean - served).max() > 0.05  # the old training forward (mean) would have failed this test


def test_splade_training_forward_equals_the_serving_encoder(splade):
    from tandem.retrieval.splade import SpladeConfig, SpladeEncoder

    texts = ["vitamin d", "the eiffel tower is a wrought-iron lattice tower in paris"]
    enc = splade.tokenizer(texts, padding=True, truncation=True, max_length=64, return_tensors="pt")
    special = torch.tensor(sorted(set(splade.tokenizer.all_special_ids)))
    with torch.no_grad():
        trained = splade_pool(splade.model(**enc).logits, enc["attention_mask"], special)
    served = SpladeEncoder.around(splade.model, splade.tokenizer, SpladeConfig(max_length=64)).encode(texts)
    for row, vector in zip(trained, served):
        ids = torch.nonzero(row).flatten().numpy()
        np.testing.assert_array_equal(ids, vector.ids)
        np.testing.assert_allclose(row[ids].numpy(), vector.weights, rtol=1e-5)


def test_dense_training_keeps_the_declared_pooling(tiny_max_pooling_model, tiny_corpus, tmp_path):
    """Two steps of `train dense` on the max-pooling model: the saved student still declares max
    pooling, is served with it, and its weights moved."""
    from transformers import AutoModel

    from tandem.retrieval.dense_encoder import DenseConfig, DenseEncoder
    from tandem.retrieval.training.dense import DenseTrainConfig, train_dense
    from tandem.retrieval.training.teacher import TeacherRecord, ensemble, write_teacher_file

    doc_ids = ["d1", "d2", "d3", "d4", "d5"]
    records = []
    for i, (query, positive) in enumerate([("vitamin deficiency bones", "d3"), ("tower in paris", "d1")]):
        scores = {"dense": [1.0 if d == positive else 0.1 * j for j, d in enumerate(doc_ids)]}
        records.append(TeacherRecord(f"t{i}", query, doc_ids, scores, ensemble(scores).tolist(), [positive]))
    teacher_file = tmp_path / "teachers.jsonl"
    write_teacher_file(teacher_file, {"teachers": ["dense"], "scale": 30.0}, records)
    out = tmp_path / "student"
    summary = train_dense(DenseTrainConfig(teacher_file=str(teacher_file), corpus=str(tiny_corpus), out=str(out), student=str(tiny_max_pooling_model),
                                           candidates=3, batch_queries=2, max_steps=2, lr=1e-2, max_length=32))
    assert [h["step"] for h in summary["history"]] == [1, 2]
    assert DenseEncoder(DenseConfig(model=str(out))).pooling == "max"
    before = AutoModel.from_pretrained(tiny_max_pooling_model).embeddings.word_embeddings.weight
    after = AutoModel.from_pretrained(out).embeddings.word_embeddings.weight
    assert not torch.equal(before, after)
