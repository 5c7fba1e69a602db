"""REST service over HTTP: every endpoint, bad input -> 4xx with the field named, API keys."""
import json

import httpx
import pytest

from tandem.index.limits import MAX_QUERY_CHARS
from service_server import running_server


@pytest.fixture(scope="module")
def server(tiny_index):
    with running_server(tiny_index) as base:
        yield base


def test_health_ready_index(server):
    assert httpx.get(server + "/health").json() == {"status": "ok"}
    assert httpx.get(server + "/ready").json() == {"status": "ready"}
    info = httpx.get(server + "/index").json()
    assert info["num_docs"] == 6 and info["modes"] == ["sparse", "dense", "hybrid"]
    assert info["default_fusion"]["method"] == "rrf" and info["manifest"]["format_version"] == 2 and info["generation"] == 1 and info["writable"] is False
    assert set(info["encoders"]) == {"sparse", "dense"} and info["sizes_bytes"]["sparse"] > 0


def test_search_hybrid_with_components_and_timings(server):
    r = httpx.post(server + "/search", json={"query": "vitamin D and bone density", "k": 3})
    assert r.status_code == 200
    body = r.json()
    top = body["hits"][0]
    assert body["mode"] == "hybrid" and top["doc_id"] == "d3" and top["rank"] == 1
    assert top["title"] == "Vitamin D" and "bone density" in top["snippet"]
    assert set(top["components"]) == {"sparse", "dense"}
    assert abs(sum(c["contribution"] for c in top["components"].values()) - top["score"]) < 1e-9
    assert "vitamin" in top["highlights"]
    assert {"sparse_encode", "sparse_search", "dense_encode", "dense_search", "fusion", "total"} <= set(body["timings_ms"])


def test_explain_marks_expansion_terms(server):
    body = httpx.post(server + "/search", json={"query": "famous landmark in paris", "k": 2, "mode": "sparse", "explain": True}).json()
    terms = body["hits"][0]["explain"]
    assert terms and all({"token", "query_weight", "doc_weight", "contribution", "expansion"} <= set(t) for t in terms)
    assert any(t["expansion"] for h in body["hits"] for t in h["explain"])  # siamese query expansion matches new terms
    assert any(not t["expansion"] for t in terms)


def test_fusion_weights_merge_over_defaults_and_batch_timings(server):
    # Only dense named: sparse keeps its default weight (1), so both still contribute.
    hit = httpx.post(server + "/search", json={"query": "eiffel tower", "k": 1, "fusion": {"method": "wsum", "weights": {"dense": 0.5}}}).json()["hits"][0]
    assert hit["components"]["sparse"]["contribution"] == pytest.approx(1.0) and hit["components"]["dense"]["contribution"] == pytest.approx(0.5)
    body = httpx.post(server + "/search/batch", json={"queries": ["tower", "glucose"], "k": 2, "fields": ["title"]}).json()
    assert [r["hits"][0]["title"] for r in body["results"]] == ["Eiffel Tower", "Photosynthesis"]
    assert body["timings_ms"]["total"] > 0 and "fusion" in body["results"][0]["timings_ms"]


def test_fusion_override_and_fields(server):
    body = httpx.post(server + "/search", json={
        "query": "plants sunlight", "k": 2, "fusion": {"method": "wsum", "normalization": "zscore", "weights": {"sparse": 0.2, "dense": 0.8}, "depth": 5},
        "fields": ["text"],
    }).json()
    hit = body["hits"][0]
    assert hit["doc_id"] == "d2" and hit["text"].startswith("Plants") and hit["title"] is None
    # wsum: the fused score is the weighted sum of normalised scores, not RRF's 1/(60 + rank)
    assert abs(sum(c["contribution"] for c in hit["components"].values()) - hit["score"]) < 1e-9
    assert hit["score"] > 2 / 61


def test_batch_and_documents(server):
    body = httpx.post(server + "/search/batch", json={"queries": ["python programming", "ATP mitochondria"], "k": 1, "mode": "dense"}).json()
    assert [r["hits"][0]["doc_id"] for r in body["results"]] == ["d4", "d5"]
    doc = httpx.get(server + "/documents/d1").json()
    assert doc == {"doc_id": "d1", "title": "Eiffel Tower", "text": "The Eiffel Tower is a wrought-iron lattice tower in Paris, France."}


@pytest.mark.parametrize(
    "payload, field",
    [
        ({"query": ""}, "query"),
        ({"query": "x" * (MAX_QUERY_CHARS + 1)}, "query"),
        ({"query": "word " * 200}, "query"),  # 200 tokens > 128
        ({"query": "ok", "k": 0}, "k"),
        ({"query": "ok", "k": 1001}, "k"),
        ({"query": "ok", "mode": "bm25"}, "mode"),  # valid name, but this index has no BM25
        ({"query": "ok", "mode": "fuzzy"}, "mode"),
        ({"query": "ok", "fusion": {"method": "combmnz"}}, "fusion.method"),
        ({"query": "ok", "fusion": {"weights": {"colbert": 1.0}}}, "fusion.weights"),
        ({"query": "ok", "fusion": {"depth": 0}}, "fusion.depth"),
        ({"query": "ok", "fusion": {"depth": 1001}}, "fusion.depth"),
        ({"query": "ok", "fusion": {"method": "wsum", "weights": {"sparse": float("nan")}}}, "fusion.weights.sparse"),
        ({"query": "ok", "fusion": {"method": "wsum", "weights": {"dense": float("inf")}}}, "fusion.weights.dense"),
        ({"query": "ok", "fusion": {"method": "wsum", "weights": {"dense": -1}}}, "fusion.weights.dense"),
        ({"query": "ok", "fusion": {"rrf_k": 0}}, "fusion.rrf_k"),
        ({"query": "ok", "fusion": {"normalization": "l2"}}, "fusion.normalization"),
        ({"query": "ok", "fusion": {"retrievers": ["bm25"]}}, "fusion.retrievers"),
        ({"query": "ok", "fields": ["body"]}, "fields.0"),
        ({"query": "ok", "explain": "maybe"}, "explain"),
        ({"query": "   "}, "query"),
        ({"query": 42}, "query"),
        ({"k": 3}, "query"),
        ({"query": "ok", "surprise": 1}, "surprise"),
        ({"query": "[SEP]"}, "query"),
    ],
)
def test_bad_search_input_is_422_naming_the_field(server, payload, field):
    # json.dumps writes NaN/Infinity as Python's json (and so FastAPI) reads them; httpx's json= refuses them
    r = httpx.post(server + "/search", content=json.dumps(payload), headers={"content-type": "application/json"})
    assert r.status_code == 422, r.text
    assert r.json()["error"]["field"] == field


@pytest.mark.parametrize(
    "payload, field",
    [
        ({"queries": ["q"] * 65}, "queries"),
        ({"queries": []}, "queries"),
        ({"queries": ["tower", "  "]}, "queries.1"),
        ({"queries": ["tower", "x" * (MAX_QUERY_CHARS + 1)]}, "queries.1"),
        ({"queries": ["tower", "[CLS] [SEP]"]}, "queries.1"),
        ({"queries": ["tower"] * 11, "k": 1000}, "k"),  # 11,000 hits > 10,000 per batch
        ({"queries": ["tower"], "explain": True}, "explain"),  # not a batch option
    ],
)
def test_bad_batch_input_is_422_naming_the_field(server, payload, field):
    r = httpx.post(server + "/search/batch", json=payload)
    assert r.status_code == 422, r.text
    assert r.json()["error"]["field"] == field


def test_other_bad_input(server):
    r = httpx.post(server + "/search", content=b'{"query": "' + b"a" * 70_000 + b'"}', headers={"content-type": "application/json"})
    assert r.status_code == 413 and r.json()["error"]["field"] == "body"
    r = httpx.post(server + "/search", content=b"{not json", headers={"content-type": "application/json"})
    assert r.status_code == 422 and r.json()["error"]["field"] == "body"
    r = httpx.post(server + "/search", content=b'["a list"]', headers={"content-type": "application/json"})
    assert r.status_code == 422 and r.json()["error"]["field"] == "body"
    r = httpx.put(server + "/search", json={"query": "tower"})
    assert r.status_code == 405 and "error" in r.json()
    r = httpx.get(server + "/documents/" + "a" * 600)
    assert r.status_code == 422 and r.json()["error"]["field"] == "doc_id"
    for doc_id in ("nope", "%2E%2E", "docs.sqlite"):
        r = httpx.get(server + "/documents/" + doc_id)
        assert r.status_code == 404 and r.json()["error"]["message"].startswith("no document")
    for path in ("/documents/..%2F..%2Fetc%2Fpasswd", "/documents/../manifest.json"):
        r = httpx.get(server + path)
        assert r.status_code == 404 and "root:" not in r.text and "format_version" not in r.text


def test_openapi_schema_describes_the_api(server):
    schema = httpx.get(server + "/openapi.json").json()
    assert {"/search", "/search/batch", "/documents/{doc_id}", "/index", "/health", "/ready"} <= set(schema["paths"])
    request = schema["components"]["schemas"]["SearchRequest"]
    assert request["properties"]["k"]["maximum"] == 1000 and request["required"] == ["query"]
    assert "HitOut" in schema["components"]["schemas"]
    weights = schema["components"]["schemas"]["FusionOverride"]["properties"]["weights"]["anyOf"][0]["additionalProperties"]
    assert weights["minimum"] == 0 and weights["maximum"] == 1000
    # every error response is documented with the JSON error body the service really sends
    for path, method, code in (("/search", "post", "422"), ("/search", "post", "413"), ("/documents/{doc_id}", "get", "404"), ("/documents/{doc_id}", "get", "422")):
        ref = schema["paths"][path][method]["responses"][code]["content"]["application/json"]["schema"]["$ref"]
        assert ref.endswith("/ErrorOut")


def test_page_is_self_contained(server):
    page = httpx.get(server + "/").text
    assert "<form" in page and "http://" not in page and "https://" not in page


@pytest.mark.slow
def test_api_key_required_when_configured(tiny_index):
    env = {"TANDEM_TEST_KEY": "s3cret-key"}
    with running_server(tiny_index, "--api-key-env", "TANDEM_TEST_KEY", env=env) as base:
        assert httpx.get(base + "/health").status_code == 200
        for headers in ({}, {"Authorization": "Bearer wrong"}, {"Authorization": "s3cret-key"}):
            r = httpx.post(base + "/search", json={"query": "tower"}, headers=headers)
            assert r.status_code == 401 and r.json()["error"]["field"] == "Authorization"
        assert httpx.get(base + "/index").status_code == 401
        ok = httpx.post(base + "/search", json={"query": "tower"}, headers={"Authorization": "Bearer s3cret-key"})
        assert ok.status_code == 200 and ok.json()["hits"][0]["doc_id"] == "d1"


def test_public_bind_without_key_warns(tiny_index):
    import subprocess
    import sys

    # The warning is printed before uvicorn starts; an invalid port then makes the process exit at once.
    result = subprocess.run([sys.executable, "-m", "tandem", "serve", "--index", str(tiny_index), "--host", "0.0.0.0", "--port", "-1"],
                            capture_output=True, text=True, timeout=120)
    assert "without an API key" in result.stderr
