"""Headless Chromium for the browser tests: find it, start it with no network beyond loopback, size its viewport.

Outside CI a missing browser skips the browser tests with the reason; in CI (``CI=true``) it fails them,
so that CI cannot pass without having run them.
"""
from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
CHROMEDRIVER = shutil.which("chromedriver") or "/usr/bin/chromedriver"
FLAGS = [
    "--headless", "--no-sandbox", "--disable-gpu", "--no-first-run", "--disable-background-networking",
    "--disable-component-update", "--disable-sync", "--disable-dev-shm-usage", "--window-size=1280,1000",
    # No network: every host name but loopback fails to resolve, so a page that needs a CDN shows it.
    "--host-resolver-rules=MAP * ~NOTFOUND, EXCLUDE 127.0.0.1, EXCLUDE localhost",
]


def missing_browser() -> str | None:
    """Why the browser tests cannot run here (None when they can)."""
    missing = [name for name, path in (("chromium", CHROMIUM), ("chromedriver", CHROMEDRIVER)) if not Path(path).exists()]
    try:
        import selenium  # noqa: F401
    except ImportError:
        missing.append("the selenium Python package")
    if not missing:
        return None
    return f"{' and '.join(missing)} not installed: run `make browser` (Debian chromium chromium-driver) and `make install`"


def require_browser() -> None:
    """Skip the calling test when no browser is installed, or fail it in CI, where the browser tests are required."""
    reason = missing_browser()
    if reason is None:
        return
    if os.environ.get("CI", "").lower() == "true":
        pytest.fail(f"{reason} (CI=true: the browser tests are required)")
    pytest.skip(reason)


def start_chromium(profile_dir: Path):
    """A headless Chromium WebDriver with its own profile folder (quit it when done)."""
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for flag in FLAGS:
        options.add_argument(flag)
    options.add_argument(f"--user-data-dir={profile_dir}")
    return webdriver.Chrome(options=options, service=Service(executable_path=CHROMEDRIVER))


def set_viewport(driver, width: int, height: int, mobile: bool = False) -> None:
    """Emulate a viewport of exactly this size (windows cannot be made narrower than ~500 px)."""
    driver.execute_cdp_cmd("Emulation.setDeviceMetricsOverride",
                           {"width": width, "height": height, "deviceScaleFactor": 1, "mobile": mobile})


def search_on_page(driver, base: str, query: str, explain: bool = False, k: int | None = None,
                   width: int = 1280, height: int = 900) -> list:
    """Open the search page at this viewport size, search as a user would, and return the hits (li elements)."""
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support import expected_conditions as ec
    from selenium.webdriver.support.ui import WebDriverWait

    set_viewport(driver, width, height, mobile=width < 600)
    driver.get(base + "/")
    wait = WebDriverWait(driver, 30)
    wait.until(lambda d: "documents" in d.find_element(By.ID, "index-meta").text)
    driver.find_element(By.ID, "q").send_keys(query)
    if k is not None:
        driver.find_element(By.ID, "k").clear()
        driver.find_element(By.ID, "k").send_keys(str(k))
    if explain:
        driver.find_element(By.ID, "explain").click()
    driver.find_element(By.ID, "go").click()
    wait.until(ec.presence_of_element_located((By.CSS_SELECTOR, "li.hit .explain" if explain else "li.hit")))
    return driver.find_elements(By.CSS_SELECTOR, "li.hit")
