"""Turn telemetry on once per worker: Azure Monitor when APPLICATIONINSIGHTS_CONNECTION_STRING is set (with the
managed identity: Application Insights has local auth off, so the connection string alone is refused), spans
printed when OTEL_TRACES_EXPORTER=console (`make run`), nothing otherwise. Graph and ServiceNow calls are traced
through the httpx instrumentation, Table Storage and Service Bus through azure-core's OpenTelemetry plugin."""

from __future__ import annotations

import logging
import os
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from azure.core.credentials_async import AsyncTokenCredential

log = logging.getLogger("mfaops.telemetry")
_configured = False


def instrument_libraries() -> None:
    """httpx (Graph, ServiceNow, Teams) and azure-core (Tables, Service Bus) spans, under the current provider."""
    from azure.core.settings import settings as azure_settings
    from opentelemetry.instrumentation.httpx import HTTPXClientInstrumentor

    azure_settings.tracing_implementation = "opentelemetry"
    instrumentor = HTTPXClientInstrumentor()
    if not instrumentor.is_instrumented_by_opentelemetry:
        instrumentor.instrument()


def configure_telemetry(credential: AsyncTokenCredential | Any | None = None) -> str:
    """Once per worker; returns what was set up: azure_monitor | console | none."""
    global _configured
    if _configured:
        return "already"
    _configured = True
    if os.environ.get("APPLICATIONINSIGHTS_CONNECTION_STRING"):
        # The exporter wants a sync credential; the worker's managed identity has one of the same name.
        from azure.identity import ManagedIdentityCredential
        from azure.monitor.opentelemetry import configure_azure_monitor

        client_id = os.environ.get("AZURE_CLIENT_ID") or None
        configure_azure_monitor(credential=ManagedIdentityCredential(client_id=client_id),
                                logger_name="mfaops", instrumentation_options={"httpx": {"enabled": True}})
        instrument_libraries()
        return "azure_monitor"
    if os.environ.get("OTEL_TRACES_EXPORTER", "").lower() == "console":
        from opentelemetry import trace
        from opentelemetry.sdk.trace import TracerProvider
        from opentelemetry.sdk.trace.export import ConsoleSpanExporter, SimpleSpanProcessor

        provider = TracerProvider()
        provider.add_span_processor(SimpleSpanProcessor(ConsoleSpanExporter()))
        trace.set_tracer_provider(provider)
        instrument_libraries()
        return "console"
    return "none"
