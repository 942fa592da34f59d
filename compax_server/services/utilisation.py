"""The utilisation report: booked hours over open hours per room and per building."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from compax_server.models import Blackout, Booking, Building, Room
from compax_server.services.availability import open_hours
from compax_server.services.booking_views import is_confirmed
from compax_server.services.common import id_of
from compax_server.services.policy import BookingPolicy
from sync.judge import Closure
from sync.rules import Interval, free_intervals
from sync.schemas import UtilisationReport, UtilisationRow


async def utilisation_report(
    session: AsyncSession,
    start: datetime,
    end: datetime,
    building: str | None,
    policy: BookingPolicy,
) -> UtilisationReport:
    """Booked hours over open hours per bookable room and per building in ``[start, end)``.

    Open hours are the room's opening hours less its closures (blackouts of the room or its
    building); booked hours count only while the room is open (a booking kept under a closure,
    or made outside opening hours by override, does not). Three statements whatever the
    number of rooms: the rooms, their confirmed bookings in the window (the partial index of
    confirmed bookings by room and end), and the closures."""
    statement = select(Room, col(Building.code)).join(Building).where(col(Room.bookable).is_(True))
    if building:
        statement = statement.where(col(Building.code) == building.upper())
    rooms = (await session.execute(statement.order_by(col(Building.code), col(Room.code)))).all()
    room_ids = [id_of(room) for room, _ in rooms]
    booked = await session.execute(
        select(col(Booking.room_id), col(Booking.start), col(Booking.end)).where(
            col(Booking.room_id).in_(room_ids),
            is_confirmed(),
            col(Booking.end) > start,
            col(Booking.start) < end,
        )
    )
    booked_by_room: dict[int, list[Interval]] = defaultdict(list)
    for room_id, booking_start, booking_end in booked:
        booked_by_room[room_id].append((max(booking_start, start), min(booking_end, end)))
    closed = await _closures_of(session, [room for room, _ in rooms], start, end)
    campus_hours = open_hours(None, start, end, policy)
    per_room: list[UtilisationRow] = []
    per_building: defaultdict[str, list[float]] = defaultdict(lambda: [0.0, 0.0])
    for room, code in rooms:
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
        hours = _overlap_seconds(bookings, windows) / 3600, _seconds(windows) / 3600
        per_room.append(_utilisation_row(code, hours, room_id=room.id, room=f"{code}/{room.code}"))
        per_building[code][0] += hours[0]
        per_building[code][1] += hours[1]
    buildings = [_utilisation_row(code, (b, o)) for code, (b, o) in per_building.items()]
    return UtilisationReport(rooms=per_room, buildings=buildings)


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


def _utilisation_row(building: str, hours: tuple[float, float], **room: Any) -> UtilisationRow:
    booked, opened = hours
    return UtilisationRow(
        building=building,
        booked_hours=round(booked, 2),
        open_hours=round(opened, 2),
        utilisation=round(booked / opened, 4) if opened else 0.0,
        **room,
    )
