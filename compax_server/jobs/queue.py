"""Jobs as rows: ``enqueue`` writes one in the caller's transaction, so the work is asked for
if and only if the change that causes it commits; ``handler`` names the function that carries
out each kind, and ``every`` makes a kind run on a schedule."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from sqlalchemy import event
from sqlalchemy.dialects.postgresql import insert as postgres_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import Session
from sqlmodel import SQLModel

from compax_server.models import Job
from compax_server.services.common import utcnow

if TYPE_CHECKING:
    from compax_server.db import Database
    from compax_server.services.policy import BookingPolicy
    from compax_server.settings import Settings

_JOBS = SQLModel.metadata.tables[Job.__tablename__]
_INSERTS = {
    "postgresql": postgres_insert(_JOBS).on_conflict_do_nothing(index_elements=["key"]),
    "sqlite": sqlite_insert(_JOBS).on_conflict_do_nothing(index_elements=["key"]),
}
#: The ``run_at`` of a job due at once: before any clock's now, the tests' clocks too.
AT_ONCE = datetime(1970, 1, 1, tzinfo=UTC)
#: The session flag that says its transaction enqueued a job (see ``_wake_after_commit``).
_ENQUEUED = "compax_jobs_enqueued"
#: Called after a commit that enqueued a job, so that a worker in this process looks at once.
WAKERS: set[Callable[[], None]] = set()


@dataclass(frozen=True)
class JobContext:
    """What a job's handler works with: the database, the settings and the booking policy,
    whose clock is the one time every job reads."""

    db: Database
    settings: Settings
    policy: BookingPolicy

    def now(self) -> datetime:
        return self.policy.clock()


class TryLater(Exception):
    """Raised by a handler whose work cannot be done now for a reason outside it (a mail
    server that is down): the job waits its backoff and is tried again, however many times,
    instead of failing after ``COMPAX_JOBS_MAX_ATTEMPTS``."""


#: A job's handler: carries out one job given its payload; raising makes it try again later.
Handler = Callable[[JobContext, dict[str, Any]], Awaitable[None]]
HANDLERS: dict[str, Handler] = {}
#: Kinds run on a schedule, and every how many seconds.
PERIODIC: dict[str, int] = {}


def handler(kind: str) -> Callable[[Handler], Handler]:
    """Register the function that carries out jobs of ``kind``."""

    def register(function: Handler) -> Handler:
        if kind in HANDLERS:
            raise RuntimeError(f"two handlers for jobs of kind {kind!r}")
        HANDLERS[kind] = function
        return function

    return register


def every(kind: str, seconds: int) -> None:
    """Run the handler of ``kind`` once every ``seconds`` (once in all, however many workers)."""
    PERIODIC[kind] = seconds


async def enqueue(
    session: AsyncSession,
    kind: str,
    key: str,
    payload: dict[str, Any],
    *,
    run_at: datetime | None = None,
) -> None:
    """Ask for a job of ``kind`` in ``session``'s transaction, due at ``run_at`` (at once if not
    given, whatever the workers' clock says); a job with the same ``key`` asked for before
    stands, and this one is dropped."""
    now = utcnow()
    statement = _INSERTS[session.get_bind().dialect.name].values(
        kind=kind,
        key=key,
        payload=payload,
        state="queued",
        run_at=run_at or AT_ONCE,
        attempts=0,
        last_error="",
        created_at=now,
    )
    await session.execute(statement)
    session.info[_ENQUEUED] = True


@event.listens_for(Session, "after_commit")
def _wake_after_commit(session: Session) -> None:
    """Tell this process's workers that a committed transaction enqueued a job."""
    if session.info.pop(_ENQUEUED, False):
        for wake in WAKERS:
            wake()


@event.listens_for(Session, "after_rollback")
def _forget_after_rollback(session: Session) -> None:
    session.info.pop(_ENQUEUED, None)
