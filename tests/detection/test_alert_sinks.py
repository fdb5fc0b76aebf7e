"""Each sink against its local receiver (the Teams Workflows receiver, ServiceNow incidents, the simulator's
mailbox), one alert per finding, failures recorded and retried; containment, by rule and by hand; the timer."""

from __future__ import annotations

import uuid
from typing import Any

import pytest

from sandbox.graph.tenant import method_from_spec
from sandbox.system import Sandbox
from shared.detection.service import ContainmentRefusedError
from shared.escaping import card_markdown
from tests.detection.events import T0, am, at, by_user
from tests.detection.test_monitor import ALAN, configure, monitor, register, uid

BG = "breakglass1@contoso.example"


@pytest.fixture(autouse=True)
def monitor_table(sandbox_env: dict[str, str]) -> None:
    sandbox_env["MONITOR_TABLE"] = f"monitor{uuid.uuid4().hex[:10]}"


def privileged(result: Any) -> Any:
    return next(f for f in result.findings if f.rule == "privileged-target")


async def test_a_finding_reaches_teams_and_servicenow_once(sandbox: Sandbox) -> None:
    register(sandbox, ALAN, minutes=5)
    result = await monitor(sandbox).scan()
    finding = privileged(result)
    assert result.alerts[finding.finding_id] == "sent"
    cards = [p["body"] for p in sandbox.teams.posts if finding.finding_id in str(p["body"])]
    assert len(cards) == 1
    attachment = cards[0]["attachments"][0]
    assert attachment["contentType"] == "application/vnd.microsoft.card.adaptive"
    assert attachment["content"]["type"] == "AdaptiveCard"
    texts = [b.get("text") for b in attachment["content"]["body"]]
    assert card_markdown(finding.summary) in texts
    incidents = [r for r in sandbox.servicenow.created if r["correlation_id"] == finding.finding_id]
    assert len(incidents) == 1 and incidents[0]["table"] == "incident" and incidents[0]["urgency"] == "1"
    await monitor(sandbox).scan()  # a second scan sends nothing twice
    assert len([p for p in sandbox.teams.posts if finding.finding_id in str(p["body"])]) == 1


async def test_mail_goes_through_graph_send_mail(sandbox: Sandbox) -> None:
    sandbox.graph.tenant.app_roles = (sandbox.graph.tenant.app_roles or set()) | {"Mail.Send"}
    configure(sandbox, alert_sinks="mail", alert_mail_from="grace.hopper@contoso.example")  # a mailbox that exists
    register(sandbox, ALAN, minutes=5)
    result = await monitor(sandbox).scan()
    assert result.alerts[privileged(result).finding_id] == "sent"
    [mail] = [m for m in sandbox.graph.tenant.mail if privileged(result).finding_id in str(m)]
    assert mail["from"] == "grace.hopper@contoso.example"
    assert mail["message"]["toRecipients"] == [{"emailAddress": {"address": "secops@contoso.example"}}]


async def test_a_failing_sink_is_recorded_and_retried_next_scan(sandbox: Sandbox) -> None:
    sandbox.graph.tenant.app_roles = set(sandbox.graph.tenant.app_roles or set()) - {"Mail.Send"}
    configure(sandbox, alert_sinks="teams,mail", alert_attempts=2, alert_mail_from="grace.hopper@contoso.example")
    register(sandbox, ALAN, minutes=5)
    sandbox.teams.fail_next = 2
    first = await monitor(sandbox).scan()
    finding = privileged(first)
    assert first.alerts[finding.finding_id] == "failed"
    stored = await monitor(sandbox).store.get_finding(finding.finding_id)
    assert stored is not None and stored.alert == "failed"
    assert "mail" in stored.alert_detail and "Authorization_RequestDenied" in stored.alert_detail
    configure(sandbox, alert_sinks="teams")
    second = await monitor(sandbox).scan()
    assert second.alerts[finding.finding_id] == "sent"
    assert any(finding.finding_id in str(p["body"]) for p in sandbox.teams.posts)


async def test_containment_by_rule_removes_the_new_method_and_revokes_sessions(sandbox: Sandbox) -> None:
    configure(sandbox, monitor_contain="privileged-target")
    user = sandbox.graph.tenant.user(ALAN)
    assert user is not None
    before = {m.id for m in user.methods}
    register(sandbox, ALAN, minutes=5, reason="User registered FIDO2 security key")
    user.methods.append(method_from_spec(ALAN, 900, {"type": "fido2", "displayName": "Attacker key",
                                                     "createdDateTime": at(5)}, T0))
    result = await monitor(sandbox).scan()
    finding = privileged(result)
    job_id = result.contained[finding.finding_id]
    job = await sandbox.container.job_store().get(job_id)
    assert job.kind.value == "containment" and job.state.value == "succeeded"
    removed = [s for s in job.steps if s.action == "delete_method" and s.outcome == "removed"]
    assert [s.data["type"] for s in removed] == ["fido2"]
    assert {m.id for m in user.methods} == before  # only the new key went
    assert any(s.action == "revoke_sessions" and s.outcome == "revoked" for s in job.steps)
    stored = await monitor(sandbox).store.get_finding(finding.finding_id)
    assert stored is not None and stored.containment_job == job_id


async def test_containment_by_hand_and_never_on_break_glass(sandbox: Sandbox) -> None:
    sandbox.graph.tenant.audits.append(am("Admin registered security info", "Admin registered phone method for user",
                                          BG, actor=by_user("rogue@contoso.example"), uid=uid(sandbox, BG)))
    result = await monitor(sandbox).scan()
    finding = next(f for f in result.findings if f.rule == "break-glass-target")
    assert finding.severity == "critical"
    with pytest.raises(ContainmentRefusedError):
        await monitor(sandbox).contain(finding.finding_id, by="ops@contoso.example")
    register(sandbox, ALAN, minutes=6)
    other = privileged(await monitor(sandbox).scan())
    job = await monitor(sandbox).contain(other.finding_id, by="ops@contoso.example")
    assert job.kind.value == "containment" and job.requested_by == "ops@contoso.example"
    assert (await monitor(sandbox).contain(other.finding_id, by="ops@contoso.example")).job_id == job.job_id


async def test_the_monitor_timer_scans_through_the_local_host(sandbox: Sandbox) -> None:
    from datetime import UTC, datetime

    from azure.functions.timer import TimerRequest

    import function_app
    from sandbox.localhost import timer_functions
    from tests.reset.conftest import entry

    schedules = {fn.__name__: schedule for schedule, _, fn in timer_functions(function_app.app, sandbox.resolve)}
    assert schedules["monitor_timer"].next_after(datetime(2026, 12, 1, 10, 1, tzinfo=UTC)).minute == 5
    register(sandbox, ALAN, minutes=5)
    await entry("monitor_timer")(TimerRequest(past_due=False))
    assert any(s.finding.rule == "privileged-target" for s in await monitor(sandbox).findings())


async def test_no_webhook_signature_or_phone_number_reaches_logs_tables_or_alerts(
        sandbox: Sandbox, caplog: pytest.LogCaptureFixture) -> None:
    import logging

    from pydantic import SecretStr

    from tests.detection.events import SMS, update_user

    caplog.set_level(logging.DEBUG)
    configure(sandbox, teams_webhook_url=SecretStr("http://sandbox.invalid/teams/workflows/alerts?sig=S3CR3TSIG"),
              allowed_phone_country_codes="+44")
    sandbox.teams.fail_next = 1  # a failure is logged and recorded: still without the URL
    sandbox.graph.tenant.audits.append(update_user(ALAN, old=[], new=[SMS], phones=([], ["+7 9161234567"]),
                                                   uid=uid(sandbox, ALAN)))
    result = await monitor(sandbox).scan()
    assert {"phone-country", "privileged-target"} <= {f.rule for f in result.findings}
    table = sandbox.container.table_service().get_table_client(sandbox.settings.monitor_table)
    stored = [str(entity) async for entity in table.list_entities()]
    everything = "\n".join([caplog.text, *stored, str(sandbox.teams.posts), str(sandbox.servicenow.created),
                            str(result.lines())])
    assert "S3CR3TSIG" not in everything
    assert "9161234567" not in everything and "+7 916" not in everything


async def test_three_concurrent_containments_of_one_finding_act_once(sandbox: Sandbox) -> None:
    """Issue 23, finding 3: one job, one admission, one delete per method, one revoke."""
    import asyncio

    user = sandbox.graph.tenant.user(ALAN)
    assert user is not None
    register(sandbox, ALAN, minutes=5, reason="User registered FIDO2 security key")
    user.methods.append(method_from_spec(ALAN, 901, {"type": "fido2", "displayName": "Attacker key",
                                                     "createdDateTime": at(5)}, T0))
    finding = privileged(await monitor(sandbox).scan())
    calls_before = len(sandbox.graph.calls)
    jobs = await asyncio.gather(*(monitor(sandbox).contain(finding.finding_id, by=f"ops{i}@contoso.example")
                                  for i in range(3)))
    assert len({j.job_id for j in jobs}) == 1
    new_calls = sandbox.graph.calls[calls_before:]
    deletes = [c for c in new_calls if c["method"] == "DELETE"]
    revokes = [c for c in new_calls if c["path"].endswith("/revokeSignInSessions")]
    assert len(deletes) == 1 and len(revokes) == 1
    store = sandbox.container.job_store()
    from datetime import timedelta

    assert await store.admissions_since(sandbox.graph.tenant.clock.now() - timedelta(hours=1)) == 1
    job = await store.get(jobs[0].job_id)
    assert job.state.value == "succeeded"


def test_a_revoke_that_was_never_sent_says_why() -> None:
    from shared.errors import GraphBadRequestError
    from shared.graph.port import AuthMethod, ChainResult, DeleteOutcome

    method = AuthMethod(type="fido2", id="m1")
    chain = ChainResult(deletes=[DeleteOutcome(method, GraphBadRequestError("delete fido2 method m1: refused"))])
    problem = chain.revoke_problem()
    assert problem and "None" not in problem and "refused" in problem
