"""Who is told of approval requests and decisions, and what a requester may do where.

Approvers of a building are its managers, or every active admin when it has none; each is
told once per request (once per series for a series' occurrences). Requesters are told of
each decision and expiry. Every notice is recorded in the transaction of the change itself.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from compax_server.jobs.notices import notify
from compax_server.models import Booking, BuildingManager, User
from compax_server.services.access import managed_buildings
from sync.approval_rule import may_wait
from sync.judge import RoomFacts
from sync.permissions import Access, Role
from sync.vocabulary import NoticeKind


async def access_for(session: AsyncSession, actor: User, room: RoomFacts) -> Access:
    """What ``actor`` may do where, as far as the approval rule of ``room`` needs it: their
    managed buildings are read only when their role's requests there can wait."""
    if actor.id is None or not may_wait(room.approval_roles, actor.role):
        return Access.of(actor.role)
    return Access.of(actor.role, await managed_buildings(session, actor.id))


async def accesses_for(
    session: AsyncSession, actors: Iterable[User], rooms: Iterable[RoomFacts]
) -> dict[int, Access]:
    """``access_for`` of each of ``actors`` (by id) against any of ``rooms``, in at most one
    statement."""
    roles = {role for room in rooms for role in room.approval_roles}
    users = {actor.id: actor for actor in actors if actor.id is not None}
    waiting = [user_id for user_id, actor in users.items() if may_wait(roles, actor.role)]
    manages: dict[int, set[int]] = {}
    if waiting:
        rows = await session.execute(
            select(col(BuildingManager.user_id), col(BuildingManager.building_id)).where(
                col(BuildingManager.user_id).in_(waiting)
            )
        )
        for user_id, building_id in rows:
            manages.setdefault(user_id, set()).add(building_id)
    return {
        user_id: Access.of(actor.role, manages.get(user_id, ())) for user_id, actor in users.items()
    }


async def approvers_of(session: AsyncSession, building_ids: Iterable[int]) -> dict[int, list[int]]:
    """The users told of requests in each building: its active managers, else every active
    admin; in two statements whatever the number of buildings."""
    wanted = sorted(set(building_ids))
    if not wanted:
        return {}
    rows = await session.execute(
        select(col(BuildingManager.building_id), col(BuildingManager.user_id))
        .join(User, col(User.id) == col(BuildingManager.user_id))
        .where(col(BuildingManager.building_id).in_(wanted), col(User.active))
        .order_by(col(BuildingManager.user_id))
    )
    found: dict[int, list[int]] = {building_id: [] for building_id in wanted}
    for building_id, user_id in rows:
        found[building_id].append(user_id)
    if any(not users for users in found.values()):
        admins = list(
            (
                await session.execute(
                    select(col(User.id))
                    .where(col(User.role) == Role.ADMIN.value, col(User.active))
                    .order_by(col(User.id))
                )
            ).scalars()
        )
        found = {b: users or [a for a in admins if a is not None] for b, users in found.items()}
    return found


def request_facts(row: Mapping[str, Any], label: str) -> dict[str, Any]:
    """What a notice about a request says: its title, room, times, id and series."""
    return {
        "booking_id": str(row["id"]),
        "series_id": None if row.get("series_id") is None else str(row["series_id"]),
        "title": row["title"],
        "room": label,
        "start": row["start"].isoformat(),
        "end": row["end"].isoformat(),
    }


async def tell_approvers(
    session: AsyncSession,
    requests: Sequence[tuple[Mapping[str, Any], RoomFacts]],
    *,
    occasion: str = "made",
) -> None:
    """Tell the approvers of each request's building that it waits (``requests`` are the
    pending rows made, with their rooms): once per booking, or once per series with the
    number of its occurrences waiting; a private request's title is left out, as approvers
    may not see it. ``occasion`` tells apart a series' requests made
    and its occurrences moved into waiting again later."""
    waiting = [(row, room) for row, room in requests if row["status"] == "pending"]
    if not waiting:
        return
    approvers = await approvers_of(session, (room.building_id for _, room in waiting))
    grouped: dict[str, list[tuple[Mapping[str, Any], RoomFacts]]] = {}
    for row, room in waiting:
        series_id = row.get("series_id")
        key = (
            f"series:{series_id}:{occasion}"
            if series_id is not None and len(waiting) > 1
            else f"booking:{row['id']}:v{row['version']}"
        )
        grouped.setdefault(key, []).append((row, room))
    owners = await _names(session, {row["owner_id"] for row, _ in waiting})
    for key, rows in grouped.items():
        first, room = min(rows, key=lambda pair: pair[0]["start"])
        data = {
            **request_facts(first, room.label),
            "title": None if first.get("private") else first["title"],
            "by": owners.get(first["owner_id"], "someone"),
            "occurrences": len(rows),
        }
        for user_id in approvers.get(room.building_id, []):
            await notify(
                session,
                user_id=user_id,
                kind=NoticeKind.APPROVAL_REQUESTED,
                key=key,
                data=data,
                booking_id=first["id"],
            )


async def _names(session: AsyncSession, user_ids: Iterable[int]) -> dict[int, str]:
    wanted = sorted(set(user_ids))
    rows = await session.execute(
        select(col(User.id), col(User.full_name), col(User.username)).where(
            col(User.id).in_(wanted)
        )
    )
    return {user_id: full or name for user_id, full, name in rows if user_id is not None}


async def tell_requester(
    session: AsyncSession,
    kind: NoticeKind,
    decided: Sequence[Booking],
    labels: Mapping[int, str],
    *,
    reason: str = "",
    by: str = "",
) -> None:
    """Tell the owners of ``decided`` bookings of ``kind`` (approved, rejected, expired): once
    per booking, or once per series for occurrences decided together."""
    grouped: dict[tuple[int, str], list[Booking]] = {}
    for booking in decided:
        key = (
            f"series:{booking.series_id}:{booking.decided_at}"
            if booking.series_id is not None and len(decided) > 1
            else f"booking:{booking.id}:v{booking.version}"
        )
        grouped.setdefault((booking.owner_id, key), []).append(booking)
    for (owner_id, key), bookings in grouped.items():
        first = min(bookings, key=lambda booking: booking.start)
        data = {
            **request_facts(first.model_dump(), labels.get(first.room_id, "the room")),
            "occurrences": len(bookings),
            "reason": reason,
            "by": by,
        }
        await notify(
            session,
            user_id=owner_id,
            kind=kind,
            key=key,
            data=data,
            booking_id=first.id,
        )
