"""NCRONTAB schedules as the Functions timer trigger reads them: six fields, second first
("{second} {minute} {hour} {day} {month} {day-of-week}"), with *, lists, ranges and steps."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

_BOUNDS = [(0, 59), (0, 59), (0, 23), (1, 31), (1, 12), (0, 6)]
_NAMES = ["second", "minute", "hour", "day", "month", "day-of-week"]
_MONTHS = {m: i + 1 for i, m in enumerate(("jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct",
                                           "nov", "dec"))}
_DAYS = {d: i for i, d in enumerate(("sun", "mon", "tue", "wed", "thu", "fri", "sat"))}


class ScheduleError(ValueError):
    pass


def _number(text: str, field: int) -> int:
    lowered = text.lower()
    names = _MONTHS if field == 4 else _DAYS if field == 5 else {}
    if lowered in names:
        return names[lowered]
    try:
        return int(text)
    except ValueError:
        raise ScheduleError(f"{_NAMES[field]}: {text!r} is not a number") from None


def _field(text: str, field: int) -> frozenset[int]:
    low, high = _BOUNDS[field]
    values: set[int] = set()
    for part in text.split(","):
        base, _, step_text = part.partition("/")
        step = _number(step_text, field) if step_text else 1
        if step < 1:
            raise ScheduleError(f"{_NAMES[field]}: step must be positive")
        if base == "*":
            start, end = low, high
        elif "-" in base:
            a, b = base.split("-", 1)
            start, end = _number(a, field), _number(b, field)
        else:
            start = _number(base, field)
            end = high if step_text else start
        if not (low <= start <= high and low <= end <= high and start <= end):
            raise ScheduleError(f"{_NAMES[field]}: {part!r} is outside {low}-{high}")
        values.update(range(start, end + 1, step))
    return frozenset(values)


@dataclass(frozen=True)
class Schedule:
    seconds: frozenset[int]
    minutes: frozenset[int]
    hours: frozenset[int]
    days: frozenset[int]
    months: frozenset[int]
    weekdays: frozenset[int]
    any_day: bool
    any_weekday: bool

    @classmethod
    def parse(cls, text: str) -> Schedule:
        fields = text.split()
        if len(fields) != 6:
            raise ScheduleError(f"{text!r}: NCRONTAB takes 6 fields (second first), got {len(fields)}")
        second, minute, hour, day, month, weekday = (_field(f, i) for i, f in enumerate(fields))
        return cls(second, minute, hour, day, month, weekday, any_day=fields[3] == "*",
                   any_weekday=fields[5] == "*")

    def _day_matches(self, day: datetime) -> bool:
        if day.month not in self.months:
            return False
        in_days, in_weekdays = day.day in self.days, (day.weekday() + 1) % 7 in self.weekdays
        if self.any_day or self.any_weekday:  # cron: when both are restricted, either may match
            return in_days and in_weekdays
        return in_days or in_weekdays

    def next_after(self, now: datetime) -> datetime:
        start = now.replace(microsecond=0) + timedelta(seconds=1)
        for offset in range(0, 366 * 5):
            day = (start + timedelta(days=offset)).replace(hour=0, minute=0, second=0)
            if not self._day_matches(day):
                continue
            for hour in sorted(self.hours):
                for minute in sorted(self.minutes):
                    for second in sorted(self.seconds):
                        candidate = day.replace(hour=hour, minute=minute, second=second)
                        if candidate >= start:
                            return candidate
        raise ScheduleError("the schedule never fires")
