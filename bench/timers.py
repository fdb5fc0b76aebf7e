"""The timers at tenant scale: the TAP sweep and a cleanup plan on generated tenants of 1k, 10k and 50k users
with 1 % candidates, 100 ms per Graph request, every documented bucket on (windows shortened by
``--time-factor`` for all alike) and mfaops's budget on. Reports HTTP requests (a $batch counts once), inner
requests per bucket, wall time beside the least time the buckets allow for those requests, and peak memory.
"""

from __future__ import annotations

import asyncio
import random
import resource
import time
from collections import Counter
from typing import Any

from bench.common import counts, emit, non_negative, parser, positive, sandbox
from sandbox.graph.generate import generate
from sandbox.graph.throttle import DEFAULT_LIMITS, identity_units
from shared.cleanup.policy import load_policy
from shared.graph.budget import request_costs

POLICY = """max_removals_per_run: 100000
rules:
  - id: old-devices
    kind: keep_newest
    remove: [windowsHelloForBusiness]
    keep: 1
"""


def tenant(users: int, seed: int) -> dict[str, Any]:
    """A generated tenant where 1 % hold a TAP (half of them spent) and 1 % have three Windows Hello keys."""
    data = generate(users, seed=seed)
    rng = random.Random(seed)
    for index, user in enumerate(data["users"]):
        user["accountEnabled"] = True  # disabled accounts are candidates too: keep them to the 1 %
        user.pop("roles", None)
        if index % 100 == 7:
            user["methods"].append({"type": "temporaryAccessPass", "lifetimeInMinutes": 480, "isUsableOnce": True,
                                    "used": rng.random() < 0.5})
        if index % 100 == 42:
            user["methods"] += [{"type": "windowsHelloForBusiness", "displayName": f"PC {k}",
                                 "createdDateTime": f"2026-0{k + 1}-01T00:00:00Z"} for k in range(3)]
    data["throttle"] = {"enabled": True}
    return data


def minimum_s(spent: dict[str, float], users: int, factor: float, share: float = 1.0) -> float:
    """The least time the buckets allow for what was spent, from empty buckets: cost over rate, the slowest. The
    timers travel in the background lane, which may spend ``share`` (GRAPH_BACKGROUND_SHARE) of each bucket."""
    limits = {**{k: (v["capacity"], v["window_s"]) for k, v in DEFAULT_LIMITS.items()},
              "identity": (identity_units(users), 10.0)}
    return max((cost / (share * limits[n][0] / limits[n][1]) for n, cost in spent.items() if n in limits),
               default=0.0) / factor


async def one(users: int, latency_ms: float, factor: float, which: str) -> dict[str, Any]:
    data = tenant(users, seed=users)
    scale = 1 / factor
    environ = {"GRAPH_BUDGET_ENABLED": "true", "GRAPH_BUDGET_TIME_SCALE": str(scale),
               "GRAPH_BUDGET_IDENTITY": f"{identity_units(users):g}/10", "BREAK_GLASS_GROUP": ""}
    async with sandbox(data, latency_ms=latency_ms, environ=environ, throttle=True) as box:
        box.graph.throttle.configure({}, time_scale=scale)
        for bucket in box.graph.throttle.buckets.values():
            bucket.tokens, bucket.stamp = 0.0, time.monotonic()
        box.container.graph_budget().drain()
        box.graph.calls.clear()
        started = time.perf_counter()
        if which == "tap_sweep":
            result = await box.container.tap_sweeper().sweep(apply=True)
            done = {"candidates": result.candidates, "deleted": len(result.deleted), "failed": len(result.failed)}
        else:
            plan = await box.container.cleanup_service().plan(load_policy(POLICY))
            done = {"candidates": len({i.user for i in plan.items}), "items": len(plan.items)}
        wall = time.perf_counter() - started
        calls = list(box.graph.calls)
        share = box.container.settings.graph_background_share
    spent: Counter[str] = Counter()
    for c in calls:
        if c.get("batch") or not c["path"].endswith("/$batch"):
            for name, cost in request_costs(c["method"], c["path"]).items():
                spent[name] += int(cost)
    floor = minimum_s(dict(spent), users, factor, share)
    return {"case": which, "users": users, **done, "http_requests": sum(1 for c in calls if not c.get("batch")),
            "inner_by_bucket": dict(spent), "wall_s": round(wall, 2), "bucket_minimum_s": round(floor, 2),
            "background_share": share,
            "ratio_to_minimum": round(wall / floor, 2) if floor else None,
            "throttled_429": box.graph.throttle.throttled,
            "peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)}


def main(argv: list[str] | None = None) -> int:
    p = parser(__doc__ or "")
    p.add_argument("--users", type=counts, default=[1000, 10000, 50000], help="tenant sizes, comma-separated")
    p.add_argument("--latency-ms", type=non_negative, default=100.0)
    p.add_argument("--time-factor", type=positive, default=100)
    args = p.parse_args(argv)
    cases = []
    for n in args.users:
        for which in ("tap_sweep", "cleanup_plan"):
            cases.append(asyncio.run(one(n, args.latency_ms, float(args.time_factor), which)))
    rows = [[c["case"], c["users"], c["candidates"], c["http_requests"], c["inner_by_bucket"].get("reports", 0),
             c["wall_s"], c["bucket_minimum_s"], c["ratio_to_minimum"], c["throttled_429"], c["peak_rss_mb"]]
            for c in cases]
    emit({"time_factor": args.time_factor, "latency_ms": args.latency_ms, "cases": cases}, args.json, rows,
         ["case", "users", "candidates", "HTTP", "reports inner", "wall s", "bucket min s", "ratio", "429s",
          "peak MB"])
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
