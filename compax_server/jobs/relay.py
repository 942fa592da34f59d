"""``compax worker`` on Postgres: the ``jobs`` table stays the transactional outbox and the
record of every job, and procrastinate carries the jobs out.

Due rows are relayed to procrastinate (deferred first, then marked ``relayed`` in the same
claim; a crash between the two defers again, and the task finds the row already finished and
does nothing). procrastinate's task runs the job's handler exactly as the embedded runner
does and records ``done`` or ``failed`` on the row; its worker brings the retries (on the
backoff of ``runner.backoff``), the heartbeats that find jobs of a dead worker, and the
graceful shutdown.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
from typing import Any

import procrastinate
from procrastinate.exceptions import AlreadyEnqueued, ConnectorException
from procrastinate.jobs import Job as QueuedJob
from procrastinate.retry import BaseRetryStrategy, RetryDecision
from sqlalchemy import select, text, update
from sqlalchemy.engine import make_url
from sqlmodel import SQLModel

from compax_server.jobs import runner
from compax_server.jobs.queue import JobContext, TryLater
from compax_server.jobs.worker import Worker
from compax_server.models import Job

log = logging.getLogger("compax.jobs")
_JOBS = SQLModel.metadata.tables[Job.__tablename__]
#: procrastinate's queue and task for Compax's jobs.
QUEUE = "compax"
TASK = "compax_job"
#: The row state of a job handed to procrastinate, which now owns its attempts.
RELAYED = "relayed"


def libpq_url(database_url: str) -> str:
    """The database URL as psycopg takes it (no SQLAlchemy driver name)."""
    return make_url(database_url).set(drivername="postgresql").render_as_string(False)


async def queue_installed(ctx: JobContext) -> bool:
    """Whether procrastinate's tables are in the database (``install_queue`` puts them)."""
    async with ctx.db.read() as session:
        found = await session.execute(text("SELECT to_regclass('procrastinate_jobs')"))
        return found.scalar() is not None


async def install_queue(database_url: str) -> bool:
    """Create procrastinate's tables and functions if they are not there; whether it did.
    ``compax server migrate`` calls it, so that workers never race to."""
    connector = procrastinate.PsycopgConnector(
        conninfo=libpq_url(database_url), min_size=1, max_size=1
    )
    app = procrastinate.App(connector=connector)
    async with app.open_async():
        exists = await app.connector.execute_query_one_async(
            "SELECT to_regclass('procrastinate_jobs') IS NOT NULL AS found"
        )
        if exists["found"]:
            return False
        await app.schema_manager.apply_schema_async()
        return True


class Backoff(BaseRetryStrategy):
    """procrastinate retries a job on Compax's backoff, up to ``COMPAX_JOBS_MAX_ATTEMPTS``."""

    def __init__(self, ctx: JobContext) -> None:
        self._ctx = ctx

    def get_retry_decision(
        self, *, exception: BaseException, job: QueuedJob
    ) -> RetryDecision | None:
        last = job.attempts + 1 >= self._ctx.settings.jobs_max_attempts
        if last and not isinstance(exception, TryLater):
            return None
        wait = runner.backoff(self._ctx, job.attempts + 1)
        return RetryDecision(retry_in={"seconds": round(wait.total_seconds())})


def queue_app(ctx: JobContext) -> procrastinate.App:
    """The procrastinate app of this worker, with the one task that carries out a job row;
    its pool holds a connection per job running, one to listen and one to fetch."""
    connector = procrastinate.PsycopgConnector(
        conninfo=libpq_url(ctx.settings.effective_database_url),
        min_size=1,
        max_size=ctx.settings.jobs_concurrency + 2,
    )
    app = procrastinate.App(connector=connector)

    @app.task(name=TASK, queue=QUEUE, pass_context=True, retry=Backoff(ctx))
    async def carry_out_row(context: procrastinate.JobContext, job_id: int) -> None:
        assert context.job is not None
        final = context.job.attempts + 1 >= ctx.settings.jobs_max_attempts
        await carry_out(ctx, job_id, final=final)

    return app


async def carry_out(ctx: JobContext, job_id: int, *, final: bool) -> None:
    """Run the relayed job ``job_id``'s handler and record the attempt on its row; a row
    already finished (a second delivery) is left alone. Raises for procrastinate to retry."""
    started = (
        update(_JOBS)
        .where(_JOBS.c.id == job_id, _JOBS.c.state == RELAYED)
        .values(attempts=_JOBS.c.attempts + 1)
        .returning(_JOBS.c.kind, _JOBS.c.key, _JOBS.c.payload)
    )
    locked = select(_JOBS.c.state).where(_JOBS.c.id == job_id).with_for_update()
    async with ctx.db.write() as session:
        # The relay defers a job while it holds the row, and marks it relayed before it lets
        # go: waiting for the row here reads that mark. An update alone would judge the row
        # by the state it had before the relay committed, and skip the job for good.
        if (await session.execute(locked)).scalar() != RELAYED:
            return
        row = (await session.execute(started)).one()
    try:
        await runner.run_handler(ctx, row.kind, row.payload)
    except asyncio.CancelledError:
        # Stopped by a shutdown: procrastinate drops an aborted job, so the row is queued
        # again for the next relay to hand over.
        await _record(ctx, job_id, state="queued", error="interrupted", run_at=ctx.now())
        raise
    except Exception as exc:
        if isinstance(exc, TryLater) or not (final or isinstance(exc, runner.NoHandler)):
            await _record(ctx, job_id, state=RELAYED, error=runner.describe(exc))
            raise
        log.error("job %s (%s) failed for good: %s", row.key, row.kind, exc)
        error = runner.describe(exc)
        await _record(ctx, job_id, state="failed", error=error, finished_at=ctx.now())
        return
    await _record(ctx, job_id, state="done", error="", finished_at=ctx.now())


async def _record(ctx: JobContext, job_id: int, *, state: str, error: str, **values: Any) -> None:
    statement = (
        update(_JOBS)
        .where(_JOBS.c.id == job_id, _JOBS.c.state == RELAYED)
        .values(state=state, last_error=error, **values)
    )
    async with ctx.db.write() as session:
        await session.execute(statement)


class Relay(Worker):
    """The worker loop of a ``compax worker`` on Postgres: it asks for periodic runs as the
    embedded worker does, but hands due jobs to procrastinate instead of running them, and
    has procrastinate retry the jobs of workers whose heartbeat stopped."""

    def __init__(self, context: JobContext, app: procrastinate.App) -> None:
        super().__init__(lambda: context)
        self._app = app

    async def _dispatch(self, ctx: JobContext) -> None:
        await self._relay(ctx)
        await self._retry_stalled(ctx)

    async def _relay(self, ctx: JobContext) -> None:
        """Defer every due queued job to procrastinate, then mark it relayed, in one claim."""
        if not await runner.any_due(ctx):
            return
        due = (
            select(_JOBS.c.id)
            .where(_JOBS.c.state.in_(("queued", "running")), _JOBS.c.run_at <= ctx.now())
            .order_by(_JOBS.c.run_at, _JOBS.c.id)
            .limit(runner.BATCH)
            .with_for_update(skip_locked=True)
        )
        async with ctx.db.write() as session:
            ids = list((await session.execute(due)).scalars())
            for job_id in ids:
                # Already in procrastinate's queue when a crash came between defer and mark.
                with contextlib.suppress(AlreadyEnqueued):
                    await self._app.configure_task(
                        TASK, queueing_lock=f"job:{job_id}", lock=f"job:{job_id}"
                    ).defer_async(job_id=job_id)
            if ids:
                await session.execute(
                    update(_JOBS).where(_JOBS.c.id.in_(ids)).values(state=RELAYED)
                )

    async def _retry_stalled(self, ctx: JobContext) -> None:
        """Put back in procrastinate's queue the jobs of workers silent for a lease."""
        manager = self._app.job_manager
        stalled = await manager.get_stalled_jobs(
            queue=QUEUE, seconds_since_heartbeat=ctx.settings.jobs_lease_seconds
        )
        for job in stalled:
            log.warning("job %s was running on a worker that stopped; retrying it", job.id)
            try:
                await manager.retry_job(job)
            except ConnectorException:
                log.info("job %s was retried by another worker first", job.id)


class QueueMissing(RuntimeError):
    """procrastinate's tables are not in the database: ``compax server migrate`` puts them."""


async def work(ctx: JobContext) -> None:
    """Relay jobs to procrastinate and carry them out until SIGTERM or SIGINT, then stop
    gracefully: nothing more is claimed, and running jobs get the shutdown timeout."""
    if not await queue_installed(ctx):
        raise QueueMissing("the job queue's tables are missing; run `compax server migrate`")
    settings = ctx.settings
    app = queue_app(ctx)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for stop_signal in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(stop_signal, stop.set)
    async with app.open_async():
        relay = Relay(ctx, app)
        relaying = asyncio.create_task(relay.run(0))
        carrying_out = asyncio.create_task(
            app.run_worker_async(
                queues=[QUEUE],
                concurrency=settings.jobs_concurrency,
                install_signal_handlers=False,
                shutdown_graceful_timeout=settings.shutdown_timeout_seconds,
                fetch_job_polling_interval=settings.jobs_poll_seconds,
                update_heartbeat_interval=min(10.0, settings.jobs_lease_seconds / 3),
                stalled_worker_timeout=settings.jobs_lease_seconds,
                delete_jobs="always",
            )
        )
        stopping = asyncio.create_task(stop.wait())
        await asyncio.wait({carrying_out, stopping}, return_when=asyncio.FIRST_COMPLETED)
        relay.stop()
        carrying_out.cancel()
        stopping.cancel()
        await relaying
        with contextlib.suppress(asyncio.CancelledError):
            await carrying_out
