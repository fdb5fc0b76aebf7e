"""Service Bus adapter (azure-servicebus, async, managed identity)."""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING

from shared.queue.port import JobQueue, QueueUnavailableError

if TYPE_CHECKING:
    from azure.core.credentials_async import AsyncTokenCredential
    from azure.servicebus.aio import ServiceBusClient


class ServiceBusJobQueue(JobQueue):
    def __init__(self, namespace: str, queue: str, credential: AsyncTokenCredential,
                 client: ServiceBusClient | None = None) -> None:
        self._namespace = namespace
        self._queue = queue
        self._credential = credential
        self._client = client

    def _get_client(self) -> ServiceBusClient:
        if self._client is None:
            from azure.servicebus.aio import ServiceBusClient

            self._client = ServiceBusClient(self._namespace, credential=self._credential)
        return self._client

    async def send(self, body: bytes, *, message_id: str, session_id: str, correlation_id: str,
                   scheduled_at: datetime | None = None) -> None:
        from azure.servicebus import ServiceBusMessage
        from azure.servicebus.exceptions import ServiceBusError

        from shared.telemetry.spans import current_traceparent

        traceparent = current_traceparent()
        message = ServiceBusMessage(body, message_id=message_id[:128], session_id=session_id[:128],
                                    correlation_id=correlation_id, content_type="application/json",
                                    scheduled_enqueue_time_utc=scheduled_at,
                                    application_properties={"traceparent": traceparent} if traceparent else None)
        try:
            async with self._get_client().get_queue_sender(self._queue) as sender:
                await sender.send_messages(message)
        except ServiceBusError as exc:
            raise QueueUnavailableError(f"could not enqueue on {self._queue}: {type(exc).__name__}") from exc

    async def close(self) -> None:
        if self._client is not None:
            await self._client.close()
            self._client = None
