"""Scaled out, do N instances send N times Graph's budget? N workers, each with its own budget, Graph client and
Table Storage client, read users' authentication methods (the reports bucket: 5 per 10 s per app and tenant) as
fast as their budget lets them, against the simulator's documented buckets (time-compressed by one factor), with
the budget shared through Table Storage (`GRAPH_BUDGET_SHARED`) and without, side by side. A 429 is honoured the
way the SDK's retry handler does (wait its Retry-After, send again), so every case finishes; the figures are the
429s Graph answered and the wall time beside the least the bucket allows for the same requests.

The workers are asyncio tasks in one process, since the simulator is in-process; each has its own clients and
budget and shares nothing with the others but the table, as separate instances would.
"""

from __future__ import annotations

import argparse
import asyncio
import time
import uuid
from pathlib import Path
from typing import Any

import httpx
from azure.data.tables.aio import TableServiceClient

from bench.common import counts, emit, parser, positive
from sandbox.azurite import start_azurite
from sandbox.graph import GraphSimulator, build_app, load_tenant
from sandbox.graph.throttle import Throttle
from shared.graph.budget import BudgetTransport, GraphBudget
from shared.graph.shared_budget import TableSharedBuckets

ROOT = Path(__file__).resolve().parent.parent
USERS = ["ada.lovelace", "grace.hopper", "max.methods", "alan.turing"]
REPORTS = (5.0, 10.0)  # the documented bucket


async def _case(connection: str, instances: int, per_instance: int, shared: bool, factor: float,
                budget_reports: tuple[float, float]) -> dict[str, Any]:
    scale = 1 / factor
    sim = GraphSimulator(load_tenant(ROOT / "sandbox/tenants/demo.json"), throttle=Throttle(time_scale=scale))
    table = f"bench{uuid.uuid4().hex[:10]}"
    limits = {"reports": budget_reports, "identity": (3500.0, 10.0), "writes": (3000.0, 150.0)}
    storage_trips = 0

    async def worker(index: int) -> None:
        nonlocal storage_trips
        async with TableServiceClient.from_connection_string(connection) as service:
            buckets = TableSharedBuckets(service, table) if shared else None
            budget = GraphBudget(limits, time_scale=scale, shared=buckets)
            transport = BudgetTransport(httpx.ASGITransport(app=build_app(sim)), budget)
            async with httpx.AsyncClient(transport=transport, base_url="http://graph.sandbox") as client:
                for i in range(per_instance):
                    user = USERS[(i + index) % len(USERS)]
                    while True:
                        answer = await client.get(f"/v1.0/users/{user}@contoso.example/authentication/methods")
                        if answer.status_code != 429:
                            break
                        await asyncio.sleep(float(answer.headers.get("retry-after", "0.1")))
            storage_trips += buckets.round_trips if buckets else 0

    started = time.monotonic()
    await asyncio.gather(*(worker(i) for i in range(instances)))
    elapsed = time.monotonic() - started
    total = instances * per_instance
    capacity, window = REPORTS
    least = max(0.0, total - capacity) * window * scale / capacity  # the bucket starts full
    return {"instances": instances, "shared": shared, "requests": total, "throttled": sim.throttle.throttled,
            "sent": total + sim.throttle.throttled, "elapsed_s": round(elapsed, 2), "least_s": round(least, 2),
            "ratio_to_least": round(elapsed / least, 3) if least else None, "storage_round_trips": storage_trips}


async def _run(instances: list[int], per_instance: int, factor: float,
               budget_reports: tuple[float, float]) -> list[dict[str, Any]]:
    azurite = start_azurite()
    try:
        return [await _case(azurite.connection_string, n, per_instance, shared, factor, budget_reports)
                for n in instances for shared in (False, True)]
    finally:
        azurite.stop()


def _limit(text: str) -> tuple[float, float]:
    capacity, _, window = text.partition("/")
    try:
        limit = float(capacity), float(window)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not CAPACITY/SECONDS") from None
    if min(limit) <= 0:
        raise argparse.ArgumentTypeError(f"{text!r}: both must be above 0")
    return limit


def main(argv: list[str] | None = None) -> int:
    p = parser(__doc__ or "")
    p.add_argument("--instances", type=counts, default=[1, 2, 4], help="instance counts, comma-separated")
    p.add_argument("--requests", type=positive, default=20, help="reports-bucket requests per instance")
    p.add_argument("--time-factor", type=positive, default=10, help="every window this many times shorter")
    p.add_argument("--budget", type=_limit, default=REPORTS,
                   help="each instance's reports budget, CAPACITY/SECONDS (the documented 5/10 by default)")
    args = p.parse_args(argv)
    cases = asyncio.run(_run(args.instances, args.requests, float(args.time_factor), args.budget))
    result = {"time_factor": args.time_factor, "bucket": "reports 5 per 10 s",
              "budget": f"{args.budget[0]:g}/{args.budget[1]:g}", "cases": cases}
    rows = [[c["instances"], "yes" if c["shared"] else "no", c["requests"], c["throttled"], c["elapsed_s"],
             c["least_s"], c["ratio_to_least"], c["storage_round_trips"]] for c in cases]
    emit(result, args.json, rows, ["instances", "shared", "requests", "429s", "wall s", "least s", "ratio",
                                   "table trips"])
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
