"""The identity and access bucket's size from the tenant's size (issue 24).

"Identity and access service limits" (Microsoft Graph throttling limits): an app gets 3,500 resource units per
10 s in a tenant of under 50 users, 5,000 for 50 to 500, and 8,000 over 500. mfaops counts the tenant's users once
a day (``GET /users/$count`` with ``ConsistencyLevel: eventual``, the advanced query that counts) and sizes its
identity bucket from it; GRAPH_BUDGET_IDENTITY, when set, overrides it.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

WINDOW_S = 10.0
RECOUNT_S = 24 * 3600.0


def identity_units(users: int) -> int:
    if users < 50:
        return 3_500
    if users <= 500:
        return 5_000
    return 8_000


@dataclass
class TenantSize:
    """When the tenant was last counted, and what it counted (None until the first count)."""

    users: int | None = None
    counted_at: float = -RECOUNT_S

    def due(self, now: float | None = None) -> bool:
        return (now if now is not None else time.monotonic()) - self.counted_at >= RECOUNT_S
