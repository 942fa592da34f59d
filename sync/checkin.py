"""Check-in: whether a booking must be checked in, its window, and whether a check-in at an
instant counts; one place, asked by the server, the release sweep and the offline client.

A booking in a room that requires check-in must be checked in within ``[start - opens,
start + closes)``; one that is not is released when that window closes. The room says whether
it requires check-in (unset: its building's, unset there too: the campus default) and may set
its own window; the campus sets the rest.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from sync.errors import CheckinClosed

_UTC = ZoneInfo("UTC")


@dataclass(frozen=True)
class CheckinRules:
    """The campus defaults: whether rooms require check-in, the window around a start, and how
    many missed occurrences in a row a series may have."""

    required: bool = False
    opens_minutes: int = 15
    closes_minutes: int = 15
    #: A series whose occurrences are released this many times in a row loses the rest.
    series_misses_allowed: int = 3

    def for_room(
        self,
        room_required: bool | None,
        building_required: bool | None,
        opens_minutes: int | None = None,
        closes_minutes: int | None = None,
    ) -> RoomCheckin:
        """The check-in in force in a room: its own settings where it has them, then its
        building's, then these."""
        if room_required is not None:
            required = room_required
        elif building_required:
            required = True
        else:
            required = self.required
        return RoomCheckin(
            required=required,
            opens_minutes=self.opens_minutes if opens_minutes is None else opens_minutes,
            closes_minutes=self.closes_minutes if closes_minutes is None else closes_minutes,
        )

    def for_records(
        self, room: Mapping[str, Any], building: Mapping[str, Any] | None
    ) -> RoomCheckin:
        """``for_room`` from a room and its building as the API and the replica write them."""
        return self.for_room(
            room.get("checkin_required"),
            None if building is None else building.get("checkin_required"),
            room.get("checkin_opens_minutes"),
            room.get("checkin_closes_minutes"),
        )


@dataclass(frozen=True)
class RoomCheckin:
    """Check-in as one room has it."""

    required: bool
    opens_minutes: int
    closes_minutes: int

    def window(self, start: datetime) -> tuple[datetime, datetime]:
        """When a booking starting at ``start`` may be checked in: ``[opens, closes)``."""
        return (
            start - timedelta(minutes=self.opens_minutes),
            start + timedelta(minutes=self.closes_minutes),
        )

    def closes_at(self, start: datetime) -> datetime:
        """When a booking starting at ``start`` is released if nobody checked it in."""
        return self.window(start)[1]

    def check(self, start: datetime, at: datetime, zone: ZoneInfo = _UTC) -> None:
        """Accept a check-in at ``at`` of a booking starting at ``start``, or raise
        ``CheckinClosed`` naming the window (in ``zone``, the campus's)."""
        opens, closes = self.window(start)
        if not opens <= at < closes:
            first, last, now = (moment.astimezone(zone) for moment in (opens, closes, at))
            raise CheckinClosed(
                f"Check-in is open from {first:%a %d %b %H:%M} until {last:%H:%M}, "
                f"and it is {now:%a %d %b %H:%M}",
                opens_at=opens.isoformat(),
                closes_at=closes.isoformat(),
            )

    def missed(
        self, start: datetime, checked_in: bool, now: datetime, since: datetime | None = None
    ) -> bool:
        """Whether a confirmed booking starting at ``start`` is a no-show at ``now``: it needed
        check-in, had none, and its window has closed; and closed after ``since``, the last
        change of the booking or of its room's rules (a booking made or moved after its window,
        or a room that began to require check-in after it, had no window to be missed)."""
        closes = self.closes_at(start)
        after = since is None or since < closes
        return self.required and not checked_in and after and closes <= now


def series_lost(recent: list[str], misses_allowed: int) -> bool:
    """Whether a series loses its remaining occurrences: ``recent`` are the statuses of its
    latest occurrences up to the one just released, newest first (cancelled ones left out),
    and the last ``misses_allowed`` of them were all released."""
    last = recent[:misses_allowed]
    return len(last) == misses_allowed and all(status == "released" for status in last)
