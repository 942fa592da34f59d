"""What stands around wanted slots, read for the booking store's callers in a fixed number of
statements whatever the number of slots: the rooms with their building codes, the blackouts
of their rooms and buildings, the one confirmed booking that can be in each slot's way, and
the bookings a clash report names. The dialect SQL (arrays on Postgres, JSON on SQLite) stays
here."""

from __future__ import annotations

import json
from collections.abc import Collection, Mapping, Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import (
    CompoundSelect,
    Dialect,
    FromClause,
    Integer,
    ScalarSelect,
    Select,
    and_,
    bindparam,
    column,
    func,
    literal_column,
    null,
    or_,
    select,
    union_all,
)
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import Mapped
from sqlmodel import SQLModel, col

from compax_server.models import Booking
from compax_server.services.booking_views import holds_room
from compax_server.services.core_sql import connection_of, ids, one_of_ids
from compax_server.sqltypes import UTCDateTime

#: A wanted slot: a room and the half-open interval ``[start, end)`` asked for in it.
Slot = tuple[int, datetime, datetime]


async def rooms_with_codes(session: AsyncSession, room_ids: Collection[int]) -> Sequence[Any]:
    """The rooms of ``room_ids`` that exist, each row with its building's approval roles and
    code last."""
    connection = await connection_of(session)
    dialect = connection.dialect
    found = await connection.execute(
        _ROOMS_WITH_CODES[dialect.name], {"ids": ids(dialect, room_ids)}
    )
    return found.all()


async def around(
    session: AsyncSession, buildings: Mapping[int, int], slots: Sequence[Slot]
) -> Sequence[Any]:
    """What stands around ``slots`` (at least one), whose rooms' buildings are ``buildings``
    (room id to building id), in one statement: the blackouts of those rooms and buildings
    over the slots' span, then, as rows without an id, the booking in the way of each slot."""
    connection = await connection_of(session)
    dialect = connection.dialect
    found = await connection.execute(
        _AROUND[dialect.name],
        {
            "closed_rooms": ids(dialect, buildings.keys()),
            "closed_buildings": ids(dialect, buildings.values()),
            "first": min(start for _, start, _ in slots),
            "last": max(end for _, _, end in slots),
            **_wanted(dialect, slots),
        },
    )
    return found.all()


_ROOMS, _BUILDINGS, _BLACKOUTS = (
    SQLModel.metadata.tables[name] for name in ("rooms", "buildings", "blackouts")
)
#: The rooms of the parameter ``ids``, each with its building's approval roles and code last.
_ROOMS_WITH_CODES = {
    name: select(
        *_ROOMS.c,
        _BUILDINGS.c.approval_roles.label("building_approval_roles"),
        _BUILDINGS.c.code.label("building_code"),
    )
    .join(_BUILDINGS, _BUILDINGS.c.id == _ROOMS.c.building_id)
    .where(clause)
    for name, clause in one_of_ids(_ROOMS.c.id, "ids").items()
}
#: The blackouts of the rooms ``closed_rooms`` or buildings ``closed_buildings`` during
#: ``[first, last)`` (not ``room_ids``: ``_WANTED`` has that name).
_BLACKOUTS_AROUND = {
    name: select(_BLACKOUTS).where(
        or_(in_rooms, one_of_ids(_BLACKOUTS.c.building_id, "closed_buildings")[name]),
        _BLACKOUTS.c.start < bindparam("last", type_=UTCDateTime()),
        _BLACKOUTS.c.end > bindparam("first", type_=UTCDateTime()),
    )
    for name, in_rooms in one_of_ids(_BLACKOUTS.c.room_id, "closed_rooms").items()
}
_INSTANTS = ARRAY(UTCDateTime())
#: The wanted slots as rows ``(room_id, start, end)``, from one parameter: arrays on Postgres,
#: a JSON list of the instants as SQLite stores them (so they compare as stored) on SQLite.
_WANTED: dict[str, FromClause] = {
    "postgresql": func.unnest(
        bindparam("room_ids", type_=ARRAY(Integer)),
        bindparam("starts", type_=_INSTANTS),
        bindparam("ends", type_=_INSTANTS),
    )
    .table_valued(column("room_id"), column("start"), column("end"))
    .render_derived(name="wanted"),
    "sqlite": select(
        *(
            func.json_extract(literal_column("value"), f"$[{at}]").label(name)
            for at, name in enumerate(("room_id", "start", "end"))
        )
    )
    .select_from(func.json_each(bindparam("wanted")))
    .subquery("wanted"),
}


def _in_the_way(wanted: FromClause) -> Select[int, datetime, datetime]:
    """For each wanted slot, the room's first confirmed booking that ends after the slot starts,
    if it starts before the slot ends: the only one that can overlap the slot, because confirmed
    bookings of a room never overlap one another. One probe of the room's index each."""

    def first_after(value: Mapped[datetime]) -> ScalarSelect[datetime]:
        return (
            select(value)
            .where(
                col(Booking.room_id) == wanted.c.room_id,
                holds_room(),
                col(Booking.end) > wanted.c.start,
            )
            .order_by(col(Booking.end))
            .limit(1)
            .scalar_subquery()
        )

    probes = select(
        wanted.c.room_id.label("room_id"),
        wanted.c.end.label("wanted_end"),
        first_after(col(Booking.start)).label("start"),
        first_after(col(Booking.end)).label("end"),
    ).subquery("probes")
    return select(probes.c.room_id, probes.c.start, probes.c.end).where(
        probes.c.start < probes.c.wanted_end
    )


def _around(name: str) -> CompoundSelect[Any]:
    """What stands around the wanted slots, in one statement: the blackouts of
    ``_BLACKOUTS_AROUND``, then, as rows without an id, the booking in the way of each slot."""
    in_the_way = _in_the_way(_WANTED[name]).subquery("in_the_way")
    given = {"room_id": in_the_way.c.room_id, "start": in_the_way.c.start, "end": in_the_way.c.end}
    return union_all(
        _BLACKOUTS_AROUND[name],
        select(*(given.get(column.name, null()).label(column.name) for column in _BLACKOUTS.c)),
    )


#: Built once per dialect: building a statement is not free.
_AROUND = {name: _around(name) for name in _WANTED}
#: Every confirmed booking that overlaps a wanted slot.
_OVERLAPPING = {
    name: select(Booking).join(
        wanted,
        and_(
            col(Booking.room_id) == wanted.c.room_id,
            holds_room(),
            col(Booking.end) > wanted.c.start,
            col(Booking.start) < wanted.c.end,
        ),
    )
    for name, wanted in _WANTED.items()
}


async def bookings_over(session: AsyncSession, slots: Sequence[Slot]) -> list[Booking]:
    """The confirmed bookings that overlap any of ``slots`` (at least one), in start order, in
    one statement: the bookings a report of clashes names."""
    dialect = session.get_bind().dialect
    found = await session.execute(_OVERLAPPING[dialect.name], _wanted(dialect, slots))
    return sorted(found.scalars().unique(), key=lambda booking: (booking.start, booking.id))


def _wanted(dialect: Dialect, slots: Sequence[Slot]) -> dict[str, Any]:
    """The parameters of ``_WANTED`` for these slots (at least one)."""
    if dialect.name == "postgresql":
        room_ids, starts, ends = zip(*slots, strict=True)
        return {"room_ids": list(room_ids), "starts": list(starts), "ends": list(ends)}
    stored = UTCDateTime().dialect_impl(dialect).bind_processor(dialect)
    assert stored is not None
    return {
        "wanted": json.dumps([[room, stored(start), stored(end)] for room, start, end in slots])
    }
