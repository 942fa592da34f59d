"""Telling users what happened: ``notify`` records a notification in the caller's transaction
and asks for its delivery as a job, so nobody is told of a change that did not commit and no
request waits for a mail server."""

from __future__ import annotations

import uuid
from typing import Any

from sqlalchemy.dialects.postgresql import insert as postgres_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import SQLModel

from compax_server.jobs.queue import enqueue
from compax_server.services.common import utcnow
from sync.vocabulary import NoticeKind

#: The job kind that mails one notification.
DELIVER = "deliver_notification"

_NOTIFICATIONS = SQLModel.metadata.tables["notifications"]
_INSERTS = {
    "postgresql": postgres_insert(_NOTIFICATIONS).on_conflict_do_nothing(index_elements=["key"]),
    "sqlite": sqlite_insert(_NOTIFICATIONS).on_conflict_do_nothing(index_elements=["key"]),
}


async def notify(
    session: AsyncSession,
    *,
    user_id: int,
    kind: NoticeKind,
    key: str,
    data: dict[str, Any],
    booking_id: uuid.UUID | None = None,
) -> None:
    """Record that ``user_id`` is told of ``kind`` (``data`` holds what the message says) and
    ask for it to be mailed; ``key`` names the event, and an event already told is not told
    again."""
    key = f"{kind.value}:{key}:{user_id}"
    await session.execute(
        _INSERTS[session.get_bind().dialect.name].values(
            user_id=user_id,
            kind=kind.value,
            key=key,
            booking_id=booking_id,
            data=data,
            state="pending",
            created_at=utcnow(),
        )
    )
    await enqueue(session, DELIVER, f"deliver:{key}", {"key": key})
