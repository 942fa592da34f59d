"""Blackouts: rooms or whole buildings closed for a time; bookings inside are reported, kept."""

from __future__ import annotations

from collections.abc import Callable

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from compax_server.db import Database
from compax_server.models import Blackout, Booking, Building, Room, User
from compax_server.services.booking_views import holds_room, views_of
from compax_server.services.bookings import room_for
from compax_server.services.campus import building_by_code
from compax_server.services.common import get_or_404, keyset_page, utcnow
from compax_server.services.notice_events import tell_of_blackout
from compax_server.services.scope import Where, room_where
from sync.errors import ValidationFailed
from sync.schemas import BlackoutCreate, BlackoutPublic, BlackoutQuery, BlackoutResult, Page


def blackout_public(blackout: Blackout) -> BlackoutPublic:
    return BlackoutPublic.model_validate(blackout, from_attributes=True)


async def create_blackout(
    db: Database,
    actor: User,
    data: BlackoutCreate,
    *,
    check: Callable[..., None] | None = None,
) -> BlackoutResult:
    """Close a room or building; the answer lists the bookings holding its rooms
    (confirmed or pending) it covers. ``check``
    is told the building closed (the room's, for a room) and the field that named it before
    anything is written, and refuses by raising."""
    assert actor.id is not None
    async with db.write() as session:
        covered = select(col(Booking.id)).where(
            holds_room(),
            col(Booking.start) < data.end,
            col(Booking.end) > data.start,
        )
        room_id: int | None = None
        building_id: int | None = None
        if data.room_id is not None:
            room = await room_for(session, data.room_id)
            room_id = room.id
            if check is not None:
                assert room.id is not None
                where = await room_where(session, room.id)
                assert where is not None
                check(where, field="room_id")
            covered = covered.where(col(Booking.room_id) == room.id)
        else:
            building = await building_by_code(session, data.building or "")
            if building is None:
                raise ValidationFailed.single("building", f"no building has code {data.building}")
            building_id = building.id
            if check is not None:
                assert building.id is not None
                check(Where(building.id, building.code), field="building")
            covered = covered.join(Room, col(Room.id) == col(Booking.room_id)).where(
                col(Room.building_id) == building.id
            )
        now = utcnow()
        blackout = Blackout(
            room_id=room_id,
            building_id=building_id,
            start=data.start,
            end=data.end,
            reason=data.reason,
            created_by=actor.id,
            created_at=now,
            updated_at=now,
        )
        session.add(blackout)
        await session.flush()
        booking_ids = list((await session.execute(covered)).scalars())
        await tell_of_blackout(session, actor, blackout, booking_ids)
        return BlackoutResult(
            blackout=blackout_public(blackout),
            covered_bookings=await views_of(session, booking_ids, actor),
        )


async def list_blackouts(session: AsyncSession, query: BlackoutQuery) -> Page[BlackoutPublic]:
    statement = select(Blackout)
    if query.room_id is not None:
        room = await session.get(Room, query.room_id)
        building_id = room.building_id if room else -1
        statement = statement.where(
            (col(Blackout.room_id) == query.room_id) | (col(Blackout.building_id) == building_id)
        )
    if query.building:
        statement = statement.join(Building, col(Building.id) == col(Blackout.building_id)).where(
            col(Building.code) == query.building.upper()
        )
    if query.start is not None:
        statement = statement.where(col(Blackout.end) > query.start)
    if query.end is not None:
        statement = statement.where(col(Blackout.start) < query.end)
    rows, cursor = await keyset_page(
        session, statement, col(Blackout.id), query.limit, query.cursor
    )
    return Page(items=[blackout_public(row[0]) for row in rows], next_cursor=cursor)


async def delete_blackout(session: AsyncSession, blackout_id: int) -> None:
    blackout = await get_or_404(session, Blackout, blackout_id, "blackout", for_update=True)
    await session.delete(blackout)
