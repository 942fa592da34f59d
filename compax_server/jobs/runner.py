"""Carrying out jobs: due rows of ``jobs`` are claimed under a lease, run through their kind's
handler and marked done, or queued again with backoff and failed after the last attempt.

The same functions serve the worker inside a server process (``COMPAX_JOBS=inline``), the
``compax worker`` processes and the tests (``run_due_jobs``), on SQLite and Postgres alike.
Every time is read through ``JobContext.now()``, so a test's clock drives the queue too.
"""

from __future__ import annotations

import asyncio
import logging
import random
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import delete, func, select, update
from sqlmodel import SQLModel

from compax_server.audit import JOB_CLIENT, acting
from compax_server.jobs.queue import HANDLERS, PERIODIC, JobContext, TryLater, enqueue
from compax_server.models import Job

log = logging.getLogger("compax.jobs")
_JOBS = SQLModel.metadata.tables[Job.__tablename__]
#: Jobs claimed by one statement in ``run_due_jobs``.
BATCH = 20
#: States in which a job still waits to be carried out, again if its worker died.
_PENDING = ("queued", "running")
#: The ``last_error`` of a job whose worker stopped during each of its attempts.
_WORKER_LOST = "its worker stopped during every attempt"
#: What ``jobs.last_error`` holds of an error message.
_ERROR_LENGTH = 2000


@dataclass(frozen=True)
class Claimed:
    """A job this worker holds until its lease lapses: ``attempts`` counts this one."""

    id: int
    kind: str
    key: str
    payload: dict[str, Any]
    attempts: int


async def claim(ctx: JobContext, limit: int) -> list[Claimed]:
    """Take up to ``limit`` due jobs (queued, or running under a lapsed lease) in one statement:
    each becomes ``running`` until ``now + lease`` and counts an attempt. Postgres skips rows
    another worker is claiming (``FOR UPDATE SKIP LOCKED``); SQLite has one writer at a time.
    A job whose lease lapsed on its last attempt fails instead: it stops its worker."""
    now = ctx.now()
    due = (
        select(_JOBS.c.id)
        .where(_JOBS.c.state.in_(_PENDING), _JOBS.c.run_at <= now)
        .order_by(_JOBS.c.run_at, _JOBS.c.id)
        .limit(limit)
        .with_for_update(skip_locked=True)
    )
    statement = (
        update(_JOBS)
        .where(_JOBS.c.id.in_(due))
        .values(
            state="running",
            run_at=now + timedelta(seconds=ctx.settings.jobs_lease_seconds),
            attempts=_JOBS.c.attempts + 1,
        )
        .returning(_JOBS.c.id, _JOBS.c.kind, _JOBS.c.key, _JOBS.c.payload, _JOBS.c.attempts)
    )
    exhausted = (
        update(_JOBS)
        .where(
            _JOBS.c.state == "running",
            _JOBS.c.run_at <= now,
            _JOBS.c.attempts >= ctx.settings.jobs_max_attempts,
        )
        .values(state="failed", finished_at=now, last_error=_WORKER_LOST)
    )
    async with ctx.db.write() as session:
        await session.execute(exhausted)
        rows = (await session.execute(statement)).all()
    return sorted((Claimed(*row) for row in rows), key=lambda job: job.id)


async def any_due(ctx: JobContext) -> bool:
    """Whether a job is due, read without taking SQLite's write lock."""
    due = select(_JOBS.c.id).where(_JOBS.c.state.in_(_PENDING), _JOBS.c.run_at <= ctx.now())
    async with ctx.db.read() as session:
        return (await session.execute(due.limit(1))).first() is not None


class NoHandler(LookupError):
    """A job's kind has no handler in this process: it fails at once, retrying is no use."""


async def run_handler(ctx: JobContext, kind: str, payload: dict[str, Any]) -> None:
    """Run the handler of ``kind`` on ``payload`` for at most the lease's length."""
    function = HANDLERS.get(kind)
    if function is None:
        raise NoHandler(f"no handler for jobs of kind {kind!r}")
    async with asyncio.timeout(ctx.settings.jobs_lease_seconds):
        with acting(None, JOB_CLIENT):
            await function(ctx, payload)


def describe(error: Exception) -> str:
    """A job's ``last_error``: the exception's type and message, as long as the column."""
    said = f"{type(error).__name__}: {error}" if str(error) else type(error).__name__
    return said[:_ERROR_LENGTH]


async def carry_out(ctx: JobContext, job: Claimed) -> str:
    """Run ``job``'s handler and record how it went: ``done``, ``retry`` or ``failed``. A job
    may take its lease's length; one cancelled (a shutdown's deadline) is queued again."""
    try:
        await run_handler(ctx, job.kind, job.payload)
    except asyncio.CancelledError:
        await _settle(ctx, job, state="queued", run_at=ctx.now(), last_error="interrupted")
        raise
    except NoHandler as exc:
        return await _record(ctx, job, str(exc), final=True)
    except TryLater as exc:
        log.warning("job %s (%s) must wait: %s", job.key, job.kind, exc)
        return await _record(ctx, job, describe(exc), final=False)
    except Exception as exc:
        log.warning("job %s (%s) failed on attempt %d", job.key, job.kind, job.attempts)
        final = job.attempts >= ctx.settings.jobs_max_attempts
        return await _record(ctx, job, describe(exc), final=final)
    await _settle(ctx, job, state="done", finished_at=ctx.now(), last_error="")
    return "done"


async def _record(ctx: JobContext, job: Claimed, error: str, *, final: bool) -> str:
    """A failed attempt: the job waits its backoff for the next, or fails after the last."""
    if final:
        log.error("job %s (%s) failed for good: %s", job.key, job.kind, error)
        await _settle(ctx, job, state="failed", finished_at=ctx.now(), last_error=error)
        return "failed"
    run_at = ctx.now() + backoff(ctx, job.attempts)
    await _settle(ctx, job, state="queued", run_at=run_at, last_error=error)
    return "retry"


async def _settle(ctx: JobContext, job: Claimed, **values: Any) -> None:
    """Write the outcome of this claim, unless the lease lapsed and another worker claimed the
    job meanwhile (its attempt then has the last word)."""
    statement = (
        update(_JOBS)
        .where(_JOBS.c.id == job.id, _JOBS.c.state == "running")
        .where(_JOBS.c.attempts == job.attempts)
        .values(**values)
    )
    async with ctx.db.write() as session:
        await session.execute(statement)


def backoff(ctx: JobContext, attempts: int) -> timedelta:
    """The wait after the ``attempts``-th failure: doubled each time up to the cap, then a
    random part of it taken off (jitter), so that jobs failing together retry apart."""
    settings = ctx.settings
    longest = min(
        settings.jobs_backoff_cap_seconds, settings.jobs_backoff_seconds * 2 ** (attempts - 1)
    )
    return timedelta(seconds=longest * random.uniform(0.5, 1.0))  # noqa: S311 (not a secret)


def periodic_slot(kind: str, now: datetime) -> tuple[int, datetime]:
    """The run of periodic ``kind`` that ``now`` falls in (whole periods since the epoch) and
    when it began."""
    seconds = PERIODIC[kind]
    slot = int(now.timestamp()) // seconds
    return slot, datetime.fromtimestamp(slot * seconds, UTC)


async def schedule_periodic(ctx: JobContext, kinds: list[str] | None = None) -> None:
    """Ask for the current run of each periodic kind (all, or ``kinds``); its key names the
    slot, so the run is one job however many workers ask for it."""
    now = ctx.now()
    async with ctx.db.write() as session:
        for kind in PERIODIC if kinds is None else kinds:
            slot, began = periodic_slot(kind, now)
            await enqueue(session, kind, f"periodic:{kind}:{slot}", {"slot": slot}, run_at=began)


async def run_due_jobs(ctx: JobContext) -> int:
    """Carry out, one after another, every job due at ``ctx.now()`` (the periodic kinds' current
    runs among them, and jobs those jobs ask for) until none is due; how many ran."""
    await schedule_periodic(ctx)
    count = 0
    while jobs := await claim(ctx, BATCH):
        for job in jobs:
            await carry_out(ctx, job)
            count += 1
    return count


async def purge(ctx: JobContext) -> int:
    """Delete the rows of jobs finished longer ago than ``COMPAX_JOBS_RETENTION_DAYS``."""
    before = ctx.now() - timedelta(days=ctx.settings.jobs_retention_days)
    statement = delete(_JOBS).where(
        _JOBS.c.state.in_(("done", "failed")), _JOBS.c.finished_at < before
    )
    async with ctx.db.write() as session:
        result = await session.execute(statement)
    return int(getattr(result, "rowcount", 0) or 0)


async def census(ctx: JobContext) -> dict[tuple[str, str], int]:
    """How many jobs there are by (kind, state), where a queued job is ``due`` or ``scheduled``
    (due later) and a running one whose lease lapsed is ``stalled``: what ``/metrics`` shows,
    from the table that every worker shares."""
    rows = select(
        _JOBS.c.kind, _JOBS.c.state, (_JOBS.c.run_at <= ctx.now()).label("due")
    ).subquery()
    statement = select(rows.c.kind, rows.c.state, rows.c.due, func.count()).group_by(
        rows.c.kind, rows.c.state, rows.c.due
    )
    names = {("queued", True): "due", ("queued", False): "scheduled", ("running", True): "stalled"}
    counts: dict[tuple[str, str], int] = {}
    async with ctx.db.read() as session:
        for kind, state, due, count in await session.execute(statement):
            name = names.get((state, bool(due)), state)
            counts[kind, name] = counts.get((kind, name), 0) + count
    return counts
