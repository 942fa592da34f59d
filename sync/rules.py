"""The time arithmetic of booking rules, shared by the server and the offline clients: the
rules in force for a room, opening windows, free intervals; the judge (``sync.judge``) decides
with it.

Times are UTC instants, intervals half-open ``[start, end)``; opening hours and limits are
read in the campus time zone. Nothing here touches a database or the network.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from typing import Protocol
from zoneinfo import ZoneInfo

from sync.schemas import OpeningHours, OpeningWeek
from sync.vocabulary import Weekday

WEEKDAYS = list(Weekday)
Interval = tuple[datetime, datetime]


def overlaps(a_start: datetime, a_end: datetime, b_start: datetime, b_end: datetime) -> bool:
    """Whether two half-open intervals share an instant (touching ends do not overlap)."""
    return a_start < b_end and b_start < a_end


class RuleSource(Protocol):
    """Whatever carries a room's own rules: a room row, a schema, a replica record."""

    opening_hours: OpeningWeek | None
    min_duration_minutes: int | None
    max_duration_minutes: int | None
    max_days_ahead: int | None
    min_notice_minutes: int | None


@dataclass(frozen=True)
class CampusRules:
    """Rules that apply where a room sets none of its own."""

    opening_hours: OpeningWeek
    min_duration_minutes: int = 15
    max_duration_minutes: int = 8 * 60
    max_days_ahead: int = 365
    min_notice_minutes: int = 0

    def for_room(self, room: RuleSource) -> CampusRules:
        """The rules in force for ``room``: its own where it has them, these otherwise."""
        return CampusRules(
            opening_hours=room.opening_hours
            if room.opening_hours is not None
            else self.opening_hours,
            min_duration_minutes=_first(room.min_duration_minutes, self.min_duration_minutes),
            max_duration_minutes=_first(room.max_duration_minutes, self.max_duration_minutes),
            max_days_ahead=_first(room.max_days_ahead, self.max_days_ahead),
            min_notice_minutes=_first(room.min_notice_minutes, self.min_notice_minutes),
        )


def _first(value: int | None, default: int) -> int:
    return default if value is None else value


def default_opening_week() -> OpeningWeek:
    """Weekdays 07:00–22:00, Saturday 08:00–18:00, Sunday closed."""
    weekday = OpeningHours(open=time(7), close=time(22))
    week = dict.fromkeys(WEEKDAYS[:5], weekday)
    week[Weekday.SAT] = OpeningHours(open=time(8), close=time(18))
    return week


def weekday_of(day: date) -> Weekday:
    return WEEKDAYS[day.weekday()]


def opening_window(day: date, week: OpeningWeek, zone: ZoneInfo) -> Interval | None:
    """The UTC interval a room is open on local ``day``, or ``None`` if it is closed."""
    hours = week.get(weekday_of(day))
    if hours is None:
        return None
    return local_instant(day, hours.open, zone), local_instant(day, hours.close, zone)


def open_intervals(
    week: OpeningWeek, start: datetime, end: datetime, zone: ZoneInfo
) -> list[Interval]:
    """The opening hours of ``week`` that fall inside ``[start, end)``, day by day."""
    day, last = start.astimezone(zone).date(), end.astimezone(zone).date()
    intervals = []
    while day <= last:
        window = opening_window(day, week, zone)
        if window is not None and window[0] < end and window[1] > start:
            intervals.append((max(window[0], start), min(window[1], end)))
        day += timedelta(days=1)
    return intervals


def shifted(start: datetime, end: datetime, day: date, zone: ZoneInfo) -> tuple[datetime, datetime]:
    """``[start, end)`` moved to local ``day`` at the same local start time and length, as a
    series occurrence moves when the occurrence it follows moves."""
    moved = local_instant(day, start.astimezone(zone).time().replace(tzinfo=None), zone)
    return moved, moved + (end - start)


def local_instant(day: date, at: time, zone: ZoneInfo) -> datetime:
    """The UTC instant of local ``day`` at ``at``; a time skipped by DST moves forward."""
    local = datetime.combine(day, at, tzinfo=zone)
    return local.astimezone(UTC)


def free_intervals(window: Interval, busy: Iterable[Interval]) -> list[Interval]:
    """The parts of ``window`` not covered by any ``busy`` interval, in order."""
    free: list[Interval] = []
    cursor, stop = window
    for busy_start, busy_end in sorted(busy):
        if busy_end <= cursor:
            continue
        if busy_start >= stop:
            break
        if busy_start > cursor:
            free.append((cursor, busy_start))
        cursor = max(cursor, busy_end)
    if cursor < stop:
        free.append((cursor, stop))
    return free


def nearest_free_slots(
    start: datetime,
    end: datetime,
    open_window: Interval | None,
    busy: Sequence[Interval],
    not_before: datetime,
    count: int = 3,
    step: timedelta = timedelta(minutes=15),
    accept: Callable[[Interval], bool] | None = None,
) -> list[Interval]:
    """Up to ``count`` free slots as long as ``[start, end)`` within ``open_window``, nearest
    first, leaving out any that ``accept`` refuses."""
    if open_window is None:
        return []
    length = end - start
    slots: list[Interval] = []
    for free_start, free_end in free_intervals(open_window, busy):
        candidate = max(free_start, not_before)
        offset = (candidate - open_window[0]) % step
        if offset:
            candidate += step - offset
        while candidate + length <= free_end:
            if candidate != start and (accept is None or accept((candidate, candidate + length))):
                slots.append((candidate, candidate + length))
            candidate += step
    slots.sort(key=lambda slot: (abs(slot[0] - start), slot[0]))
    return sorted(slots[:count])
