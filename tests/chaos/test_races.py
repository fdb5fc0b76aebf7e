"""Duplicates and races: one ticket delivered 20 times at once through both doors, two tickets for one user at
once, and a job no worker holds any more."""

from __future__ import annotations

import asyncio
import json
from datetime import timedelta

from sandbox.hostile import ticket
from sandbox.system import Sandbox
from sandbox.tickets import submit
from shared.jobs.model import Job, JobKind, JobState, Source, Target
from shared.reset.request import parse_request

ADA = "ada.lovelace@contoso.example"


async def test_one_ticket_twenty_times_at_once_through_both_doors_is_one_job_and_one_reset(sandbox: Sandbox) -> None:
    body = ticket()
    request = parse_request(json.dumps(body).encode())
    webhooks = [submit(sandbox.webhook_secret, body) for _ in range(10)]
    queued = [sandbox.queue.send(json.dumps(request.to_message()).encode(), message_id=f"other-producer-{i}",
                                 session_id=ADA, correlation_id="") for i in range(10)]
    answers = await asyncio.gather(*webhooks, *queued)
    ids = {json.loads(a.get_body())["job_id"] for a in answers[:10]}
    assert len(ids) == 1
    await sandbox.deliver_all()
    job = await sandbox.container.job_store().get(ids.pop())
    assert job.state is JobState.SUCCEEDED
    deletes = [c for c in sandbox.graph.calls if c["method"] == "DELETE" and c["status"] < 300]
    assert len(deletes) == len({c["path"] for c in deletes}) > 0  # every method deleted once
    taps = [s for s in job.steps if s.action == "issue_tap" and s.outcome == "issued"]
    assert len(taps) == 1
    resets = [j for j in await sandbox.container.job_store().list_for_user(ADA) if j.kind is JobKind.RESET]
    assert len(resets) == 1


async def test_two_tickets_for_one_user_at_once_are_serialized(sandbox: Sandbox) -> None:
    sandbox.servicenow.records[("sc_req_item", "b2" * 16)] = {
        **sandbox.servicenow.records[("sc_req_item", "a1" * 16)], "sys_id": "b2" * 16, "number": "RITM0010002"}
    first, second = ticket(), ticket(number="RITM0010002", sys_id="b2" * 16)
    answers = await asyncio.gather(submit(sandbox.webhook_secret, first), submit(sandbox.webhook_secret, second))
    await sandbox.deliver_all()
    jobs = [await sandbox.container.job_store().get(json.loads(a.get_body())["job_id"]) for a in answers]
    # One resets; the other waits its turn and then finds the user reset moments ago (the cooldown parks it).
    states = sorted(j.state.value for j in jobs)
    assert states == ["awaiting_approval", "succeeded"], states
    parked = next(j for j in jobs if j.state is JobState.AWAITING_APPROVAL)
    assert any(s.action == "guardrail" and s.outcome == "recently_reset" for s in parked.steps)
    deletes = [c for c in sandbox.graph.calls if c["method"] == "DELETE" and c["status"] < 300]
    assert len(deletes) == len({c["path"] for c in deletes})


async def test_a_job_no_worker_holds_is_failed_by_the_timer_and_the_ticket_told(sandbox: Sandbox) -> None:
    from azure.functions.timer import TimerRequest

    from tests.reset.conftest import entry

    store = sandbox.container.job_store()
    old = sandbox.graph.tenant.clock.now() - timedelta(hours=3)
    job = Job.new(JobKind.RESET, Target(upn=ADA), Source(kind="servicenow", table="sc_req_item", sys_id="a1" * 16,
                                                         number="RITM0010001"), now=old)
    job.transition(JobState.RUNNING, "delivery 1", now=old)
    await store.create(job)
    fresh = Job.new(JobKind.RESET, Target(upn="grace.hopper@contoso.example"), Source(kind="operator"))
    fresh.transition(JobState.RUNNING, "now")
    await store.create(fresh)
    await entry("stuck_jobs_timer")(TimerRequest(past_due=False))
    stuck = await store.get(job.job_id)
    assert stuck.state is JobState.FAILED and stuck.error is not None and stuck.error.code == "stuck"
    assert "no worker holds it" in stuck.error.message
    assert any("NOT reset" in note for note in sandbox.servicenow.journal_for("a1" * 16))
    assert (await store.get(fresh.job_id)).state is JobState.RUNNING  # a live job is left alone
