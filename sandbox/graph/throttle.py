"""Graph's throttling, as the service-specific limits page describes it: token buckets per app and tenant."""

from __future__ import annotations

import math
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

    def take(self, cost: float = 1.0) -> float:
        """Take ``cost`` tokens; 0 when granted, else seconds until they would be there."""
        now = time.monotonic()
        self.tokens = min(self.capacity, self.tokens + (now - self.stamp) * self.capacity / self.window_s)
        self.stamp = now
        if self.tokens >= cost:
            self.tokens -= cost
            return 0.0
        return (cost - self.tokens) * self.window_s / self.capacity


# Documented limits (learn.microsoft.com/graph/throttling-limits): identity and access 3,500 resource units
# per 10 s for a tenant under 50 users, 3,000 writes per 150 s; reports and audit logs 5 requests per 10 s;
# Identity Protection and Conditional Access 1 request per second per tenant.
DEFAULT_LIMITS: dict[str, dict[str, float]] = {
    "identity": {"capacity": 3500, "window_s": 10},
    "writes": {"capacity": 3000, "window_s": 150},
    "reports": {"capacity": 5, "window_s": 10},
    "protection": {"capacity": 1, "window_s": 1},
}


class Throttle:
    def __init__(self, limits: dict[str, dict[str, float]] | None = None, enabled: bool = True) -> None:
        self.enabled = enabled
        self.configure(limits or {})
        self.throttled = 0

    def configure(self, limits: dict[str, dict[str, float]]) -> None:
        merged = {name: {**DEFAULT_LIMITS[name], **limits.get(name, {})} for name in DEFAULT_LIMITS}
        self.buckets = {
            name: Bucket(capacity=spec["capacity"], window_s=spec["window_s"], retry_after=name != "protection")
            for name, spec in merged.items()
        }

    def check(self, path: str, method: str) -> tuple[bool, int | None]:
        """(allowed, Retry-After seconds or None) for one request."""
        if not self.enabled:
            return True, None
        if path.startswith(("/identityProtection", "/identity/conditionalAccess")):
            names = ["protection"]
        elif path.startswith(("/reports", "/auditLogs")):
            names = ["reports"]
        else:
            names = ["identity"] + (["writes"] if method != "GET" else [])
        # Resource units per the identity-and-access cost table: reads 1, writes 3 (deletes, creates, patches).
        cost = 1.0 if method == "GET" else 3.0
        for name in names:
            bucket = self.buckets[name]
            wait = bucket.take(1.0 if name in {"writes", "reports", "protection"} else cost)
            if wait:
                self.throttled += 1
                # Graph sends whole seconds; so does the simulator (kiota ignores a fractional value).
                return False, max(1, math.ceil(wait)) if bucket.retry_after else None
        return True, None
