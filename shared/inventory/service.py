"""The rolling inventory: every user's methods with `createdDateTime` and `lastUsedDateTime` (beta), read in
passes that resume where they stopped, and only for users whose methods can have changed.

A user is read again when the registration report's `methodsRegistered` for them differs from what the inventory
saw, when they were never read, or when a stored method could cross the unused threshold (a method last used at `u`
cannot be unused for N days before `u + N`; ``INVENTORY_RECHECK_DAYS`` is N until the cleanup's `unused` rules name
their own). Users who left the tenant leave the inventory; no row outlives ``INVENTORY_RETENTION_DAYS`` after its
read."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from shared.graph.port import GraphGateway
from shared.inventory.store import InventoryStore, StoredMethod, UserRow
from shared.isotime import parse_time
from shared.jobs.model import utcnow
from shared.settings import Settings
from shared.verify.model import mask_number

READ_BATCH = 10  # users per round of reads (two requests each: the methods and the sign-in preferences)


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

    async def _report(self) -> tuple[dict[str, tuple[str, list[str]]], int]:
        """The registration report, every page: user id -> (UPN, methodsRegistered sorted); and the pages read."""
        out: dict[str, tuple[str, list[str]]] = {}
        page = await self.graph.registration_details()
        pages = 1
        while True:
            for row in page.items:
                uid = str(row.get("id") or "")
                if uid:
                    out[uid] = (str(row.get("userPrincipalName") or ""),
                                sorted(str(m) for m in row.get("methodsRegistered") or []))
            if not page.next_link:
                return out, pages
            page = await self.graph.registration_details(next_link=page.next_link)
            pages += 1

    def _next_read(self, methods: list[StoredMethod], read_at: datetime) -> datetime:
        recheck = timedelta(days=self.settings.inventory_recheck_days)
        latest = read_at + min(recheck, timedelta(days=max(1, self.settings.inventory_retention_days - 1)))
        used = [t for t in (parse_time(m.last_used) for m in methods) if t is not None]
        return min([latest, *(u + recheck for u in used)]) if used else latest

    async def run(self, *, max_users: int | None = None) -> RunResult:
        now = self.now()
        result = RunResult()
        report, pages = await self._report()
        result.requests += pages
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
        due = sorted(uid for uid, (_, registered) in report.items()
                     if uid not in rows or rows[uid].registered != registered
                     or (rows[uid].next_read is not None and rows[uid].next_read <= now))  # type: ignore[operator]
        result.due = len(due)
        cursor = await self.store.cursor()
        if cursor.started is None:
            cursor.started = now
        ordered = [u for u in due if u > cursor.after] + [u for u in due if u <= cursor.after]
        todo = ordered[:max_users] if max_users is not None else ordered
        for start in range(0, len(todo), READ_BATCH):
            chunk = todo[start:start + READ_BATCH]
            urls = {f"{uid}|m": f"/users/{uid}/authentication/methods" for uid in chunk}
            urls.update({f"{uid}|p": f"/users/{uid}/authentication/signInPreferences" for uid in chunk})
            answers = await self.graph.get_many(urls, version="beta")
            result.requests += len(urls)
            read_at = self.now()
            for uid in chunk:
                status, body = answers.get(f"{uid}|m", (500, None))
                if status == 404:  # gone since the report: it leaves
                    await self.store.delete(uid)
                    continue
                if status >= 300 or not isinstance(body, dict):
                    result.failed.append(uid)
                    continue
                methods = [StoredMethod(type=str(m.get("@odata.type", "")).rsplit(".", 1)[-1].removesuffix(
                    "AuthenticationMethod"), id=str(m.get("id", "")), display=_display(m),
                    created=m.get("createdDateTime"), last_used=m.get("lastUsedDateTime"))
                    for m in body.get("value") or [] if not str(m.get("@odata.type", "")).endswith("password"
                                                                                                  "AuthenticationMethod")]
                p_status, prefs = answers.get(f"{uid}|p", (500, None))
                default = None
                if p_status < 300 and isinstance(prefs, dict):
                    value = prefs.get("userPreferredMethodForSecondaryAuthentication")
                    default = str(value) if value and value != "none" else None
                upn, registered = report[uid]
                await self.store.put(UserRow(user_id=uid, upn=upn, methods=methods, default=default, read_at=read_at,
                                             registered=registered, next_read=self._next_read(methods, read_at)))
                result.read += 1
            cursor.after, cursor.done = chunk[-1], cursor.done + len(chunk)
            await self.store.save_cursor(cursor)  # a crash after this batch resumes after it
        result.pass_complete = len(todo) == len(ordered)
        if result.pass_complete:
            cursor.pass_number, cursor.after, cursor.done, cursor.started = cursor.pass_number + 1, "", 0, None
            await self.store.save_cursor(cursor)
        result.pass_number = cursor.pass_number
        await self.store.add_requests(now.strftime("%Y%m%d"), "background", result.requests)
        return result

    async def status(self) -> dict[str, Any]:
        rows = await self.store.all()
        cursor = await self.store.cursor()
        oldest = min((r.read_at for r in rows), default=None)
        return {"users_covered": len(rows), "oldest_read": oldest.isoformat() if oldest else None,
                "pass": cursor.pass_number, "pass_progress": cursor.done,
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
