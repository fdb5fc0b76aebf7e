"""The weak-method picture (`mfaops report methods`, and the posture report's Methods section): who has which
methods, who has only a phone or an e-mail address, which privileged users have no phishing-resistant method (the
users a policy for ScubaGear MS.AAD.3.6 would lock out), who has none, how long stored methods have gone unused, and
how each figure moved since the previous report.

Who has what comes from the registration report (every page; it covers users the inventory has not read yet); use
comes from the inventory (`lastUsedDateTime`, null when Graph does not fill it: counted as `unknown`, never old)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from shared.graph.lanes import background_flow
from shared.graph.method_names import PHISHING_RESISTANT
from shared.graph.port import GraphGateway
from shared.inventory.store import InventoryStore
from shared.isotime import parse_time
from shared.jobs.model import utcnow
from shared.settings import Settings

WEAK = frozenset({"mobilePhone", "alternateMobilePhone", "officePhone", "email"})
# Days since last use: the lower bound of each band, and its name.
BANDS = ((365, "365+"), (180, "180-364"), (90, "90-179"), (30, "30-89"), (0, "0-29"))
COUNTS = ("users", "weak_only", "privileged_without_phishing_resistant", "no_method")


@dataclass
class MethodsFigures:
    generated_at: datetime
    users: int
    by_method_type: dict[str, int]
    weak_only: list[str]  # UPNs
    privileged_without_phishing_resistant: list[str]
    no_method: list[str]
    unused_by_age: dict[str, int]
    inventory_users: int
    trend: dict[str, int] = field(default_factory=dict)  # figure -> change since the previous report
    previous_at: str | None = None

    def counts(self) -> dict[str, int]:
        return {"users": self.users, "weak_only": len(self.weak_only),
                "privileged_without_phishing_resistant": len(self.privileged_without_phishing_resistant),
                "no_method": len(self.no_method),
                **{f"type:{k}": v for k, v in self.by_method_type.items()},
                **{f"unused:{k}": v for k, v in self.unused_by_age.items()}}

    def to_dict(self) -> dict[str, Any]:
        return {"generated_at": self.generated_at.isoformat(), "users": self.users,
                "by_method_type": self.by_method_type,
                "weak_only": {"count": len(self.weak_only), "users": self.weak_only},
                "privileged_without_phishing_resistant": {"count": len(self.privileged_without_phishing_resistant),
                                                          "users": self.privileged_without_phishing_resistant},
                "no_method": {"count": len(self.no_method), "users": self.no_method},
                "unused_by_age": self.unused_by_age, "inventory_users": self.inventory_users,
                "trend": self.trend, "previous_at": self.previous_at}

    def rows(self) -> list[tuple[str, str, str]]:
        """(figure, name, value): the counts, then one row per user a list names (the CSV)."""
        out = [("users", "", str(self.users)), ("inventory_users", "", str(self.inventory_users))]
        out += [("by_method_type", k, str(v)) for k, v in self.by_method_type.items()]
        out += [("unused_by_age", k, str(v)) for k, v in self.unused_by_age.items()]
        for name in ("weak_only", "privileged_without_phishing_resistant", "no_method"):
            users = getattr(self, name)
            out.append((name, "count", str(len(users))))
            out += [(name, "user", upn) for upn in users]
        out += [("trend", k, f"{v:+d}") for k, v in self.trend.items()]
        return out


@dataclass
class MethodsReportService:
    settings: Settings
    graph: GraphGateway
    store: InventoryStore
    now: Callable[[], datetime] = field(default=utcnow)

    @background_flow
    async def build(self, *, record: bool = True) -> MethodsFigures:
        """The figures now, with the change since the last recorded report; ``record`` keeps these as the next
        report's baseline (the posture report reads without moving it)."""
        now = self.now()
        rows = await self._registration_report()
        wanted = {r.lower() for r in self.settings.privileged_role_set}
        holders = await self.graph.role_holders()
        by_type: dict[str, int] = {}
        weak_only, unprotected, none = [], [], []
        for row in rows:
            registered = {str(m) for m in row.get("methodsRegistered") or []}
            upn = str(row.get("userPrincipalName") or row.get("id") or "")
            for name in registered:
                by_type[name] = by_type.get(name, 0) + 1
            if not registered:
                none.append(upn)
            elif registered <= WEAK:
                weak_only.append(upn)
            roles = holders.get(str(row.get("id") or "").lower(), set())
            privileged = bool(roles) and ("*" in wanted or bool({r.lower() for r in roles} & wanted))
            if privileged and not registered & PHISHING_RESISTANT:
                unprotected.append(upn)
        bands = {name: 0 for _, name in BANDS} | {"unknown": 0}
        stored = await self.store.all()
        for user in stored:
            for method in user.methods:
                used = parse_time(method.last_used)
                if used is None:
                    bands["unknown"] += 1
                    continue
                age = (now - used).days
                bands[next(name for low, name in BANDS if age >= low)] += 1
        figures = MethodsFigures(generated_at=now, users=len(rows), by_method_type=dict(sorted(by_type.items())),
                                 weak_only=sorted(weak_only), privileged_without_phishing_resistant=sorted(unprotected),
                                 no_method=sorted(none), unused_by_age=bands, inventory_users=len(stored))
        previous = await self.store.report_baseline()
        if previous is not None:
            figures.previous_at = previous[0]
            counts = figures.counts()
            figures.trend = {k: counts.get(k, 0) - previous[1].get(k, 0) for k in sorted(set(counts) | set(previous[1]))
                             if counts.get(k, 0) != previous[1].get(k, 0)}
        if record:
            await self.store.save_report_baseline(now.isoformat(), figures.counts())
        return figures

    async def _registration_report(self) -> list[dict[str, Any]]:
        page = await self.graph.registration_details()
        rows = list(page.items)
        while page.next_link:
            page = await self.graph.registration_details(next_link=page.next_link)
            rows += page.items
        return rows
