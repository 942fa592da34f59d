"""Buildings, rooms and terms: the campus every booking refers to."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from typing import Any

from sqlalchemy import delete, func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from compax_server.models import Booking, Building, Room, RoomFeature, RoomIssue, Series, Term
from compax_server.services.common import (
    apply_changes,
    check_version,
    fields_of,
    get_or_404,
    id_of,
    is_unique_violation,
    keyset_page,
    refuse_nulls,
    utcnow,
)
from compax_server.services.rating_order import by_rating, rated_at_least_where, rating_cursor
from compax_server.store import store_for
from sync.errors import Duplicate, InUse, ValidationFailed
from sync.rating_rules import rating_average, rating_rank
from sync.schemas import (
    BuildingCreate,
    BuildingPublic,
    BuildingQuery,
    BuildingUpdate,
    ListQuery,
    Page,
    RoomCreate,
    RoomPublic,
    RoomQuery,
    RoomUpdate,
    TermCreate,
    TermPublic,
    TermUpdate,
    term_day_errors,
)
from sync.vocabulary import BulkStatus, RoomSort

# --- Buildings -------------------------------------------------------------------------------


def building_public(building: Building) -> BuildingPublic:
    return BuildingPublic.model_validate(building, from_attributes=True)


async def list_buildings(session: AsyncSession, query: BuildingQuery) -> Page[BuildingPublic]:
    statement = select(Building)
    if query.kind:
        statement = statement.where(col(Building.kind) == query.kind)
    rows, cursor = await keyset_page(
        session, statement, col(Building.id), query.limit, query.cursor
    )
    return Page(items=[building_public(row[0]) for row in rows], next_cursor=cursor)


async def building_by_code(session: AsyncSession, code: str) -> Building | None:
    return (
        await session.execute(select(Building).where(col(Building.code) == code))
    ).scalar_one_or_none()


async def create_building(session: AsyncSession, data: BuildingCreate) -> Building:
    if await building_by_code(session, data.code):
        raise Duplicate(f"A building with code {data.code} exists already", field="code")
    now = utcnow()
    building = Building(**fields_of(data), created_at=now, updated_at=now)
    await _flush_unique(session, building, f"A building with code {data.code} exists already")
    return building


async def update_building(
    session: AsyncSession, building_id: int, data: BuildingUpdate, expected_version: int
) -> Building:
    building = await get_or_404(session, Building, building_id, "building", for_update=True)
    check_version(building, expected_version, building_public(building))
    apply_changes(building, fields_of(data, only_set=True))
    return building


async def delete_building(session: AsyncSession, building_id: int) -> None:
    building = await get_or_404(session, Building, building_id, "building", for_update=True)
    rooms = await session.scalar(select(func.count()).where(col(Room.building_id) == building_id))
    if rooms:
        raise InUse(f"Building {building.code} still has {rooms} rooms; delete or move them first")
    await session.delete(building)


async def upsert_building(
    session: AsyncSession, data: BuildingCreate, existing: Building | None
) -> tuple[BulkStatus, Building]:
    if existing is None:
        return BulkStatus.CREATED, await create_building(session, data)
    changed = apply_changes(existing, fields_of(data, only_set=True, exclude=["code"]))
    return (BulkStatus.UPDATED if changed else BulkStatus.UNCHANGED), existing


async def buildings_by_code(session: AsyncSession, codes: Sequence[str]) -> dict[str, Building]:
    rows = await session.execute(select(Building).where(col(Building.code).in_(set(codes))))
    return {b.code: b for b in rows.scalars()}


# --- Rooms -----------------------------------------------------------------------------------


async def _features_of(session: AsyncSession, room_ids: Sequence[int]) -> dict[int, list[str]]:
    """Every listed room's features in one query."""
    features: dict[int, list[str]] = defaultdict(list)
    if room_ids:
        rows = await session.execute(
            select(col(RoomFeature.room_id), col(RoomFeature.feature))
            .where(col(RoomFeature.room_id).in_(room_ids))
            .order_by(col(RoomFeature.room_id), col(RoomFeature.feature))
        )
        for room_id, feature in rows:
            features[room_id].append(feature)
    return features


def _room_public(room: Room, building_code: str, features: list[str]) -> RoomPublic:
    average = rating_average(room.rating_count, room.rating_total)
    return RoomPublic.model_validate(
        {
            **room.model_dump(),
            "building": building_code,
            "features": features,
            "rating_average": average,
        }
    )


async def room_public(session: AsyncSession, room: Room) -> RoomPublic:
    building = await session.get(Building, room.building_id)
    assert building is not None
    assert room.id is not None
    features = (await _features_of(session, [room.id]))[room.id]
    return _room_public(room, building.code, features)


def rooms_matching(query: RoomQuery, *columns: Any) -> Any:
    """A select of ``columns`` (by default the Room and its building code) over the rooms
    ``query`` asks for, each filter indexed."""
    statement = select(*(columns or (Room, col(Building.code)))).join(
        Building, col(Building.id) == col(Room.building_id)
    )
    if query.building:
        statement = statement.where(col(Building.code) == query.building)
    if query.code:
        statement = statement.where(col(Room.code) == query.code)
    if query.kind:
        statement = statement.where(col(Room.kind) == query.kind)
    if query.capacity is not None:
        # Asking seats leaves rooms of unknown capacity out (sync.judge.offered_for).
        statement = statement.where(
            col(Room.capacity).is_not(None), col(Room.capacity) >= query.capacity
        )
    if query.bookable is not None:
        statement = statement.where(col(Room.bookable) == query.bookable)
    if query.features:
        having_all = (
            select(col(RoomFeature.room_id))
            .where(col(RoomFeature.feature).in_(query.features))
            .group_by(col(RoomFeature.room_id))
            .having(func.count() == len(query.features))
        )
        statement = statement.where(col(Room.id).in_(having_all))
    if query.min_rating is not None:
        statement = statement.where(rated_at_least_where(query.min_rating))
    return statement


async def rooms_public(session: AsyncSession, room_ids: Sequence[int]) -> list[RoomPublic]:
    """The public form of the given rooms, with two queries however many there are."""
    statement = select(Room, col(Building.code)).join(Building).where(col(Room.id).in_(room_ids))
    rows = (await session.execute(statement)).all()
    ids = [id_of(room) for room, _ in rows]
    features = await _features_of(session, ids)
    return [_room_public(room, code, features[id_of(room)]) for room, code in rows]


async def list_rooms(session: AsyncSession, query: RoomQuery) -> Page[RoomPublic]:
    """Rooms ``query`` asks for by id, or best rated first with ``sort=rating``."""
    if query.sort == RoomSort.RATING:
        statement = by_rating(rooms_matching(query), [col(Room.id)], query.cursor)
        rows = (await session.execute(statement.limit(query.limit + 1))).all()
        last = rows[query.limit - 1][0] if len(rows) > query.limit else None
        rows = rows[: query.limit]
        cursor = None
        if last is not None:
            cursor = rating_cursor(rating_rank(last.rating_count, last.rating_total), [id_of(last)])
    else:
        rows, cursor = await keyset_page(
            session, rooms_matching(query), col(Room.id), query.limit, query.cursor
        )
    ids = [id_of(room) for room, _ in rows]
    features = await _features_of(session, ids)
    items = [_room_public(room, code, features[id_of(room)]) for room, code in rows]
    return Page(items=items, next_cursor=cursor)


async def _building_for(session: AsyncSession, code: str) -> Building:
    building = await building_by_code(session, code)
    if building is None:
        raise ValidationFailed.single("building", f"no building has code {code}")
    return building


async def _set_features(session: AsyncSession, room_id: int, features: list[str]) -> None:
    await session.execute(delete(RoomFeature).where(col(RoomFeature.room_id) == room_id))
    session.add_all(RoomFeature(room_id=room_id, feature=f) for f in features)


async def create_room(session: AsyncSession, data: RoomCreate) -> Room:
    building = await _building_for(session, data.building)
    clash = await session.execute(
        select(col(Room.id)).where(
            col(Room.building_id) == building.id, col(Room.code) == data.code
        )
    )
    message = f"Room {data.code} exists already in building {building.code}"
    if clash.first():
        raise Duplicate(message, field="code")
    now = utcnow()
    room = Room(
        **fields_of(data, exclude=["building", "features"]),
        building_id=id_of(building),
        created_at=now,
        updated_at=now,
    )
    await _flush_unique(session, room, message)
    assert room.id is not None
    await _set_features(session, room.id, data.features)
    return room


async def update_room(
    session: AsyncSession, room_id: int, data: RoomUpdate, expected_version: int
) -> Room:
    room = await get_or_404(session, Room, room_id, "room", for_update=True)
    check_version(room, expected_version, await room_public(session, room))
    await _change_room(session, room, fields_of(data, only_set=True))
    return room


async def _change_room(session: AsyncSession, room: Room, changes: dict[str, Any]) -> bool:
    assert room.id is not None
    features = changes.pop("features", None)
    if "max_duration_minutes" in changes or "min_duration_minutes" in changes:
        low = changes.get("min_duration_minutes", room.min_duration_minutes)
        high = changes.get("max_duration_minutes", room.max_duration_minutes)
        if low is not None and high is not None and low > high:
            raise ValidationFailed.single(
                "max_duration_minutes", "must not be less than min_duration_minutes"
            )
    changed = apply_changes(room, changes)
    if features is not None and features != (await _features_of(session, [room.id]))[room.id]:
        await _set_features(session, room.id, features)
        if not changed:
            apply_changes(room, {"updated_at": utcnow()})
        changed = True
    return changed


async def delete_room(session: AsyncSession, room_id: int) -> None:
    """Delete a room that no booking or series refers to, with its features and blackouts;
    one still referred to is ``InUse``, saying by what and how many.

    The room's turn is taken first through the booking store, as every booking or series
    written for it takes it, so none can appear between the count and the delete."""
    await store_for(session).take_rooms(session, [room_id])
    room = await get_or_404(session, Room, room_id, "room", for_update=True)
    referred_by = await _references(
        session,
        bookings=col(Booking.room_id) == room_id,
        series=col(Series.room_id) == room_id,
        issues=col(RoomIssue.room_id) == room_id,
    )
    if referred_by:
        raise InUse(
            f"Room {room.code} is referred to by {_counted(referred_by)}; "
            "mark it not bookable instead",
            referred_by=referred_by,
        )
    await session.delete(room)


async def rooms_by_key(
    session: AsyncSession, keys: Sequence[tuple[str, str]]
) -> dict[tuple[str, str], Room]:
    """Existing rooms by (building code, room code), in one query."""
    codes = {room for _, room in keys}
    buildings = {building for building, _ in keys}
    rows = await session.execute(
        select(Room, col(Building.code))
        .join(Building, col(Building.id) == col(Room.building_id))
        .where(col(Room.code).in_(codes), col(Building.code).in_(buildings))
    )
    return {(building, room.code): room for room, building in rows}


async def upsert_room(
    session: AsyncSession, data: RoomCreate, existing: Room | None
) -> tuple[BulkStatus, Room]:
    if existing is None:
        return BulkStatus.CREATED, await create_room(session, data)
    changes = fields_of(data, only_set=True, exclude=["building", "code"])
    changed = await _change_room(session, existing, changes)
    return (BulkStatus.UPDATED if changed else BulkStatus.UNCHANGED), existing


# --- Terms -----------------------------------------------------------------------------------


def term_public(term: Term) -> TermPublic:
    return TermPublic.model_validate(term, from_attributes=True)


async def list_terms(session: AsyncSession, query: ListQuery) -> Page[TermPublic]:
    rows, next_cursor = await keyset_page(
        session, select(Term), col(Term.id), query.limit, query.cursor
    )
    return Page(items=[term_public(row[0]) for row in rows], next_cursor=next_cursor)


async def create_term(session: AsyncSession, data: TermCreate) -> Term:
    message = f"A term named {data.name!r} exists already"
    if (await session.execute(select(col(Term.id)).where(col(Term.name) == data.name))).first():
        raise Duplicate(message, field="name")
    now = utcnow()
    term = Term(**fields_of(data), created_at=now, updated_at=now)
    await _flush_unique(session, term, message)
    return term


async def update_term(
    session: AsyncSession, term_id: int, data: TermUpdate, expected_version: int
) -> Term:
    term = await get_or_404(session, Term, term_id, "term", for_update=True)
    check_version(term, expected_version, term_public(term))
    await _change_term(session, term, fields_of(data, only_set=True))
    return term


async def _change_term(session: AsyncSession, term: Term, changes: dict[str, Any]) -> bool:
    refuse_nulls(term, changes)
    merged: dict[str, Any] = {
        "first_day": term.first_day,
        "last_day": term.last_day,
        "holidays": term.holidays,
    }
    merged.update({k: v for k, v in changes.items() if k in merged})
    errors = term_day_errors(merged["first_day"], merged["last_day"], merged["holidays"])
    if errors:
        raise ValidationFailed(errors)
    new_name = changes.get("name")
    if new_name and new_name != term.name:
        clash = await session.execute(select(col(Term.id)).where(col(Term.name) == new_name))
        if clash.first():
            raise Duplicate(f"A term named {new_name!r} exists already", field="name")
    return apply_changes(term, changes)


async def delete_term(session: AsyncSession, term_id: int) -> None:
    """Delete a term that no series refers to; one still referred to is ``InUse``.

    The term's row is locked first, and a series being written for it waits for that lock
    to check its term, so none can appear between the count and the delete."""
    term = await get_or_404(session, Term, term_id, "term", for_update=True)
    referred_by = await _references(session, series=col(Series.term_id) == term_id)
    if referred_by:
        raise InUse(
            f"Term {term.name!r} is referred to by {_counted(referred_by)}; "
            "cancel or delete them first",
            referred_by=referred_by,
        )
    await session.delete(term)


async def terms_by_name(session: AsyncSession, names: Sequence[str]) -> dict[str, Term]:
    rows = await session.execute(select(Term).where(col(Term.name).in_(set(names))))
    return {t.name: t for t in rows.scalars()}


async def upsert_term(
    session: AsyncSession, data: TermCreate, existing: Term | None
) -> tuple[BulkStatus, Term]:
    if existing is None:
        return BulkStatus.CREATED, await create_term(session, data)
    changed = await _change_term(
        session, existing, fields_of(data, only_set=True, exclude=["name"])
    )
    return (BulkStatus.UPDATED if changed else BulkStatus.UNCHANGED), existing


async def _references(session: AsyncSession, **conditions: Any) -> dict[str, int]:
    """How many rows of each named table (``bookings=...``, ``series=...``) meet their
    condition, leaving out tables with none; one statement whatever the number of tables."""
    tables = {"bookings": Booking, "series": Series, "issues": RoomIssue}
    counts = select(
        *(
            select(func.count()).select_from(tables[name]).where(condition).scalar_subquery()
            for name, condition in conditions.items()
        )
    )
    found = (await session.execute(counts)).one()
    return {name: count for name, count in zip(conditions, found, strict=True) if count}


def _counted(referred_by: dict[str, int]) -> str:
    """``{"bookings": 3, "series": 1}`` as ``3 bookings and 1 series``."""
    words = {
        "bookings": ("booking", "bookings"),
        "series": ("series", "series"),
        "issues": ("problem report", "problem reports"),
    }
    return " and ".join(f"{count} {words[name][count != 1]}" for name, count in referred_by.items())


async def _flush_unique(session: AsyncSession, row: Any, message: str) -> None:
    """Add and flush ``row``; a unique key taken by a concurrent writer is a ``Duplicate``."""
    session.add(row)
    try:
        await session.flush()
    except IntegrityError as exc:
        if is_unique_violation(exc):
            raise Duplicate(message) from None
        raise
