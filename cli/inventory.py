"""``mfaops inventory``: the rolling methods inventory by hand (what its timer does), where it stands, one user's
methods with created / last used / read at, and the whole of it as CSV."""

from __future__ import annotations

import csv
import io
import sys

import typer
from rich.table import Table

from cli.app import EXIT_USAGE, emit, fail, run, valid_user
from shared.escaping import csv_cell

inventory_app = typer.Typer(help="The rolling methods inventory: run, status, show, export.", no_args_is_help=True)


@inventory_app.command("run")
def inventory_run(max_users: int = typer.Option(0, "--max-users", min=0,
                                                help="read at most this many users (0: the whole pass)")) -> None:
    """A pass of the inventory, or part of one (resumed where the last stopped).
    Example: mfaops --local inventory run --max-users 100"""
    result = run(lambda c: c.inventory_service().run(max_users=max_users or None, new_pass=True))
    doc = result.to_dict()
    table = Table(title=f"inventory pass {result.pass_number}" + (" (complete)" if result.pass_complete else ""))
    for column in ("read", "due", "left", "expired", "requests", "failed"):
        table.add_column(column, justify="right")
    table.add_row(*(str(v) for v in (result.read, result.due, result.left, result.expired, result.requests,
                                      len(result.failed))))
    emit(doc, table)


@inventory_app.command("status")
def inventory_status() -> None:
    """Users covered, the oldest read, the pass's progress, requests spent today by lane.
    Example: mfaops --local inventory status"""
    doc = run(lambda c: c.inventory_service().status())
    table = Table(title="inventory")
    table.add_column("figure")
    table.add_column("value")
    for key, value in doc.items():
        table.add_row(key, str(value))
    emit(doc, table)


@inventory_app.command("show")
def inventory_show(user: str) -> None:
    """One user's methods as the inventory last read them.
    Example: mfaops --local inventory show ada.lovelace@contoso.example"""
    valid_user(user)
    row = run(lambda c: c.inventory_service().show(user))
    if row is None:
        fail(f"{user} is not in the inventory (yet): run `mfaops inventory run`", EXIT_USAGE)
    table = Table(title=f"methods of {row.upn} (read {row.read_at.isoformat()}, default {row.default or 'none'})")
    for column in ("type", "id", "detail", "created", "last used"):
        table.add_column(column)
    for m in row.methods:
        table.add_row(m.type, m.id, m.display, m.created or "", m.last_used or "never said")
    emit(row.to_dict(), table)


@inventory_app.command("export")
def inventory_export(as_csv: bool = typer.Option(False, "--csv", help="CSV on stdout (the only format)")) -> None:
    """Every user's methods, one line per method, as CSV.  Example: mfaops --local inventory export --csv > inv.csv"""
    if not as_csv:
        fail("give --csv", EXIT_USAGE)
    rows = run(lambda c: c.inventory_service().rows())
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow(["user_id", "upn", "default", "read_at", "type", "method_id", "detail", "created", "last_used"])
    for row in rows:
        for m in row.methods or [None]:  # type: ignore[list-item]
            cells = [m.type, m.id, m.display, m.created or "", m.last_used or ""] if m else ["", "", "", "", ""]
            # A cell starting with = + - @ is a formula to a spreadsheet: quoted as text.
            writer.writerow([csv_cell(v) for v in [row.user_id, row.upn, row.default or "", row.read_at.isoformat(),
                                                 *cells]])
    sys.stdout.write(buffer.getvalue())
