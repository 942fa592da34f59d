"""Group commit for single bookings: the ``POST /api/v1/bookings`` requests that arrive while a
server process's booking transactions are busy are booked together, in the next one.

A booking alone costs a transaction of its own: ``BEGIN``, the checks, the insert, the
change-log entry and ``COMMIT`` (with its fsync), each a round trip to the database. Under load
most of a server's time went there. The writer keeps one transaction in flight per process;
requests that come in while it is busy wait in arrival order and all go into the next one
(``grouping.Grouped``), through
the batch core (``booking_batch.book_each``), which answers each exactly as if it had been
made alone: the same checks, the same problems and alternatives, bookings earlier in the
group counting as taken for those after them. A request that finds a transaction free is
booked at once, alone, in the fewest statements (``bookings.create_booking``).

A request may wait for its group, so the group's transaction first reads its users again: a
request whose user was deactivated or had their tokens revoked meanwhile (a role change
does that) is refused as the token check would refuse it now. A request is answered only
once its group has committed. If the database is unreachable or
busy, every request of the group is answered so (a 503) at once; if the group's transaction
fails for any other reason, each of its requests is tried again alone, so that one request's
failure is never another's.
"""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import SQLModel

from compax_server.db import Database
from compax_server.grouping import Grouped
from compax_server.models import User
from compax_server.services.booking_batch import Created, book_each
from compax_server.services.bookings import create_booking
from compax_server.services.common import database_unavailable, id_of
from compax_server.services.core_sql import connection_of, ids, one_of_ids
from compax_server.services.policy import BookingPolicy
from sync.errors import NotAuthenticated
from sync.schemas import BookingCreate, BookingPublic

#: The most requests one transaction books.
LARGEST_GROUP = 200

Request = tuple[User, BookingCreate]


class BookingWriter:
    """Books the single requests of one process in shared transactions, one at a time."""

    def __init__(self, db: Database, policy: BookingPolicy) -> None:
        self.db = db
        self.policy = policy
        self._groups = Grouped(self._write, largest=LARGEST_GROUP)

    async def book(self, actor: User, data: BookingCreate) -> BookingPublic:
        """Book ``data`` for ``actor`` as ``bookings.create_booking`` would, or raise why not."""
        return await self._groups((actor, data))

    async def close(self) -> None:
        """Finish the requests already taken; called when the server stops."""
        await self._groups.close()

    async def _write(self, group: Sequence[Request]) -> list[BookingPublic | BaseException]:
        """Book ``group`` in one transaction; if that fails, each request in its own."""
        if len(group) == 1:
            return [await self._write_alone(group[0])]
        try:
            async with self.db.write() as session:
                revoked = await _revoked(session, [actor for actor, _ in group])
                kept = [(actor, data) for actor, data in group if id_of(actor) not in revoked]
                outcomes = iter(await book_each(session, kept, self.policy, views=True))
        except Exception as error:
            if database_unavailable(error):  # each alone would only wait for it in turn
                return [error] * len(group)
            return [await self._write_alone(request) for request in group]
        return [
            _token_revoked() if id_of(actor) in revoked else _answer(next(outcomes))
            for actor, _ in group
        ]

    async def _write_alone(self, request: Request) -> BookingPublic | BaseException:
        """Book one request in its own transaction, in the fewest statements."""
        actor, data = request
        try:
            async with self.db.write() as session:
                return await create_booking(session, actor, data, self.policy)
        except Exception as error:
            return error


async def _revoked(session: AsyncSession, actors: Sequence[User]) -> set[int]:
    """The users among ``actors`` whose tokens were revoked (deactivated, signed out
    everywhere, password or role changed) since their requests were authenticated: a request
    may wait for its group, and must not act on a role its user no longer has."""
    connection = await connection_of(session)
    found = await connection.execute(
        _TOKEN_STATE[connection.dialect.name],
        {"ids": ids(connection.dialect, (id_of(actor) for actor in actors))},
    )
    current = {user_id: (active, generation) for user_id, active, generation in found}
    return {
        id_of(actor)
        for actor in actors
        if current.get(id_of(actor)) != (True, actor.token_generation)
    }


_USERS = SQLModel.metadata.tables["users"]
#: Whether the users of the parameter ``ids`` may act, and on which tokens.
_TOKEN_STATE = {
    name: select(_USERS.c.id, _USERS.c.active, _USERS.c.token_generation).where(clause)
    for name, clause in one_of_ids(_USERS.c.id, "ids").items()
}


def _token_revoked() -> NotAuthenticated:
    return NotAuthenticated("The token has been revoked; sign in again")


def _answer(outcome: Created | BaseException) -> BookingPublic | BaseException:
    """What the caller of a booking made in a group gets: its view, or why it was refused."""
    if isinstance(outcome, Created):
        assert outcome.view is not None
        return outcome.view
    return outcome
