"""Alerts on the Service Bus alerts topic (``ALERTS_TOPIC``), for a SIEM, Logic App or Teams flow."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from shared.alerts.port import Alerts

if TYPE_CHECKING:
    from azure.core.credentials_async import AsyncTokenCredential
    from azure.servicebus.aio import ServiceBusClient


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
        message_id = f"{kind}:{facts.get('finding_id') or facts.get('job_id') or body['at']}"[:128]
        async with self._client.get_topic_sender(self._topic) as sender:
            await sender.send_messages(ServiceBusMessage(json.dumps(body, default=str), message_id=message_id,
                                                         subject=kind, content_type="application/json"))

    async def close(self) -> None:
        if self._client is not None:
            await self._client.close()
            self._client = None
