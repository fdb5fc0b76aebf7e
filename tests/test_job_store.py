"""The job store against the real Table API (Azurite)."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

import pytest
from azure.core.exceptions import ResourceModifiedError

from shared.errors import ConcurrencyError, InvalidTransitionError, JobNotFoundError
from shared.jobs.model import Job, JobKind, JobState, Source, Target, job_id_for_key, ticket_idempotency_key
from shared.jobs.table_store import TableJobStore

T0 = datetime(2026, 11, 1, 9, 0, tzinfo=UTC)


def reset_job(upn: str = "ada@contoso.com", *, key: str = "", user_id: str = "", at: datetime = T0) -> Job:
    return Job.new(JobKind.RESET, Target(id=user_id, upn=upn),
                   Source(kind="ticket", table="sc_req_item", sys_id="a" * 32, number="RITM0010001"),
                   requested_by="agent@contoso.com", idempotency_key=key,
                   job_id=job_id_for_key(key, b"test-job-id-key") if key else "", now=at)


async def test_a_created_job_reads_back_whole(job_store: TableJobStore) -> None:
    job = reset_job(user_id="u-1")
    job.record("delete_method", "removed", "phone mobile", data={"type": "phone", "id": "p1"})
    _stored, created = await job_store.create(job)
    assert created
    again = await job_store.get(job.job_id)
    assert again.target == Target(id="u-1", upn="ada@contoso.com")
    assert again.source.number == "RITM0010001"
    assert again.created_at == T0
    assert [s.to_dict() for s in again.steps] == [s.to_dict() for s in job.steps]
    assert again.methods_removed == [{"type": "phone", "id": "p1"}]


async def test_creating_the_same_key_twice_returns_the_first_job(job_store: TableJobStore) -> None:
    key = ticket_idempotency_key("sc_req_item", "b" * 32, "reset_mfa")
    first, created_first = await job_store.create(reset_job(key=key))
    await job_store.update(first.job_id, lambda j: j.transition(JobState.QUEUED))
    second, created_second = await job_store.create(reset_job(key=key, at=T0 + timedelta(minutes=5)))
    assert created_first and not created_second
    assert second.job_id == first.job_id
    assert second.state is JobState.QUEUED
    assert second.created_at == T0


async def test_concurrent_creates_of_one_key_make_one_job(job_store: TableJobStore) -> None:
    key = ticket_idempotency_key("incident", "c" * 32, "reset_mfa")
    results = await asyncio.gather(*(job_store.create(reset_job(key=key)) for _ in range(8)))
    assert sum(created for _, created in results) == 1
    assert len({job.job_id for job, _ in results}) == 1


async def test_find_by_key(job_store: TableJobStore) -> None:
    key = ticket_idempotency_key("sc_req_item", "d" * 32, "reset_mfa")
    assert await job_store.find_by_key(key) is None
    job, _ = await job_store.create(reset_job(key=key))
    found = await job_store.find_by_key(key)
    assert found is not None and found.job_id == job.job_id


async def test_a_missing_job_is_not_found(job_store: TableJobStore) -> None:
    with pytest.raises(JobNotFoundError):
        await job_store.get("no-such-job")
    with pytest.raises(JobNotFoundError):
        await job_store.update("no-such-job", lambda j: None)


async def test_transitions_are_checked_and_a_refused_one_saves_nothing(job_store: TableJobStore) -> None:
    job, _ = await job_store.create(reset_job())
    await job_store.update(job.job_id, lambda j: j.transition(JobState.RUNNING))
    await job_store.update(job.job_id, lambda j: j.transition(JobState.SUCCEEDED))
    with pytest.raises(InvalidTransitionError):
        await job_store.update(job.job_id, lambda j: j.transition(JobState.RUNNING))
    stored = await job_store.get(job.job_id)
    assert stored.state is JobState.SUCCEEDED
    assert stored.attempts == 1


def other_worker(store: TableJobStore) -> TableJobStore:
    """A second worker on the same tables, with its own memory of ETags."""
    return TableJobStore(store._service, store._jobs_name, store._by_user_name, job_id_key=store.job_id_key)


async def test_an_etag_conflict_is_retried_on_the_fresh_job(job_store: TableJobStore) -> None:
    job, _ = await job_store.create(reset_job())
    await other_worker(job_store).update(job.job_id, lambda j: j.record("other_writer", "ok"))
    calls = 0

    def change(j: Job) -> None:
        nonlocal calls
        calls += 1
        j.record("mine", "ok")

    saved = await job_store.update(job.job_id, change)  # its remembered ETag is stale now
    assert calls == 2, "the first attempt must have conflicted and been retried"
    actions = [s.action for s in (await job_store.get(job.job_id)).steps]
    assert actions == ["received", "other_writer", "mine"]
    assert [s.action for s in saved.steps] == actions


async def test_a_stale_copy_never_lets_an_invalid_transition_through(job_store: TableJobStore) -> None:
    job, _ = await job_store.create(reset_job())
    await job_store.update(job.job_id, lambda j: j.transition(JobState.RUNNING))
    await other_worker(job_store).update(job.job_id, lambda j: j.fail("dead_lettered", "gave up"))
    with pytest.raises(InvalidTransitionError):
        await job_store.update(job.job_id, lambda j: j.transition(JobState.SUCCEEDED))
    assert (await job_store.get(job.job_id)).state is JobState.FAILED


async def test_a_change_refused_on_a_stale_copy_is_judged_again_on_the_stored_job(
        job_store: TableJobStore) -> None:
    job, _ = await job_store.create(reset_job())
    await job_store.update(job.job_id, lambda j: j.transition(JobState.RUNNING))
    await job_store.update(job.job_id, lambda j: j.transition(JobState.AWAITING_APPROVAL))
    await other_worker(job_store).update(job.job_id, lambda j: j.retry("ops@contoso.example"))
    # This worker remembers the job as parked, where running is refused; the stored job is queued again.
    saved = await job_store.update(job.job_id, lambda j: j.transition(JobState.RUNNING))
    assert saved.state is JobState.RUNNING and saved.attempts == 2


async def test_an_update_reads_only_when_its_copy_is_stale(job_store: TableJobStore) -> None:
    job, _ = await job_store.create(reset_job())
    reads = 0
    original = job_store._get_entity

    async def counting(job_id: str) -> object:
        nonlocal reads
        reads += 1
        return await original(job_id)

    job_store._get_entity = counting  # type: ignore[method-assign]
    for i in range(5):
        await job_store.update(job.job_id, lambda j, i=i: j.record(f"step-{i}", "ok"))
    assert reads == 0
    await other_worker(job_store).update(job.job_id, lambda j: j.record("elsewhere", "ok"))
    await job_store.update(job.job_id, lambda j: j.record("after", "ok"))
    assert reads == 1
    assert [s.action for s in (await job_store.get(job.job_id)).steps][-2:] == ["elsewhere", "after"]


async def test_two_concurrent_writers_lose_no_step(job_store: TableJobStore) -> None:
    job, _ = await job_store.create(reset_job())

    async def writer(name: str) -> None:
        for i in range(15):
            await job_store.update(job.job_id, lambda j, i=i: j.record(f"{name}-{i}", "ok"))

    await asyncio.gather(writer("a"), writer("b"))
    actions = [s.action for s in (await job_store.get(job.job_id)).steps]
    assert sorted(a for a in actions if a != "received") == sorted([f"a-{i}" for i in range(15)] +
                                                                   [f"b-{i}" for i in range(15)])
    # Each writer's own steps stay in the order it wrote them.
    assert [a for a in actions if a.startswith("a-")] == [f"a-{i}" for i in range(15)]


async def test_an_update_that_always_conflicts_gives_up_with_a_concurrency_error(
        job_store: TableJobStore) -> None:
    job, _ = await job_store.create(reset_job())
    client = job_store._jobs()
    attempts = 0

    async def always_stale(entity: object, **kwargs: object) -> None:
        nonlocal attempts
        attempts += 1
        raise ResourceModifiedError("412 Precondition Failed")

    client.update_entity = always_stale  # type: ignore[method-assign]
    job_store._jobs = lambda: client  # type: ignore[method-assign]
    with pytest.raises(ConcurrencyError):
        await job_store.update(job.job_id, lambda j: j.record("mine", "ok"))
    assert attempts == job_store._retries


async def test_jobs_are_listed_per_user_newest_first_by_id_or_upn(job_store: TableJobStore) -> None:
    ids = []
    for minutes in (0, 10, 5):
        job, _ = await job_store.create(reset_job(upn="Grace@Contoso.com", user_id="u-grace",
                                                  at=T0 + timedelta(minutes=minutes)))
        ids.append((minutes, job.job_id))
    await job_store.create(reset_job(upn="someone@contoso.com"))
    newest_first = [job_id for _, job_id in sorted(ids, reverse=True)]
    assert [j.job_id for j in await job_store.list_for_user("grace@contoso.com")] == newest_first
    assert [j.job_id for j in await job_store.list_for_user("u-grace")] == newest_first
    assert [j.job_id for j in await job_store.list_for_user("GRACE@contoso.com", limit=2)] == newest_first[:2]


async def test_a_target_learnt_later_is_indexed(job_store: TableJobStore) -> None:
    job, _ = await job_store.create(reset_job(upn="linus@contoso.com"))
    assert await job_store.list_for_user("u-linus") == []

    def resolved(j: Job) -> None:
        j.target = Target(id="u-linus", upn=j.target.upn)

    updated = await job_store.update(job.job_id, resolved)
    await job_store.add_target_identifiers(updated)
    assert [j.job_id for j in await job_store.list_for_user("u-linus")] == [job.job_id]


async def test_jobs_are_listed_by_state(job_store: TableJobStore) -> None:
    a, _ = await job_store.create(reset_job(upn="a@contoso.com"))
    b, _ = await job_store.create(reset_job(upn="b@contoso.com", at=T0 + timedelta(minutes=1)))
    await job_store.update(a.job_id, lambda j: j.transition(JobState.QUEUED))
    await job_store.update(b.job_id, lambda j: j.transition(JobState.QUEUED))
    await job_store.create(reset_job(upn="c@contoso.com"))
    assert [j.job_id for j in await job_store.list_by_state(JobState.QUEUED)] == [b.job_id, a.job_id]
    assert len(await job_store.list_by_state(JobState.RECEIVED)) == 1


async def test_hostile_identifiers_are_stored_and_found(job_store: TableJobStore) -> None:
    upn = "we/ird#na?me\\x@contoso.com"
    job, _ = await job_store.create(reset_job(upn=upn))
    assert [j.job_id for j in await job_store.list_for_user(upn)] == [job.job_id]
    key = "incident:../..#?:reset_mfa"
    _keyed, created = await job_store.create(reset_job(key=key))
    assert created
    assert (await job_store.find_by_key(key)) is not None


async def test_a_long_history_is_truncated_not_rejected(job_store: TableJobStore) -> None:
    job = reset_job()
    for i in range(400):
        job.record(f"step-{i}", "ok", "d" * 200)
    await job_store.create(job)
    stored = await job_store.get(job.job_id)
    assert stored.steps[0].action == "received"
    assert stored.steps[1].outcome == "truncated"
    assert stored.steps[-1].action == "step-399"


def test_a_missing_azurite_says_how_to_install_it(monkeypatch: pytest.MonkeyPatch, tmp_path: object) -> None:
    from pathlib import Path

    import sandbox.azurite as launcher

    monkeypatch.setattr(launcher, "ROOT", Path(str(tmp_path)))
    with pytest.raises(launcher.AzuriteError, match="npm ci"):
        launcher.start_azurite()
