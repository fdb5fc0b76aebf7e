"""The registration monitor's timer: one scan since the watermark (counts in the log, never a secret)."""

from __future__ import annotations

import logging

import azure.functions as func

from shared.bootstrap import container
from shared.telemetry.spans import job_span

bp = func.Blueprint()
log = logging.getLogger("mfaops.monitor")


@bp.timer_trigger(schedule="%MONITOR_SCHEDULE%", arg_name="timer", run_on_startup=False)
async def monitor_timer(timer: func.TimerRequest) -> None:
    with job_span("timer monitor", trigger="timer"):
        result = await container().monitor_service().scan()
    summary = result.summary()
    log.info("monitor: %s events read, %s relevant, %s findings", summary["read"], summary["relevant"],
             summary["findings"], extra={"custom_dimensions": {k: v for k, v in summary.items() if k != "kind"}})
