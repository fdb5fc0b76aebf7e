"""Traces and metrics: OpenTelemetry in the worker, exported to Application Insights with the managed identity."""
