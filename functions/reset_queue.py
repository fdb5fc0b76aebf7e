"""The reset worker on the Service Bus queue, and its dead-letter handler."""

from __future__ import annotations

import azure.functions as func

from shared.bootstrap import container
from shared.queue.port import QueueMessage
from shared.telemetry.spans import DEAD_LETTERS, job_span

bp = func.Blueprint()


def to_queue_message(msg: func.ServiceBusMessage) -> QueueMessage:
    properties = msg.application_properties or {}
    return QueueMessage(body=msg.get_body(), message_id=msg.message_id or "", session_id=msg.session_id or "",
                        correlation_id=msg.correlation_id or "", delivery_count=msg.delivery_count or 1,
                        trace_parent=str(properties.get("traceparent") or ""))


@bp.service_bus_queue_trigger(arg_name="msg", queue_name="%RESET_QUEUE%", connection="ServiceBusConnection",
                              is_sessions_enabled=True)
async def reset_worker(msg: func.ServiceBusMessage) -> None:
    # RetryLater (throttling, 5xx) propagates: the message is abandoned and redelivered, and after the
    # queue's max delivery count it is dead-lettered.
    message = to_queue_message(msg)
    with job_span("servicebus reset_worker", parent=message.trace_parent, trigger="servicebus",
                  delivery=message.delivery_count):
        await container().reset_service().run(message)


@bp.service_bus_queue_trigger(arg_name="msg", queue_name="%RESET_QUEUE%/$deadletterqueue",
                              connection="ServiceBusConnection")
async def reset_dead_letter(msg: func.ServiceBusMessage) -> None:
    with job_span("servicebus reset_dead_letter", trigger="servicebus"):
        DEAD_LETTERS.add(1)
        await container().reset_service().give_up(to_queue_message(msg))
