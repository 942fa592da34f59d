"""The audit trail's retention: a periodic job deletes the entries older than
``COMPAX_AUDIT_RETENTION_DAYS``, a batch at a time, each batch its own short transaction so
that writers are never held up for long."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from sqlalchemy import delete, select
from sqlmodel import col

from compax_server.jobs.queue import JobContext, every, handler
from compax_server.models import AuditEntry

#: The daily sweep of old audit entries.
PRUNE_AUDIT = "prune_audit"
#: Entries deleted per transaction.
BATCH = 5000
every(PRUNE_AUDIT, 24 * 3600)


async def prune_audit(ctx: JobContext, *, batch: int = BATCH) -> int:
    """Delete every audit entry older than the retention, oldest first, ``batch`` per
    transaction (through the index on ``at``); how many were deleted."""
    cutoff = ctx.now() - timedelta(days=ctx.settings.audit_retention_days)
    deleted = 0
    while True:
        async with ctx.db.write() as session:
            oldest = (
                select(col(AuditEntry.id))
                .where(col(AuditEntry.at) < cutoff)
                .order_by(col(AuditEntry.at))
                .limit(batch)
            )
            ids = list((await session.execute(oldest)).scalars())
            if ids:
                await session.execute(delete(AuditEntry).where(col(AuditEntry.id).in_(ids)))
        deleted += len(ids)
        if len(ids) < batch:
            return deleted


@handler(PRUNE_AUDIT)
async def _prune(ctx: JobContext, _payload: dict[str, Any]) -> None:
    await prune_audit(ctx)
