"""``mfaops reset``: one user by hand, guarded and recorded like a ticket's reset (a file in bulk: cli/bulk.py)."""

from __future__ import annotations

import asyncio
from datetime import timedelta
from pathlib import Path
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
    err,
    exit_for,
    fail,
    run_on,
    state,
    valid_reason,
    valid_upn,
    valid_user,
)
from cli.bulk import bulk
from shared.bootstrap import Container
from shared.jobs.model import JobState
from shared.jobs.view import job_view


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


