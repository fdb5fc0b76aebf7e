"""Throughput under throttling: queued resets through the real queue worker against a sandbox throttled per
documented bucket (learn.microsoft.com/graph/throttling-limits), with mfaops's own budget on. Every bucket's
window is shortened by one factor alike (``--time-factor``; at 5 reports requests per 10 s, 500 resets would
otherwise take hours), so the figure that matters is the ratio to the ceiling the buckets allow for the same
work, not the seconds. The buckets start empty, so it is the steady state, not a first burst.
"""

from __future__ import annotations

import asyncio
import json
import time
from pathlib import Path
from typing import Any

from bench.common import emit, non_negative, parser, positive, sandbox
from sandbox.graph.throttle import DEFAULT_LIMITS, identity_units
from sandbox.system import DEMO_TENANT
from sandbox.tickets import submit
from shared.graph.budget import request_costs
from shared.jobs.model import JobState

ROOT = Path(__file__).resolve().parent.parent
# One reset of a user with three methods (mobile phone, Authenticator (default), FIDO2), as mfaops sends it.
RESET_REQUESTS = [
    ("GET", "/users/u?$select=id,userPrincipalName,displayName,accountEnabled,userType"),
    ("GET", "/users/u/transitiveMemberOf"), ("GET", "/users/u/authentication/methods"),
    ("GET", "/beta/users/u/authentication/signInPreferences"),
    ("DELETE", "/users/u/authentication/fido2Methods/f"), ("DELETE", "/users/u/authentication/phoneMethods/p"),
    ("DELETE", "/users/u/authentication/microsoftAuthenticatorMethods/a"),
    ("POST", "/users/u/revokeSignInSessions"), ("POST", "/users/u/authentication/temporaryAccessPassMethods"),
]


def per_reset() -> dict[str, float]:
    out: dict[str, float] = {}
    for method, url in RESET_REQUESTS:
        for name, cost in request_costs(method, url).items():
            out[name] = out.get(name, 0.0) + cost
    return out


def ceiling_per_minute(users: int, factor: float) -> tuple[float, str]:
    """What the documented buckets allow for this work, per minute of compressed time, and the binding one."""
    limits = {**{k: (v["capacity"], v["window_s"]) for k, v in DEFAULT_LIMITS.items()},
              "identity": (identity_units(users), 10.0)}
    rates = {name: limits[name][0] / limits[name][1] / cost for name, cost in per_reset().items()}
    binding = min(rates, key=lambda n: rates[n])
    return 60 * factor * rates[binding], binding


def tenant(resets: int) -> dict[str, Any]:
    data: dict[str, Any] = json.loads(DEMO_TENANT.read_text())
    records = []
    for i in range(resets):
        upn = f"load{i:05d}@contoso.example"
        data["users"].append({"userPrincipalName": upn, "defaultMethod": "push", "methods": [
            {"type": "phone", "phoneType": "mobile", "phoneNumber": f"+1 555{i:07d}"},
            {"type": "microsoftAuthenticator", "displayName": "Phone"},
            {"type": "fido2", "displayName": "Key"}]})
        records.append({"table": "sc_req_item", "sys_id": f"{i:032x}", "number": f"RITM{i + 1:07d}", "state": "1",
                        "approval": "approved", "active": True, "requested_for": upn})
    data["servicenow"] = {"records": records}
    return data


async def measure(resets: int, latency_ms: float, concurrency: int, factor: float) -> dict[str, Any]:
    data = tenant(resets)
    users = len(data["users"])
    scale = 1 / factor
    identity = f"{identity_units(users):g}/10"
    environ = {"RESETS_PER_HOUR_LIMIT": str(resets + 10), "QUEUE_MAX_DELIVERIES": "5", "RESET_COOLDOWN_MINUTES": "0",
               "GRAPH_BUDGET_ENABLED": "true", "GRAPH_BUDGET_TIME_SCALE": str(scale),
               "GRAPH_BUDGET_IDENTITY": identity}
    async with sandbox(data, latency_ms=latency_ms, environ=environ, throttle=True) as box:
        throttle = box.graph.throttle
        throttle.configure({}, time_scale=scale)
        job_ids = []
        for i in range(resets):
            response = await submit(box.webhook_secret, {
                "table": "sc_req_item", "sys_id": f"{i:032x}", "number": f"RITM{i + 1:07d}", "action": "reset_mfa",
                "user": f"load{i:05d}@contoso.example"})
            assert response.status_code == 202, response.get_body()
            job_ids.append(json.loads(response.get_body())["job_id"])
        # Empty from now on, on both sides: no tokens saved up while queueing.
        for bucket in throttle.buckets.values():
            bucket.tokens, bucket.stamp = 0.0, time.monotonic()
        box.container.graph_budget().drain()
        throttle.throttled, throttle.by_bucket = 0, {}
        box.graph.calls.clear()
        deliver, dead_letter = box.handlers()
        started = time.perf_counter()
        await box.queue.drain(deliver, dead_letter, concurrency=concurrency)
        elapsed = time.perf_counter() - started
        store = box.container.job_store()
        states = [(await store.get(j)).state for j in job_ids]
        inner = sum(1 for c in box.graph.calls if c.get("batch"))
        outer = sum(1 for c in box.graph.calls if not c.get("batch"))
    completed = sum(s is JobState.SUCCEEDED for s in states)
    per_minute = completed / elapsed * 60
    ceiling, binding = ceiling_per_minute(users, factor)
    return {"resets": resets, "completed": completed, "failed": sum(s is JobState.FAILED for s in states),
            "lost": resets - sum(s.is_final for s in states), "per_minute": round(per_minute, 1),
            "ceiling_per_minute": round(ceiling, 1), "ratio": round(per_minute / ceiling, 3),
            "binding_bucket": binding, "requests_per_reset": per_reset(), "time_factor": factor,
            "http_requests": outer, "inner_requests": inner,
            "throttled_responses": throttle.throttled, "throttled_by_bucket": throttle.by_bucket,
            "elapsed_s": round(elapsed, 1), "latency_ms": latency_ms, "concurrency": concurrency}


def host_concurrency() -> int:
    host = json.loads((ROOT / "host.json").read_text())
    return int(host["extensions"]["serviceBus"]["maxConcurrentSessions"])


def main(argv: list[str] | None = None) -> int:
    p = parser(__doc__ or "")
    p.add_argument("--resets", type=positive, default=500)
    p.add_argument("--latency-ms", type=non_negative, default=100.0)
    p.add_argument("--concurrency", type=positive, default=host_concurrency(),
                   help="sessions worked at once (default: host.json maxConcurrentSessions)")
    p.add_argument("--time-factor", type=positive, default=100,
                   help="every bucket window is this many times shorter (the same for all)")
    args = p.parse_args(argv)
    result = asyncio.run(measure(args.resets, args.latency_ms, args.concurrency, float(args.time_factor)))
    rows = [[result[k] for k in ("resets", "completed", "failed", "lost", "per_minute", "ceiling_per_minute",
                                 "ratio", "binding_bucket", "time_factor", "throttled_responses", "elapsed_s")]]
    emit(result, args.json, rows, ["resets", "completed", "failed", "lost", "per minute", "ceiling per minute",
                                   "ratio", "binding bucket", "time factor", "429s", "seconds"])
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
