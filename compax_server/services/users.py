"""Users, sign-in and token revocation."""

from __future__ import annotations

import asyncio
from collections.abc import Iterable, Sequence

from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from compax_server.db import Database
from compax_server.models import User
from compax_server.security import IssuedToken, Passwords, Tokens
from compax_server.services.access import managed_buildings
from compax_server.services.common import (
    LOCK_ADMINS,
    apply_changes,
    check_version,
    fields_of,
    get_or_404,
    is_unique_violation,
    keyset_page,
    refuse_nulls,
    serialise_on,
    utcnow,
)
from compax_server.services.managers import drop_grants, manages_by_user
from sync.errors import Duplicate, Forbidden, InUse, ValidationFailed
from sync.permissions import Role
from sync.schemas import (
    MeUpdate,
    Page,
    UserCreate,
    UserPublic,
    UserQuery,
    UserUpdate,
)
from sync.vocabulary import AuthSource, BulkStatus

#: Changes after which every token the user holds must stop working.
_REVOKING_FIELDS = frozenset({"role", "active"})


def user_public(user: User, manages: Iterable[int] = ()) -> UserPublic:
    """The user as the API answers it, with the buildings they manage."""
    public = UserPublic.model_validate(user, from_attributes=True)
    public.manages = sorted(manages)
    return public


async def user_public_of(session: AsyncSession, user: User) -> UserPublic:
    """The user's public record, their managed buildings read now."""
    assert user.id is not None
    return user_public(user, await managed_buildings(session, user.id))


async def list_users(session: AsyncSession, query: UserQuery) -> Page[UserPublic]:
    statement = select(User)
    if query.username:
        statement = statement.where(col(User.username) == query.username.strip().lower())
    if query.role:
        statement = statement.where(col(User.role) == query.role)
    if query.department:
        statement = statement.where(col(User.department) == query.department)
    if query.active is not None:
        statement = statement.where(col(User.active) == query.active)
    rows, cursor = await keyset_page(session, statement, col(User.id), query.limit, query.cursor)
    manages = await manages_by_user(session, [row[0].id for row in rows])
    return Page(
        items=[user_public(row[0], manages.get(row[0].id, ())) for row in rows],
        next_cursor=cursor,
    )


async def user_by_username(session: AsyncSession, username: str) -> User | None:
    statement = select(User).where(col(User.username) == username.strip().lower())
    return (await session.execute(statement)).scalar_one_or_none()


async def create_user(session: AsyncSession, data: UserCreate, password_hash: str) -> User:
    message = f"The username {data.username} is taken"
    if await user_by_username(session, data.username):
        raise Duplicate(message, field="username")
    now = utcnow()
    user = User(
        **fields_of(data, exclude=["password"]),
        password_hash=password_hash,
        created_at=now,
        updated_at=now,
    )
    session.add(user)
    try:
        await session.flush()
    except IntegrityError as exc:
        if is_unique_violation(exc):
            raise Duplicate(message, field="username") from None
        raise
    return user


async def update_user(
    session: AsyncSession, user_id: int, data: UserUpdate | MeUpdate, expected_version: int
) -> User:
    user = await get_or_404(session, User, user_id, "user", for_update=True)
    check_version(user, expected_version, user_public(user))
    await change_user(session, user, fields_of(data, only_set=True))
    return user


async def change_user(session: AsyncSession, user: User, changes: dict[str, object]) -> bool:
    """Apply ``changes``; a role change revokes the user's tokens, deactivation also their
    calendar feed URLs."""
    refuse_nulls(user, changes)
    deactivated = user.active and changes.get("active", True) is False
    if user.role == Role.ADMIN and user.active:
        demoted = changes.get("role", Role.ADMIN) != Role.ADMIN
        if (demoted or deactivated) and await active_admins(session) <= 1:
            raise InUse("This is the last active admin; make another admin first")
    revoke = any(k in changes and changes[k] != getattr(user, k) for k in _REVOKING_FIELDS)
    changed = apply_changes(user, changes)
    if deactivated:
        revoke_everything(user)
        assert user.id is not None
        await drop_grants(session, user.id)
    elif revoke:
        user.token_generation += 1
    return changed


async def active_admins(session: AsyncSession) -> int:
    """The number of active admins, counted under a lock that serialises admin removals.

    Without it two transactions could each demote one of the last two admins, each seeing
    the other still active. On Postgres a transaction-scoped advisory lock makes the second
    wait for the first to commit and then count again; SQLite writers are already serial.
    """
    await serialise_on(session, LOCK_ADMINS)
    statement = select(func.count()).where(col(User.role) == Role.ADMIN, col(User.active).is_(True))
    return int(await session.scalar(statement) or 0)


async def set_password(session: AsyncSession, user_id: int, password_hash: str) -> User:
    """Replace the password and revoke every token and calendar feed URL the user holds; 403
    for a user whose password the campus directory keeps."""
    user = await get_or_404(session, User, user_id, "user", for_update=True)
    refuse_directory_password(user)
    user.password_hash = password_hash
    revoke_everything(user)
    apply_changes(user, {"updated_at": utcnow()})
    return user


def refuse_directory_password(user: User) -> None:
    """403 in words if ``user``'s password is kept by the campus directory, not by Compax."""
    if user.auth_source != AuthSource.LOCAL:
        raise Forbidden(
            f"The password of {user.username} is kept by the campus directory "
            f"({user.auth_source}); it is changed there, not in Compax"
        )


async def revoke_tokens(session: AsyncSession, user_id: int) -> None:
    """Sign the user out everywhere: every token and calendar feed URL they hold stops working."""
    user = await get_or_404(session, User, user_id, "user", for_update=True)
    revoke_everything(user)


def revoke_everything(user: User) -> None:
    """Bump both generations: access tokens and calendar feed URLs issued before stop working."""
    user.token_generation += 1
    user.calendar_generation += 1


async def users_by_username(session: AsyncSession, usernames: Sequence[str]) -> dict[str, User]:
    rows = await session.execute(select(User).where(col(User.username).in_(set(usernames))))
    return {u.username: u for u in rows.scalars()}


async def hash_new_passwords(
    db: Database, passwords: Passwords, rows: Sequence[UserCreate]
) -> dict[str, str]:
    """Hashes for the rows whose username does not exist yet, computed before any write lock."""
    async with db.read() as session:
        existing = await users_by_username(session, [row.username for row in rows])
    new = {row.username: row.password for row in rows if row.username not in existing}
    hashes = await asyncio.gather(*(passwords.hash(pw) for pw in new.values()))
    return dict(zip(new, hashes, strict=True))


async def upsert_user(
    session: AsyncSession, data: UserCreate, existing: User | None, hashes: dict[str, str]
) -> tuple[BulkStatus, User]:
    """Create, or update the profile of, one imported user; passwords of existing users stay."""
    if existing is None:
        if data.username not in hashes:
            raise ValidationFailed.single("username", "was created by someone else meanwhile")
        return BulkStatus.CREATED, await create_user(session, data, hashes[data.username])
    changed = await change_user(
        session, existing, fields_of(data, only_set=True, exclude=["username", "password"])
    )
    return (BulkStatus.UPDATED if changed else BulkStatus.UNCHANGED), existing


def access_token(tokens: Tokens, user: User) -> IssuedToken:
    """A new access token for ``user``: their id, token generation and role."""
    assert user.id is not None
    return tokens.issue(user.id, user.token_generation, Role(user.role))


async def bump_calendar_generation(session: AsyncSession, user_id: int) -> User:
    """Revoke every calendar feed URL of the user; a new one uses the new generation."""
    user = await get_or_404(session, User, user_id, "user", for_update=True)
    user.calendar_generation += 1
    return user
