"""The service's bad-input suite, over a real `tandem serve` and a hostile index.

Each case names the request, the HTTP status and a fragment of the one-line JSON error, and checks that
nothing changed (index files, index info, a control search). The index holds the tiny corpus plus
documents with awkward ids (a '/', 512 characters, URL metacharacters) and a pathological document: one
word repeated 400,000 times (~2.4 MB), whose snippet used to take hours.
"""
from __future__ import annotations

import json
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import quote

import httpx
import pytest
from conftest import TINY_DOCS, write_jsonl
from service_server import running_server

from tandem.index.limits import MAX_DOC_ID_CHARS

REQUEST_TIMEOUT_S = 5
LONG_ID = "L" * MAX_DOC_ID_CHARS
ODD_IDS = ["a/b", "a/b/../c", "q?x=1#frag%20", LONG_ID]
PATHOLOGICAL = {"_id": "tower-x400k", "title": "Towers", "text": "tower " * 400_000}


@pytest.fixture(scope="module")
def hostile_index(tmp_path_factory) -> Path:
    from tandem.retrieval.build import BuildConfig, build_index

    root = tmp_path_factory.mktemp("hostile")
    odd = [{"_id": doc_id, "title": "Odd id", "text": f"A document whose id is {doc_id[:20]}."} for doc_id in ODD_IDS]
    corpus = write_jsonl(root / "corpus.jsonl", [*TINY_DOCS, *odd, PATHOLOGICAL])
    out = root / "index"
    build_index(BuildConfig(corpus=str(corpus), sparse_mode="inference-free", dense=None), out, corpus, log=lambda _: None)
    return out


@pytest.fixture(scope="module")
def server(hostile_index):
    with running_server(hostile_index, "--request-timeout", str(REQUEST_TIMEOUT_S)) as base:
        yield base


def ten_megabytes_chunked():
    """A 10 MB body sent without Content-Length (Transfer-Encoding: chunked)."""
    yield b'{"query": "'
    for _ in range(10):
        yield b"a" * 1_000_000
    yield b'"}'


@dataclass
class Case:
    name: str
    method: str
    path: str
    status: int
    field: str | None
    fragment: str
    json: object = None
    content: object = None
    headers: dict = field(default_factory=dict)
    response_headers: dict = field(default_factory=dict)


JSON = {"content-type": "application/json"}
CASES = [
    Case("k true is not 1", "POST", "/search", 422, "k", "valid integer", json={"query": "tower", "k": True}),
    Case("k as a string", "POST", "/search", 422, "k", "valid integer", json={"query": "tower", "k": "3"}),
    Case("k fractional", "POST", "/search", 422, "k", "valid integer", json={"query": "tower", "k": 1.5}),
    Case("explain 0 is not false", "POST", "/search", 422, "explain", "valid boolean", json={"query": "tower", "explain": 0}),
    Case("depth true", "POST", "/search", 422, "fusion.depth", "valid integer", json={"query": "tower", "fusion": {"depth": True}}),
    Case("weight true", "POST", "/search", 422, "fusion.weights.sparse", "valid number", json={"query": "tower", "fusion": {"weights": {"sparse": True}}}),
    Case("blank query", "POST", "/search", 422, "query", "only whitespace", json={"query": " \t\u3000"}),
    Case("empty batch query", "POST", "/search/batch", 422, "queries.0", "at least 1 character", json={"queries": [""]}),
    Case("blank batch query", "POST", "/search/batch", 422, "queries.1", "only whitespace", json={"queries": ["tower", "\u2003"]}),
    Case("invalid JSON", "POST", "/search", 422, "body", "invalid JSON", content=b'{"query": "tower",', headers=JSON),
    Case("10 MB chunked body", "POST", "/search", 413, "body", "larger than", content=ten_megabytes_chunked, headers=JSON),
    Case("body over Content-Length limit", "POST", "/search", 413, "body", "larger than", content=b'{"query": "' + b"a" * 70_000 + b'"}', headers=JSON),
    Case("PUT on a POST route", "PUT", "/search", 405, None, "Method Not Allowed", json={"query": "tower"}, response_headers={"allow": "POST"}),
    Case("POST on a GET route", "POST", "/health", 405, None, "Method Not Allowed", response_headers={"allow": "GET"}),
    Case("DELETE on /index", "DELETE", "/index", 405, None, "Method Not Allowed", response_headers={"allow": "GET"}),
    Case("foreign Host (DNS rebinding)", "GET", "/index", 400, "Host", "not allowed", headers={"Host": "attacker.example"}),
    Case("Host with a loopback-looking prefix", "POST", "/search", 400, "Host", "not allowed", json={"query": "tower"},
         headers={"Host": "localhost.attacker.example:8000"}),
    Case("Host naming 127.0.0.1 inside a domain", "GET", "/documents/d1", 400, "Host", "not allowed", headers={"Host": "127.0.0.1.nip.io"}),
    Case("doc id over the limit", "GET", "/documents/" + "y" * (MAX_DOC_ID_CHARS + 1), 422, "doc_id", f"at most {MAX_DOC_ID_CHARS}"),
    Case("empty doc id", "GET", "/documents/", 422, "doc_id", "at least 1 character"),
    Case("unknown id with a slash", "GET", "/documents/no/such/doc", 404, None, "no document with id 'no/such/doc'"),
]


def snapshot(index: Path) -> dict[str, tuple[int, int]]:
    return {str(p.relative_to(index)): (p.stat().st_size, p.stat().st_mtime_ns) for p in sorted(index.rglob("*")) if p.is_file()}


def control(base: str) -> tuple[dict, list[str]]:
    info = httpx.get(base + "/index").json()
    hits = httpx.post(base + "/search", json={"query": "eiffel tower paris", "k": 3}).json()["hits"]
    return info, [h["doc_id"] for h in hits]


@pytest.mark.parametrize("case", CASES, ids=[c.name for c in CASES])
def test_bad_request_is_one_json_error_and_changes_nothing(server, hostile_index, case):
    before_files, before = snapshot(hostile_index), control(server)
    content = case.content() if callable(case.content) else case.content
    r = httpx.request(case.method, server + case.path, json=case.json, content=content, headers=case.headers, timeout=30)
    assert r.status_code == case.status, r.text
    body = r.json()
    assert set(body) == {"error"} and body["error"]["field"] == case.field
    assert case.fragment in body["error"]["message"] and "\n" not in body["error"]["message"]
    for name, value in case.response_headers.items():
        assert r.headers.get(name) == value
    assert snapshot(hostile_index) == before_files and control(server) == before


@pytest.mark.parametrize("doc_id", ODD_IDS)
def test_every_indexed_id_is_reachable(server, doc_id):
    r = httpx.get(server + "/documents/" + quote(doc_id, safe=""))
    assert r.status_code == 200, r.text
    assert r.json()["doc_id"] == doc_id


def test_slash_in_an_id_may_be_sent_as_is(server):
    r = httpx.get(server + "/documents/a/b")
    assert r.status_code == 200 and r.json()["doc_id"] == "a/b"


@pytest.mark.parametrize("host", ["localhost", "LOCALHOST:1234", "127.0.0.1", "[::1]:8000"])
def test_loopback_host_names_are_accepted(server, host):
    r = httpx.get(server + "/health", headers={"Host": host})
    assert r.status_code == 200 and r.json() == {"status": "ok"}


@pytest.mark.slow
def test_pathological_document_is_answered_within_budget_while_others_are_served(server):
    """Two requests on the 2.4 MB document (every search thread) at once, while /health and other
    searches keep being answered; every answer comes well within the time budget."""
    heavy = [
        {"query": "tower", "k": 10, "fields": ["snippet"]},
        {"query": "towers tower towering", "k": 1000, "fields": ["title", "text", "snippet"]},
    ]
    results: dict[int, tuple[int, float, dict]] = {}

    def post(i: int) -> None:
        t0 = time.perf_counter()
        r = httpx.post(server + "/search", json=heavy[i % 2], timeout=60)
        results[i] = (r.status_code, time.perf_counter() - t0, r.json())

    threads = [threading.Thread(target=post, args=(i,)) for i in range(4)]
    for t in threads:
        t.start()
    others = []
    while any(t.is_alive() for t in threads) or not others:
        t0 = time.perf_counter()
        health = httpx.get(server + "/health", timeout=10)
        search = httpx.post(server + "/search", json={"query": "vitamin bone density", "k": 1}, timeout=10)
        assert (health.status_code, search.status_code) == (200, 200), search.text
        others.append((search.json()["hits"][0]["doc_id"], time.perf_counter() - t0))
    for t in threads:
        t.join()

    assert {doc_id for doc_id, _ in others} == {"d3"}
    for i, (status, elapsed, body) in results.items():
        assert status == 200 and elapsed < REQUEST_TIMEOUT_S, body
        hit = next(h for h in body["hits"] if h["doc_id"] == PATHOLOGICAL["_id"])
        assert "tower tower" in hit["snippet"] and len(hit["snippet"]) < 300 and "tower" in hit["highlights"]
        assert hit["text"] == (PATHOLOGICAL["text"] if "text" in heavy[i % 2]["fields"] else None)
    print(f"\npathological document ({len(PATHOLOGICAL['text']) / 1e6:.1f} MB): worst request {max(r[1] for r in results.values()) * 1000:.0f} ms "
          f"(4 concurrent on 2 threads); other requests meanwhile: worst {max(t for _, t in others) * 1000:.0f} ms over {len(others)}")


@pytest.mark.slow
def test_explain_on_the_pathological_document_answers_within_budget(server):
    # explain tokenizes the document's text in the searcher: whatever that costs, the answer comes by the budget
    t0 = time.perf_counter()
    r = httpx.post(server + "/search", json={"query": "tower", "k": 20, "fields": ["snippet"], "explain": True}, timeout=60)
    elapsed = time.perf_counter() - t0
    assert r.status_code in (200, 504) and elapsed < REQUEST_TIMEOUT_S + 1, r.text
    assert httpx.get(server + "/health", timeout=5).status_code == 200
    print(f"\nexplain over the pathological document: {r.status_code} in {elapsed * 1000:.0f} ms")
