"""What the quota rules need, gathered for the judge (``sync.quotas``): the quota in force for
a booking's owner, their bookings that hold a room, and the terms; every booking path asks
``quota_problems`` before it writes, after the store gave the owner their turn."""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Sequence
from datetime import datetime
from typing import Protocol

from sqlalchemy import bindparam, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from compax_server.models import Booking, Quota, Term
from compax_server.store import store_for
from sync import quotas
from sync.errors import RuleBroken
from sync.judge import Campus
from sync.quota_schemas import LIMIT_NAMES, QuotaLimits
from sync.rules import Interval
from sync.vocabulary import HOLDING


class Owner(Protocol):
    """Whoever owns a booking: a user row, or what the batch reads of one."""

    @property
    def id(self) -> int | None: ...

    @property
    def role(self) -> str: ...


def limits_of(row: Quota) -> QuotaLimits:
    """The limits a ``quotas`` row sets."""
    return QuotaLimits.model_validate({name: getattr(row, name) for name in LIMIT_NAMES})


async def quota_of(session: AsyncSession, owner: Owner) -> quotas.Quota | None:
    """The quota in force for ``owner``: their own row, else their role's, else none."""
    rows = (
        await session.execute(
            select(Quota).where((col(Quota.user_id) == owner.id) | (col(Quota.role) == owner.role))
        )
    ).scalars()
    own = of_role = None
    for row in rows:
        if row.user_id is not None:
            own = limits_of(row)
        else:
            of_role = limits_of(row)
    return quotas.Quota.of(own, of_role, str(owner.role))


#: The quotas of the users ``:ids`` and of the roles ``:roles``, built once.
_QUOTAS_OF = select(col(Quota.user_id), col(Quota.role)).where(
    col(Quota.user_id).in_(bindparam("ids", expanding=True))
    | col(Quota.role).in_(bindparam("roles", expanding=True))
)


async def owners_with_quotas(session: AsyncSession, owners: Iterable[Owner]) -> set[int]:
    """Which of ``owners`` (by id) have a quota in force, in one statement."""
    owners = list(owners)
    if not owners:
        return set()
    ids = sorted({int(owner.id) for owner in owners if owner.id is not None})
    roles = sorted({str(owner.role) for owner in owners})
    found = (await session.execute(_QUOTAS_OF, {"ids": ids, "roles": roles})).all()
    users = {user_id for user_id, _ in found if user_id is not None}
    limited_roles = {role for _, role in found if role is not None}
    return {
        int(owner.id)
        for owner in owners
        if owner.id is not None and (owner.id in users or str(owner.role) in limited_roles)
    }


async def terms_of(session: AsyncSession) -> list[quotas.TermDays]:
    """Every term's name and days."""
    rows = await session.execute(
        select(col(Term.name), col(Term.first_day), col(Term.last_day)).order_by(
            col(Term.first_day)
        )
    )
    return [quotas.TermDays(name, first, last) for name, first, last in rows]


async def held_by(
    session: AsyncSession, owner_id: int, since: datetime, moving: Sequence[uuid.UUID] = ()
) -> list[Interval]:
    """The slots of ``owner_id``'s bookings that hold a room and end after ``since``, without
    those being moved."""
    statement = select(col(Booking.start), col(Booking.end)).where(
        col(Booking.owner_id) == owner_id,
        col(Booking.status).in_([status.value for status in HOLDING]),
        col(Booking.end) > since,
    )
    if moving:
        statement = statement.where(col(Booking.id).not_in(list(moving)))
    return [(start, end) for start, end in await session.execute(statement)]


async def quota_problems(
    session: AsyncSession,
    owner: Owner,
    wanted: Sequence[Interval],
    campus: Campus,
    *,
    moving: Sequence[uuid.UUID] = (),
    rooms: Iterable[int] = (),
) -> list[RuleBroken]:
    """The quota problems of booking ``wanted`` (in ``rooms``) for ``owner`` (``moving``:
    their bookings being given these new times); when a quota is in force the owner's turn is
    taken first (after the rooms, if this transaction took none yet), so that two writers
    never both pass a limit that allows only one of them."""
    quota = await quota_of(session, owner)
    if quota is None or not quota.limits.limits_anything() or not wanted or owner.id is None:
        return []
    store = store_for(session)
    if not store.has_taken(session):
        await store.take_rooms(session, rooms)
    await store.take_owners(session, [int(owner.id)])
    terms = await terms_of(session)
    since, _ = quotas.window(wanted, campus.zone, campus.now, terms)
    mine = await held_by(session, int(owner.id), since, moving)
    return quotas.problems(quota, mine, wanted, zone=campus.zone, now=campus.now, terms=terms)
