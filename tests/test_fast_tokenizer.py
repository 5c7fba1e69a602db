"""The index's saved tokenizer loaded with ``tokenizers`` alone gives what ``AutoTokenizer`` gives."""
from __future__ import annotations

import pytest

from tandem.retrieval.fast_tokenizer import CharSpan, SavedTokenizer
from tandem.retrieval.models import resolve_model

TEXTS = [
    "Vitamin D deficiency increases the risk of bone fractures",
    "statins lower LDL-cholesterol (p<0.001); 0-dimensional biomaterials",
    "Ünïcödé àccents, ß, Ελληνικά, 中文字符, emoji 🙂 and café",
    "tabs\tand\nnewlines\r\nand  double  spaces and a control\x07char",
    "[CLS] [SEP] [MASK] typed special tokens, [unused1] and ##ins pieces",
    "",
    "x" * 150 + " a word longer than WordPiece's 100 characters",
    " ".join(["photosynthesis mitochondria"] * 400),  # more than 512 tokens
]


@pytest.fixture(scope="module", params=["splade-tiny", "minilm-l6"])
def pair(request, tmp_path_factory):
    """(AutoTokenizer, SavedTokenizer) over the same folder, as an index saves it (save_pretrained)."""
    from transformers import AutoTokenizer

    reference = AutoTokenizer.from_pretrained(resolve_model(request.param).location)
    folder = tmp_path_factory.mktemp(request.param) / "tokenizer"
    reference.save_pretrained(folder)
    return AutoTokenizer.from_pretrained(folder), SavedTokenizer(folder)


@pytest.mark.parametrize("special", [False, True])
def test_same_ids_with_and_without_special_tokens(pair, special):
    auto, fast = pair
    for text in TEXTS:
        assert fast(text, add_special_tokens=special)["input_ids"] == auto(text, add_special_tokens=special)["input_ids"], text[:40]
    assert fast(TEXTS, add_special_tokens=special)["input_ids"] == auto(TEXTS, add_special_tokens=special)["input_ids"]


@pytest.mark.parametrize("special", [False, True])
@pytest.mark.parametrize("max_length", [None, 512, 7])
def test_same_truncation(pair, special, max_length):
    auto, fast = pair
    got = fast(TEXTS, add_special_tokens=special, truncation=True, max_length=max_length)["input_ids"]
    assert got == auto(TEXTS, add_special_tokens=special, truncation=True, max_length=max_length)["input_ids"]
    assert max(len(ids) for ids in got) == (max_length or 512)


def test_same_vocabulary_special_ids_and_tokens(pair):
    auto, fast = pair
    assert set(fast.all_special_ids) == set(auto.all_special_ids)
    assert fast.get_vocab() == auto.get_vocab()
    assert len(fast) == len(auto)
    ids = list(range(0, len(auto), 997)) + [len(auto) - 1]
    assert fast.convert_ids_to_tokens(ids) == auto.convert_ids_to_tokens(ids)
    assert fast.convert_ids_to_tokens(101) == auto.convert_ids_to_tokens(101)


def test_same_word_positions_for_one_text(pair):
    auto, fast = pair
    for text in TEXTS[:5]:
        mine, theirs = fast(text, add_special_tokens=False), auto(text, add_special_tokens=False)
        assert mine.tokens() == theirs.tokens()
        assert mine.word_ids() == theirs.word_ids()
        for word in {w for w in theirs.word_ids() if w is not None}:
            assert mine.word_to_chars(word) == CharSpan(*theirs.word_to_chars(word))


def test_save_pretrained_copies_the_files_unchanged(pair, tmp_path):
    _, fast = pair
    fast.save_pretrained(tmp_path / "copy")
    for name in ("tokenizer.json", "tokenizer_config.json"):
        assert (tmp_path / "copy" / name).read_bytes() == (fast.directory / name).read_bytes()
    assert SavedTokenizer(tmp_path / "copy")(TEXTS[1])["input_ids"] == fast(TEXTS[1])["input_ids"]
