"""An engine the index lives in going away (a Milvus server, say) is the server's trouble, not the request's:
503 with one line naming it, and the same server answers again once the engine is back."""
from __future__ import annotations

from starlette.testclient import TestClient

from tandem.index.errors import BackendUnavailable
from tandem.retrieval.searcher import Searcher
from tandem.service.app import create_app


def test_an_unreachable_backend_answers_503_then_recovers(tiny_if_index, monkeypatch):
    searcher = Searcher.open(tiny_if_index)
    with TestClient(create_app(searcher), base_url="http://localhost") as client:
        before = client.post("/search", json={"query": "eiffel tower", "k": 2, "mode": "sparse"})
        assert before.status_code == 200
        retriever = searcher.retriever("sparse")
        working = retriever.search

        def down(*args, **kwargs):
            raise BackendUnavailable("Milvus search failed: connection refused", "http://127.0.0.1:19530")

        monkeypatch.setattr(retriever, "search", down)
        r = client.post("/search", json={"query": "eiffel tower", "k": 2, "mode": "sparse"})
        assert r.status_code == 503
        assert r.json() == {"error": {"field": None, "message": "http://127.0.0.1:19530: Milvus search failed: connection refused"}}
        assert client.get("/health").status_code == 200
        monkeypatch.setattr(retriever, "search", working)
        after = client.post("/search", json={"query": "eiffel tower", "k": 2, "mode": "sparse"})
        assert after.status_code == 200 and after.json()["hits"] == before.json()["hits"]
