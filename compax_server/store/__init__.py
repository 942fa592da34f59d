"""The booking store: how booking writes reach the database, one implementation per database.

Every transaction that writes bookings takes every room it will touch once, in ascending id,
before it changes anything, and every later write checks that its room was taken
(``base.BookingStore``); ``writing`` starts a transaction again when a booking moved to a
room it did not take. How a room is taken and how bookings are inserted and read around
wanted slots is each database's own business (``postgres``, ``sqlite``, ``around``).
"""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncSession

from compax_server.store.base import BookingStore, RoomsNotTaken, writing
from compax_server.store.postgres import POSTGRES
from compax_server.store.sqlite import SQLITE

__all__ = ["BookingStore", "RoomsNotTaken", "store_for", "writing"]


def store_for(session: AsyncSession) -> BookingStore:
    """The store of the database ``session`` talks to."""
    return POSTGRES if session.get_bind().dialect.name == "postgresql" else SQLITE
