"""The waitlist: users wait for a taken slot, and take or leave what is offered to them.

Whether the slot could be booked is the judge's to say, exactly as for a booking: joining asks
it about the request (a request it would refuse for any reason but the bookings in the way is
refused now, not offered later), and a slot with nothing in its way is refused as
``slot-free``, to be booked instead. Offers are made by the job in ``jobs/waitlist.py``.
"""

from __future__ import annotations

import base64
import uuid
from datetime import datetime
from typing import cast

from pydantic import TypeAdapter
from sqlalchemy import select, tuple_
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from compax_server.models import Booking, Building, Room, RoomFeature, User, WaitlistEntry
from compax_server.services.availability import free_rooms
from compax_server.services.bookings import closures_over, room_and_slot, rooms_touched
from compax_server.services.common import apply_changes, check_version, id_of, utcnow
from compax_server.services.policy import BookingPolicy
from compax_server.store import store_for
from sync import judge
from sync.errors import (
    CompaxError,
    Forbidden,
    NotFound,
    NotOffered,
    SlotFree,
    ValidationFailed,
)
from sync.judge import Campus
from sync.permissions import Role
from sync.schemas import FreeRoomQuery, Instant, Page
from sync.vocabulary import HOLDING, BookingStatus, Scope, WaitState
from sync.waitlist import WaitCreate, WaitPublic, WaitQuery

#: Entries still in line or holding an offer: the ones a user may withdraw.
OPEN = (WaitState.WAITING.value, WaitState.OFFERED.value)


def public(entry: WaitlistEntry) -> WaitPublic:
    return WaitPublic.model_validate(entry)


def sees_everyones(user: User) -> bool:
    """Whether ``user`` sees and withdraws other people's entries (administrators do)."""
    return user.role == Role.ADMIN


def parse_entry_id(raw: str) -> uuid.UUID:
    try:
        return uuid.UUID(raw)
    except ValueError:
        raise _no_entry(raw) from None


def _no_entry(entry_id: object) -> NotFound:
    return NotFound(f"No waitlist entry with id {entry_id}")


async def join(
    session: AsyncSession, user: User, data: WaitCreate, policy: BookingPolicy
) -> WaitPublic:
    """Put ``user`` in line for the slot ``data`` names, or say why not."""
    campus = policy.campus_now()
    building_id = None
    if data.room_id is not None:
        label, booked = await _judged(session, user, data, campus, data.room_id)
        if not booked:
            raise SlotFree(f"{label} is free then: book it instead", room_ids=[data.room_id])
    else:
        building_id = await _building_id(session, str(data.building))
        await _judged_somewhere(session, user, data, campus, building_id)
        free = await free_rooms(
            session,
            FreeRoomQuery(
                start=data.start,
                end=data.end,
                capacity=max(data.min_capacity, data.attendees) or None,
                features=data.features,
                building=data.building,
                limit=3,
            ),
            policy,
        )
        if free.items:
            rooms = ", ".join(room.room for room in free.items)
            raise SlotFree(
                f"Rooms are free then: {rooms}; book one instead",
                room_ids=[room.id for room in free.items],
            )
    now = utcnow()
    entry = WaitlistEntry(
        user_id=id_of(user),
        room_id=data.room_id,
        building_id=building_id,
        min_capacity=data.min_capacity,
        features=data.features,
        start=data.start,
        end=data.end,
        title=data.title,
        purpose=data.purpose.value,
        attendees=data.attendees,
        auto_book=data.auto_book,
        state=WaitState.WAITING.value,
        created_at=now,
        updated_at=now,
    )
    session.add(entry)
    await session.flush()
    return public(entry)


async def _judged(
    session: AsyncSession, user: User, data: WaitCreate, campus: Campus, room_id: int
) -> tuple[str, bool]:
    """Ask the judge about ``data`` in the room, the bookings in the way aside: it raises the
    problem of a request it refuses. The room's label, and whether a booking is in the way."""
    room, label, probe = await room_and_slot(session, room_id, data.start, data.end)
    closures = await closures_over(session, room, data.start, data.end) if probe.blacked_out else []
    broken = judge.problems(
        campus.room(room, label),
        data.start,
        data.end,
        campus,
        attendees=data.attendees,
        closures=closures,
    )
    judge.settle(broken, user.role, override=False)
    return label, probe.booked


async def _judged_somewhere(
    session: AsyncSession, user: User, data: WaitCreate, campus: Campus, building_id: int
) -> None:
    """Refuse a wait for any matching room of the building unless the judge, the bookings in
    the way aside, accepts it in one of them: with the first room's problem, or naming the
    seats and features when no room of the building has them."""
    seats = max(data.min_capacity, data.attendees)
    rooms = select(col(Room.id)).where(col(Room.building_id) == building_id)
    if seats > 0:
        # Asking seats leaves rooms of unknown capacity out (sync.judge.offered_for).
        rooms = rooms.where(col(Room.capacity).is_not(None), col(Room.capacity) >= seats)
    for feature in data.features:
        rooms = rooms.where(
            select(col(RoomFeature.room_id))
            .where(col(RoomFeature.room_id) == col(Room.id), col(RoomFeature.feature) == feature)
            .exists()
        )
    found = await session.execute(rooms.order_by(col(Room.id)))
    matching = cast(list[int], list(found.scalars()))
    if not matching:
        raise ValidationFailed.single(
            "min_capacity", f"no room of {data.building} seats {seats} with those features"
        )
    refusal: CompaxError | None = None
    for room_id in matching:
        try:
            await _judged(session, user, data, campus, room_id)
        except CompaxError as problem:
            refusal = refusal or problem
        else:
            return
    assert refusal is not None
    raise refusal


async def _building_id(session: AsyncSession, code: str) -> int:
    found = await session.scalar(select(col(Building.id)).where(col(Building.code) == code))
    if found is None:
        raise ValidationFailed.single("building", f"no building has code {code}")
    return int(found)


async def entry_for(
    session: AsyncSession, user: User, entry_id: uuid.UUID, *, for_update: bool = False
) -> WaitlistEntry:
    """The entry, if ``user`` may see it; 404 alike for one that is not there and one that is
    someone else's."""
    entry = await session.get(WaitlistEntry, entry_id, with_for_update=for_update)
    if entry is None or not (entry.user_id == user.id or sees_everyones(user)):
        raise _no_entry(entry_id)
    return entry


#: A cursor's instant is read as any other instant is, so that no made-up one reaches SQL.
_CURSOR_INSTANT: TypeAdapter[datetime] = TypeAdapter(Instant)


def _encode_cursor(entry: WaitlistEntry) -> str:
    text = f"{entry.created_at.isoformat()}|{entry.id}"
    return base64.urlsafe_b64encode(text.encode()).decode().rstrip("=")


def _decode_cursor(cursor: str) -> tuple[datetime, uuid.UUID]:
    try:
        text = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode()
        created, _, entry_id = text.partition("|")
        return _CURSOR_INSTANT.validate_python(created), uuid.UUID(entry_id)
    except ValueError:
        raise ValidationFailed.single("cursor", "is not a cursor this server handed out") from None


async def list_entries(session: AsyncSession, user: User, query: WaitQuery) -> Page[WaitPublic]:
    """Entries oldest first: the caller's own, or (administrators) anyone's."""
    statement = select(WaitlistEntry)
    owner = query.owner.lower() if query.owner else "me"
    if owner not in ("me", user.username) and not sees_everyones(user):
        raise Forbidden(
            f"Your role ({user.role}) sees no one's waitlist entries but your own: use owner=me",
            field="owner",
        )
    if owner in ("me", user.username):
        statement = statement.where(col(WaitlistEntry.user_id) == user.id)
    elif owner != "*":
        named = await session.scalar(select(col(User.id)).where(col(User.username) == owner))
        if named is None:
            raise ValidationFailed.single("owner", f"no user is called {owner}")
        statement = statement.where(col(WaitlistEntry.user_id) == named)
    if query.state is not None:
        statement = statement.where(col(WaitlistEntry.state) == query.state.value)
    if query.cursor:
        after = _decode_cursor(query.cursor)
        statement = statement.where(
            tuple_(col(WaitlistEntry.created_at), col(WaitlistEntry.id)) > tuple_(*after)
        )
    statement = statement.order_by(col(WaitlistEntry.created_at), col(WaitlistEntry.id))
    rows = list((await session.execute(statement.limit(query.limit + 1))).scalars())
    more = len(rows) > query.limit
    rows = rows[: query.limit]
    return Page(
        items=[public(row) for row in rows],
        next_cursor=_encode_cursor(rows[-1]) if more else None,
    )


async def withdraw(
    session: AsyncSession, user: User, entry_id: uuid.UUID, expected_version: int
) -> WaitPublic:
    """Leave the line; an offer held for the entry is given up, and its slot offered on."""
    entry = await entry_for(session, user, entry_id)
    await take_rooms_of_offer(session, entry)
    await session.refresh(entry, with_for_update=True)
    check_version(entry, expected_version, public(entry))
    if entry.state not in OPEN:
        raise NotOffered(f"The entry is {entry.state} already; nothing to withdraw")
    await end_entry(session, entry, WaitState.CANCELLED)
    return public(entry)


async def accept(
    session: AsyncSession, user: User, entry_id: uuid.UUID, now: datetime
) -> WaitPublic:
    """Keep the booking held for the entry: it is the user's, like any other."""
    entry = await entry_for(session, user, entry_id, for_update=True)
    booking = await session.get(Booking, entry.booking_id) if entry.booking_id else None
    if (
        entry.state != WaitState.OFFERED
        or entry.offer_expires_at is None
        or entry.offer_expires_at <= now
        or booking is None
        or booking.status not in HOLDING
    ):
        raise NotOffered(f"The entry holds no open offer (it is {entry.state})")
    apply_changes(entry, {"state": WaitState.BOOKED.value, "offer_expires_at": None})
    return public(entry)


async def decline(session: AsyncSession, user: User, entry_id: uuid.UUID) -> WaitPublic:
    """Give up the offer: the held booking is cancelled, and the slot offered to the next."""
    entry = await entry_for(session, user, entry_id)
    await take_rooms_of_offer(session, entry)
    await session.refresh(entry, with_for_update=True)
    if entry.state != WaitState.OFFERED:
        raise NotOffered(f"The entry holds no offer (it is {entry.state})")
    await end_entry(session, entry, WaitState.DECLINED)
    return public(entry)


async def take_rooms_of_offer(session: AsyncSession, entry: WaitlistEntry) -> None:
    """Take the room of the booking held for ``entry`` (none if it holds none), before the
    entry is read for update, as every booking write takes its rooms first."""
    rooms = (
        await rooms_touched(session, [(entry.booking_id, Scope.THIS)])
        if entry.booking_id is not None
        else set()
    )
    await store_for(session).take_rooms(session, rooms)


async def end_entry(session: AsyncSession, entry: WaitlistEntry, state: WaitState) -> None:
    """Close ``entry`` with ``state``; a booking it holds on offer is cancelled through the
    store (which offers the slot to the next in line). The caller took the rooms."""
    if entry.state == WaitState.OFFERED and entry.booking_id is not None:
        held = await session.get(Booking, entry.booking_id, with_for_update=True)
        if held is not None and held.status in HOLDING:
            cancelled = {"status": BookingStatus.CANCELLED.value}
            await store_for(session).change_bookings(session, [(held, cancelled)])
    apply_changes(entry, {"state": state.value, "offer_expires_at": None})
