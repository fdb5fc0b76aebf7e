"""Each reset setting does what the README says."""

from __future__ import annotations

import logging

import pytest

from sandbox.system import Sandbox
from tests.reset.conftest import reset


def env(**values: str) -> list[dict[str, str]]:
    suffix = "".join(k[:3] for k in values).lower() + str(abs(hash(tuple(values.items()))) % 10_000)
    return [{**values, "JOBS_TABLE": f"jobs{suffix}", "JOBS_BY_USER_TABLE": f"byuser{suffix}"}]


@pytest.mark.parametrize("sandbox_env", env(SERVICENOW_SUCCESS_STATE="3"))
async def test_the_success_state_is_set_on_the_ticket(sandbox: Sandbox) -> None:
    assert (await reset(sandbox))["state"] == "succeeded"
    assert sandbox.servicenow.records[("sc_req_item", "a1" * 16)]["state"] == "3"


async def test_without_a_success_state_the_ticket_state_is_left_alone(sandbox: Sandbox) -> None:
    assert (await reset(sandbox))["state"] == "succeeded"
    assert sandbox.servicenow.records[("sc_req_item", "a1" * 16)]["state"] == "1"


PRIVILEGED_ROLE_ADMIN = "e8611ab8-c189-46e8-94e1-60213ab1f814"


@pytest.mark.parametrize("sandbox_env", env(PRIVILEGED_ROLES=f"Global Administrator, {PRIVILEGED_ROLE_ADMIN}"))
async def test_privileged_roles_can_be_narrowed(sandbox: Sandbox) -> None:
    job = await reset(sandbox, number="RITM0010003", sys_id="c3" * 16, user="alan.turing@contoso.example")
    assert job["state"] == "succeeded"  # Privileged Authentication Administrator is not in the list


@pytest.mark.parametrize("sandbox_env", env(SERVICENOW_ACCEPTED_APPROVALS="approved,not_required"))
async def test_accepted_approvals_can_be_widened(sandbox: Sandbox) -> None:
    sandbox.servicenow.records[("sc_req_item", "a1" * 16)]["approval"] = "not_required"
    assert (await reset(sandbox))["state"] == "succeeded"


@pytest.mark.parametrize("sandbox_env", env(TAP_LIFETIME_MINUTES="120", TAP_USABLE_ONCE="false"))
async def test_tap_lifetime_and_use_follow_the_settings(sandbox: Sandbox) -> None:
    assert (await reset(sandbox))["state"] == "succeeded"
    user = sandbox.graph.tenant.user("ada.lovelace@contoso.example")
    assert user is not None
    tap = user.tap()
    assert tap is not None and tap.props["lifetimeInMinutes"] == 120 and tap.props["isUsableOnce"] is False


@pytest.mark.parametrize("sandbox_env", env(DEFAULT_REVOKE_SESSIONS="false", DEFAULT_ISSUE_TAP="false"))
async def test_defaults_apply_when_the_ticket_does_not_say(sandbox: Sandbox) -> None:
    job = await reset(sandbox)
    assert job["state"] == "succeeded" and not job["sessions_revoked"] and not job["tap_issued"]
    asked = await reset(sandbox, number="RITM0010006", sys_id="f6" * 16, user="margaret.hamilton@contoso.example",
                        revoke_sessions=True)
    assert asked["sessions_revoked"] is True and asked["tap_issued"] is False


@pytest.mark.parametrize("sandbox_env", env(ALLOW_DISABLED_RESET="true"))
async def test_disabled_users_can_be_allowed(sandbox: Sandbox) -> None:
    user = "old.employee@contoso.example"
    sandbox.servicenow.records[("sc_req_item", "a1" * 16)]["requested_for"] = user
    job = await reset(sandbox, user=user, issue_tap=False)
    assert job["state"] == "succeeded" and len(job["methods_removed"]) == 2


@pytest.mark.parametrize("sandbox_env", env(LOG_LEVEL="DEBUG"))
async def test_log_level_applies_to_mfaops_loggers(sandbox: Sandbox) -> None:
    assert logging.getLogger("mfaops").level == logging.DEBUG
    assert logging.getLogger("mfaops.reset").getEffectiveLevel() == logging.DEBUG
