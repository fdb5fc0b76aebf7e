"""What the rolling inventory costs a day on a 50,000-user tenant (issue 27, section 2), beside a naive full pass.

A generated tenant: every user has one to four methods; each day 1 % of users change their methods (a method added
or removed, which changes the registration report's `methodsRegistered`), and most users sign in with their default
method (its `lastUsedDateTime` moves), while one method in five is of a kind Graph gives no `lastUsedDateTime`. The
shipped `InventoryService` runs as its timer does, every 10 minutes with INVENTORY_BATCH_USERS a run and a new pass
at most every INVENTORY_PASS_MINUTES, for `--days` simulated days; the clock is the service's injected one.

The Graph requests counted are the ones the service asks for: the report's pages (100 users a page, as the
simulator serves it) and one beta read of a user's methods per user. Graph and Table Storage are stood in for in
memory here: at 50,000 users and 60 days the simulator and Azurite would make a run of hours, and neither changes
what is counted; the service, its scheduling and its change detection are the shipped code (the same code runs on
the simulator and Azurite in tests/reset/test_inventory.py).

Figures: requests a day in steady state (the last `--steady-days`), split into report pages and user reads, beside
a naive pass (every user and the whole report, once a day), and what the background share of the reports bucket
(GRAPH_BACKGROUND_SHARE x 5 per 10 s) allows a day.
"""

from __future__ import annotations

import asyncio
import dataclasses
import random
from datetime import UTC, datetime, timedelta
from typing import Any

from bench.common import emit, parser, positive
from shared.graph.port import Page
from shared.inventory.service import InventoryService
from shared.inventory.store import Cursor, Due, InventoryStore, UserRow
from shared.settings import Settings

PAGE = 100
KINDS = [("microsoftAuthenticator", None, "microsoftAuthenticatorPush"), ("phone", "mobile", "mobilePhone"),
         ("fido2", None, "passKeyDeviceBound"), ("softwareOath", None, "softwareOneTimePasscode"),
         ("email", None, "email"), ("windowsHelloForBusiness", None, "windowsHelloForBusiness")]


class Tenant:
    def __init__(self, users: int, seed: int, now: datetime) -> None:
        self.rng = random.Random(seed)
        self.now = now
        self.users: dict[str, list[dict[str, Any]]] = {}
        self.upn: dict[str, str] = {}
        self.serial = 0
        for n in range(users):
            uid = f"{n:08d}-0000-4000-8000-000000000000"
            self.upn[uid] = f"user{n}@contoso.example"
            self.users[uid] = [self._method() for _ in range(self.rng.randint(1, 4))]

    def _method(self) -> dict[str, Any]:
        kind, phone, registered = self.rng.choice(KINDS)
        self.serial += 1
        reports_use = self.rng.random() >= 0.2  # one in five: Graph gives no lastUsedDateTime
        used = self.now - timedelta(days=self.rng.uniform(0, 400)) if reports_use else None
        out = {"@odata.type": f"#microsoft.graph.{kind}AuthenticationMethod", "id": f"m{self.serial}",
               "createdDateTime": "2025-01-01T00:00:00Z", "_registered": registered, "_reports": reports_use,
               "lastUsedDateTime": used.strftime("%Y-%m-%dT%H:%M:%SZ") if used else None}
        if phone:
            out["phoneType"] = phone
        return out

    def day(self, change_share: float, use_share: float) -> None:
        ids = list(self.users)
        for uid in self.rng.sample(ids, int(len(ids) * change_share)):
            methods = self.users[uid]
            if len(methods) > 1 and self.rng.random() < 0.5:
                methods.pop(self.rng.randrange(len(methods)))
            else:
                methods.append(self._method())
        stamp = self.now.strftime("%Y-%m-%dT%H:%M:%SZ")
        for uid in self.rng.sample(ids, int(len(ids) * use_share)):
            first = self.users[uid][0]
            if first["_reports"]:
                first["lastUsedDateTime"] = stamp

    def registered(self, uid: str) -> list[str]:
        return sorted({m["_registered"] for m in self.users[uid]})


class StandInGraph:
    """The two calls the inventory makes, answered from the generated tenant, counted."""

    def __init__(self, tenant: Tenant) -> None:
        self.tenant = tenant
        self._ids: list[str] = []
        self.pages = 0
        self.reads = 0

    async def registration_details(self, *, odata_filter: str | None = None, next_link: str | None = None) -> Page:
        self.pages += 1
        if next_link is None:  # a new read of the report: its users as they are now
            self._ids = list(self.tenant.users)
        ids = self._ids
        start = int(next_link or 0)
        rows = [{"id": uid, "userPrincipalName": self.tenant.upn[uid], "methodsRegistered": self.tenant.registered(uid),
                 "userPreferredMethodForSecondaryAuthentication": "push"} for uid in ids[start:start + PAGE]]
        return Page(rows, str(start + PAGE) if start + PAGE < len(ids) else None)

    async def get_many(self, urls: dict[str, str], version: str = "v1.0") -> dict[str, tuple[int, Any]]:
        self.reads += len(urls)
        out: dict[str, tuple[int, Any]] = {}
        for key, url in urls.items():
            uid = url.split("/")[2]
            methods = self.tenant.users.get(uid)
            out[key] = (404, None) if methods is None else (200, {"value": [
                {k: v for k, v in m.items() if not k.startswith("_")} for m in methods]})
        return out


class MemoryStore(InventoryStore):
    """InventoryStore's methods over dictionaries (see the module's docstring for why)."""

    def __init__(self) -> None:
        self.rows: dict[str, UserRow] = {}
        self._cursor = Cursor()
        self._due: list[Due] = []
        self._pages: dict[int, list[Due]] = {}
        self.counts: dict[str, int] = {}

    async def put(self, row: UserRow) -> None:
        self.rows[row.user_id] = row

    async def get(self, user_id: str) -> UserRow | None:
        return self.rows.get(user_id)

    async def all(self) -> list[UserRow]:
        return list(self.rows.values())

    async def delete(self, user_id: str) -> None:
        self.rows.pop(user_id, None)

    async def cursor(self) -> Cursor:
        return dataclasses.replace(self._cursor)

    async def save_cursor(self, cursor: Cursor) -> None:
        self._cursor = cursor

    async def save_due(self, due: list[Due]) -> None:
        self._due = list(due)

    async def due(self) -> list[Due]:
        return self._due

    async def clear_due(self) -> None:
        self._due = []

    async def save_report_page(self, number: int, rows: list[Due]) -> None:
        self._pages[number] = list(rows)

    async def report_pages(self) -> list[Due]:
        return [d for n in sorted(self._pages) for d in self._pages[n]]

    async def clear_report_pages(self) -> None:
        self._pages = {}

    async def add_requests(self, day: str, lane: str, count: int) -> None:
        self.counts[day] = self.counts.get(day, 0) + count


async def _simulate(users: int, days: int, steady: int, change: float, seed: int) -> dict[str, Any]:
    clock = datetime(2026, 1, 1, tzinfo=UTC)
    tenant = Tenant(users, seed, clock)
    graph = StandInGraph(tenant)
    settings = Settings()
    service = InventoryService(settings=settings, graph=graph, store=MemoryStore(),  # type: ignore[arg-type]
                               now=lambda: clock, thresholds=[180])
    per_day: list[tuple[int, int]] = []
    filled_after: float | None = None
    for _ in range(days):
        pages, reads = graph.pages, graph.reads
        tenant.now = clock
        tenant.day(change, 0.7)
        for _ in range(24 * 6):  # the timer, every 10 minutes
            result = await service.run(max_users=settings.inventory_batch_users)  # no deadline: requests counted
            if filled_after is None and result.pass_complete and result.read:
                filled_after = (clock - datetime(2026, 1, 1, tzinfo=UTC)).total_seconds() / 86400
            clock += timedelta(minutes=10)
        per_day.append((graph.pages - pages, graph.reads - reads))
    last = per_day[-steady:]
    day_pages = sum(p for p, _ in last) / len(last)
    day_reads = sum(r for _, r in last) / len(last)
    report_pages = -(-users // PAGE)
    share_per_day = 0.6 * 5 / 10 * 86400
    return {"users": users, "days": days, "steady_days": steady, "change_per_day": change,
            "first_pass_days": round(filled_after, 2) if filled_after is not None else None,
            "steady_pages_per_day": round(day_pages, 1), "steady_reads_per_day": round(day_reads, 1),
            "steady_requests_per_day": round(day_pages + day_reads, 1),
            "naive_requests_per_day": users + report_pages,
            "ratio_to_naive": round((day_pages + day_reads) / (users + report_pages), 4),
            "background_share_per_day": int(share_per_day),
            "share_used": round((day_pages + day_reads) / share_per_day, 3),
            "naive_pass_days_at_share": round((users + report_pages) / share_per_day, 2)}


def main(argv: list[str] | None = None) -> int:
    p = parser(__doc__ or "")
    p.add_argument("--users", type=positive, default=50_000)
    p.add_argument("--days", type=positive, default=60, help="simulated days (the first pass fills, then steady)")
    p.add_argument("--steady-days", type=positive, default=30, help="the last days averaged")
    p.add_argument("--seed", type=int, default=27)
    args = p.parse_args(argv)
    result = asyncio.run(_simulate(args.users, args.days, min(args.steady_days, args.days), 0.01, args.seed))
    rows = [[result["users"], result["first_pass_days"], result["steady_pages_per_day"],
             result["steady_reads_per_day"], result["steady_requests_per_day"], result["naive_requests_per_day"],
             result["ratio_to_naive"], result["share_used"]]]
    emit(result, args.json, rows, ["users", "first pass d", "pages/d", "reads/d", "requests/d", "naive/d", "ratio",
                                   "of share"])
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
