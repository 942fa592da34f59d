"""Bookings as a given caller may see them, loaded with their labels in one query."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import datetime
from typing import Any, Protocol

from sqlalchemy import ColumnElement, Select, literal_column, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from compax_server.models import Booking, Building, Room, User
from sync.permissions import Permission, Role, allows
from sync.schemas import BookingPublic, BookingStatus, Purpose


class BookingRecord(Protocol):
    """What ``booking_view`` reads: a ``Booking``, or a row of its columns."""

    id: uuid.UUID
    room_id: int
    start: datetime
    end: datetime
    title: str
    purpose: str
    attendees: int
    private: bool
    notes: str
    owner_id: int
    status: str
    series_id: uuid.UUID | None
    version: int
    created_at: datetime
    updated_at: datetime


def is_confirmed() -> ColumnElement[bool]:
    """``status = 'confirmed'`` with the value written out, so that Postgres can use the partial
    index of confirmed bookings even in a prepared statement's generic plan."""
    return col(Booking.status) == literal_column("'confirmed'")


def sees_everything(viewer: User, owner_id: int) -> bool:
    return viewer.id == owner_id or allows(viewer.role, Permission.MANAGE_ANY_BOOKING)


def booking_view(
    booking: BookingRecord, room_label: str, owner_name: str, viewer: User
) -> BookingPublic:
    """``booking`` as ``viewer`` may see it: private titles, notes and, for students, the
    owner are hidden from everyone but the owner and the booking officers."""
    full = sees_everything(viewer, booking.owner_id)
    show_owner = full or viewer.role != Role.STUDENT
    return BookingPublic(
        id=booking.id,
        room_id=booking.room_id,
        room=room_label,
        start=booking.start,
        end=booking.end,
        title=booking.title if full or not booking.private else None,
        purpose=Purpose(booking.purpose),
        attendees=booking.attendees,
        private=booking.private,
        notes=booking.notes if full else None,
        owner_id=booking.owner_id if show_owner else None,
        owner=owner_name if show_owner else None,
        status=BookingStatus(booking.status),
        series_id=booking.series_id,
        version=booking.version,
        created_at=booking.created_at,
        updated_at=booking.updated_at,
    )


def labelled_bookings() -> Select[Booking, str, str, str]:
    """Bookings with their room label parts and owner's username, in one joined select."""
    return (
        select(Booking, col(Building.code), col(Room.code), col(User.username))
        .join(Room, col(Room.id) == col(Booking.room_id))
        .join(Building, col(Building.id) == col(Room.building_id))
        .join(User, col(User.id) == col(Booking.owner_id))
    )


def labelled_booking_rows() -> Any:
    """The same as ``labelled_bookings`` as plain columns: no ORM object per row, for bulk reads."""
    return (
        select(
            *Booking.__table__.columns,  # type: ignore[attr-defined]
            col(Building.code).label("building_code"),
            col(Room.code).label("room_code"),
            col(User.username).label("owner_name"),
        )
        .join(Room, col(Room.id) == col(Booking.room_id))
        .join(Building, col(Building.id) == col(Room.building_id))
        .join(User, col(User.id) == col(Booking.owner_id))
    )


async def views_of(
    session: AsyncSession, booking_ids: Sequence[uuid.UUID], viewer: User
) -> list[BookingPublic]:
    """Views of the given bookings, in start order, with one query."""
    if not booking_ids:
        return []
    rows = await session.execute(
        labelled_bookings()
        .where(col(Booking.id).in_(booking_ids))
        .order_by(col(Booking.start), col(Booking.id))
    )
    return [booking_view(b, f"{bc}/{rc}", owner, viewer) for b, bc, rc, owner in rows]
