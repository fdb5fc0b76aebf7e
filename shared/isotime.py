"""Graph's ISO 8601 timestamps, read leniently: a value Graph (or a proxy, or a test) got wrong is absent, never a
crash. Graph writes 'Z' and up to 7 fractional digits."""

from __future__ import annotations

import re
from datetime import UTC, datetime
from typing import Any

_EXTRA_DIGITS = re.compile(r"(\.\d{6})\d+")


def parse_time(value: Any) -> datetime | None:
    if not isinstance(value, str) or not value:
        return None
    try:  # the common case, fast: Python 3.11 reads 'Z' and up to 6 fractional digits itself
        parsed = datetime.fromisoformat(value)
    except ValueError:
        try:
            parsed = datetime.fromisoformat(_EXTRA_DIGITS.sub(r"\1", value.replace("Z", "+00:00")))
        except ValueError:
            return None
    if not 2 <= parsed.year <= 9998:
        # At the calendar's edges an offset or any arithmetic (a window, an overlap) overflows: no real event
        # happens there, so such a time is as good as none.
        return None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def iso(when: datetime) -> str:
    return when.astimezone(UTC).isoformat().replace("+00:00", "Z")


def as_int(value: Any, default: int = 0) -> int:
    """An integer property, or ``default`` when Graph sent something else."""
    if isinstance(value, bool) or not isinstance(value, (int, float, str)):
        return default
    try:
        return int(value)
    except (ValueError, OverflowError):
        return default
