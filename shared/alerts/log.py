"""Alerts as structured warning logs: an Azure Monitor log alert fires on them, and they cannot fail."""

from __future__ import annotations

import logging
from typing import Any

from shared.alerts.port import Alerts

log = logging.getLogger("mfaops.alerts")


class LogAlerts(Alerts):
    def __init__(self) -> None:
        self.raised: list[dict[str, Any]] = []

    async def raise_alert(self, kind: str, summary: str, **facts: Any) -> None:
        record = {"alert": kind, "summary": summary, **facts}
        self.raised.append(record)
        log.warning("ALERT %s: %s", kind, summary, extra={"custom_dimensions": record})
