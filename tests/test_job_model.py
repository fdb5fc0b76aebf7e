from datetime import UTC, datetime, timedelta

import pytest

from shared.errors import InvalidTransitionError
from shared.jobs.model import (
    MAX_DETAIL_CHARS,
    Job,
    JobKind,
    JobState,
    Source,
    Target,
    job_id_for_key,
    ticket_idempotency_key,
)


def new_job(key: str = "") -> Job:
    return Job.new(JobKind.RESET, Target(upn="ada@contoso.com"), Source(kind="ticket", sys_id="a" * 32),
                   requested_by="agent@contoso.com", idempotency_key=key,
                   job_id=job_id_for_key(key, KEY) if key else "")


KEY = b"a-secret-job-id-key"


def test_a_new_job_is_received_with_one_step() -> None:
    job = new_job()
    assert job.state is JobState.RECEIVED
    assert [(s.action, s.outcome) for s in job.steps] == [("received", "ok")]


def test_the_happy_path_walks_received_queued_running_succeeded() -> None:
    job = new_job()
    for state in (JobState.QUEUED, JobState.RUNNING, JobState.SUCCEEDED):
        job.transition(state)
    assert job.state is JobState.SUCCEEDED
    assert job.attempts == 1
    assert [s.outcome for s in job.steps if s.action == "state"] == ["queued", "running", "succeeded"]


@pytest.mark.parametrize("final", [JobState.SUCCEEDED, JobState.FAILED, JobState.REJECTED])
@pytest.mark.parametrize("to", list(JobState))
def test_no_transition_leaves_a_final_state(final: JobState, to: JobState) -> None:
    job = new_job()
    job.transition(JobState.RUNNING)
    job.transition(final)
    with pytest.raises(InvalidTransitionError):
        job.transition(to)
    assert job.state is final


def test_received_cannot_jump_to_succeeded() -> None:
    job = new_job()
    with pytest.raises(InvalidTransitionError, match="received -> succeeded"):
        job.transition(JobState.SUCCEEDED)


def test_a_redelivery_reenters_running_and_counts_an_attempt() -> None:
    job = new_job()
    job.transition(JobState.RUNNING)
    job.transition(JobState.RUNNING)
    assert job.attempts == 2


def test_retry_out_of_a_final_state_needs_a_name_and_is_recorded() -> None:
    job = new_job()
    job.transition(JobState.RUNNING)
    job.fail("graph_forbidden", "Authorization_RequestDenied")
    assert job.error is not None and job.error.code == "graph_forbidden"
    with pytest.raises(InvalidTransitionError):
        job.retry(by="")
    job.retry(by="ops@contoso.com", reason="permission granted")
    assert job.state is JobState.QUEUED
    assert job.error is None
    assert job.steps[-1].action == "retry"
    assert job.steps[-1].data == {"by": "ops@contoso.com"}
    assert "ops@contoso.com" in job.steps[-1].detail


def test_a_running_job_cannot_be_retried() -> None:
    job = new_job()
    job.transition(JobState.RUNNING)
    with pytest.raises(InvalidTransitionError):
        job.retry(by="ops@contoso.com")


def test_awaiting_approval_goes_back_to_the_queue_only_by_an_attributed_retry() -> None:
    job = new_job()
    job.transition(JobState.RUNNING)
    job.transition(JobState.AWAITING_APPROVAL, "privileged target")
    with pytest.raises(InvalidTransitionError):
        job.transition(JobState.SUCCEEDED)
    job.retry(by="secops@contoso.com")
    assert job.state is JobState.QUEUED


def test_keyed_jobs_get_a_stable_id_from_the_key() -> None:
    key = ticket_idempotency_key("SC_REQ_ITEM", "A" * 32, "reset_mfa")
    assert key == "sc_req_item:" + "a" * 32 + ":reset_mfa"
    assert new_job(key).job_id == new_job(key).job_id == job_id_for_key(key, KEY)
    assert new_job().job_id != new_job().job_id


def test_a_keyed_job_id_cannot_be_computed_without_the_secret() -> None:
    import uuid

    key = ticket_idempotency_key("sc_req_item", "a" * 32, "reset_mfa")
    # The old scheme: uuid5 of a namespace in the source; anyone with the ticket could compute it.
    old = str(uuid.uuid5(uuid.UUID("6f1d4c1e-6a55-4f55-9d7e-1a8f0b6c2d10"), key))
    assert job_id_for_key(key, KEY) != old
    assert job_id_for_key(key, KEY) != job_id_for_key(key, b"another-key")
    with pytest.raises(ValueError):
        job_id_for_key(key, b"")
    with pytest.raises(ValueError):
        Job.new(JobKind.RESET, Target(upn="a@b.example"), Source(kind="ticket"), idempotency_key=key)


def test_a_succeeded_job_is_final_even_for_a_retry() -> None:
    job = new_job()
    job.transition(JobState.RUNNING)
    job.transition(JobState.SUCCEEDED)
    with pytest.raises(InvalidTransitionError):
        job.retry(by="ops@contoso.com")
    assert job.state is JobState.SUCCEEDED


@pytest.mark.parametrize(("code", "retryable"), [
    ("ticket_not_approved", True), ("user_not_found", True), ("break_glass", False), ("guest_user", False),
    ("disabled_user", False), ("ticket_closed", False), ("ticket_user_mismatch", False)])
def test_only_rejections_a_rerun_may_lift_are_retryable(code: str, retryable: bool) -> None:
    job = new_job()
    job.transition(JobState.RUNNING)
    job.reject(code, "because")
    if retryable:
        job.retry(by="ops@contoso.com")
        assert job.state is JobState.QUEUED
    else:
        with pytest.raises(InvalidTransitionError):
            job.retry(by="ops@contoso.com")
        assert job.state is JobState.REJECTED


def test_methods_removed_are_derived_from_the_steps() -> None:
    job = new_job()
    job.record("delete_method", "removed", data={"type": "phone", "id": "p1"})
    job.record("delete_method", "failed", data={"type": "fido2", "id": "f1"})
    job.record("delete_method", "removed", data={"type": "fido2", "id": "f1"})
    assert job.methods_removed == [{"type": "phone", "id": "p1"}, {"type": "fido2", "id": "f1"}]


def test_step_details_are_bounded() -> None:
    job = new_job()
    step = job.record("note", "ok", "x" * (MAX_DETAIL_CHARS * 3))
    assert len(step.detail) == MAX_DETAIL_CHARS


def test_steps_carry_the_time_given() -> None:
    at = datetime(2026, 1, 1, tzinfo=UTC)
    job = new_job()
    job.transition(JobState.QUEUED, now=at + timedelta(seconds=5))
    assert job.updated_at == at + timedelta(seconds=5)
