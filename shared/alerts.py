"""Alerts: the port; structured warning logs (an Azure Monitor log alert fires on them); the Service Bus alerts
topic (for a SIEM, Logic App or Teams flow to subscribe to); and both at once."""

from __future__ import annotations

import abc
import json
import logging
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from azure.core.credentials_async import AsyncTokenCredential
    from azure.servicebus.aio import ServiceBusClient

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


class TopicAlerts(Alerts):
    """Publishes each alert as JSON on the Service Bus alerts topic (managed identity)."""

    def __init__(self, namespace: str, topic: str, credential: AsyncTokenCredential,
                 client: ServiceBusClient | None = None) -> None:
        self._namespace = namespace
        self._topic = topic
        self._credential = credential
        self._client = client

    async def raise_alert(self, kind: str, summary: str, **facts: Any) -> None:
        from azure.servicebus import ServiceBusMessage

        if self._client is None:
            from azure.servicebus.aio import ServiceBusClient

            self._client = ServiceBusClient(self._namespace, credential=self._credential)
        body = {"alert": kind, "summary": summary, "at": datetime.now(UTC).isoformat(), "facts": facts}
        # One alert per kind and job: duplicate detection drops the copy a redelivered message would raise.
        message_id = f"{kind}:{facts.get('job_id') or body['at']}"[:128]
        async with self._client.get_topic_sender(self._topic) as sender:
            await sender.send_messages(ServiceBusMessage(json.dumps(body, default=str), message_id=message_id,
                                                         subject=kind, content_type="application/json"))

    async def close(self) -> None:
        if self._client is not None:
            await self._client.close()
            self._client = None


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
