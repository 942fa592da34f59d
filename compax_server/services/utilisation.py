"""The utilisation report: booked hours over open hours per room and per building, with the
no-show rate and the hours released for no-show."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Collection, Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from compax_server.models import Blackout, Booking, Building, Room
from compax_server.services.availability import open_hours
from compax_server.services.booking_views import holds_room
from compax_server.services.common import id_of
from compax_server.services.policy import BookingPolicy
from sync.judge import Closure
from sync.rules import Interval, free_intervals
from sync.schemas import UtilisationReport, UtilisationRow
from sync.vocabulary import BookingStatus


async def utilisation_report(
    session: AsyncSession,
    start: datetime,
    end: datetime,
    building: str | None,
    policy: BookingPolicy,
    *,
    within: Collection[int] | None = None,
) -> UtilisationReport:
    """Booked hours over open hours per bookable room and per building in ``[start, end)``.

    Open hours are the room's opening hours less its closures (blackouts of the room or its
    building); booked hours count only while the room is open (a booking kept under a closure,
    or made outside opening hours by override, does not). Three statements whatever the
    number of rooms: the rooms (of ``building``, and of the buildings ``within`` when not
    ``None``), their confirmed bookings in the window (the partial index of confirmed bookings
    by room and end), and the closures; a fourth reads the released ones.

    The no-show rate of a room is its released bookings over those that needed check-in and
    whose window has closed (released ones, and confirmed ones in a room that requires
    check-in), of the bookings starting in the window; ``None`` where there were none.

    The seat occupancy is attendee hours over seat hours (seats times booked hours), counted
    only in rooms of known capacity: a room of unknown capacity has none, and a building's
    ``capacity_unknown`` says how many of its rooms were left out of its seats."""
    statement = (
        select(Room, col(Building.code), col(Building.checkin_required))
        .join(Building)
        .where(col(Room.bookable).is_(True))
    )
    if building:
        statement = statement.where(col(Building.code) == building.upper())
    if within is not None:
        statement = statement.where(col(Building.id).in_(within))
    rooms = (await session.execute(statement.order_by(col(Building.code), col(Room.code)))).all()
    room_ids = [id_of(room) for room, _, _ in rooms]
    booked = await session.execute(
        select(
            col(Booking.room_id), col(Booking.start), col(Booking.end), col(Booking.attendees)
        ).where(
            col(Booking.room_id).in_(room_ids),
            holds_room(),  # as the partial index states it, so that it is used
            col(Booking.status) == BookingStatus.CONFIRMED.value,  # requests waiting do not
            col(Booking.end) > start,
            col(Booking.start) < end,
        )
    )
    booked_by_room: dict[int, list[Interval]] = defaultdict(list)
    attendees_by_room: dict[int, list[tuple[Interval, int]]] = defaultdict(list)
    starts_by_room: dict[int, list[datetime]] = defaultdict(list)
    for room_id, booking_start, booking_end, attendees in booked:
        clipped = (max(booking_start, start), min(booking_end, end))
        booked_by_room[room_id].append(clipped)
        attendees_by_room[room_id].append((clipped, attendees))
        if booking_start >= start:
            starts_by_room[room_id].append(booking_start)
    released = await _released(session, room_ids, start, end)
    closed = await _closures_of(session, [room for room, _, _ in rooms], start, end)
    campus_hours = open_hours(None, start, end, policy)
    now = policy.clock()
    per_room: list[UtilisationRow] = []
    per_building: defaultdict[str, list[float]] = defaultdict(lambda: [0.0] * 9)
    for room, code, building_checkin in rooms:
        closures = [
            (closure.start, closure.end)
            for closure in closed
            if closure.shuts(id_of(room), room.building_id, start, end)
        ]
        opened = (
            campus_hours if room.opening_hours is None else open_hours(room, start, end, policy)
        )
        windows = _open_windows(opened, closures)
        bookings = sorted(booked_by_room[id_of(room)])
        checkin = policy.checkin.for_room(
            room.checkin_required,
            building_checkin,
            room.checkin_opens_minutes,
            room.checkin_closes_minutes,
        )
        gone = released.get(id_of(room), [])
        no_shows = sum(since >= start for since, _ in gone)
        due = no_shows + sum(
            checkin.required and checkin.closes_at(booking_start) <= now
            for booking_start in starts_by_room[id_of(room)]
        )
        booked_hours = _overlap_seconds(bookings, windows) / 3600
        attendee_hours = sum(
            _overlap_seconds([span], windows) / 3600 * attendees
            for span, attendees in attendees_by_room[id_of(room)]
        )
        known = room.capacity is not None
        figures = (
            booked_hours,
            _seconds(windows) / 3600,
            _seconds([(max(since, start), min(until, end)) for since, until in gone]) / 3600,
            float(no_shows),
            float(due),
            float(room.capacity or 0),
            attendee_hours if known else 0.0,
            booked_hours * (room.capacity or 0) if known else 0.0,
            float(known),
        )
        per_room.append(
            _utilisation_row(
                code,
                figures,
                room_id=room.id,
                room=f"{code}/{room.code}",
                capacity_unknown=int(not known),
            )
        )
        totals = per_building[code]
        for index, figure in enumerate(figures):
            totals[index] += figure
    unknown: defaultdict[str, int] = defaultdict(int)
    for row in per_room:
        unknown[row.building] += row.capacity_unknown
    buildings = [
        _utilisation_row(code, tuple(totals), capacity_unknown=unknown[code])
        for code, totals in per_building.items()
    ]
    return UtilisationReport(rooms=per_room, buildings=buildings)


async def _released(
    session: AsyncSession, room_ids: Sequence[int], start: datetime, end: datetime
) -> dict[int, list[Interval]]:
    """The released bookings of the rooms over ``[start, end)``, per room, in one statement."""
    rows = await session.execute(
        select(col(Booking.room_id), col(Booking.start), col(Booking.end)).where(
            col(Booking.room_id).in_(room_ids),
            col(Booking.status) == BookingStatus.RELEASED.value,
            col(Booking.start) < end,
            col(Booking.end) > start,
        )
    )
    found: dict[int, list[Interval]] = defaultdict(list)
    for room_id, booking_start, booking_end in rows:
        found[room_id].append((booking_start, booking_end))
    return found


def _open_windows(opened: Sequence[Interval], closures: Sequence[Interval]) -> list[Interval]:
    """The ``opened`` intervals less the ``closures``, in time order."""
    return [piece for window in opened for piece in free_intervals(window, closures)]


def _seconds(intervals: Sequence[Interval]) -> float:
    return sum((until - since).total_seconds() for since, until in intervals)


def _overlap_seconds(booked: Sequence[Interval], windows: Sequence[Interval]) -> float:
    """How long ``booked`` and ``windows`` (each in time order, neither overlapping itself)
    overlap, in seconds: booked time counts only while the room is open, so a room is never
    more than fully used."""
    total, b, w = 0.0, 0, 0
    while b < len(booked) and w < len(windows):
        since = max(booked[b][0], windows[w][0])
        until = min(booked[b][1], windows[w][1])
        if until > since:
            total += (until - since).total_seconds()
        if booked[b][1] < windows[w][1]:
            b += 1
        else:
            w += 1
    return total


async def _closures_of(
    session: AsyncSession, rooms: Sequence[Room], start: datetime, end: datetime
) -> list[Closure]:
    """The blackouts over ``[start, end)`` of the rooms and of their buildings, in one query;
    which of them shuts a room is the judge's ``Closure.shuts``."""
    if not rooms:
        return []
    blackouts = await session.execute(
        select(Blackout).where(
            col(Blackout.room_id).in_([room.id for room in rooms])
            | col(Blackout.building_id).in_({room.building_id for room in rooms}),
            col(Blackout.end) > start,
            col(Blackout.start) < end,
        )
    )
    return [Closure.of(blackout) for blackout in blackouts.scalars()]


def _utilisation_row(
    building: str, figures: tuple[float, ...], *, capacity_unknown: int, **room: Any
) -> UtilisationRow:
    """A row from booked, open and released hours, the released and due bookings, and the
    seats, attendee hours and seat hours and the number of its rooms of known capacity; a row
    of only rooms of unknown capacity has neither seats nor occupancy."""
    booked, opened, released_hours, released, due, seats, attendee_hours, seat_hours, known = (
        figures
    )
    return UtilisationRow(
        building=building,
        booked_hours=round(booked, 2),
        open_hours=round(opened, 2),
        utilisation=round(booked / opened, 4) if opened else 0.0,
        released_hours=round(released_hours, 2),
        no_show_rate=round(released / due, 4) if due else None,
        capacity=int(seats) if known else None,
        capacity_unknown=capacity_unknown,
        seat_occupancy=round(attendee_hours / seat_hours, 4) if seat_hours else None,
        **room,
    )
