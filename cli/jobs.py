"""``mfaops jobs`` (show, list, retry) and ``mfaops who-reset``: the job store, read and retried."""

from __future__ import annotations

from typing import Any

import typer
from rich.table import Table

from cli.app import (
    EXIT_REFUSED,
    EXIT_USAGE,
    acting,
    confirm,
    container_or_exit,
    emit,
    fail,
    run,
    run_on,
    state,
    valid_reason,
    valid_upn,
    valid_user,
)
from shared.bootstrap import Container
from shared.errors import (
    NotIndependentError,
)
from shared.jobs.model import JobKind, JobState
from shared.jobs.view import job_view

jobs_app = typer.Typer(help="Jobs in the job store: list, show.", no_args_is_help=True)


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


