"""Bookings: create, change and cancel, each rule checked, overlaps refused by the database.

Every write runs in one write transaction (``BEGIN IMMEDIATE`` on SQLite) that checks and
writes; on Postgres the exclusion constraint has the last word, and its refusal is reported
exactly like the pre-check's, with the bookings in the way and alternatives.
"""

from __future__ import annotations

import base64
import logging
import uuid
from collections.abc import Iterable, Sequence, Set
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Protocol

from pydantic import TypeAdapter
from sqlalchemy import bindparam, exists, select, tuple_
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import SQLModel, col

from compax_server.models import Blackout, Booking, Building, Room, RuleOverride, User
from compax_server.services.access import access_of
from compax_server.services.approval_notices import access_for, accesses_for, tell_approvers
from compax_server.services.availability import alternatives
from compax_server.services.booking_views import (
    Viewer,
    booking_view,
    holds_room,
    labelled_bookings,
    sees_everything,
    views_of,
)
from compax_server.services.common import (
    check_version,
    fields_of,
    get_or_404,
    id_of,
    sqlstate,
    utcnow,
)
from compax_server.services.notice_events import others_bookings, tell_of_changes
from compax_server.services.policy import BookingPolicy
from compax_server.services.quota_check import quota_problems
from compax_server.store import store_for
from sync import judge
from sync.errors import (
    BookingCancelled,
    CompaxError,
    Duplicate,
    Forbidden,
    NotFound,
    RoomOverlap,
    SeriesConflict,
    ValidationFailed,
)
from sync.judge import Campus, Closure, Held, RoomFacts
from sync.permissions import Permission, allows
from sync.schemas import (
    BookingCreate,
    BookingPublic,
    BookingQuery,
    BookingUpdate,
    Instant,
    Page,
)
from sync.vocabulary import HOLDING, BookingStatus, Scope

CONFIRMED = BookingStatus.CONFIRMED.value
override_log = logging.getLogger("compax.override")


async def read_booking(session: AsyncSession, booking_id: uuid.UUID, viewer: User) -> BookingPublic:
    views = await views_of(session, [booking_id], viewer)
    if not views:
        raise _no_booking(booking_id)
    return views[0]


def _no_booking(booking_id: object) -> CompaxError:
    return NotFound(f"No booking with id {booking_id}")


def parse_booking_id(raw: str) -> uuid.UUID:
    try:
        return uuid.UUID(raw)
    except ValueError:
        raise _no_booking(raw) from None


#: A cursor's instant is read as any other instant is, so that no made-up one reaches SQL.
_CURSOR_INSTANT: TypeAdapter[datetime] = TypeAdapter(Instant)


def _encode_cursor(booking: Booking) -> str:
    text = f"{booking.start.isoformat()}|{booking.id}"
    return base64.urlsafe_b64encode(text.encode()).decode().rstrip("=")


def _decode_cursor(cursor: str) -> tuple[datetime, uuid.UUID]:
    """The start and id of the last booking of the page before; 422 for any other cursor."""
    try:
        text = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode()
        start, _, booking_id = text.partition("|")
        return _CURSOR_INSTANT.validate_python(start), uuid.UUID(booking_id)
    except ValueError:  # bad base64, UTF-8, instant (a ValidationError) or UUID alike
        raise ValidationFailed.single("cursor", "is not a cursor this server handed out") from None


async def list_bookings(
    session: AsyncSession, query: BookingQuery, viewer: User
) -> Page[BookingPublic]:
    """Bookings in start order, filtered as ``query`` asks; every filter has an index."""
    statement = labelled_bookings()
    if query.room_id is not None:
        statement = statement.where(col(Booking.room_id) == query.room_id)
    if query.building:
        statement = statement.where(col(Building.code) == query.building.upper())
    if query.owner:
        owner = viewer.username if query.owner == "me" else query.owner.lower()
        if owner != viewer.username and not Viewer.of(viewer).sees_owners:
            raise Forbidden(
                f"Your role ({viewer.role}) sees no one's bookings by owner but your own: "
                "use owner=me",
                field="owner",
            )
        statement = statement.where(col(User.username) == owner)
    if query.status is not None:
        statement = statement.where(col(Booking.status) == query.status)
    if query.purpose is not None:
        statement = statement.where(col(Booking.purpose) == query.purpose)
    if query.series_id is not None:
        statement = statement.where(col(Booking.series_id) == query.series_id)
    return await booking_page(session, statement, query, viewer)


class _PageQuery(Protocol):
    start: datetime | None
    end: datetime | None
    cursor: str | None
    limit: int


async def booking_page(
    session: AsyncSession, statement: Any, query: _PageQuery, viewer: User
) -> Page[BookingPublic]:
    """One page of the bookings ``statement`` selects (``labelled_bookings`` with filters):
    those during ``query``'s window, in start order, after its cursor, as ``viewer`` sees them."""
    if query.start is not None:
        statement = statement.where(col(Booking.end) > query.start)
    if query.end is not None:
        statement = statement.where(col(Booking.start) < query.end)
    if query.cursor:
        statement = statement.where(
            tuple_(col(Booking.start), col(Booking.id)) > tuple_(*_decode_cursor(query.cursor))
        )
    rows = (
        await session.execute(
            statement.order_by(col(Booking.start), col(Booking.id)).limit(query.limit + 1)
        )
    ).all()
    more = len(rows) > query.limit
    rows = rows[: query.limit]
    items = [booking_view(b, f"{bc}/{rc}", owner, viewer) for b, bc, rc, owner in rows]
    return Page(items=items, next_cursor=_encode_cursor(rows[-1][0]) if more else None)


# --- Checks ----------------------------------------------------------------------------------


async def room_for(session: AsyncSession, room_id: int, field_name: str = "room_id") -> Room:
    room = await session.get(Room, room_id)
    if room is None:
        raise ValidationFailed.single(field_name, f"no room has id {room_id}")
    return room


_ROOM_WITH_CODE = (
    select(Room, col(Building.code))
    .join(Building, col(Building.id) == col(Room.building_id))
    .where(col(Room.id) == bindparam("room_id"))
)


async def room_with_label(
    session: AsyncSession, room_id: int, field_name: str = "room_id"
) -> tuple[Room, str]:
    """The room and its label (``PB/101``), in one statement."""
    found = (await session.execute(_ROOM_WITH_CODE, {"room_id": room_id})).first()
    if found is None:
        raise ValidationFailed.single(field_name, f"no room has id {room_id}")
    return found[0], f"{found[1]}/{found[0].code}"


_ROOM_FACTS = (
    select(Room, col(Building.code), col(Building.approval_roles))
    .join(Building, col(Building.id) == col(Room.building_id))
    .where(col(Room.id) == bindparam("room_id"))
)


async def room_facts(
    session: AsyncSession, room_id: int, campus: Campus, field_name: str = "room_id"
) -> RoomFacts:
    """What the judge needs of the room ``room_id`` (its building's approval roles too), in
    one statement."""
    found = (await session.execute(_ROOM_FACTS, {"room_id": room_id})).first()
    if found is None:
        raise ValidationFailed.single(field_name, f"no room has id {room_id}")
    room, code, building_roles = found
    return campus.room(room, f"{code}/{room.code}", building_roles)


async def rooms_touched(
    session: AsyncSession, changed: Iterable[tuple[uuid.UUID, Scope]]
) -> set[int]:
    """The rooms that changing or cancelling each booking with its scope touches where the
    bookings are now (their series' occurrences too, for a wider scope), in one statement;
    read before the transaction takes its rooms (``store``), and checked again after."""
    changed = list(changed)
    if not changed:
        return set()
    ids = [booking_id for booking_id, _ in changed]
    series_of = [booking_id for booking_id, scope in changed if scope is not Scope.THIS]
    siblings = (
        select(col(Booking.series_id))
        .where(col(Booking.id).in_(series_of), col(Booking.series_id).is_not(None))
        .scalar_subquery()
    )
    statement = select(col(Booking.room_id)).where(
        col(Booking.id).in_(ids) | col(Booking.series_id).in_(siblings)
        if series_of
        else col(Booking.id).in_(ids)
    )
    found = await session.execute(statement.distinct())
    return set(found.scalars())


async def owner_for(session: AsyncSession, actor: User, username: str | None) -> User:
    """The booking's owner: the actor, or (for booking officers) the user they name."""
    if username is None or username.lower() == actor.username:
        return actor
    if not allows(actor.role, Permission.BOOK_FOR_OTHERS):
        raise Forbidden(f"Your role ({actor.role}) may not book on behalf of someone else")
    owner = (
        await session.execute(select(User).where(col(User.username) == username.lower()))
    ).scalar_one_or_none()
    if owner is None or not owner.active:
        raise ValidationFailed.single("owner", f"no active user is called {username}")
    return owner


def ensure_may_manage(actor: User, booking: Booking) -> None:
    if not sees_everything(actor, booking.owner_id):
        raise Forbidden("You may change or cancel only your own bookings")


async def closures_over(
    session: AsyncSession, room: Room | RoomFacts, start: datetime, end: datetime
) -> list[Closure]:
    """The blackouts of the room or its building that overlap ``[start, end)``."""
    rows = await session.execute(
        select(Blackout).where(
            (col(Blackout.room_id) == room.id) | (col(Blackout.building_id) == room.building_id),
            col(Blackout.start) < end,
            col(Blackout.end) > start,
        )
    )
    return [Closure.of(blackout) for blackout in rows.scalars()]


def log_override(
    session: AsyncSession,
    actor: User,
    rules: list[str],
    reason: str | None,
    *,
    booking_id: uuid.UUID | None = None,
    series_id: uuid.UUID | None = None,
) -> None:
    assert actor.id is not None
    override_log.warning(
        "%s overrode %s for booking=%s series=%s: %s",
        actor.username,
        ",".join(rules),
        booking_id,
        series_id,
        reason,
    )
    session.add(
        RuleOverride(
            booking_id=booking_id,
            series_id=series_id,
            user_id=actor.id,
            rules=rules,
            reason=reason or "",
            created_at=utcnow(),
        )
    )


async def conflicting_bookings(
    session: AsyncSession,
    room_id: int,
    start: datetime,
    end: datetime,
    exclude: Sequence[uuid.UUID] = (),
) -> list[Booking]:
    statement = select(Booking).where(
        col(Booking.room_id) == room_id,
        holds_room(),
        col(Booking.start) < end,
        col(Booking.end) > start,
    )
    if exclude:
        statement = statement.where(col(Booking.id).not_in(exclude))
    return list((await session.execute(statement.order_by(col(Booking.start)))).scalars())


def is_overlap_violation(error: IntegrityError) -> bool:
    """Whether the database refused an overlap (Postgres 23P01, the SQLite trigger)."""
    return sqlstate(error) == "23P01" or "room-overlap" in str(error.orig)


def is_room_gone(error: IntegrityError) -> bool:
    """Whether the database refused the booking because its room was deleted after it was
    read (Postgres; SQLite has one writer, which reads the room in the same transaction)."""
    return sqlstate(error) == "23503" and "bookings_room_id_fkey" in str(error.orig)


async def overlap_error(
    session: AsyncSession,
    room: RoomFacts,
    start: datetime,
    end: datetime,
    viewer: User,
    campus: Campus,
    *,
    attendees: int = 0,
    features: Sequence[str] = (),
    exclude: Sequence[uuid.UUID] = (),
) -> RoomOverlap:
    """The judge's ``room-overlap`` problem: who is in the way (as ``viewer`` may see them),
    and the alternatives it accepts."""
    in_the_way = await conflicting_bookings(session, room.id, start, end, exclude)
    views = await views_of(session, [b.id for b in in_the_way], viewer)
    return judge.overlap(
        room,
        start,
        end,
        campus,
        [Held(v.id, v.start, v.end, v.title) for v in views],
        await alternatives(
            session,
            room,
            start,
            end,
            campus,
            attendees=attendees,
            features=features,
            exclude=exclude,
        ),
    )


# --- Writes ----------------------------------------------------------------------------------


async def create_booking(
    session: AsyncSession,
    actor: User,
    data: BookingCreate,
    policy: BookingPolicy,
    *,
    series_id: uuid.UUID | None = None,
) -> BookingPublic:
    """Book a room within ``session``'s write transaction, or raise why not; with
    ``series_id``, as an occurrence of that series (a campus move restores them so).

    On the way to a booking this sends two statements: the room with what stands in the slot's
    way, and the insert with its change-log entry (on SQLite the entry and its number follow at
    commit). The insert is the real check: a booking
    that a concurrent writer's overlapping one beat to it is skipped, not failed (see
    ``insert_bookings``), and answered like the pre-check's refusal.
    """
    store = store_for(session)
    if store.has_taken(session):
        await store.take_rooms(session, {data.room_id})
    room, label, probe = await room_and_slot(
        session, data.room_id, data.start, data.end, data.id, actor
    )
    owner = await owner_for(session, actor, data.owner)
    if probe.taken:
        raise _duplicate(data.id)
    campus = policy.campus_now()
    facts = campus.room(room, label, probe.building_roles)
    closures = await closures_over(session, room, data.start, data.end) if probe.blacked_out else []
    broken = judge.problems(
        facts, data.start, data.end, campus, attendees=data.attendees, closures=closures
    )
    if probe.limited or owner is not actor:
        broken += await quota_problems(
            session, owner, [(data.start, data.end)], campus, rooms={data.room_id}
        )
    overridden = judge.settle(broken, actor.role, data.override)
    if probe.booked:
        raise await _overlap(session, facts, data, actor, campus)
    status = judge.status_for(facts, await access_for(session, actor, facts))
    row = booking_row(data, id_of(owner), utcnow(), series_id, status)
    try:
        inserted = await insert_bookings(session, [row])
    except IntegrityError as exc:
        if is_room_gone(exc):
            raise ValidationFailed.single("room_id", f"no room has id {data.room_id}") from None
        if not is_overlap_violation(exc):
            raise
        inserted = set()
    if not inserted:
        raise await refusal(session, facts, data, actor, campus)
    if overridden:
        log_override(session, actor, overridden, data.override_reason, booking_id=row["id"])
    if status is BookingStatus.PENDING:
        await tell_approvers(session, [(row, facts)])
    return booking_view(Booking(**row), label, owner.username, actor)


_BOOKINGS = SQLModel.metadata.tables["bookings"]
_BLACKOUTS = SQLModel.metadata.tables["blackouts"]
#: The start of the room's first holding booking that ends after ``:start``.
_NEXT_START = (
    select(_BOOKINGS.c.start)
    .where(
        _BOOKINGS.c.room_id == col(Room.id),
        holds_room(_BOOKINGS.c.status),
        _BOOKINGS.c.end > bindparam("start"),
    )
    .order_by(_BOOKINGS.c.end)
    .limit(1)
    .scalar_subquery()
)
_BLACKED_OUT = exists().where(
    (_BLACKOUTS.c.room_id == col(Room.id)) | (_BLACKOUTS.c.building_id == col(Room.building_id)),
    _BLACKOUTS.c.start < bindparam("end"),
    _BLACKOUTS.c.end > bindparam("start"),
)
#: ``:booking_id`` NULL names no booking, so this is false when no id is given.
_TAKEN = exists().where(_BOOKINGS.c.id == bindparam("booking_id"))
_QUOTAS = SQLModel.metadata.tables["quotas"]
#: Whether a quota is in force for ``:owner_id`` of ``:owner_role`` (NULLs name nobody).
_LIMITED = exists().where(
    (_QUOTAS.c.user_id == bindparam("owner_id")) | (_QUOTAS.c.role == bindparam("owner_role"))
)
_ROOM_AND_SLOT = (
    select(
        Room,
        col(Building.code),
        _NEXT_START,
        _BLACKED_OUT,
        _TAKEN,
        _LIMITED,
        col(Building.approval_roles),
    )
    .join(Building, col(Building.id) == col(Room.building_id))
    .where(col(Room.id) == bindparam("room_id"))
)


@dataclass(frozen=True)
class SlotProbe:
    """What stands in the way of booking a slot."""

    booked: bool
    blacked_out: bool
    taken: bool
    #: Whether a quota is in force for the owner the probe was asked about.
    limited: bool = False
    #: The room's building's ``approval_roles``.
    building_roles: list[str] | None = None


async def room_and_slot(
    session: AsyncSession,
    room_id: int,
    start: datetime,
    end: datetime,
    booking_id: uuid.UUID | None = None,
    owner: User | None = None,
) -> tuple[Room, str, SlotProbe]:
    """The room, its label, and what stands in the way of ``[start, end)`` there, in one
    statement: whether a holding booking (confirmed or pending) overlaps it, whether a
    blackout of the room or its building covers any of it, whether ``booking_id`` is taken,
    and whether ``owner`` has a quota in force.

    The overlap check reads one booking: the room's first holding booking ending after
    ``start``. Holding bookings of a room never overlap, so the slot is taken exactly when
    that booking starts before ``end``.
    """
    found = (
        await session.execute(
            _ROOM_AND_SLOT,
            {
                "room_id": room_id,
                "start": start,
                "end": end,
                "booking_id": booking_id,
                "owner_id": None if owner is None else owner.id,
                "owner_role": None if owner is None else owner.role,
            },
        )
    ).first()
    if found is None:
        raise ValidationFailed.single("room_id", f"no room has id {room_id}")
    room, building_code, next_start, blacked_out, taken, limited, building_roles = found
    probe = SlotProbe(
        booked=next_start is not None and next_start < end,
        blacked_out=bool(blacked_out),
        taken=bool(taken),
        limited=bool(limited),
        building_roles=building_roles,
    )
    return room, f"{building_code}/{room.code}", probe


def booking_row(
    data: BookingCreate,
    owner_id: int,
    now: datetime,
    series_id: uuid.UUID | None = None,
    status: str = CONFIRMED,
) -> dict[str, Any]:
    """The ``bookings`` row that ``data`` asks for, owned by ``owner_id`` (an occurrence of
    ``series_id`` when given), with the ``status`` the judge gave it."""
    return {
        **fields_of(data, exclude=["id", "owner", "features", "override", "override_reason"]),
        "id": data.id or uuid.uuid4(),
        "owner_id": owner_id,
        "status": str(status),
        "series_id": series_id,
        "version": 1,
        "created_at": now,
        "updated_at": now,
        "checked_in_at": None,
        "checked_in_by": None,
        "decided_by": None,
        "decided_at": None,
        "decision_reason": "",
    }


async def insert_bookings(session: AsyncSession, rows: Sequence[dict[str, Any]]) -> set[uuid.UUID]:
    """Insert bookings and their change-log entries through the store; the ids inserted.

    A row whose id is taken, or (Postgres) that the exclusion constraint refuses, is skipped
    rather than failing the transaction; the caller says why. SQLite's overlap trigger raises
    ``IntegrityError`` instead, undoing this statement only.
    """
    return await store_for(session).insert_bookings(session, rows)


async def refusal(
    session: AsyncSession, room: RoomFacts, data: BookingCreate, actor: User, campus: Campus
) -> CompaxError:
    """Why the database refused a booking that passed the checks: its id was taken meanwhile,
    or an overlapping booking got in first."""
    if data.id is not None and await session.get(Booking, data.id) is not None:
        return _duplicate(data.id)
    return await _overlap(session, room, data, actor, campus)


def _duplicate(booking_id: uuid.UUID | None) -> Duplicate:
    return Duplicate(f"A booking with id {booking_id} exists already", field="id")


async def _overlap(
    session: AsyncSession, room: RoomFacts, data: BookingCreate, actor: User, campus: Campus
) -> RoomOverlap:
    return await overlap_error(
        session,
        room,
        data.start,
        data.end,
        actor,
        campus,
        attendees=data.attendees,
        features=data.features,
    )


async def _targets(session: AsyncSession, booking: Booking, scope: Scope) -> list[Booking]:
    """The bookings holding their rooms a change with ``scope`` applies to, addressed one first."""
    if scope is Scope.THIS:
        return [booking]
    if booking.series_id is None:
        raise ValidationFailed.single("scope", "this booking is not part of a series")
    statement = select(Booking).where(
        col(Booking.series_id) == booking.series_id,
        holds_room(),
        col(Booking.id) != booking.id,
    )
    if scope is Scope.FOLLOWING:
        statement = statement.where(col(Booking.start) > booking.start)
    others = (
        await session.execute(statement.with_for_update().order_by(col(Booking.start)))
    ).scalars()
    return [booking, *others]


async def update_booking(
    session: AsyncSession,
    actor: User,
    booking_id: uuid.UUID,
    data: BookingUpdate,
    expected_version: int,
    scope: Scope,
    policy: BookingPolicy,
) -> BookingPublic:
    """Change a booking, or with ``scope`` the following or all occurrences of its series.

    A move of several occurrences is all or nothing: any clash answers ``series-conflict``
    listing each clashing date, and nothing changes.
    """
    changes = fields_of(data, only_set=True, exclude=["override", "override_reason"])
    room_id = changes.get("room_id")
    await _take_rooms_of(session, booking_id, scope, {room_id} if room_id is not None else set())
    booking = await get_or_404(session, Booking, booking_id, "booking", for_update=True)
    ensure_may_manage(actor, booking)
    check_version(booking, expected_version, await read_booking(session, booking.id, actor))
    if booking.status not in HOLDING:
        raise BookingCancelled(f"A {booking.status} booking cannot be changed; book again instead")
    targets = await _targets(session, booking, scope)
    new_start, new_end = changes.get("start"), changes.get("end")
    if (new_end or booking.end) <= (new_start or booking.start):
        raise ValidationFailed.single("end", "must be after start")
    times = judge.moved_times(
        (booking.start, booking.end),
        [(target.start, target.end) for target in targets],
        new_start,
        new_end,
        policy.zone,
    )
    plans = [
        (target, changes.get("room_id", target.room_id), *moved)
        for target, moved in zip(targets, times, strict=True)
    ]
    rooms: dict[int, RoomFacts] = {}
    if {"room_id", "start", "end", "attendees"} & changes.keys():
        rooms = await _check_moves(
            session, actor, plans, data, policy.campus_now(), changes.get("attendees")
        )
    before = others_bookings(actor, targets)
    moves = [
        (target, {**changes, "room_id": room_id, "start": start, "end": end})
        for target, room_id, start, end in plans
    ]
    waiting = await _statuses_after_moves(session, actor, moves, rooms)
    try:
        await store_for(session).change_bookings(session, moves)
    except IntegrityError as exc:
        if not is_overlap_violation(exc):
            raise
        raise SeriesConflict(
            "Another booking took one of these times meanwhile; read the bookings again and retry"
        ) from None
    await tell_approvers(session, waiting, occasion=f"moved:{utcnow().isoformat()}")
    await tell_of_changes(session, actor, before, targets)
    return await read_booking(session, booking.id, actor)


async def _statuses_after_moves(
    session: AsyncSession,
    actor: User,
    moves: list[tuple[Booking, dict[str, Any]]],
    rooms: dict[int, RoomFacts],
) -> list[tuple[dict[str, Any], RoomFacts]]:
    """Give each booking of ``moves`` whose room or times change the status the judge gives it
    where and when it goes (``judge.status_after_move``: a pending request stays pending; a
    confirmed one waits again where its owner would, unless ``actor`` may approve there);
    the rows that wait anew, with their rooms, for telling approvers."""
    moved = [
        (target, change)
        for target, change in moves
        if (target.room_id, target.start, target.end)
        != (change["room_id"], change["start"], change["end"])
    ]
    if not moved or not rooms:
        return []
    owners = {target.owner_id for target, _ in moved}
    people = [actor, *[await _user(session, owner_id) for owner_id in sorted(owners)]]
    accesses = await accesses_for(session, people, rooms.values())
    mover = await access_of(session, actor)
    waiting = []
    for target, change in moved:
        room = rooms[change["room_id"]]
        owner = accesses[target.owner_id]
        status = judge.status_after_move(target.status, room, owner, mover)
        if status != target.status:
            change["status"] = status.value
            change.update(decided_by=None, decided_at=None, decision_reason="")
            waiting.append(({**fields_of(target), **change}, room))
    return waiting


async def _user(session: AsyncSession, user_id: int) -> User:
    """The user ``user_id`` (a booking's owner, who exists while their bookings do)."""
    user = await session.get(User, user_id)
    assert user is not None
    return user


#: A moved occurrence: the booking, the room it goes to, its new start and end.
Plan = tuple[Booking, int, datetime, datetime]


async def _check_moves(
    session: AsyncSession,
    actor: User,
    plans: list[Plan],
    request: BookingUpdate,
    campus: Campus,
    attendees: int | None,
) -> dict[int, RoomFacts]:
    """Ask the judge about each moved occurrence in the room it goes to (its own, unless the
    change names one): a single one is refused with its first problem (a clash with
    alternatives); several are refused together, each clashing date listed, unless only
    overridable rules are broken and an officer overrides them. Returns the rooms moved
    into, by id."""
    moving = [target.id for target, _, _, _ in plans]
    destinations = []
    for room_id in sorted({room_id for _, room_id, _, _ in plans}):
        room = await room_facts(session, room_id, campus)
        mine = [(t, s, e) for t, r, s, e in plans if r == room_id]
        first, last = min(s for _, s, _ in mine), max(e for _, _, e in mine)
        held = await conflicting_bookings(session, room_id, first, last, moving)
        destinations.append(
            judge.Destination(
                room,
                [(s, e, t.attendees if attendees is None else attendees) for t, s, e in mine],
                [Held(b.id, b.start, b.end) for b in held],
                await closures_over(session, room, first, last),
            )
        )
    over_quota = await _quota_of_moves(session, plans, campus)
    if len(plans) == 1:
        [destination] = destinations
        room, [(start, end, wanted)] = destination.room, destination.wanted
        broken = judge.problems(
            room, start, end, campus, attendees=wanted, closures=destination.closures
        )
        overridden = judge.settle(broken + over_quota, actor.role, request.override)
        if judge.in_the_way(start, end, destination.held):
            raise await overlap_error(
                session, room, start, end, actor, campus, attendees=wanted, exclude=moving
            )
    else:
        overridden = judge.settle(over_quota, actor.role, request.override)
        overridden += judge.settle_several(
            destinations, campus, role=actor.role, override=request.override
        )
    if overridden:
        log_override(
            session,
            actor,
            sorted(set(overridden)),
            request.override_reason,
            booking_id=plans[0][0].id,
        )
    return {destination.room.id: destination.room for destination in destinations}


async def _quota_of_moves(
    session: AsyncSession, plans: list[Plan], campus: Campus
) -> list[CompaxError]:
    """The owner's quota problems with the moved occurrences at their new times (each counted
    once: the bookings moved are left out of what the owner holds)."""
    targets = [target for target, _, _, _ in plans]
    if all((t.start, t.end) == (s, e) for t, _, s, e in plans):
        return []
    owner = await session.get(User, targets[0].owner_id)
    if owner is None:
        return []
    return list(
        await quota_problems(
            session,
            owner,
            [(start, end) for _, _, start, end in plans],
            campus,
            moving=[target.id for target in targets],
        )
    )


async def cancel_booking(
    session: AsyncSession, actor: User, booking_id: uuid.UUID, expected_version: int, scope: Scope
) -> list[BookingPublic]:
    """Cancel a booking (kept, with status ``cancelled``) or its following or all occurrences."""
    await _take_rooms_of(session, booking_id, scope)
    booking = await get_or_404(session, Booking, booking_id, "booking", for_update=True)
    ensure_may_manage(actor, booking)
    check_version(booking, expected_version, await read_booking(session, booking.id, actor))
    if booking.status not in HOLDING:
        raise BookingCancelled(f"The booking is {booking.status} already")
    targets = await _targets(session, booking, scope)
    cancelled = {"status": BookingStatus.CANCELLED.value}
    before = others_bookings(actor, targets)
    await store_for(session).change_bookings(session, [(target, cancelled) for target in targets])
    await tell_of_changes(session, actor, before, targets)
    return await views_of(session, [t.id for t in targets], actor)


async def _take_rooms_of(
    session: AsyncSession, booking_id: uuid.UUID, scope: Scope, also: Set[int] = frozenset()
) -> None:
    """Take the rooms that changing or cancelling the booking with ``scope`` touches, unless
    this transaction took its rooms already (the store checks them as it writes)."""
    store = store_for(session)
    if not store.has_taken(session):
        await store.take_rooms(session, also | await rooms_touched(session, [(booking_id, scope)]))
