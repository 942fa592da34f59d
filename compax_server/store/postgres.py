"""The booking store on Postgres: rooms taken by advisory locks in one call of a PL/pgSQL
function that loops in the order given, and bookings inserted with their change-log entries
from one array parameter per column, skipping what the exclusion constraint refuses."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from typing import Any

from sqlalchemy import Integer, bindparam, func, select
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.dialects.postgresql import insert as postgres_insert
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import SQLModel

from compax_server.audit_trail import actor_parameters, inserted_booking_audit
from compax_server.changelog import logging_inserts
from compax_server.services.common import LOCK_OWNER, utcnow
from compax_server.services.core_sql import arrays, connection_of, unnested
from compax_server.store.base import BookingStore

_BOOKINGS = SQLModel.metadata.tables["bookings"]
_COLUMNS = list(_BOOKINGS.c.keys())
#: Each room's turn, one after another in the order given (migration 0008's function).
_TAKE_ROOMS = select(func.compax_take_rooms(bindparam("room_ids", type_=ARRAY(Integer))))
#: One owner's turn: the quota of their bookings is judged by one writer at a time.
_TAKE_OWNER = select(
    func.pg_advisory_xact_lock(
        bindparam("scope", type_=Integer), bindparam("owner_id", type_=Integer)
    )
)
#: Bookings from one array parameter per column, with their change-log entries and their audit
#: entries (``audit_trail.inserted_booking_audit``) in the same statement; a row the
#: exclusion constraint or a taken id refuses is skipped (speculative insertion: it waits for
#: an overlapping booking still being written and never deadlocks with it).
_INSERT = logging_inserts(
    postgres_insert(_BOOKINGS)
    .from_select(_COLUMNS, unnested(_BOOKINGS, _COLUMNS))
    .on_conflict_do_nothing()
    .returning(*_BOOKINGS.c),
    "bookings",
    inserted_booking_audit,
)


class PostgresStore(BookingStore):
    async def _lock(self, session: AsyncSession, room_ids: Sequence[int]) -> None:
        connection = await connection_of(session)
        await connection.execute(_TAKE_ROOMS, {"room_ids": list(room_ids)})

    async def _lock_owners(self, session: AsyncSession, owner_ids: Sequence[int]) -> None:
        connection = await connection_of(session)
        for owner_id in owner_ids:
            await connection.execute(_TAKE_OWNER, {"scope": LOCK_OWNER, "owner_id": owner_id})

    async def insert_bookings(
        self, session: AsyncSession, rows: Sequence[dict[str, Any]]
    ) -> set[uuid.UUID]:
        if not rows:
            return set()
        connection = await connection_of(session)
        given = {**arrays(rows, _COLUMNS), "changed_at": utcnow(), **actor_parameters()}
        return {booking_id for (booking_id,) in await connection.execute(_INSERT, given)}


POSTGRES = PostgresStore()
