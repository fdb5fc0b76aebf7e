"""Throughput under throttling: queued resets through the real queue worker against a sandbox throttled to the
documented identity-and-access limits (tenant over 500 users: 8,000 resource units per 10 s; writes 3,000 per
150 s). The buckets start empty, so the figure is the steady state the limits allow, not a first burst.
"""

from __future__ import annotations

import asyncio
import json
import time
from pathlib import Path
from typing import Any

from bench.common import emit, non_negative, parser, positive, sandbox
from sandbox.graph.throttle import DEFAULT_LIMITS
from sandbox.system import DEMO_TENANT
from sandbox.tickets import submit
from shared.jobs.model import JobState

ROOT = Path(__file__).resolve().parent.parent
LIMITS: dict[str, dict[str, float]] = {"identity": {"capacity": 8000, "window_s": 10},
                                       "writes": dict(DEFAULT_LIMITS["writes"])}
# Per reset of a user with three methods: reads (one $batch of 4 GETs, 1 unit each) and writes (3 deletes,
# revoke, TAP: 3 units and one write each).
READS, WRITES = 4, 5


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


def allowed_per_minute() -> float:
    writes = LIMITS["writes"]["capacity"] / LIMITS["writes"]["window_s"] / WRITES
    units = LIMITS["identity"]["capacity"] / LIMITS["identity"]["window_s"] / (READS + 3 * WRITES)
    return float(60 * min(writes, units))


async def measure(resets: int, latency_ms: float, concurrency: int) -> dict[str, Any]:
    environ = {"RESETS_PER_HOUR_LIMIT": str(resets + 10), "QUEUE_MAX_DELIVERIES": "5"}
    async with sandbox(tenant(resets), latency_ms=latency_ms, environ=environ, throttle=True) as box:
        throttle = box.graph.throttle
        throttle.configure(LIMITS)
        job_ids = []
        for i in range(resets):
            response = await submit(box.webhook_secret, {
                "table": "sc_req_item", "sys_id": f"{i:032x}", "number": f"RITM{i + 1:07d}", "action": "reset_mfa",
                "user": f"load{i:05d}@contoso.example"})
            assert response.status_code == 202, response.get_body()
            job_ids.append(json.loads(response.get_body())["job_id"])
        for bucket in throttle.buckets.values():  # empty from now on: no tokens saved up while queueing
            bucket.tokens, bucket.stamp = 0.0, time.monotonic()
        throttle.throttled = 0
        deliver, dead_letter = box.handlers()
        started = time.perf_counter()
        await box.queue.drain(deliver, dead_letter, concurrency=concurrency)
        elapsed = time.perf_counter() - started
        store = box.container.job_store()
        states = [(await store.get(j)).state for j in job_ids]
    completed = sum(s is JobState.SUCCEEDED for s in states)
    per_minute = completed / elapsed * 60
    allowed = allowed_per_minute()
    return {"resets": resets, "completed": completed, "failed": sum(s is JobState.FAILED for s in states),
            "lost": resets - sum(s.is_final for s in states), "per_minute": round(per_minute, 1),
            "allowed_per_minute": round(allowed, 1), "ratio": round(per_minute / allowed, 3),
            "throttled_responses": throttle.throttled, "elapsed_s": round(elapsed, 1), "latency_ms": latency_ms,
            "concurrency": concurrency}


def host_concurrency() -> int:
    host = json.loads((ROOT / "host.json").read_text())
    return int(host["extensions"]["serviceBus"]["maxConcurrentSessions"])


def main(argv: list[str] | None = None) -> int:
    p = parser(__doc__ or "")
    p.add_argument("--resets", type=positive, default=500)
    p.add_argument("--latency-ms", type=non_negative, default=100.0)
    p.add_argument("--concurrency", type=positive, default=host_concurrency(),
                   help="sessions worked at once (default: host.json maxConcurrentSessions)")
    args = p.parse_args(argv)
    result = asyncio.run(measure(args.resets, args.latency_ms, args.concurrency))
    rows = [[result[k] for k in ("resets", "completed", "failed", "lost", "per_minute", "allowed_per_minute",
                                 "ratio", "throttled_responses", "elapsed_s")]]
    emit(result, args.json, rows, ["resets", "completed", "failed", "lost", "per minute", "allowed per minute",
                                   "ratio", "429s", "seconds"])
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
