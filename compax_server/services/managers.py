"""Building managers: granting and revoking, and each user's managed buildings for the
records the API answers."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence

from sqlalchemy import delete, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from compax_server import audit
from compax_server.models import Building, BuildingManager, User
from compax_server.services.common import apply_changes, get_or_404, utcnow
from sync.errors import NotFound, ValidationFailed
from sync.managing import BuildingManagerPublic
from sync.vocabulary import AuditAction

#: What the audit trail calls a grant (``record_id`` is ``building_id:user_id``).
RECORD_TYPE = "building_manager"


async def managers_of(session: AsyncSession, building_id: int) -> list[BuildingManagerPublic]:
    """The building's managers, by username; 404 if there is no such building."""
    await get_or_404(session, Building, building_id, "building")
    rows = await session.execute(
        select(BuildingManager, User)
        .join(User, col(User.id) == col(BuildingManager.user_id))
        .where(col(BuildingManager.building_id) == building_id)
        .order_by(col(User.username))
    )
    return [_public(grant, user) for grant, user in rows]


async def grant(session: AsyncSession, building_id: int, user_id: int) -> BuildingManagerPublic:
    """Make the user a manager of the building; granting again changes nothing. The user's row
    is locked (deactivation takes the same lock and drops the grants), and its version moves
    on, so that their clients learn of it with their next pull."""
    await get_or_404(session, Building, building_id, "building")
    user = await get_or_404(session, User, user_id, "user", for_update=True)
    if not user.active:
        raise ValidationFailed.single("user_id", f"user {user.username} is inactive")
    existing = await session.get(BuildingManager, (user_id, building_id))
    if existing is not None:
        return _public(existing, user)
    made = BuildingManager(user_id=user_id, building_id=building_id, created_at=utcnow())
    try:
        async with session.begin_nested():
            session.add(made)
    except IntegrityError:  # the building was deleted since it was read
        raise NotFound(f"No building with id {building_id}") from None
    apply_changes(user, {"updated_at": utcnow()})
    public = _public(made, user)
    audit.record(
        session,
        AuditAction.CREATE,
        RECORD_TYPE,
        record_id(building_id, user_id),
        after=public.model_dump(mode="json"),
        building_id=building_id,
    )
    return public


async def revoke(session: AsyncSession, building_id: int, user_id: int) -> None:
    """The user no longer manages the building; revoking what was not granted changes
    nothing."""
    await get_or_404(session, Building, building_id, "building")
    user = await get_or_404(session, User, user_id, "user", for_update=True)
    existing = await session.get(BuildingManager, (user_id, building_id))
    if existing is None:
        return
    before = _public(existing, user).model_dump(mode="json")
    await session.delete(existing)
    apply_changes(user, {"updated_at": utcnow()})
    audit.record(
        session,
        AuditAction.DELETE,
        RECORD_TYPE,
        record_id(building_id, user_id),
        before=before,
        building_id=building_id,
    )


async def drop_grants(session: AsyncSession, user_id: int) -> None:
    """Revoke every building the user manages (on deactivation), each revocation audited."""
    dropped = await session.execute(
        delete(BuildingManager)
        .where(col(BuildingManager.user_id) == user_id)
        .returning(col(BuildingManager.building_id))
    )
    await audit.record_many(
        session,
        [
            audit.entry(
                AuditAction.DELETE,
                RECORD_TYPE,
                record_id(building_id, user_id),
                before={"building_id": building_id, "user_id": user_id},
                building_id=building_id,
            )
            for building_id in dropped.scalars()
        ],
    )


async def manages_by_user(session: AsyncSession, user_ids: Sequence[int]) -> dict[int, list[int]]:
    """The buildings each user manages, ascending, in one query."""
    found: dict[int, list[int]] = defaultdict(list)
    if user_ids:
        rows = await session.execute(
            select(col(BuildingManager.user_id), col(BuildingManager.building_id))
            .where(col(BuildingManager.user_id).in_(set(user_ids)))
            .order_by(col(BuildingManager.user_id), col(BuildingManager.building_id))
        )
        for user_id, building_id in rows:
            found[user_id].append(building_id)
    return found


def record_id(building_id: int, user_id: int) -> str:
    """A grant as the audit trail names it: ``building:user``."""
    return f"{building_id}:{user_id}"


def _public(grant: BuildingManager, user: User) -> BuildingManagerPublic:
    return BuildingManagerPublic(
        building_id=grant.building_id,
        user_id=grant.user_id,
        username=user.username,
        full_name=user.full_name,
        active=user.active,
        created_at=grant.created_at,
    )
