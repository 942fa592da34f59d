"""Series as records, for moving a campus to another server: every series listed with its room,
owner and term by name, and restored from such rows with the id it had.

A restored series is the record alone; its occurrences are bookings, which a bookings import
makes afterwards, each naming its series by ``series_id``. So a moved or cancelled occurrence
comes across as it is, and nothing is expanded or judged twice.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from typing import Any

from pydantic import ValidationError
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from compax_server.audit import record_import
from compax_server.db import Database
from compax_server.models import Building, Room, Series, Term, User
from compax_server.services.bulk import summary_of
from compax_server.services.campus import rooms_by_key
from compax_server.services.common import id_of, sqlstate, utcnow
from compax_server.store import store_for
from sync.errors import FieldError, ValidationFailed, field_errors
from sync.schemas import (
    BookingBulkResponse,
    BookingBulkRowResult,
    ListQuery,
    Page,
    SeriesRecord,
)
from sync.vocabulary import BulkStatus

#: The fields of a series that a record carries as they are stored.
_STORED_AS_IS = (
    "frequency",
    "interval",
    "weekdays",
    "first_day",
    "last_day",
    "start_time",
    "end_time",
    "exceptions",
    "title",
    "purpose",
    "attendees",
    "private",
    "notes",
    "status",
    "course_code",
    "course_name",
    "department",
    "year_group",
    "weekday_key",
)


async def list_series_records(session: AsyncSession, query: ListQuery) -> Page[SeriesRecord]:
    """Every series, by id, a page at a time, each with its room, owner and term by name."""
    statement = (
        select(Series, col(Building.code), col(Room.code), col(User.username), col(Term.name))
        .join(Room, col(Room.id) == col(Series.room_id))
        .join(Building, col(Building.id) == col(Room.building_id))
        .join(User, col(User.id) == col(Series.owner_id))
        .outerjoin(Term, col(Term.id) == col(Series.term_id))
    )
    if query.cursor:
        statement = statement.where(col(Series.id) > _series_id(query.cursor))
    rows = (await session.execute(statement.order_by(col(Series.id)).limit(query.limit + 1))).all()
    more = len(rows) > query.limit
    items = [
        SeriesRecord(
            id=series.id,
            room=f"{building}/{room}",
            owner=owner,
            term=term,
            **{name: getattr(series, name) for name in _STORED_AS_IS},
        )
        for series, building, room, owner, term in rows[: query.limit]
    ]
    return Page(items=items, next_cursor=str(items[-1].id) if more else None)


def _series_id(cursor: str) -> uuid.UUID:
    try:
        return uuid.UUID(cursor)
    except ValueError:
        raise ValidationFailed.single("cursor", "not a cursor this list gave") from None


async def import_series_records(
    db: Database, rows: Sequence[dict[str, Any]], *, dry_run: bool
) -> BookingBulkResponse:
    """Create the series the rows name by id, each as the row says, in one transaction (each
    row in a savepoint); one that exists is unchanged if it is the same and refused if not: a
    record is restored, not edited. A dry run rolls it all back."""
    results: dict[int, BookingBulkRowResult] = {}
    valid: list[tuple[int, SeriesRecord]] = []
    for index, raw in enumerate(rows):
        try:
            valid.append((index, SeriesRecord.model_validate(raw)))
        except ValidationError as exc:
            results[index] = _rejected(index, field_errors(exc))
    if valid:
        async with db.write() as session:
            await _take_rooms(session, [record for _, record in valid])
            existing = await _existing(session, [record.id for _, record in valid])
            for index, record in valid:
                try:
                    async with session.begin_nested():
                        status = await _restore(session, record, existing.get(record.id))
                        await session.flush()
                except ValidationFailed as exc:
                    results[index] = _rejected(index, exc.errors)
                    continue
                except IntegrityError as exc:
                    results[index] = _rejected(index, [_refusal(exc)])
                    continue
                results[index] = BookingBulkRowResult(index=index, status=status, id=record.id)
            record_import(session, "series", results.values())
            if dry_run:
                await session.rollback()
    ordered = [results[i] for i in sorted(results)]
    return BookingBulkResponse(dry_run=dry_run, results=ordered, summary=summary_of(ordered))


async def _take_rooms(session: AsyncSession, records: Sequence[SeriesRecord]) -> None:
    """Take the turn of every room the records name, as every write of a room's bookings or
    series does (``compax_server.store``), so that no room is deleted under a restore."""
    keys = [record.room.upper().partition("/")[::2] for record in records]
    rooms = await rooms_by_key(session, keys)
    await store_for(session).take_rooms(session, [id_of(room) for room in rooms.values()])


def _refusal(error: IntegrityError) -> FieldError:
    """Why the database refused a series: its term went meanwhile, or the term has its
    course session already."""
    if sqlstate(error) == "23503":
        return FieldError("term", "the term was deleted meanwhile")
    if not any(name in str(error.orig) for name in ("uq_series_timetable_slot", "course_code")):
        return FieldError("id", "another row of this request has this id with other values")
    return FieldError("course_code", "the term has this course session already")


def _rejected(index: int, errors: Sequence[FieldError]) -> BookingBulkRowResult:
    return BookingBulkRowResult(
        index=index, status=BulkStatus.REJECTED, errors=[e.as_dict() for e in errors]
    )


async def _existing(session: AsyncSession, ids: list[uuid.UUID]) -> dict[uuid.UUID, Series]:
    found = await session.execute(select(Series).where(col(Series.id).in_(ids)))
    return {series.id: series for series in found.scalars()}


async def _restore(
    session: AsyncSession, record: SeriesRecord, existing: Series | None
) -> BulkStatus:
    """Make the series ``record`` describes, or compare it with the one of its id."""
    room, owner_id, term_id = await _named(session, record)
    values = {name: getattr(record, name) for name in _STORED_AS_IS} | {
        "room_id": room.id,
        "owner_id": owner_id,
        "term_id": term_id,
    }
    if existing is not None:
        if any(getattr(existing, name) != value for name, value in values.items()):
            raise ValidationFailed.single("id", "a series with this id exists with other values")
        return BulkStatus.UNCHANGED
    now = utcnow()
    session.add(Series(id=record.id, **values, version=1, created_at=now, updated_at=now))
    return BulkStatus.CREATED


async def _named(session: AsyncSession, record: SeriesRecord) -> tuple[Room, int, int | None]:
    """The room, owner id and term id the record names, or which of them does not exist."""
    building, _, code = record.room.upper().partition("/")
    room = (await rooms_by_key(session, [(building, code)])).get((building, code))
    if room is None:
        raise ValidationFailed.single("room", f"no room {record.room}")
    owner_id = await session.scalar(
        select(col(User.id)).where(col(User.username) == record.owner.strip().lower())
    )
    if owner_id is None:
        raise ValidationFailed.single("owner", f"no user {record.owner}")
    term_id = None
    if record.term is not None:
        term_id = await session.scalar(select(col(Term.id)).where(col(Term.name) == record.term))
        if term_id is None:
            raise ValidationFailed.single("term", f"no term {record.term!r}")
    return room, owner_id, term_id
