"""SPLADE encoder: matches a straightforward reference computation; sparse, non-negative, expands."""
import numpy as np
import torch


def reference_weights(encoder, text: str) -> np.ndarray:
    """SPLADE as published: max over tokens of log(1 + ReLU(logits)), special tokens zeroed."""
    batch = encoder.tokenizer([text], return_tensors="pt", truncation=True, max_length=encoder.config.max_length)
    with torch.no_grad():
        logits = encoder.model(**batch).logits[0]  # [L, V]
    weights = torch.log1p(torch.relu(logits)).max(dim=0).values.numpy()
    weights[list(set(encoder.tokenizer.all_special_ids))] = 0.0
    return weights


def test_matches_reference_computation(splade):
    texts = ["Vitamin D deficiency and bone density.", "A much longer text about mitochondria " * 5, "short"]
    vectors = splade.encode(texts)  # batched, sorted by length, padded
    for text, vec in zip(texts, vectors):
        dense = np.zeros(splade.vocab_size, dtype=np.float32)
        dense[vec.ids] = vec.weights
        np.testing.assert_allclose(dense, reference_weights(splade, text), atol=1e-5)


def test_output_is_sparse_nonnegative_and_sorted(splade):
    vec = splade.encode(["The mitochondria is the powerhouse of the cell."])[0]
    assert (vec.weights > 0).all()
    assert np.all(np.diff(vec.ids) > 0)
    assert 0 < vec.nnz < splade.vocab_size // 10
    special = set(splade.tokenizer.all_special_ids)
    assert not special & set(vec.ids.tolist())


def test_expansion_terms_beyond_the_text(splade):
    vec = splade.encode(["The Eiffel Tower is a famous landmark."])[0]
    top = splade.token_strings(vec.ids[np.argsort(-vec.weights)[:15]])
    assert "tower" in top and "landmark" in top
    # Expansion: related terms the text does not contain.
    assert {"monument", "building"} & set(top), top


def test_top_k_pruning_keeps_largest(splade):
    from tandem.retrieval.splade import SpladeConfig, SpladeEncoder

    pruned_encoder = SpladeEncoder(SpladeConfig(top_k=5))
    text = "Plants convert sunlight into glucose."
    full = splade.encode([text])[0]
    pruned = pruned_encoder.encode([text])[0]
    assert pruned.nnz == 5
    expected = np.sort(full.ids[np.argsort(-full.weights)[:5]])
    np.testing.assert_array_equal(pruned.ids, expected)
