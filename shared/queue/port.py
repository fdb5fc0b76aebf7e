"""The job queue port: Service Bus semantics in the domain's words."""

from __future__ import annotations

import abc
from dataclasses import dataclass
from datetime import datetime

from shared.errors import MfaopsError


class QueueUnavailableError(MfaopsError):
    """The message could not be enqueued; the caller should answer 503 so the sender retries."""


@dataclass(frozen=True, slots=True)
class QueueMessage:
    body: bytes
    message_id: str
    session_id: str = ""
    correlation_id: str = ""
    delivery_count: int = 1
    trace_parent: str = ""  # W3C traceparent of the span that sent it (application property "traceparent")


class JobQueue(abc.ABC):
    @abc.abstractmethod
    async def send(self, body: bytes, *, message_id: str, session_id: str, correlation_id: str,
                   scheduled_at: datetime | None = None) -> None:
        """Enqueue. ``message_id`` is the duplicate-detection key; ``session_id`` serialises work per user;
        ``scheduled_at`` holds the message back until then (Service Bus scheduled enqueue time)."""
