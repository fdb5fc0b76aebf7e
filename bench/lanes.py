"""Resets first (issue 27, section 1): does a reset wait longer for the reports bucket (5 requests per 10 s) while
the rolling inventory and the TAP sweep spend it in the background? One reset arrives every 60 s while a 50k-user
inventory (users' methods from beta, in `$batch`es cut to what the background share holds) and a TAP sweep (each
user's TAP methods) run without pause; every window is compressed by one factor, so a run of an hour's resets
takes a minute. Each case runs the same resets:

- `idle`: nothing else runs (the reset's wait on an idle tenant: its own requests beyond the bucket's burst);
- `lanes`: the budget as shipped (the interactive lane first, background work at most GRAPH_BACKGROUND_SHARE);
- `one line`: the control, every request in one first-come line and no share (the budget before the lanes).

The requests go through the shipped budget and transport (shared/graph/budget.py) to a Graph stand-in judged by
the simulator's own, independent model of the documented buckets (sandbox/graph/throttle.py), so a budget that
let too much through shows as 429s. A reset is costed as the reset sends it: its methods and sign-in preferences
read together, then one chain of three deletes, the session revocation and the TAP (reports: 6 requests). The
stand-in answers at once: what is measured is the wait for the buckets, not Graph's latency.

Figures: each reset's wait (in Graph's seconds) for every case, median and p95, and their ratio to idle (targets
median <= 1.2x, p95 <= 2x); the background's reports requests beside what the resets left of the bucket within the
share, min(share x bucket, bucket - resets' requests) over the run (target >= 0.9), and the 429s.
"""

from __future__ import annotations

import asyncio
import json
import statistics
import time
from typing import Any
from urllib.parse import urlsplit

import httpx

from bench.common import emit, parser, positive
from sandbox.graph.throttle import Throttle
from shared.graph.budget import BudgetTransport, GraphBudget
from shared.graph.lanes import BACKGROUND, INTERACTIVE, lane

LIMITS = {"identity": (3500.0, 10.0), "writes": (3000.0, 150.0), "reports": (5.0, 10.0), "protection": (1.0, 1.0)}
GRAPH = "https://graph.microsoft.com"
INTERVAL_S = 60.0
INVENTORY_USERS = 50_000


def _stand_in(throttle: Throttle, sent: dict[str, int]) -> httpx.MockTransport:
    def judge(method: str, url: str) -> int:
        parts = urlsplit(url if url.startswith("http") else f"{GRAPH}/v1.0{url}")
        path = parts.path.split("/v1.0", 1)[-1].split("/beta", 1)[-1]
        allowed, _ = throttle.check(path, method)
        sent["429"] += 0 if allowed else 1
        return 200 if allowed else 429

    def answer(request: httpx.Request) -> httpx.Response:
        if request.url.path.endswith("/$batch"):
            inner = json.loads(request.content)["requests"]
            return httpx.Response(200, json={"responses": [
                {"id": r["id"], "status": judge(r["method"], r["url"]), "body": {}} for r in inner]})
        return httpx.Response(judge(request.method, str(request.url)), json={})

    return httpx.MockTransport(answer)


async def _batch(client: httpx.AsyncClient, version: str, requests: list[tuple[str, str]]) -> None:
    if len(requests) == 1:
        method, url = requests[0]
        await client.request(method, f"{GRAPH}/{version}{url}")
        return
    await client.post(f"{GRAPH}/{version}/$batch", json={"requests": [
        {"id": str(i), "method": m, "url": u} for i, (m, u) in enumerate(requests)]})


async def _reset(client: httpx.AsyncClient, budget: GraphBudget, n: int) -> None:
    user = f"reset{n}@contoso.example"
    await _batch(client, "beta", [("GET", f"/users/{user}/authentication/methods"),
                                  ("GET", f"/users/{user}/authentication/signInPreferences")])
    chain = [("DELETE", f"/users/{user}/authentication/phoneMethods/{i}") for i in range(3)]
    chain += [("POST", f"/users/{user}/revokeSignInSessions"),
              ("POST", f"/users/{user}/authentication/temporaryAccessPassMethods")]
    while chain:  # the chain in batches no bigger than the tightest bucket holds, as the adapter sends it
        size = budget.fits(chain)
        await _batch(client, "v1.0", chain[:size])
        chain = chain[size:]


async def _case(name: str, resets: int, scale: float) -> dict[str, Any]:
    share = 1.0 if name == "one line" else 0.6
    budget = GraphBudget(LIMITS, time_scale=scale, background_share=share)
    throttle = Throttle(time_scale=scale)
    sent = {"429": 0}
    client = httpx.AsyncClient(transport=BudgetTransport(_stand_in(throttle, sent), budget))
    reset_lane = BACKGROUND if name == "one line" else INTERACTIVE  # one line: everybody in the same queue
    background_reports = 0

    async def inventory() -> None:
        nonlocal background_reports
        with lane(BACKGROUND if name == "lanes" else reset_lane):
            for user in range(INVENTORY_USERS):
                reads = [("GET", f"/users/inv{user + i}@contoso.example/authentication/methods") for i in range(20)]
                size = budget.fits(reads)
                await _batch(client, "beta", reads[:size])
                background_reports += size

    async def sweep() -> None:
        nonlocal background_reports
        with lane(BACKGROUND if name == "lanes" else reset_lane):
            for user in range(INVENTORY_USERS):
                await _batch(client, "v1.0", [("GET", f"/users/tap{user}@contoso.example/authentication/"
                                                      "temporaryAccessPassMethods")])
                background_reports += 1

    workers = [] if name == "idle" else [asyncio.create_task(inventory()), asyncio.create_task(sweep())]
    waits: list[float] = []
    started = time.monotonic()
    with lane(reset_lane if name != "idle" else INTERACTIVE):
        for n in range(resets):
            await asyncio.sleep(max(0.0, started + (n + 0.5) * INTERVAL_S * scale - time.monotonic()))
            arrived = time.monotonic()
            await _reset(client, budget, n)
            waits.append((time.monotonic() - arrived) / scale)
    await asyncio.sleep(max(0.0, started + resets * INTERVAL_S * scale - time.monotonic()))
    run_s = (time.monotonic() - started) / scale
    for task in workers:
        task.cancel()
    await asyncio.gather(*workers, return_exceptions=True)
    await client.aclose()
    capacity, window = LIMITS["reports"]
    resets_used = 6 * resets  # the reset's reports requests (the revocation is costed in identity/writes)
    left = min(0.6 * capacity / window * run_s, capacity / window * run_s - resets_used)
    waits.sort()
    return {"case": name, "resets": resets, "median_wait_s": round(statistics.median(waits), 2),
            "p95_wait_s": round(waits[max(0, round(0.95 * len(waits)) - 1)], 2),
            "background_reports": background_reports if workers else 0,
            "left_for_background": round(left, 1) if workers else 0, "run_s": round(run_s, 1),
            "throttled": sent["429"]}


async def _run(resets: int, factor: float) -> list[dict[str, Any]]:
    return [await _case(name, resets, 1 / factor) for name in ("idle", "lanes", "one line")]


def main(argv: list[str] | None = None) -> int:
    p = parser(__doc__ or "")
    p.add_argument("--resets", type=positive, default=12, help="resets, one every 60 s of Graph's time")
    p.add_argument("--time-factor", type=positive, default=25, help="every window this many times shorter")
    args = p.parse_args(argv)
    cases = asyncio.run(_run(args.resets, float(args.time_factor)))
    idle = cases[0]
    for case in cases:
        case["median_ratio"] = (round(case["median_wait_s"] / idle["median_wait_s"], 2)
                                if idle["median_wait_s"] else None)
        case["p95_ratio"] = round(case["p95_wait_s"] / idle["p95_wait_s"], 2) if idle["p95_wait_s"] else None
        case["background_ratio"] = (round(case["background_reports"] / case["left_for_background"], 2)
                                    if case["left_for_background"] else None)
    result = {"time_factor": args.time_factor, "bucket": "reports 5 per 10 s", "background_share": 0.6,
              "targets": {"median_ratio": 1.2, "p95_ratio": 2.0, "background_ratio": 0.9}, "cases": cases}
    rows = [[c["case"], c["resets"], c["median_wait_s"], c["median_ratio"], c["p95_wait_s"], c["p95_ratio"],
             c["background_reports"], c["left_for_background"], c["background_ratio"], c["throttled"]] for c in cases]
    emit(result, args.json, rows, ["case", "resets", "median s", "x idle", "p95 s", "x idle", "background",
                                   "left", "ratio", "429s"])
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
