"""Times and durations as people type them, read in the campus time zone.

``2026-11-25 10:00``, ``today 14:00``, ``tomorrow 9:30``, ``mon 10:00`` (the next Monday, today
included) and ISO 8601 with an offset; durations ``90m``, ``2h``, ``1h30m``, ``1:30``.
"""

from __future__ import annotations

import re
from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from sync.errors import ValidationFailed
from sync.rules import WEEKDAYS, local_instant

_DURATION = re.compile(r"^(?:(?P<h>\d+)h)?(?:(?P<m>\d+)m(?:in)?)?$")
_CLOCK = re.compile(r"^(?P<h>\d{1,2}):(?P<m>\d{2})$")


def parse_when(text: str, zone: ZoneInfo, now: datetime, field: str = "at") -> datetime:
    """The UTC instant ``text`` names, read in ``zone``; ``ValidationFailed`` naming ``field``."""
    words = text.strip().lower().split()
    try:
        if len(words) == 1 and ("t" in words[0] or "+" in words[0] or words[0].endswith("z")):
            moment = datetime.fromisoformat(words[0].upper().replace("Z", "+00:00"))
            if moment.tzinfo is None:
                return local_instant(moment.date(), moment.time(), zone)
            return moment
        if len(words) == 2:
            return local_instant(_day(words[0], zone, now), _clock(words[1]), zone)
    except ValueError:
        pass
    raise ValidationFailed.single(
        field, f"{text!r} is not a time; write 2026-11-25 10:00, tomorrow 14:00 or mon 9:30"
    )


def _day(word: str, zone: ZoneInfo, now: datetime) -> date:
    today = now.astimezone(zone).date()
    if word == "today":
        return today
    if word == "tomorrow":
        return today + timedelta(days=1)
    for index, weekday in enumerate(WEEKDAYS):
        if word[:3] == weekday.value:
            return today + timedelta(days=(index - today.weekday()) % 7)
    return date.fromisoformat(word)


def _clock(word: str) -> time:
    match = _CLOCK.match(word)
    if not match:
        raise ValueError(word)
    return time(int(match["h"]), int(match["m"]))


def parse_duration(text: str, field: str = "for") -> timedelta:
    """``90m``, ``2h``, ``1h30m`` or ``1:30`` as a positive duration."""
    word = text.strip().lower().replace(" ", "")
    clock = _CLOCK.match(word)
    match = _DURATION.match(word)
    if clock:
        length = timedelta(hours=int(clock["h"]), minutes=int(clock["m"]))
    elif match and word:
        length = timedelta(hours=int(match["h"] or 0), minutes=int(match["m"] or 0))
    else:
        length = timedelta(0)
    if length <= timedelta(0):
        raise ValidationFailed.single(field, f"{text!r} is not a duration; write 90m, 2h or 1h30m")
    return length


_HOURS = re.compile(
    r"^(?P<first>[a-z]{3})(?:-(?P<last>[a-z]{3}))?\s+(?P<open>\d{1,2}:\d{2})-(?P<close>\d{1,2}:\d{2})$"
)


def parse_opening_hours(text: str, field: str = "hours") -> dict[str, dict[str, str]]:
    """``mon-fri 08:00-20:00, sat 09:00-13:00`` as opening hours per weekday (others closed)."""
    names = [weekday.value for weekday in WEEKDAYS]
    week: dict[str, dict[str, str]] = {}
    for part in filter(None, (p.strip().lower() for p in text.split(","))):
        match = _HOURS.match(part)
        days = (match["first"], match["last"] or match["first"]) if match else ("", "")
        if not match or not set(days) <= set(names) or names.index(days[0]) > names.index(days[1]):
            raise ValidationFailed.single(
                field, f"{part!r}: write days and hours as mon-fri 08:00-20:00, sat 09:00-13:00"
            )
        for day in names[names.index(days[0]) : names.index(days[1]) + 1]:
            week[day] = {"open": match["open"].zfill(5), "close": match["close"].zfill(5)}
    if not week:
        raise ValidationFailed.single(field, "name at least one day, as mon-fri 08:00-20:00")
    return week


def local_span(start: datetime, end: datetime, zone: ZoneInfo) -> str:
    """``[start, end)`` as people on campus read it: ``Mon 7 Dec 2026, 14:00–15:00``, the end's
    day added when it is another."""
    first, last = start.astimezone(zone), end.astimezone(zone)
    day = f"{first:%a} {first.day} {first:%b %Y}"
    until = f"{last:%H:%M}"
    if last.date() != first.date():
        until = f"{last:%a} {last.day} {last:%b}, {until}"
    return f"{day}, {first:%H:%M}–{until}"
