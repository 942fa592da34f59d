"""The change log: one entry per replicated row written, numbered so that no pull misses one.

Recording is done by session events, not by each service: ``after_flush`` notes which
replicated rows a flush wrote (code that writes with Core statements names its rows with
``note_written``), and ``before_commit`` stores one entry per row, replacing the row's older
entry, as the last statement before COMMIT. On Postgres the hot insert of bookings stores its
rows' entries in the same statement instead (``logging_inserts``).

Numbering differs by database, and docs/sync.md explains why both can be trusted:

* SQLite: writers are serialized by ``BEGIN IMMEDIATE`` already, so each numbers its own
  entries from ``change_counter`` just before it commits.
* Postgres: writers store their entries with ``seq`` NULL and take no shared lock, so their
  commits (and fsyncs) overlap. ``number_changes`` numbers the entries of committed writers
  afterwards, one numbering transaction at a time; a pull runs it before it reads, so it sees
  every change committed before it began.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from sqlalchemy import Text, bindparam, cast, event, literal, null, select, text, update
from sqlalchemy.dialects.postgresql import insert as postgres_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import Session, SessionTransaction, UOWTransaction
from sqlmodel import SQLModel, col

from compax_server.models import (
    Blackout,
    Booking,
    Building,
    Change,
    Room,
    Series,
    Term,
    User,
    WaitlistEntry,
)
from compax_server.services.common import (
    LOCK_CHANGE_LOG,
    serialise_on,
    try_serialise_on,
    utcnow,
)
from compax_server.services.core_sql import arrays, unnested

#: Replicated table models and the table name clients know them by.
REPLICATED: dict[type[Any], str] = {
    Building: "buildings",
    Room: "rooms",
    Term: "terms",
    User: "users",
    Series: "series",
    Blackout: "blackouts",
    Booking: "bookings",
    WaitlistEntry: "waitlist_entries",
}
_PENDING = "compax_changes"

#: Numbers the waiting entries of committed writers after the counter, in the order they were
#: made, and moves the counter to the last number. Rows that a writer has locked (it is
#: rewriting them) are skipped, so this never waits for a writer; they get a number next time.
_NUMBER_WAITING = text("""
    WITH waiting AS (
        SELECT table_name, row_key, changed_at FROM changes
        WHERE seq IS NULL
        FOR UPDATE SKIP LOCKED
    ), numbered AS (
        SELECT table_name, row_key,
               row_number() OVER (ORDER BY changed_at, table_name, row_key) AS n
        FROM waiting
    ), done AS (
        UPDATE changes SET seq = counter.value + numbered.n
        FROM numbered, (SELECT value FROM change_counter WHERE id = 1) AS counter
        WHERE changes.table_name = numbered.table_name AND changes.row_key = numbered.row_key
        RETURNING changes.seq
    )
    UPDATE change_counter SET value = (SELECT max(seq) FROM done)
    WHERE id = 1 AND EXISTS (SELECT 1 FROM done)
    RETURNING (SELECT count(*) FROM done)
""")


class RecordingSession(Session):
    """The session class of every Compax write session: it keeps the change log."""


def note_written(session: Session | AsyncSession, table: str, keys: Iterable[object]) -> None:
    """Record rows of ``table`` written by a Core statement, which the flush events cannot see."""
    pending: dict[tuple[str, str], str] = session.info.setdefault(_PENDING, {})
    for key in keys:
        pending[(table, str(key))] = "put"


@event.listens_for(RecordingSession, "after_flush")
def _note_flushed_rows(session: Session, _flush: UOWTransaction) -> None:
    pending: dict[tuple[str, str], str] = session.info.setdefault(_PENDING, {})
    for obj in session.new | session.dirty:
        table = REPLICATED.get(type(obj))
        if table and (obj in session.new or session.is_modified(obj, include_collections=False)):
            pending[(table, str(obj.id))] = "put"
    for obj in session.deleted:
        table = REPLICATED.get(type(obj))
        if table:
            pending[(table, str(obj.id))] = "delete"


def _upsert(statement: Any) -> Any:
    """``statement``, an ``INSERT`` of change-log entries, replacing the row's older entry."""
    replaced = statement.excluded
    return statement.on_conflict_do_update(
        index_elements=[_CHANGES.c.table_name, _CHANGES.c.row_key],
        set_={"op": replaced.op, "changed_at": replaced.changed_at, "seq": replaced.seq},
    )


_CHANGES = SQLModel.metadata.tables["changes"]
_COUNTER = SQLModel.metadata.tables["change_counter"]
_ENTRY_COLUMNS = ["table_name", "row_key", "op", "changed_at", "seq"]
#: Storing entries, built once per dialect (statement construction is not free); on Postgres
#: from one array parameter per column, so that any number of entries is one statement.
_STORE = {
    "postgresql": _upsert(
        postgres_insert(_CHANGES).from_select(_ENTRY_COLUMNS, unnested(_CHANGES, _ENTRY_COLUMNS))
    ),
    "sqlite": _upsert(sqlite_insert(_CHANGES)),
}


def logging_inserts(insert: Any, table: str, also: Any = None) -> Any:
    """``insert``, a Postgres ``INSERT ... RETURNING id`` into ``table``, as one statement that
    also stores the change-log entries of the rows it inserts (stamped with the parameter
    ``changed_at``) and returns their ids: the statement and its entries in one round trip,
    where ``note_written`` would add one at commit. SQLite numbers entries as it stores them
    at commit, so there ``note_written`` is the way. ``also``, given the CTE of the inserted
    rows, makes one more CTE of the same statement (the rows' audit entries)."""
    inserted = insert.cte("inserted")
    entries = select(
        literal(table),
        cast(inserted.c.id, Text),
        literal("put"),
        bindparam("changed_at", type_=_CHANGES.c.changed_at.type),
        null(),
    )
    stored = _upsert(postgres_insert(_CHANGES).from_select(_ENTRY_COLUMNS, entries)).cte("stored")
    statement = select(inserted.c.id).add_cte(stored)
    return statement if also is None else statement.add_cte(also(inserted))


#: The last ``:count`` numbers, taken by a SQLite writer that holds the write lock.
_TAKE_NUMBERS = (
    update(_COUNTER)
    .where(_COUNTER.c.id == 1)
    .values(value=_COUNTER.c.value + bindparam("count"))
    .returning(_COUNTER.c.value)
)


@event.listens_for(RecordingSession, "before_commit")
def _store_changes(session: Session) -> None:
    if session.in_nested_transaction():
        return  # releasing a savepoint; entries are stored at the real commit only
    session.flush()
    pending: dict[tuple[str, str], str] = session.info.pop(_PENDING, {})
    if not pending:
        return
    now = utcnow()
    rows: list[dict[str, Any]] = [
        {"table_name": table, "row_key": key, "op": op, "changed_at": now, "seq": None}
        for (table, key), op in pending.items()
    ]
    dialect = session.get_bind().dialect.name
    if dialect == "sqlite":
        top = session.execute(_TAKE_NUMBERS, {"count": len(rows)}).scalar_one()
        for number, row in enumerate(rows, start=top - len(rows) + 1):
            row["seq"] = number
    session.execute(
        _STORE[dialect], arrays(rows, _ENTRY_COLUMNS) if dialect == "postgresql" else rows
    )


@event.listens_for(RecordingSession, "after_transaction_end")
def _forget_on_rollback(session: Session, transaction: SessionTransaction) -> None:
    if transaction.parent is None:
        session.info.pop(_PENDING, None)


async def any_waiting(session: AsyncSession) -> bool:
    """Whether any entry waits for a number (a cheap probe of the partial index)."""
    waiting = select(col(Change.row_key)).where(col(Change.seq).is_(None)).limit(1)
    return (await session.execute(waiting)).first() is not None


async def number_changes(session: AsyncSession, *, wait: bool = True) -> int:
    """Number the entries committed writers left waiting (Postgres); how many were numbered.

    Run it in a write session of its own and commit before reading: the numbers become
    visible all at once, and the next numbering waits for this one's commit. With ``wait``
    false, a numbering already under way elsewhere makes this one give up at once (0).
    """
    if wait:
        await serialise_on(session, LOCK_CHANGE_LOG)
    elif not await try_serialise_on(session, LOCK_CHANGE_LOG):
        return 0
    numbered = (await session.execute(_NUMBER_WAITING)).scalar()
    return int(numbered or 0)
