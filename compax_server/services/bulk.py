"""Bulk upserts for imports: every row validated and written on its own, in one transaction.

Each row runs in a savepoint, so a bad row is reported (with its field and reason) and rolled
back alone while the others go in. Rows are matched to existing records on their natural key.
Booking rows that make new bookings are the exception: runs of them go through the batch
booking core, which needs no savepoint per row and answers each exactly as a single booking.
A dry run does all of it and then rolls the transaction back, so that its answer names every
clash, between the rows of one request too, and nothing changes.
"""

from __future__ import annotations

import uuid
from collections import Counter
from collections.abc import Awaitable, Callable, Collection, Hashable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Generic, NamedTuple, TypeVar

from pydantic import BaseModel, ValidationError
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from compax_server.audit import record_import
from compax_server.db import Database
from compax_server.models import Booking, Room, Series, User
from compax_server.services import booking_batch, bookings, campus
from compax_server.services.common import id_of
from compax_server.services.policy import BookingPolicy
from compax_server.store import store_for, writing
from sync.errors import CompaxError, FieldError, ValidationFailed, field_errors
from sync.permissions import Permission, allows
from sync.schemas import (
    BookingBulkResponse,
    BookingBulkRowResult,
    BookingCreate,
    BookingImportRow,
    BookingUpdate,
    BulkResponse,
    BulkRowResult,
)
from sync.vocabulary import HOLDING, BookingStatus, BulkStatus, Scope

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
        record_type: str,
        dry_run: bool = False,
    ) -> BulkResponse:
        """Upsert the valid rows in order (a later row with the same key updates an earlier one),
        audited as one import of ``record_type`` rows; a dry run does the same and then rolls it
        all back."""
        if self.valid:
            async with db.write() as session:
                existing = await load(session, [key(data) for _, data in self.valid])
                for index, data in self.valid:
                    self.results[index] = await _upsert_one(
                        session, index, data, key(data), existing, upsert
                    )
                record_import(session, record_type, self.results.values())
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

        async def apply(session: AsyncSession) -> dict[int, BookingBulkRowResult]:
            applied = await apply_booking_rows(session, actor, valid, policy)
            record_import(session, "bookings", [*results.values(), *applied.values()])
            if dry_run:
                await session.rollback()
            return applied

        results.update(await writing(db, apply))
    ordered = [results[i] for i in sorted(results)]
    return BookingBulkResponse(dry_run=dry_run, results=ordered, summary=summary_of(ordered))


async def apply_booking_rows(
    session: AsyncSession,
    actor: User,
    rows: Sequence[tuple[int, BookingImportRow]],
    policy: BookingPolicy,
) -> dict[int, BookingBulkRowResult]:
    """Apply the rows in order within ``session``; one result per row index.

    Consecutive rows that make new bookings go to the batch core together
    (``booking_batch.create_bookings``), which answers each as a single
    ``POST /api/v1/bookings`` would, less the alternatives a refusal would offer (an import
    shows none, and a clash costs no more than a clean row without them); a row that changes
    or cancels a booking first waits for the run before it, so every row sees the rows before
    it as written. The caller has checked that ``actor`` may book.
    """
    keys = [row.key() for _, row in rows]
    rooms = await campus.rooms_by_key(session, [_room_key(row) for _, row in rows])
    stored = await _stored_bookings(session, set(keys))
    touched = {id_of(room) for room in rooms.values()} | {b.room_id for b in stored.values()}
    await store_for(session).take_rooms(session, touched)
    named_series = {row.series_id for _, row in rows if row.series_id is not None}
    applier = _BookingRows(
        session,
        actor,
        policy,
        stored=stored,
        repeated={key for key, count in Counter(keys).items() if count > 1},
        series=await _series_that_exist(session, named_series) if named_series else set(),
    )
    for (index, row), booking_id in zip(rows, keys, strict=True):
        await applier.apply(index, row, booking_id, rooms.get(_room_key(row)))
    await applier.send_queued()
    return applier.results


class _Stored(NamedTuple):
    """What an import row is compared with: a stored booking's fields and its owner's name."""

    id: uuid.UUID
    room_id: int
    start: datetime
    end: datetime
    title: str
    purpose: str
    attendees: int
    private: bool
    notes: str
    status: str
    version: int
    owner: str | None


#: A booking's ``_Stored`` fields, in their order.
_STORED = select(
    col(Booking.id),
    col(Booking.room_id),
    col(Booking.start),
    col(Booking.end),
    col(Booking.title),
    col(Booking.purpose),
    col(Booking.attendees),
    col(Booking.private),
    col(Booking.notes),
    col(Booking.status),
    col(Booking.version),
    col(User.username),
).outerjoin(User, col(User.id) == col(Booking.owner_id))


async def _stored_bookings(
    session: AsyncSession, ids: Collection[uuid.UUID]
) -> dict[uuid.UUID, _Stored]:
    """The bookings with these ids, as plain rows (no ORM objects to build), in one query."""
    found = await session.execute(_STORED.where(col(Booking.id).in_(ids)))
    return {row[0]: _Stored._make(row) for row in found}


async def _series_that_exist(session: AsyncSession, ids: Collection[uuid.UUID]) -> set[uuid.UUID]:
    found = await session.execute(select(col(Series.id)).where(col(Series.id).in_(ids)))
    return set(found.scalars())


def _room_key(row: BookingImportRow) -> tuple[str, str]:
    building, _, code = row.room.partition("/")
    return building, code


@dataclass
class _BookingRows:
    """The rows of one request as they are applied: the bookings they name, the run of new
    bookings waiting for the batch core, and the results so far."""

    session: AsyncSession
    actor: User
    policy: BookingPolicy
    #: The bookings that exist, by id, including those this request made and names again.
    stored: dict[uuid.UUID, _Stored]
    #: Ids that more than one row names: reloaded once made or changed, for the later rows.
    repeated: set[uuid.UUID]
    #: The series the rows name (``series_id``) that exist.
    series: set[uuid.UUID]
    #: The run of new bookings not yet sent, by id, with their row index and series.
    queued: dict[uuid.UUID, tuple[int, BookingCreate, uuid.UUID | None]] = field(
        default_factory=dict
    )
    results: dict[int, BookingBulkRowResult] = field(default_factory=dict)

    async def apply(
        self, index: int, row: BookingImportRow, booking_id: uuid.UUID, room: Room | None
    ) -> None:
        """Queue a new booking, or change the stored one once the queued run has gone in."""
        if room is None:
            errors = [FieldError("room", f"no room {row.room}")]
            self.results[index] = _booking_rejected(index, booking_id, errors)
            return
        if booking_id in self.queued:
            await self.send_queued()
        current = self.stored.get(booking_id)
        if current is None:
            try:
                data = _new_booking(row, booking_id, room)
                self._check_series(row.series_id)
                self.queued[booking_id] = (index, data, row.series_id)
            except ValidationFailed as exc:
                self.results[index] = _booking_rejected(index, booking_id, exc.errors)
            return
        await self.send_queued()
        self.results[index] = await self._change(index, row, current, room)

    def _check_series(self, series_id: uuid.UUID | None) -> None:
        """Whether a new booking may be an occurrence of ``series_id`` (restoring a campus)."""
        if series_id is None:
            return
        if not allows(self.actor.role, Permission.IMPORT_TIMETABLE):
            raise ValidationFailed.single("series_id", "only administrators restore series")
        if series_id not in self.series:
            raise ValidationFailed.single("series_id", f"no series {series_id}")

    async def send_queued(self) -> None:
        """Book the queued run through the batch core and answer each of its rows."""
        queued, self.queued = self.queued, {}
        if not queued:
            return
        requests = [data for _, data, _ in queued.values()]
        series = [series_id for _, _, series_id in queued.values()]
        try:
            async with self.session.begin_nested():
                # No queued id is stored: ``stored`` was read in this transaction.
                outcomes = await booking_batch.create_bookings(
                    self.session,
                    self.actor,
                    requests,
                    self.policy,
                    taken=(),
                    alternatives=False,
                    series=series,
                )
        except IntegrityError:
            # A constraint besides the overlap one refused a booking (its room was deleted
            # meanwhile): the run is undone and goes one by one, so that row alone is refused.
            outcomes = [
                await self._create_alone(data, series_id)
                for data, series_id in zip(requests, series, strict=True)
            ]
        made = []
        for (booking_id, (index, _, _)), outcome in zip(queued.items(), outcomes, strict=True):
            if isinstance(outcome, CompaxError):
                self.results[index] = _booking_rejected(index, booking_id, _errors_of(outcome))
            else:
                self.results[index] = BookingBulkRowResult(
                    index=index, status=BulkStatus.CREATED, id=booking_id
                )
                made.append(booking_id)
        if named_again := [booking_id for booking_id in made if booking_id in self.repeated]:
            self.stored.update(await _stored_bookings(self.session, named_again))

    async def _create_alone(
        self, data: BookingCreate, series_id: uuid.UUID | None
    ) -> booking_batch.Outcome:
        """Book one request in a savepoint of its own, as ``create_bookings`` would answer."""
        try:
            async with self.session.begin_nested():
                view = await bookings.create_booking(
                    self.session, self.actor, data, self.policy, series_id=series_id
                )
        except CompaxError as exc:
            return exc
        except IntegrityError:
            return _conflict()
        return booking_batch.Created(view.id, view.version)

    async def _change(
        self, index: int, row: BookingImportRow, current: _Stored, room: Room
    ) -> BookingBulkRowResult:
        """Bring ``current`` to what ``row`` says: move or retitle it, or cancel it; writes
        run in a savepoint, so a refused row leaves nothing behind."""
        try:
            update, cancel = _changes_asked(row, current, room)
            if update is None and not cancel:
                return BookingBulkRowResult(index=index, status=BulkStatus.UNCHANGED, id=current.id)
            async with self.session.begin_nested():
                version = current.version
                if update is not None:
                    changed = await bookings.update_booking(
                        self.session,
                        self.actor,
                        current.id,
                        update,
                        version,
                        Scope.THIS,
                        self.policy,
                    )
                    version = changed.version
                if cancel:
                    await bookings.cancel_booking(
                        self.session, self.actor, current.id, version, Scope.THIS
                    )
        except CompaxError as exc:
            return _booking_rejected(index, current.id, _errors_of(exc))
        except IntegrityError:
            return _booking_rejected(index, current.id, _conflict().errors)
        if current.id in self.repeated:
            self.stored.update(await _stored_bookings(self.session, [current.id]))
        return BookingBulkRowResult(index=index, status=BulkStatus.UPDATED, id=current.id)


def _new_booking(row: BookingImportRow, booking_id: uuid.UUID, room: Room) -> BookingCreate:
    """The booking a row for an id not yet taken asks for, or why the row cannot make one."""
    if row.status is BookingStatus.CANCELLED:
        raise ValidationFailed.single("status", "a new booking must be confirmed")
    if row.title is None:
        raise ValidationFailed.single("title", "a new booking needs a title")
    fields = row.model_dump(
        exclude={"id", "external_id", "room", "status", "series_id"}, exclude_none=True
    )
    try:
        return BookingCreate.model_validate({**fields, "id": booking_id, "room_id": room.id})
    except ValidationError as exc:
        raise ValidationFailed(field_errors(exc)) from None


def _changes_asked(
    row: BookingImportRow, current: _Stored, room: Room
) -> tuple[BookingUpdate | None, bool]:
    """What ``row`` asks of the stored booking: the update (``None`` when no field differs)
    and whether to cancel it; raises ``ValidationFailed`` for what an import cannot do."""
    if row.owner is not None and row.owner.strip().lower() != current.owner:
        raise ValidationFailed.single(
            "owner", "an import cannot give a booking to someone else; cancel it and book anew"
        )
    confirmed = current.status in HOLDING
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
    update = None
    if changes:
        try:
            update = BookingUpdate.model_validate(
                {**changes, "override": row.override, "override_reason": row.override_reason}
            )
        except ValidationError as exc:
            raise ValidationFailed(field_errors(exc)) from None
    return update, row.status is BookingStatus.CANCELLED and confirmed


def _conflict() -> ValidationFailed:
    """A row the database refused for a constraint other than the overlap one."""
    return ValidationFailed.single("row", "conflicts with another record")


def _errors_of(exc: CompaxError) -> list[FieldError]:
    """A refusal as the field errors of a rejected row."""
    return exc.errors if isinstance(exc, ValidationFailed) else [_refusal(exc)]


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
