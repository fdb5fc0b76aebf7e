"""The gate's property: whatever happens to a verification (decisions by the manager and by others, call-backs
right, wrong or refused, expiry, retries, redeliveries, in any order), Graph receives no write for a user until a
verification of that user's job has passed, and the TAP goes only where the policy names."""

from __future__ import annotations

import json
import uuid
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from sandbox.graph.tenant import User, method_from_spec
from sandbox.system import Sandbox
from shared.errors import (
    InvalidTransitionError,
    JobNotFoundError,
    TapDeliveredElsewhereError,
    TapGoneError,
    TapNotFoundError,
    VerificationError,
)
from shared.jobs.model import JobState
from tests.reset.conftest import post, ticket

ACTIONS = ("approve", "deny", "approve_by_other", "callback_right", "callback_wrong", "callback_refused", "expire",
           "retry", "deliver", "operator_tap")
WRITES = ("DELETE", "PATCH", "PUT")
PRIVILEGED_TIERS = {"VERIFY_POLICY": "", "PRIVILEGED_ROLES": "Privileged Authentication Administrator",
                    "RESET_COOLDOWN_MINUTES": "0", "RESETS_PER_HOUR_LIMIT": "1000"}


def _tables() -> dict[str, str]:
    suffix = uuid.uuid4().hex[:10]
    return {"JOBS_TABLE": f"jobs{suffix}", "JOBS_BY_USER_TABLE": f"jobsbyuser{suffix}"}


def _new_user(box: Sandbox, n: int, privileged: bool) -> User:
    tenant = box.graph.tenant
    upn = f"prop{uuid.uuid4().hex[:8]}@contoso.example"
    user = User(id=str(uuid.uuid4()), upn=upn, display_name=upn, roles=["Privileged Authentication Administrator"]
                if privileged else [], methods=[method_from_spec(upn, i, spec, tenant.clock.now()) for i, spec in
                                                enumerate([{"type": "phone", "phoneType": "mobile",
                                                            "phoneNumber": "+1 4255550100"},
                                                           {"type": "microsoftAuthenticator", "displayName": "x"}])],
                default_method="push", extra={"mobilePhone": f"+1 425 555 {n % 10000:04d}"})
    boss = tenant.user("grace.hopper@contoso.example")
    assert boss is not None
    user.manager = boss.id
    tenant.add_user(user)
    return user


async def _ticket_job(box: Sandbox, privileged: bool) -> tuple[User, str, int]:
    """A new user, an approved ticket for them, its job through the gate: (user, job id, calls before it)."""
    user = _new_user(box, len(box.graph.calls), privileged)
    sys_id = uuid.uuid4().hex
    box.servicenow.records[("sc_req_item", sys_id)] = {
        "table": "sc_req_item", "sys_id": sys_id, "number": "RITM0099999", "state": "1", "approval": "approved",
        "active": "true", "requested_for": user.upn, "u_mfa_privileged_approval": "approved"}
    start = len(box.graph.calls)
    answer = await post(box, ticket(number="RITM0099999", sys_id=sys_id, user=user.upn))
    await box.deliver_all()
    return user, json.loads(answer.get_body())["job_id"], start


def _writes_for(box: Sandbox, user: User, since: int) -> list[dict[str, Any]]:
    """Graph writes that touched the user (deletes, the revoke, the TAP), never the manager's mail."""
    return [c for c in box.graph.calls[since:] if user.id in c["path"] and (
        c["method"] in WRITES or (c["method"] == "POST" and not c["path"].endswith("$batch")
                                  and not c["path"].endswith("/sendMail")))]


@pytest.mark.parametrize("sandbox_env", [{**PRIVILEGED_TIERS, **_tables()}])
@given(privileged=st.booleans(), actions=st.lists(st.sampled_from(ACTIONS), min_size=1, max_size=7))
@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
async def test_no_graph_write_before_a_verification_passed(sandbox: Sandbox, privileged: bool,
                                                          actions: list[str]) -> None:
    box = sandbox
    user, job_id, start = await _ticket_job(box, privileged)
    store = box.container.job_store()
    service = box.container.verification_service()
    reset = box.container.reset_service()
    grace = box.graph.tenant.user("grace.hopper@contoso.example")
    ada = box.graph.tenant.user("ada.lovelace@contoso.example")
    assert grace is not None and ada is not None
    ever_passed = False
    for action in actions:
        job = await store.get(job_id)
        vid = job.verification.id if job.verification is not None else "x" * 22
        try:
            if action in ("approve", "deny", "approve_by_other"):
                who = ada if action == "approve_by_other" else grace
                await service.decide_manager(vid, by=who.upn, by_id=who.id, approve=action != "deny",
                                             reason="no" if action == "deny" else "")
            elif action.startswith("callback"):
                last4 = user.extra["mobilePhone"][-4:] if action != "callback_wrong" else "0000"
                if last4 == "0000" and action == "callback_wrong":
                    last4 = "9999" if user.extra["mobilePhone"][-4:] != "9999" else "0001"
                await service.attest_callback(job_id, by="desk@contoso.example", last4=last4,
                                              confirmed=action != "callback_refused")
            elif action == "expire":
                later = box.graph.tenant.clock.now() + timedelta(hours=3)
                service.now = lambda later=later: later  # type: ignore[misc]
                await service.expire_due()
            elif action == "retry":
                await reset.retry(job_id, by="ops@contoso.example", reason="again")
            elif action == "operator_tap":
                await reset.retrieve_tap(job_id, by="ops@contoso.example")
            else:
                await box.deliver_all()
        except (VerificationError, TapDeliveredElsewhereError, JobNotFoundError, InvalidTransitionError, TapGoneError,
                TapNotFoundError):
            pass  # refused: decided, not the manager, the TAP is the manager's, not retryable now
        job = await store.get(job_id)
        passed = any(s.action == "verification" and s.outcome == "passed" for s in job.steps)
        ever_passed = ever_passed or passed
        if not ever_passed:
            assert _writes_for(box, user, start) == [], (actions, job.state)
            assert len(user.methods) == 2, (actions, job.state)
    await box.deliver_all()
    job = await store.get(job_id)
    if job.methods_removed:
        steps = [s.action + ":" + s.outcome for s in job.steps]
        first_delete = steps.index(next(s for s in steps if s.startswith("delete_method")))
        assert "verification:passed" in steps[:first_delete], steps
    assert job.state in {JobState.SUCCEEDED, JobState.AWAITING_VERIFICATION, JobState.VERIFICATION_FAILED,
                         JobState.QUEUED, JobState.FAILED, JobState.AWAITING_APPROVAL}, job.state
    # The operator never holds the TAP: every retrieval by an operator was refused.
    assert not any(s.action == "tap_retrieval" and s.outcome == "retrieved" for s in job.steps)


VERIFIED_POLICY_FILE = Path(__file__).resolve().parent / "_property_verified_policy.yaml"
VERIFIED_ACTIONS = ("open_page", "open_elsewhere", "scan", "present_ok", "present_other", "present_low", "decline",
                    "forged_callback", "expire", "retry", "deliver", "operator_tap", "user_tap")


def _verified_env() -> dict[str, str]:
    VERIFIED_POLICY_FILE.write_text("tiers:\n  - id: standard\n    require: {all: [verified_id]}\n"
                                    "    tap_delivery: verified_user\n")
    return {"VERIFY_POLICY": str(VERIFIED_POLICY_FILE), "RESET_COOLDOWN_MINUTES": "0",
            "RESETS_PER_HOUR_LIMIT": "1000", **_tables()}


@pytest.mark.parametrize("sandbox_env", [_verified_env()])
@given(actions=st.lists(st.sampled_from(VERIFIED_ACTIONS), min_size=1, max_size=8))
@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
async def test_no_graph_write_before_a_verified_id_presentation_passed(sandbox: Sandbox, actions: list[str]) -> None:
    """The gate's property with the verified_id proof: whatever the page, the wallet, a forger, the clock and the
    operator do, no write before the presentation passed, and the TAP only to the browser that opened the page."""
    box = sandbox
    user, job_id, start = await _ticket_job(box, privileged=False)
    store = box.container.job_store()
    verified = box.container.verified_id_service()
    reset = box.container.reset_service()
    sim = box.verifiedid
    cookie, ever_passed, handed = "", False, []
    for action in actions:
        job = await store.get(job_id)
        vid = job.verification.id if job.verification is not None else "x" * 22
        proof = job.verification.proof("verified_id") if job.verification is not None else None
        request_id = str(proof.data.get("request_id", "")) if proof is not None else ""
        try:
            if action in ("open_page", "open_elsewhere"):
                opened = await verified.open_page(vid, browser=cookie if action == "open_page" else "",
                                                  client="198.51.100.1")
                cookie = opened.browser or cookie
            elif action == "scan" and request_id in sim.requests:
                await sim.scan(request_id)
            elif action.startswith("present") or action == "decline":
                if request_id in sim.requests:
                    who = "ada.lovelace@contoso.example" if action == "present_other" else user.upn
                    await sim.present(request_id, user=who, face_match=40 if action == "present_low" else 90,
                                      decline=action == "decline")
            elif action == "forged_callback":
                await verified.callback("not-the-key", {"requestId": request_id, "state": vid,
                                                        "requestStatus": "presentation_verified"})
            elif action == "expire":
                later = box.graph.tenant.clock.now() + timedelta(hours=3)
                verified.now = box.container.verification_service().now = lambda later=later: later  # type: ignore[misc]
            elif action == "retry":
                await reset.retry(job_id, by="ops@contoso.example", reason="again")
            elif action == "operator_tap":
                await reset.retrieve_tap(job_id, by="ops@contoso.example")
            elif action == "user_tap":
                handed.append((await verified.tap(vid, browser=cookie)).value.reveal())
            else:
                await box.deliver_all()
        except (VerificationError, TapDeliveredElsewhereError, JobNotFoundError, InvalidTransitionError, TapGoneError,
                TapNotFoundError):
            pass
        job = await store.get(job_id)
        ever_passed = ever_passed or any(s.action == "verification" and s.outcome == "passed" for s in job.steps)
        if not ever_passed:
            assert _writes_for(box, user, start) == [], (actions, job.state)
            assert len(user.methods) == 2 and handed == [], (actions, job.state)
    job = await store.get(job_id)
    assert not any(s.action == "tap_retrieval" and s.outcome == "retrieved" and "operator" not in s.detail
                   and "verified user" not in s.detail for s in job.steps)
    assert len(handed) <= 1
