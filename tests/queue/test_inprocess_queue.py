"""The in-process queue has the reset queue's Service Bus semantics."""

from __future__ import annotations

import asyncio

from sandbox.queue import InProcessQueue
from shared.queue.port import QueueMessage


async def test_failed_deliveries_count_up_and_end_in_the_dead_letter_queue() -> None:
    queue = InProcessQueue(max_deliveries=3)
    await queue.send(b"x", message_id="m1", session_id="s", correlation_id="c")
    seen: list[int] = []

    async def always_fails(message: QueueMessage) -> None:
        seen.append(message.delivery_count)
        raise RuntimeError("boom")

    dead: list[QueueMessage] = []

    async def to_dead(message: QueueMessage) -> None:
        dead.append(message)

    await queue.drain(always_fails, to_dead)
    assert seen == [1, 2, 3]
    assert [(m.message_id, m.delivery_count) for m in dead] == [("m1", 3)]


async def test_a_duplicate_message_id_is_dropped_within_the_window() -> None:
    queue = InProcessQueue(duplicate_window_s=60)
    for _ in range(3):
        await queue.send(b"x", message_id="same", session_id="s", correlation_id="")
    await queue.send(b"y", message_id="other", session_id="s", correlation_id="")
    assert [m.message_id for m in queue.active] == ["same", "other"] and queue.duplicates == 2
    expired = InProcessQueue(duplicate_window_s=0)
    await expired.send(b"x", message_id="same", session_id="s", correlation_id="")
    await expired.send(b"x", message_id="same", session_id="s", correlation_id="")
    assert len(expired.active) == 2


async def test_one_session_is_never_worked_on_twice_at_once() -> None:
    queue = InProcessQueue()
    for i in range(6):
        await queue.send(str(i).encode(), message_id=f"m{i}", session_id=f"user{i % 2}", correlation_id="")
    running: dict[str, int] = {}
    overlap: list[str] = []

    async def handler(message: QueueMessage) -> None:
        running[message.session_id] = running.get(message.session_id, 0) + 1
        if running[message.session_id] > 1:
            overlap.append(message.session_id)
        await asyncio.sleep(0.01)
        running[message.session_id] -= 1

    await queue.drain(handler, concurrency=4)
    assert overlap == [] and queue.completed == 6
