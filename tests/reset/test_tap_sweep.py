"""The TAP sweep against the sandbox tenant and Azurite: every reason and exemption, candidates found without a
tenant scan, deletions recorded on a tap_sweep job, the timer through the local host."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from sandbox.graph.tenant import method_from_spec
from sandbox.system import Sandbox
from tests.reset.conftest import entry, reset

NOW = datetime.now(UTC)


def give_tap(box: Sandbox, upn: str, **spec: Any) -> str:
    user = box.graph.tenant.user(upn)
    assert user is not None
    method = method_from_spec(upn, 77, {"type": "temporaryAccessPass", "lifetimeInMinutes": 480,
                                        "isUsableOnce": True, **spec}, NOW)
    user.methods.append(method)
    return method.id


def reasons(result: Any) -> dict[str, str]:
    return {item.upn: item.reason for item in result.deleted}


async def test_a_dry_sweep_names_every_pass_that_would_go_and_deletes_nothing(sandbox: Sandbox) -> None:
    give_tap(sandbox, "breakglass1@contoso.example")  # never touched
    give_tap(sandbox, "old.employee@contoso.example", used=True)  # disabled: swept too
    sandbox.graph.calls.clear()
    result = await sandbox.container.tap_sweeper().sweep(apply=False)
    assert reasons(result) == {"tap.used@contoso.example": "used", "tap.expired@contoso.example": "expired",
                               "tap.future@contoso.example": "too_old", "old.employee@contoso.example": "used"}
    kept = {item.upn: item.reason for item in result.kept}
    assert kept["tap.active@contoso.example"] == "usable" and kept["breakglass1@contoso.example"] == "exempt"
    assert not [c for c in sandbox.graph.calls if c["method"] == "DELETE"]
    doc = result.to_dict()
    assert set(doc) >= {"scanned", "candidates", "deleted", "kept", "graph_requests"}
    assert set(doc["deleted"][0]) == {"user", "upn", "method_id", "reason"}
    # No tenant scan: the report (filtered on the server), the disabled users, the group, one $batch of methods.
    paths = [c["path"] for c in sandbox.graph.calls if not c.get("batch")]
    assert doc["graph_requests"] == len(paths) <= 6, paths
    assert "/v1.0/reports/authenticationMethods/userRegistrationDetails" in paths


async def test_apply_deletes_them_on_a_recorded_job(sandbox: Sandbox) -> None:
    result = await sandbox.container.tap_sweeper().sweep(apply=True, by="ops@contoso.example")
    assert result.applied and result.job_id and not result.failed
    job = await sandbox.container.job_store().get(result.job_id)
    assert job.kind.value == "tap_sweep" and job.state.value == "succeeded"
    removed = [s for s in job.steps if s.action == "delete_method" and s.outcome == "removed"]
    assert {s.data["reason"] for s in removed} == {"used", "expired", "too_old"}
    for upn in ("tap.used@contoso.example", "tap.expired@contoso.example"):
        user = sandbox.graph.tenant.user(upn)
        assert user is not None and not [m for m in user.methods if m.type == "temporaryAccessPass"]
    again = await sandbox.container.tap_sweeper().sweep(apply=True)
    assert again.deleted == [] and not again.job_id  # nothing left: no empty job


@pytest.mark.parametrize("sandbox_env", [{"TAP_ALLOW_MULTI_USE": "false", "TAP_SWEEP_EXEMPT_GROUP": "All Staff",
                                          "JOBS_TABLE": "jobssweep", "JOBS_BY_USER_TABLE": "byusersweep"}])
async def test_multi_use_is_swept_when_policy_says_so_and_the_exempt_group_is_not(sandbox: Sandbox) -> None:
    group = sandbox.graph.tenant.group_by_name("All Staff")
    assert group is not None
    result = await sandbox.container.tap_sweeper().sweep(apply=False)
    assert reasons(result).get("tap.active@contoso.example") == "multi_use"
    donald = sandbox.graph.tenant.user("donald.knuth@contoso.example")
    assert donald is not None
    donald.groups.append(group["id"])
    assert donald.id.lower() in await sandbox.container.graph().group_member_ids("All Staff")
    give_tap(sandbox, donald.upn, used=True)
    again = await sandbox.container.tap_sweeper().sweep(apply=False)
    assert donald.upn not in reasons(again)
    assert {i.upn: i.reason for i in again.kept}[donald.upn] == "exempt"


async def test_a_tap_an_mfaops_reset_issued_goes_once_the_user_registered_again(sandbox: Sandbox) -> None:
    job = await reset(sandbox)
    assert job["state"] == "succeeded" and job["tap_issued"]
    before = await sandbox.container.tap_sweeper().sweep(apply=False)
    assert "ada.lovelace@contoso.example" not in reasons(before)  # still needed: nothing registered yet
    user = sandbox.graph.tenant.user("ada.lovelace@contoso.example")
    assert user is not None
    user.methods.append(method_from_spec(user.upn, 91, {"type": "microsoftAuthenticator", "displayName": "new"},
                                         NOW))
    after = await sandbox.container.tap_sweeper().sweep(apply=True)
    assert reasons(after)["ada.lovelace@contoso.example"] == "re_registered"
    assert not [m for m in user.methods if m.type == "temporaryAccessPass"]


async def test_a_tap_older_than_the_maximum_age_goes_whatever_its_lifetime(sandbox: Sandbox) -> None:
    two_days_ago = (NOW - timedelta(days=2)).strftime("%Y-%m-%dT%H:%M:%SZ")
    give_tap(sandbox, "barbara.liskov@contoso.example", lifetimeInMinutes=43200, createdDateTime=two_days_ago)
    result = await sandbox.container.tap_sweeper().sweep(apply=False)
    assert reasons(result)["barbara.liskov@contoso.example"] == "too_old"


async def test_the_timer_sweeps_through_the_local_host(sandbox: Sandbox) -> None:
    import azure.functions as func
    from azure.functions.timer import TimerRequest

    import function_app
    from sandbox.localhost import timer_functions

    schedules = {fn.__name__: schedule for schedule, _, fn in timer_functions(function_app.app, sandbox.resolve)}
    assert "tap_sweep_timer" in schedules
    assert schedules["tap_sweep_timer"].next_after(datetime(2026, 12, 1, 10, 1, tzinfo=UTC)).minute == 15
    await entry("tap_sweep_timer")(TimerRequest(past_due=False))
    user = sandbox.graph.tenant.user("tap.used@contoso.example")
    assert user is not None and not [m for m in user.methods if m.type == "temporaryAccessPass"]
    from shared.jobs.model import JobState

    sweeps = await sandbox.container.job_store().list_by_state(JobState.SUCCEEDED)
    assert any(j.kind.value == "tap_sweep" and j.source.kind == "timer" for j in sweeps)
    assert func  # the timer binding is the real azure.functions one


async def test_throttling_mid_sweep_is_waited_out_and_nothing_is_deleted_twice(sandbox: Sandbox) -> None:
    from collections import Counter

    throttle = sandbox.graph.throttle
    throttle.enabled = True
    throttle.configure({"reports": {"capacity": 2, "window_s": 1}})  # a user's methods count in this bucket
    result = await sandbox.container.tap_sweeper().sweep(apply=True)
    assert not result.failed and len(result.deleted) == 3
    assert throttle.throttled > 0  # 429s inside 200 batches, resent as Retry-After asked
    deleted = Counter(c["path"] for c in sandbox.graph.calls if c["method"] == "DELETE" and c["status"] == 204)
    assert len(deleted) == 3 and max(deleted.values()) == 1


async def test_the_sweep_job_says_how_many_throttled_requests_were_sent_again(sandbox: Sandbox) -> None:
    throttle = sandbox.graph.throttle
    throttle.enabled = True
    throttle.configure({"reports": {"capacity": 2, "window_s": 1}})
    result = await sandbox.container.tap_sweeper().sweep(apply=True)
    job = await sandbox.container.job_store().get(result.job_id)
    [step] = [s for s in job.steps if s.action == "graph_throttling"]
    assert step.outcome == "retried" and int(step.data["resent"]) > 0
