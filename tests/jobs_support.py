"""Carrying out due jobs in a test without a background worker (``run_due_jobs``)."""

from __future__ import annotations

from sqlalchemy import select
from sqlmodel import col

from compax_server.jobs.queue import HANDLERS, PERIODIC, JobContext
from compax_server.models import Job


async def run_due_jobs(ctx: JobContext) -> int:
    """Carry out every queued job due at ``ctx.now()``, in id order, then each periodic kind
    once; how many ran. A job whose handler raises stays queued."""
    async with ctx.db.read() as session:
        due = list(
            (
                await session.execute(
                    select(Job)
                    .where(col(Job.state) == "queued", col(Job.run_at) <= ctx.now())
                    .order_by(col(Job.id))
                )
            ).scalars()
        )
    ran = 0
    for job in due:
        work = HANDLERS.get(job.kind)
        if work is None:
            continue
        await work(ctx, job.payload)
        async with ctx.db.write() as session:
            stored = await session.get(Job, job.id)
            assert stored is not None
            stored.state = "done"
        ran += 1
    for kind in PERIODIC:
        await HANDLERS[kind](ctx, {})
        ran += 1
    return ran
