"""The attack suite, short form (`python -m bench.chaos` runs the full one): hostile input at every door, then a
workload at 20 % injected faults; the zeros asserted."""

from __future__ import annotations

import logging
import uuid

import pytest

from sandbox.chaos import LogCapture, everything_written, faulted_workload, hostile_doors, least_privilege, secrets_in
from sandbox.system import Sandbox


@pytest.fixture(autouse=True)
def chaos_settings(sandbox_env: dict[str, str]) -> None:
    suffix = uuid.uuid4().hex[:10]
    sandbox_env.update({"MONITOR_TABLE": f"monitor{suffix}", "POSTURE_TABLE": f"posture{suffix}",
                        "RESETS_PER_HOUR_LIMIT": "12", "LOG_LEVEL": "DEBUG", "QUEUE_MAX_DELIVERIES": "6",
                        "GRAPH_MAX_RETRIES": "2", "GRAPH_RETRY_AFTER_CAP_S": "2", "VERIFY_POLICY": ""})


async def test_hostile_input_at_every_door_never_5xx_never_a_traceback(sandbox: Sandbox) -> None:
    summary = await hostile_doors(sandbox, 1400, seed=11)
    assert summary.inputs == 1400 and len(summary.by_door) == 5 + 1
    assert (summary.http_5xx, summary.tracebacks, summary.hangs, summary.unsigned_jobs) == (0, 0, 0, 0), \
        summary.examples


async def test_at_20_percent_faults_nothing_is_lost_twice_deleted_or_let_through(sandbox: Sandbox) -> None:
    capture = LogCapture()
    root = logging.getLogger()
    root.addHandler(capture)
    try:
        summary = await faulted_workload(sandbox, tickets=14, fault_rate=0.2, seed=5)
    finally:
        root.removeHandler(capture)
    assert sum(summary.faults.values()) > 20, summary.faults
    assert summary.jobs["succeeded"] > 0
    assert summary.jobs_lost == 0 and summary.tickets_untold == 0, summary.examples
    assert summary.duplicate_deletes == 0
    assert summary.guardrail_violations == []
    # Issue 23's shapes: many-group break-glass and privileged users, concurrent containment, hostile names.
    assert summary.many_group_users >= 5
    assert summary.containments == 3 and summary.duplicate_containments == 0, summary.examples
    assert summary.markup_injections == [], summary.markup_injections
    assert summary.alerts_lost == 0 and summary.watermark_skips == 0
    assert (summary.tracebacks, summary.http_5xx) == (0, 0), summary.examples
    written = await everything_written(sandbox)
    assert secrets_in(sandbox, [*capture.lines, *written]) == []
    assert sandbox.graph.issued_tap_values  # the scan had TAPs to look for
    least_privilege(sandbox, summary)
    assert summary.uncovered_graph_calls == [] and summary.unused_permissions == []


@pytest.mark.parametrize("sandbox_env", [{"VERIFY_POLICY": ""}])
async def test_the_gate_holds_against_every_door(sandbox: Sandbox) -> None:
    from sandbox.chaos_verify import verification_doors

    attacks = await verification_doors(sandbox, seed=3, forged=80)
    summary = attacks.to_dict()
    assert summary["let_through"] == 0 and summary["http_5xx"] == 0, summary["examples"]
    assert summary["methods_removed_unverified"] == 0
    assert set(summary["attempts"]) == {"forged_decision", "not_the_manager", "requester_is_manager", "race",
                                        "replay", "after_expiry", "callback_no_role", "callback_not_asked",
                                        "callback_hostile", "operator_tap", "weaker_bulk_policy"}
    assert summary["refused"]["not_the_manager"] == 2 and summary["refused"]["weaker_bulk_policy"] == 3


@pytest.mark.parametrize("sandbox_env", [{"VERIFY_POLICY": "", "SELF_SERVICE_RECOVERY": "true"}])
async def test_the_public_doors_hold(sandbox: Sandbox) -> None:
    from sandbox.chaos_verify import public_doors

    summary = (await public_doors(sandbox, seed=4, cases=80)).to_dict()
    assert summary["let_through"] == 0 and summary["http_5xx"] == 0, summary["examples"]
    assert summary["methods_removed_unverified"] == 0
    assert set(summary["attempts"]) == {"callback", "status", "tap", "recover"}
    assert summary["attempts"]["callback"] == 80
