"""Proof before reset on the local system (`make run`'s sandbox over loopback, the gate on): the manager's page in
headless Chromium, and the operator's side through the CLI (reset waits, --no-wait, verify status / resend /
callback, --reveal-tap and bulk --verify-policy against the policy)."""

from __future__ import annotations

import json
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from selenium.webdriver.common.by import By
from selenium.webdriver.support.ui import WebDriverWait

from sandbox.graph.tenant import tenant_from_dict
from sandbox.system import DEMO_TENANT
from sandbox.tickets import signed_headers
from sandbox.tokens import mint
from tests.localsystem import serving
from tests.posture.test_report_in_chromium import chromium

ROOT = Path(__file__).resolve().parent.parent
SECRET = "test-secret-for-the-gate"
TENANT = tenant_from_dict(json.loads(DEMO_TENANT.read_text()))
READER = {"Authorization": "Bearer " + mint(oid="5ce7a210-0000-4000-8000-00000000a001",
                                            upn="servicedesk@contoso.example", roles=["Jobs.Read", "Tap.Retrieve"])}
GATE_ENV = {"VERIFY_POLICY": "", "PRIVILEGED_ROLES": "Privileged Authentication Administrator",
            "RESETS_PER_HOUR_LIMIT": "100"}


def mfaops(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "cli", *args], cwd=ROOT, capture_output=True, text=True, timeout=180)


def bearer(upn: str) -> dict[str, str]:
    user = TENANT.user(upn)
    assert user is not None
    return {"Authorization": "Bearer " + mint(oid=user.id, upn=user.upn)}


@pytest.fixture(scope="module")
def gated_system() -> Iterator[str]:
    with serving(SECRET, env=GATE_ENV) as port:
        yield f"http://127.0.0.1:{port}"


def job(base: str, job_id: str) -> dict[str, Any]:
    return dict(httpx.get(f"{base}/api/jobs/{job_id}", headers=READER, timeout=30).json())


def wait_state(base: str, job_id: str, *states: str, timeout_s: float = 60) -> dict[str, Any]:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        found = job(base, job_id)
        if found["state"] in states:
            return found
        time.sleep(0.2)
    raise AssertionError(f"job {job_id} never reached {states}: {found['state']}")


def waiting_job_of(upn: str, timeout_s: float = 60) -> dict[str, Any]:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        listed = mfaops("--local", "--json", "jobs", "list", "--user", upn, "--state", "awaiting_verification")
        jobs = json.loads(listed.stdout or "{}").get("jobs", [])
        if jobs:
            return dict(jobs[0])
        time.sleep(0.3)
    raise AssertionError(f"no job of {upn} awaits verification")


def decide(base: str, verification_id: str, decision: str, manager: str, reason: str = "") -> httpx.Response:
    body = {"decision": decision, **({"reason": reason} if reason else {})}
    return httpx.post(f"{base}/api/verify/manager/{verification_id}", json=body, headers=bearer(manager), timeout=60)


# -- the manager's page ---------------------------------------------------------------------------------------
def test_the_manager_page_in_chromium(gated_system: str) -> None:
    base = gated_system
    body = json.dumps({"table": "sc_req_item", "sys_id": "a1" * 16, "number": "RITM0010001", "action": "reset_mfa",
                       "user": "ada.lovelace@contoso.example", "requested_by": "desk@contoso.example"}).encode()
    posted = httpx.post(f"{base}/api/itsm/servicenow", content=body, headers=signed_headers(SECRET, body), timeout=30)
    job_id = posted.json()["job_id"]
    waiting = wait_state(base, job_id, "awaiting_verification")
    page = f"{base}/api/verify/manager/{waiting['verification']['id']}"
    browser = chromium()
    try:
        browser.get(page)
        # Not signed in: App Service's sign-in (the sandbox's), and back to the page after it.
        assert "/.auth/login/aad" in browser.current_url
        browser.find_element(By.ID, "login_hint").send_keys("grace.hopper@contoso.example")
        browser.find_element(By.ID, "sign-in").click()
        WebDriverWait(browser, 20).until(lambda b: b.current_url == page)
        main = browser.find_element(By.TAG_NAME, "main").text
        assert "ada.lovelace@contoso.example" in main and "RITM0010001" in main and "desk@contoso.example" in main
        first = browser.current_window_handle
        browser.switch_to.new_window("tab")  # a second tab, open before the decision
        browser.get(page)
        second = browser.current_window_handle
        browser.switch_to.window(first)
        # Deny needs a reason: nothing is sent without one.
        browser.find_element(By.ID, "deny").click()
        WebDriverWait(browser, 10).until(lambda b: "needs a reason" in b.find_element(By.ID, "message").text)
        assert job(base, job_id)["state"] == "awaiting_verification"
        browser.find_element(By.ID, "approve").click()
        WebDriverWait(browser, 20).until(lambda b: b.find_elements(By.ID, "outcome"))
        assert "Approved by grace.hopper@contoso.example" in browser.find_element(By.ID, "outcome").text
        # The second tab cannot decide again: it is told, and a reload shows the outcome.
        browser.switch_to.window(second)
        browser.find_element(By.ID, "approve").click()
        WebDriverWait(browser, 10).until(lambda b: b.find_element(By.ID, "message").text.strip())
        assert "decided" in browser.find_element(By.ID, "message").text
        browser.refresh()
        assert "Approved by" in browser.find_element(By.ID, "outcome").text
        # The reset goes on; the page refreshes itself until the TAP can be shown, once.
        wait_state(base, job_id, "succeeded")
        browser.switch_to.window(first)
        WebDriverWait(browser, 30).until(lambda b: b.find_elements(By.ID, "show-tap"))
        browser.find_element(By.ID, "show-tap").click()
        WebDriverWait(browser, 10).until(lambda b: b.find_element(By.ID, "tap").text.strip())
        tap = browser.find_element(By.ID, "tap").text.strip()
        assert len(tap) >= 8
        browser.refresh()
        assert not browser.find_elements(By.ID, "show-tap")
        assert "shown already" in browser.find_element(By.TAG_NAME, "main").text
        assert tap not in browser.page_source
        errors = [e for e in browser.get_log("browser") if e["level"] == "SEVERE" and "409" not in e["message"]
                  and "favicon.ico" not in e["message"]]
        assert errors == []
    finally:
        browser.quit()
    assert tap not in json.dumps(job(base, job_id))
    operator = httpx.get(f"{base}/api/jobs/{job_id}/tap", headers=READER, timeout=30)
    assert operator.status_code == 409 and operator.json()["code"] == "tap_delivered_elsewhere"


# -- the operator's side ------------------------------------------------------------------------------------------
def test_reset_waits_for_the_manager_then_succeeds(gated_system: str) -> None:
    upn = "linus.torvalds@contoso.example"
    result: dict[str, Any] = {}

    def run() -> None:
        result["cli"] = mfaops("--local", "--json", "reset", upn, "--by", "desk@contoso.example", "--reason",
                               "lost phone", "--yes")

    worker = threading.Thread(target=run)
    worker.start()
    waiting = waiting_job_of(upn)
    assert waiting["verification"]["state"] == "pending"
    approved = decide(gated_system, waiting["verification"]["id"], "approve", "grace.hopper@contoso.example")
    assert approved.status_code == 200, approved.text
    worker.join(timeout=180)
    cli = result["cli"]
    assert cli.returncode == 0, cli.stderr
    doc = json.loads(cli.stdout)
    assert doc["state"] == "succeeded" and doc["verification"]["state"] == "passed"
    assert "awaits verification" in cli.stderr
    assert "temporaryAccessPass" not in doc
    who = json.loads(mfaops("--local", "--json", "who-reset", upn).stdout)
    assert "grace.hopper@contoso.example" in who["resets"][0]["approved_by"]


def test_no_wait_status_resend_and_a_denial(gated_system: str) -> None:
    upn = "edsger.dijkstra@contoso.example"
    cli = mfaops("--local", "--json", "reset", upn, "--by", "desk@contoso.example", "--reason", "new phone",
                 "--yes", "--no-wait")
    assert cli.returncode == 0, cli.stderr
    doc = json.loads(cli.stdout)
    assert doc["state"] == "awaiting_verification"
    job_id = doc["job_id"]
    status = mfaops("--local", "--json", "verify", "status", job_id)
    assert status.returncode == 0
    shown = json.loads(status.stdout)
    assert shown["verification"]["require"] == {"any": ["manager"]} and shown["state"] == "awaiting_verification"
    resent = mfaops("--local", "--json", "verify", "resend", job_id)
    assert resent.returncode == 0, resent.stderr
    assert json.loads(resent.stdout)["notices"][0]["outcome"] == "mailed"
    denied = decide(gated_system, shown["verification"]["id"], "deny", "grace.hopper@contoso.example", "not asked")
    assert denied.status_code == 200
    after = json.loads(mfaops("--local", "--json", "verify", "status", job_id).stdout)
    assert after["state"] == "verification_failed" and after["verification"]["proofs"][0]["reason"] == "denied"
    table = mfaops("--local", "verify", "status", job_id)
    assert "denied" in table.stdout
    again = mfaops("--local", "verify", "resend", job_id)
    assert again.returncode == 2 and "not waiting" in again.stderr


def test_a_denied_reset_exits_3(gated_system: str) -> None:
    upn = "donald.knuth@contoso.example"
    result: dict[str, Any] = {}
    worker = threading.Thread(target=lambda: result.update(cli=mfaops(
        "--local", "reset", upn, "--by", "desk@contoso.example", "--reason", "lost phone", "--yes")))
    worker.start()
    waiting = waiting_job_of(upn)
    decide(gated_system, waiting["verification"]["id"], "deny", "grace.hopper@contoso.example", "not him")
    worker.join(timeout=180)
    assert result["cli"].returncode == 3
    assert "verification_failed" in result["cli"].stdout


def test_reveal_tap_is_refused_when_the_policy_delivers_elsewhere(gated_system: str) -> None:
    upn = "frances.allen@contoso.example"
    cli = mfaops("--local", "reset", upn, "--by", "desk@contoso.example", "--reason", "x", "--yes", "--reveal-tap")
    assert cli.returncode == 3 and "tap_delivery manager" in cli.stderr and "Traceback" not in cli.stderr
    listed = json.loads(mfaops("--local", "--json", "jobs", "list", "--user", upn).stdout)
    assert listed["jobs"] == [], "nothing was done"


def test_a_call_back_with_the_wrong_digits_fails_the_verification(gated_system: str) -> None:
    upn = "alan.turing@contoso.example"  # privileged: manager and call-back
    cli = mfaops("--local", "--json", "reset", upn, "--by", "desk@contoso.example", "--reason", "x", "--yes",
                 "--approved-by", "secops@contoso.example", "--no-wait")
    assert cli.returncode == 0, cli.stderr
    doc = json.loads(cli.stdout)
    assert doc["verification"]["require"] == {"all": ["manager", "callback"]}
    bad = mfaops("--local", "verify", "callback", doc["job_id"], "--last4", "12a4", "--confirmed", "--by",
                 "desk@contoso.example")
    assert bad.returncode == 2 and "--last4" in bad.stderr
    both = mfaops("--local", "verify", "callback", doc["job_id"], "--last4", "1234")
    assert both.returncode == 2
    wrong = mfaops("--local", "--json", "verify", "callback", doc["job_id"], "--last4", "9999", "--confirmed",
                   "--by", "desk@contoso.example")
    assert wrong.returncode == 3 and "number on record" in wrong.stderr
    assert json.loads(wrong.stdout)["state"] == "verification_failed"


def test_bulk_puts_every_user_through_the_gate_and_a_policy_may_only_add(gated_system: str, tmp_path: Path) -> None:
    users = tmp_path / "users.csv"
    users.write_text("user\nken.thompson@contoso.example\ndennis.ritchie@contoso.example\n")
    weaker = tmp_path / "weaker.yaml"
    weaker.write_text("tiers:\n  - id: standard\n    require: {all: []}\n")
    refused = mfaops("--local", "reset", "--from-file", str(users), "--by", "desk@contoso.example", "--reason", "x",
                     "--yes", "--verify-policy", str(weaker), "--approved-by", "secops@contoso.example")
    assert refused.returncode == 3 and "nothing was done" in refused.stderr
    stricter = tmp_path / "stricter.yaml"
    stricter.write_text("expire_after_minutes: 30\ntiers:\n"
                        "  - id: privileged\n    when: {privileged: true}\n    require: {all: [manager, callback]}\n"
                        "    tap_delivery: manager\n"
                        "  - id: standard\n    require: {all: [manager, callback]}\n    tap_delivery: manager\n")
    alone = mfaops("--local", "reset", "--from-file", str(users), "--by", "desk@contoso.example", "--reason", "x",
                   "--yes", "--verify-policy", str(stricter))
    assert alone.returncode == 2 and "--approved-by" in alone.stderr
    ran = mfaops("--local", "--json", "reset", "--from-file", str(users), "--by", "desk@contoso.example", "--reason",
                 "phishing wave", "--yes", "--verify-policy", str(stricter), "--approved-by", "secops@contoso.example")
    assert ran.returncode == 0, ran.stderr
    lines = [json.loads(line) for line in ran.stdout.splitlines()]
    summary = lines[-1]
    assert summary["awaiting_verification"] == 2 and summary["succeeded"] == 0
    for item in lines[:-1]:
        shown = json.loads(mfaops("--local", "--json", "verify", "status", item["job_id"]).stdout)
        assert shown["verification"]["require"] == {"all": ["manager", "callback"]}
