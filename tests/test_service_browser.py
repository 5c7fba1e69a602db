"""The search page and the API docs in a real headless Chromium that reaches nothing beyond loopback.

Without chromium and chromedriver these tests skip with the reason (run `make browser`); in CI they fail instead.
"""
from __future__ import annotations

import re

import httpx
import pytest
from browser_driver import require_browser, search_on_page, set_viewport, start_chromium
from conftest import write_jsonl
from service_server import running_server

pytestmark = pytest.mark.slow

# A document whose text holds the characters HTML escapes, and words that merely start with query words.
HTML_DOC = {"_id": "html", "title": "Escaping <b> & friends",
            "text": "Write & for an ampersand and <b> for bold; the AMP project and amplifiers differ. Lowering costs."}
PAGE_DOCS = [
    HTML_DOC,
    {"_id": "statins", "title": "Statin therapy", "text": "Statins lower LDL cholesterol in adults at risk of heart disease."},
    {"_id": "tower", "title": "Eiffel Tower", "text": "The Eiffel Tower is a wrought-iron lattice tower in Paris."},
]


@pytest.fixture(scope="module")
def browser(tmp_path_factory):
    require_browser()
    driver = start_chromium(tmp_path_factory.mktemp("chromium-profile"))
    yield driver
    driver.quit()


@pytest.fixture(scope="module")
def tiny_server(tiny_index):
    with running_server(tiny_index) as base:
        yield base


@pytest.fixture(scope="module")
def page_server(tmp_path_factory):
    """An inference-free sparse index of PAGE_DOCS: the query's terms are exactly its word pieces."""
    from tandem.retrieval.build import BuildConfig, build_index

    corpus = write_jsonl(tmp_path_factory.mktemp("page-corpus") / "corpus.jsonl", PAGE_DOCS)
    out = tmp_path_factory.mktemp("page-index") / "page"
    build_index(BuildConfig(corpus=str(corpus), sparse_mode="inference-free", dense=None), out, corpus, log=lambda _: None)
    with running_server(out) as base:
        yield base


def test_search_page_end_to_end(tiny_server, browser, tmp_path):
    from selenium.webdriver.common.by import By

    hits = search_on_page(browser, tiny_server, "vitamin D deficiency and bone density", explain=True)
    assert hits[0].get_attribute("data-doc-id") == "d3"
    marks = [m.text.lower() for m in hits[0].find_elements(By.TAG_NAME, "mark")]
    assert "vitamin" in marks and "bone" in marks
    assert hits[0].find_elements(By.CSS_SELECTOR, ".bars .bar")  # component score bars
    assert hits[0].find_elements(By.CSS_SELECTOR, ".explain table tr")  # explain toggle shows term table
    shot = tmp_path / "search-page.png"
    browser.save_screenshot(str(shot))
    assert shot.stat().st_size > 10_000


@pytest.mark.parametrize("width", [1280, 420])
def test_page_never_scrolls_sideways(tiny_server, browser, width):
    hits = search_on_page(browser, tiny_server, "vitamin D deficiency and bone density", explain=True, width=width)
    assert hits
    window, page, viewport = browser.execute_script(
        "return [window.innerWidth, document.documentElement.scrollWidth, document.documentElement.clientWidth]")
    assert page <= viewport, f"the page is {page} px wide in a {viewport} px viewport (less any scroll bar)"
    assert window == width  # (a phone's viewport widens to fit content that overflows)


def test_highlighting_marks_whole_words_of_the_text_not_of_its_html(page_server, browser):
    from selenium.webdriver.common.by import By

    hits = search_on_page(browser, page_server, "amp lt quot lower")
    hit = next(h for h in hits if h.get_attribute("data-doc-id") == "html")
    # The characters HTML escapes are shown as they are in the document, not as entities.
    assert hit.find_element(By.CSS_SELECTOR, ".title").get_attribute("textContent") == HTML_DOC["title"]
    assert hit.find_element(By.CSS_SELECTOR, ".snippet").get_attribute("textContent") == HTML_DOC["text"]
    # Only the whole word "AMP" is a query word: not "ampersand", "amplifiers", "Lowering", nor the 'amp' of an escape.
    assert [m.get_attribute("textContent") for m in hit.find_elements(By.TAG_NAME, "mark")] == ["AMP"]


def test_explain_shows_whole_query_words_with_their_pieces_on_hover(page_server, browser):
    from selenium.webdriver.common.by import By

    hits = search_on_page(browser, page_server, "statins lower cholesterol", explain=True)
    assert hits[0].get_attribute("data-doc-id") == "statins"
    rows = hits[0].find_elements(By.CSS_SELECTOR, ".explain tr[data-pieces]")
    words = {row.find_element(By.CSS_SELECTOR, ".word").text: row for row in rows}
    assert not [w for w in words if w.startswith("##")], f"word pieces shown as terms: {list(words)}"
    api = httpx.post(page_server + "/search", json={"query": "statins lower cholesterol", "k": 1, "explain": True}).json()
    pieces_of_statins = [t["token"] for t in api["hits"][0]["explain"] if t["query_words"] == ["statins"]]
    assert len(pieces_of_statins) >= 2  # "statins" is several word pieces for this tokenizer
    statins = words["statins"]
    assert sorted(statins.get_attribute("data-pieces").split()) == sorted(pieces_of_statins)
    hover = statins.find_element(By.CSS_SELECTOR, ".word").get_attribute("title")
    assert hover.startswith("“statins” = ") and all(piece in hover for piece in pieces_of_statins)
    assert len(rows) == len({tuple(t["query_words"][:1]) or t["token"] for t in api["hits"][0]["explain"]})


def test_api_docs_render_with_no_network(tiny_server, browser):
    """Swagger UI comes from this server: with every other host unreachable it still lists each operation."""
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import WebDriverWait

    schema = httpx.get(tiny_server + "/openapi.json").json()
    operations = sorted(op["operationId"] for methods in schema["paths"].values() for op in methods.values())
    set_viewport(browser, 1280, 900)
    browser.get(tiny_server + "/docs")
    WebDriverWait(browser, 30).until(lambda d: d.find_elements(By.CSS_SELECTOR, ".opblock"))
    # One .opblock per operation, with the id "operations-<tag>-<operationId>".
    shown = [re.sub(r"^operations-[^-]+-", "", e.get_attribute("id")) for e in browser.find_elements(By.CSS_SELECTOR, ".opblock")]
    assert sorted(shown) == operations
    loaded = browser.execute_script("return performance.getEntriesByType('resource').map((e) => e.name)")
    assert {tiny_server + path for path in ("/docs-assets/swagger-ui.css", "/docs-assets/swagger-ui-bundle.js", "/openapi.json")} <= set(loaded)
    assert [url for url in loaded if not url.startswith(tiny_server + "/")] == []
