"""Proof before reset (issue 25): the gate, the manager's approval, the call-back, expiry, failures and their
alerts, and the TAP delivered only where the policy says. Through the real function entry points, Azurite and the
Graph and ServiceNow simulators."""

from __future__ import annotations

import json
import re
import uuid
from datetime import timedelta
from typing import Any

import azure.functions as func
import pytest

from sandbox.system import Sandbox
from shared.identity.principal import PRINCIPAL_HEADER, encode_principal
from tests.reset.conftest import body_of, entry, get_job, operator_request, post, ticket

GATED = {"VERIFY_POLICY": ""}  # the built-in default policy
WRITES = ("DELETE", "POST", "PATCH", "PUT")


def tables() -> dict[str, str]:
    suffix = uuid.uuid4().hex[:10]
    return {"JOBS_TABLE": f"jobs{suffix}", "JOBS_BY_USER_TABLE": f"jobsbyuser{suffix}"}


def gated(**extra: str) -> Any:
    return pytest.mark.parametrize("sandbox_env", [{**GATED, **tables(), **extra}])


def user_id(box: Sandbox, upn: str) -> str:
    user = box.graph.tenant.user(upn)
    assert user is not None
    return user.id


def as_user(box: Sandbox, upn: str) -> dict[str, str]:
    return {PRINCIPAL_HEADER: encode_principal(object_id=user_id(box, upn), upn=upn)}


def add_ticket(box: Sandbox, user: str, sys_id: str, number: str, **fields: str) -> dict[str, Any]:
    box.servicenow.records[("sc_req_item", sys_id)] = {
        "table": "sc_req_item", "sys_id": sys_id, "number": number, "state": "1", "approval": "approved",
        "active": "true", "requested_for": user, **fields}
    return ticket(number=number, sys_id=sys_id, user=user)


def graph_writes(box: Sandbox, since: int = 0) -> list[dict[str, Any]]:
    """Writes Graph received (inside batches too), but mail: a verification may mail the manager."""
    return [c for c in box.graph.calls[since:] if c["method"] in WRITES and not c["path"].endswith("$batch")
            and not c["path"].endswith("/sendMail")]


def card_text(post: dict[str, Any]) -> str:
    """A Teams post's text with the card's Markdown escapes taken out."""
    return json.dumps(post["body"]).replace("\\\\", "")


async def open_ticket(box: Sandbox, body: dict[str, Any] | None = None) -> dict[str, Any]:
    response = await post(box, body or ticket())
    assert response.status_code in (200, 202), response.get_body()
    await box.deliver_all()
    return await get_job(body_of(response)["job_id"])


def page_request(method: str, vid: str, *, headers: dict[str, str] | None = None, body: Any = None,
                 suffix: str = "") -> func.HttpRequest:
    raw = json.dumps(body).encode() if body is not None and not isinstance(body, bytes) else (body or b"")
    return func.HttpRequest(method, f"http://localhost/api/verify/manager/{vid}{suffix}", body=raw,
                            route_params={"verification_id": vid}, headers=headers or {})


async def decide(box: Sandbox, vid: str, decision: str, *, upn: str = "grace.hopper@contoso.example",
                 reason: str = "", headers: dict[str, str] | None = None) -> func.HttpResponse:
    body: dict[str, Any] = {"decision": decision}
    if reason:
        body["reason"] = reason
    return await entry("manager_decision")(page_request("POST", vid, body=body, headers={
        **as_user(box, upn), "Content-Type": "application/json", **(headers or {})}))


async def attest(job_id: str, last4: str, confirmed: bool = True, *roles: str) -> func.HttpResponse:
    body = json.dumps({"number_last4": last4, "confirmed": confirmed}).encode()
    return await entry("callback_attestation")(operator_request(
        "POST", f"/api/jobs/{job_id}/verify/callback", job_id, body, *(roles or ("Jobs.Verify", "Jobs.Read"))))


# -- the gate -----------------------------------------------------------------------------------------------------
@gated()
async def test_an_approved_ticket_waits_for_the_manager_and_nothing_is_written(sandbox: Sandbox) -> None:
    job = await open_ticket(sandbox)
    assert job["state"] == "awaiting_verification", job
    v = job["verification"]
    assert re.fullmatch(r"[A-Za-z0-9_-]{22}", v["id"])
    assert v["tier"] == "standard" and v["require"] == {"any": ["manager"]} and v["state"] == "pending"
    assert v["proofs"] == [{"kind": "manager", "state": "pending", "by": None, "at": None, "reason": None}]
    assert v["tap_delivery"] == "manager" and v["expires_at"]
    assert graph_writes(sandbox) == [], "no Graph write before the proof"
    ada = sandbox.graph.tenant.user("ada.lovelace@contoso.example")
    assert ada is not None and len(ada.methods) == 2
    [mail] = sandbox.graph.tenant.mail
    assert mail["message"]["toRecipients"][0]["emailAddress"]["address"] == "grace.hopper@contoso.example"
    assert f"/api/verify/manager/{v['id']}" in mail["message"]["body"]["content"]
    [note] = sandbox.servicenow.journal_for("a1" * 16)
    assert "waits for proof of identity (manager approval)" in note and "Nothing has been removed" in note
    assert "grace" not in note, "the note names no manager"
    # A redelivery of the message does not move it on.
    await sandbox.deliver_all()
    assert (await get_job(job["job_id"]))["state"] == "awaiting_verification"


@gated()
async def test_the_manager_approves_and_the_reset_goes_on_in_two_round_trips(sandbox: Sandbox) -> None:
    job = await open_ticket(sandbox)
    vid = job["verification"]["id"]
    before = len(sandbox.graph.calls)
    response = await decide(sandbox, vid, "approve")
    assert response.status_code == 200, response.get_body()
    assert body_of(response)["verification"]["state"] == "passed"
    await sandbox.deliver_all()
    done = await get_job(job["job_id"])
    assert done["state"] == "succeeded", done
    assert done["verification"]["proofs"][0]["state"] == "passed"
    assert done["verification"]["proofs"][0]["by"] == "grace.hopper@contoso.example"
    outer = [c for c in sandbox.graph.calls[before:] if not c.get("batch")]
    assert len(outer) == 3, outer  # the read (a v1.0 and a beta batch side by side), then one chain
    assert sorted(c["path"] for c in outer[:2]) == ["/beta/$batch", "/v1.0/$batch"]
    # The operator's route refuses: the policy delivers this TAP to the manager.
    refused = await entry("get_job_tap")(operator_request("GET", f"/api/jobs/{job['job_id']}/tap", job["job_id"]))
    assert refused.status_code == 409 and body_of(refused)["code"] == "tap_delivered_elsewhere"
    # Not to someone else signed in, and once to the manager.
    other = await entry("manager_tap")(page_request("GET", vid, suffix="/tap",
                                                    headers=as_user(sandbox, "ada.lovelace@contoso.example")))
    assert other.status_code == 403
    shown = await entry("manager_tap")(page_request("GET", vid, suffix="/tap", headers=as_user(
        sandbox, "grace.hopper@contoso.example")))
    assert shown.status_code == 200 and shown.headers["Cache-Control"] == "no-store"
    tap = body_of(shown)["temporaryAccessPass"]
    assert tap
    again = await entry("manager_tap")(page_request("GET", vid, suffix="/tap", headers=as_user(
        sandbox, "grace.hopper@contoso.example")))
    assert again.status_code == 410
    notes = sandbox.servicenow.journal_for("a1" * 16)
    assert any("was proven (manager approval)" in n for n in notes)
    assert all(tap not in n for n in notes)
    final = await get_job(job["job_id"])
    assert tap not in json.dumps(final)


@gated()
async def test_a_denial_needs_a_reason_and_ends_the_attempt(sandbox: Sandbox) -> None:
    job = await open_ticket(sandbox)
    vid = job["verification"]["id"]
    bare = await decide(sandbox, vid, "deny")
    assert bare.status_code == 400 and body_of(bare)["code"] == "reason_required"
    denied = await decide(sandbox, vid, "deny", reason="I did not hear from her <b>today</b>")
    assert denied.status_code == 200
    done = await get_job(job["job_id"])
    assert done["state"] == "verification_failed"
    assert done["error"]["code"] == "verification_failed"
    assert done["verification"]["state"] == "failed"
    assert done["verification"]["proofs"][0] | {"at": None} == {
        "kind": "manager", "state": "failed", "by": "grace.hopper@contoso.example", "at": None, "reason": "denied"}
    assert graph_writes(sandbox) == []
    notes = sandbox.servicenow.journal_for("a1" * 16)
    assert "MFA was NOT reset for ada.lovelace@contoso.example: manager approval did not pass" in notes[-1]
    assert "today" not in notes[-1], "no detail that helps an attacker"
    assert any("verification_failed" in card_text(p) for p in sandbox.teams.posts)
    # Decided: a second decision, or an approval after the denial, is a conflict.
    assert (await decide(sandbox, vid, "approve")).status_code == 409


@gated()
async def test_who_may_decide(sandbox: Sandbox) -> None:
    job = await open_ticket(sandbox)
    vid = job["verification"]["id"]
    for upn in ("ada.lovelace@contoso.example", "barbara.liskov@contoso.example"):
        refused = await decide(sandbox, vid, "approve", upn=upn)
        assert refused.status_code == 403 and body_of(refused)["code"] == "not_manager"
    unknown = await decide(sandbox, "A" * 22, "approve")
    assert unknown.status_code == 404
    foreign = await decide(sandbox, vid, "approve", headers={"Origin": "https://evil.example"})
    assert foreign.status_code == 403 and body_of(foreign)["code"] == "foreign_origin"
    same = {"Origin": "http://localhost"}
    form = await entry("manager_decision")(page_request("POST", vid, body=b"decision=approve", headers={
        **as_user(sandbox, "grace.hopper@contoso.example"), "Content-Type": "application/x-www-form-urlencoded",
        **same}))
    assert form.status_code == 415
    anonymous = await entry("manager_decision")(page_request("POST", vid, body={"decision": "approve"},
                                                             headers={"Content-Type": "application/json"}))
    assert anonymous.status_code == 401
    assert (await get_job(job["job_id"]))["state"] == "awaiting_verification"
    assert (await decide(sandbox, vid, "approve", headers=same)).status_code == 200


@gated()
async def test_the_page_redirects_to_sign_in_and_shows_the_request(sandbox: Sandbox) -> None:
    job = await open_ticket(sandbox)
    vid = job["verification"]["id"]
    anonymous = await entry("manager_verification_page")(page_request("GET", vid))
    assert anonymous.status_code == 302
    assert anonymous.headers["Location"] == f"/.auth/login/aad?post_login_redirect_uri=/api/verify/manager/{vid}"
    page = await entry("manager_verification_page")(page_request("GET", vid, headers=as_user(
        sandbox, "grace.hopper@contoso.example")))
    assert page.status_code == 200 and page.mimetype == "text/html"
    text = page.get_body().decode()
    assert "ada.lovelace@contoso.example" in text and "RITM0010001" in text and 'id="approve"' in text
    assert page.headers["X-Frame-Options"] == "DENY" and "frame-ancestors 'none'" in \
        page.headers["Content-Security-Policy"]
    stranger = await entry("manager_verification_page")(page_request("GET", vid, headers=as_user(
        sandbox, "ada.lovelace@contoso.example")))
    assert stranger.status_code == 403 and 'id="approve"' not in stranger.get_body().decode()


@gated()
async def test_proofs_the_directory_cannot_support_fail_at_once(sandbox: Sandbox) -> None:
    # No manager (the top of the demo tenant).
    job = await open_ticket(sandbox, add_ticket(sandbox, "barbara.liskov@contoso.example", "b7" * 16, "RITM0020001"))
    assert job["state"] == "verification_failed"
    assert job["verification"]["proofs"][0]["reason"] == "no_manager"
    # A disabled manager.
    sandbox.graph.tenant.users[user_id(sandbox, "grace.hopper@contoso.example")].account_enabled = False
    job = await open_ticket(sandbox, add_ticket(sandbox, "linus.torvalds@contoso.example", "b8" * 16,
                                                "RITM0020002"))
    assert job["verification"]["proofs"][0]["reason"] == "manager_disabled"
    sandbox.graph.tenant.users[user_id(sandbox, "grace.hopper@contoso.example")].account_enabled = True
    # The manager asked for the reset themselves.
    body = add_ticket(sandbox, "edsger.dijkstra@contoso.example", "b9" * 16, "RITM0020003")
    body["requested_by"] = "grace.hopper@contoso.example"
    job = await open_ticket(sandbox, body)
    assert job["verification"]["proofs"][0]["reason"] == "not_independent"
    assert graph_writes(sandbox) == []


@gated(VERIFY_FAILURES_ALERT="2", VERIFY_ON_FAILURE="revoke_sessions")
async def test_repeated_failures_raise_possible_social_engineering_and_revoke(sandbox: Sandbox) -> None:
    job = await open_ticket(sandbox)
    await decide(sandbox, job["verification"]["id"], "deny", reason="not them")
    assert not any("possible_social_engineering" in card_text(p) for p in sandbox.teams.posts)
    # The operator's retry starts a new verification with a new id.
    retried = await entry("retry_job")(operator_request("POST", f"/api/jobs/{job['job_id']}/retry", job["job_id"],
                                                        b'{"reason": "caller rang again"}'))
    assert retried.status_code == 202, retried.get_body()
    await sandbox.deliver_all()
    again = await get_job(job["job_id"])
    assert again["state"] == "awaiting_verification"
    assert again["verification"]["id"] != job["verification"]["id"]
    assert (await decide(sandbox, job["verification"]["id"], "approve")).status_code == 409, "the old link is over"
    await decide(sandbox, again["verification"]["id"], "deny", reason="still not them")
    posts = [card_text(p) for p in sandbox.teams.posts]
    assert any("possible_social_engineering" in p and "(high)" in p for p in posts)
    done = await get_job(job["job_id"])
    assert any(s["action"] == "revoke_sessions" and s["outcome"] == "revoked" for s in done["steps"])
    revokes = [c for c in sandbox.graph.calls if c["path"].endswith("revokeSignInSessions")]
    assert len(revokes) == 1
    assert not [c for c in graph_writes(sandbox) if "authentication" in c["path"]], "no method removed"


@gated()
async def test_an_expired_verification_ends_and_refuses_late_decisions(sandbox: Sandbox) -> None:
    job = await open_ticket(sandbox)
    vid = job["verification"]["id"]
    service = sandbox.container.verification_service()
    later = job_time(job) + timedelta(minutes=61)
    service.now = lambda: later
    service.gate.now = lambda: later
    ended = await service.expire_due()
    assert [j.job_id for j in ended] == [job["job_id"]]
    done = await get_job(job["job_id"])
    assert done["state"] == "verification_failed" and done["verification"]["state"] == "expired"
    assert done["verification"]["proofs"][0]["state"] == "expired"
    late = await decide(sandbox, vid, "approve")
    assert late.status_code == 409
    assert "expired" in sandbox.servicenow.journal_for("a1" * 16)[-1]


def job_time(job: dict[str, Any]) -> Any:
    from datetime import datetime

    return datetime.fromisoformat(job["created_at"])


PRIVILEGED = {**GATED, "PRIVILEGED_ROLES": "Privileged Authentication Administrator"}


@pytest.mark.parametrize("sandbox_env", [{**PRIVILEGED, **tables()}])
async def test_a_privileged_user_needs_the_manager_and_a_call_back_to_the_number_on_record(
        sandbox: Sandbox) -> None:
    body = add_ticket(sandbox, "alan.turing@contoso.example", "c3" * 16, "RITM0010003",
                      u_mfa_privileged_approval="approved")
    job = await open_ticket(sandbox, body)
    v = job["verification"]
    assert v["tier"] == "privileged" and v["require"] == {"all": ["manager", "callback"]}
    wrong = await attest(job["job_id"], "0000")
    assert wrong.status_code == 422 and body_of(wrong)["code"] == "number_mismatch"
    failed = await get_job(job["job_id"])
    assert failed["state"] == "verification_failed"
    callback = next(p for p in failed["verification"]["proofs"] if p["kind"] == "callback")
    assert callback["reason"] == "number_mismatch" and callback["by"] == "secops@contoso.example"
    shown = json.dumps(failed)
    assert not any(n in shown for n in ("425 555", "555 0114", "4255550114", "5550114")), "no number in the clear"
    assert any(re.search(r"number on record \*+14\b", s["detail"]) for s in failed["steps"]), failed["steps"]
    # Retry: this time the right digits, then the manager (barbara.liskov manages alan).
    await entry("retry_job")(operator_request("POST", f"/api/jobs/{job['job_id']}/retry", job["job_id"], b"{}"))
    await sandbox.deliver_all()
    job = await get_job(job["job_id"])
    no_role = await attest(job["job_id"], "0114", True, "Jobs.Read")
    assert no_role.status_code == 403
    ok = await attest(job["job_id"], "0114")
    assert ok.status_code == 200 and body_of(ok)["state"] == "awaiting_verification"
    assert (await attest(job["job_id"], "0114")).status_code == 409, "attested once"
    assert graph_writes(sandbox) == []
    approved = await decide(sandbox, job["verification"]["id"], "approve", upn="barbara.liskov@contoso.example")
    assert approved.status_code == 200
    await sandbox.deliver_all()
    done = await get_job(job["job_id"])
    assert done["state"] == "succeeded", done
    assert [p["state"] for p in done["verification"]["proofs"]] == ["passed", "passed"]


@pytest.mark.parametrize("sandbox_env", [{"VERIFY_POLICY": "none", **tables()}])
async def test_without_a_gate_every_job_says_no_proof_was_required(sandbox: Sandbox) -> None:
    job = await open_ticket(sandbox)
    assert job["state"] == "succeeded"
    assert job["verification"]["state"] == "not_required" and job["verification"]["proofs"] == []
    assert job["verification"]["tap_delivery"] == "operator"


@gated()
async def test_a_request_put_straight_on_the_queue_waits_too(sandbox: Sandbox) -> None:
    body = ticket()
    await sandbox.queue.send(json.dumps(body).encode(), message_id="queue-door-1", session_id=body["user"],
                             correlation_id="queue-door-1")
    await sandbox.deliver_all()
    [job] = [j for j in await sandbox.container.job_store().list_for_user(body["user"])]
    assert job.source.kind == "queue" and job.state.value == "awaiting_verification"
    assert graph_writes(sandbox) == []
    assert job.verification is not None
    assert (await decide(sandbox, job.verification.id, "approve")).status_code == 200
    await sandbox.deliver_all()
    assert (await sandbox.container.job_store().get(job.job_id)).state.value == "succeeded"
