"""``mfaops``: the same guarded services as the Functions app, by hand.

Exit codes: 0 ok; 1 the operation failed; 2 usage or input error (nothing was done); 3 refused by a guardrail.
"""

from __future__ import annotations

import asyncio
import json
import sys
from collections.abc import Awaitable, Callable
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
from typing import Any, NoReturn, TypeVar

import typer
from rich.console import Console
from rich.table import Table

from cli.target import TargetError, build_container
from shared.bootstrap import Container
from shared.errors import ConfigurationError, GraphError, GraphNotFoundError, JobNotFoundError, MfaopsError
from shared.jobs.model import JobState
from shared.jobs.view import job_view
from shared.reset.request import check_user

EXIT_OK, EXIT_FAILED, EXIT_USAGE, EXIT_REFUSED = 0, 1, 2, 3
HELP = __doc__
T = TypeVar("T")

app = typer.Typer(help=HELP, no_args_is_help=True, add_completion=False, pretty_exceptions_enable=False)
jobs_app = typer.Typer(help="Jobs in the job store: list, show.", no_args_is_help=True)
app.add_typer(jobs_app, name="jobs")
err = Console(stderr=True, soft_wrap=True)


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
    try:
        container = build_container(local=state.local, env_file=state.env_file)
    except (TargetError, ConfigurationError) as exc:
        fail(str(exc), EXIT_USAGE)

    async def go() -> T:
        try:
            return await work(container)
        finally:
            await container.close()

    try:
        return asyncio.run(go())
    except JobNotFoundError as exc:
        fail(str(exc), EXIT_USAGE)
    except GraphNotFoundError as exc:
        fail(f"not found in the tenant: {exc}", EXIT_USAGE)
    except ConfigurationError as exc:
        fail(str(exc), EXIT_USAGE)
    except (GraphError, MfaopsError) as exc:
        fail(str(exc), EXIT_FAILED)
    except (OSError, ConnectionError) as exc:
        fail(f"cannot reach the service: {type(exc).__name__}: {exc}", EXIT_FAILED)


def emit(document: Any, table: Table | None = None) -> None:
    if state.json or table is None:
        sys.stdout.write(json.dumps(document, default=str) + "\n")
    else:
        Console().print(table)


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
              limit: int = typer.Option(50, "--limit", min=1, max=1000)) -> None:
    """Jobs, newest first, by user (the by-user index) or by state.  Example: mfaops jobs list --state failed"""
    if not user and not job_state:
        fail("give --user or --state", EXIT_USAGE)
    if job_state and job_state not in {s.value for s in JobState}:
        fail(f"--state: one of {', '.join(s.value for s in JobState)}", EXIT_USAGE)

    async def work(c: Container) -> list[Any]:
        store = c.job_store()
        found = await (store.list_for_user(valid_user(user), limit=limit) if user else
                       store.list_by_state(JobState(job_state), limit=limit))
        return [j for j in found if not job_state or j.state.value == job_state]

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
        return [j for j in await c.job_store().list_for_user(user, limit=100) if j.kind.value == "reset"]

    jobs = run(work)
    rows = []
    for job in jobs:
        approvers = [s.data.get("by", "") for s in job.steps if s.action == "retry"]
        rows.append({"job_id": job.job_id, "state": job.state.value, "at": job.created_at.isoformat(),
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
    digits = [c for c in value if c.isdigit()]
    return "*" * max(0, len(digits) - 2) + "".join(digits[-2:]) if digits else value


@app.command("methods")
def methods(user: str) -> None:
    """The user's authentication methods, the default marked, phone numbers masked but the last two digits.
    Example: mfaops --local methods ada.lovelace@contoso.example"""
    valid_user(user)
    snapshot = run(lambda c: c.graph().snapshot(user))
    from shared.reset.plan import DEFAULT_KINDS

    kind = DEFAULT_KINDS.get(snapshot.default_method or "")
    rows: list[dict[str, Any]] = []
    for m in snapshot.methods:
        is_default = kind is not None and m.type == kind[0] and (kind[1] is None or m.label == kind[1])
        rows.append({"type": m.type, "id": m.id, "detail": m.label, "createdDateTime":
                     m.created.isoformat() if m.created else None, "isDefault": is_default})
    table = Table(title=f"methods of {snapshot.user.upn} (default {snapshot.default_method or 'none'})")
    for column in ("type", "id", "detail", "created", "default"):
        table.add_column(column)
    for row in rows:
        table.add_row(row["type"], row["id"], _mask(row["detail"]), row["createdDateTime"] or "",
                      "yes" if row["isDefault"] else "")
    emit({"user": {"id": snapshot.user.id, "userPrincipalName": snapshot.user.upn},
          "userPreferredMethodForSecondaryAuthentication": snapshot.default_method, "methods": rows}, table)


def entry() -> None:
    """Console script: Typer's usage errors exit 2 as documented; nothing escapes as a traceback."""
    try:
        app()
    except KeyboardInterrupt:
        err.print("interrupted")
        sys.exit(EXIT_FAILED)


if __name__ == "__main__":
    entry()
