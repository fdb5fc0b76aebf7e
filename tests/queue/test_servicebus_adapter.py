"""The Service Bus adapter builds the message the reset queue relies on (no broker runs here, so the client
is a stand-in that records what the SDK would send)."""

from __future__ import annotations

from typing import Any

import pytest
from azure.servicebus import ServiceBusMessage
from azure.servicebus.exceptions import ServiceBusConnectionError

from shared.queue.port import QueueUnavailableError
from shared.queue.servicebus import ServiceBusJobQueue


class RecordingClient:
    def __init__(self, fail: bool = False) -> None:
        self.sent: list[tuple[str, ServiceBusMessage]] = []
        self.fail = fail

    def get_queue_sender(self, queue: str) -> Any:
        client = self

        class Sender:
            async def __aenter__(self) -> Sender:
                return self

            async def __aexit__(self, *exc: object) -> None:
                return None

            async def send_messages(self, message: ServiceBusMessage) -> None:
                if client.fail:
                    raise ServiceBusConnectionError(message="namespace unreachable")
                client.sent.append((queue, message))

        return Sender()


async def test_the_message_carries_the_duplicate_key_the_session_and_the_correlation() -> None:
    client = RecordingClient()
    queue = ServiceBusJobQueue("ns.servicebus.windows.net", "mfaops-reset", credential=None,  # type: ignore[arg-type]
                               client=client)  # type: ignore[arg-type]
    await queue.send(b'{"x": 1}', message_id="k" * 200, session_id="ada@contoso.example", correlation_id="job-1")
    [(name, message)] = client.sent
    assert name == "mfaops-reset"
    assert message.message_id == "k" * 128  # Service Bus caps message ids at 128 characters
    assert message.session_id == "ada@contoso.example" and message.correlation_id == "job-1"
    assert b"".join(message.body) == b'{"x": 1}' and message.content_type == "application/json"


async def test_a_broker_outage_is_a_queue_unavailable_error() -> None:
    queue = ServiceBusJobQueue("ns", "q", credential=None, client=RecordingClient(fail=True))  # type: ignore[arg-type]
    with pytest.raises(QueueUnavailableError, match="ServiceBusConnectionError"):
        await queue.send(b"{}", message_id="m", session_id="s", correlation_id="c")
