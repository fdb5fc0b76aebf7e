"""The report-only impact of the registration policy on sign-ins as Graph returns them, and the policy created
or updated in both modes, with its refusals and Graph's validation."""

from __future__ import annotations

import uuid
from datetime import timedelta
from typing import Any

import pytest

from sandbox.graph.app import GraphError
from sandbox.graph.handlers_policy import validate
from sandbox.system import Sandbox
from shared.errors import GraphError as MfaopsGraphError
from shared.jobs.model import JobState
from shared.posture.service import PolicyRefusedError
from tests.detection.test_monitor import configure
from tests.posture.test_checks import REGISTRATION, status

NAME = "mfaops: protect security info registration"


def sign_in(box: Sandbox, upn: str, result: str, *, days_ago: float = 1, city: str = "Lagos", country: str = "NG",
            app: str = "My Signins", interactive: bool = True) -> None:
    user = box.graph.tenant.user(upn)
    when = box.graph.tenant.clock.now() - timedelta(days=days_ago)
    box.graph.tenant.sign_ins.append({
        "id": str(uuid.uuid4()), "createdDateTime": when.isoformat().replace("+00:00", "Z"),
        "userPrincipalName": upn, "userId": user.id if user else "", "appDisplayName": app, "ipAddress": "192.0.2.7",
        "isInteractive": interactive, "location": {"city": city, "countryOrRegion": country},
        "status": {"errorCode": 0},
        "appliedConditionalAccessPolicies": [{"id": REGISTRATION, "displayName": "Protect security info registration",
                                              "enforcedGrantControls": ["Mfa"], "result": result}]})


def grant_write(box: Sandbox) -> None:
    box.graph.tenant.app_roles = (box.graph.tenant.app_roles or set()) | {"Policy.ReadWrite.ConditionalAccess"}


def service(box: Sandbox) -> Any:
    return box.container.posture_service()


async def test_impact_lists_what_the_report_only_policy_would_have_stopped(sandbox: Sandbox) -> None:
    sign_in(sandbox, "ada.lovelace@contoso.example", "reportOnlyFailure")
    sign_in(sandbox, "breakglass1@contoso.example", "reportOnlyInterrupted", city="Oslo", country="NO")
    sign_in(sandbox, "grace.hopper@contoso.example", "reportOnlySuccess")
    sign_in(sandbox, "linus.torvalds@contoso.example", "reportOnlyFailure", days_ago=20)  # outside --days 14
    result = await service(sandbox).impact()
    assert result["policy"]["id"] == REGISTRATION and result["days"] == 14
    assert result["would_block"] == 1 and result["would_interrupt"] == 1
    assert result["by_user"] == {"ada.lovelace@contoso.example": 1, "breakglass1@contoso.example": 1}
    assert result["break_glass"] == ["breakglass1@contoso.example"]
    event = next(e for e in result["events"] if e["user"] == "ada.lovelace@contoso.example")
    assert event["location"] == "Lagos, NG" and event["app"] == "My Signins"


async def test_without_the_prefer_header_graph_hides_the_report_only_results(sandbox: Sandbox) -> None:
    import httpx

    sign_in(sandbox, "ada.lovelace@contoso.example", "reportOnlyFailure")
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=sandbox.graph_app), base_url="http://g") as g:
        plain = (await g.get("/v1.0/auditLogs/signIns")).json()["value"]
        full = (await g.get("/v1.0/auditLogs/signIns", headers={"Prefer": "include-unknown-enum-members"})
                ).json()["value"]
    results = {p["result"] for row in plain for p in row.get("appliedConditionalAccessPolicies", [])}
    assert "reportOnlyFailure" not in results and "unknownFutureValue" in results
    assert "reportOnlyFailure" in {p["result"] for row in full for p in row.get("appliedConditionalAccessPolicies",
                                                                                  [])}


async def test_impact_without_a_report_only_policy_says_so(sandbox: Sandbox) -> None:
    sandbox.graph.tenant.ca_policies = [p for p in sandbox.graph.tenant.ca_policies if p["id"] != REGISTRATION]
    with pytest.raises(PolicyRefusedError):
        await service(sandbox).impact()


async def test_apply_creates_report_only_then_enables_the_same_policy(sandbox: Sandbox) -> None:
    grant_write(sandbox)
    dry = await service(sandbox).apply_registration_policy(enable=False, by="ops@contoso.example",
                                                           trusted_locations=["AllTrusted"], dry_run=True)
    assert dry["action"] == "create" and not [p for p in sandbox.graph.tenant.ca_policies if p["displayName"] == NAME]
    created = await service(sandbox).apply_registration_policy(enable=False, by="ops@contoso.example",
                                                               trusted_locations=["AllTrusted"])
    [policy] = [p for p in sandbox.graph.tenant.ca_policies if p["displayName"] == NAME]
    assert policy["id"] == created["policy_id"] and policy["state"] == "enabledForReportingButNotEnforced"
    users = policy["conditions"]["users"]
    breakglass = {sandbox.graph.tenant.user(u).id for u in ("breakglass1@contoso.example",  # type: ignore[union-attr]
                                                             "breakglass2@contoso.example")}
    assert users["includeUsers"] == ["All"] and set(users["excludeUsers"]) == breakglass
    assert policy["conditions"]["applications"]["includeUserActions"] == ["urn:user:registersecurityinfo"]
    assert policy["conditions"]["locations"] == {"includeLocations": ["All"], "excludeLocations": ["AllTrusted"]}
    job = await sandbox.container.job_store().get(created["job_id"])
    assert job.kind.value == "posture_fix" and job.state.value == "succeeded"
    enabled = await service(sandbox).apply_registration_policy(enable=True, by="ops@contoso.example",
                                                               trusted_locations=["AllTrusted"],
                                                               strength="00000000-0000-0000-0000-000000000004")
    assert enabled["action"] == "update" and enabled["policy_id"] == created["policy_id"]
    assert policy["state"] == "enabled" and policy["grantControls"]["authenticationStrength"]["id"].endswith("4")
    assert len([p for p in sandbox.graph.tenant.ca_policies if p["displayName"] == NAME]) == 1
    assert status(await service(sandbox).check(), "registration-ca") == "pass"


async def test_apply_refuses_when_a_break_glass_account_cannot_be_excluded(sandbox: Sandbox) -> None:
    grant_write(sandbox)
    configure(sandbox, break_glass_upns="gone@contoso.example")
    with pytest.raises(PolicyRefusedError, match=r"gone@contoso\.example"):
        await service(sandbox).apply_registration_policy(enable=True, by="ops@contoso.example",
                                                         trusted_locations=[])
    configure(sandbox, break_glass_upns="", break_glass_group="")
    with pytest.raises(PolicyRefusedError, match="no break-glass account"):
        await service(sandbox).apply_registration_policy(enable=True, by="ops@contoso.example",
                                                         trusted_locations=[])
    assert not [p for p in sandbox.graph.tenant.ca_policies if p["displayName"] == NAME]


async def test_without_the_write_permission_graph_answers_403_and_the_job_fails(sandbox: Sandbox) -> None:
    with pytest.raises(MfaopsGraphError) as caught:
        await service(sandbox).apply_registration_policy(enable=False, by="ops@contoso.example",
                                                         trusted_locations=[])
    assert caught.value.status == 403
    failed = await sandbox.container.job_store().list_by_state(JobState.FAILED)
    assert any(j.kind.value == "posture_fix" for j in failed)


@pytest.mark.parametrize(("change", "message"), [
    ({"state": "on"}, "Invalid value 'on' for property 'state'"),
    ({"displayName": ""}, "displayName is required"),
    ({"grantControls": {"operator": "OR", "builtInControls": ["block", "mfa"]}}, "block control cannot be combined"),
    ({"grantControls": {"operator": "OR", "builtInControls": ["mfa"], "authenticationStrength": {"id": "x"}}},
     "cannot be combined"),
    ({"grantControls": {"operator": "OR", "builtInControls": []}}, "at least one built-in control"),
])
def test_the_simulator_refuses_policies_graph_refuses(change: dict[str, Any], message: str) -> None:
    from shared.posture.registration_policy import template

    body = {**template(NAME, state="enabled", exclude_users=[], exclude_groups=[], trusted_locations=[]), **change}
    with pytest.raises(GraphError, match=message) as caught:
        validate(body)
    assert caught.value.status == 400 and caught.value.code == "BadRequest"
    both = template(NAME, state="enabled", exclude_users=[], exclude_groups=[], trusted_locations=[])
    both["conditions"]["applications"]["includeApplications"] = ["All"]
    with pytest.raises(GraphError, match="either cloud apps or user actions"):
        validate(both)
