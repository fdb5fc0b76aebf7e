"""Guardrails as properties (hypothesis): for random users and random requests, a break-glass account never loses a
method in any flow, a privileged user is never reset without the second approval, and the blast-radius limit is
never passed."""

from __future__ import annotations

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
       guest=st.booleans(), approved=st.booleans())
@settings(max_examples=400, deadline=None)
def test_the_guardrail_never_lets_a_break_glass_or_unapproved_privileged_user_through(
        upn: str, in_group: bool, roles: set[str], enabled: bool, guest: bool, approved: bool) -> None:
    snapshot = UserSnapshot(
        user=DirectoryUser(id="00000000-0000-4000-8000-000000000001", upn=upn, enabled=enabled,
                           user_type="Guest" if guest else "Member"),
        memberships=Memberships(group_names=frozenset({"Break Glass Accounts"} if in_group else set()),
                                role_names=frozenset(roles)), methods=[], default_method=None)
    verdict = check_target(snapshot, SETTINGS, privileged_approved=approved)
    if upn.lower() == "bg1@contoso.example" or in_group:
        assert verdict.decision is Decision.REJECT and verdict.code == "break_glass"
    if roles and not approved:
        assert verdict.decision is not Decision.PROCEED


@st.composite
def requests(draw: Any) -> list[tuple[str, str, bool]]:
    users = ["breakglass1@contoso.example", "breakglass2@contoso.example", "alan.turing@contoso.example",
             "margaret.hamilton@contoso.example", "ada.lovelace@contoso.example", "grace.hopper@contoso.example",
             "linus.torvalds@contoso.example", "katherine.johnson@contoso.example"]
    return draw(st.lists(st.tuples(st.sampled_from(["reset", "cleanup"]), st.sampled_from(users), st.booleans()),
                         min_size=1, max_size=6))


@given(plan=requests())
@settings(max_examples=12, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
async def test_no_flow_crosses_a_guardrail(sandbox: Sandbox, plan: list[tuple[str, str, bool]]) -> None:
    tenant = sandbox.graph.tenant
    glass = {u.id: sorted(m.id for m in u.methods) for u in tenant.users.values() if u.upn.startswith("breakglass")}
    service = sandbox.container.reset_service()
    limit = sandbox.settings.resets_per_hour_limit
    for flow, upn, approved in plan:
        if flow == "reset":
            await service.reset_by_operator(OperatorReset(user=upn, by="ops@contoso.example", reason="property",
                                                          approved_by="ciso@contoso.example" if approved else ""))
        else:
            cleanup = sandbox.container.cleanup_service()
            policy = load_policy("max_removals_per_run: 1000\nrules:\n  - id: all-phones\n    kind: method_type\n"
                                 "    remove: [mobilePhone, alternateMobilePhone, officePhone, email]\n")
            made = await cleanup.plan(policy)
            if made.status == "planned" and made.items:
                await cleanup.apply(made.plan_id, by="ops@contoso.example")
    for uid, methods in glass.items():
        assert sorted(m.id for m in tenant.users[uid].methods) == methods  # never a method lost
    for job in await sandbox.container.job_store().list_by_state(JobState.SUCCEEDED, limit=1000):
        user = tenant.user(job.target.id or job.target.upn) if job.target.upn or job.target.id else None
        if job.kind.value == "reset" and user is not None and user.roles:
            assert any(s.action == "approval" for s in job.steps), job.job_id
    admissions = await sandbox.container.job_store().admissions_since(tenant.clock.now() - timedelta(hours=1))
    assert admissions <= limit
