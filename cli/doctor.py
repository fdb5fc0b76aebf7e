"""``mfaops doctor``: every setting, every service reached, and what the identity lacks (shared/doctor.py)."""

from __future__ import annotations

from typing import Any

import typer
from rich.table import Table

from cli.app import EXIT_FAILED, EXIT_OK, acting, container_or_exit, emit, run_on, state
from shared.bootstrap import Container


def doctor() -> None:
    """Check every setting, reach Graph, Storage, Service Bus and ServiceNow, and list what the identity lacks
    per feature; each check pass/fail with one line of fix.  Example: mfaops --local doctor"""
    from shared.doctor import diagnose

    container = container_or_exit()

    async def work(c: Container) -> list[Any]:
        roles: frozenset[str] | None = None
        if not state.local:
            who = await acting(c, "doctor@local.invalid")  # app-only asks for --by; doctor only reads
            roles = who.roles
        return await diagnose(c, roles=roles)

    checks = run_on(container, work)
    table = Table(title="mfaops doctor")
    for column in ("check", "status", "detail", "fix"):
        table.add_column(column)
    for check in checks:
        table.add_row(check.name, check.status, check.detail, check.fix)
    emit({"checks": [c.to_dict() for c in checks]}, table)
    raise typer.Exit(EXIT_FAILED if any(c.status == "fail" for c in checks) else EXIT_OK)


