"""The posture timer: the daily checks, recorded; a worsened check raises a drift alert (in the service)."""

from __future__ import annotations

import logging

import azure.functions as func

from shared.bootstrap import container
from shared.telemetry.spans import job_span

bp = func.Blueprint()
log = logging.getLogger("mfaops.posture")


@bp.timer_trigger(schedule="%POSTURE_SCHEDULE%", arg_name="timer", run_on_startup=False)
async def posture_timer(timer: func.TimerRequest) -> None:
    with job_span("timer posture", trigger="timer"):
        report = await container().posture_service().check()
    counts = {s: sum(1 for c in report.checks if c.status == s) for s in ("pass", "warn", "fail")}
    log.info("posture: %s pass, %s warn, %s fail, %s drifted", counts["pass"], counts["warn"], counts["fail"],
             len(report.drift), extra={"custom_dimensions": {**counts, "drift": len(report.drift),
                                                             "run_id": report.run_id}})
