"""``mfaops cleanup``: stale-method cleanup by policy (plan, show, apply)."""

from __future__ import annotations

import json
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
    policy_file,
    run,
    run_on,
    state,
    valid_upn,
)
from shared.bootstrap import Container

cleanup_app = typer.Typer(help="Stale-method cleanup by policy: plan, apply, show.", no_args_is_help=True)


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


