"""Reading the audit trail: newest first, by cursor, every filter on an index, and only the
part the reader may see (everything for administrators, their buildings' for managers)."""

from __future__ import annotations

import uuid
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from compax_server.models import AuditEntry, Booking, Series, User
from compax_server.services.access import access_of
from compax_server.services.booking_views import Viewer
from compax_server.services.common import decode_cursor, encode_cursor
from compax_server.services.ratings import RECORD_TYPE as RATING_RECORD
from sync.audit import AuditActor, AuditEntryPublic, AuditQuery
from sync.errors import Forbidden
from sync.permissions import Permission
from sync.schemas import Page


async def read_audit(
    session: AsyncSession, reader: User, query: AuditQuery
) -> Page[AuditEntryPublic]:
    """One page of the entries ``query`` selects among those ``reader`` may read (403 for a
    reader who may read none)."""
    buildings = (await access_of(session, reader)).buildings_for(Permission.READ_AUDIT)
    if buildings is not None and not buildings:
        raise Forbidden(f"Your role ({reader.role}) may not read the audit trail")
    statement: Any = select(AuditEntry, col(User.username)).outerjoin(
        User, col(User.id) == col(AuditEntry.actor_id)
    )
    if buildings is not None:
        # Who rated a room is for administrators alone (docs/feedback.md): a building's
        # managers read its trail without the rating entries, whose actor is the rater.
        statement = statement.where(
            col(AuditEntry.building_id).in_(sorted(buildings)),
            col(AuditEntry.record_type) != RATING_RECORD,
        )
    if query.record_type is not None:
        statement = statement.where(col(AuditEntry.record_type) == query.record_type)
    if query.record_id is not None:
        statement = statement.where(col(AuditEntry.record_id) == query.record_id)
    if query.actor is not None:
        statement = statement.where(col(AuditEntry.actor_id) == query.actor)
    if query.building is not None:
        statement = statement.where(col(AuditEntry.building_id) == query.building)
    if query.action is not None:
        statement = statement.where(col(AuditEntry.action) == query.action.value)
    if query.since is not None:
        statement = statement.where(col(AuditEntry.at) >= query.since)
    if query.until is not None:
        statement = statement.where(col(AuditEntry.at) < query.until)
    if query.cursor:
        statement = statement.where(col(AuditEntry.id) < decode_cursor(query.cursor))
    statement = statement.order_by(col(AuditEntry.id).desc()).limit(query.limit + 1)
    rows = list(await session.execute(statement))
    more = len(rows) > query.limit
    rows = rows[: query.limit]
    last = rows[-1][0].id if rows else None
    hidden = await _hidden_records(session, Viewer.of(reader), [entry for entry, _ in rows])
    return Page(
        items=[
            _public(entry, username, hide=(entry.record_type, entry.record_id) in hidden)
            for entry, username in rows
        ],
        next_cursor=encode_cursor(last) if more and last is not None else None,
    )


#: The record types whose private ones show only to their owner and the booking officers.
_PRIVATE_KINDS: dict[str, type[Booking] | type[Series]] = {"bookings": Booking, "series": Series}
#: The fields of a private booking or series its entries leave out for other readers.
_PRIVATE_FIELDS = frozenset({"title", "notes"})


async def _hidden_records(
    session: AsyncSession, viewer: Viewer, entries: list[AuditEntry]
) -> set[tuple[str, str]]:
    """The private bookings and series among ``entries`` whose title and notes ``viewer`` may
    not see (as in every other read: ``Viewer.sees_all_of``), as (record type, id)."""
    if viewer.manages_any:
        return set()
    hidden: set[tuple[str, str]] = set()
    for kind, model in _PRIVATE_KINDS.items():
        wanted = {e.record_id for e in entries if e.record_type == kind}
        ids = [uuid.UUID(record_id) for record_id in wanted if _is_uuid(record_id)]
        found = await session.execute(
            select(col(model.id), col(model.private), col(model.owner_id)).where(
                col(model.id).in_(ids)
            )
        )
        visible = {
            str(record_id)
            for record_id, private, owner_id in found
            if not private or viewer.sees_all_of(owner_id)
        }
        hidden |= {(kind, record_id) for record_id in wanted - visible}
    return hidden


def _is_uuid(text: str) -> bool:
    try:
        uuid.UUID(text)
    except ValueError:
        return False
    return True


def _without_private(fields: dict[str, Any] | None) -> dict[str, Any] | None:
    if fields is None:
        return None
    return {k: v for k, v in fields.items() if k not in _PRIVATE_FIELDS}


def _public(entry: AuditEntry, username: str | None, *, hide: bool = False) -> AuditEntryPublic:
    assert entry.id is not None
    actor = (
        AuditActor(id=entry.actor_id, username=username or "")
        if entry.actor_id is not None
        else None
    )
    return AuditEntryPublic(
        id=entry.id,
        at=entry.at,
        actor=actor,
        client=entry.client,
        action=entry.action,
        record_type=entry.record_type,
        record_id=entry.record_id,
        building_id=entry.building_id,
        before=_without_private(entry.before) if hide else entry.before,
        after=_without_private(entry.after) if hide else entry.after,
        reason=entry.reason,
    )
