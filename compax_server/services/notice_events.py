"""Telling owners what others did to their bookings: changed, cancelled, covered by a blackout.

Each is recorded in the transaction of the change itself (``notify``), so an owner is told of
exactly the changes that committed; one notification per booking per change, named by the
booking and its new version (or the blackout).
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from compax_server.jobs.notices import notify
from compax_server.models import Blackout, Booking, Building, Room, User
from sync.vocabulary import HOLDING, NoticeKind


@dataclass(frozen=True)
class Snapshot:
    """What a booking was before a change: enough to say what changed."""

    id: uuid.UUID
    owner_id: int
    version: int
    room_id: int
    start: datetime
    end: datetime
    title: str

    @classmethod
    def of(cls, booking: Booking) -> Snapshot:
        return cls(
            booking.id,
            booking.owner_id,
            booking.version,
            booking.room_id,
            booking.start,
            booking.end,
            booking.title,
        )


def others_bookings(actor: User, bookings: Iterable[Booking]) -> list[Snapshot]:
    """Snapshots of the bookings among ``bookings`` that ``actor`` does not own."""
    return [Snapshot.of(booking) for booking in bookings if booking.owner_id != actor.id]


async def room_labels(session: AsyncSession, room_ids: Iterable[int]) -> dict[int, str]:
    """``PB/101`` for each room, in one statement."""
    wanted = sorted(set(room_ids))
    if not wanted:
        return {}
    rows = await session.execute(
        select(col(Room.id), col(Building.code), col(Room.code))
        .join(Building, col(Building.id) == col(Room.building_id))
        .where(col(Room.id).in_(wanted))
    )
    return {
        room_id: f"{building}/{room}" for room_id, building, room in rows if room_id is not None
    }


def booking_facts(booking: Booking | Snapshot, labels: dict[int, str]) -> dict[str, Any]:
    """What every notice about a booking says: its title, room and times."""
    return {
        "booking_id": str(booking.id),
        "title": booking.title,
        "room": labels.get(booking.room_id, f"room {booking.room_id}"),
        "start": booking.start.isoformat(),
        "end": booking.end.isoformat(),
    }


def _name(actor: User) -> str:
    return actor.full_name or actor.username


async def tell_of_changes(
    session: AsyncSession, actor: User, before: Sequence[Snapshot], after: Sequence[Booking]
) -> None:
    """Tell each owner whose booking ``actor`` changed (``before`` as it was, ``after`` as
    it is now) what changed; a booking left as it was is not mentioned."""
    now = {booking.id: booking for booking in after}
    changed = [(was, now[was.id]) for was in before if now[was.id].version != was.version]
    if not changed:
        return
    rooms = [r for was, booking in changed for r in (was.room_id, booking.room_id)]
    labels = await room_labels(session, rooms)
    for was, booking in changed:
        kind = (
            NoticeKind.BOOKING_CANCELLED
            if booking.status not in HOLDING
            else NoticeKind.BOOKING_CHANGED
        )
        data = {**booking_facts(booking, labels), "by": _name(actor)}
        if kind is NoticeKind.BOOKING_CHANGED:
            data["was"] = booking_facts(was, labels)
        await notify(
            session,
            user_id=booking.owner_id,
            kind=kind,
            key=f"{booking.id}:v{booking.version}",
            data=data,
            booking_id=booking.id,
        )


async def tell_of_blackout(
    session: AsyncSession, actor: User, blackout: Blackout, booking_ids: Sequence[uuid.UUID]
) -> None:
    """Tell the owners of the bookings ``blackout`` covers (but the one who closed it)."""
    if not booking_ids:
        return
    covered = list(
        (
            await session.execute(
                select(Booking).where(
                    col(Booking.id).in_(list(booking_ids)), col(Booking.owner_id) != actor.id
                )
            )
        ).scalars()
    )
    labels = await room_labels(session, [booking.room_id for booking in covered])
    for booking in covered:
        await notify(
            session,
            user_id=booking.owner_id,
            kind=NoticeKind.BLACKOUT,
            key=f"{blackout.id}:{booking.id}",
            data={
                **booking_facts(booking, labels),
                "reason": blackout.reason,
                "closed_from": blackout.start.isoformat(),
                "closed_until": blackout.end.isoformat(),
            },
            booking_id=booking.id,
        )
