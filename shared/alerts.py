"""Alerts: the port, and the adapter that raises them as structured warning logs (Application Insights
alert rules fire on them; see the README)."""

from __future__ import annotations

import abc
import logging
from typing import Any

log = logging.getLogger("mfaops.alerts")


class Alerts(abc.ABC):
    @abc.abstractmethod
    async def raise_alert(self, kind: str, summary: str, **facts: Any) -> None:
        """Tell a human. ``facts`` are identifiers and counts, never secrets."""


class LogAlerts(Alerts):
    def __init__(self) -> None:
        self.raised: list[dict[str, Any]] = []

    async def raise_alert(self, kind: str, summary: str, **facts: Any) -> None:
        record = {"alert": kind, "summary": summary, **facts}
        self.raised.append(record)
        log.warning("ALERT %s: %s", kind, summary, extra={"custom_dimensions": record})
