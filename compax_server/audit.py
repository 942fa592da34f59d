"""The audit trail's writer: who changed which record, when, from which client, and its fields
before and after, added to the transaction that makes the change so that both commit or
neither does.

Who is acting is set once per request (``acting``, by the API's dispatcher and the sync push)
and read here, so that the services that change records need no extra parameter for it; a job
acts as nobody, from the ``job`` client.
"""

from __future__ import annotations

import enum
import re
import uuid
from collections.abc import Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass
from datetime import date, datetime, time
from typing import Any

from sqlalchemy import insert
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import SQLModel

from compax_server.models import AuditEntry
from compax_server.services.common import utcnow
from sync.vocabulary import AuditAction

#: Fields never written into the trail: secrets, and counters that say nothing to a reader.
HIDDEN_FIELDS = frozenset({"password_hash", "token_generation", "calendar_generation"})
#: How a client names itself (``X-Compax-Client``): letters, digits and ``-``, short.
_CLIENT = re.compile(r"^[a-z][a-z0-9-]{0,15}$")
_AUDIT = SQLModel.metadata.tables["audit_entries"]


@dataclass(frozen=True)
class Actor:
    """Who is making the changes of this request or job, and through which client."""

    user_id: int | None
    client: str


#: The client of changes a background job makes (no-show releases, waitlist offers, expiries).
JOB_CLIENT = "job"
_NOBODY = Actor(None, "system")
_ACTOR: ContextVar[Actor] = ContextVar("compax_audit_actor", default=_NOBODY)


@contextmanager
def acting(user_id: int | None, client: str) -> Iterator[Actor]:
    """Record the changes made inside as made by ``user_id`` through ``client``."""
    actor = Actor(user_id, client)
    token = _ACTOR.set(actor)
    try:
        yield actor
    finally:
        _ACTOR.reset(token)


def current_actor() -> Actor:
    """Who the changes being made now are recorded as made by."""
    return _ACTOR.get()


def client_name(header: str | None, default: str = "api") -> str:
    """The client a request names in ``X-Compax-Client`` (``cli``, ``tui``, ``web``, …), or
    ``default`` when it names none or something unreadable."""
    if header is None:
        return default
    name = header.strip().lower()
    return name if _CLIENT.match(name) else default


def sync_client(client: str) -> str:
    """The client a pushed change is recorded from: ``sync:`` and the client that pushed it, so
    that the trail tells an offline change from one made online."""
    return f"sync:{client}"[:16]


def json_safe(value: Any) -> Any:
    """``value`` as JSON can carry it: instants and dates as ISO text, ids as text."""
    if isinstance(value, datetime | date | time):
        return value.isoformat()
    if isinstance(value, uuid.UUID):
        return str(value)
    if isinstance(value, enum.Enum):
        return value.value
    if isinstance(value, Mapping):
        return {str(k): json_safe(v) for k, v in value.items()}
    if isinstance(value, list | tuple | set | frozenset):
        return [json_safe(v) for v in value]
    if hasattr(value, "model_dump"):
        return value.model_dump(mode="json")
    return value


def snapshot(row: Any) -> dict[str, Any]:
    """The fields of a table row (a model or a mapping) as the trail keeps them."""
    if isinstance(row, Mapping):
        fields = dict(row)
    else:
        fields = {c.key: getattr(row, c.key) for c in row.__table__.columns}
    return {k: json_safe(v) for k, v in fields.items() if k not in HIDDEN_FIELDS}


def changed_fields(
    before: Mapping[str, Any], after: Mapping[str, Any]
) -> tuple[dict[str, Any], dict[str, Any]]:
    """Of two snapshots, only the fields that differ, before and after."""
    keys = [k for k in after if before.get(k) != after.get(k)]
    return {k: before.get(k) for k in keys}, {k: after[k] for k in keys}


def entry(
    action: AuditAction | str,
    record_type: str,
    record_id: object,
    *,
    before: Mapping[str, Any] | None = None,
    after: Mapping[str, Any] | None = None,
    building_id: int | None = None,
    reason: str = "",
) -> dict[str, Any]:
    """One audit entry as a row, made by the current actor now."""
    actor = current_actor()
    return {
        "at": utcnow(),
        "actor_id": actor.user_id,
        "client": actor.client,
        "action": str(action),
        "record_type": record_type,
        "record_id": str(record_id),
        "building_id": building_id,
        "before": None if before is None else json_safe(before),
        "after": None if after is None else json_safe(after),
        "reason": reason[:500],
    }


def record(
    session: AsyncSession,
    action: AuditAction | str,
    record_type: str,
    record_id: object,
    *,
    before: Mapping[str, Any] | None = None,
    after: Mapping[str, Any] | None = None,
    building_id: int | None = None,
    reason: str = "",
) -> None:
    """Add one audit entry to ``session``'s transaction."""
    session.add(
        AuditEntry(
            **entry(
                action,
                record_type,
                record_id,
                before=before,
                after=after,
                building_id=building_id,
                reason=reason,
            )
        )
    )


def record_import(
    session: AsyncSession, record_type: str, results: Iterable[Any], record_id: object = ""
) -> None:
    """Add the one ``import`` entry of an import of ``record_type`` rows: how many rows ended in
    each status (``results``, each with a ``status``), beside the entries of the rows it wrote."""
    counts: dict[str, int] = {}
    for result in results:
        status = str(json_safe(result.status))
        counts[status] = counts.get(status, 0) + 1
    counts["rows"] = sum(counts.values())
    record(session, AuditAction.IMPORT, record_type, record_id, after=counts)


async def record_many(session: AsyncSession, entries: Sequence[Mapping[str, Any]]) -> None:
    """Insert many audit entries (made by ``entry``) in one statement of ``session``'s
    transaction: how bulk writes keep their trail cheap."""
    if entries:
        await session.execute(insert(_AUDIT), list(entries))
