"""The bulk half of ``mfaops reset --from-file``: the file, the run, the summary, and a stricter verification policy."""

from __future__ import annotations

import json
import sys
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
    err,
    fail,
    out,
    policy_file,
    run_on,
    state,
    valid_reason,
    valid_upn,
)
from shared.bootstrap import Container
from shared.errors import (
    ConfigurationError,
)


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




def bulk_verify_policy(path: Path, approved_by: str) -> str:
    """A bulk run's --verify-policy: it may only add proofs to the tiers in force (exit 3 otherwise), and a second
    person approves it (--approved-by). The policy as JSON, for the jobs to keep."""
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


