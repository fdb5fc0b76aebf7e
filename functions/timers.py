"""Timers: the TAP sweep and the stale-method cleanup. Each calls one service and logs what it did (counts,
never a secret)."""

from __future__ import annotations

import asyncio
import logging

import azure.functions as func

from shared.bootstrap import container
from shared.telemetry.spans import job_span

bp = func.Blueprint()
log = logging.getLogger("mfaops.timers")


@bp.timer_trigger(schedule="%TAP_SWEEP_SCHEDULE%", arg_name="timer", run_on_startup=False)
async def tap_sweep_timer(timer: func.TimerRequest) -> None:
    with job_span("timer tap_sweep", trigger="timer"):
        result = await container().tap_sweeper().sweep(apply=True)
    log.info("tap sweep: %s scanned, %s passes, %s deleted, %s kept, %s failed", result.scanned, result.candidates,
             len(result.deleted), len(result.kept), len(result.failed),
             extra={"custom_dimensions": {"job_id": result.job_id, "deleted": len(result.deleted),
                                          "graph_requests": result.graph_requests}})


@bp.timer_trigger(schedule="%CLEANUP_SCHEDULE%", arg_name="timer", run_on_startup=False)
async def cleanup_timer(timer: func.TimerRequest) -> None:
    """Plans with CLEANUP_POLICY; applies only when CLEANUP_APPLY is true and the plan is within its limit."""
    from pathlib import Path

    from shared.cleanup.policy import PolicyError, load_policy

    settings = container().settings
    if not settings.cleanup_policy:
        log.info("cleanup: CLEANUP_POLICY is not set; nothing to do")
        return
    try:
        policy = load_policy(await asyncio.to_thread(Path(settings.cleanup_policy).read_text))
    except (OSError, PolicyError) as exc:
        log.error("cleanup: the policy cannot be used: %s", exc)
        return
    service = container().cleanup_service()
    plan = await service.plan(policy)
    log.info("cleanup: plan %s with %s items (%s)", plan.plan_id, len(plan.items), plan.status,
             extra={"custom_dimensions": {"plan_id": plan.plan_id, "items": len(plan.items)}})
    if settings.cleanup_apply and plan.status == "planned" and plan.items:
        result = await service.apply(plan.plan_id, by="timer")
        log.info("cleanup: %s removed, %s skipped, %s failed", result["removed"], len(result["skipped"]),
                 len(result["failed"]), extra={"custom_dimensions": {"job_id": result["job_id"]}})


@bp.timer_trigger(schedule="%STUCK_JOBS_SCHEDULE%", arg_name="timer", run_on_startup=False)
async def stuck_jobs_timer(timer: func.TimerRequest) -> None:
    """Jobs with no progress for JOB_STUCK_MINUTES are failed with the reason (and their ticket is told)."""
    from datetime import timedelta

    settings = container().settings
    failed = await container().reset_service().fail_stuck(older_than=timedelta(minutes=settings.job_stuck_minutes))
    if failed:
        log.warning("stuck jobs failed: %s", len(failed), extra={"custom_dimensions": {
            "jobs": [j.job_id for j in failed]}})


@bp.timer_trigger(schedule="%STUCK_JOBS_SCHEDULE%", arg_name="timer", run_on_startup=False)
async def verification_expiry_timer(timer: func.TimerRequest) -> None:
    """Verifications past expire_after_minutes end: the job is verification_failed, the ticket and alerts told."""
    ended = await container().verification_service().expire_due()
    if ended:
        log.warning("verifications expired: %s", len(ended), extra={"custom_dimensions": {
            "jobs": [j.job_id for j in ended]}})


@bp.timer_trigger(schedule="%INVENTORY_SCHEDULE%", arg_name="timer", run_on_startup=False)
async def inventory_timer(timer: func.TimerRequest) -> None:
    """A part of the rolling inventory's pass (INVENTORY_BATCH_USERS users at most), resumed where the last stopped."""
    settings = container().settings
    with job_span("timer inventory", trigger="timer"):
        result = await container().inventory_service().run(max_users=settings.inventory_batch_users,
                                                          seconds=settings.inventory_run_seconds)
    log.info("inventory: %s read of %s due, %s left, pass %s%s", result.read, result.due, result.left,
             result.pass_number, " (complete)" if result.pass_complete else "",
             extra={"custom_dimensions": result.to_dict()})
