"""The posture report as a person sees it, in headless Chromium (Debian's chromium, installed by `make test`):
it renders without console errors, loads nothing from outside, every check is on the page, failing ones first."""

from __future__ import annotations

import contextlib
import re
import shutil
from collections.abc import Iterator
from pathlib import Path

from selenium import webdriver
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.by import By

from sandbox.system import Sandbox
from shared.posture.report import render


def chromium() -> webdriver.Chrome:
    options = webdriver.ChromeOptions()
    options.binary_location = shutil.which("chromium") or "/usr/bin/chromium"
    for flag in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage"):
        options.add_argument(flag)
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    return webdriver.Chrome(options=options, service=Service(shutil.which("chromedriver") or "/usr/bin/chromedriver"))


@contextlib.contextmanager
def opened(page: str, tmp_path: Path) -> Iterator[webdriver.Chrome]:
    """The page as a file, open in headless Chromium; the browser closed afterwards."""
    path = tmp_path / "posture.html"
    path.write_text(page, encoding="utf-8")
    browser = chromium()
    try:
        browser.get(path.as_uri())
        yield browser
    finally:
        browser.quit()


async def test_the_report_renders_every_check_failing_first(sandbox: Sandbox, tmp_path: Path) -> None:
    # An evidence value that would break a page that forgot to escape it.
    sandbox.graph.tenant.ca_policies[0]["displayName"] = "<script>alert(1)</script> registration"
    report = await sandbox.container.posture_service().check()
    page = render(report)
    assert not re.search(r"""(src|href)\s*=\s*["']?(https?:)?//""", page)  # nothing from outside
    assert "<script" not in page.replace("&lt;script&gt;", "")
    with opened(page, tmp_path) as browser:
        cards = browser.find_elements(By.CSS_SELECTOR, "section.card[data-check]")
        shown = [(c.get_attribute("data-check"), c.get_attribute("data-status")) for c in cards]
        assert {cid for cid, _ in shown} == {c.id for c in report.checks}
        order = {"fail": 0, "warn": 1, "pass": 2}
        assert [order[s] for _, s in shown] == sorted(order[s] for _, s in shown)
        assert shown[0][1] == "fail"
        first = cards[0]
        assert first.is_displayed() and "Fix:" in first.text
        colour = first.value_of_css_property("border-left-color")
        assert colour in ("rgba(217, 48, 37, 1)", "rgb(217, 48, 37)")
        pills = browser.find_element(By.CSS_SELECTOR, ".summary").text
        failed = sum(1 for c in report.checks if c.status == "fail")
        assert f"{failed} fail" in pills
        assert "<script>alert(1)</script> registration" in browser.find_element(By.TAG_NAME, "main").text
        errors = [e for e in browser.get_log("browser") if e["level"] == "SEVERE"]
        assert errors == []


async def test_the_methods_section_shows_the_figures_and_keeps_names_as_text(sandbox: Sandbox, tmp_path: Path) -> None:
    user = sandbox.graph.tenant.user("sspr.only@contoso.example")  # e-mail only: on the weak-only list
    assert user is not None
    sandbox.graph.tenant.by_upn.pop(user.upn.lower())
    user.upn = "<img src=x onerror=alert(1)>@contoso.example"
    sandbox.graph.tenant.by_upn[user.upn.lower()] = user
    await sandbox.container.inventory_service().run()
    report = await sandbox.container.posture_service().check(record=False)
    assert report.methods is not None and "error" not in report.methods
    page = render(report)
    assert "<img" not in page
    with opened(page, tmp_path) as browser:
        section = browser.find_element(By.CSS_SELECTOR, "section#methods")
        assert section.is_displayed()
        weak = section.find_element(By.CSS_SELECTOR, 'tr[data-figure="weak_only"]').text
        assert str(report.methods["weak_only"]["count"]) in weak and report.methods["weak_only"]["count"] >= 1
        none = section.find_element(By.CSS_SELECTOR, 'tr[data-figure="no_method"]').text
        assert str(report.methods["no_method"]["count"]) in none
        ages = section.find_elements(By.CSS_SELECTOR, "table.ages tr[data-age]")
        assert [a.get_attribute("data-age") for a in ages] == list(report.methods["unused_by_age"])
        listed = section.find_element(By.CSS_SELECTOR, 'details[data-list="weak_only"]')
        listed.find_element(By.TAG_NAME, "summary").click()
        assert "<img src=x onerror=alert(1)>@contoso.example" in listed.text  # shown as text, never run
        assert browser.find_elements(By.TAG_NAME, "img") == []
        assert [e for e in browser.get_log("browser") if e["level"] == "SEVERE"] == []
