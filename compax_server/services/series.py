"""Recurring series and term timetables: occurrences stored as bookings of the series."""

from __future__ import annotations

import base64
import binascii
import uuid
from collections.abc import Sequence
from datetime import time
from typing import Any

from pydantic import ValidationError
from sqlalchemy import select, tuple_
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from compax_server.db import Database
from compax_server.models import Blackout, Booking, Building, Room, Series, Term, User
from compax_server.services.booking_views import views_of
from compax_server.services.bookings import (
    CONFIRMED,
    clash,
    is_overlap_violation,
    log_override,
    owner_for,
    refuse_or_override,
    room_to_book,
    rule_problems,
)
from compax_server.services.common import fields_of, get_or_404, utcnow
from compax_server.services.policy import BookingPolicy
from sync.errors import (
    CompaxError,
    FieldError,
    SeriesConflict,
    ValidationFailed,
    field_errors,
)
from sync.recurrence import Occurrence, expand
from sync.rules import overlaps
from sync.schemas import (
    Frequency,
    Holiday,
    ListQuery,
    OnConflict,
    Page,
    Purpose,
    SeriesCreate,
    SeriesPattern,
    SeriesPublic,
    SeriesResult,
    SkippedDate,
    TimetableEntry,
    TimetableResult,
    TimetableRow,
    TimetableRowResult,
    Weekday,
)

MAX_OCCURRENCES = 1000


def series_public(series: Series) -> SeriesPublic:
    return SeriesPublic.model_validate(
        {**fields_of(series), "weekdays": series.weekdays, "exceptions": series.exceptions}
    )


async def _span_bookings(
    session: AsyncSession, room: Room, occurrences: Sequence[Occurrence]
) -> tuple[list[Booking], list[Blackout]]:
    """Confirmed bookings and blackouts of the room across the occurrences' whole span."""
    first, last = occurrences[0].start, occurrences[-1].end
    bookings = await session.execute(
        select(Booking).where(
            col(Booking.room_id) == room.id,
            col(Booking.status) == CONFIRMED,
            col(Booking.end) > first,
            col(Booking.start) < last,
        )
    )
    blackouts = await session.execute(
        select(Blackout).where(
            (col(Blackout.room_id) == room.id) | (col(Blackout.building_id) == room.building_id),
            col(Blackout.end) > first,
            col(Blackout.start) < last,
        )
    )
    return list(bookings.scalars()), list(blackouts.scalars())


def occurrence_clashes(
    room: Room,
    occurrences: Sequence[Occurrence],
    bookings: Sequence[Booking],
    blackouts: Sequence[Blackout],
    policy: BookingPolicy,
    *,
    check_rules: bool = True,
) -> dict[int, list[CompaxError | Booking]]:
    """For each clashing occurrence (by position), the rules it breaks and bookings in its way."""
    clashes: dict[int, list[CompaxError | Booking]] = {}
    for index, occurrence in enumerate(occurrences):
        problems: list[CompaxError | Booking] = []
        if check_rules:
            around = [
                b for b in blackouts if overlaps(b.start, b.end, occurrence.start, occurrence.end)
            ]
            problems += rule_problems(room, occurrence.start, occurrence.end, around, policy)
        problems += [
            b for b in bookings if overlaps(b.start, b.end, occurrence.start, occurrence.end)
        ]
        if problems:
            clashes[index] = problems
    return clashes


def _clash_report(
    occurrence: Occurrence, problems: Sequence[CompaxError | Booking], policy: BookingPolicy
) -> dict[str, Any]:
    rules = [p for p in problems if isinstance(p, CompaxError)]
    bookings = [p for p in problems if isinstance(p, Booking)]
    return clash(occurrence.start, policy.zone, rules, bookings)


async def _holidays(session: AsyncSession, term_id: int | None) -> list[Holiday]:
    if term_id is None:
        return []
    term = await session.get(Term, term_id)
    if term is None:
        raise ValidationFailed.single("term_id", f"no term has id {term_id}")
    return list(term.holidays)


async def create_series(
    session: AsyncSession, actor: User, data: SeriesCreate, policy: BookingPolicy
) -> SeriesResult:
    """Create a series and its occurrences: all of them, or with ``on_conflict=skip`` all that
    fit (listing the dates skipped and why)."""
    try:
        async with session.begin_nested():
            room = await room_to_book(session, data.room_id)
            owner = await owner_for(session, actor, data.owner)
            occurrences = expand(data, policy.zone, await _holidays(session, data.term_id))
            _check_count(occurrences)
            bookings, blackouts = await _span_bookings(session, room, occurrences)
            clashes = occurrence_clashes(
                room, occurrences, bookings, blackouts, policy, check_rules=not data.override
            )
            broken: list[CompaxError] = []
            if data.override:
                rule_breaks = occurrence_clashes(room, occurrences, [], blackouts, policy)
                broken = [
                    p for ps in rule_breaks.values() for p in ps if isinstance(p, CompaxError)
                ]
                refuse_or_override(actor, broken, data)
            reports = {i: _clash_report(occurrences[i], ps, policy) for i, ps in clashes.items()}
            if reports and data.on_conflict is OnConflict.FAIL:
                raise SeriesConflict(
                    f"{len(reports)} of {len(occurrences)} dates clash; nothing was booked",
                    dates=list(reports.values()),
                )
            series = _new_series(data, owner)
            session.add(series)
            await session.flush()
            if broken:
                log_override(
                    session,
                    actor,
                    sorted({p.type for p in broken}),
                    data.override_reason,
                    series_id=series.id,
                )
            kept = [o for i, o in enumerate(occurrences) if i not in reports]
            created = await _store_occurrences(session, series, kept)
            skipped = [SkippedDate.model_validate(r) for r in reports.values()]
            return SeriesResult(
                series=series_public(series),
                created=await views_of(session, created, actor),
                skipped=skipped,
            )
    except IntegrityError as exc:
        if not is_overlap_violation(exc):
            raise
        raise SeriesConflict(
            "Another booking took one of these dates meanwhile; try again to see which"
        ) from None


def _check_count(occurrences: Sequence[Occurrence]) -> None:
    if not occurrences:
        raise ValidationFailed.single(
            "first_day", "the pattern has no dates (holidays or exceptions?)"
        )
    if len(occurrences) > MAX_OCCURRENCES:
        raise ValidationFailed.single(
            "last_day", f"the series would have {len(occurrences)} dates; at most {MAX_OCCURRENCES}"
        )


def _new_series(data: SeriesCreate, owner: User, **timetable: Any) -> Series:
    now = utcnow()
    assert owner.id is not None
    return Series(
        **fields_of(data, exclude=["id", "owner", "on_conflict", "override", "override_reason"]),
        id=data.id or uuid.uuid4(),
        owner_id=owner.id,
        created_at=now,
        updated_at=now,
        **timetable,
    )


async def _store_occurrences(
    session: AsyncSession, series: Series, occurrences: Sequence[Occurrence]
) -> list[uuid.UUID]:
    now = utcnow()
    bookings = [
        Booking(
            id=uuid.uuid4(),
            room_id=series.room_id,
            start=o.start,
            end=o.end,
            title=series.title,
            purpose=series.purpose,
            attendees=series.attendees,
            private=series.private,
            notes=series.notes,
            owner_id=series.owner_id,
            series_id=series.id,
            created_at=now,
            updated_at=now,
        )
        for o in occurrences
    ]
    session.add_all(bookings)
    await session.flush()
    return [b.id for b in bookings]


async def read_series(session: AsyncSession, series_id: uuid.UUID) -> SeriesPublic:
    return series_public(await get_or_404(session, Series, series_id, "series"))


# --- Timetables ------------------------------------------------------------------------------


async def import_timetable(
    db: Database,
    actor: User,
    term_id: int,
    rows: Sequence[dict[str, Any]],
    policy: BookingPolicy,
    *,
    dry_run: bool,
) -> TimetableResult:
    """Turn timetable rows into weekly series over the term, each row all or nothing.

    A dry run reports what would be created and every clash, including clashes between rows of
    the same upload, and changes nothing. Importing the same timetable again changes nothing.
    """
    results: dict[int, TimetableRowResult] = {}
    planned: list[tuple[int, TimetableRow]] = []
    for index, raw in enumerate(rows):
        try:
            planned.append((index, TimetableRow.model_validate(raw)))
        except ValidationError as exc:
            results[index] = _rejected(index, field_errors(exc))
    async with db.write() as session:
        term = await get_or_404(session, Term, term_id, "term")
        rooms = await _rooms_by_code(session, [(row.building, row.room) for _, row in planned])
        taken: list[
            tuple[int, Occurrence, int]
        ] = []  # (row index, occurrence, room id) this upload
        for index, row in planned:
            room = rooms.get((row.building, row.room))
            if room is None:
                results[index] = _rejected(
                    index, [FieldError("room", f"no room {row.building}/{row.room}")]
                )
                continue
            results[index] = await _import_row(
                session, actor, term, index, row, room, policy, taken, dry_run=dry_run
            )
        if dry_run:
            await session.rollback()
    ordered = [results[i] for i in sorted(results)]
    summary: dict[str, int] = {}
    for result in ordered:
        summary[result.status] = summary.get(result.status, 0) + 1
    return TimetableResult(dry_run=dry_run, results=ordered, summary=summary)


def _rejected(
    index: int, errors: Sequence[FieldError], clashes: Sequence[dict[str, Any]] = ()
) -> TimetableRowResult:
    return TimetableRowResult(
        index=index, status="rejected", errors=[e.as_dict() for e in errors], clashes=list(clashes)
    )


async def _rooms_by_code(
    session: AsyncSession, keys: Sequence[tuple[str, str]]
) -> dict[tuple[str, str], Room]:
    if not keys:
        return {}
    rows = await session.execute(
        select(Room, col(Building.code))
        .join(Building)
        .where(
            col(Room.code).in_({room for _, room in keys}),
            col(Building.code).in_({b for b, _ in keys}),
        )
    )
    return {(code, room.code): room for room, code in rows}


def _pattern(term: Term, row: TimetableRow) -> SeriesPattern:
    return SeriesPattern(
        frequency=Frequency.WEEKLY,
        weekdays=[row.weekday],
        first_day=term.first_day,
        last_day=term.last_day,
        start_time=row.start,
        end_time=row.end,
    )


async def _import_row(
    session: AsyncSession,
    actor: User,
    term: Term,
    index: int,
    row: TimetableRow,
    room: Room,
    policy: BookingPolicy,
    taken: list[tuple[int, Occurrence, int]],
    *,
    dry_run: bool,
) -> TimetableRowResult:
    existing = (
        await session.execute(
            select(Series).where(
                col(Series.term_id) == term.id,
                col(Series.course_code) == row.course_code,
                col(Series.weekday_key) == row.weekday.value,
                col(Series.start_time) == row.start,
            )
        )
    ).scalar_one_or_none()
    if existing is not None:
        if existing.room_id == room.id and existing.end_time == row.end:
            return TimetableRowResult(index=index, status="unchanged", series_id=existing.id)
        return _rejected(
            index,
            [
                FieldError(
                    "course_code",
                    f"{row.course_code} on {row.weekday.value} at {row.start:%H:%M} "
                    "is already timetabled with another room or end; cancel that series first",
                )
            ],
        )
    # A term already under way is timetabled from now on: its past dates are history.
    now = policy.clock()
    occurrences = [
        o for o in expand(_pattern(term, row), policy.zone, term.holidays) if o.start >= now
    ]
    if not occurrences:
        return _rejected(index, [FieldError("weekday", "the term has no such teaching day left")])
    bookings, blackouts = await _span_bookings(session, room, occurrences)
    clashes = occurrence_clashes(room, occurrences, bookings, blackouts, policy)
    reports = [_clash_report(occurrences[i], ps, policy) for i, ps in clashes.items()]
    for other_index, other, other_room in taken:
        if other_room != room.id:
            continue
        for occurrence in occurrences:
            if overlaps(other.start, other.end, occurrence.start, occurrence.end):
                reports.append(
                    {
                        "date": occurrence.day,
                        "problems": [
                            {
                                "type": "room-overlap",
                                "detail": f"clashes with row {other_index} of this upload",
                                "row": other_index,
                            }
                        ],
                    }
                )
    if reports:
        return _rejected(index, [FieldError("room", f"{len(reports)} dates clash")], reports)
    taken.extend((index, occurrence, room.id or 0) for occurrence in occurrences)
    if dry_run:
        return TimetableRowResult(index=index, status="would_create", occurrences=len(occurrences))
    data = SeriesCreate(
        room_id=room.id or 0,
        title=f"{row.course_code} {row.course_name}".strip(),
        purpose=Purpose.CLASS,
        attendees=row.attendees,
        term_id=term.id,
        **fields_of(_pattern(term, row)),
    )
    async with session.begin_nested():
        series = _new_series(
            data,
            actor,
            course_code=row.course_code,
            course_name=row.course_name,
            department=row.department,
            year_group=row.year_group,
            weekday_key=row.weekday.value,
        )
        session.add(series)
        await session.flush()
        await _store_occurrences(session, series, occurrences)
    return TimetableRowResult(
        index=index, status="created", series_id=series.id, occurrences=len(occurrences)
    )


async def list_timetable(
    session: AsyncSession, term_id: int, query: ListQuery
) -> Page[TimetableEntry]:
    """The term's confirmed timetable series as timetable rows, by course, weekday and start
    (the order of their unique index), paged on that key."""
    await get_or_404(session, Term, term_id, "term")
    key = (col(Series.course_code), col(Series.weekday_key), col(Series.start_time))
    statement = (
        select(Series, col(Building.code), col(Room.code))
        .join(Room, col(Room.id) == col(Series.room_id))
        .join(Building, col(Building.id) == col(Room.building_id))
        .where(
            col(Series.term_id) == term_id,
            col(Series.course_code).is_not(None),
            col(Series.status) == CONFIRMED,
        )
    )
    if query.cursor:
        statement = statement.where(tuple_(*key) > tuple_(*_decode_slot(query.cursor)))
    rows = (await session.execute(statement.order_by(*key).limit(query.limit + 1))).all()
    more = len(rows) > query.limit
    rows = rows[: query.limit]
    items = [_timetable_entry(s, building, room) for s, building, room in rows]
    return Page(items=items, next_cursor=_encode_slot(rows[-1][0]) if more else None)


def _timetable_entry(series: Series, building: str, room: str) -> TimetableEntry:
    """A timetable series as the row it was imported from."""
    assert series.course_code is not None
    assert series.weekday_key is not None
    return TimetableEntry(
        course_code=series.course_code,
        course_name=series.course_name or "",
        department=series.department or "",
        year_group=series.year_group or "",
        weekday=Weekday(series.weekday_key),
        start=series.start_time,
        end=series.end_time,
        building=building,
        room=room,
        attendees=series.attendees,
        series_id=series.id,
    )


def _encode_slot(series: Series) -> str:
    text = f"{series.course_code}|{series.weekday_key}|{series.start_time.isoformat()}"
    return base64.urlsafe_b64encode(text.encode()).decode().rstrip("=")


def _decode_slot(cursor: str) -> tuple[str, str, time]:
    try:
        text = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode()
        course, weekday, start = text.split("|")
        return course, weekday, time.fromisoformat(start)
    except (binascii.Error, UnicodeDecodeError, ValueError):
        raise ValidationFailed.single("cursor", "is not a cursor this server handed out") from None
