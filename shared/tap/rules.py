"""Why a TAP goes (or stays): pure rules over what Graph says of the pass and of its user."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from shared.isotime import parse_time

# Graph's methodUsabilityReason values for a pass that can no longer be used (temporaryAccessPassAuthentication
# Method resource page): Expired, OneTimeUsed (NotYetValid and EnabledByPolicy/DisabledByPolicy are not spent).
SPENT = {"Expired": "expired", "OneTimeUsed": "used"}


@dataclass(frozen=True, slots=True)
class SweepPolicy:
    max_age: timedelta
    allow_multi_use: bool


def _when(value: Any) -> datetime | None:
    return parse_time(value)


def verdict(tap: dict[str, Any], *, other_methods: int, issued_by_mfaops: bool, policy: SweepPolicy,
            now: datetime) -> tuple[bool, str]:
    """(delete?, reason) for one temporaryAccessPassAuthenticationMethod as Graph lists it."""
    reason = SPENT.get(str(tap.get("methodUsabilityReason") or ""))
    if reason and tap.get("isUsable") is False:
        return True, reason
    created = _when(tap.get("createdDateTime")) or _when(tap.get("startDateTime"))
    if created is not None and now - created > policy.max_age:
        return True, "too_old"
    if tap.get("isUsableOnce") is False and not policy.allow_multi_use:
        return True, "multi_use"
    # An mfaops reset removed every method, so any method the user has now was registered since: the pass did
    # its job.
    if issued_by_mfaops and other_methods > 0:
        return True, "re_registered"
    return False, "usable"
