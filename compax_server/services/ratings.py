"""Room ratings: set, take back and list them, keeping each room's running totals right.

A rating row and its room's totals change in one transaction, and the totals only by a
relative ``UPDATE rooms SET rating_total = rating_total + :delta`` (never read, then
written), so concurrent raters of one room each add exactly their own change. A rating is
first tried as ``INSERT … ON CONFLICT DO NOTHING`` on its unique key (the room and the user,
or the room and another system's ``external_id``); when one is there already, it is locked
and changed instead. So two first ratings of one room by one user, racing, end as one row:
Postgres makes the second insert wait for the first and skip, and SQLite writers are serial.

The totals are replicated with the room (a change-log entry for the room), but the room's
``version`` is left alone: an admin editing the room never conflicts with its raters.
Ratings are audited here (record type ``rating``), since the session event audits only the
booking records.
"""

from __future__ import annotations

import base64
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.dialects.postgresql import insert as postgres_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from compax_server import audit
from compax_server.changelog import note_written
from compax_server.models import Building, Room, RoomRating, User
from compax_server.services.common import decode_cursor, encode_cursor, utcnow
from sync.errors import NotFound, ValidationFailed
from sync.permissions import Role
from sync.rating_schemas import RatingPublic
from sync.schemas import ListQuery, Page, id_from_text
from sync.vocabulary import AuditAction, BulkStatus

RECORD_TYPE = "rating"


@dataclass(frozen=True)
class RatedRoom:
    """The room a rating is for: its id, label (``PB/101``) and building."""

    id: int
    label: str
    building_id: int


@dataclass(frozen=True)
class Author:
    """Whose rating it is: a user, or another system's rating under its ``external_id``."""

    user_id: int | None = None
    external_id: str | None = None

    def where(self) -> dict[str, Any]:
        if self.user_id is not None:
            return {"user_id": self.user_id}
        return {"external_id": self.external_id}


async def rated_room(session: AsyncSession, room_id: int) -> RatedRoom:
    """The room ``room_id`` names; 404 when there is none. Any room may be rated, bookable
    or not: a rating is about the place, which people use either way."""
    row = (
        await session.execute(
            select(col(Room.id), col(Room.code), col(Room.building_id), col(Building.code))
            .join(Building, col(Building.id) == col(Room.building_id))
            .where(col(Room.id) == room_id)
        )
    ).first()
    if row is None:
        raise NotFound(f"No room with id {room_id}")
    return RatedRoom(room_id, f"{row[3]}/{row[1]}", row[2])


async def _add_to_totals(session: AsyncSession, room_id: int, count: int, stars: int) -> None:
    """Move the room's totals by ``count`` ratings and ``stars`` stars, relative to whatever
    they are when the statement runs, and log the room for the replicas."""
    await session.execute(
        update(Room)
        .where(col(Room.id) == room_id)
        .values(
            rating_count=col(Room.rating_count) + count,
            rating_total=col(Room.rating_total) + stars,
        )
        .execution_options(synchronize_session=False)
    )
    note_written(session, "rooms", [room_id])


async def _insert_new(
    session: AsyncSession, room: RatedRoom, author: Author, stars: int, comment: str
) -> int | None:
    """Insert the rating unless the author has one for the room; its id, or ``None``."""
    connection = await session.connection()
    insert = postgres_insert if connection.dialect.name == "postgresql" else sqlite_insert
    now = utcnow()
    key = author.where()
    values = {
        "room_id": room.id,
        **key,
        "stars": stars,
        "comment": comment,
        "version": 1,
        "created_at": now,
        "updated_at": now,
    }
    statement = (
        insert(RoomRating)
        .values(values)
        .on_conflict_do_nothing(index_elements=["room_id", *key])
        .returning(col(RoomRating.id))
    )
    return (await session.execute(statement)).scalar_one_or_none()


async def _locked(session: AsyncSession, room_id: int, author: Author) -> RoomRating | None:
    where = [col(getattr(RoomRating, name)) == value for name, value in author.where().items()]
    statement = (
        select(RoomRating)
        .where(col(RoomRating.room_id) == room_id, *where)
        .with_for_update()
        .execution_options(populate_existing=True)
    )
    return (await session.execute(statement)).scalar_one_or_none()


async def put_rating(
    session: AsyncSession, room: RatedRoom, author: Author, stars: int, comment: str
) -> tuple[RoomRating, BulkStatus]:
    """Set ``author``'s rating of ``room``, made if missing; the same rating again changes
    nothing (and leaves no audit entry)."""
    while (made := await _insert_new(session, room, author, stars, comment)) is None:
        row = await _locked(session, room.id, author)
        if row is not None:
            return await _change(session, room, row, stars, comment)
        # Taken back while this waited for its lock: insert it anew.
    await _add_to_totals(session, room.id, 1, stars)
    row = await session.get(RoomRating, made)
    assert row is not None
    audit.record(
        session,
        AuditAction.CREATE,
        RECORD_TYPE,
        made,
        after=audit.snapshot(row),
        building_id=room.building_id,
    )
    return row, BulkStatus.CREATED


async def _change(
    session: AsyncSession, room: RatedRoom, row: RoomRating, stars: int, comment: str
) -> tuple[RoomRating, BulkStatus]:
    """Change the locked rating ``row`` to ``stars`` and ``comment``, if that changes it."""
    if (row.stars, row.comment) == (stars, comment):
        return row, BulkStatus.UNCHANGED
    before = audit.snapshot(row)
    delta = stars - row.stars
    row.stars, row.comment = stars, comment
    row.version += 1
    row.updated_at = utcnow()
    await session.flush()
    if delta:
        await _add_to_totals(session, room.id, 0, delta)
    was, now = audit.changed_fields(before, audit.snapshot(row))
    audit.record(
        session,
        AuditAction.UPDATE,
        RECORD_TYPE,
        row.id,
        before=was,
        after=now,
        building_id=room.building_id,
    )
    return row, BulkStatus.UPDATED


async def rate_room(
    session: AsyncSession, user: User, room_id: int, stars: int, comment: str
) -> tuple[RatingPublic, bool]:
    """The caller's rating of the room, set; whether anything changed."""
    room = await rated_room(session, room_id)
    row, status = await put_rating(session, room, Author(user_id=user.id), stars, comment)
    return _public(row, room.label, user, user.username), status != BulkStatus.UNCHANGED


async def unrate_room(session: AsyncSession, user: User, room_id: int) -> RoomRating:
    """Take back the caller's rating of the room (404 when they gave none)."""
    room = await rated_room(session, room_id)
    row = await _locked(session, room.id, Author(user_id=user.id))
    if row is None:
        raise NotFound(f"You have not rated room {room.label}")
    audit.record(
        session,
        AuditAction.DELETE,
        RECORD_TYPE,
        row.id,
        before=audit.snapshot(row),
        building_id=room.building_id,
    )
    await session.delete(row)
    await session.flush()
    await _add_to_totals(session, room.id, -1, -row.stars)
    return row


def _public(row: RoomRating, label: str, viewer: User, username: str | None) -> RatingPublic:
    """``row`` as ``viewer`` may see it: who wrote it only for admins."""
    admin = viewer.role == Role.ADMIN
    return RatingPublic(
        id=row.id or 0,
        room_id=row.room_id,
        room=label,
        stars=row.stars,
        comment=row.comment,
        mine=row.user_id is not None and row.user_id == viewer.id,
        imported=row.external_id is not None,
        user=username if admin else None,
        external_id=row.external_id if admin else None,
        version=row.version,
        created_at=row.created_at,
        updated_at=row.updated_at,
    )


def _labelled() -> Any:
    """Ratings with their room's label parts and their author's username."""
    return (
        select(RoomRating, col(Building.code), col(Room.code), col(User.username))
        .join(Room, col(Room.id) == col(RoomRating.room_id))
        .join(Building, col(Building.id) == col(Room.building_id))
        .outerjoin(User, col(User.id) == col(RoomRating.user_id))
    )


def _page_of(rows: Any, viewer: User) -> list[RatingPublic]:
    return [
        _public(rating, f"{building}/{code}", viewer, username)
        for rating, building, code, username in rows
    ]


_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_MICROSECOND = timedelta(microseconds=1)


def _encode_newest(row: RoomRating) -> str:
    text = f"at:{(row.updated_at - _EPOCH) // _MICROSECOND}:{row.id}"
    return base64.urlsafe_b64encode(text.encode()).decode().rstrip("=")


def _decode_newest(cursor: str) -> tuple[datetime, int]:
    try:
        text = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode()
    except ValueError:
        text = ""
    kind, _, rest = text.partition(":")
    micros, _, rating_id = rest.partition(":")
    last_id = id_from_text(rating_id)
    if kind == "at" and micros.isascii() and micros.isdigit() and len(micros) <= 18 and last_id:
        try:
            return _EPOCH + int(micros) * _MICROSECOND, last_id
        except OverflowError:
            pass
    raise ValidationFailed.single("cursor", "is not a cursor this server handed out")


async def room_ratings(
    session: AsyncSession, viewer: User, room_id: int, query: ListQuery
) -> Page[RatingPublic]:
    """The room's ratings, the most recently written first (the index on room and time)."""
    room = await rated_room(session, room_id)
    statement = _labelled().where(col(RoomRating.room_id) == room.id)
    if query.cursor:
        at, last_id = _decode_newest(query.cursor)
        statement = statement.where(
            (col(RoomRating.updated_at) < at)
            | ((col(RoomRating.updated_at) == at) & (col(RoomRating.id) < last_id))
        )
    statement = statement.order_by(
        col(RoomRating.updated_at).desc(), col(RoomRating.id).desc()
    ).limit(query.limit + 1)
    rows = (await session.execute(statement)).all()
    more = len(rows) > query.limit
    rows = rows[: query.limit]
    return Page(
        items=_page_of(rows, viewer), next_cursor=_encode_newest(rows[-1][0]) if more else None
    )


async def my_ratings(session: AsyncSession, viewer: User, query: ListQuery) -> Page[RatingPublic]:
    """The caller's own ratings, the newest first (the index on user and id)."""
    statement = _labelled().where(col(RoomRating.user_id) == viewer.id)
    if query.cursor:
        statement = statement.where(col(RoomRating.id) < decode_cursor(query.cursor))
    statement = statement.order_by(col(RoomRating.id).desc()).limit(query.limit + 1)
    rows = (await session.execute(statement)).all()
    more = len(rows) > query.limit
    rows = rows[: query.limit]
    return Page(
        items=_page_of(rows, viewer), next_cursor=encode_cursor(rows[-1][0].id) if more else None
    )
