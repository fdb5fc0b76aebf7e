"""The user's own page (the verified_id proof) in headless Chromium against the local system, at a phone's and a
desktop's width: the QR code is there and fits, the state follows the wallet without a reload, the TAP shows once,
a second browser is told "opened elsewhere", an expired or made-up link says so, a hostile display name is text,
and nothing fails in the console."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from selenium.webdriver.common.by import By
from selenium.webdriver.support.ui import WebDriverWait

from sandbox.system import DEMO_TENANT
from sandbox.tickets import signed_headers
from sandbox.tokens import mint
from tests.localsystem import serving
from tests.posture.test_report_in_chromium import chromium

SECRET = "test-secret-for-the-user-page"
HOSTILE = '<img src=x onerror="document.title=1">Frances & <b>Allen</b>'
READER = {"Authorization": "Bearer " + mint(oid="5ce7a210-0000-4000-8000-00000000a001",
                                            upn="servicedesk@contoso.example", roles=["Jobs.Read"])}


@pytest.fixture(scope="module")
def system(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    folder = tmp_path_factory.mktemp("verifiedid")
    policy = folder / "policy.yaml"
    policy.write_text("tiers:\n  - id: standard\n    require: {all: [verified_id]}\n    tap_delivery: verified_user\n"
                      "    self_service: true\n")
    tenant = json.loads(DEMO_TENANT.read_text())
    for user in tenant["users"]:
        if user["userPrincipalName"] == "frances.allen@contoso.example":
            user["displayName"] = HOSTILE
    records = tenant["servicenow"]["records"]
    for n, upn in enumerate(("ada.lovelace", "frances.allen", "ken.thompson")):
        records.append({"table": "sc_req_item", "sys_id": f"{n + 1:02d}".ljust(32, "d"), "number": f"RITM00400{n}",
                        "state": "1", "approval": "approved", "active": True,
                        "requested_for": f"{upn}@contoso.example"})
    path = folder / "tenant.json"
    path.write_text(json.dumps(tenant))
    with serving(SECRET, tenant=path, env={"VERIFY_POLICY": str(policy), "SELF_SERVICE_RECOVERY": "true"}) as port:
        yield f"http://127.0.0.1:{port}"


def waiting_job(base: str, n: int, upn: str) -> dict[str, Any]:
    body = json.dumps({"table": "sc_req_item", "sys_id": f"{n + 1:02d}".ljust(32, "d"), "number": f"RITM00400{n}",
                       "action": "reset_mfa", "user": upn, "requested_by": "desk@contoso.example"}).encode()
    posted = httpx.post(f"{base}/api/itsm/servicenow", content=body, headers=signed_headers(SECRET, body), timeout=30)
    job_id = posted.json()["job_id"]
    for _ in range(300):
        job = httpx.get(f"{base}/api/jobs/{job_id}", headers=READER, timeout=30).json()
        if job["state"] == "awaiting_verification":
            return dict(job)
        time.sleep(0.1)
    raise AssertionError(job)


def request_id(base: str, job_id: str) -> str:
    job = httpx.get(f"{base}/api/jobs/{job_id}", headers=READER, timeout=30).json()
    return str(next(p for p in job["verification"]["proofs"] if p["kind"] == "verified_id")["request_id"])


def wallet(base: str, rid: str, action: str, **body: Any) -> None:
    answer = httpx.post(f"{base}/verifiedid/_sandbox/requests/{rid}/{action}", json=body, timeout=60)
    assert answer.status_code == 200, answer.text


def severe(browser: Any) -> list[Any]:
    return [e for e in browser.get_log("browser") if e["level"] == "SEVERE" and "favicon.ico" not in e["message"]
            and "/tap - Failed to load resource" not in e["message"]]


def test_the_users_page_on_a_desktop(system: str) -> None:
    job = waiting_job(system, 0, "ada.lovelace@contoso.example")
    page = f"{system}/api/public/verify/{job['verification']['id']}"
    first, second = chromium(), chromium()
    try:
        first.set_window_size(1280, 900)
        first.get(page)
        assert first.find_elements(By.CSS_SELECTOR, "#qr svg")
        assert "Ada" in first.find_element(By.TAG_NAME, "h1").text
        assert first.find_element(By.ID, "open-wallet").get_attribute("href").startswith("openid-vc://")
        WebDriverWait(first, 20).until(lambda b: b.find_element(By.ID, "state").get_attribute("data-state")
                                       == "pending")
        second.get(page)  # another browser: the page is bound to the first
        assert "opened in another browser" in second.find_element(By.TAG_NAME, "main").text
        rid = request_id(system, job["job_id"])
        wallet(system, rid, "scan")
        WebDriverWait(first, 20).until(lambda b: b.find_element(By.ID, "state").get_attribute("data-state")
                                       == "scanned")
        wallet(system, rid, "present", user="ada.lovelace@contoso.example", face_match=88)
        WebDriverWait(first, 60).until(lambda b: b.find_element(By.ID, "tap").text.strip())
        tap = first.find_element(By.ID, "tap").text.strip()
        assert len(tap) >= 8 and "works once" in first.find_element(By.ID, "tap-note").text
        first.refresh()  # shown once: not again
        WebDriverWait(first, 20).until(lambda b: b.find_element(By.ID, "state").get_attribute("data-state")
                                       == "passed")
        time.sleep(3)
        assert not first.find_element(By.ID, "tap").text.strip() and tap not in first.page_source
        assert severe(first) == []
        assert [e for e in severe(second) if "status of 403" not in e["message"]] == []  # its own 403 page
    finally:
        first.quit()
        second.quit()


def test_the_users_page_at_a_phones_width_with_a_hostile_name_and_links_that_are_over(system: str) -> None:
    job = waiting_job(system, 1, "frances.allen@contoso.example")
    page = f"{system}/api/public/verify/{job['verification']['id']}"
    browser = chromium()
    try:
        browser.set_window_size(390, 844)
        browser.get(page)
        heading = browser.find_element(By.TAG_NAME, "h1").text
        assert '<img src=x onerror="document.title=1">Frances & <b>Allen</b>' in heading  # as text
        assert browser.title != "1" and not browser.find_elements(By.CSS_SELECTOR, "main img")
        qr = browser.find_element(By.CSS_SELECTOR, "#qr svg")
        width = browser.execute_script("return document.documentElement.clientWidth")
        assert 0 < qr.size["width"] <= width
        assert browser.execute_script("return document.documentElement.scrollWidth") <= width  # no sideways scroll
        wallet(system, request_id(system, job["job_id"]), "present", user="frances.allen@contoso.example",
               face_match=40)
        WebDriverWait(browser, 20).until(lambda b: b.find_element(By.ID, "state").get_attribute("data-state")
                                         == "failed")
        assert "did not pass" in browser.find_element(By.ID, "state").text
        assert severe(browser) == []
        browser.get(f"{system}/api/public/verify/{'Z' * 22}")  # made up: the same words as an expired link
        assert "expired or was used" in browser.find_element(By.TAG_NAME, "main").text
    finally:
        browser.quit()


def test_self_service_recovery_in_chromium(system: str) -> None:
    """The recovery page at a phone's width: a real name and a made-up one get the same page; the real one ends
    with the TAP on the page once the user presents."""
    browser = chromium()
    try:
        browser.set_window_size(390, 844)
        shapes = []
        for name in ("nobody.at.all@contoso.example", "ken.thompson@contoso.example"):
            browser.get(f"{system}/api/public/recover")
            browser.find_element(By.ID, "upn").send_keys(name)
            browser.find_element(By.ID, "start").click()
            WebDriverWait(browser, 30).until(lambda b: "/api/public/verify/" in b.current_url)
            WebDriverWait(browser, 20).until(lambda b: b.find_element(By.ID, "state").get_attribute("data-state")
                                             == "pending")
            assert browser.find_elements(By.CSS_SELECTOR, "#qr svg")
            shapes.append(browser.find_element(By.TAG_NAME, "h1").text)
        assert shapes[0] == shapes[1] and "ken" not in shapes[1].lower(), "the page never names anyone"
        page_id = browser.current_url.rsplit("/", 1)[-1]
        requests = httpx.get(f"{system}/verifiedid/_sandbox/requests", timeout=30).json()["requests"]
        rid = next(r["requestId"] for r in requests if r["state"] == page_id)
        wallet(system, rid, "present", user="ken.thompson@contoso.example", face_match=92, issued_days_ago=60)
        WebDriverWait(browser, 60).until(lambda b: b.find_element(By.ID, "tap").text.strip())
        assert severe(browser) == []
    finally:
        browser.quit()
