"""Reminders before a booking, with a signed link that cancels it in one click.

A periodic sweep (``send_reminders``, every minute) tells the owner of each confirmed booking
starting within ``COMPAX_REMINDER_LEAD_MINUTES`` of now, once per start time: a booking moved
later is reminded again at its new time, and none twice. Owners who muted reminders are
skipped in the sweep's own query.
"""

from __future__ import annotations

import uuid
from datetime import timedelta
from typing import Any

from sqlalchemy import exists, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from compax_server.jobs.notices import notify
from compax_server.jobs.queue import JobContext, every, handler
from compax_server.links import BookingLinks, LinkAction, link_action
from compax_server.models import Booking, Notification, NotificationMute, User
from compax_server.services.bookings import CONFIRMED, cancel_booking, room_with_label
from compax_server.services.notice_events import booking_facts, room_labels
from compax_server.store import writing
from sync.errors import BookingCancelled, CompaxError, NotFound
from sync.vocabulary import NoticeKind, Scope
from sync.when import local_span

SEND_REMINDERS = "send_reminders"
every(SEND_REMINDERS, 60)

_MUTED_REMINDERS = exists().where(
    col(NotificationMute.user_id) == col(Booking.owner_id),
    col(NotificationMute.kind) == NoticeKind.REMINDER.value,
)


class BookingStarted(CompaxError):
    type = "booking-started"
    status = 409
    title = "The booking has started"


def _event_key(booking: Booking) -> str:
    return f"{booking.id}:{booking.start.isoformat()}"


@handler(SEND_REMINDERS)
async def send_reminders(ctx: JobContext, payload: dict[str, Any]) -> None:
    """Remind the owners of the bookings starting soon that have not been reminded yet."""
    now = ctx.now()
    until = now + timedelta(minutes=ctx.settings.reminder_lead_minutes)
    links = BookingLinks(ctx.settings.secret_keys, ctx.settings.links_base_url)
    async with ctx.db.write() as session:
        soon = list(
            (
                await session.execute(
                    select(Booking).where(
                        col(Booking.start) > now,
                        col(Booking.start) <= until,
                        col(Booking.status) == CONFIRMED,
                        ~_MUTED_REMINDERS,
                    )
                )
            ).scalars()
        )
        keys = {f"{NoticeKind.REMINDER.value}:{_event_key(b)}:{b.owner_id}": b for b in soon}
        told = (
            set(
                (
                    await session.execute(
                        select(col(Notification.key)).where(col(Notification.key).in_(list(keys)))
                    )
                ).scalars()
            )
            if keys
            else set()
        )
        due = [booking for key, booking in keys.items() if key not in told]
        labels = await room_labels(session, [booking.room_id for booking in due])
        for booking in due:
            await notify(
                session,
                user_id=booking.owner_id,
                kind=NoticeKind.REMINDER,
                key=_event_key(booking),
                data={
                    **booking_facts(booking, labels),
                    "cancel_url": links.url(LinkAction.CANCEL, booking.id),
                },
                booking_id=booking.id,
            )


@link_action(LinkAction.CANCEL, "Cancel this booking")
async def cancel_by_link(ctx: JobContext, booking_id: uuid.UUID) -> str:
    """Cancel the booking as its owner would; refused once it has started or is no longer
    confirmed."""

    async def work(session: AsyncSession) -> str:
        booking = await session.get(Booking, booking_id)
        if booking is None:
            raise NotFound("This booking is gone")
        if booking.status != CONFIRMED:
            raise BookingCancelled(f"This booking is {booking.status} already")
        if booking.start <= ctx.now():
            raise BookingStarted("This booking has started; it can no longer be cancelled by link")
        owner = await session.get(User, booking.owner_id)
        assert owner is not None
        await cancel_booking(session, owner, booking.id, booking.version, Scope.THIS)
        _, label = await room_with_label(session, booking.room_id)
        when = local_span(booking.start, booking.end, ctx.policy.zone)
        return f"Your booking of {label}, {when}, is cancelled; the room is free for others."

    return await writing(ctx.db, work)
