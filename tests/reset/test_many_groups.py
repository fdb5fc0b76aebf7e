"""Issue 23, finding 1: a user in hundreds of groups is decided exactly. The break-glass group and the roles of
these users lie past the first page of their memberships; the reset, the dry run and the CLI's preview must
still see them, and a guardrail that cannot be decided refuses."""

from __future__ import annotations

import json
import uuid
from collections.abc import AsyncIterator
from typing import Any

import pytest

from sandbox.azurite import Azurite
from sandbox.graph.generate import widen
from sandbox.system import DEMO_TENANT, Sandbox, build_sandbox
from shared.bootstrap import use_container
from shared.reset.guardrails import Decision
from tests.reset.conftest import reset

BREAK_GLASS = "breakglass1@contoso.example"
ADMIN = "margaret.hamilton@contoso.example"  # Global Administrator


def wide_tenant() -> dict[str, Any]:
    return widen(json.loads(DEMO_TENANT.read_text()), users=50)


async def _box(azurite: Azurite, **env: str) -> Sandbox:
    suffix = uuid.uuid4().hex[:10]
    box = build_sandbox(table_connection_string=azurite.connection_string, tenant=wide_tenant(), throttle=False,
                        environ={"JOBS_TABLE": f"jobs{suffix}", "JOBS_BY_USER_TABLE": f"jobsbyuser{suffix}",
                                 "VERIFY_POLICY": "none", **env})
    use_container(box.container)
    return box


@pytest.fixture
async def wide(azurite: Azurite) -> AsyncIterator[Sandbox]:
    # Only the group protects breakglass1 here: BREAK_GLASS_UPNS is empty.
    box = await _box(azurite, BREAK_GLASS_UPNS="")
    yield box
    use_container(None)
    await box.container.close()


def _ticket_for(box: Sandbox, user: str, sys_id: str, number: str, **fields: str) -> None:
    base = box.servicenow.records[("sc_req_item", "a1" * 16)]
    box.servicenow.records[("sc_req_item", sys_id)] = {**base, "sys_id": sys_id, "number": number,
                                                        "requested_for": user, **fields}


def test_the_tenant_really_pages(wide: Sandbox) -> None:
    user = wide.graph.tenant.user(BREAK_GLASS)
    assert user is not None and len(user.groups) > 300
    # The break-glass group is the last membership: beyond three pages of 100.
    assert wide.graph.tenant.groups[user.groups[-1]]["displayName"] == "Break Glass Accounts"


async def test_a_break_glass_account_in_hundreds_of_groups_keeps_every_method(wide: Sandbox) -> None:
    _ticket_for(wide, BREAK_GLASS, "b7" * 16, "RITM0077001")
    before = [m.id for m in wide.graph.tenant.user(BREAK_GLASS).methods]  # type: ignore[union-attr]
    job = await reset(wide, number="RITM0077001", sys_id="b7" * 16, user=BREAK_GLASS)
    assert job["state"] == "rejected" and job["error"]["code"] == "break_glass"
    assert [m.id for m in wide.graph.tenant.user(BREAK_GLASS).methods] == before  # type: ignore[union-attr]
    assert not [c for c in wide.graph.calls if c["method"] in ("DELETE", "POST") and "revoke" in c["path"]]


async def test_a_global_admin_in_hundreds_of_groups_needs_the_second_approval(wide: Sandbox) -> None:
    _ticket_for(wide, ADMIN, "c7" * 16, "RITM0077002")
    before = [m.id for m in wide.graph.tenant.user(ADMIN).methods]  # type: ignore[union-attr]
    job = await reset(wide, number="RITM0077002", sys_id="c7" * 16, user=ADMIN)
    assert job["state"] == "awaiting_approval", job
    assert "Global Administrator" in json.dumps(job)
    assert [m.id for m in wide.graph.tenant.user(ADMIN).methods] == before  # type: ignore[union-attr]


async def test_the_dry_run_sees_both(wide: Sandbox) -> None:
    service = wide.container.reset_service()
    glass = await service.preview(BREAK_GLASS)
    admin = await service.preview(ADMIN)
    assert (glass.verdict.decision, glass.verdict.code) == (Decision.REJECT, "break_glass")
    assert (admin.verdict.decision, admin.verdict.code) == (Decision.PARK, "privileged_needs_approval")


async def test_a_break_glass_group_that_does_not_resolve_refuses_every_reset(azurite: Azurite) -> None:
    box = await _box(azurite, BREAK_GLASS_UPNS="", BREAK_GLASS_GROUP="Break Glas Accounts")  # a typo
    try:
        job = await reset(box, user="ada.lovelace@contoso.example")
        assert job["state"] == "rejected" and job["error"]["code"] == "guardrail_undecided"
        assert "Break Glas Accounts" in job["error"]["message"]
        assert not [c for c in box.graph.calls if c["method"] == "DELETE"]
    finally:
        use_container(None)
        await box.container.close()


async def test_a_snapshot_that_did_not_read_the_roles_to_the_end_refuses(wide: Sandbox) -> None:
    from dataclasses import replace

    from shared.reset.guardrails import check_target

    snap = await wide.container.graph().snapshot("ada.lovelace@contoso.example",
                                                 groups=["Break Glass Accounts"])
    assert check_target(snap, wide.settings, privileged_approved=False).decision is Decision.PROCEED
    partial = replace(snap, memberships=replace(snap.memberships, roles_complete=False))
    assert check_target(partial, wide.settings, privileged_approved=True).code == "guardrail_undecided"
    unasked = await wide.container.graph().snapshot("ada.lovelace@contoso.example")
    assert check_target(unasked, wide.settings, privileged_approved=True).code == "guardrail_undecided"


@pytest.mark.parametrize(("group", "code"), [("9c1b7f1e-5d0b-4f7e-8a51-0e4f7c6f2b01", "break_glass"),
                                             ("9c1b7f1e-5d0b-4f7e-8a51-0e4f7c6f2bff", "guardrail_undecided")])
async def test_a_break_glass_group_named_by_id(azurite: Azurite, group: str, code: str) -> None:
    """By object id: checkMemberGroups decides; an id no group has decides nothing."""
    box = await _box(azurite, BREAK_GLASS_UPNS="", BREAK_GLASS_GROUP=group)
    try:
        preview = await box.container.reset_service().preview(BREAK_GLASS)
        assert preview.verdict.code == code and preview.verdict.decision is Decision.REJECT
    finally:
        use_container(None)
        await box.container.close()
