"""Quota administration (a row per role, and per user as an exception) and what the caller may
still book; every change is audited in its own transaction."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from compax_server import audit
from compax_server.models import Quota, User
from compax_server.services.common import LOCK_QUOTAS, get_or_404, serialise_on, utcnow
from compax_server.services.policy import BookingPolicy
from compax_server.services.quota_check import held_by, quota_of, terms_of
from sync import quotas
from sync.errors import NotFound, ValidationFailed
from sync.permissions import Role
from sync.quota_schemas import LIMIT_NAMES, MyQuota, QuotaLimits, QuotaPublic
from sync.schemas import ListQuery, Page
from sync.vocabulary import AuditAction

RECORD_TYPE = "quota"


def role_named(raw: str) -> Role:
    """The role a path names; 422 naming ``role`` for any other text."""
    try:
        return Role(raw)
    except ValueError:
        known = ", ".join(role.value for role in Role)
        raise ValidationFailed.single("role", f"no role is called {raw[:40]!r} ({known})") from None


def quota_public(row: Quota, username: str | None = None) -> QuotaPublic:
    """A quota row as the API shows it."""
    return QuotaPublic.model_validate({**row.model_dump(), "username": username})


def _cursor(raw: str | None) -> int:
    if raw is None:
        return 0
    if not raw.isdigit() or len(raw) > 10:
        raise ValidationFailed.single("cursor", "is not a cursor this server handed out")
    return int(raw)


async def list_quotas(session: AsyncSession, query: ListQuery) -> Page[QuotaPublic]:
    """Every role's quota and every user's exception, by id, a page at a time."""
    statement = (
        select(Quota, col(User.username))
        .outerjoin(User, col(User.id) == col(Quota.user_id))
        .where(col(Quota.id) > _cursor(query.cursor))
        .order_by(col(Quota.id))
        .limit(query.limit + 1)
    )
    rows = (await session.execute(statement)).all()
    more = len(rows) > query.limit
    rows = rows[: query.limit]
    return Page(
        items=[quota_public(row, username) for row, username in rows],
        next_cursor=str(rows[-1][0].id) if more else None,
    )


async def _set(
    session: AsyncSession, subject: dict[str, Any], limits: QuotaLimits
) -> tuple[Quota, bool]:
    """Replace the limits of the quota of ``subject`` (a role or a user), made if missing."""
    await serialise_on(session, LOCK_QUOTAS)
    where = [col(getattr(Quota, key)) == value for key, value in subject.items()]
    row = (
        await session.execute(select(Quota).where(*where).with_for_update())
    ).scalar_one_or_none()
    now, values = utcnow(), limits.model_dump(include=set(LIMIT_NAMES))
    if row is None:
        row = Quota(**subject, **values, created_at=now, updated_at=now)
        session.add(row)
        await session.flush()
        audit.record(session, AuditAction.CREATE, RECORD_TYPE, row.id, after=audit.snapshot(row))
        return row, True
    before = audit.snapshot(row)
    for name, value in values.items():
        setattr(row, name, value)
    row.version += 1
    row.updated_at = now
    await session.flush()
    audit.record(
        session, AuditAction.UPDATE, RECORD_TYPE, row.id, before=before, after=audit.snapshot(row)
    )
    return row, False


async def _clear(session: AsyncSession, subject: dict[str, Any], what: str) -> None:
    where = [col(getattr(Quota, key)) == value for key, value in subject.items()]
    row = (
        await session.execute(select(Quota).where(*where).with_for_update())
    ).scalar_one_or_none()
    if row is None:
        raise NotFound(f"{what} has no quota")
    audit.record(session, AuditAction.DELETE, RECORD_TYPE, row.id, before=audit.snapshot(row))
    await session.delete(row)
    await session.flush()


async def set_role_quota(
    session: AsyncSession, role: Role, limits: QuotaLimits
) -> tuple[QuotaPublic, bool]:
    """Set the quota of everyone of ``role`` (whoever has no exception); whether it is new."""
    row, created = await _set(session, {"role": role.value}, limits)
    return quota_public(row), created


async def clear_role_quota(session: AsyncSession, role: Role) -> None:
    """Drop the role's quota: its users book without limits, unless they have their own."""
    await _clear(session, {"role": role.value}, f"The role {role.value}")


async def set_user_quota(
    session: AsyncSession, user_id: int, limits: QuotaLimits
) -> tuple[QuotaPublic, bool]:
    """Set the user's own quota, which replaces their role's as a whole; whether it is new."""
    user = await get_or_404(session, User, user_id, "user")
    row, created = await _set(session, {"user_id": user_id}, limits)
    return quota_public(row, user.username), created


async def clear_user_quota(session: AsyncSession, user_id: int) -> None:
    """Drop the user's own quota: their role's applies again."""
    user = await get_or_404(session, User, user_id, "user")
    await _clear(session, {"user_id": user_id}, f"The user {user.username}")


async def my_quota(session: AsyncSession, user: User, policy: BookingPolicy) -> MyQuota:
    """The caller's quota in force and each limit's use now."""
    quota = await quota_of(session, user)
    if quota is None:
        return MyQuota(source="none", role=user.role, limits=QuotaLimits())
    campus = policy.campus_now()
    terms = await terms_of(session)
    since, _ = quotas.window([(campus.now, campus.now)], campus.zone, campus.now, terms)
    mine = await held_by(session, user.id or 0, since)
    return MyQuota(
        source="user" if quota.holder == "you" else "role",
        role=user.role,
        limits=quota.limits,
        use=quotas.use(quota, mine, zone=campus.zone, now=campus.now, terms=terms),
    )
