"""mfaops's own spans and metrics. Attributes are identifiers and outcomes only: a job id, its kind, the target's
object id, an outcome; never a UPN in a metric dimension, never a secret or a TAP."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from opentelemetry import metrics, trace

tracer = trace.get_tracer("mfaops")
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
def job_span(name: str, **attributes: Any) -> Iterator[trace.Span]:
    clean = {f"mfaops.{k}": str(v) for k, v in attributes.items() if v not in (None, "")}
    with tracer.start_as_current_span(name, attributes=clean) as span:
        yield span


def trace_id() -> str:
    """The current trace id (hex), or '' when nothing traces: recorded on the job to find its trace."""
    context = trace.get_current_span().get_span_context()
    return format(context.trace_id, "032x") if context.is_valid else ""
