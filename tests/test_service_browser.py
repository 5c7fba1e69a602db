"""The search page in a real headless Chromium: type a query, submit, see hits and highlighting."""
import shutil
from pathlib import Path

import pytest
from service_server import running_server

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
CHROMEDRIVER = shutil.which("chromedriver") or "/usr/bin/chromedriver"
FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--no-first-run", "--disable-background-networking",
         "--disable-component-update", "--disable-sync", "--disable-dev-shm-usage", "--window-size=1280,1000"]


@pytest.fixture(scope="module")
def browser(tmp_path_factory):
    if not (Path(CHROMIUM).exists() and Path(CHROMEDRIVER).exists()):
        pytest.fail("chromium and chromium-driver are not installed: run `make browser` (apt-get install chromium chromium-driver)")
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for flag in FLAGS:
        options.add_argument(flag)
    options.add_argument(f"--user-data-dir={tmp_path_factory.mktemp('chromium-profile')}")
    driver = webdriver.Chrome(options=options, service=Service(executable_path=CHROMEDRIVER))
    yield driver
    driver.quit()


def test_search_page_end_to_end(tiny_index, browser, tmp_path):
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support import expected_conditions as ec
    from selenium.webdriver.support.ui import WebDriverWait

    with running_server(tiny_index) as base:
        browser.get(base + "/")
        wait = WebDriverWait(browser, 30)
        wait.until(lambda d: "documents" in d.find_element(By.ID, "index-meta").text)
        box = browser.find_element(By.ID, "q")
        box.send_keys("vitamin D deficiency and bone density")
        browser.find_element(By.ID, "explain").click()
        browser.find_element(By.ID, "go").click()
        wait.until(ec.presence_of_element_located((By.CSS_SELECTOR, "li.hit")))
        hits = browser.find_elements(By.CSS_SELECTOR, "li.hit")
        assert hits[0].get_attribute("data-doc-id") == "d3"
        marks = [m.text.lower() for m in hits[0].find_elements(By.TAG_NAME, "mark")]
        assert "vitamin" in marks and "bone" in marks
        assert hits[0].find_elements(By.CSS_SELECTOR, ".bars .bar")  # component score bars
        assert hits[0].find_elements(By.CSS_SELECTOR, ".explain table tr")  # explain toggle shows term table
        shot = tmp_path / "search-page.png"
        browser.save_screenshot(str(shot))
        assert shot.stat().st_size > 10_000
