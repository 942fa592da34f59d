"""Recurring series and term timetables: occurrences stored as bookings of the series."""

from __future__ import annotations

import base64
import binascii
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, time
from typing import Any, NamedTuple

from pydantic import ValidationError
from sqlalchemy import select, tuple_
from sqlalchemy.dialects.postgresql import insert as postgres_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import SQLModel, col

from compax_server.audit import record_import
from compax_server.audit_trail import record_inserted
from compax_server.changelog import note_written
from compax_server.db import Database
from compax_server.models import Building, Room, Series, Term, User
from compax_server.services.approval_notices import access_for, tell_approvers
from compax_server.services.booking_batch import Surroundings
from compax_server.services.booking_views import Viewer, views_of
from compax_server.services.bookings import (
    CONFIRMED,
    closures_over,
    conflicting_bookings,
    insert_bookings,
    is_overlap_violation,
    log_override,
    owner_for,
    room_facts,
)
from compax_server.services.campus import rooms_by_key
from compax_server.services.common import fields_of, get_or_404, id_of, utcnow
from compax_server.services.policy import BookingPolicy
from compax_server.services.quota_check import quota_problems
from compax_server.store import store_for
from compax_server.store.around import bookings_over
from sync import judge
from sync.errors import (
    FieldError,
    SeriesConflict,
    ValidationFailed,
    field_errors,
)
from sync.judge import Closure, Held, RoomFacts
from sync.recurrence import Occurrence, expand
from sync.schemas import (
    Holiday,
    ListQuery,
    Page,
    SeriesCreate,
    SeriesPattern,
    SeriesPublic,
    SeriesResult,
    SkippedDate,
    TimetableEntry,
    TimetableResult,
    TimetableRow,
    TimetableRowResult,
)
from sync.vocabulary import Frequency, OnConflict, Purpose, Weekday

MAX_OCCURRENCES = 1000
#: How many times a timetable request is judged afresh when a concurrent writer took a slot
#: (or a course's key) between the check and the insert, before its rows are refused.
RACE_ATTEMPTS = 3
#: Why a series was not booked although its check passed: a concurrent writer got there first.
TAKEN_MEANWHILE = "Another booking took one of these dates meanwhile; try again to see which"

_SERIES = SQLModel.metadata.tables["series"]
_INSERT_SERIES = {
    "postgresql": postgres_insert(_SERIES).on_conflict_do_nothing().returning(_SERIES.c.id),
    "sqlite": sqlite_insert(_SERIES).on_conflict_do_nothing().returning(_SERIES.c.id),
}


def series_view(series: Series, viewer: Viewer) -> SeriesPublic:
    """``series`` as ``viewer`` may see it, by the rules its bookings are shown by: a private
    series' title only to its owner and the booking officers, its owner not to students."""
    fields = {**fields_of(series), "weekdays": series.weekdays, "exceptions": series.exceptions}
    fields["title"] = viewer.title_of(series.title, series.private, series.owner_id)
    if not viewer.sees_owner_of(series.owner_id):
        fields["owner_id"] = None
    return SeriesPublic.model_validate(fields)


async def _span_surroundings(
    session: AsyncSession, room: RoomFacts, occurrences: Sequence[Occurrence]
) -> tuple[list[Held], list[Closure]]:
    """Confirmed bookings and closures of the room across the occurrences' whole span."""
    first, last = occurrences[0].start, occurrences[-1].end
    held = await conflicting_bookings(session, room.id, first, last)
    return [Held(b.id, b.start, b.end) for b in held], await closures_over(
        session, room, first, last
    )


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
    await store_for(session).take_rooms(session, {data.room_id})
    try:
        async with session.begin_nested():
            campus = policy.campus_now()
            facts = await room_facts(session, data.room_id, campus)
            owner = await owner_for(session, actor, data.owner)
            occurrences = expand(data, policy.zone, await _holidays(session, data.term_id))
            _check_count(occurrences)
            held, closures = await _span_surroundings(session, facts, occurrences)
            reports, overridden = judge.judge_series(
                facts,
                [(o.start, o.end) for o in occurrences],
                campus,
                held=held,
                closures=closures,
                attendees=data.attendees,
                role=actor.role,
                override=data.override,
            )
            if reports and data.on_conflict is OnConflict.FAIL:
                raise SeriesConflict(
                    f"{len(reports)} of {len(occurrences)} dates clash; nothing was booked",
                    dates=list(reports.values()),
                )
            over_quota = await quota_problems(
                session,
                owner,
                [(o.start, o.end) for i, o in enumerate(occurrences) if i not in reports],
                campus,
            )
            overridden += judge.settle(over_quota, actor.role, data.override)
            series = Series(**_series_row(data, id_of(owner), utcnow()))
            session.add(series)
            await session.flush()
            if overridden:
                log_override(
                    session,
                    actor,
                    sorted(set(overridden)),
                    data.override_reason,
                    series_id=series.id,
                )
            kept = [o for i, o in enumerate(occurrences) if i not in reports]
            status = judge.status_for(facts, await access_for(session, actor, facts))
            rows = _occurrence_rows(fields_of(series), kept, series.created_at, status)
            # Every date may be skipped; given no rows, SQLite's insert would write one of NULLs.
            if rows and len(await insert_bookings(session, rows)) < len(rows):
                raise SeriesConflict(TAKEN_MEANWHILE)
            await tell_approvers(session, [(row, facts) for row in rows])
            skipped = [SkippedDate.model_validate(r) for r in reports.values()]
            return SeriesResult(
                series=series_view(series, Viewer.of(actor)),
                created=await views_of(session, [row["id"] for row in rows], actor),
                skipped=skipped,
            )
    except IntegrityError as exc:
        if not is_overlap_violation(exc):
            raise
        raise SeriesConflict(TAKEN_MEANWHILE) from None


def _check_count(occurrences: Sequence[Occurrence]) -> None:
    if not occurrences:
        raise ValidationFailed.single(
            "first_day", "the pattern has no dates (holidays or exceptions?)"
        )
    if len(occurrences) > MAX_OCCURRENCES:
        raise ValidationFailed.single(
            "last_day", f"the series would have {len(occurrences)} dates; at most {MAX_OCCURRENCES}"
        )


def _series_row(
    data: SeriesCreate, owner_id: int, now: datetime, **timetable: Any
) -> dict[str, Any]:
    """The ``series`` row ``data`` asks for, owned by ``owner_id``; a timetable's series also
    carries its course (``timetable``)."""
    return {
        **fields_of(data, exclude=["id", "owner", "on_conflict", "override", "override_reason"]),
        "id": data.id or uuid.uuid4(),
        "owner_id": owner_id,
        "status": CONFIRMED,
        "version": 1,
        "created_at": now,
        "updated_at": now,
        **timetable,
    }


def _occurrence_rows(
    series: Mapping[str, Any],
    occurrences: Sequence[Occurrence],
    now: datetime,
    status: str = CONFIRMED,
) -> list[dict[str, Any]]:
    """The ``bookings`` rows of the series' occurrences: its room, title and owner at each
    occurrence's times, with the ``status`` the judge gave the series' request (a timetable
    is imported by admins, who approve everywhere, so its occurrences are confirmed)."""
    return [
        {
            "id": uuid.uuid4(),
            "room_id": series["room_id"],
            "start": occurrence.start,
            "end": occurrence.end,
            "title": series["title"],
            "purpose": series["purpose"],
            "attendees": series["attendees"],
            "private": series["private"],
            "notes": series["notes"],
            "owner_id": series["owner_id"],
            "status": str(status),
            "series_id": series["id"],
            "version": 1,
            "created_at": now,
            "updated_at": now,
            "checked_in_at": None,
            "checked_in_by": None,
            "decided_by": None,
            "decided_at": None,
            "decision_reason": "",
        }
        for occurrence in occurrences
    ]


async def read_series(session: AsyncSession, series_id: uuid.UUID, viewer: User) -> SeriesPublic:
    """The series as ``viewer`` may see it (``series_view``)."""
    return series_view(await get_or_404(session, Series, series_id, "series"), Viewer.of(viewer))


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
    The rows are judged together and the ones that pass go in together (``_Timetable``).
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
        rooms = await rooms_by_key(session, [(row.building, row.room) for _, row in planned])
        courses = []
        for index, row in planned:
            room = rooms.get((row.building, row.room))
            if room is None:
                results[index] = _rejected(
                    index, [FieldError("room", f"no room {row.building}/{row.room}")]
                )
                continue
            courses.append(_Course(index, row, room, uuid.uuid4()))
        timetable = _Timetable(session, actor, term, policy, dry_run)
        results.update(await timetable.book(courses))
        record_import(session, "terms", results.values(), term_id)
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


def _pattern(term: Term, row: TimetableRow) -> SeriesPattern:
    return SeriesPattern(
        frequency=Frequency.WEEKLY,
        weekdays=[row.weekday],
        first_day=term.first_day,
        last_day=term.last_day,
        start_time=row.start,
        end_time=row.end,
    )


#: A course session's natural key in its term: course code, weekday and start.
CourseKey = tuple[str, str, time]


@dataclass(frozen=True)
class _Course:
    """A timetable row of the request with its position, its room and its series' id (kept
    when the request is judged again, so that a repeated row names the same series)."""

    index: int
    row: TimetableRow
    room: Room
    series_id: uuid.UUID

    @property
    def key(self) -> CourseKey:
        return self.row.course_code, self.row.weekday.value, self.row.start

    @property
    def label(self) -> str:
        return f"{self.row.building}/{self.room.code}"

    @property
    def room_id(self) -> int:
        return id_of(self.room)


class _Timetabled(NamedTuple):
    """A course session already timetabled in the term: its series (none yet in a dry run),
    room and end."""

    series_id: uuid.UUID | None
    room_id: int
    end: time


@dataclass(frozen=True)
class _Bookable:
    """A row that passed every check: the series it makes and that series' dates."""

    course: _Course
    series: dict[str, Any]
    dates: list[Occurrence]


@dataclass
class _Judged:
    """The answers of a judged request, but for its bookable rows, which still go in."""

    results: dict[int, TimetableRowResult] = field(default_factory=dict)
    bookable: list[_Bookable] = field(default_factory=list)


@dataclass
class _Timetable:
    """The rows of one timetable request, judged and booked together.

    What the database holds around all their dates is read at once (the series already
    timetabled, the blackouts, the booking in the way of each date: ``Surroundings``, shared
    with the batch booking core); each row is then checked in memory, in order, with the
    rules a single booking is checked by, the rows before it that pass counting as booked;
    the rows that pass go in with one insert of series and one of bookings. A row that does
    not pass is answered with every clashing date, the bookings in its way read in one more
    statement for all such rows.
    """

    session: AsyncSession
    actor: User
    term: Term
    policy: BookingPolicy
    dry_run: bool
    #: The pattern and dates of each weekday, start and end met, expanded once.
    patterns: dict[tuple[Weekday, time, time], tuple[SeriesPattern, list[Occurrence]]] = field(
        default_factory=dict
    )

    async def book(self, courses: Sequence[_Course]) -> dict[int, TimetableRowResult]:
        """Every row's answer, the rows that pass booked unless this is a dry run.

        The database has the last word: when its insert skips a row (a concurrent writer took
        one of the dates, or the course, after the check), nothing of the insert is kept and
        the rows are judged again, which now sees that writer's booking; after
        ``RACE_ATTEMPTS`` such races the rows that would go in are refused instead. Like the
        batch booking core, it first takes its turn in each of the rows' rooms.
        """
        await store_for(self.session).take_rooms(self.session, {c.room_id for c in courses})
        for _ in range(RACE_ATTEMPTS):
            judged = await self._judge(courses)
            if self.dry_run or await self._insert(judged.bookable):
                for item in judged.bookable:
                    judged.results[item.course.index] = TimetableRowResult(
                        index=item.course.index,
                        status="would_create" if self.dry_run else "created",
                        series_id=self._made(item.course),
                        occurrences=len(item.dates),
                    )
                return judged.results
        for item in judged.bookable:
            index = item.course.index
            judged.results[index] = _rejected(index, [FieldError("room", TAKEN_MEANWHILE)])
        return judged.results

    async def _judge(self, courses: Sequence[_Course]) -> _Judged:
        """Answer every row but the bookable ones, which are returned to be inserted."""
        judged = _Judged()
        timetabled = await self._timetabled(courses)
        # A term already under way is timetabled from now on: its past dates are history.
        now = self.policy.clock()
        candidates: list[tuple[_Course, list[Occurrence]]] = []
        for course in courses:
            known = timetabled.get(course.key)
            if known is not None:
                judged.results[course.index] = _again(course, known)
                continue
            dates = [o for o in self._dates(course.row)[1] if o.start >= now]
            if not dates:
                error = FieldError("weekday", "the term has no such teaching day left")
                judged.results[course.index] = _rejected(course.index, [error])
                continue
            candidates.append((course, dates))
        campus = self.policy.campus_now()
        rooms = {course.room_id: campus.room(course.room, course.label) for course, _ in candidates}
        slots = [(c.room_id, o.start, o.end) for c, dates in candidates for o in dates]
        around = await Surroundings.load(self.session, campus, rooms, slots)
        made: dict[CourseKey, _Timetabled] = {}
        clashing: list[tuple[_Course, list[Occurrence]]] = []
        for course, dates in candidates:
            known = made.get(course.key)
            if known is not None:
                judged.results[course.index] = _again(course, known)
                continue
            if any(
                around.booked(course.room_id, o.start, o.end)
                or around.problems(course.room_id, o.start, o.end, course.row.attendees)
                for o in dates
            ):
                clashing.append((course, dates))
                continue
            try:
                series = self._series_row(course)
            except ValidationError as exc:
                errors = [_row_field(error) for error in field_errors(exc)]
                judged.results[course.index] = _rejected(course.index, errors)
                continue
            judged.bookable.append(_Bookable(course, series, dates))
            made[course.key] = _Timetabled(self._made(course), course.room_id, course.row.end)
            for o in dates:
                around.hold(course.room_id, o.start, o.end, course.index)
        if clashing:
            judged.results.update(await self._clashes(clashing, around))
        return judged

    def _made(self, course: _Course) -> uuid.UUID | None:
        """The id of the series a bookable row makes; none in a dry run, which makes none."""
        return None if self.dry_run else course.series_id

    async def _timetabled(self, courses: Sequence[_Course]) -> dict[CourseKey, _Timetabled]:
        """The term's series with the courses' keys, in one query."""
        if not courses:
            return {}
        found = await self.session.execute(
            select(
                col(Series.course_code),
                col(Series.weekday_key),
                col(Series.start_time),
                col(Series.id),
                col(Series.room_id),
                col(Series.end_time),
            ).where(
                col(Series.term_id) == self.term.id,
                col(Series.course_code).in_(sorted({c.row.course_code for c in courses})),
            )
        )
        return {
            (code or "", day or "", start): _Timetabled(series_id, room_id, end)
            for code, day, start, series_id, room_id, end in found
        }

    def _dates(self, row: TimetableRow) -> tuple[SeriesPattern, list[Occurrence]]:
        """The row's weekly pattern over the term and its dates, minus the term's holidays."""
        key = (row.weekday, row.start, row.end)
        if key not in self.patterns:
            pattern = _pattern(self.term, row)
            self.patterns[key] = pattern, expand(pattern, self.policy.zone, self.term.holidays)
        return self.patterns[key]

    def _series_row(self, course: _Course) -> dict[str, Any]:
        """The ``series`` row a bookable row makes; ``ValidationError`` if the series it asks
        for is not a valid one."""
        row = course.row
        data = SeriesCreate(
            id=course.series_id,
            room_id=course.room_id,
            title=f"{row.course_code} {row.course_name}".strip(),
            purpose=Purpose.CLASS,
            attendees=row.attendees,
            term_id=self.term.id,
            **fields_of(self._dates(row)[0]),
        )
        return _series_row(
            data,
            id_of(self.actor),
            utcnow(),
            course_code=row.course_code,
            course_name=row.course_name,
            department=row.department,
            year_group=row.year_group,
            weekday_key=row.weekday.value,
        )

    async def _clashes(
        self, clashing: Sequence[tuple[_Course, list[Occurrence]]], around: Surroundings
    ) -> dict[int, TimetableRowResult]:
        """The answers of rows with clashing dates: each date with the rules it breaks and the
        bookings in its way, then each clash with an earlier row of the request."""
        slots = [
            (course.room_id, o.start, o.end)
            for course, dates in clashing
            for o in dates
            if around.booked(course.room_id, o.start, o.end)
        ]
        in_the_way: dict[int, list[Held]] = {}
        for booking in await bookings_over(self.session, slots) if slots else []:
            held = Held(booking.id, booking.start, booking.end)
            in_the_way.setdefault(booking.room_id, []).append(held)
        results = {}
        for course, dates in clashing:
            clashes = judge.clashes(
                around.rooms[course.room_id],
                [(o.start, o.end) for o in dates],
                around.campus,
                held=in_the_way.get(course.room_id, []),
                closures=around.closures,
                attendees=course.row.attendees,
            )
            reports = list(clashes.values())
            reports += _upload_clashes(course, dates, around)
            error = (
                FieldError("room", f"{len(reports)} dates clash")
                if reports
                else FieldError("room", TAKEN_MEANWHILE)  # what was in the way went meanwhile
            )
            results[course.index] = _rejected(course.index, [error], reports)
        return results

    async def _insert(self, bookable: Sequence[_Bookable]) -> bool:
        """Insert the series and the bookings of the bookable rows, one statement each, and
        note them in the change log; ``False``, with nothing kept, if the database skipped
        any (a concurrent writer took one of the dates or courses first)."""
        if not bookable:
            return True
        now = utcnow()
        series = [item.series for item in bookable]
        bookings = [
            row for item in bookable for row in _occurrence_rows(item.series, item.dates, now)
        ]
        # In room and time order: two such inserts that meet then mostly wait for each other
        # in the same order, so a deadlock between them (answered 503, retried) is rare.
        bookings.sort(key=lambda row: (row["room_id"], row["start"]))
        statement = _INSERT_SERIES[self.session.get_bind().dialect.name]
        try:
            async with self.session.begin_nested():
                made = list((await self.session.execute(statement, series)).scalars())
                booked = await insert_bookings(self.session, bookings)
                if len(made) < len(series) or len(booked) < len(bookings):
                    raise _Skipped
                await record_inserted(self.session, series, set(made), "series")
        except (_Skipped, IntegrityError) as exc:
            if isinstance(exc, IntegrityError) and not is_overlap_violation(exc):
                raise
            return False
        note_written(self.session, "series", made)
        return True


def _again(course: _Course, known: _Timetabled) -> TimetableRowResult:
    """The answer to a row whose course session is timetabled already (in the database, or by
    an earlier row of the request): unchanged if it is the same, else refused."""
    if known.room_id == course.room_id and known.end == course.row.end:
        return TimetableRowResult(index=course.index, status="unchanged", series_id=known.series_id)
    row = course.row
    message = (
        f"{row.course_code} on {row.weekday.value} at {row.start:%H:%M} "
        "is already timetabled with another room or end; cancel that series first"
    )
    return _rejected(course.index, [FieldError("course_code", message)])


def _row_field(error: FieldError) -> FieldError:
    """An error of the series a row asks for, named by the row's column: the series' title is
    the course code and name."""
    if error.field == "title":
        return FieldError("course_name", f"with the course code, {error.message.lower()}")
    return error


def _upload_clashes(
    course: _Course, dates: Sequence[Occurrence], around: Surroundings
) -> list[dict[str, Any]]:
    """A clash report for each date of an earlier row of the request that one of ``dates``
    overlaps in the same room, by that row and its date."""
    held = sorted(
        (holder, start, position, occurrence.day)
        for position, occurrence in enumerate(dates)
        for holder, start in around.held_over(course.room_id, occurrence.start, occurrence.end)
        if holder < course.index  # rows after it were judged after it, and never clash with it
    )
    return [
        {
            "date": day,
            "problems": [
                {
                    "type": "room-overlap",
                    "detail": f"clashes with row {holder} of this upload",
                    "row": holder,
                }
            ],
        }
        for holder, _, _, day in held
    ]


class _Skipped(Exception):
    """The database skipped a row of a timetable's insert: undo it and judge again."""


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
