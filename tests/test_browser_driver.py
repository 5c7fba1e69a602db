"""Without a browser the browser tests skip with the reason, except in CI, where they must run."""
import pytest

import browser_driver


def test_missing_browser_skips_outside_ci_and_fails_in_ci(monkeypatch):
    monkeypatch.setattr(browser_driver, "CHROMIUM", "/nonexistent/chromium")
    monkeypatch.delenv("CI", raising=False)
    with pytest.raises(pytest.skip.Exception, match=r"^chromium not installed: run `make browser`"):
        browser_driver.require_browser()
    monkeypatch.setenv("CI", "true")
    with pytest.raises(pytest.fail.Exception, match=r"CI=true: the browser tests are required"):
        browser_driver.require_browser()

