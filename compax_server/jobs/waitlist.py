"""The waitlist's jobs: offering a freed slot to those waiting for it, and ending offers and
entries whose time has passed.

A slot is offered by booking it for the first waiting user whose request the judge accepts,
through ``create_booking``, the path every booking takes, so no rule is restated here. Each
job takes the room before it reads the line, so two runs of one job (at-least-once) or two
jobs for one slot go one after the other, and the second finds the slot taken.
"""

from __future__ import annotations

import uuid
from datetime import datetime, timedelta
from functools import partial
from typing import Any

from sqlalchemy import ColumnElement, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from compax_server.jobs.notices import notify
from compax_server.jobs.queue import JobContext, every, handler
from compax_server.models import Room, RoomFeature, User, WaitlistEntry
from compax_server.services.bookings import create_booking
from compax_server.services.common import apply_changes
from compax_server.services.waitlist import end_entry, take_rooms_of_offer
from compax_server.store import store_for, writing
from compax_server.store.base import OFFER_FREED_SLOT
from sync import judge
from sync.errors import CompaxError
from sync.judge import Held
from sync.permissions import Permission, allows
from sync.schemas import BookingCreate, BookingPublic
from sync.vocabulary import NoticeKind, WaitState

#: The sweep that ends lapsed offers and entries whose slot has passed.
EXPIRE_OFFERS = "expire_waitlist_offers"
every(EXPIRE_OFFERS, 60)


@handler(OFFER_FREED_SLOT)
async def offer_freed_slot(ctx: JobContext, payload: dict[str, Any]) -> None:
    """Book the freed slot of ``payload`` (room, start, end) for those waiting for it, first
    come first served: each entry the judge accepts gets its slot, the rest wait on (those in
    the way of a slot just booked here are not asked again)."""
    room_id = int(payload["room_id"])
    start = datetime.fromisoformat(payload["start"])
    end = datetime.fromisoformat(payload["end"])

    async def offer(session: AsyncSession) -> None:
        await store_for(session).take_rooms(session, {room_id})
        room = await session.get(Room, room_id)
        if room is None:
            return
        booked: list[Held] = []
        for entry in await _waiting_for(session, room, start, end):
            if judge.in_the_way(entry.start, entry.end, booked):
                continue
            made = await _offer(ctx, session, entry, room_id)
            if made is not None:
                booked.append(Held(made.id, made.start, made.end))

    await writing(ctx.db, offer)


async def _waiting_for(
    session: AsyncSession, room: Room, start: datetime, end: datetime
) -> list[WaitlistEntry]:
    """Entries waiting for some of ``[start, end)`` that ``room`` would suit, oldest first."""
    anywhere = col(WaitlistEntry.building_id).is_(None) | (
        col(WaitlistEntry.building_id) == room.building_id
    )
    if room.capacity is None:
        # A room of unknown capacity suits only a wait that asks no seats (judge.offered_for).
        seats: ColumnElement[bool] = (col(WaitlistEntry.min_capacity) <= 0) & (
            col(WaitlistEntry.attendees) <= 0
        )
    else:
        seats = col(WaitlistEntry.min_capacity) <= room.capacity
    statement = (
        select(WaitlistEntry)
        .where(
            col(WaitlistEntry.state) == WaitState.WAITING.value,
            col(WaitlistEntry.start) < end,
            col(WaitlistEntry.end) > start,
            (col(WaitlistEntry.room_id) == room.id)
            | (col(WaitlistEntry.room_id).is_(None) & anywhere & seats),
        )
        .order_by(col(WaitlistEntry.created_at), col(WaitlistEntry.id))
        .with_for_update()
    )
    entries = list((await session.execute(statement)).scalars())
    if all(entry.room_id is not None or not entry.features for entry in entries):
        return entries
    features = set(
        (
            await session.execute(
                select(col(RoomFeature.feature)).where(col(RoomFeature.room_id) == room.id)
            )
        ).scalars()
    )
    return [
        entry for entry in entries if entry.room_id is not None or set(entry.features) <= features
    ]


async def _offer(
    ctx: JobContext, session: AsyncSession, entry: WaitlistEntry, room_id: int
) -> BookingPublic | None:
    """Book ``entry``'s slot in the room for its user (what is left of it, once it has begun),
    if the judge accepts it now, and tell them: booked for good (``auto_book``) or held for
    them until the offer lapses. The booking made, if any."""
    user = await session.get(User, entry.user_id)
    if user is None or not user.active or not allows(user.role, Permission.BOOK):
        return None
    start = max(entry.start, _next_minute(ctx.now()))
    if start >= entry.end:
        return None
    request = BookingCreate(
        room_id=room_id,
        start=start,
        end=entry.end,
        title=entry.title,
        purpose=entry.purpose,
        attendees=entry.attendees,
    )
    try:
        async with session.begin_nested():
            booking = await create_booking(session, user, request, ctx.policy)
    except CompaxError:
        return None
    if entry.auto_book:
        apply_changes(entry, {"state": WaitState.BOOKED.value, "booking_id": booking.id})
        await _tell(session, entry, booking, NoticeKind.WAITLIST_BOOKED, {})
        return booking
    expires = ctx.now() + timedelta(minutes=ctx.settings.waitlist_offer_minutes)
    apply_changes(
        entry,
        {"state": WaitState.OFFERED.value, "booking_id": booking.id, "offer_expires_at": expires},
    )
    paths = f"/api/v1/waitlist/{entry.id}"
    await _tell(
        session,
        entry,
        booking,
        NoticeKind.WAITLIST_OFFER,
        {
            "offer_expires_at": expires.isoformat(),
            "accept_path": f"{paths}/accept",
            "decline_path": f"{paths}/decline",
        },
    )
    return booking


async def _tell(
    session: AsyncSession,
    entry: WaitlistEntry,
    booking: BookingPublic,
    kind: NoticeKind,
    more: dict[str, Any],
) -> None:
    """Tell the entry's user what was booked for them, with all the message needs."""
    await notify(
        session,
        user_id=entry.user_id,
        kind=kind,
        key=f"{entry.id}:{booking.id}",
        booking_id=booking.id,
        data={
            "entry_id": str(entry.id),
            "booking_id": str(booking.id),
            "room": booking.room,
            "start": booking.start.isoformat(),
            "end": booking.end.isoformat(),
            "title": entry.title,
            **more,
        },
    )


@handler(EXPIRE_OFFERS)
async def expire_waitlist_offers(ctx: JobContext, payload: dict[str, Any]) -> None:
    """End the offers that lapsed by now (their held bookings cancelled, the slots offered on)
    and the entries still waiting for a slot that has passed."""
    now = ctx.now()
    async with ctx.db.read() as session:
        lapsed = list(
            (
                await session.execute(
                    select(col(WaitlistEntry.id)).where(
                        col(WaitlistEntry.state) == WaitState.OFFERED.value,
                        col(WaitlistEntry.offer_expires_at) <= now,
                    )
                )
            ).scalars()
        )
    for entry_id in lapsed:
        await writing(ctx.db, partial(_lapse, entry_id=entry_id, now=now))
    async with ctx.db.write() as session:
        passed = await session.execute(
            select(WaitlistEntry)
            .where(
                col(WaitlistEntry.state) == WaitState.WAITING.value,
                col(WaitlistEntry.end) <= now,
            )
            .with_for_update()
        )
        for entry in passed.scalars():
            apply_changes(entry, {"state": WaitState.EXPIRED.value})


async def _lapse(session: AsyncSession, *, entry_id: uuid.UUID, now: datetime) -> None:
    """End the offer of ``entry_id`` if it is still open and has lapsed by ``now``."""
    entry = await session.get(WaitlistEntry, entry_id)
    if entry is None:
        return
    await take_rooms_of_offer(session, entry)
    await session.refresh(entry, with_for_update=True)
    lapsed = entry.offer_expires_at is not None and entry.offer_expires_at <= now
    if entry.state == WaitState.OFFERED and lapsed:
        await end_entry(session, entry, WaitState.EXPIRED)


def _next_minute(now: datetime) -> datetime:
    """The first whole minute from ``now``: where what is left of a begun slot starts."""
    whole = now.replace(second=0, microsecond=0)
    return whole if whole == now else whole + timedelta(minutes=1)
