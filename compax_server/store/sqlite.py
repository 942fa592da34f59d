"""The booking store on SQLite: writers are serial (``BEGIN IMMEDIATE``), so a room needs no
turn; bookings are inserted as rows of values, a taken id skipped, and an overlap refused by
the trigger (``IntegrityError``, undoing that statement only); the ones made are audited in
one more statement."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from typing import Any

from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import SQLModel

from compax_server.audit_trail import record_inserted
from compax_server.changelog import note_written
from compax_server.services.core_sql import connection_of
from compax_server.store.base import BookingStore

_BOOKINGS = SQLModel.metadata.tables["bookings"]
_INSERT = sqlite_insert(_BOOKINGS).on_conflict_do_nothing().returning(_BOOKINGS.c.id)


class SqliteStore(BookingStore):
    async def _lock(self, session: AsyncSession, room_ids: Sequence[int]) -> None:
        """Nothing to wait for: this transaction began with the database's one write lock."""

    async def _lock_owners(self, session: AsyncSession, owner_ids: Sequence[int]) -> None:
        """Nothing to wait for: this transaction began with the database's one write lock."""

    async def insert_bookings(
        self, session: AsyncSession, rows: Sequence[dict[str, Any]]
    ) -> set[uuid.UUID]:
        if not rows:
            return set()
        connection = await connection_of(session)
        inserted = {booking_id for (booking_id,) in await connection.execute(_INSERT, list(rows))}
        note_written(session, "bookings", inserted)
        await record_inserted(session, rows, inserted, "bookings")
        return inserted


SQLITE = SqliteStore()
