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
    return {"INVENTORY_TABLE": f"inventory{suffix}", "JOBS_TABLE": f"jobs{suffix}",
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
