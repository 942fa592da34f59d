"""Mailing one notification (the ``deliver_notification`` job), at least once, never lost.

The notification is read, mailed outside any transaction, and then marked; a delivery that
finds it marked already does nothing, so a job carried out twice mails at most twice (a worker
that died after sending and before marking), and both mails carry one Message-ID. A mail
server that is down or busy raises ``MailDelayed``, and the job is tried again later, for as
long as it takes.
"""

from __future__ import annotations

import logging
from typing import Any

from sqlalchemy import exists, select, update
from sqlmodel import col

from compax_server.jobs.notices import DELIVER
from compax_server.jobs.queue import JobContext, handler
from compax_server.mail import Mailer, MailRefused, compose
from compax_server.models import Notification, NotificationMute, User
from compax_server.notice_text import letter
from sync.notices import NoticeState

log = logging.getLogger("compax.mail")

_MUTED = exists().where(
    col(NotificationMute.user_id) == col(Notification.user_id),
    col(NotificationMute.kind) == col(Notification.kind),
)


@handler(DELIVER)
async def deliver(ctx: JobContext, payload: dict[str, Any]) -> None:
    """Mail the notification ``payload["key"]`` names, or record why it was not mailed."""
    key = str(payload.get("key", ""))
    async with ctx.db.read() as session:
        found = (
            await session.execute(
                select(Notification, col(User.email), _MUTED)
                .join(User, col(User.id) == col(Notification.user_id))
                .where(col(Notification.key) == key)
            )
        ).first()
    if found is None:
        return
    notice, email, muted = found
    if notice.state != NoticeState.PENDING:
        return
    mailer = Mailer.from_settings(ctx.settings)
    if muted:
        state: str = NoticeState.MUTED
    elif mailer is None or not email:
        state = NoticeState.RECORDED
    else:
        state = await _mail(ctx, mailer, notice, email)
    async with ctx.db.write() as session:
        await session.execute(
            update(Notification)
            .where(col(Notification.key) == key, col(Notification.state) == NoticeState.PENDING)
            .values(state=state, sent_at=ctx.now() if state == NoticeState.SENT else None)
        )


async def _mail(ctx: JobContext, mailer: Mailer, notice: Notification, email: str) -> str:
    """Send the notification's mail: ``sent``, or ``failed`` when refused for good; a mail
    server that cannot take it now raises ``MailDelayed``, for the job to be tried again."""
    try:
        message = compose(
            letter(notice.kind, notice.data, ctx.policy.zone),
            to=email,
            mail_from=mailer.mail_from,
            key=notice.key,
            sent=ctx.now(),
        )
    except ValueError as unwritable:  # an address no mail header can carry, such as ü@…
        log.warning("notification %s cannot be mailed to %r: %s", notice.id, email, unwritable)
        return NoticeState.FAILED
    try:
        await mailer.send(message)
    except MailRefused as refusal:
        log.warning(
            "mail of notification %s to user %s refused: %s", notice.id, notice.user_id, refusal
        )
        return NoticeState.FAILED
    return NoticeState.SENT
