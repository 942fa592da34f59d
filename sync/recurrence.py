"""Expanding a recurring series into occurrences, in campus local time (DST-correct)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

from sync.rules import local_instant, weekday_of
from sync.schemas import Holiday, SeriesPattern
from sync.vocabulary import Frequency


@dataclass(frozen=True)
class Occurrence:
    day: date
    start: datetime
    end: datetime


def expand(
    pattern: SeriesPattern, zone: ZoneInfo, holidays: Sequence[Holiday] = ()
) -> list[Occurrence]:
    """Every occurrence of ``pattern``, skipping ``holidays`` and the pattern's exceptions.

    Each occurrence keeps its local wall-clock times, so its UTC instants move with DST.
    """
    skipped = set(pattern.exceptions)
    occurrences = []
    day = pattern.first_day
    week_zero = pattern.first_day - timedelta(days=pattern.first_day.weekday())
    while day <= pattern.last_day:
        if (
            _recurs_on(pattern, day, week_zero)
            and day not in skipped
            and not _in_holiday(day, holidays)
        ):
            occurrences.append(
                Occurrence(
                    day=day,
                    start=local_instant(day, pattern.start_time, zone),
                    end=local_instant(day, pattern.end_time, zone),
                )
            )
        day += timedelta(days=1)
    return occurrences


def _recurs_on(pattern: SeriesPattern, day: date, week_zero: date) -> bool:
    if pattern.frequency is Frequency.DAILY:
        return (day - pattern.first_day).days % pattern.interval == 0
    weeks = (day - week_zero).days // 7
    return weeks % pattern.interval == 0 and weekday_of(day) in pattern.weekdays


def _in_holiday(day: date, holidays: Sequence[Holiday]) -> bool:
    return any(h.first_day <= day <= h.last_day for h in holidays)
