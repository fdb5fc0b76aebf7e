"""Bulk reset (`mfaops reset --from-file`): 500 users of a generated tenant through the same service the CLI
drives, at 100 ms per Graph request, against every documented bucket (time-compressed by ``--time-factor``
for all of them alike) with mfaops's budget on. Reports users per minute beside the ceiling the buckets allow
for the work actually done (each bucket's rate over what a user cost in it), requests per user and 429s.
"""

from __future__ import annotations

import asyncio
import time
from collections import Counter
from typing import Any

from bench.common import emit, non_negative, parser, positive, sandbox
from sandbox.graph.generate import generate
from sandbox.graph.throttle import DEFAULT_LIMITS, identity_units
from shared.graph.budget import request_costs
from shared.reset.bulk import BulkRow, run_bulk


async def measure(users: int, latency_ms: float, concurrency: int, factor: float) -> dict[str, Any]:
    tenant = generate(users + users // 10 + 10, seed=11)  # guests, disabled and admins are left out of the CSV
    eligible = [u for u in tenant["users"] if u.get("userType") != "Guest" and u.get("accountEnabled", True)
                and not u.get("roles")][:users]
    scale = 1 / factor
    identity = identity_units(len(tenant["users"]))
    environ = {"GRAPH_BUDGET_ENABLED": "true", "GRAPH_BUDGET_TIME_SCALE": str(scale),
               "GRAPH_BUDGET_IDENTITY": f"{identity:g}/10", "RESETS_PER_HOUR_LIMIT": str(users + 10),
               "RESET_COOLDOWN_MINUTES": "0"}
    async with sandbox(tenant, latency_ms=latency_ms, environ=environ, throttle=True) as box:
        throttle = box.graph.throttle
        throttle.configure({}, time_scale=scale)
        for bucket in throttle.buckets.values():  # steady state: both sides start empty
            bucket.tokens, bucket.stamp = 0.0, time.monotonic()
        box.container.graph_budget().drain()
        rows = [BulkRow(i + 2, u["userPrincipalName"]) for i, u in enumerate(eligible)]
        started = time.perf_counter()
        summary = await run_bulk(box.container.reset_service(), rows, by="bench@contoso.example", reason="bench",
                                 batch_id="bench", concurrency=concurrency)
        elapsed = time.perf_counter() - started
        calls = list(box.graph.calls)
        deletes = Counter(c["path"] for c in calls if c["method"] == "DELETE" and c["status"] == 204)
    done = summary.succeeded
    spent: dict[str, float] = {}
    for c in calls:
        if c.get("batch") or not c["path"].endswith("/$batch"):
            for name, cost in request_costs(c["method"], c["path"]).items():
                spent[name] = spent.get(name, 0.0) + cost
    limits = {**{k: (v["capacity"], v["window_s"]) for k, v in DEFAULT_LIMITS.items()},
              "identity": (identity, 10.0)}
    per_user = {name: cost / max(1, done) for name, cost in spent.items()}
    rates = {name: limits[name][0] / limits[name][1] / per_user[name] for name in per_user if per_user[name]}
    binding = min(rates, key=lambda n: rates[n])
    ceiling = 60 * factor * rates[binding]
    per_minute = done / elapsed * 60
    return {"users": len(rows), "succeeded": done, "refused": dict(summary.refused), "failed": dict(summary.failed),
            "per_minute": round(per_minute, 1), "ceiling_per_minute": round(ceiling, 1),
            "ratio": round(per_minute / ceiling, 3), "binding_bucket": binding,
            "http_requests_per_user": round(sum(1 for c in calls if not c.get("batch")) / max(1, done), 2),
            "inner_requests_per_user": round(sum(1 for c in calls if c.get("batch")) / max(1, done), 2),
            "bucket_cost_per_user": {k: round(v, 2) for k, v in per_user.items()},
            "throttled_429": throttle.throttled, "deleted_twice": sum(1 for n in deletes.values() if n > 1),
            "time_factor": factor, "elapsed_s": round(elapsed, 1), "latency_ms": latency_ms,
            "concurrency": concurrency}


def main(argv: list[str] | None = None) -> int:
    p = parser(__doc__ or "")
    p.add_argument("--users", type=positive, default=500)
    p.add_argument("--latency-ms", type=non_negative, default=100.0)
    p.add_argument("--concurrency", type=positive, default=8)
    p.add_argument("--time-factor", type=positive, default=100)
    args = p.parse_args(argv)
    result = asyncio.run(measure(args.users, args.latency_ms, args.concurrency, float(args.time_factor)))
    rows = [[result[k] for k in ("users", "succeeded", "per_minute", "ceiling_per_minute", "ratio",
                                 "binding_bucket", "http_requests_per_user", "inner_requests_per_user",
                                 "throttled_429", "deleted_twice", "elapsed_s")]]
    emit(result, args.json, rows, ["users", "succeeded", "per minute", "ceiling per minute", "ratio", "binding",
                                   "HTTP/user", "inner/user", "429s", "deleted twice", "seconds"])
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
