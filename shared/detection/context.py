"""Tenant context for the rules that need it, read once per scan (never per event): Identity Protection
allows one request per second per tenant with no Retry-After, and sign-ins and audit logs share the reports
bucket of 5 requests per 10 s per app (learn.microsoft.com/graph/throttling-limits).

Context a tenant is not licensed for (sign-ins: Entra ID P1; Identity Protection: P2), or that mfaops may not
read, is recorded as unavailable with Graph's reason; the rules that need it say so and the others still run.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, TypeVar

from shared.detection.events import parse_time
from shared.errors import GraphError
from shared.graph.port import GraphGateway

log = logging.getLogger("mfaops.detection")
T = TypeVar("T")


@dataclass
class TenantContext:
    sign_ins: dict[str, list[dict[str, Any]]] = field(default_factory=dict)  # user id -> rows, newest first
    risky: dict[str, str] = field(default_factory=dict)  # user id -> riskState
    detections: dict[str, list[dict[str, Any]]] = field(default_factory=dict)  # user id -> detections
    roles: dict[str, set[str]] = field(default_factory=dict)
    watchlist: set[str] = field(default_factory=set)
    break_glass: set[str] = field(default_factory=set)
    unavailable: dict[str, str] = field(default_factory=dict)  # context name -> why
    requests: int = 0

    def risky_sign_ins(self, user_id: str, start: datetime, end: datetime) -> list[dict[str, Any]]:
        out = []
        for row in self.sign_ins.get(user_id.lower(), []):
            when = parse_time(row.get("createdDateTime"))
            level = str(row.get("riskLevelDuringSignIn") or "none").lower()
            state = str(row.get("riskState") or "none").lower()
            error = (row.get("status") or {}).get("errorCode") if isinstance(row.get("status"), dict) else None
            risky = level in {"medium", "high"} or state in {"atrisk", "confirmedcompromised"}
            # A sign-in that had to register MFA (50079 / 50072) while risky is the reprise99 pattern.
            if when and start <= when <= end and (risky or (error in (50079, 50072) and level != "none")):
                out.append(row)
        return out

    def risk_events(self, user_id: str, start: datetime, end: datetime) -> list[dict[str, Any]]:
        out = []
        for row in self.detections.get(user_id.lower(), []):
            when = parse_time(row.get("activityDateTime") or row.get("detectedDateTime"))
            if str(row.get("riskDetail", "")) == "aiConfirmedSigninSafe":
                continue  # Microsoft's own verdict: safe (the public rules drop these)
            if when and start <= when <= end:
                out.append(row)
        return out

    def known_ips(self, user_id: str, before: datetime) -> set[str]:
        ips = set()
        for row in self.sign_ins.get(user_id.lower(), []):
            when = parse_time(row.get("createdDateTime"))
            raw = row.get("status")
            status: dict[str, Any] = raw if isinstance(raw, dict) else {}
            if when and when < before and int(status.get("errorCode", 0) or 0) == 0 and row.get("ipAddress"):
                ips.add(str(row["ipAddress"]))
        return ips


async def gather(graph: GraphGateway, *, user_ids: list[str], since: datetime, baseline: timedelta,
                 watchlist_group: str, break_glass_group: str) -> TenantContext:
    ctx = TenantContext()

    async def read(name: str, call: Callable[[], Awaitable[T]], default: T) -> T:
        try:
            return await call()
        except GraphError as exc:
            ctx.unavailable[name] = f"{exc.code or exc.status}: {exc.args[0]}"
            log.warning("monitor: %s unavailable this run (%s)", name, exc.code or exc.status)
            return default

    users = sorted({u.lower() for u in user_ids if u})
    if users:
        empty: list[dict[str, Any]] = []
        rows = await read("sign_ins", lambda: graph.sign_ins(users, since=since - baseline), empty)
        for row in rows:
            ctx.sign_ins.setdefault(str(row.get("userId", "")).lower(), []).append(row)
        risky = await read("risky_users", graph.risky_users, empty)
        ctx.risky = {str(r.get("id", "")).lower(): str(r.get("riskState", "")) for r in risky}
        detections = await read("risk_detections", lambda: graph.risk_detections(since=since - baseline), empty)
        for row in detections:
            ctx.detections.setdefault(str(row.get("userId", "")).lower(), []).append(row)
        ctx.roles = await read("roles", graph.role_holders, {})
    if watchlist_group.strip():
        ctx.watchlist = await read("watchlist", lambda: graph.group_member_ids(watchlist_group.strip()), set())
    if break_glass_group.strip():
        ctx.break_glass = await read("break_glass_group", lambda: graph.group_member_ids(break_glass_group.strip()),
                                     set())
    return ctx
