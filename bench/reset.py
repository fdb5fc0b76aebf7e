"""Reset round trips and wall time: mfaops's reset against what the popular scripts do.

Baseline (Reset-MgUserMFA-style scripts): list the methods, delete them one by one in list order, keep any
that Graph refuses (the default method, a mobile phone with an alternate) and retry those at the end. It gets
the same msgraph-sdk client, the same connection reuse and the same latency. mfaops runs the real service
through the real queue worker: ticket check, guardrails, removal, and (in the full reset) session revocation
and a TAP.
"""

from __future__ import annotations

import asyncio
import copy
import json
import statistics
import time
from typing import Any

from bench.common import counts, emit, non_negative, outer_calls, parser, positive, sandbox, sequential_round_trips
from sandbox.graph.throttle import DEFAULT_LIMITS
from sandbox.system import DEMO_TENANT
from sandbox.tickets import submit
from shared.errors import GraphError
from shared.graph.sdk_gateway import SdkGraphGateway

METHODS = [
    {"type": "phone", "phoneType": "mobile", "phoneNumber": "+1 5550100"},
    {"type": "microsoftAuthenticator", "displayName": "iPhone"},
    {"type": "phone", "phoneType": "alternateMobile", "phoneNumber": "+1 5550101"},
    {"type": "email", "emailAddress": "u@home.example"},
    {"type": "fido2", "displayName": "YubiKey"},
    {"type": "phone", "phoneType": "office", "phoneNumber": "+1 5550102"},
    {"type": "softwareOath"},
    {"type": "windowsHelloForBusiness", "displayName": "PC"},
    {"type": "fido2", "displayName": "Titan"},
    {"type": "microsoftAuthenticator", "displayName": "iPad"},
]


def sys_id_for(n: int, run: int, who: str) -> str:
    return f"{n:02d}{run + 1:02d}{'0' if who == 'mfaops' else '1'}".ljust(32, "e")


# --hardware: every user holds a hardware OATH token and an external method in place of their last two methods,
# so the reset's delete chain goes to beta (issue 24: two sequential round trips still, not three).
SPECIAL = [{"type": "hardwareOath", "displayName": "OTP c200", "serialNumber": "H0"},
           {"type": "externalAuthenticationMethod", "displayName": "Duo", "configurationId": "c0"}]


def methods_for(n: int, hardware: bool) -> list[dict[str, Any]]:
    return copy.deepcopy(METHODS[:n - 2] + SPECIAL if hardware and n >= 2 else METHODS[:n])


# Every bench user's manager: the reset measured is one whose proof (the manager's approval) has passed.
MANAGER = "grace.hopper@contoso.example"


async def proven(box: Any, deliver: Any, upn: str) -> int:
    """The gate's run (the read, the verification, the manager's mail), then the manager's approval: the job is
    back on the queue, proven. The gate's sequential round trips."""
    box.graph.calls.clear()
    await box.queue.drain(deliver)
    gate = sequential_round_trips(box)
    [job] = [j for j in await box.container.job_store().list_for_user(upn) if j.state.value == "awaiting_verification"]
    manager = box.graph.tenant.user(MANAGER)
    await box.container.verification_service().decide_manager(job.verification.id, by=manager.upn,
                                                               by_id=manager.id, approve=True)
    return gate


def tenant(counts: list[int], runs: int, hardware: bool = False) -> dict[str, Any]:
    data: dict[str, Any] = json.loads(DEMO_TENANT.read_text())
    records = []
    for n in counts:
        for run in range(-1, runs):  # run -1 warms up (imports, connections, tables) and is not counted
            for who in ("mfaops", "baseline"):
                upn = f"bench.{who}.{n}.{run}@contoso.example"
                # The default (push) is the second method listed, as the Authenticator usually is.
                data["users"].append({"userPrincipalName": upn, "methods": methods_for(n, hardware),
                                      "defaultMethod": "push", "manager": MANAGER})
                records.append({"table": "sc_req_item", "sys_id": sys_id_for(n, run, who),
                                "number": f"RITM{n:03d}{run + 1:03d}",
                                "state": "1", "approval": "approved", "active": True, "requested_for": upn})
    for n in counts:  # one more user per count for the run against the modelled buckets
        upn = f"bench.bucketed.{n}@contoso.example"
        data["users"].append({"userPrincipalName": upn, "methods": methods_for(n, hardware), "defaultMethod": "push",
                              "manager": MANAGER})
        records.append({"table": "sc_req_item", "sys_id": f"{n:02d}".ljust(32, "b"), "number": f"RITM9{n:03d}000",
                        "state": "1", "approval": "approved", "active": True, "requested_for": upn})
    data["servicenow"] = {"records": records}
    return data


def bucket_minimum_s(n: int, factor: float) -> float:
    """The least time Graph's buckets allow one reset of ``n`` methods, from full buckets: the reports bucket
    (5 requests per 10 s; a user's methods count there) holds the read's 2, the n deletes and the TAP."""
    capacity, window = DEFAULT_LIMITS["reports"]["capacity"], DEFAULT_LIMITS["reports"]["window_s"]
    requests = 2 + n + 1
    return max(0.0, requests - capacity) * window / capacity / factor


async def baseline(gateway: SdkGraphGateway, upn: str) -> None:
    user_id = upn
    methods = await gateway.list_methods(user_id)
    refused = []
    for method in methods:
        try:
            await gateway.delete_method(user_id, method)
        except GraphError:
            refused.append(method)
    for method in refused:  # the final retry of what Graph refused; what it refuses again stays (as a script's)
        try:
            await gateway.delete_method(user_id, method)
        except GraphError:
            continue


async def measure(counts: list[int], runs: int, latency_ms: float, factor: float, hardware: bool = False
                  ) -> dict[str, Any]:
    cases = []
    environ = {"GRAPH_BUDGET_ENABLED": "true", "GRAPH_BUDGET_TIME_SCALE": str(1 / factor),
               "RESET_COOLDOWN_MINUTES": "0", "RESETS_PER_HOUR_LIMIT": "10000",
               "VERIFY_POLICY": ""}  # the gate on: what is measured is the reset after its proof passed
    async with sandbox(tenant(counts, runs, hardware), latency_ms=latency_ms, throttle=True, environ=environ) as box:
        gateway = box.container.graph()
        assert isinstance(gateway, SdkGraphGateway)
        # A quiet tenant first: no buckets on either side, so the round trips are the reset's own.
        budget = box.container.graph_budget()
        box.graph.throttle.enabled = budget.enabled = False
        deliver, _ = box.handlers()
        for n in counts:
            figures: dict[str, list[float]] = {k: [] for k in ("rt", "http", "wall", "b_rt", "b_wall", "gate")}
            for run in range(-1, runs):
                upn = f"bench.mfaops.{n}.{run}@contoso.example"
                accepted = await submit(box.webhook_secret, {
                    "table": "sc_req_item", "sys_id": sys_id_for(n, run, "mfaops"),
                    "number": f"RITM{n:03d}{run + 1:03d}", "action": "reset_mfa", "user": upn})
                assert accepted.status_code == 202, accepted.get_body()
                figures["gate"].append(await proven(box, deliver, upn))
                box.graph.calls.clear()
                started = time.perf_counter()
                await box.queue.drain(deliver)
                figures["wall"].append(time.perf_counter() - started)
                figures["rt"].append(sequential_round_trips(box))
                figures["http"].append(outer_calls(box))
                left = box.graph.tenant.user(upn)
                assert left is not None and [m.type for m in left.methods] == ["temporaryAccessPass"], "reset"

                upn = f"bench.baseline.{n}.{run}@contoso.example"
                box.graph.calls.clear()
                started = time.perf_counter()
                await baseline(gateway, upn)
                figures["b_wall"].append(time.perf_counter() - started)
                figures["b_rt"].append(outer_calls(box))
                # A v1.0 script never sees a hardware token: it is left behind (mfaops removes it through beta).
                left_behind = [m.type for m in box.graph.tenant.user(upn).methods]  # type: ignore[union-attr]
                assert not left_behind or "hardwareOath" in left_behind, "baseline"
                if run < 0:
                    for series in figures.values():
                        series.pop()
            cases.append({
                "methods": n, "roundtrips": int(statistics.median(figures["rt"])),
                "http_requests": int(statistics.median(figures["http"])),
                "gate_roundtrips": int(statistics.median(figures["gate"])),
                "wall_s": round(statistics.median(figures["wall"]), 3),
                "baseline_roundtrips": int(statistics.median(figures["b_rt"])),
                "baseline_wall_s": round(statistics.median(figures["b_wall"]), 3),
            })
        # Then the documented buckets on both sides, every window `factor` times shorter: full at the start (a
        # quiet tenant), so the floor is what the reports bucket refills.
        box.graph.throttle.enabled = budget.enabled = True
        box.graph.throttle.configure({}, time_scale=1 / factor)
        for n in counts:
            box.graph.throttle.configure({}, time_scale=1 / factor)
            for bucket in budget._buckets.values():
                bucket.tokens = bucket.capacity
            accepted = await submit(box.webhook_secret, {
                "table": "sc_req_item", "sys_id": f"{n:02d}".ljust(32, "b"), "number": f"RITM9{n:03d}000",
                "action": "reset_mfa", "user": f"bench.bucketed.{n}@contoso.example"})
            assert accepted.status_code == 202, accepted.get_body()
            await proven(box, deliver, f"bench.bucketed.{n}@contoso.example")
            box.graph.throttle.configure({}, time_scale=1 / factor)
            for bucket in budget._buckets.values():
                bucket.tokens = bucket.capacity
            box.graph.throttle.throttled = 0
            started = time.perf_counter()
            await box.queue.drain(deliver)
            wall = time.perf_counter() - started
            left = box.graph.tenant.user(f"bench.bucketed.{n}@contoso.example")
            assert left is not None and [m.type for m in left.methods] == ["temporaryAccessPass"], "bucketed reset"
            floor = bucket_minimum_s(n, factor)
            case = next(c for c in cases if c["methods"] == n)
            case.update(bucketed_wall_s=round(wall, 3), bucket_minimum_s=round(floor, 3),
                        bucketed_429s=box.graph.throttle.throttled)
    for case in cases:
        case["speedup"] = round(case["baseline_wall_s"] / case["wall_s"], 2)
    return {"latency_ms": latency_ms, "runs": runs, "time_factor": factor, "hardware_token": hardware,
            "cases": cases}


def main(argv: list[str] | None = None) -> int:
    p = parser(__doc__ or "")
    p.add_argument("--latency-ms", type=non_negative, default=100.0)
    p.add_argument("--runs", type=positive, default=5)
    p.add_argument("--methods", type=counts, default=[2, 6, 10], help="method counts, comma-separated (1-10)")
    p.add_argument("--time-factor", type=positive, default=10,
                   help="for the bucketed run: every bucket window this many times shorter")
    p.add_argument("--hardware", action="store_true",
                   help="each user holds a hardware OATH token and an external method (the chain goes to beta)")
    args = p.parse_args(argv)
    if max(args.methods) > len(METHODS):
        p.error(f"--methods: at most {len(METHODS)}")
    result = asyncio.run(measure(args.methods, args.runs, args.latency_ms, float(args.time_factor), args.hardware))
    rows = [[c["methods"], c["gate_roundtrips"], c["roundtrips"], c["wall_s"], c["baseline_roundtrips"],
             c["baseline_wall_s"], c["speedup"], c["bucketed_wall_s"], c["bucket_minimum_s"], c["bucketed_429s"]]
            for c in result["cases"]]
    emit(result, args.json, rows, ["methods", "gate round trips", "mfaops round trips (proven)", "mfaops s",
                                   "baseline round trips", "baseline s", "baseline/mfaops", "bucketed s",
                                   "bucket minimum s", "429s"])
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
