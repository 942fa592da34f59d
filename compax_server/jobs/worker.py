"""The worker loop: claims due jobs while it has room for them, carries them out side by side,
asks for the periodic kinds' runs, and stops gracefully.

It runs inside each server process on the embedded default (``COMPAX_JOBS=inline``) and is
the whole of a ``compax worker`` process. It looks for work every ``COMPAX_JOBS_POLL_SECONDS``
and at once after a commit in its process that enqueued a job (``queue.WAKERS``).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable

from compax_server.jobs import runner
from compax_server.jobs.queue import PERIODIC, WAKERS, JobContext

log = logging.getLogger("compax.jobs")
#: How often, in the worker's own time, finished jobs' old rows are deleted.
PURGE_INTERVAL_SECONDS = 3600.0


class Worker:
    """Carries out jobs until ``stop``; ``context`` gives the context each pass works with."""

    def __init__(self, context: Callable[[], JobContext]) -> None:
        self._context = context
        self._running: set[asyncio.Task[str]] = set()
        self._wake = asyncio.Event()
        self._stopping = False
        self._scheduled: dict[str, int] = {}
        self._last_purge: float | None = None
        self._failing = False

    def wake(self) -> None:
        """Look for due jobs now rather than at the next poll."""
        self._wake.set()

    def stop(self) -> None:
        """Claim nothing more; ``run`` returns once the jobs in hand are finished (``drain``)."""
        self._stopping = True
        self._wake.set()

    async def run(self, drain_seconds: float) -> None:
        """Work until ``stop``, then give running jobs ``drain_seconds`` to finish."""
        WAKERS.add(self.wake)
        try:
            while not self._stopping:
                self._wake.clear()
                try:
                    await self._pass()
                except Exception:
                    if not self._failing:
                        log.exception("the job worker cannot look for work; trying on")
                    self._failing = True
                else:
                    if self._failing:
                        log.info("the job worker looks for work again")
                    self._failing = False
                if not self._stopping:
                    poll = self._context().settings.jobs_poll_seconds
                    with contextlib.suppress(TimeoutError):
                        await asyncio.wait_for(self._wake.wait(), poll)
        finally:
            WAKERS.discard(self.wake)
            await self._drain(drain_seconds)

    async def _pass(self) -> None:
        """Ask for periodic runs whose slot began, hand due jobs on, and now and then delete
        old finished rows."""
        ctx = self._context()
        await self._schedule(ctx)
        await self._dispatch(ctx)
        now = asyncio.get_running_loop().time()
        if self._last_purge is None or now - self._last_purge >= PURGE_INTERVAL_SECONDS:
            self._last_purge = now
            removed = await runner.purge(ctx)
            if removed:
                log.info("deleted %d finished jobs' rows", removed)

    async def _dispatch(self, ctx: JobContext) -> None:
        """Claim as many due jobs as there is room for and start carrying them out."""
        room = ctx.settings.jobs_concurrency - len(self._running)
        if room > 0 and await runner.any_due(ctx):
            for job in await runner.claim(ctx, room):
                task = asyncio.create_task(runner.carry_out(ctx, job))
                self._running.add(task)
                task.add_done_callback(self._finished)

    async def _schedule(self, ctx: JobContext) -> None:
        """Enqueue the run of each periodic kind whose slot this worker has not asked for."""
        now = ctx.now()
        new = {
            kind: slot
            for kind in PERIODIC
            if (slot := runner.periodic_slot(kind, now)[0]) != self._scheduled.get(kind)
        }
        if new:
            await runner.schedule_periodic(ctx, list(new))
            self._scheduled.update(new)

    def _finished(self, task: asyncio.Task[str]) -> None:
        self._running.discard(task)
        if not task.cancelled() and task.exception() is not None:
            log.error("a job's outcome could not be recorded", exc_info=task.exception())
        self._wake.set()

    async def _drain(self, seconds: float) -> None:
        """Let running jobs finish for up to ``seconds``; the rest are cancelled and queued
        again (``carry_out``), to be carried out by the next worker."""
        if not self._running:
            return
        log.info("waiting up to %.0f s for %d running jobs", seconds, len(self._running))
        _done, pending = await asyncio.wait(set(self._running), timeout=seconds)
        for task in pending:
            task.cancel()
        if pending:
            log.warning("%d jobs did not finish in time and were queued again", len(pending))
            await asyncio.wait(pending)
