"""Crashes, redelivery, dead-lettering, ServiceNow failures, other producers, and removal for 1 to 10
methods of every type."""

from __future__ import annotations

import json
import random
from typing import Any

import pytest

from sandbox.graph.tenant import method_from_spec
from sandbox.system import Sandbox
from shared.graph.port import AuthMethod, ChainResult
from tests.reset.conftest import get_job, post, reset, ticket

KEY = "sc_req_item:" + "a1" * 16 + ":reset_mfa"


async def test_a_crash_between_two_deletes_resumes_on_redelivery(sandbox: Sandbox) -> None:
    gateway = sandbox.container.graph()
    real = gateway.reset_chain
    crashed = []

    async def crash_after_first_delete(user_id: str, deletes: list[AuthMethod], **kwargs: Any) -> ChainResult:
        if not crashed:
            crashed.append(True)
            await real(user_id, deletes[:1], revoke=False, tap=None)  # the first delete happens in Graph...
            raise RuntimeError("worker lost")  # ...and the worker dies before recording it
        return await real(user_id, deletes, **kwargs)

    gateway.reset_chain = crash_after_first_delete  # type: ignore[method-assign]
    job = await reset(sandbox)
    assert job["state"] == "succeeded", job
    assert job["attempts"] == 2
    removed = {m["type"] for m in job["methods_removed"]}
    # The phone went in the crashed attempt before it could say so: the plan written before the first delete
    # lets the redelivery find it gone and record it, so the job's steps stay true.
    assert removed == {"phone", "microsoftAuthenticator"}
    assert any("earlier delivery" in s["detail"] for s in job["steps"] if s["action"] == "delete_method")
    user = sandbox.graph.tenant.user("ada.lovelace@contoso.example")
    assert user is not None and [m.type for m in user.methods] == ["temporaryAccessPass"]
    assert sandbox.queue.dead == [] and sandbox.queue.completed == 1


@pytest.mark.parametrize("sandbox_env", [{"GRAPH_RETRY_AFTER_CAP_S": "5", "QUEUE_MAX_DELIVERIES": "10",
                                          "JOBS_TABLE": "jobsthrottle", "JOBS_BY_USER_TABLE": "byuserthrottle"}])
async def test_throttling_past_the_cap_is_rescheduled_and_each_delivery_resumes(sandbox: Sandbox) -> None:
    user = "max.methods@contoso.example"  # ten methods, default voiceMobile
    sandbox.servicenow.records[("sc_req_item", "a1" * 16)]["requested_for"] = user
    throttle = sandbox.graph.throttle
    throttle.enabled = True
    # A user's methods count in the reports bucket: five requests per delivery (the read's two, three deletes)
    # and a bucket that does not refill by itself: Graph asks for a wait far past the 5 s cap, so the worker
    # puts the job back on the queue for later (a scheduled message, a new id) instead of sleeping, and each
    # delivery resumes.
    throttle.configure({"reports": {"capacity": 5, "window_s": 3600}})
    response = await post(sandbox, ticket(user=user, revoke_sessions=False, issue_tap=False))
    deliver, _ = sandbox.handlers()
    deliveries = 0
    while sandbox.queue.active or sandbox.queue.scheduled:
        sandbox.queue.release_scheduled(all_now=True)  # time passes: the backoff is over
        throttle.buckets["reports"].tokens = 5
        await sandbox.queue.deliver_one(deliver)
        deliveries += 1
    job = await get_job(json.loads(response.get_body())["job_id"])
    assert job["state"] == "succeeded", [s for s in job["steps"] if s["outcome"] != "ok"]
    assert deliveries == job["attempts"] == 4  # 3 + 3 + 3 deletes, then the default (mobile) last
    assert len(job["methods_removed"]) == 10
    assert sum(s["outcome"] == "retry_later" for s in job["steps"]) == 3
    assert sum(s["action"] == "rescheduled" for s in job["steps"]) == 3
    assert sandbox.queue.dead == []  # no delivery count burnt
    assert sandbox.graph.tenant.user(user).methods == []  # type: ignore[union-attr]


@pytest.mark.parametrize("sandbox_env", [{"QUEUE_MAX_DELIVERIES": "2", "GRAPH_MAX_RETRIES": "0",
                                          "JOBS_TABLE": "jobsdlq", "JOBS_BY_USER_TABLE": "byuserdlq"}])
async def test_a_message_that_keeps_failing_is_dead_lettered_and_the_job_fails(sandbox: Sandbox) -> None:
    sandbox.graph.faults.rate_503 = 1.0
    job = await reset(sandbox)
    assert job["state"] == "failed" and job["error"]["code"] == "dead_lettered"
    assert job["attempts"] == 2
    assert "2 deliveries" in job["error"]["message"]
    assert sandbox.queue.dead == []  # the dead-letter function consumed it
    [note] = sandbox.servicenow.journal_for("a1" * 16)
    assert "NOT reset" in note


async def test_servicenow_429_is_retried_and_the_note_lands(sandbox: Sandbox) -> None:
    sandbox.servicenow.fail_next, sandbox.servicenow.fail_status = 2, 429
    job = await reset(sandbox)
    assert job["state"] == "succeeded"
    assert len(sandbox.servicenow.journal_for("a1" * 16)) == 1


async def test_a_write_back_that_fails_does_not_undo_the_reset(sandbox: Sandbox) -> None:
    response = await post(sandbox, ticket())
    assert response.status_code == 202
    records = sandbox.servicenow

    original = sandbox.container.tickets().write_back

    async def broken(*args: Any, **kwargs: Any) -> None:
        records.fail_next, records.fail_status = 100, 500
        await original(*args, **kwargs)

    sandbox.container.tickets().write_back = broken  # type: ignore[method-assign]
    await sandbox.deliver_all()
    job = await get_job(json.loads(response.get_body())["job_id"])
    assert job["state"] == "succeeded"
    assert job["steps"][-1]["action"] == "write_back" and job["steps"][-1]["outcome"] == "failed"
    assert sandbox.servicenow.journal_for("a1" * 16) == []


async def test_an_unreadable_queue_message_ends_in_a_failed_job(sandbox: Sandbox) -> None:
    await sandbox.queue.send(b'{"table": "incident"', message_id="junk-1", session_id="x", correlation_id="")
    await sandbox.deliver_all()
    job = await sandbox.container.job_store().find_by_key("queue:junk-1")
    assert job is not None and job.state.value == "failed"
    assert job.error is not None and job.error.code == "invalid_message"


async def test_another_producer_may_put_the_request_on_the_queue(sandbox: Sandbox) -> None:
    await sandbox.queue.send(json.dumps(ticket()).encode(), message_id=KEY, session_id="ada", correlation_id="c1")
    await sandbox.deliver_all()
    job = await sandbox.container.job_store().find_by_key(KEY)
    assert job is not None and job.state.value == "succeeded"
    assert job.source.kind == "queue" and job.source.message_id == KEY


async def test_the_queue_drops_a_duplicate_message_id(sandbox: Sandbox) -> None:
    for _ in range(3):
        await sandbox.queue.send(json.dumps(ticket()).encode(), message_id=KEY, session_id="ada", correlation_id="")
    assert len(sandbox.queue.active) == 1 and sandbox.queue.duplicates == 2


ALL_TYPES: list[dict[str, Any]] = [
    {"type": "phone", "phoneType": "mobile", "phoneNumber": "+1 5550001"},
    {"type": "phone", "phoneType": "alternateMobile", "phoneNumber": "+1 5550002"},
    {"type": "phone", "phoneType": "office", "phoneNumber": "+1 5550003"},
    {"type": "email", "emailAddress": "x@home.example"},
    {"type": "microsoftAuthenticator", "displayName": "Phone A"},
    {"type": "fido2", "displayName": "Key A"},
    {"type": "softwareOath"},
    {"type": "windowsHelloForBusiness", "displayName": "PC"},
    {"type": "platformCredential", "displayName": "Mac"},
    {"type": "externalAuthenticationMethod", "displayName": "Duo"},
    {"type": "microsoftAuthenticator", "displayName": "Phone B"},
    {"type": "fido2", "displayName": "Key B"},
    {"type": "temporaryAccessPass", "lifetimeInMinutes": 60},
]
DEFAULT_FOR = {"microsoftAuthenticator": "push", "softwareOath": "oath", "mobile": "sms",
               "alternateMobile": "voiceAlternateMobile", "office": "voiceOffice"}


@pytest.mark.parametrize("count", range(1, 11))
async def test_every_removable_method_goes_default_last_for_1_to_10_methods(sandbox: Sandbox, count: int) -> None:
    rng = random.Random(count)
    chosen = rng.sample(ALL_TYPES, count)
    if any(m.get("phoneType") == "alternateMobile" for m in chosen) and not any(
            m.get("phoneType") == "mobile" for m in chosen):
        chosen = [ALL_TYPES[0], *chosen[:-1]] if count > 1 else [ALL_TYPES[0]]
    candidates = [DEFAULT_FOR.get(m.get("phoneType") or m["type"]) for m in chosen]
    default = next((c for c in reversed(candidates) if c), None)
    user = sandbox.graph.tenant.user("no.methods@contoso.example")
    assert user is not None
    now = sandbox.graph.tenant.clock.now()
    user.methods = [method_from_spec(user.upn, i, spec, now) for i, spec in enumerate(chosen)]
    user.default_method = default
    sandbox.servicenow.records[("sc_req_item", "a1" * 16)]["requested_for"] = user.upn
    job = await reset(sandbox, user=user.upn, issue_tap=False)
    assert job["state"] == "succeeded", job["steps"]
    assert len(job["methods_removed"]) == len(chosen)
    assert user.methods == []
    conflicts = [c for c in sandbox.graph.calls if c["method"] == "DELETE" and c["status"] == 400]
    assert conflicts == [], "the plan never trips the default-method or phone rules"


@pytest.mark.parametrize("sandbox_env", [{"QUEUE_MAX_DELIVERIES": "1", "GRAPH_MAX_RETRIES": "0",
                                          "JOBS_TABLE": "jobsdlq2", "JOBS_BY_USER_TABLE": "byuserdlq2"}])
async def test_a_dead_letter_records_what_graph_removed_and_the_note_says_so(sandbox: Sandbox) -> None:
    """Issue 23, finding 4: the deletes landed in Graph but the delivery died before recording them."""
    from shared.errors import GraphTransientError

    gateway = sandbox.container.graph()
    original = gateway.reset_chain

    async def dies_after_deleting(user_id: str, deletes: list[Any], **kwargs: Any) -> Any:
        await original(user_id, deletes, revoke=False, tap=None)  # Graph deleted them all...
        raise GraphTransientError("connection reset", status=503)  # ...and the worker never heard back

    gateway.reset_chain = dies_after_deleting  # type: ignore[method-assign]
    user = "max.methods@contoso.example"
    planned = len(sandbox.graph.tenant.user(user).methods)  # type: ignore[union-attr]
    job = await reset(sandbox, number="RITM0010007", sys_id="0a" * 16, user=user)
    assert job["state"] == "failed" and job["error"]["code"] == "dead_lettered"
    assert len(job["methods_removed"]) == planned == 10
    [note] = sandbox.servicenow.journal_for("0a" * 16)
    assert "did NOT finish" in note and "NOT reset" not in note
    assert "NO sign-in method left" in note
    assert [a for a in sandbox.alerts.raised if a["alert"] == "user_without_method"]
