"""Stale-method cleanup: the policy validator (line and field), each rule kind, exclude and include groups, the
run limit, plan then apply with an item that changed in between, apply at most once, the timer."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from sandbox.graph.tenant import method_from_spec
from sandbox.system import Sandbox
from shared.cleanup.policy import PolicyError, load_policy
from shared.cleanup.service import PlanStateError

NOW = datetime.now(UTC)


def policy(rules: str, limit: int = 200, exclude: str = "[]") -> Any:
    return load_policy(f"max_removals_per_run: {limit}\nexclude_groups: {exclude}\nrules:\n{rules}")


def give(box: Sandbox, upn: str, index: int, **spec: Any) -> str:
    user = box.graph.tenant.user(upn)
    assert user is not None
    method = method_from_spec(upn, index, spec, NOW)
    user.methods.append(method)
    return method.id


@pytest.mark.parametrize(("text", "line", "says"), [
    ("max_removals_per_run: 10\nrules:\n  - id: a\n    kind: method_type\n    remove: [appPassword]\n", 5,
     "My Sign-Ins"),
    ("max_removals_per_run: 10\nrules:\n  - id: a\n    kind: method_type\n    remove: [password]\n", 5,
     "cannot be removed"),
    ("max_removals_per_run: ten\nrules: []\n", 1, "max_removals_per_run"),
    ("max_removals_per_run: 10\nrules:\n  - id: a\n    kind: keep_newest\n    remove: [email]\n    keep: x\n", 6,
     "keep"),
    ("max_removals_per_run: 10\nrules:\n  - id: a\n    kind: sometimes\n", 4, "kind"),
    ("a: &x [1, 2]\nb: *x\n", 2, "aliases"),
    ("max_removals_per_run: 10\nrules:\n  - id: a\n    kind: guest\n    extra: 1\n", 5, "extra"),
    # Issue 23, finding 7: duplicate keys, a 5,000-digit number, a lone surrogate in a group name.
    ("max_removals_per_run: 10\nrules:\n  - id: a\n    kind: guest\nmax_removals_per_run: 99\n", 5, "duplicate"),
    ("max_removals_per_run: " + "9" * 5000 + "\nrules:\n  - id: a\n    kind: guest\n", 1, "5000 digits"),
    ('max_removals_per_run: 10\nexclude_groups: ["\\udc80VIP"]\nrules:\n  - id: a\n    kind: guest\n', 2,
     "exclude_groups"),
    ('max_removals_per_run: 10\nrules:\n  - id: a\n    kind: guest\n    include_groups: ["\\ud800"]\n', 5,
     "include_groups"),
])
def test_the_validator_names_the_line_and_the_field(text: str, line: int, says: str) -> None:
    with pytest.raises(PolicyError) as caught:
        load_policy(text)
    assert f"line {line}" in str(caught.value) and says in str(caught.value)


def test_the_shipped_example_is_valid() -> None:
    from pathlib import Path

    shipped = load_policy((Path(__file__).resolve().parents[2] / "integrations" / "cleanup" /
                           "policy.example.yaml").read_text())
    assert [r.kind for r in shipped.rules] == ["weak_when_phishing_resistant", "disabled_account", "guest",
                                               "keep_newest", "method_type"]


async def test_each_rule_kind_plans_what_it_should(sandbox: Sandbox) -> None:
    # Radia has a FIDO2 key (phishing resistant) and a phone: the phone goes. Frances has three WHfB keys.
    give(sandbox, "radia.perlman@contoso.example", 60, type="fido2", displayName="key")
    give(sandbox, "radia.perlman@contoso.example", 61, type="phone", phoneType="office", phoneNumber="+1 5550199")
    for i in range(3):
        give(sandbox, "frances.allen@contoso.example", 70 + i, type="windowsHelloForBusiness", displayName=f"PC{i}",
             createdDateTime=(NOW - timedelta(days=30 - i)).strftime("%Y-%m-%dT%H:%M:%SZ"))
    plan = await sandbox.container.cleanup_service().plan(policy(
        "  - id: weak\n    kind: weak_when_phishing_resistant\n    remove: [officePhone]\n"
        "  - id: disabled\n    kind: disabled_account\n"
        "  - id: guests\n    kind: guest\n"
        "  - id: devices\n    kind: keep_newest\n    remove: [windowsHelloForBusiness]\n    keep: 1\n"))
    by_rule: dict[str, set[str]] = {}
    for item in plan.items:
        by_rule.setdefault(item.rule, set()).add(item.upn)
    assert by_rule["weak"] == {"radia.perlman@contoso.example", "max.methods@contoso.example"}  # both: FIDO2 + office
    assert by_rule["disabled"] == {"old.employee@contoso.example"}
    assert by_rule["guests"] == {"partner_fabrikam.example#EXT#@contoso.example"}
    devices = [i for i in plan.items if i.rule == "devices" and i.upn == "frances.allen@contoso.example"]
    assert len(devices) == 2  # three keys, the newest kept
    assert plan.status == "planned" and plan.graph_requests > 0
    assert set(plan.to_dict()) >= {"plan_id", "items", "graph_requests"}
    assert set(plan.to_dict()["items"][0]) == {"user", "upn", "method_type", "method_id", "rule"}


async def test_groups_include_and_exclude_and_break_glass_never(sandbox: Sandbox) -> None:
    group = sandbox.graph.tenant.group_by_name("All Staff")
    assert group is not None
    for upn in ("ada.lovelace@contoso.example", "linus.torvalds@contoso.example"):  # Linus has no phone
        user = sandbox.graph.tenant.user(upn)
        assert user is not None
        user.groups.append(group["id"])
    rule = "  - id: sms\n    kind: method_type\n    remove: [mobilePhone]\n    include_groups: [\"All Staff\"]\n"
    plan = await sandbox.container.cleanup_service().plan(policy(rule))
    assert {i.upn for i in plan.items} == {"ada.lovelace@contoso.example"}  # in the group, with a mobile
    everyone = await sandbox.container.cleanup_service().plan(policy(
        "  - id: keys\n    kind: method_type\n    remove: [fido2SecurityKey]\n", exclude='["All Staff"]'))
    assert not {i.upn for i in everyone.items} & {"breakglass1@contoso.example", "breakglass2@contoso.example",
                                                  "ada.lovelace@contoso.example"}


async def test_a_plan_over_the_limit_is_refused_and_never_applied(sandbox: Sandbox) -> None:
    service = sandbox.container.cleanup_service()
    plan = await service.plan(policy("  - id: sms\n    kind: method_type\n    remove: [mobilePhone]\n", limit=2))
    assert plan.status == "refused" and len(plan.items) > 2
    assert [a["alert"] for a in sandbox.alerts.raised] == ["cleanup_over_limit"]
    with pytest.raises(PlanStateError):
        await service.apply(plan.plan_id, by="ops@contoso.example")
    assert not [c for c in sandbox.graph.calls if c["method"] == "DELETE"]


async def test_plan_then_apply_skips_what_changed_in_between_and_applies_once(sandbox: Sandbox) -> None:
    service = sandbox.container.cleanup_service()
    plan = await service.plan(policy("  - id: disabled\n    kind: disabled_account\n"))
    assert len(plan.items) == 2
    old = sandbox.graph.tenant.user("old.employee@contoso.example")
    assert old is not None
    gone = next(m for m in old.methods if m.type == "phone")
    old.methods.remove(gone)  # deleted by hand between plan and apply
    result = await service.apply(plan.plan_id, by="ops@contoso.example")
    assert {"removed", "skipped", "failed"} <= set(result)
    assert [s["reason"] for s in result["skipped"] if s["method_id"] == gone.id] == ["method_gone"]
    assert result["removed"] == len(plan.items) - 1 and result["failed"] == []
    assert [m.type for m in old.methods] == []
    job = await sandbox.container.job_store().get(result["job_id"])
    assert job.kind.value == "cleanup" and job.state.value == "succeeded"
    assert any(s.outcome == "skipped" and "method_gone" in s.detail for s in job.steps)
    with pytest.raises(PlanStateError):
        await service.apply(plan.plan_id, by="ops@contoso.example")


async def test_a_user_that_left_the_scope_is_skipped(sandbox: Sandbox) -> None:
    service = sandbox.container.cleanup_service()
    plan = await service.plan(policy("  - id: disabled\n    kind: disabled_account\n"))
    old = sandbox.graph.tenant.user("old.employee@contoso.example")
    assert old is not None and plan.items
    old.account_enabled = True  # enabled again between plan and apply
    result = await service.apply(plan.plan_id, by="ops@contoso.example")
    assert result["removed"] == 0 and {s["reason"] for s in result["skipped"]} == {"out_of_scope"}


@pytest.mark.parametrize("sandbox_env", [{"CLEANUP_APPLY": "true", "JOBS_TABLE": "jobsclean",
                                          "JOBS_BY_USER_TABLE": "byuserclean"}])
async def test_the_timer_plans_and_applies_when_told(sandbox: Sandbox, tmp_path: Any,
                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    from azure.functions.timer import TimerRequest

    from tests.reset.conftest import entry

    path = tmp_path / "policy.yaml"
    path.write_text("max_removals_per_run: 50\nrules:\n  - id: disabled\n    kind: disabled_account\n")
    monkeypatch.setattr(sandbox.container, "settings", sandbox.settings.model_copy(
        update={"cleanup_policy": str(path)}))
    await entry("cleanup_timer")(TimerRequest(past_due=False))
    old = sandbox.graph.tenant.user("old.employee@contoso.example")
    assert old is not None and old.methods == []


async def test_a_default_graph_will_not_let_go_is_reported_failed_with_its_reason(sandbox: Sandbox) -> None:
    # Frances: a mobile phone (her default) and a FIDO2 key, which cannot be a default: Graph refuses to delete
    # the phone while the key remains, in the first wave and again in the second.
    service = sandbox.container.cleanup_service()
    plan = await service.plan(policy("  - id: sms\n    kind: method_type\n    remove: [mobilePhone]\n"
                                     "    include_groups: [\"All Staff\"]\n"))
    assert plan.items == []  # nobody in the group yet
    user = sandbox.graph.tenant.user("frances.allen@contoso.example")
    group = sandbox.graph.tenant.group_by_name("All Staff")
    assert user is not None and group is not None
    user.groups.append(group["id"])
    plan = await service.plan(policy("  - id: sms\n    kind: method_type\n    remove: [mobilePhone]\n"
                                     "    include_groups: [\"All Staff\"]\n"))
    assert user.default_method == "sms"
    result = await service.apply(plan.plan_id, by="ops@contoso.example")
    assert [f["upn"] for f in result["failed"]] == ["frances.allen@contoso.example"]
    assert "default" in result["failed"][0]["reason"].lower()
    deletes = [c for c in sandbox.graph.calls if c["method"] == "DELETE"]
    assert len(deletes) == 2  # the first wave, then once more after the rest: never a loop
    job = await sandbox.container.job_store().get(result["job_id"])
    assert job.state.value == "failed" and job.error is not None and job.error.code == "partial"


async def test_a_plan_larger_than_a_table_property_is_stored_and_read_back_whole(sandbox: Sandbox) -> None:
    user = sandbox.graph.tenant.user("frances.allen@contoso.example")
    assert user is not None
    for i in range(450):
        give(sandbox, user.upn, 100 + i, type="windowsHelloForBusiness", displayName=f"PC{i}",
             createdDateTime=(NOW - timedelta(minutes=i)).strftime("%Y-%m-%dT%H:%M:%SZ"))
    service = sandbox.container.cleanup_service()
    plan = await service.plan(policy("  - id: d\n    kind: keep_newest\n    remove: [windowsHelloForBusiness]\n"
                                     "    keep: 0\n", limit=1000))
    assert len([i for i in plan.items if i.upn == user.upn]) == 450  # (and the demo's own WHfB keys)
    again = await service.show(plan.plan_id)
    assert [i.method_id for i in again.items] == [i.method_id for i in plan.items]


async def test_throttling_mid_apply_finishes_deletes_nothing_twice_and_the_job_shows_the_retries(
        sandbox: Sandbox) -> None:
    from collections import Counter

    for i in range(6):
        give(sandbox, "frances.allen@contoso.example", 300 + i, type="windowsHelloForBusiness", displayName=f"PC{i}",
             createdDateTime=(NOW - timedelta(days=i)).strftime("%Y-%m-%dT%H:%M:%SZ"))
    service = sandbox.container.cleanup_service()
    plan = await service.plan(policy("  - id: d\n    kind: keep_newest\n    remove: [windowsHelloForBusiness]\n"
                                     "    keep: 1\n"))
    throttle = sandbox.graph.throttle
    throttle.enabled = True
    throttle.configure({"reports": {"capacity": 3, "window_s": 1}})
    result = await service.apply(plan.plan_id, by="ops@contoso.example")
    assert result["failed"] == [] and result["removed"] == len(plan.items)
    deleted = Counter(c["path"] for c in sandbox.graph.calls if c["method"] == "DELETE" and c["status"] == 204)
    assert max(deleted.values()) == 1
    job = await sandbox.container.job_store().get(result["job_id"])
    assert any(s.action == "graph_throttling" and int(s.data["resent"]) > 0 for s in job.steps)


async def test_an_exclude_group_that_does_not_exist_is_an_error_naming_it(sandbox: Sandbox) -> None:
    """Issue 23, finding 7: a typo in exclude_groups once excluded nobody, silently."""
    service = sandbox.container.cleanup_service()
    rules = "  - id: phones\n    kind: method_type\n    remove: [mobilePhone]\n"
    with pytest.raises(PolicyError) as caught:
        await service.plan(policy(rules, exclude="[Privileged Admnis]"))
    assert "Privileged Admnis" in str(caught.value) and "exclude_groups" in str(caught.value)
    with pytest.raises(PolicyError):
        await service.plan(policy("  - id: p\n    kind: method_type\n    remove: [mobilePhone]\n"
                                  "    include_groups: [Nope]\n"))


async def test_a_plan_that_touches_privileged_users_needs_a_second_person(sandbox: Sandbox) -> None:
    service = sandbox.container.cleanup_service()
    alan = sandbox.graph.tenant.user("alan.turing@contoso.example")  # Privileged Authentication Administrator
    assert alan is not None and alan.roles
    give(sandbox, alan.upn, 70, type="email", emailAddress="alan@home.example")
    made = await service.plan(policy("  - id: mails\n    kind: method_type\n    remove: [email]\n"))
    assert alan.id in made.privileged_users and made.to_dict()["privileged_users"]
    with pytest.raises(PlanStateError) as caught:
        await service.apply(made.plan_id, by="ops@contoso.example")
    assert "--approved-by" in str(caught.value)
    with pytest.raises(PlanStateError):
        await service.apply(made.plan_id, by="ops@contoso.example", approved_by="OPS@contoso.example")
    assert any(m.type == "email" for m in alan.methods)  # nothing removed by a refused apply
    done = await service.apply(made.plan_id, by="ops@contoso.example", approved_by="ciso@contoso.example")
    assert done["removed"] >= 1 and not any(m.type == "email" for m in alan.methods)
    job = await sandbox.container.job_store().get(done["job_id"])
    assert any(s.action == "approval" and "ciso@contoso.example" in s.detail for s in job.steps)


async def test_the_timer_skips_privileged_users_it_cannot_have_approved(sandbox: Sandbox) -> None:
    service = sandbox.container.cleanup_service()
    alan = sandbox.graph.tenant.user("alan.turing@contoso.example")
    assert alan is not None
    give(sandbox, alan.upn, 71, type="email", emailAddress="alan@home.example")
    made = await service.plan(policy("  - id: mails\n    kind: method_type\n    remove: [email]\n"))
    done = await service.apply(made.plan_id, by="timer")
    assert any(s["user"] == alan.id and s["reason"] == "privileged_needs_approval" for s in done["skipped"])
    assert any(m.type == "email" for m in alan.methods)


async def test_a_plan_id_that_is_no_key_is_simply_unknown(sandbox: Sandbox) -> None:
    from shared.errors import JobNotFoundError

    for bad in ("a/b", "x#y", "\udc80", "../" * 50):
        with pytest.raises(JobNotFoundError):
            await sandbox.container.cleanup_service().show(bad)


async def test_a_new_bulk_batch_reads_no_job_before_the_limit_refuses(sandbox: Sandbox) -> None:
    """Issue 23, finding 8: 2,000 rows were refused only after 2,000 sequential job-store reads."""
    from shared.reset.bulk import BulkRow, pending_rows

    service = sandbox.container.reset_service()
    reads = 0
    original = service.jobs.find_by_key

    async def counted(key: str) -> Any:
        nonlocal reads
        reads += 1
        return await original(key)

    service.jobs.find_by_key = counted  # type: ignore[method-assign]
    rows = [BulkRow(i + 2, f"user{i}@contoso.example") for i in range(2000)]
    assert len(await pending_rows(service, rows, "new-batch", resumed=False)) == 2000 and reads == 0
    assert len(await pending_rows(service, rows[:40], "old-batch", resumed=True)) == 40 and reads == 40
