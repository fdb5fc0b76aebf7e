"""A Retry-After longer than the worker may hold a message, or throttling again, reschedules the job with backoff
(a scheduled enqueue time, under a new message id) instead of burning the delivery count in seconds."""

from __future__ import annotations

import json

from sandbox.system import Sandbox
from shared.jobs.model import JobState
from tests.reset.conftest import body_of, post, ticket


async def test_a_long_retry_after_reschedules_under_a_new_message_id(sandbox: Sandbox) -> None:
    sandbox.container.settings = sandbox.container.settings.model_copy(update={"graph_retry_after_cap_s": 1.0})
    sandbox.container._reset = None
    accepted = await post(sandbox, ticket())
    job_id = body_of(accepted)["job_id"]
    # The reports bucket holds one request a minute: the reset's read answers 429 with Retry-After ~60 s.
    sandbox.graph.throttle.enabled = True
    sandbox.graph.throttle.configure({"reports": {"capacity": 1, "window_s": 60}})
    sandbox.graph.throttle.check("/reports/authenticationMethods/userRegistrationDetails", "GET", {})
    await sandbox.deliver_all()
    job = await sandbox.container.job_store().get(job_id)
    step = next(s for s in job.steps if s.action == "rescheduled")
    assert step.data["delay_s"] >= 30
    assert job.state is not JobState.FAILED
    [(_due, message)] = sandbox.queue.scheduled
    assert message.message_id.endswith(":backoff1") and message.session_id == "ada.lovelace@contoso.example"
    assert sandbox.queue.dead == [] and sandbox.queue.completed == 1  # the first delivery completed, not burnt
    # Time passes (the scheduled message comes due) and the bucket has room again: the job finishes.
    sandbox.graph.throttle.enabled = False
    sandbox.queue.release_scheduled(all_now=True)
    await sandbox.deliver_all()
    done = await sandbox.container.job_store().get(job_id)
    assert done.state is JobState.SUCCEEDED
    assert json.loads(message.body)["sys_id"] == "a1" * 16


async def test_a_reset_with_no_turn_in_the_budget_goes_back_on_the_queue_unsent(sandbox: Sandbox) -> None:
    # Many instances on one shared budget: this worker's turn is further off than it may wait. Its own budget
    # answers 429 before anything is sent, and the job is rescheduled, not failed and not slept through.
    sandbox.container.settings = sandbox.container.settings.model_copy(update={
        "graph_budget_enabled": True, "graph_budget_reports": "1/60", "graph_budget_max_wait_s": 0.3,
        "graph_retry_after_cap_s": 0.2})
    for cached in ("_reset", "_graph", "_budget"):
        setattr(sandbox.container, cached, None)
    accepted = await post(sandbox, ticket())
    job_id = body_of(accepted)["job_id"]
    sandbox.graph.calls.clear()
    await sandbox.deliver_all()
    job = await sandbox.container.job_store().get(job_id)
    assert job.state is not JobState.FAILED
    step = next(s for s in job.steps if s.action == "rescheduled")
    assert step.data["delay_s"] >= 1
    assert sandbox.container.graph_budget().refused >= 1
    deletes = [c for c in sandbox.graph.calls if c["method"] == "DELETE"]
    assert deletes == [] and sandbox.graph.throttle.throttled == 0  # Graph itself never throttled anything
    [(_due, message)] = sandbox.queue.scheduled
    assert message.message_id.endswith(":backoff1")
