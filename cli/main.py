"""``mfaops``: the same guarded services as the Functions app, by hand.

Exit codes: 0 ok; 1 the operation failed; 2 usage or input error (nothing was done); 3 refused by a guardrail.
"""

from __future__ import annotations

import asyncio
import json
import sys
from collections.abc import Awaitable, Callable
from datetime import timedelta
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
from typing import Any, NoReturn, TypeVar

import typer
from rich.console import Console
from rich.table import Table

from cli.target import TargetError, build_container
from shared.bootstrap import Container
from shared.errors import (
    ConfigurationError,
    GraphError,
    GraphNotFoundError,
    JobNotFoundError,
    MfaopsError,
    NotIndependentError,
)
from shared.jobs.model import JobKind, JobState
from shared.jobs.view import job_view
from shared.reset.request import check_user

EXIT_OK, EXIT_FAILED, EXIT_USAGE, EXIT_REFUSED = 0, 1, 2, 3
HELP = __doc__
T = TypeVar("T")

app = typer.Typer(help=HELP, no_args_is_help=True, add_completion=False, pretty_exceptions_enable=False)
jobs_app = typer.Typer(help="Jobs in the job store: list, show.", no_args_is_help=True)
app.add_typer(jobs_app, name="jobs")
tap_app = typer.Typer(help="Temporary Access Passes: the sweep.", no_args_is_help=True)
app.add_typer(tap_app, name="tap")
cleanup_app = typer.Typer(help="Stale-method cleanup by policy: plan, apply, show.", no_args_is_help=True)
app.add_typer(cleanup_app, name="cleanup")
dlq_app = typer.Typer(help="The reset queue's dead letters: list, show, replay, purge.", no_args_is_help=True)
app.add_typer(dlq_app, name="dlq")
# Markup off on every console: tables and messages carry values from tenants and callers (a method named "[/]"
# crashed the renderer, "[link=...]" made a live link), and none of our own output uses markup.
err = Console(stderr=True, soft_wrap=True, markup=False, highlight=False)
out = Console(markup=False, highlight=False)


class State:
    json = False
    local = False
    verbose = False
    env_file: Path | None = None


state = State()


@app.callback()
def main(json_output: bool = typer.Option(False, "--json", help="One JSON document on stdout, nothing else."),
         local: bool = typer.Option(False, "--local", help="Act on the system `make run` serves from here."),
         verbose: bool = typer.Option(False, "--verbose", help="Say more on stderr."),
         env_file: Path | None = typer.Option(None, "--env-file", help="Read app settings from this file too.")
         ) -> None:
    state.json, state.local, state.verbose, state.env_file = json_output, local, verbose, env_file


def fail(message: str, code: int) -> NoReturn:
    err.print(f"error: {message}", markup=False, highlight=False)
    raise typer.Exit(code)


def run(work: Callable[[Container], Awaitable[T]]) -> T:
    """Build the target, run one service call, close; every failure one line on stderr and its exit code."""
    return run_on(container_or_exit(), work)


def run_on(container: Container, work: Callable[[Container], Awaitable[T]], *, reraise: bool = False) -> T:
    """One event loop per command: the container's clients live in it, and it closes them."""
    async def go() -> T:
        import click

        from shared.telemetry.setup import configure_telemetry
        from shared.telemetry.spans import job_span

        configure_telemetry()  # nothing unless APPLICATIONINSIGHTS_CONNECTION_STRING or OTEL_TRACES_EXPORTER is set
        context = click.get_current_context(silent=True)
        try:  # the command's path only ("mfaops reset"), never its arguments (UPNs, reasons)
            with job_span("cli", trigger="cli", command=context.command_path if context else "mfaops"):
                return await work(container)
        finally:
            await container.close()

    try:
        return asyncio.run(go())
    except KeyboardInterrupt:
        fail("interrupted: finished items are on the record; re-run with the same --batch-id to resume",
             EXIT_FAILED)
    except JobNotFoundError as exc:
        fail(str(exc), EXIT_USAGE)
    except NotIndependentError as exc:
        fail(str(exc), EXIT_USAGE)
    except GraphNotFoundError as exc:
        fail(f"not found in the tenant: {exc}", EXIT_USAGE)
    except ConfigurationError as exc:
        fail(str(exc), EXIT_USAGE)
    except (GraphError, MfaopsError) as exc:
        if reraise:
            raise
        fail(str(exc), EXIT_FAILED)
    except (OSError, ConnectionError) as exc:
        fail(f"cannot reach the service: {type(exc).__name__}: {exc}", EXIT_FAILED)


def emit(document: Any, table: Table | None = None) -> None:
    if state.json or table is None:
        sys.stdout.write(json.dumps(document, default=str) + "\n")
    else:
        out.print(table)


def valid_user(value: str) -> str:
    try:
        return check_user(value)
    except ValueError:
        fail(f"USER: {value!r} is not a user principal name or an object id", EXIT_USAGE)


@app.command("version")
def version_cmd() -> None:
    """The installed mfaops version.  Example: mfaops version"""
    try:
        number = version("mfaops")
    except PackageNotFoundError:
        number = "0+unknown"
    emit({"version": number}, None) if state.json else typer.echo(f"mfaops {number}")


@jobs_app.command("show")
def jobs_show(job_id: str) -> None:
    """One job, with every step.  Example: mfaops --local jobs show 3f2c...-..."""
    job = run(lambda c: c.job_store().get(job_id))
    view = job_view(job)
    table = Table(title=f"job {job.job_id}: {job.kind.value} of {job.target.upn or job.target.id} — {job.state.value}")
    for column in ("at", "action", "outcome", "detail"):
        table.add_column(column)
    for step in view["steps"]:
        table.add_row(step["at"], step["action"], step["outcome"], step["detail"])
    emit(view, table)


@jobs_app.command("list")
def jobs_list(user: str = typer.Option("", "--user", help="UPN or object id"),
              job_state: str = typer.Option("", "--state", help="|".join(s.value for s in JobState)),
              kind: str = typer.Option("", "--kind", help="|".join(k.value for k in JobKind)),
              limit: int = typer.Option(50, "--limit", min=1, max=1000)) -> None:
    """Jobs, newest first, by user (the by-user index), by state or by kind (any of the three together narrow
    each other).  Example: mfaops jobs list --kind containment --state failed"""
    if not user and not job_state and not kind:
        fail("give --user, --state or --kind", EXIT_USAGE)
    if job_state and job_state not in {s.value for s in JobState}:
        fail(f"--state: one of {', '.join(s.value for s in JobState)}", EXIT_USAGE)
    if kind and kind not in {k.value for k in JobKind}:
        fail(f"--kind: one of {', '.join(k.value for k in JobKind)}", EXIT_USAGE)
    if user:
        valid_user(user)

    async def work(c: Container) -> list[Any]:
        store = c.job_store()
        wide = 100_000 if (user, job_state, kind).count("") < 2 else limit  # narrowed below: read them all
        if user:
            found = await store.list_for_user(user, limit=wide)
        elif job_state:
            found = await store.list_by_state(JobState(job_state), limit=wide)
        else:
            found = await store.list_by_kind(JobKind(kind), limit=wide)
        return [j for j in found if (not job_state or j.state.value == job_state)
                and (not kind or j.kind.value == kind)][:limit]

    jobs = run(work)
    table = Table(title="jobs")
    for column in ("job_id", "kind", "state", "target", "created_at"):
        table.add_column(column)
    for job in jobs:
        table.add_row(job.job_id, job.kind.value, job.state.value, job.target.upn or job.target.id,
                      job.created_at.isoformat())
    emit({"jobs": [job_view(j) for j in jobs]}, table)


@app.command("who-reset")
def who_reset(user: str) -> None:
    """Who reset this user's MFA, when, why, on which ticket, what was removed (newest first, from the by-user
    index).  Example: mfaops --local who-reset ada.lovelace@contoso.example"""
    valid_user(user)

    async def work(c: Container) -> list[Any]:
        found = await c.job_store().list_for_user(user, limit=100)
        return [j for j in found if j.kind.value in ("reset", "self_service")]

    jobs = run(work)
    rows = []
    for job in jobs:
        approvers = [s.data.get("by", "") for s in job.steps if s.action in ("retry", "approval")
                     or (s.action == "proof" and s.outcome.endswith(("approved", "passed")))]
        options = next((s for s in job.steps if s.action == "options"), None)
        why = str(options.data.get("reason", "")) if options else ""
        rows.append({"job_id": job.job_id, "state": job.state.value, "at": job.created_at.isoformat(), "reason": why,
                     "requested_by": job.requested_by, "approved_by": approvers, "source": job.source.to_dict(),
                     "methods_removed": job.methods_removed})
    table = Table(title=f"resets of {user}")
    for column in ("at", "state", "ticket", "requested by", "removed"):
        table.add_column(column)
    for row in rows:
        table.add_row(row["at"], row["state"], row["source"].get("number", row["source"].get("kind", "")),
                      row["requested_by"], ", ".join(m["type"] for m in row["methods_removed"]))
    emit({"user": user, "resets": rows}, table)


def _mask(value: str) -> str:
    """All but the last two digits (a phone number) or characters (anything else) hidden."""
    from shared.verify.model import mask_number

    if any(c.isdigit() for c in value) and not any(c.isalpha() for c in value):
        return mask_number(value)
    return "*" * max(0, len(value) - 2) + value[-2:]


@app.command("methods")
def methods(user: str) -> None:
    """The user's authentication methods, the default marked, phone numbers masked but the last two digits.
    Example: mfaops --local methods ada.lovelace@contoso.example"""
    valid_user(user)
    snapshot = run(lambda c: c.graph().snapshot(user))
    from shared.reset.plan import DEFAULT_KINDS

    kind = DEFAULT_KINDS.get(snapshot.default_method or "")
    rows: list[dict[str, Any]] = []
    table = Table(title=f"methods of {snapshot.user.upn} (default {snapshot.default_method or 'none'})")
    for column in ("type", "id", "detail", "created", "default"):
        table.add_column(column)
    for m in snapshot.methods:
        is_default = kind is not None and m.type == kind[0] and (kind[1] is None or m.label == kind[1])
        # Graph's field names; a phone number or e-mail address shows its last two characters only.
        row = {"@odata.type": m.graph.get("@odata.type", ""), "id": m.id, **{
            k: (_mask(str(v)) if k in ("phoneNumber", "emailAddress") else v) for k, v in m.graph.items()
            if k not in ("@odata.type", "id")}, "isDefault": is_default}
        rows.append(row)
        detail = " ".join(str(x) for x in (row.get("phoneType"), row.get("phoneNumber"), row.get("emailAddress"),
                                            row.get("displayName"), row.get("model")) if x)
        table.add_row(m.type, m.id, detail, m.created.isoformat() if m.created else "", "yes" if is_default else "")
    emit({"user": {"id": snapshot.user.id, "userPrincipalName": snapshot.user.upn},
          "userPreferredMethodForSecondaryAuthentication": snapshot.default_method, "methods": rows}, table)


# -- changing things ------------------------------------------------------------------------------------------
def valid_upn(value: str, option: str) -> str:
    from shared.reset.request import is_upn

    if not is_upn(value):
        fail(f"{option}: {value!r} is not a user principal name", EXIT_USAGE)
    return value


def valid_reason(value: str) -> str:
    if not value.strip() or len(value) > 500 or not value.isprintable():
        fail("--reason: say why, in printable text of at most 500 characters", EXIT_USAGE)
    return value


def confirm(question: str, yes: bool) -> None:
    """Every change asks on a terminal; --yes answers it; with no terminal and no --yes, nothing is done."""
    if yes:
        return
    if not sys.stdin.isatty():
        fail(f"{question} Not a terminal: pass --yes to go ahead", EXIT_USAGE)
    if not typer.confirm(question, default=False, err=True):
        fail("nothing was done", EXIT_USAGE)


async def acting(container: Container, by: str, *, required: bool = True) -> Any:
    """Who acts, said on stderr at start (inside the command's one event loop: the credential's session lives
    there). ``required`` False: a command whose changes are policy-driven (the TAP sweep) records an operator
    who gave no --by as such."""
    from cli.identity import Actor, IdentityError, who_acts

    try:
        who = await who_acts(container, by=by, local=state.local)
    except IdentityError as exc:
        if required or by:
            fail(str(exc), EXIT_USAGE)
        who = Actor(by="operator (no --by)", mode="local" if state.local else "app-only", asserted=True)
    except Exception as exc:  # no credential, no token: one line, not a traceback
        first = (str(exc).splitlines() or [""])[0][:200]
        fail(f"cannot get a token for Microsoft Graph: {type(exc).__name__}: {first}", EXIT_USAGE)
    err.print(who.describe(), markup=False, highlight=False)
    return who


def container_or_exit() -> Container:
    try:
        return build_container(local=state.local, env_file=state.env_file)
    except (TargetError, ConfigurationError) as exc:
        fail(str(exc), EXIT_USAGE)


# Rejections that are bad input, not a guardrail's refusal: the README's exit 2.
INPUT_REJECTIONS = frozenset({"user_not_found"})


def exit_for(job_state: str, code: str = "") -> int:
    if job_state == "rejected" and code in INPUT_REJECTIONS:
        return EXIT_USAGE
    return {"succeeded": EXIT_OK, "rejected": EXIT_REFUSED, "awaiting_approval": EXIT_REFUSED,
            "verification_failed": EXIT_REFUSED, "awaiting_verification": EXIT_OK}.get(job_state, EXIT_FAILED)


@app.command("reset")
def reset(user: str = typer.Argument("", help="UPN or object id (or --from-file)"),
          by: str = typer.Option("", "--by", help="UPN of who acts (from the token when delegated)"),
          reason: str = typer.Option("", "--reason", help="why, recorded on the job"),
          no_revoke: bool = typer.Option(False, "--no-revoke", help="keep sign-in sessions"),
          no_tap: bool = typer.Option(False, "--no-tap", help="issue no Temporary Access Pass"),
          reveal_tap: bool = typer.Option(False, "--reveal-tap", help="show the TAP once, here"),
          dry_run: bool = typer.Option(False, "--dry-run", help="show what would be removed; change nothing"),
          approved_by: str = typer.Option("", "--approved-by", help="a second person's UPN (privileged targets)"),
          from_file: Path | None = typer.Option(None, "--from-file", help="CSV with a 'user' column (bulk)"),
          batch_id: str = typer.Option("", "--batch-id", help="resume this bulk run: done users are skipped"),
          concurrency: int = typer.Option(4, "--concurrency", min=1, max=32),
          allow_over_limit: bool = typer.Option(False, "--allow-over-limit", help="a bulk run past the limit"),
          no_wait: bool = typer.Option(False, "--no-wait", help="return while the job awaits verification"),
          verify_policy: Path | None = typer.Option(None, "--verify-policy",
                                                    help="bulk: a policy that adds proofs to the tiers in force "
                                                         "(needs --approved-by)"),
          yes: bool = typer.Option(False, "--yes", help="do not ask")) -> None:
    """Reset a user's MFA by hand, guarded and recorded exactly like a ticket's reset.

    Example: mfaops --local reset ada.lovelace@contoso.example --by desk@contoso.example --reason "lost phone" --yes

    Bulk: mfaops reset --from-file users.csv --by secops@contoso.example --reason "phishing" --batch-id phish-1

    With the verification gate (VERIFY_POLICY), the job waits for its proofs: this command says where they stand
    and waits (exit 0 succeeded, 3 verification failed or refused, 1 failed); --no-wait returns at once (exit 0).
    """
    if from_file is not None:
        if user:
            fail("give USER or --from-file, not both", EXIT_USAGE)
        bulk(from_file, by, reason, batch_id, concurrency, allow_over_limit, approved_by, no_revoke, no_tap, yes,
             verify_policy)
        return
    if verify_policy is not None:
        fail("--verify-policy is for bulk runs (--from-file)", EXIT_USAGE)
    if not user:
        fail("USER (or --from-file) is required", EXIT_USAGE)
    valid_user(user)
    if by:
        valid_upn(by, "--by")
    if not dry_run:
        valid_reason(reason)
    if approved_by:
        valid_upn(approved_by, "--approved-by")
    container = container_or_exit()
    service = container.reset_service()
    if dry_run:
        async def look(c: Container) -> Any:
            await acting(c, by)
            return await service.preview(user, approved=bool(approved_by))

        preview = run_on(container, look)
        doc = {"dry_run": True, "user": {"id": preview.snapshot.user.id, "upn": preview.snapshot.user.upn},
               "verdict": {"decision": preview.verdict.decision.value, "code": preview.verdict.code,
                           "reason": preview.verdict.reason},
               "would_remove": [{"type": m.type, "id": m.id} for m in preview.remove],
               "kept": [{"type": m.type, "id": m.id} for m in preview.keep],
               "default_method": preview.snapshot.default_method}
        table = Table(title=f"dry run: reset of {preview.snapshot.user.upn} ({preview.verdict.decision.value}"
                            f"{': ' + preview.verdict.reason if preview.verdict.reason else ''})")
        table.add_column("would remove")
        table.add_column("id")
        for m in preview.remove:
            table.add_row(m.type, m.id)
        emit(doc, table)
        return
    from shared.reset.service import OperatorReset

    async def work(c: Container) -> tuple[Any, Any]:
        who = await acting(c, by)
        if approved_by and approved_by.lower() == who.by.lower():
            fail("--approved-by must be a second person, not --by", EXIT_USAGE)
        confirm(f"Reset the MFA of {user} (methods removed{'' if no_revoke else ', sessions revoked'}"
                f"{'' if no_tap else ', a TAP issued'})?", yes)
        if reveal_tap and not no_tap:
            delivery = await service.tap_delivery_for(user)
            if delivery != "operator":
                fail(f"--reveal-tap: the verification policy gives this user's TAP to the "
                     f"{delivery.replace('_', ' ')} (tap_delivery {delivery}), never to an operator: nothing was done",
                     EXIT_REFUSED)
        order = OperatorReset(user=user, by=who.by, reason=reason, revoke=not no_revoke, issue_tap=not no_tap,
                              approved_by=approved_by, by_asserted=who.asserted)
        job = await service.reset_by_operator(order)
        if job.state is JobState.AWAITING_VERIFICATION and not no_wait:
            job = await wait_for_verification(c, job)
        tap = None
        if reveal_tap and job.state is JobState.SUCCEEDED and any(
                s.action == "issue_tap" and s.outcome == "issued" for s in job.steps):
            tap = await service.retrieve_tap(job.job_id, by=who.by)
            job = await c.job_store().get(job.job_id)
        return job, tap

    job, tap = run_on(container, work)
    view = job_view(job)
    if tap is not None:
        view["temporaryAccessPass"] = tap.value.reveal()  # shown once, here; never logged or stored
        view["temporaryAccessPassExpires"] = tap.expires.isoformat()
    if state.json:
        emit(view)
    else:
        typer.echo(f"job {job.job_id}: {job.state.value}" + (f" ({job.error.code}: {job.error.message})"
                                                             if job.error else ""))
        for m in view["methods_removed"]:
            typer.echo(f"  removed {m['type']} {m['id']}")
        if tap is not None:
            typer.echo(f"  Temporary Access Pass (shown once): {tap.value.reveal()}  valid until "
                       f"{tap.expires.isoformat()}")
    raise typer.Exit(exit_for(job.state.value, job.error.code if job.error else ""))


async def wait_for_verification(c: Container, job: Any) -> Any:
    """Say where the proofs stand and wait, with a spinner on stderr, until the job leaves
    awaiting_verification (the expiry ends it at the latest: status() ends an expired one)."""
    from datetime import UTC, datetime

    v = job.verification
    err.print(f"job {job.job_id} awaits verification: {v.mode} of {', '.join(v.kinds)} (tier {v.tier}), expires "
              f"{v.expires_at.isoformat() if v.expires_at else '?'}; `mfaops verify status {job.job_id}` shows it",
              markup=False, highlight=False)
    service = c.verification_service()
    with err.status("waiting for the proofs (Ctrl-C stops waiting; the job goes on)", spinner="dots"):
        while job.state is JobState.AWAITING_VERIFICATION:
            await asyncio.sleep(1.0)
            job = await service.status(job.job_id)
            if v.expires_at and datetime.now(UTC) > v.expires_at + timedelta(minutes=5):
                break  # a clock apart from the store's: give the job back as it stands
    while job.state in (JobState.QUEUED, JobState.RUNNING):  # a ticket's job goes on through the queue
        await asyncio.sleep(1.0)
        job = await c.job_store().get(job.job_id)
    return job


def bulk(path: Path, by: str, reason: str, batch_id: str, concurrency: int, allow_over_limit: bool,
         approved_by: str, no_revoke: bool, no_tap: bool, yes: bool, verify_policy: Path | None = None) -> None:
    from shared.reset.bulk import MAX_CSV_BYTES, parse_users_csv, pending_rows, run_bulk

    if not path.is_file():
        fail(f"--from-file: no file at {path}", EXIT_USAGE)
    if path.stat().st_size > MAX_CSV_BYTES:
        fail(f"--from-file: {path} is over {MAX_CSV_BYTES // (1024 * 1024)} MiB (split it into batches)", EXIT_USAGE)
    try:
        text = path.read_text(encoding="utf-8-sig")
    except (OSError, UnicodeDecodeError) as exc:
        fail(f"--from-file: cannot read {path}: {exc}", EXIT_USAGE)
    rows, bad = parse_users_csv(text)
    for line in bad:
        err.print(f"{path}:{line.line}: {line.message}", markup=False, highlight=False)
    if not rows:
        fail(f"{path}: no valid rows", EXIT_USAGE)
    if by:
        valid_upn(by, "--by")
    valid_reason(reason)
    if approved_by:
        valid_upn(approved_by, "--approved-by")
    if allow_over_limit and not approved_by:
        fail("--allow-over-limit needs --approved-by (a second person)", EXIT_USAGE)
    stricter = ""
    if verify_policy is not None:
        stricter = bulk_verify_policy(verify_policy, approved_by)
    import re
    import secrets
    from datetime import UTC, datetime

    if batch_id and not re.fullmatch(r"[A-Za-z0-9._-]{1,64}", batch_id):
        fail("--batch-id: 1-64 letters, digits, '.', '_' or '-'", EXIT_USAGE)
    batch = batch_id or f"bulk-{datetime.now(UTC):%Y%m%d%H%M%S}-{secrets.token_hex(3)}"
    container = container_or_exit()
    service = container.reset_service()
    tty = sys.stderr.isatty() and not state.json

    async def work(c: Container) -> Any:
        from rich.progress import Progress

        who = await acting(c, by)
        if approved_by and approved_by.lower() == who.by.lower():
            fail("--approved-by must be a second person, not --by", EXIT_USAGE)
        limit = c.settings.resets_per_hour_limit
        if not batch_id and len(rows) > limit and not allow_over_limit:  # a new batch: refused before any read
            fail(f"{len(rows)} resets are more than RESETS_PER_HOUR_LIMIT={limit}: nothing was done (use "
                 "--allow-over-limit --approved-by UPN)", EXIT_REFUSED)
        todo = await pending_rows(service, rows, batch, resumed=bool(batch_id))
        if len(todo) > limit and not allow_over_limit:
            fail(f"{len(todo)} resets are more than RESETS_PER_HOUR_LIMIT={limit}: nothing was done (use "
                 "--allow-over-limit --approved-by UPN)", EXIT_REFUSED)
        err.print(f"batch {batch}: {len(rows)} users, {len(rows) - len(todo)} done by an earlier run", markup=False,
                  highlight=False)
        confirm(f"Reset the MFA of {len(todo)} users (batch {batch})?", yes)

        progress = Progress(console=err, transient=False) if tty else None
        task = progress.add_task("resetting", total=len(rows)) if progress else None
        done = 0

        def on_item(item: Any) -> None:
            nonlocal done
            done += 1
            line = {"kind": "item", "line": item.line, "user": item.user, "job_id": item.job_id,
                    "state": item.state, "code": item.code, "skipped": item.skipped}
            if state.json:
                sys.stdout.write(json.dumps(line) + "\n")
                sys.stdout.flush()
            elif progress is not None and task is not None:
                progress.advance(task)
            else:
                err.print(f"[{done}/{len(rows)}] line {item.line} {item.user}: {item.state}"
                          + (f" ({item.code})" if item.code else "") + (" (done earlier)" if item.skipped else ""),
                          markup=False, highlight=False)

        if progress is not None:
            progress.start()
        try:
            return await run_bulk(service, rows, by=who.by, reason=reason, batch_id=batch, concurrency=concurrency,
                                  revoke=not no_revoke, issue_tap=not no_tap, approved_by=approved_by,
                                  over_limit=allow_over_limit, by_asserted=who.asserted, verify_policy=stricter,
                                  on_item=on_item)
        finally:
            if progress is not None:
                progress.stop()

    summary = run_on(container, work)
    summary.invalid = list(bad)
    doc = summary.to_dict()
    if state.json:
        sys.stdout.write(json.dumps({"kind": "summary", **doc}) + "\n")
    else:
        table = Table(title=f"batch {batch}")
        table.add_column("outcome")
        table.add_column("users", justify="right")
        table.add_row("succeeded", str(summary.succeeded))
        table.add_row("  of which done by an earlier run", str(summary.skipped))
        table.add_row("awaiting verification", str(summary.awaiting_verification))
        for code, n in sorted(summary.refused.items()):
            table.add_row(f"refused: {code}", str(n))
        for code, n in sorted(summary.failed.items()):
            table.add_row(f"failed: {code}", str(n))
        table.add_row("invalid lines", str(len(bad)))
        out.print(table)
    code = EXIT_FAILED if summary.failed or bad else EXIT_REFUSED if summary.refused else EXIT_OK
    raise typer.Exit(code)


def policy_file(path: Path, option: str, load: Callable[[str], T], invalid: type[Exception]) -> T:
    """A policy file named by ``option``, parsed by ``load``; a missing, unreadable or invalid one: exit 2."""
    if not path.is_file():
        fail(f"{option}: no file at {path}", EXIT_USAGE)
    try:
        return load(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError) as exc:
        fail(f"{option}: cannot read {path}: {type(exc).__name__}", EXIT_USAGE)
    except invalid as exc:
        fail(f"{path}: {exc}", EXIT_USAGE)


def bulk_verify_policy(path: Path, approved_by: str) -> str:
    """A bulk run's --verify-policy: it may only add proofs to the tiers in force (exit 3 otherwise), and a second
    person approves it (--approved-by). The policy as JSON, for the jobs to keep."""
    from shared.errors import ConfigurationError
    from shared.verify.policy import VerifyPolicyError, load_verify_policy, policy_in_force, strengthens

    if not approved_by:
        fail("--verify-policy needs --approved-by (a second person)", EXIT_USAGE)
    stricter = policy_file(path, "--verify-policy", load_verify_policy, VerifyPolicyError)
    try:
        in_force = policy_in_force(container_or_exit().settings.verify_policy)
    except (VerifyPolicyError, ConfigurationError) as exc:
        fail(str(exc), EXIT_USAGE)
    if in_force is None:
        fail("--verify-policy: VERIFY_POLICY=none here; a bulk run cannot turn the gate on by itself", EXIT_REFUSED)
    why = strengthens(stricter, in_force)
    if why:
        fail(f"--verify-policy {path}: {why}: nothing was done", EXIT_REFUSED)
    return stricter.model_dump_json()


@jobs_app.command("retry")
def jobs_retry(job_id: str, by: str = typer.Option("", "--by"), reason: str = typer.Option("", "--reason"),
               yes: bool = typer.Option(False, "--yes"),
               allow_over_limit: bool = typer.Option(False, "--allow-over-limit",
                                                     help="go over RESETS_PER_HOUR_LIMIT (needs --approved-by)"),
               approved_by: str = typer.Option("", "--approved-by",
                                               help="the second person who approves going over the limit")) -> None:
    """Approve a parked job or re-run a failed one, on the record. A retry never goes over the blast-radius limit
    unless --allow-over-limit --approved-by names a second person.
    Example: mfaops --local jobs retry 3f2c... --by secops@contoso.example --reason "approved on the phone" --yes"""
    if by:
        valid_upn(by, "--by")
    valid_reason(reason)
    if allow_over_limit and not approved_by:
        fail("--allow-over-limit needs --approved-by (a second person)", EXIT_USAGE)
    if approved_by:
        valid_upn(approved_by, "--approved-by")
    container = container_or_exit()
    from shared.errors import InvalidTransitionError

    async def work(c: Container) -> Any:
        who = await acting(c, by)
        await c.job_store().get(job_id)  # an unknown job is a usage error before the question
        confirm(f"Retry job {job_id}?", yes)
        try:
            return await c.reset_service().retry(job_id, by=who.by, reason=reason, allow_over_limit=allow_over_limit,
                                                 approved_by=approved_by)
        except NotIndependentError as exc:
            fail(str(exc), EXIT_USAGE)

    try:
        job = run_on(container, work, reraise=True)
    except InvalidTransitionError as exc:
        fail(str(exc), EXIT_REFUSED)
    emit(job_view(job), None) if state.json else typer.echo(f"job {job.job_id}: {job.state.value}")


@dlq_app.command("list")
def dlq_list() -> None:
    """Dead letters of the reset queue, newest first.  Example: mfaops --local dlq list"""
    letters = run(lambda c: c.reset_service().dead_letters.list())  # type: ignore[union-attr]
    table = Table(title="dead letters")
    for column in ("message_id", "job_id", "deliveries", "reason", "at"):
        table.add_column(column)
    for d in letters:
        table.add_row(d.message.message_id, d.job_id, str(d.message.delivery_count), d.reason,
                      d.dead_lettered_at.isoformat())
    emit({"dead_letters": [d.to_dict() for d in letters]}, table)


@dlq_app.command("show")
def dlq_show(message_id: str) -> None:
    """One dead letter, with its body.  Example: mfaops --local dlq show sc_req_item:...:reset_mfa"""
    letter = run(lambda c: c.reset_service().dead_letters.get(message_id))  # type: ignore[union-attr]
    if letter is None:
        fail(f"no dead letter {message_id!r}", EXIT_USAGE)
    doc = {**letter.to_dict(), "body": letter.message.body.decode("utf-8", "replace")}
    emit(doc, None) if state.json else typer.echo(json.dumps(doc, indent=2))


@dlq_app.command("replay")
def dlq_replay(message_id: str = typer.Argument("", help="a dead letter's message id (or --all)"),
               all_: bool = typer.Option(False, "--all", help="every dead letter"),
               by: str = typer.Option("", "--by"), yes: bool = typer.Option(False, "--yes")) -> None:
    """Put dead letters back on the queue under a new message id; their jobs record the replay.
    Example: mfaops --local dlq replay --all --by secops@contoso.example --yes"""
    if bool(message_id) == all_:
        fail("give MESSAGE_ID or --all", EXIT_USAGE)
    if by:
        valid_upn(by, "--by")
    container = container_or_exit()
    service = container.reset_service()
    store = service.dead_letters
    assert store is not None

    async def work(c: Container) -> list[Any]:
        who = await acting(c, by)
        ids = [message_id] if message_id else [d.message.message_id for d in await store.list(limit=100_000)]
        confirm(f"Replay {len(ids)} dead letter(s)?", yes)
        return [await service.replay(i, by=who.by) for i in ids]

    jobs = run_on(container, work)
    emit({"replayed": [{"job_id": j.job_id, "state": j.state.value} for j in jobs]}, None) if state.json else \
        typer.echo(f"replayed {len(jobs)} dead letter(s)")


@dlq_app.command("purge")
def dlq_purge(yes: bool = typer.Option(False, "--yes")) -> None:
    """Delete every dead letter (their jobs stay failed, on the record).  Example: mfaops --local dlq purge --yes"""
    container = container_or_exit()
    confirm("Purge every dead letter?", yes)
    store = container.reset_service().dead_letters
    assert store is not None
    count = run_on(container, lambda c: store.purge())
    emit({"purged": count}, None) if state.json else typer.echo(f"purged {count} dead letter(s)")


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


@cleanup_app.command("plan")
def cleanup_plan(policy: Path = typer.Option(..., "--policy", help="the policy file (YAML)")) -> None:
    """Plan a cleanup: what the policy would remove, stored for `cleanup apply`. Over the policy's
    max_removals_per_run the plan is refused (exit 3) and an alert says why.
    Example: mfaops --local --json cleanup plan --policy integrations/cleanup/policy.example.yaml"""
    from shared.cleanup.policy import PolicyError, load_policy

    parsed = policy_file(policy, "--policy", load_policy, PolicyError)
    try:
        plan = run_on(container_or_exit(), lambda c: c.cleanup_service().plan(parsed), reraise=True)
    except PolicyError as exc:  # a group the policy names does not exist: the policy is wrong, not the run
        fail(f"{policy}: {exc}", EXIT_USAGE)
    table = Table(title=f"cleanup plan {plan.plan_id} ({plan.status}): {len(plan.items)} of at most {plan.limit}")
    for column in ("user", "method_type", "method_id", "rule"):
        table.add_column(column)
    for item in plan.items:
        table.add_row(item.upn or item.user, item.method_type, item.method_id, item.rule)
    shown = plan.to_dict()
    if "unknown" in shown:  # `unused` rules: what could not be judged, and what stays so users keep a method
        table.caption = (f"unknown (no lastUsedDateTime from Graph, never taken as unused): "
                         f"{shown['unknown']['count']}; kept so the user keeps a method: {len(shown['held'])}")
    emit(shown, table)
    if plan.status == "refused":
        err.print(f"refused: {len(plan.items)} removals are more than max_removals_per_run={plan.limit}; nothing "
                  "will be applied", markup=False, highlight=False)
        raise typer.Exit(EXIT_REFUSED)


@cleanup_app.command("show")
def cleanup_show(plan_id: str) -> None:
    """A stored plan.  Example: mfaops --local cleanup show 6b1f..."""
    plan = run(lambda c: c.cleanup_service().show(plan_id))
    emit(plan.to_dict(), None) if state.json else typer.echo(json.dumps(plan.to_dict(), indent=2))


@cleanup_app.command("apply")
def cleanup_apply(plan_id: str, by: str = typer.Option("", "--by", help="UPN of who acts"),
                  yes: bool = typer.Option(False, "--yes"),
                  approved_by: str = typer.Option("", "--approved-by", help="a second person's UPN: needed when "
                                                  "the plan touches privileged users")) -> None:
    """Apply a plan once: each item's user is read again; a method gone or a user out of scope is skipped with
    the reason; a default method goes last. A plan that removes privileged users' methods needs --approved-by
    (exit 3 without it).
    Example: mfaops --local cleanup apply 6b1f... --by ops@contoso.example --yes"""
    from shared.cleanup.service import PlanStateError

    if by:
        valid_upn(by, "--by")
    if approved_by:
        valid_upn(approved_by, "--approved-by")
    container = container_or_exit()

    async def work(c: Container) -> Any:
        service = c.cleanup_service()
        plan = await service.show(plan_id)
        who = await acting(c, by, required=False)
        confirm(f"Apply cleanup plan {plan_id} ({len(plan.items)} removals, {plan.status})?", yes)
        return await service.apply(plan_id, by=who.by, approved_by=approved_by)

    try:
        result = run_on(container, work, reraise=True)
    except PlanStateError as exc:
        fail(str(exc), EXIT_REFUSED)
    if state.json:
        emit(result)
    else:
        typer.echo(f"plan {plan_id}: {result['removed']} removed, {len(result['skipped'])} skipped, "
                   f"{len(result['failed'])} failed (job {result['job_id']})")
        for skipped in result["skipped"]:
            typer.echo(f"  skipped {skipped['upn'] or skipped['user']} {skipped['method_type']}: {skipped['reason']}")
    raise typer.Exit(EXIT_FAILED if result["failed"] else EXIT_OK)


@app.command("doctor")
def doctor() -> None:
    """Check every setting, reach Graph, Storage, Service Bus and ServiceNow, and list what the identity lacks
    per feature; each check pass/fail with one line of fix.  Example: mfaops --local doctor"""
    from cli.doctor import diagnose

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


def _register_families() -> None:
    # Command families in modules of their own; they import this module's helpers, so they come last.
    from cli.inventory import inventory_app
    from cli.monitor import monitor_app
    from cli.posture import posture_app
    from cli.report import report_app
    from cli.verify import verify_app

    app.add_typer(monitor_app, name="monitor")
    app.add_typer(posture_app, name="posture")
    app.add_typer(verify_app, name="verify")
    app.add_typer(inventory_app, name="inventory")
    app.add_typer(report_app, name="report")


_register_families()


def entry() -> None:
    """Console script: Typer's usage errors exit 2 as documented; nothing escapes as a traceback."""
    try:
        app()
    except KeyboardInterrupt:
        err.print("interrupted: finished items are on the record; re-run with the same --batch-id to resume")
        sys.exit(EXIT_FAILED)
    except Exception as exc:  # the promise is one line and an exit code, never a traceback
        first = (str(exc).splitlines() or [""])[0][:300]
        err.print(f"error: {type(exc).__name__}: {first}", markup=False, highlight=False)
        sys.exit(EXIT_FAILED)


if __name__ == "__main__":
    entry()
