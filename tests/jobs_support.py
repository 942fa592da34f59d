"""Carrying out due jobs in a test, without a background worker: the simplest runner, until the
jobs part's ``runner.run_due_jobs`` replaces it."""

from __future__ import annotations

from sqlalchemy import select
from sqlmodel import col

from compax_server.jobs.queue import HANDLERS, PERIODIC, JobContext
from compax_server.models import Job


async def run_due_jobs(ctx: JobContext) -> int:
    """Carry out every queued job due at ``ctx.now()`` that has a handler, oldest first, and
    those they ask for in turn, then each periodic kind once; how many ran."""
    ran = 0
    while True:
        async with ctx.db.read() as session:
            due = (
                (
                    await session.execute(
                        select(Job)
                        .where(
                            col(Job.state) == "queued",
                            col(Job.run_at) <= ctx.now(),
                            col(Job.kind).in_(list(HANDLERS)),
                        )
                        .order_by(col(Job.id))
                    )
                )
                .scalars()
                .all()
            )
        if not due:
            break
        for job in due:
            await HANDLERS[job.kind](ctx, job.payload)
            async with ctx.db.write() as session:
                done = await session.get(Job, job.id)
                assert done is not None
                done.state = "done"
            ran += 1
    for kind in PERIODIC:
        await HANDLERS[kind](ctx, {})
        ran += 1
    return ran
