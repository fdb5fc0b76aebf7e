"""mfaops's own spans and metrics. Attributes are identifiers and outcomes only: a job id, its kind, the target's
object id, an outcome; never a UPN in a metric dimension, never a secret or a TAP."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from opentelemetry import metrics, trace
from opentelemetry.trace.propagation.tracecontext import TraceContextTextMapPropagator

tracer = trace.get_tracer("mfaops")
_PROPAGATOR = TraceContextTextMapPropagator()
meter = metrics.get_meter("mfaops")

RESETS = meter.create_counter("mfaops.resets", description="Resets by outcome (succeeded, failed, rejected, parked)")
REFUSALS = meter.create_counter("mfaops.refusals", description="Resets refused or parked, by guardrail code")
THROTTLED = meter.create_counter("mfaops.graph.throttled", description="Graph 429s seen by jobs")
RESCHEDULED = meter.create_counter("mfaops.queue.rescheduled", description="Jobs put back on the queue with backoff")
DEAD_LETTERS = meter.create_counter("mfaops.dead_letters", description="Reset messages dead-lettered")
TAPS_SWEPT = meter.create_counter("mfaops.taps_swept", description="Temporary Access Passes deleted by the sweep")
CLEANUP_REMOVALS = meter.create_counter("mfaops.cleanup.removals", description="Methods removed by cleanup")
FINDINGS = meter.create_counter("mfaops.findings", description="Monitor findings by rule and severity")
POSTURE_FAILING = meter.create_counter("mfaops.posture.failing", description="Posture checks failing, per run")


@contextmanager
def job_span(name: str, *, parent: str = "", **attributes: Any) -> Iterator[trace.Span]:
    """A span of mfaops's own; ``parent`` a W3C traceparent carried by a queue message (the webhook's trace goes on
    in the worker that picks the message up)."""
    clean = {f"mfaops.{k}": str(v) for k, v in attributes.items() if v not in (None, "")}
    context = _PROPAGATOR.extract({"traceparent": parent}) if parent else None
    with tracer.start_as_current_span(name, context=context, attributes=clean) as span:
        yield span


def current_traceparent() -> str:
    """The current span as a W3C traceparent ('' when nothing traces), for a message to carry."""
    carrier: dict[str, str] = {}
    _PROPAGATOR.inject(carrier)
    return carrier.get("traceparent", "")


def trace_id() -> str:
    """The current trace id (hex), or '' when nothing traces: recorded on the job to find its trace."""
    context = trace.get_current_span().get_span_context()
    return format(context.trace_id, "032x") if context.is_valid else ""
