"""The benchmarks start and report the figures they promise (small runs; `make bench` runs them in full)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parent.parent


def run(*args: str) -> dict[str, object]:
    # A benchmark counts requests: its simulator serves Graph's page sizes, not the suite's short pages.
    env = {k: v for k, v in os.environ.items() if k != "SANDBOX_MAX_PAGE"}
    result = subprocess.run([sys.executable, "-m", *args, "--json"], cwd=ROOT, capture_output=True, text=True,
                            timeout=300, env=env)
    assert result.returncode == 0, result.stderr[-2000:]
    return dict(json.loads(result.stdout.strip().splitlines()[-1]))


def test_reset_bench_counts_round_trips_for_mfaops_and_the_baseline() -> None:
    out = run("bench.reset", "--runs", "1", "--methods", "6", "--latency-ms", "20")
    [case] = out["cases"]  # type: ignore[misc]
    assert case["methods"] == 6 and case["roundtrips"] == 2 and case["http_requests"] == 3  # proof passed
    assert case["gate_roundtrips"] == 2  # the read, then the manager's mail
    assert case["baseline_roundtrips"] == 9


def test_throughput_bench_completes_every_reset() -> None:
    out = run("bench.throughput", "--resets", "4", "--latency-ms", "0")
    assert out["resets"] == out["completed"] == 4 and out["failed"] == 0 and out["lost"] == 0


@pytest.mark.timeout(300)
def test_coldstart_bench_measures_import_and_package() -> None:
    out = run("bench.coldstart", "--runs", "1", "--pairs", "1")
    assert float(out["import_s"]) > 0 and float(out["rss_mb"]) > 0  # type: ignore[arg-type]
    assert float(out["bare_msgraph_s"]) > 0 and float(out["ratio_to_bare_msgraph"]) > 0  # type: ignore[arg-type]
    assert "msgraph-sdk" in out["largest_dependencies_mb"]  # type: ignore[operator]


def test_bulk_bench_resets_every_user_once_against_the_buckets() -> None:
    out = run("bench.bulk", "--users", "12", "--latency-ms", "0", "--time-factor", "1000")
    assert out["users"] == out["succeeded"] == 12 and out["deleted_twice"] == 0 and out["failed"] == {}
    assert out["binding_bucket"] == "reports" and out["ratio"] > 0


def test_timers_bench_runs_the_sweep_and_a_plan_on_a_generated_tenant() -> None:
    out = run("bench.timers", "--users", "300", "--latency-ms", "0", "--time-factor", "1000")
    sweep, plan = out["cases"]  # type: ignore[misc]
    assert sweep["case"] == "tap_sweep" and sweep["candidates"] == 3 and sweep["failed"] == 0
    assert plan["case"] == "cleanup_plan" and plan["items"] == 6


def test_classify_bench_reports_rate_and_memory_of_the_cli() -> None:
    out = run("bench.classify", "--events", "2000")
    small, large = out["cases"]  # type: ignore[misc]
    assert small["events"] == 200 and large["events"] == 2000
    assert large["lines_out"] > 0 and large["events_per_s"] > 0 and large["peak_rss_mb"] > 0


def test_chaos_bench_restarts_azurite_and_reports_zeros() -> None:
    out = run("bench.chaos", "--inputs", "140", "--tickets", "8")
    assert out["inputs"] == 140 and out["azurite_restarts"] == 1 and out["fault_rate"] == 0.2
    for count in ("http_5xx", "tracebacks", "hangs", "unsigned_jobs", "jobs_lost", "duplicate_deletes",
                  "guardrail_violations", "secrets_found", "alerts_lost", "watermark_skips", "tickets_untold"):
        assert out[count] == 0, (count, out["examples"])
    assert out["uncovered_graph_calls"] == [] and out["unused_permissions"] == []
    gate: dict[str, Any] = dict(out["verification_attacks"])  # type: ignore[call-overload]  # proof before reset
    assert gate["let_through"] == 0 and gate["http_5xx"] == 0 and gate["methods_removed_unverified"] == 0
    assert sum(gate["attempts"].values()) == sum(gate["refused"].values()) + 1  # the race's one winner
    public: dict[str, Any] = dict(out["public_attacks"])  # type: ignore[call-overload]  # Verified ID's doors
    assert public["let_through"] == 0 and public["http_5xx"] == 0 and public["methods_removed_unverified"] == 0


def test_shared_budget_bench_keeps_two_instances_inside_one_bucket() -> None:
    # Each budget at 4 of the bucket's 5, so event-loop jitter on a loaded machine cannot draw a 429 when shared.
    out = run("bench.shared_budget", "--instances", "2", "--requests", "6", "--time-factor", "20", "--budget", "4/10")
    unshared, shared = out["cases"]  # type: ignore[misc]
    assert (unshared["shared"], shared["shared"]) == (False, True)
    assert unshared["throttled"] >= 3  # two budgets of 4: a burst of 8 into a bucket of 5
    assert shared["throttled"] == 0 and shared["requests"] == 12 and shared["storage_round_trips"] > 0


def test_lanes_bench_runs_idle_lanes_and_one_line_side_by_side() -> None:
    out = run("bench.lanes", "--resets", "2", "--time-factor", "50")
    idle, lanes, line = out["cases"]  # type: ignore[misc]
    assert [idle["case"], lanes["case"], line["case"]] == ["idle", "lanes", "one line"]
    assert idle["background_reports"] == 0 and lanes["background_reports"] > 0 and line["background_reports"] > 0
    assert lanes["throttled"] == 0 and all(c["median_wait_s"] > 0 for c in (idle, lanes, line))
    # Not a timing claim: the control makes the reset queue behind a backlog, which lanes never do.
    assert line["median_wait_s"] > lanes["median_wait_s"]


def test_inventory_bench_counts_a_steady_day_beside_a_naive_pass() -> None:
    out = run("bench.inventory", "--users", "1000", "--days", "35", "--steady-days", "30")
    assert out["users"] == 1000 and out["naive_requests_per_day"] == 1010
    assert 0 < out["steady_requests_per_day"] < out["naive_requests_per_day"]  # type: ignore[operator]
    assert out["steady_reads_per_day"] >= 1000 * 0.01  # type: ignore[operator]  # at least the day's changes
