"""``mfaops verify``: where a reset's proof of identity stands, the manager's notice again, and the agent's
call-back attestation."""

from __future__ import annotations

from typing import Any

import typer
from rich.table import Table

from cli.app import EXIT_OK, EXIT_REFUSED, EXIT_USAGE, acting, container_or_exit, emit, fail, run, run_on
from shared.bootstrap import Container
from shared.errors import VerificationError
from shared.jobs.model import Job

verify_app = typer.Typer(help="Proof before reset: status, resend the manager's notice, attest a call-back.",
                         no_args_is_help=True)


def verification_table(job: Job) -> Table:
    v = job.verification
    title = f"job {job.job_id}: {job.state.value}"
    if v is not None:
        title += f" — verification {v.state} (tier {v.tier or 'none'}, {v.mode} of {', '.join(v.kinds) or 'nothing'}" \
                 f", TAP to {v.tap_delivery.replace('_', ' ')})"
    table = Table(title=title)
    for column in ("proof", "state", "by", "at", "reason"):
        table.add_column(column)
    for proof in v.proofs if v is not None else []:
        table.add_row(proof.kind, proof.state, proof.by or "", proof.at.isoformat() if proof.at else "",
                      proof.reason or "")
    return table


def status_doc(job: Job, settings: Any = None) -> dict[str, Any]:
    doc: dict[str, Any] = {"job_id": job.job_id, "state": job.state.value,
                           "verification": job.verification.view() if job.verification else None}
    if settings is not None and job.verification is not None and job.verification.proof("verified_id") is not None:
        from shared.verify.gate import user_page

        doc["user_page"] = user_page(settings, job.verification)  # the link the agent gives the user
    return doc


@verify_app.command("status")
def verify_status(job_id: str) -> None:
    """Where a job's verification stands (an expired one is ended on the way).
    Example: mfaops --local verify status 3f2c...-..."""
    container = container_or_exit()
    job = run_on(container, lambda c: c.verification_service().status(job_id))
    doc = status_doc(job, container.settings)
    table = verification_table(job)
    if "user_page" in doc:
        table.caption = f"the user's page: {doc['user_page']}"
    emit(doc, table)


@verify_app.command("resend")
def verify_resend(job_id: str) -> None:
    """Send the manager's notice (mail, Teams) again.  Example: mfaops --local verify resend 3f2c...-..."""

    async def work(c: Container) -> Job:
        try:
            return await c.verification_service().resend(job_id)
        except VerificationError as exc:
            fail(str(exc), EXIT_USAGE)

    job = run(work)
    sent = [s for s in job.steps if s.action == "notify_manager"][-2:]
    emit({**status_doc(job), "notices": [{"outcome": s.outcome, "detail": s.detail} for s in sent]},
         verification_table(job))


@verify_app.command("callback")
def verify_callback(job_id: str,
                    last4: str = typer.Option(..., "--last4", help="last four digits of the number you called"),
                    confirmed: bool = typer.Option(False, "--confirmed", help="the user confirmed they asked"),
                    refused: bool = typer.Option(False, "--refused", help="the user said they did not ask"),
                    by: str = typer.Option("", "--by", help="UPN of who called (from the token when delegated)")
                    ) -> None:
    """Attest a call-back to the number on record (the directory's mobilePhone, else its first businessPhones;
    never a number the caller gives). Exit 3 when the call-back failed the verification.

    Example: mfaops --local verify callback 3f2c...-... --last4 0101 --confirmed --by desk@contoso.example"""
    if confirmed == refused:
        fail("give exactly one of --confirmed and --refused", EXIT_USAGE)
    if not (len(last4) == 4 and last4.isascii() and last4.isdigit()):
        fail("--last4: the last four digits of the number you called", EXIT_USAGE)
    container = container_or_exit()

    async def work(c: Container) -> tuple[Job | None, VerificationError | None]:
        who = await acting(c, by)
        try:
            return await c.verification_service().attest_callback(job_id, by=who.by, last4=last4,
                                                                  confirmed=confirmed), None
        except VerificationError as exc:
            if exc.status != 422:
                fail(str(exc), EXIT_USAGE)
            return await c.job_store().get(job_id), exc

    job, mismatch = run_on(container, work)
    assert job is not None
    emit(status_doc(job), verification_table(job))
    if mismatch is not None:
        fail(str(mismatch), EXIT_REFUSED)
    raise typer.Exit(EXIT_REFUSED if job.state.value == "verification_failed" else EXIT_OK)
