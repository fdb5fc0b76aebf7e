"""Graph's throttling, per bucket, as learn.microsoft.com/graph/throttling-limits describes it: token buckets
per app and tenant (and per tenant), each request evaluated on its own (also inside a $batch).

- Identity and access: resource units per 10 s by tenant size (S under 50 users 3,500; M 50-500 5,000;
  L over 500 8,000), costed by the page's table: GET /users 2, GET users/{id}/transitiveMemberOf or memberOf 2
  ("a request cost that applies to me/ also applies to users/{id}/"), GET groups/{id}/members 3,
  transitiveMembers 5, any other GET 1; POST/PATCH/PUT/DELETE 1 unit and 1 write; `$select` -1, `$top` < 20 -1,
  never below 1. Writes: 3,000 per 150 s per app and tenant, 18,000 per 5 minutes per tenant.
- Identity and access reports: 5 requests per 10 s per app and tenant; the page lists audit logs, sign-ins,
  the registration reports and authenticationMethod among its resources, so a user's methods
  (/users/{id}/authentication/...) are counted here, as documented.
- Identity Protection and Conditional Access: 1 request per second per tenant, answered without Retry-After.

``time_scale`` shortens every window by one factor alike (benchmarks compress hours into minutes).
"""

from __future__ import annotations

import math
import re
import time
from dataclasses import dataclass, field


@dataclass
class Bucket:
    capacity: float
    window_s: float
    retry_after: bool = True  # Identity Protection and Conditional Access answer 429 without Retry-After
    tokens: float = field(init=False)
    stamp: float = field(init=False)

    def __post_init__(self) -> None:
        self.tokens = self.capacity
        self.stamp = time.monotonic()

    def refill(self, now: float) -> None:
        self.tokens = min(self.capacity, self.tokens + (now - self.stamp) * self.capacity / self.window_s)
        self.stamp = now

    def wait_for(self, cost: float) -> float:
        """Seconds until ``cost`` tokens are there (0: now)."""
        return 0.0 if self.tokens >= cost else (cost - self.tokens) * self.window_s / self.capacity


IDENTITY_BY_SIZE = ((50, 3500.0), (501, 5000.0))  # users below the bound -> units per 10 s; else 8,000
DEFAULT_LIMITS: dict[str, dict[str, float]] = {
    "identity": {"capacity": 3500, "window_s": 10},
    "writes": {"capacity": 3000, "window_s": 150},
    "tenant_writes": {"capacity": 18000, "window_s": 300},
    "reports": {"capacity": 5, "window_s": 10},
    "protection": {"capacity": 1, "window_s": 1},
}
_COSTS = ((re.compile(r"^/users$"), 2),
          (re.compile(r"^/users/[^/]+/(transitiveMemberOf|memberOf)(/microsoft\.graph\.\w+)?$"), 2),
          (re.compile(r"^/groups/[^/]+/members$"), 3), (re.compile(r"^/groups/[^/]+/transitiveMembers$"), 5))
# Which bucket: the reports bucket's page lists audit logs, sign-ins, the registration reports and
# authenticationMethod among its resources. signInPreferences (beta) and the per-user MFA requirements are not
# authentication methods and the page lists neither; they live under /users/{id}/authentication, and calls the
# page does not list under /reports, /auditLogs or /users/{id}/authentication are kept in the reports bucket (the
# conservative reading: the smaller bucket). Everything else is costed in the identity bucket. The cast on a
# membership list (transitiveMemberOf/microsoft.graph.directoryRole) costs what the list costs.
_REPORTS = re.compile(r"^/(reports|auditLogs)(/|$)|^/users/[^/]+/authentication(/|$)")


def identity_units(users: int) -> float:
    for bound, units in IDENTITY_BY_SIZE:
        if users < bound:
            return units
    return 8000.0


def costs(path: str, method: str, query: dict[str, str] | None = None) -> list[tuple[str, float]]:
    """The buckets one request draws on, with its cost in each."""
    if path.startswith(("/identityProtection", "/identity/conditionalAccess")):
        return [("protection", 1.0)]
    if _REPORTS.search(path):
        return [("reports", 1.0)]
    query = query or {}
    if method == "GET":
        units = next((c for pattern, c in _COSTS if pattern.match(path)), 1)
        units -= 1 if "$select" in query else 0
        top = query.get("$top", "")
        units -= 1 if top.isdigit() and int(top) < 20 else 0
        return [("identity", float(max(1, units)))]
    return [("identity", 1.0), ("writes", 1.0), ("tenant_writes", 1.0)]


class Throttle:
    def __init__(self, limits: dict[str, dict[str, float]] | None = None, enabled: bool = True, *,
                 users: int = 0, time_scale: float = 1.0) -> None:
        self.enabled = enabled
        self.users = users
        self.time_scale = time_scale
        self.configure(limits or {})
        self.throttled = 0
        self.by_bucket: dict[str, int] = {}

    def configure(self, limits: dict[str, dict[str, float]], *, time_scale: float | None = None) -> None:
        if time_scale is not None:
            self.time_scale = time_scale
        base = {**DEFAULT_LIMITS, "identity": {"capacity": identity_units(self.users), "window_s": 10}}
        merged = {name: {**base[name], **limits.get(name, {})} for name in base}
        self.buckets = {
            name: Bucket(capacity=spec["capacity"], window_s=spec["window_s"] * self.time_scale,
                         retry_after=name != "protection")
            for name, spec in merged.items()
        }

    def check(self, path: str, method: str, query: dict[str, str] | None = None) -> tuple[bool, float | None]:
        """(allowed, Retry-After seconds or None) for one request: every bucket it draws on must allow it."""
        if not self.enabled:
            return True, None
        now = time.monotonic()
        wanted = costs(path, method, query)
        waits = []
        for name, cost in wanted:
            bucket = self.buckets[name]
            bucket.refill(now)
            waits.append((bucket.wait_for(cost), name))
        wait, name = max(waits)
        if wait:
            self.throttled += 1
            self.by_bucket[name] = self.by_bucket.get(name, 0) + 1
            if not self.buckets[name].retry_after:
                return False, None
            # Graph sends whole seconds; so does the simulator, except under time compression, where a whole
            # second would be many compressed windows.
            return False, max(1, math.ceil(wait)) if self.time_scale == 1 else round(max(wait, 0.001), 3)
        for bucket_name, cost in wanted:
            self.buckets[bucket_name].tokens -= cost
        return True, None
