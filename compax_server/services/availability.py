"""What is free when: free-room search, alternatives to a clash, and day and week grids, each
with a fixed number of queries whatever the number of rooms."""

from __future__ import annotations

import base64
import binascii
import uuid
from collections import defaultdict
from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import and_, exists, func, or_, select, tuple_
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from compax_server.models import Blackout, Booking, Building, Room, User
from compax_server.services.booking_views import booking_view, holds_room
from compax_server.services.campus import rooms_matching
from compax_server.services.policy import BookingPolicy
from compax_server.services.rating_order import by_rating, rating_cursor
from sync import judge
from sync.errors import NotFound, ValidationFailed
from sync.judge import Campus, Closure, RoomFacts
from sync.rating_rules import rating_average, rating_rank
from sync.rules import Interval, free_intervals, open_intervals, opening_window
from sync.schemas import (
    MAX_ID,
    BuildingAvailability,
    BusyInterval,
    FreeRoom,
    FreeRoomQuery,
    Page,
    RoomAvailability,
    RoomQuery,
)
from sync.schemas import Interval as IntervalModel
from sync.vocabulary import RoomSort

#: What a free-room answer needs of each room: its summary and its booking rules.
_ROOM_COLUMNS: tuple[Any, ...] = (
    col(Room.id),
    col(Room.code),
    col(Room.name),
    col(Room.kind),
    col(Room.capacity),
    col(Room.bookable),
    col(Room.building_id),
    col(Room.opening_hours),
    col(Room.min_duration_minutes),
    col(Room.max_duration_minutes),
    col(Room.max_days_ahead),
    col(Room.min_notice_minutes),
    col(Room.approval_roles),
    col(Building.code).label("building_code"),
    col(Room.rating_count),
    col(Room.rating_total),
    col(Room.open_issues),
)
#: Rooms read per round trip while looking for open ones.
_BATCH = 64


def _free_rooms_statement(
    start: datetime, end: datetime, query: RoomQuery, exclude_room: int | None = None
) -> Any:
    """Bookable rooms matching ``query`` with no holding booking (confirmed or pending) or
    blackout in the window.

    The busy check probes one row per room: the first holding booking ending after ``start``
    (the partial index on (room_id, end) gives it at once). Because a room's holding bookings
    never overlap, the room is taken exactly when that booking starts
    before ``end``; no other booking of the room needs reading.
    """
    first_after = (
        select(col(Booking.start))
        .where(col(Booking.room_id) == col(Room.id), holds_room(), col(Booking.end) > start)
        .order_by(col(Booking.end))
        .limit(1)
        .correlate(Room)
        .scalar_subquery()
    )
    closed_room = exists().where(
        col(Blackout.room_id) == col(Room.id), col(Blackout.end) > start, col(Blackout.start) < end
    )
    closed_building = exists().where(
        col(Blackout.building_id) == col(Room.building_id),
        col(Blackout.end) > start,
        col(Blackout.start) < end,
    )
    statement = rooms_matching(query.model_copy(update={"bookable": True}), *_ROOM_COLUMNS)
    statement = statement.where(
        func.coalesce(first_after, end) >= end, ~closed_room, ~closed_building
    )
    if exclude_room is not None:
        statement = statement.where(col(Room.id) != exclude_room)
    return statement


async def _accepted_rooms(
    session: AsyncSession,
    statement: Any,
    start: datetime,
    end: datetime,
    campus: Campus,
    limit: int,
    *,
    attendees: int = 0,
    near: RoomFacts | None = None,
    ranked: bool = True,
) -> list[tuple[RoomFacts, Any]]:
    """Up to ``limit`` rooms of ``statement`` (free rooms, in ``judge.room_rank`` order, or in
    the statement's own when not ``ranked``) that the judge accepts for the window, each with
    its row, read in batches so that the database stops as soon as enough are found."""
    found: list[tuple[RoomFacts, Any]] = []
    offset = 0
    connection = await session.connection()  # columns only: Core, without the ORM's work
    while len(found) < limit:
        rows = (await connection.execute(statement.limit(_BATCH).offset(offset))).all()
        by_id = {row.id: row for row in rows}
        facts = [campus.room(row, f"{row.building_code}/{row.code}") for row in rows]
        accepted = judge.best_rooms(
            facts,
            start,
            end,
            campus,
            attendees=attendees,
            near=near,
            limit=limit - len(found),
            ranked=ranked,
        )
        found += [(room, by_id[room.id]) for room in accepted]
        if len(rows) < _BATCH:
            break
        offset += _BATCH
    return found


def _free_room(room: Any) -> FreeRoom:
    return FreeRoom(
        id=room.id,
        room=f"{room.building_code}/{room.code}",
        building=room.building_code,
        code=room.code,
        name=room.name,
        kind=room.kind,
        capacity=room.capacity,
        rating_average=rating_average(room.rating_count, room.rating_total),
        rating_count=room.rating_count,
        open_issues=room.open_issues,
    )


def _encode_room_cursor(room: Any) -> str:
    """The place of ``room`` in the free-room order (capacity, unknown last, then id), as a
    cursor; an unknown capacity is written empty."""
    text = f"room:{'' if room.capacity is None else room.capacity}:{room.id}"
    return base64.urlsafe_b64encode(text.encode()).decode().rstrip("=")


def _decode_room_cursor(cursor: str) -> tuple[int | None, int]:
    try:
        text = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode()
    except (binascii.Error, UnicodeDecodeError, ValueError):
        text = ""
    kind, _, rest = text.partition(":")
    capacity, _, room_id = rest.partition(":")
    if kind == "room" and all(
        part.isascii() and part.isdigit() and len(part) <= 10 and int(part) <= MAX_ID
        for part in ((capacity or "0"), room_id)
    ):
        return (int(capacity) if capacity else None), int(room_id)
    raise ValidationFailed.single("cursor", "is not a cursor this server handed out")


def _after_room(capacity: int | None, room_id: int, *, seats_asked: bool) -> Any:
    """Rooms after ``(capacity, room_id)`` in the free-room order: the known capacities in
    ascending order, then the unknown ones, each by id; NULLs are compared explicitly, so that
    neither database's NULL ordering decides. A search that asks seats has no unknown ones,
    and its plain row comparison stays a condition of the capacity index."""
    if capacity is None:
        return and_(col(Room.capacity).is_(None), col(Room.id) > room_id)
    after_known = tuple_(col(Room.capacity), col(Room.id)) > tuple_(capacity, room_id)
    return after_known if seats_asked else or_(col(Room.capacity).is_(None), after_known)


async def free_rooms(
    session: AsyncSession, query: FreeRoomQuery, policy: BookingPolicy
) -> Page[FreeRoom]:
    """Rooms free then that the judge accepts for the window and ``query.capacity`` attendees,
    smallest that fits first, a page of ``query.limit`` after ``query.cursor``; rooms of unknown
    capacity come last, and only when no capacity is asked."""
    room_query = RoomQuery(
        building=query.building,
        kind=query.kind,
        capacity=query.capacity or None,  # no seats asked, as the judge reads 0 attendees
        features=query.features,
        min_rating=query.min_rating,
    )
    statement = _free_rooms_statement(query.start, query.end, room_query)
    if query.sort == RoomSort.RATING:
        return await _free_rooms_by_rating(session, statement, query, policy)
    if query.cursor:
        after = _decode_room_cursor(query.cursor)
        statement = statement.where(_after_room(*after, seats_asked=query.capacity is not None))
    # NULLS LAST, spelt out: SQLite sorts NULLs first by default, Postgres last.
    statement = statement.order_by(col(Room.capacity).nulls_last(), col(Room.id))
    campus = policy.campus_now()
    accepted = await _accepted_rooms(
        session,
        statement,
        query.start,
        query.end,
        campus,
        query.limit + 1,
        attendees=query.capacity or 0,
    )
    rows = [row for _, row in accepted[: query.limit]]
    more = len(accepted) > query.limit
    return Page(
        items=[_free_room(row) for row in rows],
        next_cursor=_encode_room_cursor(rows[-1]) if more else None,
    )


#: The free-room order's capacity key when sorting by rating: a room of unknown capacity last.
_UNKNOWN_CAPACITY = 10_001


async def _free_rooms_by_rating(
    session: AsyncSession, statement: Any, query: FreeRoomQuery, policy: BookingPolicy
) -> Page[FreeRoom]:
    """``free_rooms`` best rated first, unrated last, ties smallest first."""
    capacity = func.coalesce(col(Room.capacity), _UNKNOWN_CAPACITY)
    statement = by_rating(statement, [capacity, col(Room.id)], query.cursor)
    accepted = await _accepted_rooms(
        session,
        statement,
        query.start,
        query.end,
        policy.campus_now(),
        query.limit + 1,
        attendees=query.capacity or 0,
        ranked=False,
    )
    rows = [row for _, row in accepted[: query.limit]]
    cursor = None
    if len(accepted) > query.limit:
        last = rows[-1]
        ties = [_UNKNOWN_CAPACITY if last.capacity is None else last.capacity, last.id]
        cursor = rating_cursor(rating_rank(last.rating_count, last.rating_total), ties)
    return Page(items=[_free_room(row) for row in rows], next_cursor=cursor)


async def alternatives(
    session: AsyncSession,
    room: RoomFacts,
    start: datetime,
    end: datetime,
    campus: Campus,
    *,
    attendees: int = 0,
    features: Sequence[str] = (),
    exclude: Sequence[uuid.UUID] = (),
) -> judge.Alternatives:
    """What the judge offers instead of ``[start, end)`` in ``room``: free rooms that fit
    (same building first) and the nearest free times in the same room on the same day."""
    room_query = RoomQuery(capacity=attendees or None, features=list(features))
    statement = _free_rooms_statement(start, end, room_query, exclude_room=room.id)
    same_building_first = (col(Room.building_id) != room.building_id).asc()
    statement = statement.order_by(
        same_building_first, col(Room.capacity).nulls_last(), col(Room.id)
    )
    rows = await _accepted_rooms(
        session,
        statement,
        start,
        end,
        campus,
        judge.ROOM_ALTERNATIVES,
        attendees=attendees,
        near=room,
    )
    rooms = [facts for facts, _ in rows]
    window = opening_window(
        start.astimezone(campus.zone).date(), room.rules.opening_hours, campus.zone
    )
    busy: list[Interval] = []
    closures: list[Closure] = []
    if window is not None:
        busy, closures = await _around(session, room, *window, exclude)
    times = judge.free_times(
        room, start, end, campus, busy=busy, closures=closures, attendees=attendees
    )
    return judge.Alternatives(rooms, times)


async def _around(
    session: AsyncSession,
    room: RoomFacts,
    start: datetime,
    end: datetime,
    exclude: Sequence[uuid.UUID],
) -> tuple[list[Interval], list[Closure]]:
    """The room's bookings holding it, confirmed or pending (less ``exclude``), and the
    closures during the window."""
    bookings = select(col(Booking.start), col(Booking.end)).where(
        col(Booking.room_id) == room.id,
        holds_room(),
        col(Booking.end) > start,
        col(Booking.start) < end,
    )
    if exclude:
        bookings = bookings.where(col(Booking.id).not_in(exclude))
    blackouts = select(Blackout).where(
        (col(Blackout.room_id) == room.id) | (col(Blackout.building_id) == room.building_id),
        col(Blackout.end) > start,
        col(Blackout.start) < end,
    )
    busy = [(row[0], row[1]) for row in (await session.execute(bookings)).all()]
    closures = [Closure.of(b) for b in (await session.execute(blackouts)).scalars()]
    return busy, closures


def open_hours(
    room: Room | None, start: datetime, end: datetime, policy: BookingPolicy
) -> list[Interval]:
    """The opening hours of ``room`` (of the campus, for ``None``) within ``[start, end)``."""
    hours = (
        policy.campus.opening_hours if room is None else policy.campus.for_room(room).opening_hours
    )
    return open_intervals(hours, start, end, policy.zone)


async def room_availability(
    session: AsyncSession,
    room_id: int,
    start: datetime,
    end: datetime,
    policy: BookingPolicy,
    viewer: User,
) -> RoomAvailability:
    statement = select(Room, col(Building.code)).join(Building).where(col(Room.id) == room_id)
    row = (await session.execute(statement)).first()
    if row is None:
        raise NotFound(f"No room with id {room_id}")
    return (await _grids(session, [row], start, end, policy, viewer))[0]


async def building_availability(
    session: AsyncSession,
    code: str,
    start: datetime,
    end: datetime,
    policy: BookingPolicy,
    viewer: User,
) -> BuildingAvailability:
    statement = (
        select(Room, col(Building.code)).join(Building).where(col(Building.code) == code.upper())
    )
    rows = (await session.execute(statement.order_by(col(Room.code)))).all()
    if not rows:
        exists_ = await session.execute(
            select(col(Building.id)).where(col(Building.code) == code.upper())
        )
        if exists_.first() is None:
            raise NotFound(f"No building with code {code}")
    return BuildingAvailability(
        building=code.upper(), rooms=await _grids(session, rows, start, end, policy, viewer)
    )


async def _grids(
    session: AsyncSession,
    rows: Sequence[Any],
    start: datetime,
    end: datetime,
    policy: BookingPolicy,
    viewer: User,
) -> list[RoomAvailability]:
    """Busy, free and open intervals of each room, from two queries for all of them."""
    room_ids = [room.id for room, _ in rows]
    building_ids = {room.building_id for room, _ in rows}
    bookings = await session.execute(
        select(Booking, col(User.username))
        .join(User, col(User.id) == col(Booking.owner_id))
        .where(
            col(Booking.room_id).in_(room_ids),
            holds_room(),
            col(Booking.end) > start,
            col(Booking.start) < end,
        )
        .order_by(col(Booking.start))
    )
    blackouts = await session.execute(
        select(Blackout).where(
            col(Blackout.room_id).in_(room_ids) | col(Blackout.building_id).in_(building_ids),
            col(Blackout.end) > start,
            col(Blackout.start) < end,
        )
    )
    labels = {room.id: f"{code}/{room.code}" for room, code in rows}
    busy_by_room: dict[int, list[BusyInterval]] = defaultdict(list)
    for booking, owner in bookings:
        view = booking_view(booking, labels[booking.room_id], owner, viewer)
        busy_by_room[booking.room_id].append(
            BusyInterval(
                start=booking.start,
                end=booking.end,
                kind="booking",
                booking={
                    "id": view.id,
                    "title": view.title,
                    "purpose": view.purpose,
                    "owner": view.owner,
                },
            )
        )
    blackout_list = list(blackouts.scalars())
    grids = []
    for room, _ in rows:
        busy = list(busy_by_room[room.id])
        busy += [
            BusyInterval(
                start=b.start, end=b.end, kind="blackout", blackout={"id": b.id, "reason": b.reason}
            )
            for b in blackout_list
            if b.room_id == room.id or b.building_id == room.building_id
        ]
        busy.sort(key=lambda item: item.start)
        opened = open_hours(room, start, end, policy)
        spans = [(item.start, item.end) for item in busy]
        free = [iv for window in opened for iv in free_intervals(window, spans)]
        grids.append(
            RoomAvailability(
                room_id=room.id,
                room=labels[room.id],
                capacity=room.capacity,
                busy=busy,
                free=[IntervalModel(start=s, end=e) for s, e in free],
                open=[IntervalModel(start=s, end=e) for s, e in opened],
            )
        )
    return grids
