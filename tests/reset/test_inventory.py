"""The rolling methods inventory (issue 27, section 2): a pass reads every user's methods with created and last
used dates from beta, resumes where it stopped, re-reads only users whose methods can have changed, lets users who
left go, keeps nothing past its retention, and never stores a phone number or an address in the clear."""

from __future__ import annotations

import json
import uuid
from datetime import UTC, datetime, timedelta

import httpx
import pytest

from sandbox.system import Sandbox


def env() -> dict[str, str]:
    suffix = uuid.uuid4().hex[:10]
    return {"INVENTORY_TABLE": f"inventory{suffix}", "JOBS_TABLE": f"jobs{suffix}", "INVENTORY_PASS_MINUTES": "0",
            "JOBS_BY_USER_TABLE": f"jobsbyuser{suffix}"}


@pytest.mark.parametrize("sandbox_env", [env()])
async def test_a_pass_then_only_what_changed(sandbox: Sandbox) -> None:
    tenant = sandbox.graph.tenant
    ada = tenant.user("ada.lovelace@contoso.example")
    assert ada is not None
    used = datetime(2026, 11, 20, 8, 30, tzinfo=UTC)
    ada.methods[0].last_used = used
    service = sandbox.container.inventory_service()
    first = await service.run(max_users=7)
    assert first.read == 7 and not first.pass_complete  # a crash after this is resumed, not restarted
    second = await service.run()
    reported = first.due  # every user the registration report lists is due on the first pass
    assert first.read + second.read == reported and second.due == reported - first.read and second.pass_complete
    status = await service.status()
    assert status["users_covered"] == reported and status["pass"] == 2
    assert status["requests_today"]["background"] == first.requests + second.requests
    row = await service.show("ada.lovelace@contoso.example")
    assert row is not None and row.default == "push"
    phone = next(m for m in row.methods if m.type == "phone")
    assert phone.last_used is not None and phone.last_used.startswith("2026-11-20T08:30")
    other = next(m for m in row.methods if m.type != "phone")
    assert other.last_used is None  # Graph did not fill it: never taken as unused
    assert phone.display.endswith(ada.methods[0].props["phoneNumber"][-2:])
    stored = json.dumps([r.to_dict() for r in await service.rows()])
    for user in tenant.users.values():
        for method in user.methods:
            number = str(method.props.get("phoneNumber", "")).replace(" ", "")
            assert not number or number not in stored.replace(" ", "")
            address = str(method.props.get("emailAddress", ""))
            assert not address or address not in stored
    # Steady state: nothing changed, nothing is read but the report.
    quiet = await service.run()
    assert quiet.read == 0 and quiet.due == 0 and quiet.requests >= 1
    # One user registers a method: the report says so, and only they are read again.
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=sandbox.graph_app), base_url="http://g") as c:
        answer = await c.post("/_sandbox/users/grace.hopper@contoso.example/register",
                              json={"type": "fido2", "displayName": "New key"})
        assert answer.status_code == 201
    changed = await service.run()
    assert changed.read == 1 and changed.due == 1
    grace = await service.show("grace.hopper@contoso.example")
    assert grace is not None and any(m.type == "fido2" for m in grace.methods)


@pytest.mark.parametrize("sandbox_env", [env()])
async def test_users_who_leave_and_rows_past_retention_go(sandbox: Sandbox) -> None:
    service = sandbox.container.inventory_service()
    await service.run()
    tenant = sandbox.graph.tenant
    gone = tenant.user("tim.cook@contoso.example")
    assert gone is not None
    del tenant.users[gone.id]
    tenant.order.remove(gone.id)
    tenant.by_upn.pop(gone.upn.lower())
    result = await service.run()
    assert result.left == 1 and await service.show("tim.cook@contoso.example") is None
    # A method last used long ago is due again when it could cross the threshold; every row past retention goes.
    covered = (await service.status())["users_covered"]
    later = datetime.now(UTC) + timedelta(days=31)
    service.now = lambda: later
    expired = await service.run(max_users=0)
    assert covered > 0 and expired.expired == covered and expired.read == 0
    assert (await service.status())["users_covered"] == 0


@pytest.mark.parametrize("sandbox_env", [env()])
async def test_a_run_that_crashes_mid_pass_resumes_after_the_last_batch_it_saved(sandbox: Sandbox) -> None:
    from shared.inventory.service import READ_BATCH

    service = sandbox.container.inventory_service()
    real = service.graph.get_many
    calls = 0

    async def crashing(urls: dict[str, str], version: str = "v1.0") -> dict[str, tuple[int, object]]:
        nonlocal calls
        calls += 1
        if calls == 2:  # the worker dies while the second batch is in flight
            raise RuntimeError("worker recycled")
        return await real(urls, version)

    service.graph.get_many = crashing  # type: ignore[method-assign]
    with pytest.raises(RuntimeError):
        await service.run()
    status = await service.status()
    assert status["users_covered"] == READ_BATCH and status["pass_progress"] == READ_BATCH
    assert status["pass_in_progress"]
    seen: list[str] = []

    async def recording(urls: dict[str, str], version: str = "v1.0") -> dict[str, tuple[int, object]]:
        seen.extend(urls)
        return await real(urls, version)

    service.graph.get_many = recording  # type: ignore[method-assign]
    resumed = await service.run()
    first_batch = sorted(r.user_id for r in await service.rows())[:READ_BATCH]
    assert resumed.pass_complete and resumed.due == status["pass_due"] - READ_BATCH
    assert not set(seen) & set(first_batch)  # nothing read twice, the report not read again mid-pass
    assert resumed.requests == len(seen)
    assert (await service.status())["users_covered"] == status["pass_due"]


@pytest.mark.parametrize("sandbox_env", [{**env(), "INVENTORY_PASS_MINUTES": "360"}])
async def test_a_new_pass_waits_for_its_interval_and_a_run_by_hand_need_not(sandbox: Sandbox) -> None:
    service = sandbox.container.inventory_service()
    first = await service.run()
    assert first.pass_complete and first.read > 0
    idle = await service.run()  # minutes later: no pass begins, not even the report is read
    assert idle.requests == 0 and idle.due == 0 and idle.pass_number == first.pass_number
    later = datetime.now(UTC) + timedelta(hours=7)
    service.now = lambda: later
    due = await service.run()
    assert due.requests >= 1 and due.pass_number == first.pass_number + 1
    by_hand = await service.run(new_pass=True)
    assert by_hand.requests >= 1 and by_hand.pass_number == due.pass_number + 1


@pytest.mark.parametrize("sandbox_env", [env()])
async def test_a_user_is_due_again_when_a_method_could_first_cross_a_threshold(sandbox: Sandbox) -> None:
    from shared.inventory.store import StoredMethod

    service = sandbox.container.inventory_service()
    service.thresholds = [90, 180]
    read = datetime(2026, 12, 1, tzinfo=UTC)

    def method(last_used: str | None) -> StoredMethod:
        return StoredMethod(type="phone", id="m", display="mobile ***12", created=None, last_used=last_used)

    recheck = read + timedelta(days=29)  # INVENTORY_RETENTION_DAYS 30: read again before the row would expire
    assert service._next_read([method(None)], read) == recheck  # never used: no threshold to cross
    assert service._next_read([method("2026-11-21T00:00:00Z")], read) == recheck  # 90 days on is past the recheck
    assert service._next_read([method("2026-09-10T00:00:00Z")], read) == datetime(2026, 12, 9, tzinfo=UTC)
    # Already past 90 days: the next date is the 180-day crossing, not every pass from now on.
    assert service._next_read([method("2026-06-10T00:00:00Z")], read) == datetime(2026, 12, 7, tzinfo=UTC)
    assert service._next_read([method("2025-01-01T00:00:00Z")], read) == recheck  # past every threshold


@pytest.mark.parametrize("sandbox_env", [env()])
async def test_a_run_stops_at_its_time_and_a_stale_report_link_starts_the_read_again(sandbox: Sandbox) -> None:
    service = sandbox.container.inventory_service()
    stopped = await service.run(seconds=0)  # one page of the report (the sandbox pages it small), then time is up
    assert stopped.read == 0 and not stopped.pass_complete and stopped.requests == 1
    status = await service.status()
    assert status["pass_in_progress"] and status["report_pages_read"] == 1 and status["users_covered"] == 0
    pages, runs = 1, 1
    while (await service.store.cursor()).reading:  # each run resumes at the stored next page
        pages += (await service.run(seconds=0, max_users=0)).requests
        runs += 1
    assert runs > 2
    resumed = await service.run()
    assert resumed.pass_complete and resumed.read == resumed.due and resumed.requests == resumed.read
    covered = (await service.status())["users_covered"]
    whole = await service.run(new_pass=True, max_users=0)  # the same report read in one run: as many pages
    assert whole.requests == pages
    # A pass whose stored next link Graph no longer serves reads the report from its first page.
    cursor = await service.store.cursor()
    cursor.reading, cursor.report_link, cursor.report_pages = True, (
        "http://graph.sandbox/graph/v1.0/reports/authenticationMethods/userRegistrationDetails?$skiptoken=gone"), 3
    await service.store.save_cursor(cursor)
    again = await service.run()
    assert again.pass_complete and (await service.store.cursor()).report_pages == 0
    assert again.requests == pages + 1  # the refused link, then every page from the first
    assert (await service.status())["users_covered"] == covered
