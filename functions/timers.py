"""Timers: the TAP sweep. Each calls one service and logs what it did (counts, never a secret)."""

from __future__ import annotations

import logging

import azure.functions as func

from shared.bootstrap import container

bp = func.Blueprint()
log = logging.getLogger("mfaops.timers")


@bp.timer_trigger(schedule="%TAP_SWEEP_SCHEDULE%", arg_name="timer", run_on_startup=False)
async def tap_sweep_timer(timer: func.TimerRequest) -> None:
    result = await container().tap_sweeper().sweep(apply=True)
    log.info("tap sweep: %s scanned, %s passes, %s deleted, %s kept, %s failed", result.scanned, result.candidates,
             len(result.deleted), len(result.kept), len(result.failed),
             extra={"custom_dimensions": {"job_id": result.job_id, "deleted": len(result.deleted),
                                          "graph_requests": result.graph_requests}})
