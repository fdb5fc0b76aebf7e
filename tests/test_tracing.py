"""A reset through the local host's entry points with an in-memory span exporter: the span tree (trigger ->
service -> Graph batches and Table writes), the trace id on the job, and no secret or TAP in any attribute."""

from __future__ import annotations

import json
from collections.abc import Iterator

import pytest
from opentelemetry import trace
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from sandbox.system import Sandbox
from shared.telemetry.setup import instrument_libraries
from tests.reset.conftest import body_of, get_job, post, sandbox, sandbox_env, ticket  # noqa: F401

EXPORTER = InMemorySpanExporter()


@pytest.fixture(scope="module", autouse=True)
def tracing() -> Iterator[None]:
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(EXPORTER))
    trace.set_tracer_provider(provider)
    instrument_libraries()
    yield
    from azure.core.settings import settings as azure_settings
    from opentelemetry.instrumentation.httpx import HTTPXClientInstrumentor

    HTTPXClientInstrumentor().uninstrument()
    azure_settings.tracing_implementation = None


async def test_a_reset_is_one_trace_from_its_trigger_through_graph_and_tables(sandbox: Sandbox) -> None:  # noqa: F811
    EXPORTER.clear()
    job_id = body_of(await post(sandbox, ticket()))["job_id"]
    await sandbox.deliver_all()
    spans = EXPORTER.get_finished_spans()
    by_id = {s.context.span_id: s for s in spans}
    worker = next(s for s in spans if s.name == "servicebus reset_worker")
    webhook = next(s for s in spans if s.name == "http servicenow_webhook")
    # One trace from the trigger: the message carried the webhook's context to the worker.
    assert worker.context.trace_id == webhook.context.trace_id
    run = next(s for s in spans if s.name == "reset.run")
    assert run.parent is not None and run.parent.span_id == worker.context.span_id
    assert run.attributes["mfaops.job_id"] == job_id and run.attributes["mfaops.kind"] == "reset"
    assert run.attributes["mfaops.outcome"] == "succeeded"

    def under_run(span: object) -> bool:
        parent = getattr(span, "parent", None)
        while parent is not None:
            if parent.span_id == run.context.span_id:
                return True
            parent = getattr(by_id.get(parent.span_id), "parent", None)
        return False

    inside = [s for s in spans if s.context.trace_id == run.context.trace_id and under_run(s)]
    graph = [s for s in inside if "$batch" in str(s.attributes.get("url.full", s.attributes.get("http.url", "")))]
    tables = [s for s in inside if "Table" in s.name or "table" in str(s.attributes.get("az.namespace", "")).lower()
              or "devstoreaccount1" in str(s.attributes.get("url.full", s.attributes.get("http.url", "")))]
    assert graph, [s.name for s in inside]
    assert tables, [s.name for s in inside]
    job = await get_job(job_id)
    assert job["trace_id"] == format(run.context.trace_id, "032x")
    # No attribute of any span holds a secret or the TAP.
    attributes = json.dumps([dict(s.attributes or {}) for s in spans], default=str)
    secrets = [sandbox.webhook_secret, sandbox.settings.tap_drop_key.get_secret_value(),
               sandbox.settings.job_id_key.get_secret_value(), *sandbox.graph.issued_tap_values]
    assert sandbox.graph.issued_tap_values
    assert not [s for s in secrets if s and s in attributes]
    assert "ada.lovelace@contoso.example" not in json.dumps([dict(s.attributes or {}) for s in spans
                                                             if s.name.startswith(("reset", "servicebus"))])
