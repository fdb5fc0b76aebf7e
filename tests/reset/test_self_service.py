"""Self-service recovery (issue 26): the same answer for every name, a reset only for a user whose tier allows it
and whose credential is old enough, rate limits, and no sign-out from an anonymous caller."""

from __future__ import annotations

import json
import re
import time
import uuid
from pathlib import Path
from typing import Any

import azure.functions as func
import pytest

from sandbox.system import Sandbox
from shared.jobs.model import JobKind
from tests.reset.conftest import entry

POLICY = ("tiers:\n  - id: privileged\n    when: {privileged: true}\n    require: {all: [manager, callback]}\n"
          "    tap_delivery: manager\n  - id: everyone\n    require: {all: [verified_id]}\n"
          "    tap_delivery: verified_user\n    self_service: true\n")
POLICY_FILE = Path(__file__).resolve().parent / "_self_service_policy.yaml"
FLOOR_S = 0.4


def env(**extra: str) -> dict[str, str]:
    POLICY_FILE.write_text(POLICY)
    suffix = uuid.uuid4().hex[:10]
    return {"VERIFY_POLICY": str(POLICY_FILE), "SELF_SERVICE_RECOVERY": "true", "JOBS_TABLE": f"jobs{suffix}",
            "JOBS_BY_USER_TABLE": f"jobsbyuser{suffix}", "RESET_COOLDOWN_MINUTES": "0", **extra}


async def recover(box: Sandbox, name: str, client: str = "203.0.113.9") -> tuple[func.HttpResponse, float]:
    box.container.recovery_service().floor_s = FLOOR_S
    request = func.HttpRequest("POST", "http://localhost/api/public/recover", body=f"upn={name}".encode(),
                               headers={"Content-Type": "application/x-www-form-urlencoded",
                                        "X-Forwarded-For": client})
    began = time.monotonic()
    response = await entry("recover_start")(request)
    return response, time.monotonic() - began


def followed(response: func.HttpResponse) -> tuple[str, str]:
    assert response.status_code == 303, response.get_body()
    page_id = response.headers["Location"].rsplit("/", 1)[-1]
    match = re.match(r"mfaops_verify=([^;]+)", response.headers["Set-Cookie"])
    assert match is not None
    return page_id, match.group(1)


def get(page_id: str, cookie: str, suffix: str = "") -> func.HttpRequest:
    return func.HttpRequest("GET", f"http://localhost/api/public/verify/{page_id}{suffix}", body=b"",
                            route_params={"verification_id": page_id}, headers={"Cookie": f"mfaops_verify={cookie}"})


def shape(html: str) -> str:
    """The page with what legitimately differs between two requests (the code, the nonce) taken out."""
    return re.sub(r'nonce="[^"]+"|<svg.*?</svg>|href="openid-vc://[^"]*"', "", html, flags=re.S)


@pytest.mark.parametrize("sandbox_env", [env()])
async def test_every_name_gets_the_same_answer_and_only_an_allowed_user_recovers(sandbox: Sandbox) -> None:
    answers: dict[str, Any] = {}
    for name in ("ada.lovelace@contoso.example", "ghost.user@contoso.example",
                 "alan.turing@contoso.example", "breakglass1@contoso.example", "not a name"):
        response, took = await recover(sandbox, name)
        assert took >= FLOOR_S
        page_id, cookie = followed(response)
        page = await entry("user_verification_page")(get(page_id, cookie))
        assert page.status_code == 200, (name, page.get_body()[:300])
        status = json.loads((await entry("user_verification_status")(get(page_id, cookie, "/status"))).get_body())
        answers[name] = (page_id, cookie, shape(page.get_body().decode()), status)
    shapes = {a[2] for a in answers.values()}
    assert len(shapes) == 1, "every name gets the same page"
    assert {json.dumps(a[3]) for a in answers.values()} == {json.dumps(
        {"state": "pending", "verification": "pending", "reset": "waiting", "tap_ready": False})}
    jobs = sandbox.container.job_store()
    [job] = await jobs.list_by_kind(JobKind.SELF_SERVICE)
    assert job.target.upn == "ada.lovelace@contoso.example" and job.state.value == "awaiting_verification"
    # The decoy's presentation leads nowhere; the real one resets Ada, and the page shows her TAP once.
    sim = sandbox.verifiedid
    ghost = answers["ghost.user@contoso.example"][0]
    decoy_request = next(r for r in sim.requests.values() if r.callback["state"] == ghost)
    assert await sim.present(decoy_request.request_id, user="ada.lovelace@contoso.example") == 404
    real = next(r for r in sim.requests.values() if r.callback["state"] == answers["ada.lovelace@contoso.example"][0])
    assert await sim.present(real.request_id, user="ada.lovelace@contoso.example", issued_days_ago=30) == 200
    done = await jobs.get(job.job_id)
    assert done.state.value == "succeeded", [s.detail for s in done.steps][-5:]
    page_id, cookie = answers["ada.lovelace@contoso.example"][:2]
    tap = await entry("user_verification_tap")(get(page_id, cookie, "/tap"))
    assert tap.status_code == 200 and json.loads(tap.get_body())["temporaryAccessPass"]
    assert (await entry("user_verification_tap")(get(page_id, cookie, "/tap"))).status_code == 410
    alan = sandbox.graph.tenant.user("alan.turing@contoso.example")
    assert alan is not None and len(alan.methods) > 0


@pytest.mark.parametrize("sandbox_env", [env(VERIFY_ON_FAILURE="revoke_sessions", VERIFY_FAILURES_ALERT="1")])
async def test_a_fresh_credential_is_refused_and_no_anonymous_caller_signs_anyone_out(sandbox: Sandbox) -> None:
    response, _ = await recover(sandbox, "linus.torvalds@contoso.example")
    page_id, cookie = followed(response)
    await entry("user_verification_page")(get(page_id, cookie))
    real = next(r for r in sandbox.verifiedid.requests.values() if r.callback["state"] == page_id)
    await sandbox.verifiedid.present(real.request_id, user="linus.torvalds@contoso.example", issued_days_ago=1)
    job = (await sandbox.container.job_store().list_for_user("linus.torvalds@contoso.example"))[0]
    assert job.state.value == "verification_failed"
    assert job.verification is not None and job.verification.proofs[0].reason == "credential_too_new"
    assert not [c for c in sandbox.graph.calls if c["path"].endswith("revokeSignInSessions")]
    user = sandbox.graph.tenant.user("linus.torvalds@contoso.example")
    assert user is not None and len(user.methods) > 0


@pytest.mark.parametrize("sandbox_env", [env()])
async def test_attempts_are_rate_limited_per_name_and_per_address(sandbox: Sandbox) -> None:
    for n in range(3):
        response, _ = await recover(sandbox, "grace.hopper@contoso.example", client=f"198.51.100.{n}")
        assert response.status_code == 303
    limited, _ = await recover(sandbox, "grace.hopper@contoso.example", client="198.51.100.77")
    assert limited.status_code == 429
    for n in range(10):
        await recover(sandbox, f"someone{n}@contoso.example", client="192.0.2.50")
    crowded, _ = await recover(sandbox, "edsger.dijkstra@contoso.example", client="192.0.2.50")
    assert crowded.status_code == 429


@pytest.mark.parametrize("sandbox_env", [{"SELF_SERVICE_RECOVERY": "false", "VERIFY_POLICY": "",
                                          "JOBS_TABLE": f"jobs{uuid.uuid4().hex[:8]}"}])
async def test_recovery_is_off_by_default(sandbox: Sandbox) -> None:
    page = await entry("recover_page")(func.HttpRequest("GET", "http://localhost/api/public/recover", body=b""))
    assert page.status_code == 404
    response, _ = await recover(sandbox, "ada.lovelace@contoso.example")
    assert response.status_code == 404
