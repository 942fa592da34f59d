"""The change log: every committed write to a replicated table gets the next sequence number.

Recording is done by session events, not by each service: ``after_flush`` notes which
replicated rows a flush wrote, and ``before_commit`` numbers them and stores one entry per
row. The numbers come from ``UPDATE change_counter … RETURNING`` as the last statement before
COMMIT; the row lock it takes is held until the commit, so across all server processes a
higher number is always committed later, and a client that pulled up to N can never miss a
change numbered N or below. docs/sync.md explains why a plain sequence would not do.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import delete, event, insert, update
from sqlalchemy.orm import Session, SessionTransaction, UOWTransaction
from sqlmodel import col

from compax_server.models import (
    Blackout,
    Booking,
    Building,
    Change,
    ChangeCounter,
    Room,
    Series,
    Term,
    User,
)
from compax_server.services.common import utcnow

#: Replicated table models and the table name clients know them by.
REPLICATED: dict[type[Any], str] = {
    Building: "buildings",
    Room: "rooms",
    Term: "terms",
    User: "users",
    Series: "series",
    Blackout: "blackouts",
    Booking: "bookings",
}
_PENDING = "compax_changes"


class RecordingSession(Session):
    """The session class of every Compax database session: it keeps the change log."""


@event.listens_for(RecordingSession, "after_flush")
def _note_written_rows(session: Session, _flush: UOWTransaction) -> None:
    pending: dict[tuple[str, str], str] = session.info.setdefault(_PENDING, {})
    for obj in session.new | session.dirty:
        table = REPLICATED.get(type(obj))
        if table and (obj in session.new or session.is_modified(obj, include_collections=False)):
            pending[(table, str(obj.id))] = "put"
    for obj in session.deleted:
        table = REPLICATED.get(type(obj))
        if table:
            pending[(table, str(obj.id))] = "delete"


@event.listens_for(RecordingSession, "before_commit")
def _number_changes(session: Session) -> None:
    if session.in_nested_transaction():
        return  # releasing a savepoint; the numbers are taken at the real commit only
    session.flush()
    pending: dict[tuple[str, str], str] = session.info.pop(_PENDING, {})
    if not pending:
        return
    for table in {table for table, _ in pending}:
        keys = [key for name, key in pending if name == table]
        session.execute(
            delete(Change).where(col(Change.table_name) == table, col(Change.row_key).in_(keys))
        )
    top = session.execute(
        update(ChangeCounter)
        .where(col(ChangeCounter.id) == 1)
        .values(value=col(ChangeCounter.value) + len(pending))
        .returning(col(ChangeCounter.value))
    ).scalar_one()
    now = utcnow()
    first = top - len(pending) + 1
    session.execute(
        insert(Change),
        [
            {"seq": first + i, "table_name": table, "row_key": key, "op": op, "changed_at": now}
            for i, ((table, key), op) in enumerate(pending.items())
        ],
    )


@event.listens_for(RecordingSession, "after_transaction_end")
def _forget_on_rollback(session: Session, transaction: SessionTransaction) -> None:
    if transaction.parent is None:
        session.info.pop(_PENDING, None)
