"""What the benchmarks share: argument parsing, output, and a sandbox on Azurite."""

from __future__ import annotations

import argparse
import json
import platform
import sys
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from sandbox.azurite import start_azurite
from sandbox.system import Sandbox, build_sandbox
from shared.bootstrap import use_container


def _bounded(text: str, kind: type[int] | type[float], minimum: float) -> float:
    try:
        value = kind(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a {'whole ' if kind is int else ''}number") from None
    if value < minimum:
        raise argparse.ArgumentTypeError(f"{value} must be at least {minimum}")
    return value


def positive(text: str) -> int:
    return int(_bounded(text, int, 1))


def non_negative(text: str) -> float:
    return float(_bounded(text, float, 0))


def counts(text: str) -> list[int]:
    return [positive(part) for part in text.split(",")]


def parser(description: str) -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(description=description)
    p.add_argument("--json", action="store_true", help="print the figures as JSON")
    return p


def emit(result: dict[str, Any], as_json: bool, rows: list[list[Any]], header: list[str]) -> None:
    if as_json:
        print(json.dumps(result))
        return
    widths = [max(len(str(h)), *(len(str(r[i])) for r in rows)) for i, h in enumerate(header)]
    print("  ".join(str(h).rjust(w) for h, w in zip(header, widths, strict=True)))
    for row in rows:
        print("  ".join(str(c).rjust(w) for c, w in zip(row, widths, strict=True)))
    print(f"({platform.python_implementation()} {platform.python_version()} on {platform.machine()}, "
          f"{sys.platform})")


@asynccontextmanager
async def sandbox(tenant: dict[str, Any], *, latency_ms: float, environ: dict[str, str] | None = None,
                  throttle: bool = False) -> AsyncIterator[Sandbox]:
    azurite = start_azurite()
    box = build_sandbox(table_connection_string=azurite.connection_string, tenant=tenant, throttle=throttle,
                        # The reset's mechanics and budgets are what most benchmarks measure: the proof-before-reset
                        # gate is off unless a benchmark turns it on (bench.reset does: it measures a proven job).
                        environ={"LOG_LEVEL": "WARNING", "VERIFY_POLICY": "none", **(environ or {})})
    box.graph.latency_ms = latency_ms
    use_container(box.container)
    try:
        await box.container.job_store().ensure_tables()
        yield box
    finally:
        use_container(None)
        await box.container.close()
        azurite.stop()


def sequential_round_trips(box: Sandbox) -> int:
    """Round trips one after another: requests that crossed the wire, those in flight at the same time counted
    once (the snapshot's v1.0 batch and its concurrent beta read are one round trip)."""
    spans = sorted((c["started"], c["ended"]) for c in box.graph.calls if not c.get("batch") and "started" in c)
    rounds, end = 0, float("-inf")
    for started, ended in spans:
        if started >= end:
            rounds += 1
            end = ended
        else:
            end = max(end, ended)
    return rounds


def outer_calls(box: Sandbox) -> int:
    """Graph round trips: requests that crossed the wire (a $batch is one; its inner requests are not)."""
    return sum(1 for c in box.graph.calls if not c.get("batch"))
