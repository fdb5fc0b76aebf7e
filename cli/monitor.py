"""`mfaops monitor`: scan the audit log, list findings, contain one, classify exported events offline."""

from __future__ import annotations

import sys
from datetime import datetime
from pathlib import Path
from typing import IO, Any

import orjson
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

monitor_app = typer.Typer(help="The registration monitor: scan, findings, contain, classify.", no_args_is_help=True)


def _when(value: str, option: str) -> datetime | None:
    from shared.detection.events import parse_time

    if not value:
        return None
    parsed = parse_time(value)
    if parsed is None:
        fail(f"{option}: {value!r} is not an ISO 8601 time (e.g. 2026-12-01T08:00:00Z)", EXIT_USAGE)
    return parsed


def _write_lines(lines: Any) -> None:
    out = sys.stdout.buffer
    for line in lines:
        out.write(orjson.dumps(line) + b"\n")
    out.flush()


@monitor_app.command("scan")
def scan(since: str = typer.Option("", "--since", help="ISO time to read from (default: the watermark)")) -> None:
    """Read directory audits since the watermark (less the overlap), record and alert findings once each.
    Example: mfaops --local --json monitor scan"""
    start = _when(since, "--since")
    result = run(lambda c: c.monitor_service().scan(since=start))
    if state.json:
        _write_lines([*result.lines(), result.summary()])
        return
    table = Table(title=f"monitor scan: {result.read} events read, {len(result.events)} relevant, "
                        f"{len(result.findings)} new findings")
    for column in ("finding_id", "severity", "rule", "target", "summary", "alert"):
        table.add_column(column)
    for f in result.findings:
        table.add_row(f.finding_id, f.severity, f.rule, f.target, f.summary, result.alerts.get(f.finding_id, ""))
    emit(None, table)
    for name, why in result.unavailable.items():
        err.print(f"unavailable this run: {name} ({why})", markup=False, highlight=False)


@monitor_app.command("findings")
def findings(since: str = typer.Option("", "--since", help="ISO time"),
             severity: str = typer.Option("", "--severity", help="low | medium | high | critical (and above)"),
             limit: int = typer.Option(100, "--limit", min=1, max=10_000)) -> None:
    """Recorded findings, newest first.  Example: mfaops --local monitor findings --severity high"""
    from shared.detection.findings import SEVERITIES

    if severity and severity not in SEVERITIES:
        fail(f"--severity: {severity!r} is not one of {', '.join(SEVERITIES)}", EXIT_USAGE)
    start = _when(since, "--since")
    found = run(lambda c: c.monitor_service().findings(since=start, severity=severity or None, limit=limit))
    table = Table(title=f"{len(found)} findings")
    for column in ("finding_id", "time", "severity", "rule", "target", "alert", "expected", "containment_job"):
        table.add_column(column)
    for s in found:
        table.add_row(s.finding.finding_id, s.finding.time.isoformat(), s.finding.severity, s.finding.rule,
                      s.finding.target, s.alert, "yes" if s.finding.expected else "", s.containment_job)
    emit({"findings": [s.to_dict() for s in found]}, table)


@monitor_app.command("contain")
def contain(finding_id: str, by: str = typer.Option(..., "--by", help="UPN of who acts"),
            yes: bool = typer.Option(False, "--yes")) -> None:
    """Delete the method a finding's event registered and revoke the user's sessions, as a recorded
    `containment` job (never on break-glass accounts, inside the blast-radius limit).
    Example: mfaops --local monitor contain 3f9a... --by ops@contoso.example --yes"""
    from shared.detection.service import ContainmentRefusedError, FindingNotFoundError

    valid_upn(by, "--by")
    container = container_or_exit()

    async def work(c: Container) -> Any:
        service = c.monitor_service()
        stored = await service.store.get_finding(finding_id)
        if stored is None:
            raise FindingNotFoundError(f"no finding {finding_id}")
        who = await acting(c, by)
        confirm(f"Contain finding {finding_id} ({stored.finding.rule} on {stored.finding.target}): delete "
                f"{', '.join(stored.finding.methods) or 'nothing'} and revoke sessions?", yes)
        return await service.contain(finding_id, by=who.by)

    try:
        job = run_on(container, work, reraise=True)
    except FindingNotFoundError as exc:
        fail(str(exc), EXIT_USAGE)
    except ContainmentRefusedError as exc:
        fail(f"refused: {exc}", EXIT_REFUSED)
    from shared.jobs.view import job_view

    view = job_view(job)
    if state.json:
        emit(view)
    else:
        typer.echo(f"containment job {job.job_id}: {job.state.value}")
        for step in job.steps:
            typer.echo(f"  {step.action}: {step.outcome} {step.detail}")
    raise typer.Exit(EXIT_OK if job.state.value == "succeeded" else EXIT_FAILED)


@monitor_app.command("classify")
def classify_cmd(file: str = typer.Argument(..., help="directoryAudit events: a file, or - for stdin")) -> None:
    """Classify exported directoryAudit events (a Graph response, a JSON array, or JSON lines) offline:
    JSON lines on stdout, an `event` line per relevant event and a `finding` line per rule hit that needs no
    tenant context. Malformed input: exit 2 naming the line or offset.
    Example: mfaops monitor classify audits.jsonl > classified.jsonl"""
    from shared.detection.classify import ClassifyStats, InputError, classify
    from shared.detection.events import PhoneHasher
    from shared.detection.rules import RuleConfig
    from shared.errors import ConfigurationError
    from shared.settings import load_settings

    try:
        settings = load_settings()
    except ConfigurationError as exc:
        fail(str(exc), EXIT_USAGE)
    stream: IO[bytes]
    if file == "-":
        stream = sys.stdin.buffer
    else:
        path = Path(file)
        if not path.is_file():
            fail(f"FILE: no file at {file}", EXIT_USAGE)
        stream = path.open("rb")
    key = settings.monitor_phone_hash_key.get_secret_value() or settings.job_id_key.get_secret_value()
    stats = ClassifyStats()
    try:
        _write_lines(classify(stream, RuleConfig.from_settings(settings), PhoneHasher(key.encode()), stats))
    except InputError as exc:
        fail(f"{file}: {exc}", EXIT_USAGE)
    except UnicodeDecodeError as exc:
        fail(f"{file}: offset {exc.start}: not UTF-8", EXIT_USAGE)
    finally:
        if file != "-":
            stream.close()
    if state.verbose:
        err.print(f"{stats.read} read, {stats.relevant} relevant, {stats.unknown} unknown, {stats.merged} twins "
                  f"merged, {stats.findings} findings", markup=False, highlight=False)
    raise typer.Exit(EXIT_OK)
