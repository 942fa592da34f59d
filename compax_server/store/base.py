"""The booking store's protocol, the same on every database (``compax_server.store``).

Every transaction that writes bookings follows one protocol: it takes every room it will
touch (the rooms it books in, both rooms of a move, the rooms of what it cancels) once, in
ascending id, before it changes anything; every later write checks that its room was taken
(``RoomsNotTaken`` otherwise, and the transaction starts again taking it too). Two writers
then never wait for each other in opposite orders, so they never deadlock. The one exception
is a transaction that inserts a single new booking and nothing else: its insert holds no row
while it waits, so it needs no turn.

How a room is taken (an advisory lock on Postgres; nothing on SQLite, whose writers are
serial) and how bookings and their change-log entries are inserted are each database's own
business, behind ``BookingStore``.
"""

from __future__ import annotations

import uuid
from abc import ABC, abstractmethod
from collections.abc import Awaitable, Callable, Iterable, Mapping, Sequence
from datetime import datetime
from typing import TYPE_CHECKING, Any, TypeVar

from sqlalchemy.ext.asyncio import AsyncSession

from compax_server.audit_trail import name_change
from compax_server.jobs.queue import enqueue
from compax_server.models import Booking
from compax_server.services.common import apply_changes
from sync.errors import Unavailable
from sync.vocabulary import HOLDING, AuditAction

if TYPE_CHECKING:
    from compax_server.db import Database

T = TypeVar("T")
#: Where a session keeps the rooms its transaction has taken.
_TAKEN = "compax.rooms_taken"
#: Where a session keeps rooms to take besides those its first take names (``writing``).
_ALSO = "compax.rooms_also"
#: The job that offers a slot a booking stopped holding to the waitlist.
OFFER_FREED_SLOT = "offer_freed_slot"
#: Where a session keeps the owners whose bookings its transaction has taken a turn for.
_OWNERS = "compax.owners_taken"
#: Where a session keeps owners to take besides those its first take names (``writing``).
_OWNERS_ALSO = "compax.owners_also"
#: How many times ``writing`` starts a transaction again to take rooms it found it needs.
ATTEMPTS = 3


class RoomsNotTaken(Exception):
    """A write needs rooms (or owners' turns) its transaction could not take in order at its
    start: start again, taking ``rooms`` and ``owners`` too."""

    def __init__(self, rooms: Iterable[int], owners: Iterable[int] = ()) -> None:
        self.rooms = frozenset(rooms)
        self.owners = frozenset(owners)
        super().__init__(f"rooms not taken: {sorted(self.rooms)}, owners: {sorted(self.owners)}")


class BookingStore(ABC):
    """The writes of bookings on one database."""

    async def take_rooms(self, session: AsyncSession, room_ids: Iterable[int]) -> None:
        """Take ``room_ids`` for this transaction, ascending, if it has taken none yet; else
        check that they were taken (``RoomsNotTaken`` names the rest)."""
        wanted = frozenset(room_ids)
        taken: frozenset[int] | None = session.info.get(_TAKEN)
        if taken is None:
            wanted |= session.info.get(_ALSO, frozenset())
            session.info[_TAKEN] = wanted
            if wanted:
                await self._lock(session, sorted(wanted))
        elif not wanted <= taken:
            raise RoomsNotTaken(wanted - taken)

    async def take_owners(self, session: AsyncSession, owner_ids: Iterable[int]) -> None:
        """Take a turn for the bookings of each of ``owner_ids`` not taken yet, ascending, so
        that two writers of one user's bookings judge that user's quota one after the other.
        A transaction takes its rooms first (if it takes any), then its owners, always in
        ascending order: an owner below one already taken starts the transaction again
        (``RoomsNotTaken``) taking it with the others, so writers never wait for each other in
        opposite orders."""
        taken: set[int] | None = session.info.get(_OWNERS)
        wanted = set(owner_ids)
        if taken is None:
            wanted |= session.info.get(_OWNERS_ALSO, frozenset())
            taken = session.info[_OWNERS] = set()
        new = sorted(wanted - taken)
        if not new:
            return
        if taken and new[0] < max(taken):
            raise RoomsNotTaken((), new)
        taken.update(new)
        await self._lock_owners(session, new)

    @staticmethod
    def has_taken(session: AsyncSession) -> bool:
        """Whether this transaction has taken its rooms already."""
        return _TAKEN in session.info

    async def change_bookings(
        self,
        session: AsyncSession,
        changes: Sequence[tuple[Any, Mapping[str, Any]]],
        *,
        action: AuditAction | None = None,
        reason: str = "",
    ) -> None:
        """Apply each change (new fields, a move, a cancellation) to its booking, in one
        savepoint, once this transaction is known to hold every room they leave or enter
        (``RoomsNotTaken`` otherwise). The database may refuse a move that overlaps
        (``IntegrityError``; the savepoint is undone). Each booking that stops holding all or
        part of its slot asks, in the same transaction, for the slot to be offered to those
        waiting for it. Each change is audited as ``action`` (an update, or a cancellation when
        the status becomes ``cancelled``, unless named) with ``reason``."""
        if not self.has_taken(session):
            raise RuntimeError("a transaction that changes bookings takes their rooms first")
        leaving = {booking.room_id for booking, _ in changes}
        entering = {fields["room_id"] for _, fields in changes if "room_id" in fields}
        await self.take_rooms(session, leaving | entering)
        async with session.begin_nested():
            for booking, fields in changes:
                if action is not None or reason:
                    name_change(session, booking.id, action, reason)
                held = _slot_held(booking)
                apply_changes(booking, dict(fields))
                if held is not None and not _still_holds(booking, *held):
                    await _offer_freed(session, booking, *held)

    @abstractmethod
    async def _lock(self, session: AsyncSession, room_ids: Sequence[int]) -> None:
        """Wait for this transaction's turn in each room, in the order given."""

    @abstractmethod
    async def _lock_owners(self, session: AsyncSession, owner_ids: Sequence[int]) -> None:
        """Wait for this transaction's turn with each owner's bookings, in the order given."""

    @abstractmethod
    async def insert_bookings(
        self, session: AsyncSession, rows: Sequence[dict[str, Any]]
    ) -> set[uuid.UUID]:
        """Insert bookings and their change-log entries; the ids inserted.

        A row whose id is taken, or that overlaps a booking holding its room (confirmed or
        pending) committed or being written, is skipped or refused without undoing the rest of
        the transaction; the caller says why.
        """


#: A slot a holding booking has: its room, start and end.
_Slot = tuple[int, datetime, datetime]


def _slot_held(booking: Booking) -> _Slot | None:
    """The slot ``booking`` holds, or ``None`` if it holds none."""
    if booking.status not in HOLDING:
        return None
    return booking.room_id, booking.start, booking.end


def _still_holds(booking: Booking, room_id: int, start: datetime, end: datetime) -> bool:
    """Whether ``booking``, as changed, still holds all of the slot it held."""
    return (
        booking.status in HOLDING
        and booking.room_id == room_id
        and booking.start <= start
        and booking.end >= end
    )


async def _offer_freed(
    session: AsyncSession, booking: Booking, room_id: int, start: datetime, end: datetime
) -> None:
    """Ask for the slot ``booking`` held (some of which it left) to be offered to the waitlist."""
    await enqueue(
        session,
        OFFER_FREED_SLOT,
        f"freed:{booking.id}:{booking.version}",
        {"room_id": room_id, "start": start.isoformat(), "end": end.isoformat()},
    )


async def writing(db: Database, work: Callable[[AsyncSession], Awaitable[T]]) -> T:
    """``work`` in a write transaction; when it finds it needs rooms or owners it did not take
    in order, it runs again in a new transaction that takes them too (at most ``ATTEMPTS``
    times, then 503)."""
    also: frozenset[int] = frozenset()
    also_owners: frozenset[int] = frozenset()
    for _ in range(ATTEMPTS):
        try:
            async with db.write() as session:
                session.info[_ALSO] = also
                session.info[_OWNERS_ALSO] = also_owners
                return await work(session)
        except RoomsNotTaken as missing:
            also |= missing.rooms
            also_owners |= missing.owners
    raise Unavailable("The bookings kept moving while this change was made; try again")
