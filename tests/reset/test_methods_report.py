"""The weak-method picture (issue 27, section 4): each figure on a tenant arranged for the test, computed here from
the tenant itself, the change since the previous report, and the CSV's escaping."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

import httpx
import pytest

from sandbox.graph.views import methods_registered
from sandbox.system import Sandbox
from shared.graph.method_names import PHISHING_RESISTANT
from shared.inventory.figures import WEAK

NOW = datetime.now(UTC)


def env() -> dict[str, str]:
    suffix = uuid.uuid4().hex[:10]
    return {"INVENTORY_TABLE": f"inventory{suffix}", "JOBS_TABLE": f"jobs{suffix}",
            "JOBS_BY_USER_TABLE": f"jobsbyuser{suffix}"}


@pytest.mark.parametrize("sandbox_env", [env()])
async def test_each_figure_and_the_trend(sandbox: Sandbox) -> None:
    tenant = sandbox.graph.tenant
    # Arranged: a privileged user with phone and Authenticator only; methods last used in each band.
    admin = next(u for u in tenant.users.values() if u.roles and u.account_enabled and not u.upn.startswith("break"))
    admin.methods = [m for m in admin.methods if m.type in ("phone", "microsoftAuthenticator")]
    ages = {"ada.lovelace@contoso.example": 10, "grace.hopper@contoso.example": 100,
            "ken.thompson@contoso.example": 400}
    for upn, days in ages.items():
        user = tenant.user(upn)
        assert user is not None
        for method in user.methods:
            method.last_used = NOW - timedelta(days=days)
    await sandbox.container.inventory_service().run()
    report = sandbox.container.methods_report()
    first = await report.build()
    listed = [u for u in (tenant.users[i] for i in tenant.order) if u.account_enabled]
    registered = {u.upn: set(methods_registered(u)) for u in listed}
    assert first.users == len(listed)
    assert first.weak_only == sorted(upn for upn, names in registered.items() if names and names <= WEAK)
    assert {"sspr.only@contoso.example", "ken.thompson@contoso.example"} <= set(first.weak_only)
    assert first.no_method == sorted(upn for upn, names in registered.items() if not names)
    expected = sorted(u.upn for u in listed if u.roles and not registered[u.upn] & PHISHING_RESISTANT)
    assert first.privileged_without_phishing_resistant == expected and admin.upn in expected
    for name in {n for names in registered.values() for n in names}:
        assert first.by_method_type[name] == sum(1 for names in registered.values() if name in names)
    stored = [m for u in listed for m in u.methods if m.type != "password"]
    assert sum(first.unused_by_age.values()) == len(stored)
    grace = tenant.user("grace.hopper@contoso.example")
    ken = tenant.user("ken.thompson@contoso.example")
    assert grace is not None and ken is not None
    assert first.unused_by_age["90-179"] >= len(grace.methods) and first.unused_by_age["365+"] >= len(ken.methods)
    assert first.unused_by_age["unknown"] == sum(1 for m in stored if m.last_used is None)
    assert first.trend == {} and first.previous_at is None
    # Ken registers a passkey: he leaves the weak-only list, and the trend says so.
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=sandbox.graph_app), base_url="http://g") as c:
        answer = await c.post("/_sandbox/users/ken.thompson@contoso.example/register",
                              json={"type": "fido2", "displayName": "Key"})
        assert answer.status_code == 201
    second = await report.build()
    assert second.trend["weak_only"] == -1 and second.previous_at == first.generated_at.isoformat()
    assert "ken.thompson@contoso.example" not in second.weak_only
    assert any(k.startswith("type:") and v == 1 for k, v in second.trend.items())
    third = await report.build()
    assert third.trend == {}  # measured against the second now


@pytest.mark.parametrize("sandbox_env", [env()])
async def test_hostile_names_stay_text_in_the_csv_rows_and_the_html(sandbox: Sandbox) -> None:
    from shared.escaping import csv_cell
    from shared.posture.report import render_methods

    user = sandbox.graph.tenant.user("sspr.only@contoso.example")
    assert user is not None
    sandbox.graph.tenant.by_upn.pop(user.upn.lower())
    user.upn = "=HYPERLINK(\"http://x\")<b>@contoso.example"
    sandbox.graph.tenant.by_upn[user.upn.lower()] = user
    figures = await sandbox.container.methods_report().build()
    assert user.upn in figures.weak_only
    cells = [csv_cell(v) for row in figures.rows() for v in row]
    assert "'" + user.upn in cells and user.upn not in cells
    page = render_methods(figures.to_dict())
    assert "<b>@contoso" not in page and "&lt;b&gt;@contoso" in page
