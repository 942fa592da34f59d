"""The import and export of ratings: a row with ``user`` sets that user's rating of the room;
one without is another system's rating, keyed by its ``external_id`` or, when the file gives
none, by a digest of the row and its occurrence (``sync.rating_rules.ImportedKeys``), so that
the same file imported again changes nothing. Rows are written through ``ratings.put_rating``,
the same upsert as the API's, each in its savepoint (``BulkBatch``)."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from compax_server.db import Database
from compax_server.models import Building, Room, RoomRating, User
from compax_server.services.bulk import BulkBatch
from compax_server.services.common import keyset_page
from compax_server.services.ratings import RECORD_TYPE, Author, RatedRoom, put_rating
from sync.errors import ValidationFailed
from sync.rating_rules import ImportedKeys
from sync.rating_schemas import RatingImportRow, RatingRecord
from sync.schemas import BulkResponse, ListQuery, Page
from sync.vocabulary import BulkStatus


async def _room(session: AsyncSession, label: str) -> RatedRoom:
    building, _, code = label.partition("/")
    row = (
        await session.execute(
            select(col(Room.id), col(Room.building_id))
            .join(Building, col(Building.id) == col(Room.building_id))
            .where(col(Building.code) == building, col(Room.code) == code)
        )
    ).first()
    if row is None or row[0] is None:
        raise ValidationFailed.single("room", f"no room {label}")
    return RatedRoom(row[0], label, row[1])


async def _user(session: AsyncSession, username: str) -> int:
    found = (
        await session.execute(select(col(User.id)).where(col(User.username) == username))
    ).scalar_one_or_none()
    if found is None:
        raise ValidationFailed.single("user", f"no user {username}")
    return int(found)


async def import_ratings(
    db: Database, rows: list[dict[str, Any]], *, dry_run: bool = False
) -> BulkResponse:
    """Upsert each row's rating, each alone, audited as one import of ratings."""
    batch = BulkBatch.validate(rows, RatingImportRow)
    keys = ImportedKeys()
    for _, data in batch.valid:
        if data.user is None and data.external_id is None:
            data.external_id = keys.key(data.room, data.rating, data.comment)

    async def nothing_yet(_session: AsyncSession, _keys: list[Any]) -> dict[Any, Any]:
        return {}

    async def upsert(
        session: AsyncSession, data: RatingImportRow, _row: Any
    ) -> tuple[BulkStatus, RoomRating]:
        room = await _room(session, data.room)
        author = (
            Author(user_id=await _user(session, data.user))
            if data.user is not None
            else Author(external_id=data.external_id)
        )
        row, status = await put_rating(session, room, author, data.rating, data.comment)
        return status, row

    return await batch.apply(
        db,
        key=lambda data: (data.room, data.user, data.external_id),
        load=nothing_yet,
        upsert=upsert,
        record_type=RECORD_TYPE,
        dry_run=dry_run,
    )


async def export_ratings(session: AsyncSession, query: ListQuery) -> Page[RatingRecord]:
    """Every rating by id, as the import reads it back."""
    statement: Any = (
        select(RoomRating, col(Building.code), col(Room.code), col(User.username))
        .join(Room, col(Room.id) == col(RoomRating.room_id))
        .join(Building, col(Building.id) == col(Room.building_id))
        .outerjoin(User, col(User.id) == col(RoomRating.user_id))
    )
    rows, cursor = await keyset_page(
        session, statement, col(RoomRating.id), query.limit, query.cursor
    )
    items = [
        RatingRecord(
            id=rating.id or 0,
            room=f"{building}/{code}",
            rating=rating.stars,
            comment=rating.comment,
            user=username,
            external_id=rating.external_id,
            created_at=rating.created_at,
            updated_at=rating.updated_at,
        )
        for rating, building, code, username in rows
    ]
    return Page(items=items, next_cursor=cursor)
