"""The Service Bus adapter builds the message the reset queue relies on (no broker runs here, so the client
is a stand-in that records what the SDK would send)."""

from __future__ import annotations

import pytest

from shared.queue.port import QueueUnavailableError
from shared.queue.servicebus import ServiceBusJobQueue
from tests.fakes import RecordingServiceBusClient


async def test_the_message_carries_the_duplicate_key_the_session_and_the_correlation() -> None:
    client = RecordingServiceBusClient()
    queue = ServiceBusJobQueue("ns.servicebus.windows.net", "mfaops-reset", credential=None,  # type: ignore[arg-type]
                               client=client)  # type: ignore[arg-type]
    await queue.send(b'{"x": 1}', message_id="k" * 200, session_id="ada@contoso.example", correlation_id="job-1")
    [(name, message)] = client.sent
    assert name == "mfaops-reset"
    assert message.message_id == "k" * 128  # Service Bus caps message ids at 128 characters
    assert message.session_id == "ada@contoso.example" and message.correlation_id == "job-1"
    assert b"".join(message.body) == b'{"x": 1}' and message.content_type == "application/json"


async def test_a_broker_outage_is_a_queue_unavailable_error() -> None:
    queue = ServiceBusJobQueue("ns", "q", credential=None, client=RecordingServiceBusClient(fail=True))  # type: ignore[arg-type]
    with pytest.raises(QueueUnavailableError, match="ServiceBusConnectionError"):
        await queue.send(b"{}", message_id="m", session_id="s", correlation_id="c")
