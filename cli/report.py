"""``mfaops report``: the weak-method picture from the inventory and the registration report."""

from __future__ import annotations

import csv
import io
import sys
from pathlib import Path

import typer
from rich.table import Table

from cli.app import EXIT_USAGE, emit, fail, run
from shared.escaping import csv_cell

report_app = typer.Typer(help="Reports: methods.", no_args_is_help=True)


@report_app.command("methods")
def methods(as_csv: bool = typer.Option(False, "--csv", help="CSV on stdout: figure,name,value"),
            html: Path | None = typer.Option(None, "--html", help="also write the figures as one HTML page")) -> None:
    """Users by method type, users whose only methods are phone or e-mail, privileged users without a
    phishing-resistant method, users with no method, unused methods by age band, and the change since the previous
    report (this one becomes the next one's baseline).
    Example: mfaops --local report methods --html methods.html"""
    from shared.posture.report import render_methods

    if html is not None and (html.is_dir() or not html.parent.is_dir()):
        fail(f"--html: cannot write {html}", EXIT_USAGE)
    figures = run(lambda c: c.methods_report().build())
    document = figures.to_dict()
    if html is not None:
        html.write_text(render_methods(document), encoding="utf-8")
    if as_csv:
        buffer = io.StringIO()
        writer = csv.writer(buffer)
        writer.writerow(["figure", "name", "value"])
        writer.writerows([csv_cell(v) for v in row] for row in figures.rows())
        sys.stdout.write(buffer.getvalue())
        return
    table = Table(title=f"methods: {figures.users} users, {figures.inventory_users} read by the inventory")
    for column in ("figure", "count", "since the last report"):
        table.add_column(column)
    trend = figures.trend
    for key, count in (("weak_only", len(figures.weak_only)),
                       ("privileged_without_phishing_resistant", len(figures.privileged_without_phishing_resistant)),
                       ("no_method", len(figures.no_method))):
        table.add_row(key, str(count), f"{trend[key]:+d}" if key in trend else "")
    for name, count in figures.by_method_type.items():
        table.add_row(f"type {name}", str(count), f"{trend[f'type:{name}']:+d}" if f"type:{name}" in trend else "")
    for band, count in figures.unused_by_age.items():
        table.add_row(f"unused {band} days" if band != "unknown" else "last use unknown", str(count),
                      f"{trend[f'unused:{band}']:+d}" if f"unused:{band}" in trend else "")
    emit(document, table)
