"""`mfaops posture`: check, impact of the report-only registration policy, apply the registration policy."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import typer
from rich.table import Table

from cli.app import (
    EXIT_FAILED,
    EXIT_OK,
    EXIT_REFUSED,
    EXIT_USAGE,
    acting,
    confirm,
    container_or_exit,
    emit,
    err,
    fail,
    run,
    run_on,
    state,
    valid_upn,
)
from shared.bootstrap import Container

posture_app = typer.Typer(help="Posture: check, impact, apply-registration-policy.", no_args_is_help=True)


@posture_app.command("check")
def check(html: Path | None = typer.Option(None, "--html", help="also write the report as one HTML page")) -> None:
    """Run every posture check and record the run (a worsened check raises a drift alert). Exit 0 when no
    check fails, 1 when one does.  Example: mfaops --local posture check --html posture.html"""
    from shared.posture.report import render

    if html is not None and (html.is_dir() or not html.parent.is_dir()):
        fail(f"--html: cannot write {html}", EXIT_USAGE)
    report = run(lambda c: c.posture_service().check())
    if html is not None:
        html.write_text(render(report), encoding="utf-8")
    table = Table(title=f"posture of {report.tenant or 'the tenant'}: {report.checked_at.isoformat()}")
    for column in ("status", "check", "summary"):
        table.add_column(column)
    for c in report.ordered():
        table.add_row(c.status, c.id, c.summary)
    document = report.to_dict()
    emit({k: document[k] for k in ("tenant", "checked_at", "checks")} | {"drift": report.drift}, table)
    raise typer.Exit(EXIT_FAILED if report.failed else EXIT_OK)


@posture_app.command("impact")
def impact(policy: str = typer.Option("", "--policy", help="CA policy id (default: the report-only "
                                      "registration policy)"),
           days: int = typer.Option(14, "--days", min=1, max=30)) -> None:
    """Registrations the report-only registration policy would have blocked (reportOnlyFailure) or asked more of
    (reportOnlyInterrupted), by user, location and app; break-glass and service accounts called out.
    Example: mfaops --local posture impact --days 14"""
    from shared.posture.service import PolicyRefusedError

    container = container_or_exit()
    try:
        result = run_on(container, lambda c: c.posture_service().impact(policy_id=policy, days=days), reraise=True)
    except PolicyRefusedError as exc:
        fail(str(exc), EXIT_USAGE)
    _show_impact(result)


def _show_impact(result: dict[str, Any]) -> None:
    table = Table(title=f"{result['policy']['name']} ({result['policy']['state']}), last {result['days']} days: "
                        f"{result['would_block']} would be blocked, {result['would_interrupt']} interrupted")
    for column in ("user", "result", "location", "app", "note"):
        table.add_column(column)
    for e in result["events"]:
        note = "BREAK-GLASS" if e["break_glass"] else "service account" if e["service_account"] else ""
        table.add_row(e["user"], e["result"], e["location"], e["app"], note)
    emit(result, table)


@posture_app.command("apply-registration-policy")
def apply_registration_policy(
        report_only: bool = typer.Option(False, "--report-only", help="create it report-only (the default)"),
        enable: bool = typer.Option(False, "--enable", help="enforce it (asks first)"),
        by: str = typer.Option(..., "--by", help="UPN of who acts"),
        trusted_locations: str = typer.Option("AllTrusted", "--trusted-locations",
                                              help="named location ids to exempt, comma-separated"),
        strength: str = typer.Option("", "--strength", help="authentication strength id instead of MFA"),
        dry_run: bool = typer.Option(False, "--dry-run", help="print the policy, change nothing"),
        yes: bool = typer.Option(False, "--yes")) -> None:
    """Create (or update the one mfaops created) the Conditional Access policy on "Register security
    information": all users, every break-glass account excluded, MFA or --strength outside trusted locations.
    --report-only is the default; --enable prints the report-only impact and asks, and refuses (exit 3) when a
    break-glass account could not be excluded.
    Example: mfaops --local posture apply-registration-policy --report-only --by ops@contoso.example"""
    from shared.posture.service import PolicyRefusedError

    if report_only and enable:
        fail("--report-only and --enable: choose one", EXIT_USAGE)
    valid_upn(by, "--by")
    locations = [x.strip() for x in trusted_locations.split(",") if x.strip()]
    container = container_or_exit()

    async def work(c: Container) -> Any:
        service = c.posture_service()
        who = await acting(c, by)
        if enable and not dry_run:
            try:
                _show_impact(await service.impact())
            except PolicyRefusedError as exc:
                err.print(f"impact: {exc}", markup=False, highlight=False)
            confirm("Enforce the registration policy for all users (break-glass accounts excluded)?", yes)
        return await service.apply_registration_policy(enable=enable, by=who.by, trusted_locations=locations,
                                                       strength=strength, dry_run=dry_run)

    try:
        outcome = run_on(container, work, reraise=True)
    except PolicyRefusedError as exc:
        fail(f"refused: {exc}", EXIT_REFUSED)
    if state.json:
        emit(outcome)
    else:
        verb = "would " + outcome["action"] if outcome["dry_run"] else outcome["action"] + "d"
        typer.echo(f"{verb} '{outcome['policy']['displayName']}' ({outcome['policy']['state']}), excluding "
                   f"{', '.join(outcome['excluded_break_glass']) or 'no account'}"
                   + (f": policy {outcome['policy_id']}, job {outcome.get('job_id')}" if not outcome["dry_run"]
                      else ""))
    raise typer.Exit(EXIT_OK)
