"""`monitor scan` against Azurite and the Graph simulator: findings recorded once, the watermark, a crash mid-
page, tenant context (and the licences it needs), what only mfaops knows, suppression after a reset."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from sandbox.system import Sandbox
from shared.detection.service import MonitorService
from shared.jobs.model import Job, JobKind, JobState, Source, Target
from tests.detection.events import T0, am, at, by_user

ADA = "ada.lovelace@contoso.example"
ALAN = "alan.turing@contoso.example"  # Privileged Authentication Administrator


def uid(box: Sandbox, upn: str) -> str:
    user = box.graph.tenant.user(upn)
    assert user is not None
    return user.id


def register(box: Sandbox, upn: str, *, minutes: float = 0, ip: str = "203.0.113.10",
             reason: str = "User registered Mobile Phone SMS") -> dict[str, Any]:
    event = am("User registered security info", reason, upn, minutes=minutes, ip=ip, uid=uid(box, upn))
    box.graph.tenant.audits.append(event)
    return event


def sign_in(box: Sandbox, upn: str, *, minutes: float, ip: str, risk: str = "none", error: int = 0) -> None:
    box.graph.tenant.sign_ins.append({"id": str(uuid.uuid4()), "createdDateTime": at(minutes), "userId": uid(box, upn),
                                      "userPrincipalName": upn, "ipAddress": ip, "riskLevelDuringSignIn": risk,
                                      "riskState": "atRisk" if risk != "none" else "none",
                                      "status": {"errorCode": error}})


def configure(box: Sandbox, **fields: Any) -> None:
    """Change settings of a sandbox already built (the container reads them on each service it builds)."""
    box.container.settings = box.container.settings.model_copy(update=fields)
    box.container._sinks = None  # built again from the new settings
    box.settings = box.container.settings


def monitor(box: Sandbox) -> MonitorService:
    return box.container.monitor_service()


def by_rule(result: Any) -> dict[str, Any]:
    return {f.rule: f for f in result.findings}


@pytest.fixture(autouse=True)
def monitor_table(sandbox_env: dict[str, str]) -> None:
    sandbox_env["MONITOR_TABLE"] = f"monitor{uuid.uuid4().hex[:10]}"


async def test_a_scan_records_each_finding_once_and_moves_the_watermark(sandbox: Sandbox) -> None:
    event = register(sandbox, ALAN, minutes=10)
    first = await monitor(sandbox).scan()
    found = by_rule(first)
    assert "privileged-target" in found and "Privileged Authentication Administrator" in found[
        "privileged-target"].summary
    assert first.watermark is not None and first.watermark.isoformat().startswith(at(10)[:19])
    lines = first.lines()
    assert any(line["kind"] == "event" and line["event_id"] == event["id"] for line in lines)
    assert all(line["finding_id"] for line in lines if line["kind"] == "finding")
    second = await monitor(sandbox).scan()
    assert second.findings == [] and second.events == []  # nothing new: nothing twice
    stored = await monitor(sandbox).findings()
    assert [s.finding.rule for s in stored].count("privileged-target") == 1


async def test_a_late_event_inside_the_overlap_is_read_and_a_re_read_one_is_not_repeated(sandbox: Sandbox) -> None:
    register(sandbox, ALAN, minutes=30)
    await monitor(sandbox).scan()
    late = register(sandbox, ALAN, minutes=25, reason="User registered Email")  # written after the scan, older
    result = await monitor(sandbox).scan()
    assert [r.event_id for r in result.events] == [late["id"]]


async def test_a_crash_mid_page_re_reads_and_skips_nothing(sandbox: Sandbox, sandbox_env: dict[str, str]) -> None:
    for i in range(5):
        register(sandbox, ALAN, minutes=10 + i, reason=["User registered Mobile Phone SMS", "User registered Email",
                                                        "User registered Office Phone",
                                                        "User registered FIDO2 security key",
                                                        "User registered Alternate Mobile Phone"][i])
    service = monitor(sandbox)
    service.settings = service.settings.model_copy(update={"monitor_page_size": 2})
    with pytest.raises(RuntimeError):
        await service.scan(crash_after_events=3)
    mark = await service.store.watermark()
    assert mark is not None and mark.isoformat().startswith(at(11)[:19])  # page 1 done, page 2 not
    after = await service.scan()
    everything = await service.findings()
    assert len([s for s in everything if s.finding.rule == "privileged-target"]) == 5
    # Re-read from the watermark less the overlap: the two events the crash left undone, nothing twice.
    assert len([f for f in after.findings if f.rule == "privileged-target"]) == 2 and after.pages == 3


async def test_tenant_context_rules(sandbox: Sandbox, sandbox_env: dict[str, str]) -> None:
    sandbox.graph.tenant.groups["watch"] = {"id": "watch", "displayName": "VIP Watch"}
    grace = sandbox.graph.tenant.user("grace.hopper@contoso.example")
    assert grace is not None
    grace.groups.append("watch")
    configure(sandbox, monitor_watchlist_group="VIP Watch")
    sign_in(sandbox, ADA, minutes=-30, ip="198.51.100.66", risk="high")
    register(sandbox, ADA, minutes=0, ip="198.51.100.66")
    sign_in(sandbox, "linus.torvalds@contoso.example", minutes=-600, ip="203.0.113.10")
    register(sandbox, "linus.torvalds@contoso.example", minutes=1, ip="192.0.2.200")
    sign_in(sandbox, "grace.hopper@contoso.example", minutes=-60, ip="203.0.113.10")
    register(sandbox, "grace.hopper@contoso.example", minutes=2, ip="203.0.113.10")
    sandbox.graph.tenant.risky_users.append({"id": uid(sandbox, "edsger.dijkstra@contoso.example"),
                                             "userPrincipalName": "edsger.dijkstra@contoso.example",
                                             "riskState": "atRisk", "riskLevel": "high"})
    sign_in(sandbox, "edsger.dijkstra@contoso.example", minutes=-100, ip="203.0.113.10")
    register(sandbox, "edsger.dijkstra@contoso.example", minutes=3)
    box_service = sandbox.container.monitor_service()
    result = await box_service.scan()
    hits = {(f.rule, f.target) for f in result.findings}
    assert ("risk-before-registration", ADA) in hits
    assert ("unknown-ip", "linus.torvalds@contoso.example") in hits
    assert ("watchlist-target", "grace.hopper@contoso.example") in hits
    assert ("user-at-risk", "edsger.dijkstra@contoso.example") in hits
    # Near misses: Grace registered from an address she signs in from; Linus had no risky sign-in.
    assert ("unknown-ip", "grace.hopper@contoso.example") not in hits
    assert ("risk-before-registration", "linus.torvalds@contoso.example") not in hits
    assert result.unavailable == {}


async def test_an_admin_change_with_no_job_or_ticket_and_a_risky_admin(sandbox: Sandbox) -> None:
    sign_in(sandbox, "katherine.johnson@contoso.example", minutes=-60, ip="198.51.100.5", risk="medium")
    admin = by_user("katherine.johnson@contoso.example", "198.51.100.5",
                    uid=uid(sandbox, "katherine.johnson@contoso.example"))
    sandbox.graph.tenant.audits.append(am("Admin registered security info", "Admin registered phone method for user",
                                          ADA, actor=admin, uid=uid(sandbox, ADA)))
    hits = by_rule(await monitor(sandbox).scan())
    assert "admin-change-without-ticket" in hits and "risky-admin-changes-other" in hits


async def test_unlicensed_context_is_reported_and_the_other_rules_still_run(sandbox: Sandbox) -> None:
    sandbox.graph.tenant.licenses = {"P1": False, "P2": False}
    register(sandbox, ALAN, minutes=5, ip="192.0.2.1")
    result = await monitor(sandbox).scan()
    assert set(result.unavailable) == {"sign_ins", "risky_users", "risk_detections"}
    assert all("Authentication_RequestFromNonPremiumTenantOrB2CTenant" in why for why in result.unavailable.values())
    assert "privileged-target" in by_rule(result) and "unknown-ip" not in by_rule(result)


async def reset_job(box: Sandbox, upn: str, *, hours_ago: float = 0.5, tap_hours: float = 8,
                    sys_id: str = "") -> Job:
    now = datetime.now(UTC)
    done = now - timedelta(hours=hours_ago)
    job = Job.new(JobKind.RESET, Target(id=uid(box, upn), upn=upn),
                  Source(kind="servicenow", table="sc_req_item", sys_id=sys_id, number="RITM0099") if sys_id else
                  Source(kind="operator", operator="ops@contoso.example"), requested_by="ops@contoso.example",
                  now=done - timedelta(minutes=1))
    job.transition(JobState.RUNNING, now=done)
    job.record("issue_tap", "issued", "one-time", data={"expires": (done + timedelta(hours=tap_hours)).isoformat(),
                                                         "method_id": str(uuid.uuid4())}, now=done)
    job.transition(JobState.SUCCEEDED, now=done)
    stored, _ = await box.container.job_store().create(job)
    return stored


async def test_a_registration_inside_an_mfaops_tap_is_expected_and_suppressed(sandbox: Sandbox) -> None:
    job = await reset_job(sandbox, ALAN, hours_ago=T0.hour and (datetime.now(UTC) - T0).total_seconds() / 3600 + 0.1)
    sign_in(sandbox, ALAN, minutes=-100, ip="203.0.113.10")
    register(sandbox, ALAN, minutes=5, ip="203.0.113.10")
    result = await monitor(sandbox).scan()
    finding = by_rule(result)["privileged-target"]
    assert finding.expected and finding.expected_by == job.job_id
    assert result.alerts[finding.finding_id] == "suppressed"
    assert sandbox.teams.posts == []


async def test_downgrade_mode_alerts_a_lower_severity(sandbox: Sandbox, sandbox_env: dict[str, str]) -> None:
    configure(sandbox, monitor_expected="downgrade")
    await reset_job(sandbox, ALAN, hours_ago=(datetime.now(UTC) - T0).total_seconds() / 3600 + 0.1)
    sign_in(sandbox, ALAN, minutes=-100, ip="203.0.113.10")
    register(sandbox, ALAN, minutes=5, ip="203.0.113.10")
    result = await monitor(sandbox).scan()
    finding = by_rule(result)["privileged-target"]
    assert finding.expected and finding.severity == "medium" and result.alerts[finding.finding_id] == "sent"


async def test_a_new_network_while_an_mfaops_tap_is_valid_is_never_expected(sandbox: Sandbox) -> None:
    await reset_job(sandbox, ADA, hours_ago=(datetime.now(UTC) - T0).total_seconds() / 3600 + 0.1)
    sign_in(sandbox, ADA, minutes=-100, ip="203.0.113.10")
    register(sandbox, ADA, minutes=5, ip="192.0.2.99")
    finding = by_rule(await monitor(sandbox).scan())["new-network-during-tap"]
    assert not finding.expected and finding.severity == "high"


async def test_a_reset_with_no_re_registration_and_a_tap_outliving_its_ticket(sandbox: Sandbox) -> None:
    sandbox.servicenow.records[("sc_req_item", "c" * 32)] = {"table": "sc_req_item", "sys_id": "c" * 32,
                                                             "number": "RITM0099", "state": "3", "active": "false",
                                                             "approval": "approved"}
    stuck = await reset_job(sandbox, "grace.hopper@contoso.example", hours_ago=30, tap_hours=48, sys_id="c" * 32)
    fine = await reset_job(sandbox, "linus.torvalds@contoso.example", hours_ago=30, tap_hours=1)
    sandbox.graph.tenant.audits.append(am("User registered security info", "User registered Mobile Phone SMS",
                                          "linus.torvalds@contoso.example", minutes=60,
                                          uid=uid(sandbox, "linus.torvalds@contoso.example")))
    await monitor(sandbox).scan(since=datetime.now(UTC) - timedelta(hours=31))
    # the registration above is recorded as Linus's last registration; the run before... scan once more:
    result = await monitor(sandbox).scan()
    rules = {(s.finding.rule, s.finding.target) for s in await monitor(sandbox).findings()}
    assert ("no-reregistration", "grace.hopper@contoso.example") in rules
    assert ("tap-after-ticket-closed", "grace.hopper@contoso.example") in rules
    assert ("no-reregistration", "linus.torvalds@contoso.example") not in rules
    assert stuck.job_id != fine.job_id and result.findings == []
