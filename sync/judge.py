"""The booking judge: every decision on whether a room may be booked for a time, and the
alternatives offered when it may not, made here and nowhere else.

Data in, problems out, no I/O: each caller (a REST request, a grouped or bulk booking, a push,
a series, a timetable, a move, the offline client) gathers what the judge needs its own way
(the room with its rules, the campus, the closures and bookings around the slot) and asks the
same functions. The database's overlap constraint stays the last word on overlaps; the judge
says which bookings are in the way so that the answer can name them.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Any, Protocol
from zoneinfo import ZoneInfo

from sync import approval_rule
from sync.approval_rule import request_status, roles_in_force
from sync.errors import (
    BlackoutConflict,
    CompaxError,
    Forbidden,
    NotBookable,
    RoomOverlap,
    RuleBroken,
    SeriesConflict,
)
from sync.permissions import Access, Permission, allows
from sync.rules import (
    CampusRules,
    Interval,
    RuleSource,
    nearest_free_slots,
    opening_window,
    overlaps,
    shifted,
    weekday_of,
)
from sync.schemas import OpeningWeek, RoomRules
from sync.vocabulary import BookingStatus

#: How many rooms and times an overlap problem offers at most.
ROOM_ALTERNATIVES = 5
TIME_ALTERNATIVES = 3


class RoomSource(RuleSource, Protocol):
    """Whatever describes a room: a table row, a schema, a replica record read as attributes."""

    id: Any
    building_id: Any
    capacity: int | None
    bookable: bool

    @property
    def approval_roles(self) -> Sequence[str] | None: ...


@dataclass(frozen=True)
class RoomFacts:
    """What the judge needs of a room: who it is, its size (``None`` when unknown), and the
    rules in force for it."""

    id: int
    label: str
    building_id: int
    capacity: int | None
    bookable: bool
    rules: CampusRules
    #: The roles whose requests here wait for approval (``approval_rule.roles_in_force``).
    approval_roles: frozenset[str] = frozenset()


@dataclass(frozen=True)
class Campus:
    """What every decision needs besides the request: the campus rules, zone and the time now."""

    rules: CampusRules
    zone: ZoneInfo
    now: datetime

    def room(
        self, room: RoomSource, label: str, building_roles: Sequence[str] | None = None
    ) -> RoomFacts:
        """The facts of ``room`` (labelled ``BUILDING/CODE``), with its rules in force; its
        building's ``approval_roles`` are ``building_roles``."""
        return RoomFacts(
            id=int(room.id),
            label=label,
            building_id=int(room.building_id),
            capacity=room.capacity,
            bookable=room.bookable,
            rules=self.rules.for_room(room),
            approval_roles=roles_in_force(room.approval_roles, building_roles),
        )

    def room_from_record(self, record: Mapping[str, Any]) -> RoomFacts:
        """The facts of a room as the replica and the API write it (``building`` is its code)."""
        own = RoomRules.model_validate(record)
        return RoomFacts(
            id=int(record["id"]),
            label=f"{record['building']}/{record['code']}",
            building_id=int(record["building_id"]),
            capacity=None if record["capacity"] is None else int(record["capacity"]),
            bookable=bool(record["bookable"]),
            rules=self.rules.for_room(own),
            approval_roles=roles_in_force(
                record.get("approval_roles"), record.get("building_approval_roles")
            ),
        )


@dataclass(frozen=True)
class Closure:
    """A blackout: a room, or a whole building, closed during ``[start, end)``."""

    start: datetime
    end: datetime
    reason: str
    room_id: int | None = None
    building_id: int | None = None
    id: int | None = None

    @classmethod
    def of(cls, blackout: Any) -> Closure:
        """A closure from a blackout row or record (attributes or keys, instants or ISO text)."""
        get: Callable[[str], Any] = (
            blackout.__getitem__ if isinstance(blackout, Mapping) else blackout.__getattribute__
        )
        return cls(
            start=_instant(get("start")),
            end=_instant(get("end")),
            reason=get("reason"),
            room_id=get("room_id"),
            building_id=get("building_id"),
            id=get("id"),
        )

    def closes(self, room: RoomFacts, start: datetime, end: datetime) -> bool:
        """Whether this closure shuts ``room`` for any of ``[start, end)``."""
        return self.shuts(room.id, room.building_id, start, end)

    def shuts(self, room_id: int, building_id: int | None, start: datetime, end: datetime) -> bool:
        """Whether this closure shuts the room ``room_id`` (of ``building_id``) for any of
        ``[start, end)``: it names the room or its building, and overlaps the time."""
        return (self.room_id == room_id or self.building_id == building_id) and overlaps(
            self.start, self.end, start, end
        )


@dataclass(frozen=True)
class Held:
    """A confirmed booking that holds a room during ``[start, end)``."""

    id: uuid.UUID | str
    start: datetime
    end: datetime
    title: str | None = ""


def _instant(value: datetime | str) -> datetime:
    if isinstance(value, datetime):
        return value
    return datetime.fromisoformat(value.replace("Z", "+00:00")).astimezone(UTC)


def _iso(moment: datetime) -> str:
    """An instant as problem bodies carry it, client and server alike (``…T08:00:00Z``)."""
    return moment.astimezone(UTC).isoformat().replace("+00:00", "Z")


def status_for(room: RoomFacts, access: Access) -> BookingStatus:
    """The status a request by ``access`` in ``room`` starts with: ``pending`` while it waits
    for approval (``approval_rule``), else ``confirmed``."""
    return request_status(room.approval_roles, access, room.building_id)


def status_after_move(
    current: BookingStatus | str, room: RoomFacts, owner: Access, mover: Access
) -> BookingStatus:
    """The status of a booking moved by ``mover`` into ``room`` (``approval_rule``): pending
    stays pending; confirmed waits again where its owner would wait, unless the mover may
    approve there."""
    return approval_rule.status_after_move(
        current, room.approval_roles, owner, mover, room.building_id
    )


# --- Problems --------------------------------------------------------------------------------


def problems(
    room: RoomFacts,
    start: datetime,
    end: datetime,
    campus: Campus,
    *,
    attendees: int = 0,
    closures: Iterable[Closure] = (),
) -> list[CompaxError]:
    """Every rule booking ``[start, end)`` in ``room`` for ``attendees`` breaks, most
    fundamental first: not bookable, the room's time rules, capacity, then each closure.

    Each of these may be overridden by a booking officer; overlaps may not, and are found by
    ``in_the_way``.
    """
    found: list[CompaxError] = []
    if not room.bookable:
        found.append(NotBookable(f"Room {room.label} is not open for booking"))
    found.extend(rule_violations(start, end, room.rules, campus.now, campus.zone))
    if not seats(room.capacity, attendees):
        found.append(
            RuleBroken(
                "over-capacity",
                "Too many attendees",
                f"{room.label} seats {room.capacity}; this booking is for {attendees}",
            )
        )
    for closure in closures:
        if closure.closes(room, start, end):
            found.append(_closed(closure, campus.zone))
    return found


def seats(capacity: int | None, attendees: int) -> bool:
    """Whether a room of ``capacity`` seats holds ``attendees``: a room of unknown capacity
    holds any number, since nothing says it does not (a booking there is the booker's call)."""
    return capacity is None or attendees <= capacity


def offered_for(capacity: int | None, attendees: int) -> bool:
    """Whether a search for ``attendees`` seats (none when 0) may offer a room of
    ``capacity``: one that asks seats gets only rooms known to hold them, never a room of
    unknown capacity."""
    return attendees <= 0 or (capacity is not None and attendees <= capacity)


def rank_capacity(capacity: int | None) -> tuple[bool, int]:
    """Where a room of ``capacity`` goes in a smallest-first order: rooms of unknown
    capacity after every known one."""
    return (capacity is None, capacity or 0)


def rule_violations(
    start: datetime, end: datetime, rules: CampusRules, now: datetime, zone: ZoneInfo
) -> list[RuleBroken]:
    """Every rule the booking ``[start, end)`` breaks, most fundamental first."""
    broken: list[RuleBroken] = []
    minutes = (end - start).total_seconds() / 60
    local_start, local_end = start.astimezone(zone), end.astimezone(zone)
    window = opening_window(local_start.date(), rules.opening_hours, zone)
    if window is None or not (window[0] <= start and end <= window[1]):
        broken.append(
            RuleBroken(
                "outside-hours",
                "Outside opening hours",
                f"The room is {_hours_text(local_start.date(), rules.opening_hours)}; "
                f"{local_start:%a %d %b %H:%M}–{local_end:%H:%M} is outside that",
            )
        )
    if minutes < rules.min_duration_minutes:
        broken.append(
            RuleBroken(
                "too-short",
                "Too short",
                f"Bookings last at least {rules.min_duration_minutes} minutes; this is {minutes:g}",
            )
        )
    if minutes > rules.max_duration_minutes:
        broken.append(
            RuleBroken(
                "too-long",
                "Too long",
                f"Bookings last at most {_duration_text(rules.max_duration_minutes)}; "
                f"this is {_duration_text(int(minutes))}",
            )
        )
    if (
        start.astimezone(zone).date()
        > (now + timedelta(days=rules.max_days_ahead)).astimezone(zone).date()
    ):
        broken.append(
            RuleBroken(
                "too-far-ahead",
                "Too far ahead",
                f"Rooms can be booked at most {rules.max_days_ahead} days ahead",
            )
        )
    if start < now + timedelta(minutes=rules.min_notice_minutes):
        notice = rules.min_notice_minutes
        broken.append(
            RuleBroken(
                "too-short-notice",
                "Too short notice",
                "The start is in the past"
                if start < now
                else f"Bookings must be made at least {_duration_text(notice)} before they start",
            )
        )
    return broken


def _hours_text(day: date, week: OpeningWeek) -> str:
    hours = week.get(weekday_of(day))
    if hours is None:
        return f"closed on {day:%A}s"
    return f"open {hours.open:%H:%M}–{hours.close:%H:%M} on {day:%A}s"


def _duration_text(minutes: int) -> str:
    hours, rest = divmod(minutes, 60)
    if not hours:
        return f"{rest} min"
    return f"{hours} h" + (f" {rest} min" if rest else "")


def _closed(closure: Closure, zone: ZoneInfo) -> BlackoutConflict:
    local = closure.start.astimezone(zone), closure.end.astimezone(zone)
    return BlackoutConflict(
        f"Closed {local[0]:%a %d %b %H:%M} to {local[1]:%a %d %b %H:%M}: {closure.reason}",
        blackout={
            "id": closure.id,
            "start": _iso(closure.start),
            "end": _iso(closure.end),
            "reason": closure.reason,
        },
    )


def in_the_way(
    start: datetime, end: datetime, held: Iterable[Held], moving: Iterable[object] = ()
) -> list[Held]:
    """The bookings of ``held`` that overlap ``[start, end)``, in start order, leaving out
    the bookings being moved (``moving``, by id)."""
    leaving = {str(booking_id) for booking_id in moving}
    return sorted(
        (
            booking
            for booking in held
            if overlaps(booking.start, booking.end, start, end) and str(booking.id) not in leaving
        ),
        key=lambda booking: (booking.start, str(booking.id)),
    )


def accepts(
    room: RoomFacts,
    start: datetime,
    end: datetime,
    campus: Campus,
    *,
    attendees: int = 0,
    closures: Iterable[Closure] = (),
    held: Iterable[Held] = (),
) -> bool:
    """Whether booking ``[start, end)`` in ``room`` breaks no rule and meets no booking."""
    return not problems(
        room, start, end, campus, attendees=attendees, closures=closures
    ) and not in_the_way(start, end, held)


def settle(problems_found: Sequence[CompaxError], role: str, override: bool) -> list[str]:
    """Raise the first problem, listing them all in its ``violations``; unless ``override`` is
    asked by a role allowed to override rules. Returns the types overridden."""
    if not problems_found:
        return []
    if override:
        if not allows(role, Permission.OVERRIDE_RULES):
            raise Forbidden(f"Your role ({role}) may not override booking rules")
        return [problem.type for problem in problems_found]
    first = problems_found[0]
    first.extra["violations"] = [{"type": p.type, "detail": p.detail} for p in problems_found]
    raise first


def overlap(
    room: RoomFacts,
    start: datetime,
    end: datetime,
    campus: Campus,
    conflicting: Sequence[Held],
    alternatives: Alternatives,
) -> RoomOverlap:
    """The ``room-overlap`` problem: who is in the way, and where or when there is room."""
    local = start.astimezone(campus.zone), end.astimezone(campus.zone)
    return RoomOverlap(
        f"{room.label} is already booked during {local[0]:%a %d %b %H:%M}–{local[1]:%H:%M}",
        conflicting=[
            {"id": str(b.id), "start": _iso(b.start), "end": _iso(b.end), "title": b.title}
            for b in conflicting
        ],
        alternatives={
            "rooms": [
                {"id": r.id, "room": r.label, "building_id": r.building_id, "capacity": r.capacity}
                for r in alternatives.rooms
            ],
            "times": [{"start": _iso(s), "end": _iso(e)} for s, e in alternatives.times],
        },
    )


def clash(
    start: datetime, zone: ZoneInfo, broken: Sequence[CompaxError], conflicting: Sequence[Held]
) -> dict[str, object]:
    """One clashing date of a series or a move of several occurrences, with every reason, as
    problem bodies carry it."""
    return {
        "date": start.astimezone(zone).date().isoformat(),
        "problems": [{"type": p.type, "detail": p.detail} for p in broken]
        + [
            {
                "type": "room-overlap",
                "detail": "the room is booked",
                "conflicting": {"id": str(b.id), "start": _iso(b.start), "end": _iso(b.end)},
            }
            for b in conflicting
        ],
    }


def clashes(
    room: RoomFacts,
    slots: Sequence[Interval],
    campus: Campus,
    *,
    held: Sequence[Held],
    closures: Sequence[Closure],
    attendees: int,
    check_rules: bool = True,
) -> dict[int, dict[str, object]]:
    """The ``clash`` report of each of ``slots`` (by position) that breaks a rule (unless
    ``check_rules`` is off, as when the rules are overridden) or meets a booking of ``held``:
    the dates of a ``series-conflict``."""
    found: dict[int, dict[str, object]] = {}
    for index, (start, end) in enumerate(slots):
        broken = (
            problems(room, start, end, campus, attendees=attendees, closures=closures)
            if check_rules
            else []
        )
        conflicting = in_the_way(start, end, held)
        if broken or conflicting:
            found[index] = clash(start, campus.zone, broken, conflicting)
    return found


def judge_series(
    room: RoomFacts,
    slots: Sequence[Interval],
    campus: Campus,
    *,
    held: Sequence[Held],
    closures: Sequence[Closure],
    attendees: int,
    role: str,
    override: bool,
) -> tuple[dict[int, dict[str, object]], list[str]]:
    """A series' dates judged together: the ``clash`` report of each clashing date (by
    position), and the rule types overridden where ``override`` asks and ``role`` may (an
    overridden date clashes only with bookings)."""
    overridden: list[str] = []
    if override:
        broken = [
            problem
            for start, end in slots
            for problem in problems(
                room, start, end, campus, attendees=attendees, closures=closures
            )
        ]
        overridden = settle(broken, role, override)
    reports = clashes(
        room,
        slots,
        campus,
        held=held,
        closures=closures,
        attendees=attendees,
        check_rules=not override,
    )
    return reports, overridden


@dataclass(frozen=True)
class Destination:
    """A room occurrences move into, each ``(start, end, attendees)``, with what surrounds
    them there."""

    room: RoomFacts
    wanted: Sequence[tuple[datetime, datetime, int]]
    held: Sequence[Held]
    closures: Sequence[Closure]


def settle_several(
    destinations: Sequence[Destination], campus: Campus, *, role: str, override: bool
) -> list[str]:
    """Several occurrences moved together, each into its own destination: all or nothing.
    Raise ``series-conflict`` listing each clashing date, rules overridden where ``role`` may
    and ``override`` asks; returns the types overridden."""
    overridden: list[str] = []
    reports = []
    for destination in destinations:
        room = destination.room
        for start, end, attendees in destination.wanted:
            closures = destination.closures
            broken = problems(room, start, end, campus, attendees=attendees, closures=closures)
            if broken and override:
                overridden += settle(broken, role, override)
                broken = []
            conflicting = in_the_way(start, end, destination.held)
            if broken or conflicting:
                reports.append((start, clash(start, campus.zone, broken, conflicting)))
    if reports:
        count = sum(len(destination.wanted) for destination in destinations)
        raise SeriesConflict(
            f"{len(reports)} of {count} occurrences clash; nothing was changed",
            dates=[report for _, report in sorted(reports, key=lambda pair: pair[0])],
        )
    return overridden


# --- Alternatives ----------------------------------------------------------------------------


@dataclass(frozen=True)
class Alternatives:
    """Rooms free then that the judge accepts, best first, and times free in the same room."""

    rooms: list[RoomFacts]
    times: list[Interval]


def room_rank(
    near: RoomFacts | None,
) -> Callable[[RoomFacts], tuple[bool, tuple[bool, int], int]]:
    """The order rooms are offered in: the building of ``near`` first, then the smallest that
    fits (rooms of unknown capacity last), then by id (so that an answer's order never depends
    on how rows were read)."""

    def rank(room: RoomFacts) -> tuple[bool, tuple[bool, int], int]:
        far = near is not None and room.building_id != near.building_id
        return (far, rank_capacity(room.capacity), room.id)

    return rank


def best_rooms(
    candidates: Iterable[RoomFacts],
    start: datetime,
    end: datetime,
    campus: Campus,
    *,
    attendees: int = 0,
    near: RoomFacts | None = None,
    limit: int = ROOM_ALTERNATIVES,
    ranked: bool = True,
) -> list[RoomFacts]:
    """Up to ``limit`` of ``candidates`` (rooms free then: no booking, no closure) that the
    judge accepts for ``[start, end)``, in ``room_rank`` order (in the candidates' own order
    when not ``ranked``); ``near`` itself is left out, and so is a room of unknown capacity
    when ``attendees`` asks seats (``offered_for``)."""
    accepted = [
        room
        for room in candidates
        if (near is None or room.id != near.id)
        and offered_for(room.capacity, attendees)
        and not problems(room, start, end, campus, attendees=attendees)
    ]
    return (sorted(accepted, key=room_rank(near)) if ranked else accepted)[:limit]


def free_times(
    room: RoomFacts,
    start: datetime,
    end: datetime,
    campus: Campus,
    *,
    busy: Sequence[Interval],
    closures: Sequence[Closure] = (),
    attendees: int = 0,
    count: int = TIME_ALTERNATIVES,
) -> list[Interval]:
    """Up to ``count`` slots as long as ``[start, end)`` in ``room`` on the same local day,
    nearest first, each free of ``busy`` bookings and accepted by the judge (closures too)."""
    day = start.astimezone(campus.zone).date()
    window = opening_window(day, room.rules.opening_hours, campus.zone)

    def acceptable(slot: Interval) -> bool:
        return not problems(room, *slot, campus, attendees=attendees, closures=closures)

    return nearest_free_slots(start, end, window, busy, campus.now, count=count, accept=acceptable)


def moved_times(
    addressed: Interval,
    targets: Sequence[Interval],
    start: datetime | None,
    end: datetime | None,
    zone: ZoneInfo,
) -> list[Interval]:
    """Where each of ``targets`` goes when the booking at ``addressed`` is given a new ``start``
    and/or ``end``: nowhere when neither is given; the addressed one to its new times, and each
    other occurrence to its own local day at the new local start time and length."""
    if start is None and end is None:
        return list(targets)
    new = (start or addressed[0], end or addressed[1])
    return [
        new if target == addressed else shifted(*new, target[0].astimezone(zone).date(), zone)
        for target in targets
    ]
