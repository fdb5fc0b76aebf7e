"""An in-process twin of a Service Bus session queue, for the local host and the tests.

Same semantics as the reset queue in Azure: duplicate detection by message id within a window, a delivery
count that grows on every failed delivery, dead-lettering once it passes the maximum, and at most one
message of a session in flight at a time, and scheduled messages held back until their enqueue time.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, replace
from datetime import UTC, datetime

from shared.queue.port import JobQueue, QueueMessage

Handler = Callable[[QueueMessage], Awaitable[object]]


@dataclass
class DeadLetter:
    message: QueueMessage
    reason: str
    description: str


class InProcessQueue(JobQueue):
    def __init__(self, *, max_deliveries: int = 5, duplicate_window_s: float = 600.0) -> None:
        self.max_deliveries = max_deliveries
        self.duplicate_window_s = duplicate_window_s
        self.active: list[QueueMessage] = []
        self.dead: list[DeadLetter] = []
        self.seen: dict[str, float] = {}
        self.duplicates = 0
        self.completed = 0
        self._busy_sessions: set[str] = set()
        self._wake = asyncio.Event()
        self.scheduled: list[tuple[float, QueueMessage]] = []  # (monotonic due time, message)
        self.locked: dict[str, tuple[float, QueueMessage]] = {}  # peek-lock token -> (lock expiry, message)

    async def send(self, body: bytes, *, message_id: str, session_id: str, correlation_id: str,
                   scheduled_at: datetime | None = None) -> None:
        now = time.monotonic()
        sent = self.seen.get(message_id)
        if sent is not None and now - sent < self.duplicate_window_s:
            self.duplicates += 1  # Service Bus accepts the send and silently drops the copy
            return
        self.seen[message_id] = now
        from shared.telemetry.spans import current_traceparent

        message = QueueMessage(body=body, message_id=message_id, session_id=session_id,
                               correlation_id=correlation_id, delivery_count=0, trace_parent=current_traceparent())
        delay = (scheduled_at - datetime.now(UTC)).total_seconds() if scheduled_at is not None else 0.0
        if delay > 0:
            self.scheduled.append((now + delay, message))  # invisible until its scheduled enqueue time
        else:
            self.active.append(message)
        self._wake.set()

    def release_scheduled(self, *, all_now: bool = False) -> int:
        """Move scheduled messages that are due (or all, for a test that fast-forwards) to the active queue."""
        now = time.monotonic()
        due = [(at, m) for at, m in self.scheduled if all_now or at <= now]
        self.scheduled = [(at, m) for at, m in self.scheduled if not (all_now or at <= now)]
        self.active += [m for _, m in due]
        return len(due)

    def _expire_locks(self) -> None:
        """A receiver that died holds its lock until it expires; then the message is back (Service Bus peek-lock)."""
        now = time.monotonic()
        for token, (until, message) in list(self.locked.items()):
            if until <= now:
                del self.locked[token]
                self._busy_sessions.discard(message.session_id)
                if message.delivery_count >= self.max_deliveries:
                    self.dead.append(DeadLetter(message, "MaxDeliveryCountExceeded", "lock expired"))
                else:
                    self.active.append(message)

    def receive(self, lock_s: float) -> tuple[str, QueueMessage] | None:
        """Peek-lock the next available message for a receiver in another process (`python -m sandbox worker`)."""
        self._expire_locks()
        message = self._next()
        if message is None:
            return None
        message = replace(message, delivery_count=message.delivery_count + 1)
        token = uuid.uuid4().hex
        self._busy_sessions.add(message.session_id)
        self.locked[token] = (time.monotonic() + lock_s, message)
        return token, message

    def settle(self, token: str, *, complete: bool) -> bool:
        held = self.locked.pop(token, None)
        if held is None:
            return False  # the lock expired: the message went back (or on to the dead-letter queue)
        message = held[1]
        self._busy_sessions.discard(message.session_id)
        if complete:
            self.completed += 1
        elif message.delivery_count >= self.max_deliveries:
            self.dead.append(DeadLetter(message, "MaxDeliveryCountExceeded", "abandoned"))
        else:
            self.active.append(message)
        self._wake.set()
        return True

    def _next(self) -> QueueMessage | None:
        self.release_scheduled()
        for index, message in enumerate(self.active):
            if message.session_id not in self._busy_sessions:
                return self.active.pop(index)
        return None

    async def deliver_one(self, handler: Handler) -> bool:
        """Deliver the next available message; False when none is available."""
        message = self._next()
        if message is None:
            return False
        message = replace(message, delivery_count=message.delivery_count + 1)
        self._busy_sessions.add(message.session_id)
        try:
            await handler(message)
        except Exception as exc:  # abandon: back on the queue, or to the dead-letter queue
            if message.delivery_count >= self.max_deliveries:
                self.dead.append(DeadLetter(message, "MaxDeliveryCountExceeded", f"{type(exc).__name__}: {exc}"))
            else:
                self.active.append(message)
        else:
            self.completed += 1
        finally:
            self._busy_sessions.discard(message.session_id)
            self._wake.set()
        return True

    async def drain(self, handler: Handler, dead_letter_handler: Handler | None = None, *,
                    concurrency: int = 4) -> None:
        """Deliver until the queue is empty (dead letters go to ``dead_letter_handler`` once each)."""
        async def worker() -> None:
            while await self.deliver_one(handler):
                pass

        while self.active or self.release_scheduled():
            await asyncio.gather(*(worker() for _ in range(concurrency)))
        if dead_letter_handler is not None:
            while self.dead:
                letter = self.dead.pop(0)
                await dead_letter_handler(letter.message)

    async def serve(self, handler: Handler, dead_letter_handler: Handler, *, concurrency: int = 4) -> None:
        """Deliver for ever (the local host)."""
        while True:
            await self.drain(handler, dead_letter_handler, concurrency=concurrency)
            self._wake.clear()
            if not self.active and not self.dead:
                next_due = min((at for at, _ in self.scheduled), default=None)
                timeout = None if next_due is None else max(0.01, next_due - time.monotonic())
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._wake.wait(), timeout)


class HttpQueueClient(JobQueue):
    """The local host's in-process queue seen from another process (`mfaops --local`): sends go to the local
    host's control route, which puts them on the same queue its worker serves."""

    def __init__(self, url: str) -> None:
        self._url = url

    async def send(self, body: bytes, *, message_id: str, session_id: str, correlation_id: str,
                   scheduled_at: datetime | None = None) -> None:
        import base64

        import httpx

        from shared.queue.port import QueueUnavailableError

        payload = {"body": base64.b64encode(body).decode(), "message_id": message_id, "session_id": session_id,
                   "correlation_id": correlation_id,
                   "scheduled_at": scheduled_at.isoformat() if scheduled_at is not None else None}
        try:
            async with httpx.AsyncClient(timeout=10.0) as client:
                response = await client.post(self._url, json=payload)
        except httpx.TransportError as exc:
            raise QueueUnavailableError(f"the local queue at {self._url} is not reachable: {exc}") from None
        if response.status_code != 202:
            raise QueueUnavailableError(f"the local queue answered {response.status_code}")


def control_routes(queue: InProcessQueue) -> list[object]:
    """``POST /_local/queue``: enqueue on the local host's queue (what HttpQueueClient calls)."""
    import base64
    import binascii

    from starlette.requests import Request
    from starlette.responses import JSONResponse
    from starlette.routing import Route

    async def send(request: Request) -> JSONResponse:
        try:
            data = await request.json()
            body = base64.b64decode(str(data["body"]), validate=True)
            at = datetime.fromisoformat(str(data["scheduled_at"])) if data.get("scheduled_at") else None
            await queue.send(body, message_id=str(data["message_id"]), session_id=str(data.get("session_id", "")),
                             correlation_id=str(data.get("correlation_id", "")), scheduled_at=at)
        except (ValueError, KeyError, TypeError, binascii.Error):
            return JSONResponse({"title": "Invalid request", "status": 400}, status_code=400,
                                media_type="application/problem+json")
        return JSONResponse({"queued": True}, status_code=202)

    async def receive(request: Request) -> JSONResponse:
        data = await request.json() if await request.body() else {}
        got = queue.receive(float(data.get("lock_s", 30)))
        if got is None:
            return JSONResponse({"message": None})
        token, message = got
        return JSONResponse({"lock_token": token, "message": {
            "body": base64.b64encode(message.body).decode(), "message_id": message.message_id,
            "session_id": message.session_id, "correlation_id": message.correlation_id,
            "delivery_count": message.delivery_count}})

    async def settle(request: Request) -> JSONResponse:
        data = await request.json()
        settled = queue.settle(str(data["lock_token"]), complete=data.get("outcome") == "complete")
        return JSONResponse({"settled": settled}, status_code=200 if settled else 410)

    return [Route("/queue", send, methods=["POST"]), Route("/queue/receive", receive, methods=["POST"]),
            Route("/queue/settle", settle, methods=["POST"])]
