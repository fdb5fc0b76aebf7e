"""Guardrails as properties (hypothesis): for random users and random requests, a break-glass account never loses a
method in any flow, a privileged user is never reset without the second approval, and the blast-radius limit is
never passed."""

from __future__ import annotations

import contextlib
from datetime import timedelta
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from sandbox.system import Sandbox
from shared.cleanup.policy import load_policy
from shared.graph.port import DirectoryUser, Memberships, UserSnapshot
from shared.jobs.model import JobState
from shared.reset.guardrails import Decision, check_target
from shared.reset.service import OperatorReset
from shared.settings import load_settings

ROLES = ["Global Administrator", "Privileged Authentication Administrator", "Helpdesk Administrator",
         "User Administrator"]
SETTINGS = load_settings({"BREAK_GLASS_UPNS": "bg1@contoso.example", "BREAK_GLASS_GROUP": "Break Glass Accounts"})


@given(upn=st.sampled_from(["bg1@contoso.example", "BG1@Contoso.Example", "ada@contoso.example", "x@contoso.example"]),
       in_group=st.booleans(), roles=st.sets(st.sampled_from(ROLES)), enabled=st.booleans(),
       guest=st.booleans(), approved=st.booleans(), group_read=st.sampled_from(["checked", "complete", "unread"]),
       roles_complete=st.booleans())
@settings(max_examples=400, deadline=None)
def test_the_guardrail_never_lets_a_break_glass_or_unapproved_privileged_user_through(
        upn: str, in_group: bool, roles: set[str], enabled: bool, guest: bool, approved: bool, group_read: str,
        roles_complete: bool) -> None:
    # What the read proved: the group asked about, every group read, or neither (then membership is unknown).
    snapshot = UserSnapshot(
        user=DirectoryUser(id="00000000-0000-4000-8000-000000000001", upn=upn, enabled=enabled,
                           user_type="Guest" if guest else "Member"),
        memberships=Memberships(group_names=frozenset({"Break Glass Accounts"} if in_group else set()),
                                role_names=frozenset(roles),
                                checked_groups=frozenset({"break glass accounts"} if group_read == "checked" else ()),
                                groups_complete=group_read == "complete", roles_complete=roles_complete),
        methods=[], default_method=None)
    verdict = check_target(snapshot, SETTINGS, privileged_approved=approved)
    if upn.lower() == "bg1@contoso.example" or (in_group and group_read != "unread"):
        assert verdict.decision is Decision.REJECT and verdict.code == "break_glass"
    if group_read == "unread" or not roles_complete:  # undecidable: refused, whatever else is true
        assert verdict.decision is Decision.REJECT
    if roles and not approved:
        assert verdict.decision is not Decision.PROCEED


FLOWS = ["reset", "ticket", "bulk", "cleanup", "contain", "sweep"]


@st.composite
def requests(draw: Any) -> list[tuple[str, str, bool]]:
    users = ["breakglass1@contoso.example", "breakglass2@contoso.example", "alan.turing@contoso.example",
             "margaret.hamilton@contoso.example", "ada.lovelace@contoso.example", "grace.hopper@contoso.example",
             "linus.torvalds@contoso.example", "katherine.johnson@contoso.example"]
    return draw(st.lists(st.tuples(st.sampled_from(FLOWS), st.sampled_from(users), st.booleans()),
                         min_size=1, max_size=6))


@st.composite
def memberships(draw: Any) -> dict[str, tuple[int, bool]]:
    """Per user: how many groups to add before their own (0 to 400: past any first page), and whether to give
    them a privileged role on top."""
    names = ["breakglass1", "breakglass2", "alan.turing", "margaret.hamilton", "ada.lovelace", "grace.hopper",
             "linus.torvalds", "katherine.johnson"]
    return {f"{n}@contoso.example": (draw(st.integers(0, 400)), draw(st.booleans())) for n in names}


def _widen(sandbox: Sandbox, shape: dict[str, tuple[int, bool]]) -> None:
    tenant = sandbox.graph.tenant
    for i in range(400):
        gid = f"00000000-0000-4000-a000-{i:012d}"
        tenant.groups.setdefault(gid, {"id": gid, "displayName": f"Property Team {i:03d}"})
    for upn, (extra, make_admin) in shape.items():
        user = tenant.user(upn)
        assert user is not None
        own = [g for g in user.groups if not g.startswith("00000000-0000-4000-a000-")]
        user.groups = [f"00000000-0000-4000-a000-{i:012d}" for i in range(extra)] + own
        if make_admin and "User Administrator" not in user.roles:
            user.roles.append("User Administrator")


async def _flow(sandbox: Sandbox, flow: str, upn: str, approved: bool, n: int) -> None:
    from sandbox.tickets import submit
    from shared.errors import MfaopsError
    from shared.reset.bulk import BulkRow, run_bulk
    from tests.reset.conftest import ticket

    service = sandbox.container.reset_service()
    approver = "ciso@contoso.example" if approved else ""
    if flow == "reset":
        await service.reset_by_operator(OperatorReset(user=upn, by="ops@contoso.example", reason="property",
                                                      approved_by=approver))
    elif flow == "ticket":
        sys_id = f"{n:032x}"
        sandbox.servicenow.records[("sc_req_item", sys_id)] = {
            **sandbox.servicenow.records[("sc_req_item", "a1" * 16)], "sys_id": sys_id, "number": f"RITM9{n:06d}",
            "requested_for": upn, sandbox.settings.privileged_approval_field: "approved" if approved else ""}
        await submit(sandbox.webhook_secret, ticket(number=f"RITM9{n:06d}", sys_id=sys_id, user=upn))
        await sandbox.deliver_all()
    elif flow == "bulk":
        await run_bulk(service, [BulkRow(2, upn)], by="ops@contoso.example", reason="property",
                       batch_id=f"prop{n}", concurrency=1, approved_by=approver)
    elif flow == "cleanup":
        cleanup = sandbox.container.cleanup_service()
        policy = load_policy("max_removals_per_run: 1000\nrules:\n  - id: all-phones\n    kind: method_type\n"
                             "    remove: [mobilePhone, alternateMobilePhone, officePhone, email]\n")
        made = await cleanup.plan(policy)
        if made.status == "planned" and made.items:
            with contextlib.suppress(MfaopsError):  # refused: privileged users without a second person
                await cleanup.apply(made.plan_id, by="ops@contoso.example", approved_by=approver)
    elif flow == "contain":
        import httpx

        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=sandbox.graph_app), base_url="http://g") as c:
            await c.post(f"/_sandbox/users/{upn}/register", json={"type": "fido2", "displayName": "k"})
        monitor = sandbox.container.monitor_service()
        result = await monitor.scan()
        for finding in result.findings:
            with contextlib.suppress(MfaopsError):  # refused: break-glass, or the limit
                await monitor.contain(finding.finding_id, by="ops@contoso.example")
    else:
        await sandbox.container.tap_sweeper().sweep(apply=True, by="ops@contoso.example")


@given(plan=requests(), shape=memberships())
@settings(max_examples=12, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
async def test_no_flow_crosses_a_guardrail(sandbox: Sandbox, plan: list[tuple[str, str, bool]],
                                           shape: dict[str, tuple[int, bool]]) -> None:
    """Every door, for users in any number of groups with any roles: a break-glass account never loses a
    method, and a privileged user is never reset without an independent approval."""
    _widen(sandbox, shape)
    tenant = sandbox.graph.tenant
    glass = {u.id: sorted(m.id for m in u.methods) for u in tenant.users.values() if u.upn.startswith("breakglass")}
    limit = sandbox.settings.resets_per_hour_limit
    store = sandbox.container.job_store()
    earlier = {j.job_id for j in await store.list_by_state(JobState.SUCCEEDED, limit=1000)}
    for n, (flow, upn, approved) in enumerate(plan):
        await _flow(sandbox, flow, upn, approved, n)
    for uid, methods in glass.items():
        assert set(methods) <= {m.id for m in tenant.users[uid].methods}  # never a method lost
    for job in await store.list_by_state(JobState.SUCCEEDED, limit=1000):
        if job.job_id in earlier:
            continue  # an earlier example's, under its own roles
        user = tenant.user(job.target.id or job.target.upn) if job.target.upn or job.target.id else None
        if job.kind.value == "reset" and user is not None and user.roles:
            record = sandbox.servicenow.records.get((job.source.table, job.source.sys_id), {})
            assert any(s.action == "approval" for s in job.steps) or \
                record.get(sandbox.settings.privileged_approval_field) == "approved", job.job_id
    admissions = await sandbox.container.job_store().admissions_since(tenant.clock.now() - timedelta(hours=1))
    assert admissions <= limit
