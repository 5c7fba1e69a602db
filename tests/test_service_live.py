"""A running server over a live index: documents added and deleted over REST and by `tandem index`,
new commits served without restart, and no failed request while changes and compaction run."""
import json
import shutil
import subprocess
import sys
import threading
import time

import httpx
import pytest

from tests.conftest import TINY_DOCS, write_jsonl
from tests.service_server import running_server

pytestmark = pytest.mark.slow


@pytest.fixture()
def live_index(tmp_path, tiny_if_index):
    copy = tmp_path / "idx"
    shutil.copytree(tiny_if_index, copy)
    return copy


def _ids(base, query, k=10):
    response = httpx.post(base + "/search", json={"query": query, "k": k, "fields": []}, timeout=30)
    assert response.status_code == 200, response.text
    return [h["doc_id"] for h in response.json()["hits"]]


def test_read_only_by_default(live_index):
    with running_server(live_index) as base:
        add = httpx.post(base + "/documents", json={"documents": [{"_id": "n1", "title": "t", "text": "x"}]})
        delete = httpx.delete(base + "/documents/d1")
        assert (add.status_code, delete.status_code) == (403, 403)
        assert "--writable" in add.json()["error"]["message"]
        assert httpx.get(base + "/index").json()["generation"] == 1


def test_rest_add_replace_delete_and_api_key(live_index):
    key = {"TANDEM_TEST_KEY": "s3cret"}
    auth = {"Authorization": "Bearer s3cret"}
    with running_server(live_index, "--writable", "--api-key-env", "TANDEM_TEST_KEY", env=key) as base:
        body = {"documents": [{"_id": "n1", "title": "Glaciers", "text": "Glaciers carve fjords in Norway."},
                              {"_id": "d4", "title": "Snakes", "text": "Pythons are large constricting snakes."}]}
        assert httpx.post(base + "/documents", json=body).status_code == 401  # no key
        added = httpx.post(base + "/documents", json=body, headers=auth, timeout=120)
        assert added.status_code == 200, added.text
        change = added.json()
        assert (change["added"], change["replaced"], change["generation"], change["num_docs"]) == (2, 1, 2, 7)
        hits = httpx.post(base + "/search", json={"query": "glaciers fjords", "k": 3}, headers=auth).json()["hits"]
        assert hits[0]["doc_id"] == "n1"  # served at once, no restart
        replaced = httpx.get(base + "/documents/d4", headers=auth).json()
        assert replaced["title"] == "Snakes"
        gone = httpx.delete(base + "/documents/n1", headers=auth)
        assert gone.status_code == 200 and gone.json()["deleted"] == 1
        assert httpx.get(base + "/documents/n1", headers=auth).status_code == 404
        assert httpx.delete(base + "/documents/n1", headers=auth).status_code == 404
        duplicate = httpx.post(base + "/documents", json={"documents": [{"_id": "z", "text": "a"}, {"_id": "z", "text": "b"}]}, headers=auth)
        assert duplicate.status_code == 422 and duplicate.json()["error"]["field"] == "documents.1._id"
        spaced = httpx.post(base + "/documents", json={"documents": [{"_id": "a b", "text": "a"}]}, headers=auth)
        assert spaced.status_code == 422
        assert httpx.get(base + "/index", headers=auth).json()["generation"] == 3


def test_searches_never_fail_while_the_cli_adds_and_compacts(live_index, tmp_path):
    new_docs = write_jsonl(tmp_path / "new.jsonl", [{"_id": f"n{i}", "title": f"Volcano {i}", "text": "Lava and ash from an erupting volcano."} for i in range(30)])
    with running_server(live_index) as base:
        statuses, generations, stop = [], set(), threading.Event()

        def hammer():
            while not stop.is_set():
                response = httpx.post(base + "/search", json={"query": "volcano lava vitamin", "k": 5, "fields": ["title"]}, timeout=60)
                statuses.append(response.status_code)
                if response.status_code == 200:
                    ids = [h["doc_id"] for h in response.json()["hits"]]
                    assert len(ids) == len(set(ids))

        def watch_generation():
            while not stop.is_set():
                generations.add(httpx.get(base + "/index", timeout=60).json()["generation"])
                time.sleep(0.2)

        threads = [threading.Thread(target=hammer) for _ in range(3)] + [threading.Thread(target=watch_generation)]
        for t in threads:
            t.start()
        cli = [sys.executable, "-m", "tandem", "index"]
        subprocess.run(cli + ["add", "--index", str(live_index), "--corpus", str(new_docs)], check=True, capture_output=True)
        subprocess.run(cli + ["compact", "--index", str(live_index)], check=True, capture_output=True)
        time.sleep(1.5)  # the next requests see the last commit
        stop.set()
        for t in threads:
            t.join()
        assert statuses and set(statuses) == {200}, f"{len(statuses)} requests, statuses {sorted(set(statuses))}"
        assert {1, 3} <= generations
        assert _ids(base, "volcano lava")[0].startswith("n")
        info = httpx.get(base + "/index").json()
        assert (info["generation"], info["num_segments"], info["num_docs"]) == (3, 1, len(TINY_DOCS) + 30)
    # the server held old generations while running; the next writer removes what nobody holds now
    subprocess.run([sys.executable, "-m", "tandem", "index", "compact", "--index", str(live_index)], check=True, capture_output=True)
    assert len(list((live_index / "segments").iterdir())) == 1
    assert json.loads((live_index / "manifest.json").read_text())["generation"] == 4


def test_rest_adds_return_before_the_merge_they_trigger(tmp_path):
    """The server merges after an add on its merge thread (IndexWriter.add(merge="background")): the add's
    response reports no merge, and the index reaches the policy's segment count soon after."""
    from tandem.index.merge_policy import MergePolicy
    from tests.live_helpers import BASE, build, on_disk_garbage, write_docs

    root = build(write_docs(tmp_path / "base.jsonl", BASE), tmp_path / "idx", merge_policy=MergePolicy(merge_factor=2, min_merge_docs=1_000))
    with running_server(root, "--writable") as base:
        for n in range(2):
            added = httpx.post(base + "/documents", json={"documents": [{"_id": f"n{n}", "title": "Glaciers", "text": f"Glaciers carve fjord {n}."}]}, timeout=120)
            assert added.status_code == 200, added.text
            assert added.json()["merged_segments"] == 0
        deadline = time.monotonic() + 120
        while httpx.get(base + "/index").json()["num_segments"] > 1 and time.monotonic() < deadline:
            time.sleep(0.2)
        info = httpx.get(base + "/index").json()
        assert info["num_segments"] == 1 and info["num_docs"] == len(BASE) + 2
        assert set(_ids(base, "glaciers fjord", 3)) >= {"n0", "n1"}
    from tandem.retrieval.writer import IndexWriter

    IndexWriter(root, show_progress=False).delete(["not-there"])  # the server's leases are gone: the next writer collects
    assert on_disk_garbage(root) == []
