"""Many bookings in one transaction, each answered exactly as if it had been made alone.

``create_bookings`` is the batch core behind sync push (and bulk imports). Its contract: the
outcomes, and what ends up in the database, are those of calling
``bookings.create_booking`` for each request in turn. Instead of four statements per booking it
reads what the whole batch needs in four statements (the rooms, the ids already taken, the
blackouts and the confirmed bookings around the requested times), checks each request in
memory with the same rule functions (``rule_problems``, ``sync.rules``), and inserts the
bookings that pass in one statement. The bookings around a request are found by one index
probe each, all in that one statement: confirmed bookings of a room never overlap, so only the
room's first one ending after the request starts can be in its way.

A request the in-memory check does not pass cleanly (any broken rule, a clash, a taken id,
an unknown room, a booking for someone else) is not judged here: the bookings that passed
before it are inserted first, so that the database is exactly as the one-by-one path would
find it, and then ``create_booking`` itself answers it, with the very problem (and
alternatives) a single request gets. The database keeps the last word: if the batch insert
skips a row (a concurrent writer took the time or the id first), it is undone and those
requests go one by one too.
"""

from __future__ import annotations

import json
import uuid
from bisect import bisect_left, bisect_right
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import (
    Dialect,
    FromClause,
    Integer,
    ScalarSelect,
    Select,
    bindparam,
    column,
    func,
    literal_column,
    select,
)
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import Mapped
from sqlmodel import col

from compax_server.models import Blackout, Booking, Building, Room, User
from compax_server.services.booking_views import booking_view, is_confirmed
from compax_server.services.bookings import (
    booking_row,
    create_booking,
    insert_bookings,
    is_overlap_violation,
    rule_problems,
)
from compax_server.services.common import id_of, utcnow
from compax_server.services.policy import BookingPolicy
from sync.errors import CompaxError
from sync.rules import overlaps
from sync.schemas import BookingCreate, BookingPublic
from sync.sqltypes import UTCDateTime


@dataclass(frozen=True)
class Created:
    """A booking the batch made: its id and version, and its view when the caller asked."""

    id: uuid.UUID
    version: int
    view: BookingPublic | None = None


#: What became of one request: the booking made, or why it was refused.
Outcome = Created | CompaxError


async def create_bookings(
    session: AsyncSession, actor: User, requests: Sequence[BookingCreate], policy: BookingPolicy
) -> list[Outcome]:
    """Book each request in order within ``session``'s write transaction; one outcome each.

    A refused request leaves no trace; the caller has checked that ``actor`` may book.
    """
    return await book_each(session, [(actor, data) for data in requests], policy)


async def book_each(
    session: AsyncSession,
    requests: Sequence[tuple[User, BookingCreate]],
    policy: BookingPolicy,
    *,
    views: bool = False,
) -> list[Outcome]:
    """``create_bookings`` for requests of different users: each booked as its user alone
    would book it, in order, within ``session``'s write transaction; with ``views``, each
    ``Created`` carries the booking as its user sees it (the answer to a single request)."""
    actors, wanted = [actor for actor, _ in requests], [data for _, data in requests]
    batch = _Batch(session, policy, actors, wanted, views)
    await batch.load()
    for index, data in enumerate(batch.requests):
        row = batch.clear(index)
        if row is not None:
            batch.ready.append((index, row))
            batch.hold(data.room_id, row["start"], row["end"], row["id"])
        else:
            await batch.insert_ready()
            await batch.one_by_one(index)
    await batch.insert_ready()
    return [outcome for outcome in batch.outcomes if outcome is not None]


@dataclass
class _Busy:
    """Confirmed bookings of one room as sorted, non-overlapping intervals: for each request,
    the booking that can be in its way (see ``_IN_THE_WAY``), and the bookings of the batch."""

    starts: list[datetime] = field(default_factory=list)
    ends: list[datetime] = field(default_factory=list)

    def add(self, start: datetime, end: datetime) -> None:
        at = bisect_left(self.ends, end)
        self.starts.insert(at, start)
        self.ends.insert(at, end)

    def clashes(self, start: datetime, end: datetime) -> bool:
        """Whether ``[start, end)`` overlaps a booking: only the first one ending after
        ``start`` can, because the intervals never overlap one another."""
        at = bisect_right(self.ends, start)
        return at < len(self.ends) and overlaps(self.starts[at], self.ends[at], start, end)


@dataclass
class _Batch:
    """The requests, what the database said about them, and the outcomes so far."""

    session: AsyncSession
    policy: BookingPolicy
    actors: list[User]
    requests: list[BookingCreate]
    views: bool = False
    rooms: dict[int, Room] = field(default_factory=dict)
    labels: dict[int, str] = field(default_factory=dict)
    taken: set[uuid.UUID] = field(default_factory=set)
    blackouts: list[tuple[int | None, int | None, datetime, datetime]] = field(default_factory=list)
    busy: dict[int, _Busy] = field(default_factory=dict)
    ready: list[tuple[int, dict[str, Any]]] = field(default_factory=list)
    outcomes: list[Outcome | None] = field(default_factory=list)

    async def load(self) -> None:
        """Read the rooms, taken ids, blackouts and confirmed bookings the requests meet."""
        self.outcomes = [None] * len(self.requests)
        if not self.requests:
            return
        session = self.session
        room_ids = sorted({data.room_id for data in self.requests})
        rooms = await session.execute(
            select(Room, col(Building.code))
            .join(Building, col(Building.id) == col(Room.building_id))
            .where(col(Room.id).in_(room_ids))
        )
        for room, building_code in rooms:
            self.rooms[id_of(room)] = room
            self.labels[id_of(room)] = f"{building_code}/{room.code}"
        if ids := [data.id for data in self.requests if data.id is not None]:
            found = await session.execute(select(col(Booking.id)).where(col(Booking.id).in_(ids)))
            self.taken = set(found.scalars())
        spans = self._spans()
        if not spans:
            return
        first = min(start for start, _ in spans.values())
        last = max(end for _, end in spans.values())
        buildings = {self.rooms[room_id].building_id for room_id in spans}
        blackouts = await session.execute(
            select(
                col(Blackout.room_id),
                col(Blackout.building_id),
                col(Blackout.start),
                col(Blackout.end),
            ).where(
                col(Blackout.room_id).in_(list(spans))
                | col(Blackout.building_id).in_(list(buildings)),
                col(Blackout.start) < last,
                col(Blackout.end) > first,
            )
        )
        self.blackouts = [(b.room_id, b.building_id, b.start, b.end) for b in blackouts]
        dialect = session.get_bind().dialect
        slots = [(d.room_id, d.start, d.end) for d in self.requests if d.room_id in self.rooms]
        in_the_way = await session.execute(_IN_THE_WAY[dialect.name], _wanted(dialect, slots))
        for room_id, start, end in set(in_the_way.all()):  # two requests may meet one booking
            self.busy.setdefault(room_id, _Busy()).add(start, end)

    def _spans(self) -> dict[int, tuple[datetime, datetime]]:
        """For each known room, the earliest start and latest end requested in it."""
        spans: dict[int, tuple[datetime, datetime]] = {}
        for data in self.requests:
            if data.room_id in self.rooms:
                start, end = spans.get(data.room_id, (data.start, data.end))
                spans[data.room_id] = (min(start, data.start), max(end, data.end))
        return spans

    def clear(self, index: int) -> dict[str, Any] | None:
        """The row to insert if request ``index`` passes every check cleanly, else ``None``."""
        data, actor = self.requests[index], self.actors[index]
        room = self.rooms.get(data.room_id)
        if room is None or (data.id is not None and data.id in self.taken):
            return None
        if data.owner is not None and data.owner.lower() != actor.username:
            return None
        for room_id, building_id, start, end in self.blackouts:
            if (room_id == room.id or building_id == room.building_id) and overlaps(
                start, end, data.start, data.end
            ):
                return None
        if rule_problems(room, data.start, data.end, [], self.policy):
            return None
        busy = self.busy.get(data.room_id)
        if busy is not None and busy.clashes(data.start, data.end):
            return None
        return booking_row(data, id_of(actor), utcnow())

    def hold(self, room_id: int, start: datetime, end: datetime, booking_id: uuid.UUID) -> None:
        """Count a booking of this batch as taken for the requests after it."""
        self.busy.setdefault(room_id, _Busy()).add(start, end)
        self.taken.add(booking_id)

    async def insert_ready(self) -> None:
        """Insert the bookings that passed, in one statement; if the database skips any,
        undo the statement and answer those requests one by one instead."""
        ready, self.ready = self.ready, []
        if not ready:
            return
        try:
            async with self.session.begin_nested():
                inserted = await insert_bookings(self.session, [row for _, row in ready])
                if len(inserted) < len(ready):
                    raise _Skipped
        except (_Skipped, IntegrityError) as exc:
            if isinstance(exc, IntegrityError) and not is_overlap_violation(exc):
                raise
            for index, _ in ready:
                await self.one_by_one(index)
            return
        for index, row in ready:
            self.outcomes[index] = Created(row["id"], row["version"], self._view(index, row))

    def _view(self, index: int, row: dict[str, Any]) -> BookingPublic | None:
        """The booking made from ``row`` as its user sees it, if the caller asked for views."""
        if not self.views:
            return None
        actor = self.actors[index]
        return booking_view(Booking(**row), self.labels[row["room_id"]], actor.username, actor)

    async def one_by_one(self, index: int) -> None:
        """Answer one request exactly as ``POST /api/v1/bookings`` would."""
        data = self.requests[index]
        try:
            view = await create_booking(self.session, self.actors[index], data, self.policy)
        except CompaxError as error:
            self.outcomes[index] = error
            return
        self.outcomes[index] = Created(view.id, view.version, view if self.views else None)
        self.hold(view.room_id, view.start, view.end, view.id)


_INSTANTS = ARRAY(UTCDateTime())
#: The wanted slots as rows ``(room_id, start, end)``, from one parameter: arrays on Postgres,
#: a JSON list of the instants as SQLite stores them (so they compare as stored) on SQLite.
_WANTED: dict[str, FromClause] = {
    "postgresql": func.unnest(
        bindparam("room_ids", type_=ARRAY(Integer)),
        bindparam("starts", type_=_INSTANTS),
        bindparam("ends", type_=_INSTANTS),
    )
    .table_valued(column("room_id"), column("start"), column("end"))
    .render_derived(name="wanted"),
    "sqlite": select(
        *(
            func.json_extract(literal_column("value"), f"$[{at}]").label(name)
            for at, name in enumerate(("room_id", "start", "end"))
        )
    )
    .select_from(func.json_each(bindparam("wanted")))
    .subquery("wanted"),
}


def _in_the_way(wanted: FromClause) -> Select[int, datetime, datetime]:
    """For each wanted slot, the room's first confirmed booking that ends after the slot starts,
    if it starts before the slot ends: the only one that can overlap the slot, because confirmed
    bookings of a room never overlap one another. One probe of the room's index each."""

    def first_after(value: Mapped[datetime]) -> ScalarSelect[datetime]:
        return (
            select(value)
            .where(
                col(Booking.room_id) == wanted.c.room_id,
                is_confirmed(),
                col(Booking.end) > wanted.c.start,
            )
            .order_by(col(Booking.end))
            .limit(1)
            .scalar_subquery()
        )

    probes = select(
        wanted.c.room_id.label("room_id"),
        wanted.c.end.label("wanted_end"),
        first_after(col(Booking.start)).label("start"),
        first_after(col(Booking.end)).label("end"),
    ).subquery("probes")
    return select(probes.c.room_id, probes.c.start, probes.c.end).where(
        probes.c.start < probes.c.wanted_end
    )


#: Built once per dialect: building a statement is not free.
_IN_THE_WAY = {name: _in_the_way(wanted) for name, wanted in _WANTED.items()}


def _wanted(dialect: Dialect, slots: list[tuple[int, datetime, datetime]]) -> dict[str, Any]:
    """The parameters of ``_IN_THE_WAY`` for these slots (at least one)."""
    if dialect.name == "postgresql":
        room_ids, starts, ends = zip(*slots, strict=True)
        return {"room_ids": list(room_ids), "starts": list(starts), "ends": list(ends)}
    stored = UTCDateTime().dialect_impl(dialect).bind_processor(dialect)
    assert stored is not None
    return {
        "wanted": json.dumps([[room, stored(start), stored(end)] for room, start, end in slots])
    }


class _Skipped(Exception):
    """The database skipped a row of a batch insert: undo it and go one by one."""
