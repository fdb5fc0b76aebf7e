"""Each posture check passes, warns and fails on a sandbox tenant shaped for it; the run is recorded and a worsened
check raises a drift alert through the monitor's sinks."""

from __future__ import annotations

import copy
import json
from typing import Any

import pytest

from sandbox.graph.tenant import method_from_spec
from sandbox.system import Sandbox
from shared.posture.model import Report
from tests.detection.test_monitor import configure

REGISTRATION = "5e0f0a0b-0000-4000-8000-0000000000c1"
BG_GROUP = "9c1b7f1e-5d0b-4f7e-8a51-0e4f7c6f2b01"


async def check(box: Sandbox) -> Report:
    return await box.container.posture_service().check()


def status(report: Report, check_id: str) -> str:
    return next(c.status for c in report.checks if c.id == check_id)


def policy(box: Sandbox, pid: str = REGISTRATION) -> dict[str, Any]:
    return next(p for p in box.graph.tenant.ca_policies if p["id"] == pid)


async def test_the_json_contract(sandbox: Sandbox) -> None:
    report = await check(sandbox)
    doc = report.to_dict()
    assert set(doc) >= {"tenant", "checked_at", "checks"} and doc["tenant"]
    ids = [c["id"] for c in doc["checks"]]
    assert ids == ["registration-ca", "registration-managed-device", "break-glass-excluded", "tap-policy",
                   "per-user-mfa", "privileged-role-holders", "mfaops-permissions", "weak-methods-policy",
                   "break-glass-mfa-ready", "registration-guests", "method-targets", "methods-migration"]
    for c in doc["checks"]:
        assert set(c) == {"id", "status", "summary", "evidence", "fix", "references", "baseline_ids"}
        assert c["status"] in {"pass", "warn", "fail"} and c["summary"]
        assert c["status"] == "pass" or c["fix"]
    refs = {c["id"]: c["references"] for c in doc["checks"]}
    assert any("MT.1011" in r and "grant controls" in r for r in refs["registration-ca"])
    assert refs["tap-policy"] == ["EIDSCA.AT01", "EIDSCA.AT02"]
    ids_of = {c["id"]: c["baseline_ids"] for c in doc["checks"]}
    assert ids_of["registration-ca"] == ["MT.1011"] and ids_of["registration-managed-device"] == ["MS.AAD.3.8"]
    assert ids_of["tap-policy"] == ["EIDSCA.AT01", "EIDSCA.AT02"]


async def test_registration_ca_pass_warn_fail(sandbox: Sandbox) -> None:
    assert status(await check(sandbox), "registration-ca") == "warn"  # the demo's is report-only
    policy(sandbox)["state"] = "enabled"
    assert status(await check(sandbox), "registration-ca") == "pass"
    policy(sandbox)["grantControls"] = {"operator": "OR", "builtInControls": []}  # targets it, demands nothing
    weak = await check(sandbox)
    assert status(weak, "registration-ca") == "fail" and "demands nothing" in next(
        c.summary for c in weak.checks if c.id == "registration-ca")
    sandbox.graph.tenant.ca_policies.remove(policy(sandbox))
    assert status(await check(sandbox), "registration-ca") == "fail"


HQ, PARTNER, COUNTRIES = ("7a1b2c3d-0000-4000-8000-0000000000d1", "7a1b2c3d-0000-4000-8000-0000000000d2",
                          "7a1b2c3d-0000-4000-8000-0000000000d3")


@pytest.mark.parametrize(("exclude", "apps", "verdict", "says"), [
    (["AllTrusted"], ["all"], "pass", ""),
    ([HQ], ["all"], "pass", ""),  # a trusted IP range
    ([HQ, COUNTRIES], ["all"], "fail", "Home countries (a country location)"),
    ([PARTNER], ["all"], "fail", "Partner network (an untrusted IP range)"),
    (["AllTrusted"], ["browser"], "fail", "registration from mobileAppsAndDesktopClients is open"),
    (["AllTrusted"], ["browser", "mobileAppsAndDesktopClients"], "pass", ""),
])
async def test_registration_ca_sees_untrusted_exclusions_and_missing_client_apps(
        sandbox: Sandbox, exclude: list[str], apps: list[str], verdict: str, says: str) -> None:
    """Where Maester's MT.1011 passes a tenant that fails (maester#2227, #2188, PR #2175)."""
    policy(sandbox)["state"] = "enabled"
    policy(sandbox)["conditions"]["locations"]["excludeLocations"] = exclude
    policy(sandbox)["conditions"]["clientAppTypes"] = apps
    report = await check(sandbox)
    found = next(c for c in report.checks if c.id == "registration-ca")
    assert found.status == verdict, found.summary
    assert says in found.summary
    if says:
        assert says in json.dumps(found.evidence)


async def test_registration_from_a_managed_device_is_its_own_check(sandbox: Sandbox) -> None:
    assert status(await check(sandbox), "registration-managed-device") == "warn"
    policy(sandbox)["grantControls"] = {"operator": "AND", "builtInControls": ["mfa", "compliantDevice"]}
    assert status(await check(sandbox), "registration-managed-device") == "warn"  # report-only
    policy(sandbox)["state"] = "enabled"
    assert status(await check(sandbox), "registration-managed-device") == "pass"


async def test_break_glass_excluded_names_the_policy_that_misses_an_account(sandbox: Sandbox) -> None:
    assert status(await check(sandbox), "break-glass-excluded") == "pass"
    policy(sandbox)["conditions"]["users"]["excludeGroups"] = []
    report = await check(sandbox)
    found = next(c for c in report.checks if c.id == "break-glass-excluded")
    assert found.status == "fail"
    assert {m["account"] for m in found.evidence["not_excluded"]} == {"breakglass1@contoso.example",
                                                                      "breakglass2@contoso.example"}
    assert {m["policy_id"] for m in found.evidence["not_excluded"]} == {REGISTRATION}
    configure(sandbox, break_glass_group="", break_glass_upns="")
    assert status(await check(sandbox), "break-glass-excluded") == "fail"  # none configured at all


async def test_tap_policy_fits_mfaops_settings(sandbox: Sandbox) -> None:
    assert status(await check(sandbox), "tap-policy") == "pass"
    configure(sandbox, tap_lifetime_minutes=1440)  # the policy allows 60-480
    assert status(await check(sandbox), "tap-policy") == "fail"
    configure(sandbox, tap_lifetime_minutes=0)
    sandbox.graph.tenant.tap_policy["state"] = "disabled"
    assert status(await check(sandbox), "tap-policy") == "fail"
    configure(sandbox, default_issue_tap=False)
    assert status(await check(sandbox), "tap-policy") == "pass"


async def test_per_user_mfa_left_behind(sandbox: Sandbox) -> None:
    report = await check(sandbox)
    found = next(c for c in report.checks if c.id == "per-user-mfa")
    assert found.status == "warn" and found.evidence["users"]
    for user in sandbox.graph.tenant.users.values():
        user.per_user_mfa = "disabled"
    assert status(await check(sandbox), "per-user-mfa") == "pass"


async def test_privileged_role_holders_over_the_limit(sandbox: Sandbox) -> None:
    assert status(await check(sandbox), "privileged-role-holders") == "pass"
    configure(sandbox, max_privileged_auth_admins=2)
    found = next(c for c in (await check(sandbox)).checks if c.id == "privileged-role-holders")
    assert found.status == "warn" and "alan.turing@contoso.example" in found.evidence["holders"][
        "Privileged Authentication Administrator"]


async def test_mfaops_permissions_missing_and_extra(sandbox: Sandbox) -> None:
    # The demo tenant grants Mail.Send: the default verification policy mails managers. With the gate off here
    # (VERIFY_POLICY=none) and no mail sink, it is more than mfaops needs.
    assert status(await check(sandbox), "mfaops-permissions") == "warn"
    roles = sandbox.graph.tenant.app_roles
    assert roles is not None
    sandbox.graph.tenant.app_roles = roles - {"Mail.Send"}
    assert status(await check(sandbox), "mfaops-permissions") == "pass"
    configure(sandbox, verify_policy="")  # the built-in policy asks managers: Mail.Send is needed
    assert status(await check(sandbox), "mfaops-permissions") == "fail"
    configure(sandbox, verify_policy="none")
    sandbox.graph.tenant.app_roles = roles | {"Mail.Send"}
    assert status(await check(sandbox), "mfaops-permissions") == "warn"  # mail sink not enabled: extra
    configure(sandbox, alert_sinks="log,mail", alert_mail_from="grace.hopper@contoso.example")
    assert status(await check(sandbox), "mfaops-permissions") == "pass"
    sandbox.graph.tenant.app_roles = (roles | {"Mail.Send"}) - {"IdentityRiskyUser.Read.All"}
    found = next(c for c in (await check(sandbox)).checks if c.id == "mfaops-permissions")
    assert found.status == "fail" and found.evidence["missing"] == ["IdentityRiskyUser.Read.All"]


async def test_weak_methods_and_method_targets(sandbox: Sandbox) -> None:
    report = await check(sandbox)
    assert status(report, "weak-methods-policy") == "pass" and status(report, "method-targets") == "pass"
    sandbox.graph.tenant.method_configs["Sms"] = {"state": "enabled", "includeTargets": [
        {"targetType": "group", "id": "all_users"}]}
    report = await check(sandbox)
    assert status(report, "weak-methods-policy") == "warn" and status(report, "method-targets") == "warn"


async def test_break_glass_mfa_ready_needs_a_phishing_resistant_method_or_certificates(sandbox: Sandbox) -> None:
    assert status(await check(sandbox), "break-glass-mfa-ready") == "pass"
    account = sandbox.graph.tenant.user("breakglass1@contoso.example")
    assert account is not None
    kept = copy.copy(account.methods)
    account.methods = [method_from_spec(account.upn, 1, {"type": "phone"}, sandbox.graph.tenant.clock.now())]
    found = next(c for c in (await check(sandbox)).checks if c.id == "break-glass-mfa-ready")
    assert found.status == "fail" and found.evidence["not_ready"][0]["account"] == "breakglass1@contoso.example"
    # Certificate-based authentication is not a listed method: the X.509 policy's targets and certificateUserIds.
    account.extra["certificateUserIds"] = ["X509:<PN>breakglass1@contoso.example"]
    sandbox.graph.tenant.method_configs["X509Certificate"] = {"state": "enabled", "includeTargets": [
        {"targetType": "group", "id": BG_GROUP}]}
    assert status(await check(sandbox), "break-glass-mfa-ready") == "pass"
    account.methods = kept


async def test_registration_guests_and_methods_migration(sandbox: Sandbox) -> None:
    report = await check(sandbox)
    assert status(report, "registration-guests") == "fail" and status(report, "methods-migration") == "pass"
    policy(sandbox)["state"] = "enabled"
    assert status(await check(sandbox), "registration-guests") == "warn"  # MFA only: a guest cannot satisfy it
    policy(sandbox)["grantControls"] = {"operator": "OR", "builtInControls": ["block"]}
    assert status(await check(sandbox), "registration-guests") == "pass"
    sandbox.graph.tenant.raw.setdefault("policies", {})["policyMigrationState"] = "migrationInProgress"
    assert status(await check(sandbox), "methods-migration") == "warn"


async def test_a_worsened_check_raises_a_drift_alert_once(sandbox: Sandbox) -> None:
    first = await check(sandbox)
    assert first.drift == [] and first.run_id
    sandbox.graph.tenant.ca_policies.remove(policy(sandbox))  # registration-ca: warn -> fail
    second = await check(sandbox)
    assert second.drift == [{"id": "registration-ca", "from": "warn", "to": "fail"}]
    # The card's text is escaped Markdown: compare it with the escapes taken out.
    posts = [p for p in sandbox.teams.posts if "posture_drift" in str(p["body"]).replace("\\", "")]
    assert len(posts) == 1 and "registration-ca" in str(posts[0]["body"]).replace("\\", "")
    third = await check(sandbox)
    assert third.drift == []  # still failing, not worse: no second alert
    table = sandbox.container.table_service().get_table_client(sandbox.settings.posture_table)
    runs = [e async for e in table.query_entities("PartitionKey eq 'run'")]
    assert len(runs) == 3


async def test_the_posture_timer_through_the_local_host(sandbox: Sandbox) -> None:
    from azure.functions.timer import TimerRequest

    from tests.reset.conftest import entry

    await entry("posture_timer")(TimerRequest(past_due=False))
    table = sandbox.container.table_service().get_table_client(sandbox.settings.posture_table)
    assert [e async for e in table.query_entities("PartitionKey eq 'run'")]
