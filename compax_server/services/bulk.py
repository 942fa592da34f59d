"""Bulk upserts for imports: every row validated and written on its own, in one transaction.

Each row runs in a savepoint, so a bad row is reported (with its field and reason) and rolled
back alone while the others go in. Rows are matched to existing records on their natural key.
A dry run does all of it and then rolls the transaction back, so that its answer names every
clash, between the rows of one request too, and nothing changes.
"""

from __future__ import annotations

import uuid
from collections import Counter
from collections.abc import Awaitable, Callable, Hashable, Sequence
from dataclasses import dataclass, field
from typing import Any, Generic, TypeVar

from pydantic import BaseModel, ValidationError
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from compax_server.db import Database
from compax_server.models import Booking, Room, User
from compax_server.services import bookings, campus
from compax_server.services.policy import BookingPolicy
from sync.errors import CompaxError, FieldError, ValidationFailed, field_errors
from sync.schemas import (
    BookingBulkResponse,
    BookingBulkRowResult,
    BookingCreate,
    BookingImportRow,
    BookingStatus,
    BookingUpdate,
    BulkResponse,
    BulkRowResult,
    BulkStatus,
    Scope,
)

CreateT = TypeVar("CreateT", bound=BaseModel)
KeyT = TypeVar("KeyT", bound=Hashable)
RowT = TypeVar("RowT")


@dataclass
class BulkBatch(Generic[CreateT]):
    """The rows of one bulk request, validated, with the rejected ones already answered."""

    valid: list[tuple[int, CreateT]] = field(default_factory=list)
    results: dict[int, BulkRowResult] = field(default_factory=dict)

    @classmethod
    def validate(cls, rows: Sequence[dict[str, Any]], schema: type[CreateT]) -> BulkBatch[CreateT]:
        batch: BulkBatch[CreateT] = cls()
        for index, raw in enumerate(rows):
            try:
                batch.valid.append((index, schema.model_validate(raw)))
            except ValidationError as exc:
                batch.results[index] = _rejected(index, field_errors(exc))
        return batch

    async def apply(
        self,
        db: Database,
        key: Callable[[CreateT], KeyT],
        load: Callable[[AsyncSession, list[KeyT]], Awaitable[dict[KeyT, RowT]]],
        upsert: Callable[[AsyncSession, CreateT, RowT | None], Awaitable[tuple[BulkStatus, RowT]]],
        *,
        dry_run: bool = False,
    ) -> BulkResponse:
        """Upsert the valid rows in order (a later row with the same key updates an earlier one);
        a dry run does the same and then rolls it all back."""
        if self.valid:
            async with db.write() as session:
                existing = await load(session, [key(data) for _, data in self.valid])
                for index, data in self.valid:
                    self.results[index] = await _upsert_one(
                        session, index, data, key(data), existing, upsert
                    )
                if dry_run:
                    await session.rollback()
        results = [self.results[i] for i in sorted(self.results)]
        return BulkResponse(dry_run=dry_run, results=results, summary=summary_of(results))


def summary_of(results: Sequence[BulkRowResult | BookingBulkRowResult]) -> dict[BulkStatus, int]:
    """How many rows ended in each status, every status named."""
    counts = Counter(result.status for result in results)
    return {status: counts[status] for status in BulkStatus}


async def _upsert_one(
    session: AsyncSession,
    index: int,
    data: CreateT,
    key: KeyT,
    existing: dict[KeyT, RowT],
    upsert: Callable[[AsyncSession, CreateT, RowT | None], Awaitable[tuple[BulkStatus, RowT]]],
) -> BulkRowResult:
    try:
        async with session.begin_nested():
            status, row = await upsert(session, data, existing.get(key))
            await session.flush()
    except ValidationFailed as exc:
        return _rejected(index, exc.errors)
    except CompaxError as exc:
        return _rejected(index, [FieldError(str(exc.extra.get("field", "row")), exc.detail)])
    except IntegrityError:
        return _rejected(index, [FieldError("row", "conflicts with another record")])
    existing[key] = row
    return BulkRowResult(index=index, status=status, id=getattr(row, "id", None))


def _rejected(index: int, errors: list[FieldError]) -> BulkRowResult:
    return BulkRowResult(
        index=index, status=BulkStatus.REJECTED, errors=[e.as_dict() for e in errors]
    )


# --- Bookings --------------------------------------------------------------------------------

#: The field a refused booking row is reported under, by problem type.
_PROBLEM_FIELDS = {
    "room-overlap": "room",
    "blackout": "room",
    "not-bookable": "room",
    "outside-hours": "start",
    "too-far-ahead": "start",
    "too-short-notice": "start",
    "too-short": "end",
    "too-long": "end",
    "cancelled": "status",
    "stale-version": "id",
}
#: The fields of an import row that change an existing booking when they differ.
_CHANGEABLE = ("title", "purpose", "attendees", "private", "notes")


async def import_bookings(
    db: Database,
    actor: User,
    rows: Sequence[dict[str, Any]],
    policy: BookingPolicy,
    *,
    dry_run: bool,
) -> BookingBulkResponse:
    """Create, change or cancel the bookings the rows name by their keys, in one transaction.

    Every rule, permission and the overlap invariant apply to each row as to a single booking;
    a bad row is rejected alone. A dry run rolls everything back.
    """
    results: dict[int, BookingBulkRowResult] = {}
    valid: list[tuple[int, BookingImportRow]] = []
    for index, raw in enumerate(rows):
        try:
            valid.append((index, BookingImportRow.model_validate(raw)))
        except ValidationError as exc:
            results[index] = _booking_rejected(index, None, field_errors(exc))
    if valid:
        async with db.write() as session:
            results.update(await apply_booking_rows(session, actor, valid, policy))
            if dry_run:
                await session.rollback()
    ordered = [results[i] for i in sorted(results)]
    return BookingBulkResponse(dry_run=dry_run, results=ordered, summary=summary_of(ordered))


async def apply_booking_rows(
    session: AsyncSession,
    actor: User,
    rows: Sequence[tuple[int, BookingImportRow]],
    policy: BookingPolicy,
) -> dict[int, BookingBulkRowResult]:
    """Apply the rows in order, each in a savepoint, through the single-booking services.

    This loop is the one place a batch booking core replaces: it receives validated rows and
    answers one result per row index.
    """
    rooms = await campus.rooms_by_key(session, [_room_key(row) for _, row in rows])
    found = await session.execute(
        select(Booking).where(col(Booking.id).in_({row.key() for _, row in rows}))
    )
    existing: dict[uuid.UUID, Booking] = {booking.id: booking for booking in found.scalars()}
    results = {}
    for index, row in rows:
        results[index] = await _apply_booking_row(
            session, actor, index, row, rooms.get(_room_key(row)), existing, policy
        )
    return results


def _room_key(row: BookingImportRow) -> tuple[str, str]:
    building, _, code = row.room.partition("/")
    return building, code


async def _apply_booking_row(
    session: AsyncSession,
    actor: User,
    index: int,
    row: BookingImportRow,
    room: Room | None,
    existing: dict[uuid.UUID, Booking],
    policy: BookingPolicy,
) -> BookingBulkRowResult:
    booking_id = row.key()
    if room is None:
        return _booking_rejected(index, booking_id, [FieldError("room", f"no room {row.room}")])
    try:
        async with session.begin_nested():
            current = existing.get(booking_id)
            if current is None:
                status = await _create_booking(session, actor, row, booking_id, room, policy)
                created = await session.get(Booking, booking_id)
                assert created is not None
                existing[booking_id] = created
            else:
                status = await _change_booking(session, actor, row, current, room, policy)
    except ValidationFailed as exc:
        return _booking_rejected(index, booking_id, exc.errors)
    except CompaxError as exc:
        return _booking_rejected(index, booking_id, [_refusal(exc)])
    except IntegrityError:
        return _booking_rejected(
            index, booking_id, [FieldError("row", "conflicts with another record")]
        )
    return BookingBulkRowResult(index=index, status=status, id=booking_id)


async def _create_booking(
    session: AsyncSession,
    actor: User,
    row: BookingImportRow,
    booking_id: uuid.UUID,
    room: Room,
    policy: BookingPolicy,
) -> BulkStatus:
    if row.status is BookingStatus.CANCELLED:
        raise ValidationFailed.single("status", "a new booking must be confirmed")
    if row.title is None:
        raise ValidationFailed.single("title", "a new booking needs a title")
    fields = row.model_dump(exclude={"id", "external_id", "room", "status"}, exclude_none=True)
    try:
        data = BookingCreate.model_validate({**fields, "id": booking_id, "room_id": room.id})
    except ValidationError as exc:
        raise ValidationFailed(field_errors(exc)) from None
    await bookings.create_booking(session, actor, data, policy)
    return BulkStatus.CREATED


async def _change_booking(
    session: AsyncSession,
    actor: User,
    row: BookingImportRow,
    current: Booking,
    room: Room,
    policy: BookingPolicy,
) -> BulkStatus:
    """Bring ``current`` to what ``row`` says: move or retitle it, or cancel it."""
    if row.owner is not None:
        owner = await session.get(User, current.owner_id)
        if owner is None or row.owner.strip().lower() != owner.username:
            raise ValidationFailed.single(
                "owner", "an import cannot give a booking to someone else; cancel it and book anew"
            )
    confirmed = current.status == BookingStatus.CONFIRMED
    if row.status is BookingStatus.CONFIRMED and not confirmed:
        raise ValidationFailed.single(
            "status", "this booking is cancelled; book the room again under another id"
        )
    changes: dict[str, Any] = {
        name: value
        for name, value in (("room_id", room.id), ("start", row.start), ("end", row.end))
        if getattr(current, name) != value
    }
    for name in _CHANGEABLE:
        value = getattr(row, name)
        if value is not None and value != getattr(current, name):
            changes[name] = value
    if changes:
        try:
            update = BookingUpdate.model_validate(
                {**changes, "override": row.override, "override_reason": row.override_reason}
            )
        except ValidationError as exc:
            raise ValidationFailed(field_errors(exc)) from None
        await bookings.update_booking(
            session, actor, current.id, update, current.version, Scope.THIS, policy
        )
    cancel = row.status is BookingStatus.CANCELLED and confirmed
    if cancel:
        await bookings.cancel_booking(session, actor, current.id, current.version, Scope.THIS)
    return BulkStatus.UPDATED if changes or cancel else BulkStatus.UNCHANGED


def _refusal(exc: CompaxError) -> FieldError:
    """A refusal as one field error, naming the bookings in the way of an overlap."""
    field_name = str(exc.extra.get("field") or _PROBLEM_FIELDS.get(exc.type, "row"))
    message = exc.detail
    in_the_way = exc.extra.get("conflicting") or []
    if in_the_way:
        names = ", ".join(f"{b.get('title') or 'a booking'} ({b['id']})" for b in in_the_way[:3])
        message += f"; in the way: {names}"
    return FieldError(field_name, message)


def _booking_rejected(
    index: int, booking_id: uuid.UUID | None, errors: Sequence[FieldError]
) -> BookingBulkRowResult:
    return BookingBulkRowResult(
        index=index,
        status=BulkStatus.REJECTED,
        id=booking_id,
        errors=[e.as_dict() for e in errors],
    )
