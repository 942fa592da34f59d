"""Directory sign-in to Compax users: made on first sign-in, and each sign-in brings their
name, email, role and directory-granted buildings in line with what the directory says now."""

from __future__ import annotations

import logging
import re
from collections.abc import Iterable

from email_validator import EmailNotValidError, validate_email
from sqlalchemy import delete, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from compax_server import audit
from compax_server.directory.identity import DirectoryIdentity
from compax_server.directory.mapping import GroupMapping
from compax_server.models import Building, BuildingManager, User
from compax_server.services.common import apply_changes, utcnow
from compax_server.services.managers import RECORD_TYPE, record_id
from compax_server.services.users import active_admins, change_user, revoke_everything
from compax_server.sign_in_settings import SignInSettings
from sync.errors import Forbidden, NotAuthenticated
from sync.permissions import Role
from sync.vocabulary import AuditAction

log = logging.getLogger("compax.sign_in")

#: Where the directory's grants came from, beside ``admin`` (granted by hand).
DIRECTORY_GRANT = "directory"
_NOT_USERNAME = re.compile(r"[^a-z0-9._@-]+")


def directory_username(name: str, campus_domains: Iterable[str] = ()) -> str:
    """The Compax username for a directory's name of a person, in lower case: an address in
    one of ``campus_domains`` without its domain (``Ama.Owusu@campus.edu`` is ``ama.owusu``),
    any other address whole, so that people of other domains never share a name; characters
    Compax names do not use become ``-``."""
    text = name.strip().lower()
    local, at, domain = text.rpartition("@")
    if at and domain in campus_domains:
        text = local
    return _NOT_USERNAME.sub("-", text).strip("-._@")


async def provision(
    session: AsyncSession,
    identity: DirectoryIdentity,
    mapping: GroupMapping,
    settings: SignInSettings,
) -> User:
    """The user ``identity`` signs in as, made now if new, their record and grants following
    the directory; 403 in words when the directory gives them no way in."""
    username = directory_username(identity.username, settings.directory_domains)
    if not 2 <= len(username) <= 64:
        raise Forbidden(f"The directory name {identity.username!r} makes no Compax username")
    if username in settings.break_glass_admins:
        raise Forbidden(f"{username} is a break-glass account; it signs in with its password")
    role = mapping.role_for(identity.groups)
    if role is None:
        raise Forbidden(
            f"{username} is in no directory group that may use Compax; ask an administrator"
        )
    user = await _linked_user(session, identity, username)
    if user is None:
        user = _new_user(identity, username, role)
        session.add(user)
        await session.flush()
    else:
        await _follow_directory(session, user, identity, role)
    assert user.id is not None
    await _follow_groups(session, user.id, mapping.buildings_for(identity.groups))
    return user


async def _linked_user(
    session: AsyncSession, identity: DirectoryIdentity, username: str
) -> User | None:
    """The user linked to ``identity``, else an account made here with its username, which
    the directory takes over; locked for update. An account linked to another directory
    identity, or an admin's account made here, is never taken over."""
    linked = await session.scalar(
        select(User).where(col(User.external_id) == identity.external_id).with_for_update()
    )
    if linked is not None:
        return _active(linked)
    named = await session.scalar(
        select(User).where(col(User.username) == username).with_for_update()
    )
    if named is None:
        return None
    if named.external_id:
        source = named.external_id.partition(":")[0]
        raise Forbidden(
            f"The username {username} belongs to another {source} account; an administrator "
            "must rename the old one before this one can use it"
        )
    if named.role == Role.ADMIN:
        raise Forbidden(
            f"{username} is an admin account of this server, which no directory takes over; "
            "an administrator must rename it (or make it a break-glass admin)"
        )
    return _active(named)


def _active(user: User) -> User:
    if not user.active:
        raise NotAuthenticated(f"The account {user.username} is deactivated")
    return user


def _new_user(identity: DirectoryIdentity, username: str, role: Role) -> User:
    now = utcnow()
    return User(
        username=username,
        full_name=identity.full_name[:200],
        email=_email(identity.email),
        role=role,
        password_hash="",
        auth_source=identity.source,
        external_id=identity.external_id,
        created_at=now,
        updated_at=now,
    )


async def _follow_directory(
    session: AsyncSession, user: User, identity: DirectoryIdentity, role: Role
) -> None:
    """Bring ``user`` in line with the directory: an account made here before loses its Compax
    password and every token and feed URL it had, so only the directory lets them in; a new
    role revokes their older tokens, but the last active admin stays one."""
    if user.external_id != identity.external_id:
        revoke_everything(user)
    changes: dict[str, object] = {
        "auth_source": identity.source.value,
        "external_id": identity.external_id,
        "password_hash": "",
    }
    if identity.full_name:
        changes["full_name"] = identity.full_name[:200]
    email = _email(identity.email)
    if email:
        changes["email"] = email
    if user.role != role:
        if user.role == Role.ADMIN and await active_admins(session) <= 1:
            log.warning(
                "kept %s an admin though the directory says %s: they are the last admin",
                user.username,
                role,
            )
        else:
            changes["role"] = role.value
    if await change_user(session, user, changes):
        apply_changes(user, {"updated_at": utcnow()})


async def _follow_groups(session: AsyncSession, user_id: int, codes: set[str]) -> None:
    """The directory's grants of the user become those for ``codes``; grants an administrator
    made by hand stay as they are. Codes of no building are skipped and logged."""
    wanted: set[int] = set()
    if codes:
        found = await session.execute(
            select(col(Building.id), col(Building.code)).where(col(Building.code).in_(codes))
        )
        named = {code: building_id for building_id, code in found if building_id is not None}
        for code in sorted(codes - named.keys()):
            log.warning("COMPAX_DIRECTORY_MANAGERS names %s, which is no building", code)
        wanted = set(named.values())
    held = await session.execute(
        select(col(BuildingManager.building_id), col(BuildingManager.source)).where(
            col(BuildingManager.user_id) == user_id
        )
    )
    by_hand: set[int] = set()
    by_directory: set[int] = set()
    for building_id, source in held:
        (by_directory if source == DIRECTORY_GRANT else by_hand).add(building_id)
    gone = by_directory - wanted
    new = wanted - by_directory - by_hand
    if gone:
        await session.execute(
            delete(BuildingManager).where(
                col(BuildingManager.user_id) == user_id,
                col(BuildingManager.building_id).in_(gone),
            )
        )
    now = utcnow()
    session.add_all(
        BuildingManager(
            user_id=user_id, building_id=building_id, created_at=now, source=DIRECTORY_GRANT
        )
        for building_id in sorted(new)
    )
    if not (gone or new):
        return
    user = await session.get(User, user_id)
    assert user is not None
    apply_changes(user, {"updated_at": now})

    changed = [(AuditAction.DELETE, b) for b in sorted(gone)] + [
        (AuditAction.CREATE, b) for b in sorted(new)
    ]
    await audit.record_many(
        session,
        [
            audit.entry(
                action,
                RECORD_TYPE,
                record_id(building_id, user_id),
                before=grant if action is AuditAction.DELETE else None,
                after=grant if action is AuditAction.CREATE else None,
                building_id=building_id,
            )
            for action, building_id in changed
            for grant in [
                {"building_id": building_id, "user_id": user_id, "source": DIRECTORY_GRANT}
            ]
        ],
    )


def _email(value: str | None) -> str | None:
    """The directory's email if it is an address; anything else is left out."""
    if not value:
        return None
    try:
        return validate_email(value, check_deliverability=False).normalized
    except EmailNotValidError:
        return None
