"""Which building a record is in, for the scope checks of building managers
(``Call.require_in``): each answer is the building's id and code, or ``None`` when there is no
such record (the handler then answers 404 or 422 as it would for anyone)."""

from __future__ import annotations

from typing import Any, NamedTuple

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from compax_server.models import Blackout, Building, Room


class Where(NamedTuple):
    """A building, as a refusal names it."""

    id: int
    code: str


def _where(row: Any) -> Where | None:
    return None if row is None else Where(row[0], row[1])


async def building_where(session: AsyncSession, building_id: int) -> Where | None:
    found = await session.execute(
        select(col(Building.id), col(Building.code)).where(col(Building.id) == building_id)
    )
    row = found.first()
    return _where(row)


async def building_coded(session: AsyncSession, code: str | None) -> Where | None:
    if not code:
        return None
    found = await session.execute(
        select(col(Building.id), col(Building.code)).where(col(Building.code) == code.upper())
    )
    row = found.first()
    return _where(row)


async def room_where(session: AsyncSession, room_id: int) -> Where | None:
    found = await session.execute(
        select(col(Building.id), col(Building.code))
        .join(Room, col(Room.building_id) == col(Building.id))
        .where(col(Room.id) == room_id)
    )
    row = found.first()
    return _where(row)


async def blackout_where(session: AsyncSession, blackout_id: int) -> Where | None:
    """The building a blackout closes, or the building of the room it closes."""
    blackout = await session.get(Blackout, blackout_id)
    if blackout is None:
        return None
    if blackout.room_id is not None:
        return await room_where(session, blackout.room_id)
    return await building_where(session, blackout.building_id or 0)
