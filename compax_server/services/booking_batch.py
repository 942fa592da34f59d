"""Many bookings in one transaction, each answered exactly as if it had been made alone.

``create_bookings`` is the batch core behind sync push (and bulk imports). Its contract: the
outcomes, and what ends up in the database, are those of calling
``bookings.create_booking`` for each request in turn. Instead of four statements per booking it
reads what the whole batch needs in a few statements of the store (``store.around``: the
rooms, the blackouts and the confirmed bookings around the requested times; and the ids
already taken), checks each request in memory by the booking judge (``sync.judge``), and
inserts the bookings that pass in one statement. The bookings around a request are found by
one index probe each, all in one statement: confirmed bookings of a room never overlap, so
only the room's first one ending after the request starts can be in its way.

A request the in-memory check does not pass cleanly (any broken rule, a clash, a taken id,
an unknown room, a booking for someone else) is not judged here: the bookings that passed
before it are inserted first, so that the database is exactly as the one-by-one path would
find it, and then ``create_booking`` itself answers it, with the very problem (and
alternatives) a single request gets. The database keeps the last word: if the batch insert
skips a row (a concurrent writer took the time or the id first), it is undone and those
requests go one by one too.

A caller that never shows alternatives (bulk imports) says so with ``alternatives=False``:
then a request that breaks a rule or meets a booking in memory is refused there, with the
judge's very problem (the bookings in the way named, read for all such requests in one
statement at the end), and costs no more statements than one that passes.

The check of wanted slots against what stands around them (``Surroundings``: blackouts, the
bookings in the way, the rules) is shared with timetable imports (``series.import_timetable``),
which book many weekly series the same way.
"""

from __future__ import annotations

import uuid
from bisect import bisect_left, bisect_right
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from types import SimpleNamespace
from typing import Any

from sqlalchemy import (
    delete,
    select,
)
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from compax_server.audit_trail import forget_created
from compax_server.models import Booking, User
from compax_server.services.approval_notices import accesses_for, tell_approvers
from compax_server.services.booking_views import booking_view
from compax_server.services.bookings import (
    booking_row,
    create_booking,
    insert_bookings,
    is_overlap_violation,
)
from compax_server.services.common import id_of, utcnow
from compax_server.services.policy import BookingPolicy
from compax_server.services.quota_check import owners_with_quotas
from compax_server.store import store_for
from compax_server.store.around import Slot, around, bookings_over, rooms_with_codes
from sync import judge
from sync.errors import CompaxError
from sync.judge import Campus, Closure, Held, RoomFacts
from sync.permissions import Access
from sync.rules import overlaps
from sync.schemas import BookingCreate, BookingPublic


@dataclass(frozen=True)
class Created:
    """A booking the batch made: its id and version, and its view when the caller asked."""

    id: uuid.UUID
    version: int
    view: BookingPublic | None = None


#: What became of one request: the booking made, or why it was refused.
Outcome = Created | CompaxError


async def create_bookings(
    session: AsyncSession,
    actor: User,
    requests: Sequence[BookingCreate],
    policy: BookingPolicy,
    *,
    taken: Collection[uuid.UUID] | None = None,
    alternatives: bool = True,
    series: Sequence[uuid.UUID | None] | None = None,
) -> list[Outcome]:
    """Book each request in order within ``session``'s write transaction; one outcome each.

    A refused request leaves no trace; the caller has checked that ``actor`` may book.
    ``taken`` names those of the requests' ids that exist, when the caller has just read them
    in this transaction; otherwise they are read here. Without ``alternatives`` a refusal for
    an overlap carries none (the caller shows none), which spares searching for them.
    ``series`` gives, request by request, the series each booking is an occurrence of.
    """
    return await book_each(
        session,
        [(actor, data) for data in requests],
        policy,
        taken=taken,
        alternatives=alternatives,
        series=series,
    )


async def book_each(
    session: AsyncSession,
    requests: Sequence[tuple[User, BookingCreate]],
    policy: BookingPolicy,
    *,
    views: bool = False,
    taken: Collection[uuid.UUID] | None = None,
    alternatives: bool = True,
    series: Sequence[uuid.UUID | None] | None = None,
) -> list[Outcome]:
    """``create_bookings`` for requests of different users: each booked as its user alone
    would book it, in order, within ``session``'s write transaction; with ``views``, each
    ``Created`` carries the booking as its user sees it (the answer to a single request)."""
    batch = await _Batch.load(session, policy, requests, views, taken)
    if series is not None:
        batch.series = list(series)
    for index, data in enumerate(batch.requests):
        row = batch.clear(index)
        if row is not None:
            batch.ready.append((index, row))
            batch.hold(index, data.room_id, row["start"], row["end"], row["id"])
        elif not alternatives and batch.refuse(index):
            continue
        else:
            await batch.insert_ready()
            await batch.one_by_one(index)
    await batch.insert_ready()
    await batch.name_the_bookings_in_the_way()
    outcomes = [outcome for outcome in batch.outcomes if outcome is not None]
    if len(outcomes) != len(batch.outcomes):  # answers must never shift to other requests
        raise RuntimeError("a request of the batch went unanswered")
    return outcomes


@dataclass
class Busy:
    """Confirmed bookings of one room as sorted, non-overlapping intervals: for each wanted
    slot, the booking that can be in its way (see ``_in_the_way``), and the bookings of the
    batch, each with its holder (the position of the request that holds it; ``None`` for a
    booking read from the database)."""

    starts: list[datetime] = field(default_factory=list)
    ends: list[datetime] = field(default_factory=list)
    holders: list[int | None] = field(default_factory=list)

    def add(self, start: datetime, end: datetime, holder: int | None = None) -> None:
        at = bisect_left(self.ends, end)
        self.starts.insert(at, start)
        self.ends.insert(at, end)
        self.holders.insert(at, holder)

    def clashes(self, start: datetime, end: datetime) -> bool:
        """Whether ``[start, end)`` overlaps a booking: only the first one ending after
        ``start`` can, because the intervals never overlap one another."""
        at = bisect_right(self.ends, start)
        return at < len(self.ends) and overlaps(self.starts[at], self.ends[at], start, end)

    def held_over(self, start: datetime, end: datetime) -> list[tuple[int, datetime]]:
        """The batch's bookings that overlap ``[start, end)``, as (holder, start) pairs."""
        held = []
        at = bisect_right(self.ends, start)
        while at < len(self.ends) and self.starts[at] < end:
            holder = self.holders[at]
            if holder is not None:
                held.append((holder, self.starts[at]))
            at += 1
        return held


@dataclass
class Surroundings:
    """What a batch of wanted slots meets, read in two statements (the blackouts of their rooms
    and buildings, and for each slot the one confirmed booking that can be in its way), so
    that each slot is then checked in memory with the rules a single booking is checked by."""

    campus: Campus
    rooms: Mapping[int, RoomFacts]
    closures: list[Closure] = field(default_factory=list)
    busy: dict[int, Busy] = field(default_factory=dict)

    @classmethod
    async def load(
        cls,
        session: AsyncSession,
        campus: Campus,
        rooms: Mapping[int, RoomFacts],
        slots: Sequence[Slot],
    ) -> Surroundings:
        """What stands around ``slots``, whose rooms are all in ``rooms``."""
        surroundings = cls(campus, rooms)
        if not slots:
            return surroundings
        buildings = {room_id: rooms[room_id].building_id for room_id, _, _ in slots}
        rows = await around(session, buildings, slots)
        surroundings.closures = [Closure.of(row) for row in rows if row.id is not None]
        in_the_way = {(row.room_id, row.start, row.end) for row in rows if row.id is None}
        for room_id, start, end in in_the_way:  # a set: two slots may meet one booking
            surroundings.hold(room_id, start, end)
        return surroundings

    def problems(
        self, room_id: int, start: datetime, end: datetime, attendees: int
    ) -> list[CompaxError]:
        """The judge's problems with booking ``[start, end)`` in the room for ``attendees``,
        closures included (overlaps are ``booked``)."""
        return judge.problems(
            self.rooms[room_id],
            start,
            end,
            self.campus,
            attendees=attendees,
            closures=self.closures,
        )

    def booked(self, room_id: int, start: datetime, end: datetime) -> bool:
        """Whether a confirmed booking, or one the batch holds, overlaps the slot."""
        busy = self.busy.get(room_id)
        return busy is not None and busy.clashes(start, end)

    def held_over(self, room_id: int, start: datetime, end: datetime) -> list[tuple[int, datetime]]:
        """The batch's bookings in the way of the slot, as (holder, start) pairs."""
        busy = self.busy.get(room_id)
        return [] if busy is None else busy.held_over(start, end)

    def hold(self, room_id: int, start: datetime, end: datetime, holder: int | None = None) -> None:
        """Count ``[start, end)`` as booked for the slots checked after it."""
        self.busy.setdefault(room_id, Busy()).add(start, end, holder)


@dataclass
class _Batch:
    """The requests, what the database said about them, and the outcomes so far."""

    session: AsyncSession
    policy: BookingPolicy
    actors: list[User]
    requests: list[BookingCreate]
    views: bool
    rooms: dict[int, RoomFacts]
    taken: set[uuid.UUID]
    around: Surroundings
    ready: list[tuple[int, dict[str, Any]]] = field(default_factory=list)
    outcomes: list[Outcome | None] = field(default_factory=list)
    #: The requests refused in memory for an overlap, whose bookings in the way are not named.
    overlapping: list[int] = field(default_factory=list)
    #: The series each request's booking is an occurrence of, when the caller gave them.
    series: list[uuid.UUID | None] = field(default_factory=list)
    #: The users with a quota in force, whose requests ``create_booking`` judges one by one.
    limited: set[int] = field(default_factory=set)
    #: What each requester may do where, by user id, as the approval rule needs it.
    accesses: dict[int, Access] = field(default_factory=dict)

    @classmethod
    async def load(
        cls,
        session: AsyncSession,
        policy: BookingPolicy,
        requests: Sequence[tuple[User, BookingCreate]],
        views: bool,
        taken: Collection[uuid.UUID] | None,
    ) -> _Batch:
        """The batch, with the rooms, taken ids (unless given) and surroundings its requests
        meet; with several requests (or in a transaction that has taken its rooms) it first
        takes its turn in each of their rooms (``store``)."""
        wanted = [data for _, data in requests]
        campus = policy.campus_now()
        rooms: dict[int, RoomFacts] = {}
        limited: set[int] = set()
        if wanted:
            store = store_for(session)
            limited = await owners_with_quotas(session, [actor for actor, _ in requests])
            if len(wanted) > 1 or store.has_taken(session) or limited:
                await store.take_rooms(session, {data.room_id for data in wanted})
            await store.take_owners(session, limited)
            for row in await rooms_with_codes(session, {data.room_id for data in wanted}):
                rooms[row.id] = campus.room(
                    row, f"{row.building_code}/{row.code}", row.building_approval_roles
                )
        wanted_ids = [data.id for data in wanted if data.id is not None]
        if taken is None and wanted_ids:
            known = await session.execute(
                select(col(Booking.id)).where(col(Booking.id).in_(wanted_ids))
            )
            taken = list(known.scalars())
        slots = [(data.room_id, data.start, data.end) for data in wanted if data.room_id in rooms]
        return cls(
            session,
            policy,
            actors=[actor for actor, _ in requests],
            requests=wanted,
            views=views,
            rooms=rooms,
            taken=set(taken or ()),
            around=await Surroundings.load(session, campus, rooms, slots),
            outcomes=[None] * len(wanted),
            limited=limited,
            accesses=await accesses_for(session, [actor for actor, _ in requests], rooms.values()),
        )

    def clear(self, index: int) -> dict[str, Any] | None:
        """The row to insert if request ``index`` passes every check cleanly, else ``None``."""
        data, actor = self.requests[index], self.actors[index]
        room = self.rooms.get(data.room_id)
        if room is None or (data.id is not None and data.id in self.taken):
            return None
        if data.owner is not None and data.owner.lower() != actor.username:
            return None
        if actor.id in self.limited:
            return None
        if self.around.problems(room.id, data.start, data.end, data.attendees):
            return None
        if self.around.booked(data.room_id, data.start, data.end):
            return None
        status = judge.status_for(room, self.accesses[id_of(actor)])
        return booking_row(data, id_of(actor), utcnow(), self._series_of(index), status)

    def refuse(self, index: int) -> bool:
        """Refuse request ``index`` in memory, as ``create_booking`` would, if what refuses it
        is known here: a broken rule not overridden, or a booking in the way (named later, by
        ``name_the_bookings_in_the_way``). ``False`` leaves the request to ``one_by_one``."""
        data, actor = self.requests[index], self.actors[index]
        room = self.rooms.get(data.room_id)
        if room is None or data.override or (data.id is not None and data.id in self.taken):
            return False
        if data.owner is not None and data.owner.lower() != actor.username:
            return False
        if actor.id in self.limited:
            return False
        broken = self.around.problems(room.id, data.start, data.end, data.attendees)
        if broken:
            try:
                judge.settle(broken, actor.role, override=False)
            except CompaxError as refusal:
                self.outcomes[index] = refusal
                return True
        if self.around.booked(room.id, data.start, data.end):
            self.overlapping.append(index)
            return True
        return False

    async def name_the_bookings_in_the_way(self) -> None:
        """Answer the requests refused in memory for an overlap with the judge's problem,
        naming the bookings that were in each one's way when it came (as its user may see
        them), read for all of them in one statement; no alternatives."""
        if not self.overlapping:
            return
        slots = [self._slot(index) for index in self.overlapping]
        standing = await bookings_over(self.session, slots)
        made_by = {
            outcome.id: index
            for index, outcome in enumerate(self.outcomes)
            if isinstance(outcome, Created)
        }
        for index, (room_id, start, end) in zip(self.overlapping, slots, strict=True):
            room, actor = self.rooms[room_id], self.actors[index]
            held = [
                booking
                for booking in standing
                if booking.room_id == room_id
                and overlaps(booking.start, booking.end, start, end)
                and made_by.get(booking.id, -1) < index
            ]
            views = [booking_view(b, room.label, "", actor) for b in held]
            self.outcomes[index] = judge.overlap(
                room,
                start,
                end,
                self.around.campus,
                [Held(v.id, v.start, v.end, v.title) for v in views],
                judge.Alternatives(rooms=[], times=[]),
            )

    def _series_of(self, index: int) -> uuid.UUID | None:
        return self.series[index] if self.series else None

    def _slot(self, index: int) -> Slot:
        data = self.requests[index]
        return data.room_id, data.start, data.end

    def hold(
        self, index: int, room_id: int, start: datetime, end: datetime, booking_id: uuid.UUID
    ) -> None:
        """Count request ``index``'s booking as taken for the requests after it."""
        self.around.hold(room_id, start, end, index)
        self.taken.add(booking_id)

    async def insert_ready(self) -> None:
        """Insert the bookings that passed, in one statement; if the database skips any,
        delete the ones it made and answer those requests one by one instead (no savepoint:
        it would cost two round trips on every batch for the rare race)."""
        ready, self.ready = self.ready, []
        if not ready:
            return
        try:
            inserted = await insert_bookings(self.session, [row for _, row in ready])
        except IntegrityError as exc:  # SQLite's overlap trigger; the statement is undone
            if not is_overlap_violation(exc):
                raise
            inserted = set()
        if len(inserted) < len(ready):
            if inserted:
                await self.session.execute(delete(Booking).where(col(Booking.id).in_(inserted)))
                await forget_created(self.session, "bookings", inserted)
            for index, _ in ready:
                await self.one_by_one(index)
            return
        for index, row in ready:
            self.outcomes[index] = Created(row["id"], row["version"], self._view(index, row))
        await tell_approvers(self.session, [(row, self.rooms[row["room_id"]]) for _, row in ready])

    def _view(self, index: int, row: dict[str, Any]) -> BookingPublic | None:
        """The booking made from ``row`` as its user sees it, if the caller asked for views."""
        if not self.views:
            return None
        actor = self.actors[index]
        booking = SimpleNamespace(**row)  # what booking_view reads, without a model's cost
        return booking_view(booking, self.rooms[row["room_id"]].label, actor.username, actor)

    async def one_by_one(self, index: int) -> None:
        """Answer one request exactly as ``POST /api/v1/bookings`` would."""
        data = self.requests[index]
        try:
            view = await create_booking(
                self.session,
                self.actors[index],
                data,
                self.policy,
                series_id=self._series_of(index),
            )
        except CompaxError as error:
            self.outcomes[index] = error
            return
        self.outcomes[index] = Created(view.id, view.version, view if self.views else None)
        self.hold(index, view.room_id, view.start, view.end, view.id)
