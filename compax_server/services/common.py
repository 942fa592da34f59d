"""Helpers every record service uses: lookups, keyset paging, versions, uniqueness."""

from __future__ import annotations

import base64
import uuid
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any, Protocol, TypeVar

from sqlalchemy import Select, text
from sqlalchemy.exc import DBAPIError, IntegrityError, OperationalError
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import Mapped

from sync.errors import FieldError, NotFound, StaleVersion, ValidationFailed
from sync.schemas import id_from_text


class Versioned(Protocol):
    @property
    def id(self) -> int | uuid.UUID | None: ...

    version: int
    updated_at: datetime


class Persisted(Protocol):
    """A row with an integer id, which it has once it was loaded or flushed."""

    @property
    def id(self) -> int | None: ...


RowT = TypeVar("RowT")
VersionedT = TypeVar("VersionedT", bound=Versioned)


#: Advisory lock scopes: one per kind of thing whose writers must take turns.
LOCK_ADMINS = 1
LOCK_ROOM = 2
LOCK_CHANGE_LOG = 3
LOCK_OWNER = 4
LOCK_QUOTAS = 5


def utcnow() -> datetime:
    return datetime.now(UTC)


def id_of(row: Persisted) -> int:
    """The id of a row read from the database or flushed to it, which always has one."""
    assert row.id is not None
    return row.id


async def get_or_404(
    session: AsyncSession,
    model: type[RowT],
    record_id: int | uuid.UUID,
    what: str,
    *,
    for_update: bool = False,
) -> RowT:
    row = await session.get(model, record_id, with_for_update=for_update)
    if row is None:
        raise NotFound(f"No {what} with id {record_id}")
    return row


def encode_cursor(last_id: int) -> str:
    return base64.urlsafe_b64encode(f"id:{last_id}".encode()).decode().rstrip("=")


def decode_cursor(cursor: str) -> int:
    """The last id of the page before, from a cursor ``encode_cursor`` made; 422 for any other."""
    try:
        # A str holding anything but ASCII is a ValueError here, as are bad base64 and UTF-8.
        text = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode()
    except ValueError:
        text = ""
    kind, _, value = text.partition(":")
    last_id = id_from_text(value) if kind == "id" else None
    if last_id is None:
        raise ValidationFailed.single("cursor", "is not a cursor this server handed out")
    return last_id


async def keyset_page(
    session: AsyncSession,
    statement: Select[Any],
    id_column: Mapped[int | None],
    limit: int,
    cursor: str | None,
) -> tuple[Sequence[Any], str | None]:
    """Rows of ``statement`` in id order after ``cursor``, and the cursor of the next page."""
    if cursor:
        statement = statement.where(id_column > decode_cursor(cursor))
    rows = (await session.execute(statement.order_by(id_column).limit(limit + 1))).all()
    if len(rows) <= limit:
        return rows, None
    rows = rows[:limit]
    last = rows[-1][0]
    return rows, encode_cursor(last.id)


def check_version(row: Versioned, expected: int, current: Any) -> None:
    """Refuse a change made against an older version; ``current`` is what the client gets back."""
    if row.version != expected:
        raise StaleVersion(
            f"You edited version {expected}, but the record is at version {row.version}",
            current=current,
        )


def refuse_nulls(row: Any, changes: dict[str, Any]) -> None:
    """A ``null`` sent for a column that cannot hold one is a 422 naming the field, not a 500.

    Update schemas make every field optional, so ``{"name": null}`` validates; the table's
    own NOT NULL columns say which fields may really be cleared.
    """
    columns = type(row).__table__.columns
    errors = [
        FieldError(name, "must not be null")
        for name, value in changes.items()
        if value is None and name in columns and not columns[name].nullable
    ]
    if errors:
        raise ValidationFailed(errors)


def apply_changes(row: Any, changes: dict[str, Any]) -> bool:
    """Set the fields that differ; bump the version if any did. Returns whether it changed."""
    refuse_nulls(row, changes)
    changed = {k: v for k, v in changes.items() if getattr(row, k) != v}
    for name, value in changed.items():
        setattr(row, name, value)
    if changed:
        row.version += 1
        row.updated_at = utcnow()
    return bool(changed)


def is_unique_violation(error: IntegrityError) -> bool:
    """Whether the database refused a duplicate key (Postgres 23505, SQLite UNIQUE)."""
    return sqlstate(error) == "23505" or "UNIQUE constraint failed" in str(error.orig)


def sqlstate(error: Exception) -> str | None:
    """The Postgres SQLSTATE behind a SQLAlchemy error, whichever driver raised it."""
    orig = getattr(error, "orig", None)
    for candidate in (orig, getattr(orig, "__cause__", None)):
        code = getattr(candidate, "sqlstate", None) or getattr(candidate, "pgcode", None)
        if code:
            return str(code)
    return None


#: Deadlock detected and serialization failure: the same request is likely to succeed again.
TRANSIENT_SQLSTATES = frozenset({"40P01", "40001"})


def database_unavailable(error: BaseException) -> bool:
    """Whether ``error`` says the database is unreachable or busy (a 503, worth retrying
    later) rather than anything about the request that met it."""
    if isinstance(error, OSError | OperationalError):
        return True
    return isinstance(error, DBAPIError) and (
        error.connection_invalidated or sqlstate(error) in TRANSIENT_SQLSTATES
    )


def fields_of(model: Any, *, exclude: Sequence[str] = (), only_set: bool = False) -> dict[str, Any]:
    """A model's fields as a shallow dict: nested models stay models, unlike ``model_dump``."""
    names = model.model_fields_set if only_set else type(model).model_fields
    return {name: getattr(model, name) for name in names if name not in exclude}


async def try_serialise_on(session: AsyncSession, scope: int, key: int = 0) -> bool:
    """``serialise_on`` without waiting: whether the lock was free (always, on SQLite)."""
    connection = await session.connection()
    if connection.dialect.name != "postgresql":
        return True
    taken = await session.execute(
        text("SELECT pg_try_advisory_xact_lock(:scope, :key)"), {"scope": scope, "key": key}
    )
    return bool(taken.scalar())


async def serialise_on(session: AsyncSession, scope: int, key: int = 0) -> None:
    """Make writers that name the same ``(scope, key)`` wait for each other until commit.

    On Postgres this is a transaction-scoped advisory lock; SQLite writers are serial already
    (``BEGIN IMMEDIATE``), so there it does nothing.
    """
    connection = await session.connection()
    if connection.dialect.name == "postgresql":
        await session.execute(
            text("SELECT pg_advisory_xact_lock(:scope, :key)"), {"scope": scope, "key": key}
        )
