"""Bookings as a given caller may see them, loaded with their labels in one query."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, NamedTuple, Protocol

from sqlalchemy import ColumnElement, Select, literal_column, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import SQLModel, col

from compax_server.models import Booking, Building, Room, User
from sync.permissions import Permission, Role, allows
from sync.schemas import BookingPublic


class BookingRecord(Protocol):
    """What ``booking_view`` reads: a ``Booking``, or a row of its columns."""

    @property
    def id(self) -> uuid.UUID: ...

    @property
    def room_id(self) -> int: ...

    @property
    def start(self) -> datetime: ...

    @property
    def end(self) -> datetime: ...

    @property
    def title(self) -> str: ...

    @property
    def purpose(self) -> str: ...

    @property
    def attendees(self) -> int: ...

    @property
    def private(self) -> bool: ...

    @property
    def notes(self) -> str: ...

    @property
    def owner_id(self) -> int: ...

    @property
    def status(self) -> str: ...

    @property
    def series_id(self) -> uuid.UUID | None: ...

    @property
    def version(self) -> int: ...

    @property
    def created_at(self) -> datetime: ...

    @property
    def updated_at(self) -> datetime: ...


def is_confirmed() -> ColumnElement[bool]:
    """``status = 'confirmed'`` with the value written out, so that Postgres can use the partial
    index of confirmed bookings even in a prepared statement's generic plan."""
    return col(Booking.status) == literal_column("'confirmed'")


def sees_everything(viewer: User, owner_id: int) -> bool:
    return viewer.id == owner_id or allows(viewer.role, Permission.MANAGE_ANY_BOOKING)


@dataclass(frozen=True)
class Viewer:
    """What decides how bookings look to a caller, worked out once, not once per booking."""

    id: int | None
    manages_any: bool
    is_student: bool

    @classmethod
    def of(cls, user: User) -> Viewer:
        return cls(
            id=user.id,
            manages_any=allows(user.role, Permission.MANAGE_ANY_BOOKING),
            is_student=user.role == Role.STUDENT,
        )


def booking_view(
    booking: BookingRecord, room_label: str, owner_name: str, viewer: User
) -> BookingPublic:
    """``booking`` as ``viewer`` may see it (see ``booking_fields``)."""
    return BookingPublic(**booking_fields(booking, room_label, owner_name, Viewer.of(viewer)))


def booking_fields(
    booking: BookingRecord, room_label: str, owner_name: str, viewer: Viewer
) -> dict[str, Any]:
    """The fields of ``booking`` as ``viewer`` may see it, as plain values: private titles,
    notes and, for students, the owner are hidden from everyone but the owner and the
    booking officers. Bulk readers serialize this dict without building a model per row."""
    full = viewer.manages_any or viewer.id == booking.owner_id
    show_owner = full or not viewer.is_student
    return {
        "id": booking.id,
        "room_id": booking.room_id,
        "room": room_label,
        "start": booking.start,
        "end": booking.end,
        "title": booking.title if full or not booking.private else None,
        "purpose": booking.purpose,
        "attendees": booking.attendees,
        "private": booking.private,
        "notes": booking.notes if full else None,
        "owner_id": booking.owner_id if show_owner else None,
        "owner": owner_name if show_owner else None,
        "status": booking.status,
        "series_id": booking.series_id,
        "version": booking.version,
        "created_at": booking.created_at,
        "updated_at": booking.updated_at,
    }


def labelled_bookings() -> Select[Booking, str, str, str]:
    """Bookings with their room label parts and owner's username, in one joined select."""
    return (
        select(Booking, col(Building.code), col(Room.code), col(User.username))
        .join(Room, col(Room.id) == col(Booking.room_id))
        .join(Building, col(Building.id) == col(Room.building_id))
        .join(User, col(User.id) == col(Booking.owner_id))
    )


class LabelledBookingRow(NamedTuple):
    """A booking with its room label parts and owner's username, as plain values: cheap to
    read attribute by attribute, unlike SQLAlchemy's ``Row``, which resolves each by name."""

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
    building_code: str
    room_code: str
    owner_name: str


def labelled_booking_rows() -> Select[Any]:
    """The same as ``labelled_bookings`` as plain Core columns, in ``LabelledBookingRow``'s
    order: no ORM object (nor ORM result processing) per row, for bulk reads."""
    return _LABELLED_BOOKING_ROWS


_BOOKINGS, _ROOMS, _BUILDINGS, _USERS = (
    SQLModel.metadata.tables[name] for name in ("bookings", "rooms", "buildings", "users")
)
_ROW_FIELDS = LabelledBookingRow._fields
_LABELS = {
    "building_code": _BUILDINGS.c.code.label("building_code"),
    "room_code": _ROOMS.c.code.label("room_code"),
    "owner_name": _USERS.c.username.label("owner_name"),
}
_LABELLED_BOOKING_ROWS: Select[Any] = select(
    *(
        _LABELS[name] if name in _LABELS else _BOOKINGS.c[name]
        for name in LabelledBookingRow._fields
    )
).select_from(
    _BOOKINGS.join(_ROOMS, _ROOMS.c.id == _BOOKINGS.c.room_id)
    .join(_BUILDINGS, _BUILDINGS.c.id == _ROOMS.c.building_id)
    .join(_USERS, _USERS.c.id == _BOOKINGS.c.owner_id)
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
