"""API docs served offline, /index without server paths, and the explain data the page groups by query word."""
from __future__ import annotations

import re
from pathlib import Path

import httpx
import pytest
from service_server import running_server

from tandem.service.paths import without_server_paths


def test_absolute_paths_become_relative_to_the_index_or_their_name(tmp_path):
    root = tmp_path / "idx"
    value = {
        "corpus": {"source": "/data/beir/scifact/corpus.jsonl", "num_docs": 3},
        "files": [str(root / "sparse" / "postings.npy"), "sparse/terms.npy"],
        "encoder": {"model": "naver/splade-v3", "location": "/venv/site-packages/cognition/model", "max_length": 256},
        "windows": "C:\\corpora\\msmarco.tsv",
        "not a path": ["/", "a/b", "query: "],
    }
    assert without_server_paths(value, root) == {
        "corpus": {"source": "corpus.jsonl", "num_docs": 3},
        "files": ["sparse/postings.npy", "sparse/terms.npy"],
        "encoder": {"model": "naver/splade-v3", "location": "model", "max_length": 256},
        "windows": "msmarco.tsv",
        "not a path": ["/", "a/b", "query: "],
    }


def test_word_pieces_map_to_the_query_words_they_come_from():
    from transformers import AutoTokenizer

    from tandem.retrieval.models import resolve_model
    from tandem.service.wordpieces import query_words_by_piece

    tokenizer = AutoTokenizer.from_pretrained(resolve_model("splade-tiny").location)
    query = "Statins lower LDL-cholesterol; statins again"
    pieces = query_words_by_piece(tokenizer, query)
    # Every piece the tokenizer makes is mapped, and to exactly the words (as typed) whose pieces include it.
    encoding = tokenizer(query, add_special_tokens=False)
    assert set(pieces) == set(encoding.tokens())
    assert pieces["stat"] == ["Statins", "statins"]  # case as typed, each word once, in query order
    assert pieces["##ins"] == ["Statins", "statins"]
    assert pieces["ld"] == ["LDL"] and pieces["##l"] == ["LDL"]
    assert pieces["-"] == ["-"]
    assert all(word in query for words in pieces.values() for word in words)


@pytest.fixture(scope="module")
def server(tiny_index):
    with running_server(tiny_index) as base:
        yield base


@pytest.mark.slow
def test_docs_load_only_assets_of_this_server(server):
    html = httpx.get(server + "/docs").text
    urls = re.findall(r'(?:src|href)="([^"]+)"', html)
    assert sorted(u for u in urls if u.endswith((".js", ".css"))) == ["/docs-assets/swagger-ui-bundle.js", "/docs-assets/swagger-ui.css"]
    for url in urls:
        response = httpx.get(server + url)
        assert response.status_code == 200 and len(response.content) > 1000, url
    # ReDoc is not served: it would fetch its logo from a CDN.
    assert httpx.get(server + "/redoc").status_code == 404


@pytest.mark.slow
def test_index_info_shows_no_absolute_server_path(server, tiny_index, tiny_corpus):
    info = httpx.get(server + "/index").json()
    text = repr(info)
    assert str(Path(tiny_index).parent) not in text and str(tiny_corpus.parent) not in text
    assert not re.search(r"'/[^']", text), "an absolute path is left in /index"
    assert info["manifest"]["corpus"]["source"] == tiny_corpus.name


@pytest.mark.slow
def test_explain_terms_name_their_query_words(server):
    body = {"query": "Vitamin deficiency and bone density", "k": 1, "explain": True, "fields": ["title"]}
    hit = httpx.post(server + "/search", json=body).json()["hits"][0]
    assert hit["doc_id"] == "d3"
    by_token = {t["token"]: t["query_words"] for t in hit["explain"]}
    assert by_token["vitamin"] == ["Vitamin"] and by_token["bone"] == ["bone"]
    words = {"Vitamin", "deficiency", "and", "bone", "density"}
    assert all(set(query_words) <= words for query_words in by_token.values())
