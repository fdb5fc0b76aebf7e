"""Cleanup by use (issue 27, section 3): the `unused` rule plans from the inventory, lists what Graph gives no
lastUsedDateTime under `unknown`, skips at apply a method used since the plan, and keeps a user's last usable method
and a method that satisfies the tenant's MFA unless the rule says `allow_last`."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from sandbox.system import Sandbox
from shared.cleanup.policy import PolicyError, load_policy

NOW = datetime.now(UTC)


def env() -> dict[str, str]:
    suffix = uuid.uuid4().hex[:10]
    return {"INVENTORY_TABLE": f"inventory{suffix}", "JOBS_TABLE": f"jobs{suffix}",
            "JOBS_BY_USER_TABLE": f"jobsbyuser{suffix}"}


def policy(extra: str = "") -> Any:
    return load_policy("max_removals_per_run: 100\nrules:\n  - id: unused-phones\n    kind: unused\n"
                       "    remove: [mobilePhone, alternateMobilePhone, officePhone, email]\n    days: 180\n" + extra)


def used(box: Sandbox, upn: str, days_ago: float | None, *, kind: str = "phone") -> None:
    user = box.graph.tenant.user(upn)
    assert user is not None
    for method in user.methods:
        if method.type == kind:
            method.last_used = None if days_ago is None else NOW - timedelta(days=days_ago)


def by_user(items: list[Any]) -> dict[str, set[str]]:
    out: dict[str, set[str]] = {}
    for item in items:
        out.setdefault(item.upn, set()).add(item.method_type)
    return out


@pytest.mark.parametrize("sandbox_env", [env()])
async def test_unused_unknown_kept_and_used_since_the_plan(sandbox: Sandbox) -> None:
    tenant = sandbox.graph.tenant
    tenant.method_configs["Sms"] = {"state": "enabled", "includeTargets": [{"targetType": "group", "id": "all_users"}]}
    used(sandbox, "ada.lovelace@contoso.example", 200)  # and an Authenticator: the phone goes
    used(sandbox, "katherine.johnson@contoso.example", 1)  # used yesterday: stays
    used(sandbox, "grace.hopper@contoso.example", 200)  # three phones and an e-mail Graph gives no last use
    used(sandbox, "grace.hopper@contoso.example", None, kind="email")
    used(sandbox, "ken.thompson@contoso.example", 300)  # two phones, nothing else; the mobile one his default
    ken = tenant.user("ken.thompson@contoso.example")
    assert ken is not None
    ken.default_method = "sms"
    used(sandbox, "donald.knuth@contoso.example", 400)  # an office phone only; voice is disabled
    await sandbox.container.inventory_service().run()
    service = sandbox.container.cleanup_service()
    plan = await service.plan(policy())
    planned = by_user(plan.items)
    assert planned["ada.lovelace@contoso.example"] == {"mobilePhone"}
    assert "katherine.johnson@contoso.example" not in planned
    # Grace keeps the most recently used phone: e-mail (unknown, and no MFA) is not enough to sign in with MFA.
    assert len(planned["grace.hopper@contoso.example"]) == 2
    held = {(i.upn, reason) for i, reason in plan.held}
    assert ("grace.hopper@contoso.example", "keeps_mfa") in held
    assert ("ken.thompson@contoso.example", "keeps_mfa") in held and len(planned["ken.thompson@contoso.example"]) == 1
    # Donald's office phone satisfies no MFA here (voice is off), and it is his only method: the last one stays.
    assert ("donald.knuth@contoso.example", "last_method") in held
    assert "donald.knuth@contoso.example" not in planned
    unknown = plan.to_dict()["unknown"]
    assert unknown["count"] == len(unknown["items"]) >= 1
    assert {"grace.hopper@contoso.example"} <= {i["upn"] for i in unknown["items"] if i["method_type"] == "email"}
    assert all(i.last_used for i in plan.items)
    assert plan.to_dict()["held"] and (await service.show(plan.plan_id)).to_dict() == plan.to_dict()
    # Ada signs in with her phone after the plan: apply re-reads her and leaves it.
    used(sandbox, "ada.lovelace@contoso.example", 0)
    result = await service.apply(plan.plan_id, by="operator@contoso.example")
    reasons = {(s["upn"], s["reason"]) for s in result["skipped"]}
    assert ("ada.lovelace@contoso.example", "used_since_plan") in reasons
    ada = tenant.user("ada.lovelace@contoso.example")
    assert ada is not None and any(m.type == "phone" for m in ada.methods)
    grace = tenant.user("grace.hopper@contoso.example")
    assert grace is not None and [m.type for m in grace.methods].count("phone") == 1
    assert [(m.type, m.phone_type) for m in ken.methods] == [("phone", "mobile")]
    assert not result["failed"]


@pytest.mark.parametrize("sandbox_env", [env()])
async def test_allow_last_removes_the_last_method_and_without_it_apply_keeps_one(sandbox: Sandbox) -> None:
    used(sandbox, "ken.thompson@contoso.example", 300)  # the alternate number goes first, the default last
    ken = sandbox.graph.tenant.user("ken.thompson@contoso.example")
    assert ken is not None
    ken.default_method = "sms"
    await sandbox.container.inventory_service().run()
    service = sandbox.container.cleanup_service()
    plan = await service.plan(load_policy("max_removals_per_run: 100\nrules:\n  - id: all-phones\n    kind: unused\n"
                                          "    remove: [mobilePhone, alternateMobilePhone]\n    days: 180\n"
                                          "    allow_last: true\n"))
    assert by_user(plan.items)["ken.thompson@contoso.example"] == {"mobilePhone", "alternateMobilePhone"}
    assert not [h for h in plan.held if h[0].upn == "ken.thompson@contoso.example"]
    result = await service.apply(plan.plan_id, by="operator@contoso.example")
    assert not ken.methods and not result["failed"]


@pytest.mark.parametrize("sandbox_env", [env()])
async def test_a_method_the_user_added_after_the_plan_does_not_let_apply_remove_the_last(sandbox: Sandbox) -> None:
    """The guard is judged again on what the user has at apply: a plan made when another method existed does not
    take the last one once that method is gone."""
    sandbox.graph.tenant.method_configs["Sms"] = {"state": "enabled",
                                                  "includeTargets": [{"targetType": "group", "id": "all_users"}]}
    used(sandbox, "ada.lovelace@contoso.example", 200)
    await sandbox.container.inventory_service().run()
    service = sandbox.container.cleanup_service()
    plan = await service.plan(policy())
    assert by_user(plan.items)["ada.lovelace@contoso.example"] == {"mobilePhone"}
    ada = sandbox.graph.tenant.user("ada.lovelace@contoso.example")
    assert ada is not None
    ada.methods = [m for m in ada.methods if m.type == "phone"]  # her Authenticator went since the plan
    result = await service.apply(plan.plan_id, by="operator@contoso.example")
    assert ("ada.lovelace@contoso.example", "keeps_mfa") in {(s["upn"], s["reason"]) for s in result["skipped"]}
    assert [m.type for m in ada.methods] == ["phone"]


@pytest.mark.parametrize("sandbox_env", [env()])
async def test_unused_rules_refuse_to_plan_from_an_empty_inventory(sandbox: Sandbox) -> None:
    with pytest.raises(PolicyError, match="inventory is empty"):
        await sandbox.container.cleanup_service().plan(policy())


def test_the_rule_is_validated() -> None:
    with pytest.raises(PolicyError, match="days"):
        load_policy("max_removals_per_run: 1\nrules:\n  - id: u\n    kind: unused\n    remove: [email]\n    days: 0\n")
    with pytest.raises(PolicyError, match="password"):
        load_policy("max_removals_per_run: 1\nrules:\n  - id: u\n    kind: unused\n    remove: [password]\n"
                    "    days: 9\n")


def test_the_shipped_unused_example_is_valid() -> None:
    from pathlib import Path

    shipped = load_policy((Path(__file__).resolve().parents[2] / "integrations" / "cleanup" /
                           "policy.unused.example.yaml").read_text())
    assert [(r.kind, r.days, r.allow_last) for r in shipped.rules] == [("unused", 180, False)]  # type: ignore[union-attr]
