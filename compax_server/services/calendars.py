"""iCalendar (RFC 5545) feeds of a room's or a person's bookings, occurrences expanded."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from icalendar import Calendar, Event
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from compax_server.models import Booking, Building, Room, User
from compax_server.security import Tokens
from compax_server.services.booking_views import booking_view, labelled_bookings
from compax_server.services.common import get_or_404, utcnow
from sync.vocabulary import ical_status

CALENDAR_FEED_SALT = "compax.calendar-feed"
PAST = timedelta(days=60)
FUTURE = timedelta(days=400)


def feed_tokens(secret_keys: list[str], lifetime_days: int) -> Tokens:
    """Calendar feed tokens: their own salt, ``lifetime_days`` long, revoked by the calendar
    generation (a new feed URL, logout-all, a password change or reset, deactivation)."""
    return Tokens(secret_keys, CALENDAR_FEED_SALT, lifetime_days * 24 * 3600)


async def room_calendar(session: AsyncSession, room_id: int, viewer: User) -> bytes:
    room = await get_or_404(session, Room, room_id, "room")
    building = await session.get(Building, room.building_id)
    assert building is not None
    statement = labelled_bookings().where(col(Booking.room_id) == room_id)
    return await _calendar(session, statement, viewer, f"Compax {building.code}/{room.code}")


async def personal_calendar(session: AsyncSession, user: User) -> bytes:
    statement = labelled_bookings().where(col(Booking.owner_id) == user.id)
    return await _calendar(session, statement, user, f"Compax bookings of {user.username}")


async def feed_owner(session: AsyncSession, tokens: Tokens, token: str) -> User | None:
    """The user a calendar feed token belongs to, if it is genuine and not revoked."""
    claims = tokens.verify(token)
    if claims is None:
        return None
    user = await session.get(User, claims.user_id)
    if user is None or not user.active or user.calendar_generation != claims.generation:
        return None
    return user


async def _calendar(session: AsyncSession, statement: Any, viewer: User, name: str) -> bytes:
    now = utcnow()
    rows = await session.execute(
        statement.where(col(Booking.end) > now - PAST, col(Booking.start) < now + FUTURE).order_by(
            col(Booking.start)
        )
    )
    calendar = Calendar()
    calendar.add("prodid", "-//Compax//Room bookings//EN")
    calendar.add("version", "2.0")
    calendar.add("calscale", "GREGORIAN")
    calendar.add("x-wr-calname", name)
    for booking, building_code, room_code, owner in rows:
        view = booking_view(booking, f"{building_code}/{room_code}", owner, viewer)
        event = Event()
        event.add("uid", f"{view.id}@compax")
        event.add("dtstamp", view.updated_at)
        event.add("dtstart", view.start)
        event.add("dtend", view.end)
        event.add("summary", view.title or "Booked")
        event.add("location", view.room)
        event.add("status", ical_status(view.status))
        event.add("sequence", view.version - 1)
        event.add("categories", [view.purpose.value])
        if view.series_id is not None:
            event.add("related-to", f"{view.series_id}@compax")
        calendar.add_component(event)
    return calendar.to_ical()
