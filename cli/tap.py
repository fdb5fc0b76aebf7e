"""``mfaops tap sweep``: the TAP sweep by hand."""

from __future__ import annotations

from typing import Any

import typer
from rich.table import Table

from cli.app import (
    EXIT_FAILED,
    EXIT_OK,
    acting,
    confirm,
    container_or_exit,
    emit,
    run_on,
    valid_upn,
)
from shared.bootstrap import Container

tap_app = typer.Typer(help="Temporary Access Passes: the sweep.", no_args_is_help=True)


@tap_app.command("sweep")
def tap_sweep(apply: bool = typer.Option(False, "--apply", help="delete (without it: only say what would go)"),
              by: str = typer.Option("", "--by", help="UPN of who acts (recorded on the sweep job)"),
              yes: bool = typer.Option(False, "--yes")) -> None:
    """Delete Temporary Access Passes that are expired or used, older than TAP_MAX_AGE_HOURS, multi-use while
    TAP_ALLOW_MULTI_USE is false, or issued by an mfaops reset to a user who has registered again.
    Example: mfaops --local --json tap sweep            (what would go)
             mfaops --local tap sweep --apply --yes"""
    if by:
        valid_upn(by, "--by")
    container = container_or_exit()

    async def work(c: Container) -> Any:
        who = await acting(c, by, required=False) if apply else None
        sweeper = c.tap_sweeper()
        if apply and not yes:
            preview = await sweeper.sweep(apply=False)
            if not preview.deleted:
                return preview
            confirm(f"Delete {len(preview.deleted)} Temporary Access Pass(es)?", yes)
        return await sweeper.sweep(apply=apply, by=who.by if who else "")

    result = run_on(container, work)
    table = Table(title=f"TAP sweep: {result.scanned} users scanned, {result.candidates} passes, "
                        f"{'deleted' if apply else 'would delete'} {len(result.deleted)}")
    for column in ("user", "method_id", "reason", "action"):
        table.add_column(column)
    for item in result.deleted:
        table.add_row(item.upn or item.user, item.method_id, item.reason, "deleted" if apply else "would delete")
    for item in result.failed:
        table.add_row(item.upn or item.user, item.method_id, item.reason, "FAILED")
    emit(result.to_dict(), table)
    raise typer.Exit(EXIT_FAILED if result.failed else EXIT_OK)


