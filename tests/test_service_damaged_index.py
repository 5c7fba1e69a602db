"""A damaged index found while serving is the server's fault: 503 with the file named, not a 4xx."""
from fastapi.testclient import TestClient

from tandem.index.errors import IndexFormatError
from tandem.retrieval.searcher import Searcher
from tandem.service.app import ServiceSettings, create_app


def test_index_format_error_during_search_is_503(tiny_if_index, monkeypatch):
    searcher = Searcher.open(tiny_if_index)
    original = Searcher.batch_search

    def damaged(self, queries, *args, **kwargs):
        if queries[0] == "damaged":
            raise IndexFormatError("doc ids out of range", "segments/s1/sparse/postings_gaps.npy")
        return original(self, queries, *args, **kwargs)

    monkeypatch.setattr(Searcher, "batch_search", damaged)
    with TestClient(create_app(searcher, ServiceSettings(threads=1)), base_url="http://localhost") as client:
        ok = client.post("/search", json={"query": "vitamin bone", "k": 3})
        bad = client.post("/search", json={"query": "damaged", "k": 3})
    assert ok.status_code == 200 and ok.json()["hits"][0]["doc_id"] == "d3"
    assert bad.status_code == 503
    assert "postings_gaps.npy" in bad.json()["error"]["message"] and "--verify" in bad.json()["error"]["message"]
