"""Stand-ins for the one client no machine here can reach: a Service Bus namespace. They record what the real
azure-servicebus SDK would have sent."""

from __future__ import annotations

from typing import Any

from azure.servicebus import ServiceBusMessage
from azure.servicebus.exceptions import ServiceBusConnectionError


class RecordingServiceBusClient:
    def __init__(self, fail: bool = False) -> None:
        self.sent: list[tuple[str, ServiceBusMessage]] = []
        self.fail = fail

    def get_queue_sender(self, queue: str) -> Any:
        return _Sender(self, queue)

    def get_topic_sender(self, topic: str) -> Any:
        return _Sender(self, topic)


class _Sender:
    def __init__(self, client: RecordingServiceBusClient, entity: str) -> None:
        self.client = client
        self.entity = entity

    async def __aenter__(self) -> _Sender:
        return self

    async def __aexit__(self, *exc: object) -> None:
        return None

    async def send_messages(self, message: ServiceBusMessage) -> None:
        if self.client.fail:
            raise ServiceBusConnectionError(message="namespace unreachable")
        self.client.sent.append((self.entity, message))
