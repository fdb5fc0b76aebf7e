"""The local host fires timer functions on their NCRONTAB schedules."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime

import azure.functions as func
import pytest

from sandbox.localhost import run_timers
from sandbox.ncrontab import Schedule, ScheduleError

T = datetime(2026, 11, 22, 10, 4, 30, tzinfo=UTC)  # a Sunday


@pytest.mark.parametrize(("schedule", "expected"), [
    ("0 */5 * * * *", datetime(2026, 11, 22, 10, 5, 0, tzinfo=UTC)),
    ("*/10 * * * * *", datetime(2026, 11, 22, 10, 4, 40, tzinfo=UTC)),
    ("0 0 2 * * *", datetime(2026, 11, 23, 2, 0, 0, tzinfo=UTC)),
    ("0 30 9 * * 1-5", datetime(2026, 11, 23, 9, 30, 0, tzinfo=UTC)),
    ("0 0 0 1 jan *", datetime(2027, 1, 1, 0, 0, 0, tzinfo=UTC)),
    ("15,45 4 10 * * *", datetime(2026, 11, 22, 10, 4, 45, tzinfo=UTC)),
])
def test_next_fire_times(schedule: str, expected: datetime) -> None:
    assert Schedule.parse(schedule).next_after(T) == expected


@pytest.mark.parametrize("bad", ["* * * * *", "61 * * * * *", "0 0 25 * * *", "0 */0 * * * *", "x * * * * *"])
def test_bad_schedules_are_refused(bad: str) -> None:
    with pytest.raises(ScheduleError):
        Schedule.parse(bad)


async def test_timer_functions_fire_on_schedule() -> None:
    app = func.FunctionApp()
    fired: list[bool] = []

    @app.timer_trigger(schedule="* * * * * *", arg_name="timer", run_on_startup=True, use_monitor=False)
    async def every_second(timer: func.TimerRequest) -> None:
        fired.append(timer.past_due)

    task = asyncio.create_task(run_timers(app))
    await asyncio.sleep(2.5)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert len(fired) >= 3 and fired[0] is False  # on start-up, then every second
