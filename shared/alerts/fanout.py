"""Every alert to the log first (it cannot fail), then to the other sinks."""

from __future__ import annotations

import logging
from typing import Any

from shared.alerts.log import LogAlerts
from shared.alerts.port import Alerts

log = logging.getLogger("mfaops.alerts")


class FanOutAlerts(Alerts):
    """Every alert to the log first (it cannot fail), then to the other sinks; a sink that fails is logged and
    does not fail the operation that raised the alert."""

    def __init__(self, log_sink: LogAlerts, *others: Alerts) -> None:
        self.log_sink = log_sink
        self.others = others

    async def raise_alert(self, kind: str, summary: str, **facts: Any) -> None:
        await self.log_sink.raise_alert(kind, summary, **facts)
        for sink in self.others:
            try:
                await sink.raise_alert(kind, summary, **facts)
            except Exception as exc:  # an alert sink must never break a reset
                log.error("alert %s not published to %s: %s", kind, type(sink).__name__, type(exc).__name__)

    async def close(self) -> None:
        for sink in self.others:
            closer = getattr(sink, "close", None)
            if closer is not None:
                await closer()
