"""Group commit for single bookings: the ``POST /api/v1/bookings`` requests that arrive while a
server process's booking transactions are busy are booked together, in the next one.

A booking alone costs a transaction of its own: ``BEGIN``, the checks, the insert, the
change-log entry and ``COMMIT`` (with its fsync), each a round trip to the database. Under load
most of a server's time went there. The writer keeps one transaction in flight per process;
requests that come in while it is busy wait in arrival order and all go into the next one
(``grouping.Grouped``), through the batch core (``booking_batch.book_each``), which answers
each exactly as if it had been made alone: the same checks, the same problems and
alternatives, bookings earlier in the group counting as taken for those after them. A request
that finds a transaction free is booked at once, alone, in the fewest statements
(``bookings.create_booking``).

The route reads no user before it comes here (``reads_caller``): each transaction reads the
users its requests' tokens speak for, in one statement, and refuses a request whose token no
longer stands (the user is gone, deactivated, or revoked their tokens, which a role change
does) exactly as the token check of other routes would. That read is also the latest one: a
request may wait for its group, and must not act for a user who has lost the right meanwhile.
A request is answered only once its group has committed. If the database is unreachable or
busy, every request of the group is answered so (a 503) at once; if the group's transaction
fails for any other reason, each of its requests is tried again alone, so that one request's
failure is never another's.
"""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy.ext.asyncio import AsyncSession

from compax_server.auth import current_user, read_users
from compax_server.db import Database
from compax_server.grouping import Grouped
from compax_server.models import User
from compax_server.security import TokenClaims
from compax_server.services.booking_batch import Created, book_each
from compax_server.services.bookings import create_booking
from compax_server.services.common import database_unavailable
from compax_server.services.core_sql import connection_of
from compax_server.services.policy import BookingPolicy
from sync.errors import NotAuthenticated
from sync.schemas import BookingCreate, BookingPublic

#: The most requests one transaction books.
LARGEST_GROUP = 200
#: Passes of the event loop after a group, for the requests already received to join the next
#: (``grouping.Grouped``); a group's transaction costs far more than these.
PASSES_BETWEEN_GROUPS = 8

#: A request: the claims of its caller's token, and the booking asked for.
Request = tuple[TokenClaims, BookingCreate]


class BookingWriter:
    """Books the single requests of one process in shared transactions, one at a time."""

    def __init__(self, db: Database, policy: BookingPolicy) -> None:
        self.db = db
        self.policy = policy
        self._groups = Grouped(self._write, largest=LARGEST_GROUP, passes=PASSES_BETWEEN_GROUPS)

    async def book(self, caller: TokenClaims, data: BookingCreate) -> BookingPublic:
        """Book ``data`` for the user ``caller``'s token speaks for, as
        ``bookings.create_booking`` would, or raise why not (401 if the token does not stand)."""
        return await self._groups((caller, data))

    async def close(self) -> None:
        """Finish the requests already taken; called when the server stops."""
        await self._groups.close()

    async def _write(self, group: Sequence[Request]) -> list[BookingPublic | BaseException]:
        """Book ``group`` in one transaction; if that fails, each request in its own."""
        if len(group) == 1:
            return [await self._write_alone(group[0])]
        try:
            async with self.db.write() as session:
                callers = await _callers(session, [caller for caller, _ in group])
                booked = [
                    (user, data)
                    for user, (_, data) in zip(callers, group, strict=True)
                    if isinstance(user, User)
                ]
                outcomes = iter(await book_each(session, booked, self.policy, views=True))
        except Exception as error:
            if database_unavailable(error):  # each alone would only wait for it in turn
                return [error] * len(group)
            return [await self._write_alone(request) for request in group]
        return [_answer(next(outcomes)) if isinstance(user, User) else user for user in callers]

    async def _write_alone(self, request: Request) -> BookingPublic | BaseException:
        """Book one request in its own transaction, in the fewest statements."""
        caller, data = request
        try:
            async with self.db.write() as session:
                [user] = await _callers(session, [caller])
                if not isinstance(user, User):
                    return user
                return await create_booking(session, user, data, self.policy)
        except Exception as error:
            return error


async def _callers(
    session: AsyncSession, callers: Sequence[TokenClaims]
) -> list[User | NotAuthenticated]:
    """The users the requests' tokens speak for, read in the booking's transaction (one
    statement for the group), or why a token no longer stands: the user is gone, deactivated,
    or has revoked their tokens (signed out everywhere, changed password or role)."""
    users = await read_users(await connection_of(session), (caller.user_id for caller in callers))
    answers: list[User | NotAuthenticated] = []
    for caller in callers:
        try:
            answers.append(current_user(users.get(caller.user_id), caller))
        except NotAuthenticated as refused:
            answers.append(refused)
    return answers


def _answer(outcome: Created | BaseException) -> BookingPublic | BaseException:
    """What the caller of a booking made in a group gets: its view, or why it was refused."""
    if isinstance(outcome, Created):
        assert outcome.view is not None
        return outcome.view
    return outcome
