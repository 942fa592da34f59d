"""Checking a booking in: by its owner or a booking officer (API, CLI, TUI, an offline push),
or by anyone at the room's door through the booking's signed link.

A check-in is a change of the booking like any other: in a transaction that took its room,
through the booking store, so its version moves and replicas get it from the change log.
Whether it counts is the shared rule's answer (``sync.checkin``) at the server's clock.
"""

from __future__ import annotations

import uuid

from sqlalchemy import bindparam, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from compax_server.jobs.queue import JobContext
from compax_server.links import LinkAction, link_action
from compax_server.models import Booking, Building, Room, User
from compax_server.services.booking_views import sees_everything
from compax_server.services.bookings import read_booking, room_with_label, rooms_touched
from compax_server.services.common import get_or_404
from compax_server.services.policy import BookingPolicy
from compax_server.store import store_for, writing
from sync.checkin import CheckinRules, RoomCheckin
from sync.errors import BookingCancelled, Forbidden
from sync.schemas import BookingPublic
from sync.vocabulary import BookingStatus, Scope
from sync.when import local_span

_ROOM_CHECKIN = (
    select(
        col(Room.checkin_required),
        col(Building.checkin_required),
        col(Room.checkin_opens_minutes),
        col(Room.checkin_closes_minutes),
    )
    .join(Building, col(Building.id) == col(Room.building_id))
    .where(col(Room.id) == bindparam("room_id"))
)


async def room_checkin(session: AsyncSession, room_id: int, rules: CheckinRules) -> RoomCheckin:
    """Check-in as the room ``room_id`` has it, in one statement."""
    found = (await session.execute(_ROOM_CHECKIN, {"room_id": room_id})).one()
    return rules.for_room(*found)


def ensure_may_check_in(actor: User, booking: Booking) -> None:
    """Owners check in their own bookings; admins and exams officers anyone's."""
    if not sees_everything(actor, booking.owner_id):
        raise Forbidden("You may check in only your own bookings")


async def check_in(
    session: AsyncSession, actor: User | None, booking_id: uuid.UUID, policy: BookingPolicy
) -> Booking:
    """Check the booking in at the policy's clock, by ``actor`` (``None``: at the door, through
    its link); a booking checked in already stays as it is. Outside the window this raises
    ``CheckinClosed``, naming it."""
    store = store_for(session)
    if not store.has_taken(session):
        await store.take_rooms(session, await rooms_touched(session, [(booking_id, Scope.THIS)]))
    booking = await get_or_404(session, Booking, booking_id, "booking", for_update=True)
    if actor is not None:
        ensure_may_check_in(actor, booking)
    if booking.status != BookingStatus.CONFIRMED:
        raise BookingCancelled(f"The booking is {booking.status}; it cannot be checked in")
    if booking.checked_in_at is not None:
        return booking
    now = policy.clock()
    room = await room_checkin(session, booking.room_id, policy.checkin)
    room.check(booking.start, now, policy.zone)
    checked_by = None if actor is None else actor.id
    await store.change_bookings(
        session, [(booking, {"checked_in_at": now, "checked_in_by": checked_by})]
    )
    return booking


async def check_in_view(
    session: AsyncSession, actor: User, booking_id: uuid.UUID, policy: BookingPolicy
) -> BookingPublic:
    """``check_in`` by a signed-in user, answered with the booking as they see it."""
    booking = await check_in(session, actor, booking_id, policy)
    return await read_booking(session, booking.id, actor)


@link_action(LinkAction.CHECK_IN, button="Check in")
async def check_in_at_the_door(ctx: JobContext, booking_id: uuid.UUID) -> str:
    """What the door's link does: check the booking in as nobody in particular."""

    async def work(session: AsyncSession) -> str:
        booking = await check_in(session, None, booking_id, ctx.policy)
        _, label = await room_with_label(session, booking.room_id)
        span = local_span(booking.start, booking.end, ctx.policy.zone)
        return f"Checked in: {label}, {span}."

    return await writing(ctx.db, work)


async def checkin_link_of(session: AsyncSession, actor: User, booking_id: uuid.UUID) -> uuid.UUID:
    """The booking whose door link ``actor`` asks for: theirs, or any for a booking officer."""
    booking = await get_or_404(session, Booking, booking_id, "booking")
    ensure_may_check_in(actor, booking)
    return booking.id
