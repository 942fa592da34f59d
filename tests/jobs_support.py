"""Carrying out due jobs in a test, without a background worker: each due job in id order, a
failed one tried again after a backoff, as the runner does."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import select
from sqlmodel import col

from compax_server.jobs.queue import HANDLERS, JobContext
from compax_server.models import Job

#: The first wait after a failure; each further failure doubles it.
BACKOFF = timedelta(seconds=30)


async def run_due_jobs(ctx: JobContext) -> int:
    """Carry out every queued job due at ``ctx.now()``; how many were carried out."""
    ran = 0
    while True:
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
        if not due:
            return ran
        for job in due:
            try:
                await HANDLERS[job.kind](ctx, job.payload)
            except Exception as error:
                changes = {
                    "attempts": job.attempts + 1,
                    "last_error": str(error)[:2000],
                    "run_at": ctx.now() + BACKOFF * 2**job.attempts,
                }
            else:
                changes = {"state": "done", "finished_at": ctx.now()}
            async with ctx.db.write() as session:
                stored = await session.get(Job, job.id)
                assert stored is not None
                for name, value in changes.items():
                    setattr(stored, name, value)
            ran += 1
