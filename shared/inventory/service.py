"""The rolling inventory: every user's methods with `createdDateTime` and `lastUsedDateTime` (beta), read in
passes that resume where they stopped, and only for users whose methods can have changed.

A user is read again when the registration report's `methodsRegistered` for them differs from what the inventory
saw, when they were never read, or when a stored method could cross the unused threshold (a method last used at `u`
cannot be unused for N days before `u + N`; ``INVENTORY_RECHECK_DAYS`` is N until the cleanup's `unused` rules name
their own). Users who left the tenant leave the inventory; no row outlives ``INVENTORY_RETENTION_DAYS`` after its
read."""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from shared.errors import MfaopsError
from shared.graph.lanes import BACKGROUND, background_flow
from shared.graph.port import GraphGateway
from shared.inventory.store import Cursor, Due, InventoryStore, StoredMethod, UserRow
from shared.isotime import parse_time
from shared.jobs.model import utcnow
from shared.settings import Settings
from shared.verify.model import mask_number

if TYPE_CHECKING:
    from shared.graph.budget import GraphBudget

# Users per round of reads: one request each (the default method comes with the registration report), as one
# $batch of at most 20 (Graph's limit on a batch, learn.microsoft.com/graph/json-batching).
READ_BATCH = 20


@dataclass
class RunResult:
    read: int = 0
    due: int = 0
    left: int = 0
    expired: int = 0
    requests: int = 0
    pass_number: int = 1
    pass_complete: bool = False
    failed: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return {"read": self.read, "due": self.due, "left_inventory": self.left, "expired": self.expired,
                "requests": self.requests, "pass": self.pass_number, "pass_complete": self.pass_complete,
                "failed": self.failed}


def mask_address(address: str) -> str:
    local, _, domain = address.partition("@")
    return f"{local[:1]}***@{domain}" if domain else "***"


def _type(item: dict[str, Any]) -> str:
    return str(item.get("@odata.type", "")).rsplit(".", 1)[-1].removesuffix("AuthenticationMethod")


def _display(item: dict[str, Any]) -> str:
    if item.get("phoneNumber"):
        return f"{item.get('phoneType', 'phone')} {mask_number(str(item['phoneNumber']))}"
    if item.get("emailAddress"):
        return mask_address(str(item["emailAddress"]))
    return str(item.get("displayName") or item.get("model") or "")[:120]


@dataclass
class InventoryService:
    settings: Settings
    graph: GraphGateway
    store: InventoryStore
    now: Callable[[], datetime] = field(default=utcnow)
    budget: GraphBudget | None = None
    # The cleanup policy's `unused` rules' days (INVENTORY_RECHECK_DAYS when it has none): the thresholds a stored
    # method's last use is judged against when deciding who is due.
    thresholds: list[int] = field(default_factory=list)

    def _next_read(self, methods: list[StoredMethod], read_at: datetime) -> datetime:
        """When this user must be read again if the report shows no change: before the row would expire, and when
        a stored method could first cross one of the thresholds (a method last used at `u` cannot be unused for N
        days before `u + N`; one already past every threshold gives no earlier date)."""
        latest = read_at + timedelta(days=min(self.settings.inventory_recheck_days,
                                              max(1, self.settings.inventory_retention_days - 1)))
        used = [t for t in (parse_time(m.last_used) for m in methods) if t is not None]
        crossings = [u + timedelta(days=n) for u in used for n in self.thresholds_days()]
        return min([latest, *(c for c in crossings if c > read_at)])

    def thresholds_days(self) -> list[int]:
        return self.thresholds or [self.settings.inventory_recheck_days]

    async def _read_report(self, cursor: Cursor, result: RunResult, deadline: float) -> bool:
        """Go on reading the registration report where the pass left it, a page at a time, each page stored and
        the cursor moved after it; True once the last page is in. A next page Graph no longer serves (its link
        outlived its token) starts the read again."""
        while True:
            link = cursor.report_link or None
            try:
                page = await self.graph.registration_details(next_link=link)
            except MfaopsError:
                if link is None:
                    raise
                result.requests += 1  # sent, and refused
                await self.store.clear_report_pages()
                cursor.report_link, cursor.report_pages = "", 0
                continue
            result.requests += 1
            rows = []
            for row in page.items:
                uid = str(row.get("id") or "")
                if uid:
                    default = row.get("userPreferredMethodForSecondaryAuthentication")
                    rows.append(Due(uid, str(row.get("userPrincipalName") or ""),
                                    sorted(str(m) for m in row.get("methodsRegistered") or []),
                                    str(default) if default and default != "none" else None))
            await self.store.save_report_page(cursor.report_pages, rows)
            cursor.report_pages += 1
            cursor.report_link = page.next_link or ""
            await self.store.save_cursor(cursor)
            if not page.next_link:
                return True
            if time.monotonic() >= deadline:
                return False

    async def _begin_pass(self, cursor: Cursor, now: datetime, result: RunResult) -> None:
        """From the report the pass read: let go of who left and of rows past retention, and store who is due."""
        report = {d.user_id: d for d in await self.store.report_pages()}
        rows = {r.user_id: r for r in await self.store.all()}
        for uid, row in list(rows.items()):
            if uid not in report:
                await self.store.delete(uid)
                result.left += 1
                rows.pop(uid)
            elif now - row.read_at > timedelta(days=self.settings.inventory_retention_days):
                await self.store.delete(uid)
                result.expired += 1
                rows.pop(uid)
        due = [d for uid, d in sorted(report.items())
               if uid not in rows or rows[uid].registered != d.registered or rows[uid].default != d.default
               or (rows[uid].next_read is not None and rows[uid].next_read <= now)]  # type: ignore[operator]
        await self.store.save_due(due)
        cursor.started, cursor.after, cursor.done, cursor.total = now, "", 0, len(due)
        cursor.reading, cursor.report_link, cursor.report_pages = False, "", 0
        await self.store.save_cursor(cursor)
        await self.store.clear_report_pages()

    @background_flow
    async def run(self, *, max_users: int | None = None, new_pass: bool = False,
                  seconds: float | None = None) -> RunResult:
        """A run of the pass in progress, or the start of a new one when INVENTORY_PASS_MINUTES have gone by since
        the last began (``new_pass``: whatever the time, as `mfaops inventory run` does). A pass first reads the
        registration report, then the users it finds due. Every page and every batch moves the cursor, so a run
        stopped anywhere, or at ``seconds`` (the timer's INVENTORY_RUN_SECONDS, inside the function's timeout),
        resumes after the last one it saved."""
        now = self.now()
        deadline = time.monotonic() + seconds if seconds is not None else math.inf
        result = RunResult()
        cursor = await self.store.cursor()
        if cursor.started is None and not cursor.reading:
            interval = timedelta(minutes=self.settings.inventory_pass_minutes)
            if new_pass or cursor.last_started is None or now - cursor.last_started >= interval:
                cursor.reading, cursor.last_started, cursor.report_link, cursor.report_pages = True, now, "", 0
                await self.store.clear_report_pages()
        if cursor.reading and await self._read_report(cursor, result, deadline):
            await self._begin_pass(cursor, now, result)
        if cursor.started is not None:
            due = [d for d in await self.store.due() if d.user_id > cursor.after]
            result.due = len(due)
            todo = due[:max_users] if max_users is not None else due
            read = 0
            for start in range(0, len(todo), READ_BATCH):
                if time.monotonic() >= deadline:
                    break
                chunk = todo[start:start + READ_BATCH]
                await self._read(chunk, result)
                read += len(chunk)
                cursor.after, cursor.done = chunk[-1].user_id, cursor.done + len(chunk)
                await self.store.save_cursor(cursor)  # a crash after this batch resumes after it
            result.pass_complete = read == len(due)
            if result.pass_complete:
                cursor.pass_number, cursor.after, cursor.done, cursor.total = cursor.pass_number + 1, "", 0, 0
                cursor.started = None
                await self.store.save_cursor(cursor)
                await self.store.clear_due()
        result.pass_number = cursor.pass_number
        day = now.strftime("%Y%m%d")
        if self.budget is not None:  # every flow's requests on this worker since the last run, by lane
            for lane_name, count in self.budget.take_lane_counts().items():
                if count:
                    await self.store.add_requests(day, lane_name, count)
        else:
            await self.store.add_requests(day, BACKGROUND, result.requests)
        return result

    async def _read(self, chunk: list[Due], result: RunResult) -> None:
        urls = {d.user_id: f"/users/{d.user_id}/authentication/methods" for d in chunk}
        answers = await self.graph.get_many(urls, version="beta")
        result.requests += len(urls)
        read_at = self.now()
        for d in chunk:
            status, body = answers.get(d.user_id, (500, None))
            if status == 404:  # gone since the report: it leaves
                await self.store.delete(d.user_id)
                result.left += 1
                continue
            if status >= 300 or not isinstance(body, dict):
                result.failed.append(d.user_id)
                continue
            methods = [StoredMethod(type=_type(m), id=str(m.get("id", "")), display=_display(m),
                                    created=m.get("createdDateTime"), last_used=m.get("lastUsedDateTime"))
                       for m in body.get("value") or [] if _type(m) != "password"]
            await self.store.put(UserRow(user_id=d.user_id, upn=d.upn, methods=methods, default=d.default,
                                         read_at=read_at, registered=d.registered,
                                         next_read=self._next_read(methods, read_at)))
            result.read += 1

    async def status(self) -> dict[str, Any]:
        rows = await self.store.all()
        cursor = await self.store.cursor()
        oldest = min((r.read_at for r in rows), default=None)
        return {"users_covered": len(rows), "oldest_read": oldest.isoformat() if oldest else None,
                "pass": cursor.pass_number, "pass_progress": cursor.done, "pass_due": cursor.total,
                "pass_in_progress": cursor.started is not None or cursor.reading,
                "report_pages_read": cursor.report_pages if cursor.reading else None,
                "last_pass_started": cursor.last_started.isoformat() if cursor.last_started else None,
                "pass_started": cursor.started.isoformat() if cursor.started else None,
                "requests_today": await self.store.requests(self.now().strftime("%Y%m%d"))}

    async def show(self, user: str) -> UserRow | None:
        found = await self.store.get(user)
        if found is not None:
            return found
        wanted = user.lower()
        return next((r for r in await self.store.all() if r.upn.lower() == wanted), None)

    async def rows(self) -> list[UserRow]:
        return sorted(await self.store.all(), key=lambda r: r.upn.lower())
