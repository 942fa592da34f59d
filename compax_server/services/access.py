"""What a user may do where: their campus-wide role and the buildings they manage."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from compax_server.models import BuildingManager, User
from sync.permissions import Access


async def managed_buildings(session: AsyncSession, user_id: int) -> frozenset[int]:
    """The ids of the buildings ``user_id`` manages."""
    found = await session.execute(
        select(col(BuildingManager.building_id)).where(col(BuildingManager.user_id) == user_id)
    )
    return frozenset(found.scalars())


async def access_of(session: AsyncSession, user: User) -> Access:
    """What ``user`` may do where."""
    assert user.id is not None
    return Access.of(user.role, await managed_buildings(session, user.id))
