"""The approvals' job: expiring the requests nobody decided by ``COMPAX_APPROVAL_EXPIRES_MINUTES``
before their start, so that their slots are free again and their requesters know.

Each run expires due requests in batches, each batch one transaction that takes its rooms
first; two runs at once (at-least-once, several workers) wait for each other's rooms and the
second finds the requests no longer pending.
"""

from __future__ import annotations

from datetime import timedelta
from functools import partial
from typing import Any

from compax_server.jobs.queue import JobContext, every, handler
from compax_server.services.approvals import expire_due
from compax_server.store import writing

#: The sweep that expires undecided requests.
EXPIRE_REQUESTS = "expire_approval_requests"
every(EXPIRE_REQUESTS, 60)
#: How many requests one transaction expires.
BATCH = 200


@handler(EXPIRE_REQUESTS)
async def expire_approval_requests(ctx: JobContext, payload: dict[str, Any]) -> None:
    """Expire every pending request that starts within the expiry lead of now."""
    lead = timedelta(minutes=ctx.settings.approval_expires_minutes)
    now = ctx.now()
    while await writing(ctx.db, partial(expire_due, now=now, lead=lead, limit=BATCH)) == BATCH:
        pass
