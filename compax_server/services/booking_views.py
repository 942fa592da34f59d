"""Bookings as a given caller may see them, loaded with their labels in one query."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Protocol, cast

from sqlalchemy import (
    Boolean,
    ColumnElement,
    FromClause,
    Integer,
    Join,
    Select,
    String,
    Uuid,
    bindparam,
    case,
    literal_column,
    not_,
    or_,
    select,
)
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.sql.compiler import SQLCompiler
from sqlalchemy.sql.functions import FunctionElement
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

    @property
    def checked_in_at(self) -> datetime | None: ...

    @property
    def decided_by(self) -> int | None: ...

    @property
    def decided_at(self) -> datetime | None: ...

    @property
    def decision_reason(self) -> str: ...


def _holding(status: Any) -> ColumnElement[bool]:
    return cast(
        ColumnElement[bool],
        status.in_([literal_column("'confirmed'"), literal_column("'pending'")]),
    )


#: ``holds_room()`` of ``bookings.status``, built once: every free-room search uses it.
_HOLDS_ROOM = _holding(col(Booking.status))


def holds_room(status: Any = None) -> ColumnElement[bool]:
    """Whether a booking holds its room (``sync.vocabulary.HOLDING``), with the values written
    out as the partial index of holding bookings states them, so that Postgres and SQLite use
    it even in a prepared statement's generic plan. ``status`` is ``bookings.status`` unless
    another column (a Core table's) is given."""
    return _HOLDS_ROOM if status is None else _holding(status)


def sees_everything(viewer: User, owner_id: int) -> bool:
    """Whether ``viewer`` sees all of a record owned by ``owner_id`` (``Viewer.sees_all_of``)."""
    return Viewer.of(viewer).sees_all_of(owner_id)


@dataclass(frozen=True)
class Viewer:
    """What decides how bookings and series look to a caller, worked out once, not once per
    record; the one place that says what a caller may see of someone's booking."""

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

    @property
    def sees_owners(self) -> bool:
        """Whether this viewer sees who owns other people's bookings (students do not)."""
        return self.manages_any or not self.is_student

    def sees_all_of(self, owner_id: int) -> bool:
        """Whether this viewer sees all of a record owned by ``owner_id``: a private title,
        the notes, the owner (its owner and the booking officers do)."""
        return self.manages_any or self.id == owner_id

    def sees_owner_of(self, owner_id: int) -> bool:
        """Whether this viewer sees who owns a record owned by ``owner_id``."""
        return self.sees_owners or self.sees_all_of(owner_id)

    def title_of(self, title: str, private: bool, owner_id: int) -> str | None:
        """The title of a booking or series as this viewer sees it: a private one only to
        its owner and the booking officers."""
        return title if not private or self.sees_all_of(owner_id) else None


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
    full = viewer.sees_all_of(booking.owner_id)
    show_owner = viewer.sees_owner_of(booking.owner_id)
    return {
        "id": booking.id,
        "room_id": booking.room_id,
        "room": room_label,
        "start": booking.start,
        "end": booking.end,
        "title": viewer.title_of(booking.title, booking.private, booking.owner_id),
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
        "checked_in_at": booking.checked_in_at,
        "decided_by": booking.decided_by if show_owner else None,
        "decided_at": booking.decided_at,
        "decision_reason": booking.decision_reason if full else None,
    }


def labelled_bookings() -> Select[Booking, str, str, str]:
    """Bookings with their room label parts and owner's username, in one joined select."""
    return (
        select(Booking, col(Building.code), col(Room.code), col(User.username))
        .join(Room, col(Room.id) == col(Booking.room_id))
        .join(Building, col(Building.id) == col(Room.building_id))
        .join(User, col(User.id) == col(Booking.owner_id))
    )


_BOOKINGS, _ROOMS, _BUILDINGS, _USERS = (
    SQLModel.metadata.tables[name] for name in ("bookings", "rooms", "buildings", "users")
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


# --- Bookings as JSON text built by the database ----------------------------------------------
#
# A pull sends thousands of bookings; building each one's JSON in the database, in the same
# statement that reads it, leaves Python nothing to do per booking but join the texts. The
# text is what ``to_json(booking_fields(...))`` gives (``tests/test_sync_pull_json.py`` holds
# the two to the same answers, for every kind of viewer and booking).


class _PlainText(FunctionElement[str]):
    """Text made of digits, letters, ``-``, ``:``, ``.`` and spaces: nothing JSON escapes."""

    type = String()
    inherit_cache = True


class JsonInstant(_PlainText):
    """A UTC instant column as the text pydantic writes for it: ``2030-01-07T09:00:00Z``, or
    with six decimals when it has microseconds (SQLite stores ``2030-01-07 09:00:00.000000``)."""

    name = "json_instant"
    inherit_cache = True


@compiles(JsonInstant, "sqlite")
def _json_instant_sqlite(element: JsonInstant, compiler: SQLCompiler, **kw: Any) -> str:
    """SQLite stores the UTC instant as text already: reshape it."""
    stored = compiler.process(_only_argument(element), **kw)
    return (
        f"(substr({stored}, 1, 10) || 'T' || CASE WHEN substr({stored}, 20) IN ('', '.000000') "
        f"THEN substr({stored}, 12, 8) ELSE substr({stored}, 12) END || 'Z')"
    )


@compiles(JsonInstant, "postgresql")
def _json_instant_postgres(element: JsonInstant, compiler: SQLCompiler, **kw: Any) -> str:
    """Postgres formats the ``timestamptz`` in UTC, dropping zero microseconds as pydantic does."""
    value = compiler.process(_only_argument(element), **kw)
    return (
        f"replace(to_char({value} AT TIME ZONE 'UTC', "
        "'YYYY-MM-DD\"T\"HH24:MI:SS.US\"Z\"'), '.000000Z', 'Z')"
    )


class UuidText(_PlainText):
    """A UUID column as its canonical text (``8-4-4-4-12`` lowercase hex), NULL for NULL."""

    name = "uuid_text"
    inherit_cache = True


@compiles(UuidText, "sqlite")
def _uuid_text_sqlite(element: UuidText, compiler: SQLCompiler, **kw: Any) -> str:
    """SQLite stores a UUID as 32 hex digits: put the dashes in (NULL stays NULL)."""
    hex_digits = compiler.process(_only_argument(element), **kw)
    parts = ((1, 8), (9, 4), (13, 4), (17, 4), (21, 12))
    return "(" + " || '-' || ".join(f"substr({hex_digits}, {a}, {n})" for a, n in parts) + ")"


@compiles(UuidText, "postgresql")
def _uuid_text_postgres(element: UuidText, compiler: SQLCompiler, **kw: Any) -> str:
    """Postgres writes a ``uuid`` in the canonical form."""
    return f"CAST({compiler.process(_only_argument(element), **kw)} AS TEXT)"


class UuidOfText(FunctionElement[uuid.UUID]):
    """Canonical UUID text as the database stores a UUID column, to compare with one."""

    name = "uuid_of_text"
    type = Uuid()
    inherit_cache = True


@compiles(UuidOfText, "sqlite")
def _uuid_of_text_sqlite(element: UuidOfText, compiler: SQLCompiler, **kw: Any) -> str:
    """SQLite's form of a UUID is its 32 hex digits."""
    return f"replace({compiler.process(_only_argument(element), **kw)}, '-', '')"


@compiles(UuidOfText, "postgresql")
def _uuid_of_text_postgres(element: UuidOfText, compiler: SQLCompiler, **kw: Any) -> str:
    """A cast; NULL (a key that names no booking) casts to NULL, never to an error."""
    return f"CAST({compiler.process(_only_argument(element), **kw)} AS UUID)"


class JsonObjectText(FunctionElement[str]):
    """A compact JSON object of the given fields, as text, keys in the order given.

    Values must be strings, integers or booleans (``JsonInstant`` and ``UuidText`` turn
    instants and UUIDs into strings); NULL becomes ``null``. Built as ``to_json`` would build
    the same dict: no spaces, strings escaped by the database's own JSON functions.
    """

    name = "json_object_text"
    type = String()
    inherit_cache = True

    def __init__(self, *fields: tuple[str, ColumnElement[Any]]) -> None:
        for key, _ in fields:
            if not key.isidentifier():
                raise ValueError(f"JSON keys here are plain identifiers, not {key!r}")
        super().__init__(
            *(part for key, value in fields for part in (literal_column(f"'{key}'"), value))
        )


def _json_fields(element: JsonObjectText) -> list[tuple[str, ColumnElement[Any]]]:
    """The (key, value) pairs of a ``JsonObjectText``, whose keys are quoted literal columns."""
    parts = list(element.clauses)
    return [
        (key.name.strip("'"), value) for key, value in zip(parts[::2], parts[1::2], strict=True)
    ]


@compiles(JsonObjectText, "sqlite")
def _json_object_sqlite(element: JsonObjectText, compiler: SQLCompiler, **kw: Any) -> str:
    """SQLite's ``json_object``, which writes compact text."""
    pairs = []
    for key, value in _json_fields(element):
        sql = compiler.process(value, **kw)
        if value.type.python_type is bool:
            # SQLite has no booleans: 1 and 0 would become numbers.
            sql = f"json(CASE WHEN {sql} THEN 'true' WHEN NOT {sql} THEN 'false' END)"
        pairs.append(f"'{key}', {sql}")
    return f"json_object({', '.join(pairs)})"


@compiles(JsonObjectText, "postgresql")
def _json_object_postgres(element: JsonObjectText, compiler: SQLCompiler, **kw: Any) -> str:
    """Concatenated text: compact, and cheaper than ``json_build_object`` (which adds spaces)."""
    pieces = []
    for index, (key, value) in enumerate(_json_fields(element)):
        sql = compiler.process(value, **kw)
        if isinstance(value, _PlainText):
            text = f"'\"' || {sql} || '\"'"
        elif value.type.python_type in (bool, int):
            text = f"CAST({sql} AS TEXT)"
        else:
            text = f"CAST(to_json({sql}) AS TEXT)"
        pieces.append(f"'{'{' if index == 0 else ','}\"{key}\":' || coalesce({text}, 'null')")
    return "(" + " || ".join(pieces) + " || '}')"


def _only_argument(element: FunctionElement[Any]) -> ColumnElement[Any]:
    """The single argument of a one-argument SQL function."""
    (argument,) = element.clauses
    return argument


#: Bind parameters naming the viewer of ``visible_booking_json``; ``viewer_params`` fills them.
_VIEWER_ID = bindparam("viewer_id", type_=Integer())
_VIEWER_MANAGES_ANY = bindparam("viewer_manages_any", type_=Boolean())
_VIEWER_IS_STUDENT = bindparam("viewer_is_student", type_=Boolean())


def viewer_params(viewer: Viewer) -> dict[str, Any]:
    """The bind parameters of ``visible_booking_json`` for ``viewer``."""
    return {
        "viewer_id": viewer.id,
        "viewer_manages_any": viewer.manages_any,
        "viewer_is_student": viewer.is_student,
    }


def visible_booking_json() -> ColumnElement[str]:
    """The JSON text of ``booking_fields`` for a booking of ``with_visible_bookings``, as the
    viewer of ``viewer_params`` may see it; NULL where no booking was joined."""
    return _VISIBLE_BOOKING_JSON


def with_visible_bookings(left: FromClause, booking_key: ColumnElement[str]) -> Join:
    """``left`` outer-joined to the booking whose id is the text ``booking_key`` (NULL joins
    none), with its room, building and owner for ``visible_booking_json``."""
    booking = _BOOKINGS.c
    return (
        left.outerjoin(_BOOKINGS, booking.id == UuidOfText(booking_key))
        .outerjoin(_ROOMS, _ROOMS.c.id == booking.room_id)
        .outerjoin(_BUILDINGS, _BUILDINGS.c.id == _ROOMS.c.building_id)
        .outerjoin(_USERS, _USERS.c.id == booking.owner_id)
    )


def _visible_booking_json() -> ColumnElement[str]:
    """The rules of ``booking_fields``, in SQL."""
    booking = _BOOKINGS.c
    full = or_(_VIEWER_MANAGES_ANY, booking.owner_id == _VIEWER_ID)
    show_owner = or_(full, not_(_VIEWER_IS_STUDENT))
    fields = JsonObjectText(
        ("id", UuidText(booking.id)),
        ("room_id", booking.room_id),
        ("room", _BUILDINGS.c.code + literal_column("'/'") + _ROOMS.c.code),
        ("start", JsonInstant(booking.start)),
        ("end", JsonInstant(booking.end)),
        ("title", case((or_(full, not_(booking.private)), booking.title))),
        ("purpose", booking.purpose),
        ("attendees", booking.attendees),
        ("private", booking.private),
        ("notes", case((full, booking.notes))),
        ("owner_id", case((show_owner, booking.owner_id))),
        ("owner", case((show_owner, _USERS.c.username))),
        ("status", booking.status),
        ("series_id", UuidText(booking.series_id)),
        ("version", booking.version),
        ("created_at", JsonInstant(booking.created_at)),
        ("updated_at", JsonInstant(booking.updated_at)),
        ("checked_in_at", JsonInstant(booking.checked_in_at)),
        ("decided_by", case((show_owner, booking.decided_by))),
        ("decided_at", JsonInstant(booking.decided_at)),
        ("decision_reason", case((full, booking.decision_reason))),
    )
    return case((booking.id.is_not(None), fields))


_VISIBLE_BOOKING_JSON = _visible_booking_json()
