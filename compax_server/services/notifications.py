"""Reading notifications and choosing which kinds are mailed: each user their own, administrators
everyone's (to see what was sent or failed)."""

from __future__ import annotations

from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import delete, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from compax_server.models import Notification, NotificationMute, User
from compax_server.notice_text import letter
from compax_server.services.common import decode_cursor, encode_cursor
from sync.errors import NotFound
from sync.notices import (
    MyNotificationQuery,
    NotificationPublic,
    NotificationQuery,
    NotificationSetting,
    NotificationSettings,
    NotificationSettingsUpdate,
)
from sync.schemas import ListQuery, Page
from sync.vocabulary import NoticeKind


def notification_public(notice: Notification, zone: ZoneInfo) -> NotificationPublic:
    """The notification as its mail says it."""
    written = letter(notice.kind, notice.data, zone)
    return NotificationPublic.model_validate(
        {
            **notice.model_dump(exclude={"data", "key"}),
            "subject": written.subject,
            "text": written.text,
        }
    )


async def _page(
    session: AsyncSession, statement: Any, query: ListQuery, zone: ZoneInfo
) -> Page[NotificationPublic]:
    """Newest first, ``query.limit`` after its cursor."""
    if query.cursor:
        statement = statement.where(col(Notification.id) < decode_cursor(query.cursor))
    rows = list(
        (
            await session.execute(
                statement.order_by(col(Notification.id).desc()).limit(query.limit + 1)
            )
        ).scalars()
    )
    more = len(rows) > query.limit
    rows = rows[: query.limit]
    cursor = encode_cursor(rows[-1].id) if more and rows[-1].id is not None else None
    return Page(items=[notification_public(row, zone) for row in rows], next_cursor=cursor)


async def my_notifications(
    session: AsyncSession, user: User, query: MyNotificationQuery, zone: ZoneInfo
) -> Page[NotificationPublic]:
    statement = select(Notification).where(col(Notification.user_id) == user.id)
    if query.unread:
        statement = statement.where(col(Notification.read_at).is_(None))
    return await _page(session, statement, query, zone)


async def all_notifications(
    session: AsyncSession, query: NotificationQuery, zone: ZoneInfo
) -> Page[NotificationPublic]:
    statement = select(Notification)
    if query.user:
        statement = statement.join(User, col(User.id) == col(Notification.user_id)).where(
            col(User.username) == query.user.strip().lower()
        )
    if query.state is not None:
        statement = statement.where(col(Notification.state) == query.state.value)
    return await _page(session, statement, query, zone)


async def mark_read(
    session: AsyncSession, user: User, notification_id: int, now: datetime, zone: ZoneInfo
) -> NotificationPublic:
    """Mark one of ``user``'s notifications read (once: the first reading's time stays)."""
    notice = await session.get(Notification, notification_id, with_for_update=True)
    if notice is None or notice.user_id != user.id:
        raise NotFound(f"You have no notification {notification_id}")
    if notice.read_at is None:
        notice.read_at = now
    return notification_public(notice, zone)


async def notification_settings(session: AsyncSession, user: User) -> NotificationSettings:
    """Every kind, and whether it is mailed to ``user``."""
    muted = set(
        (
            await session.execute(
                select(col(NotificationMute.kind)).where(col(NotificationMute.user_id) == user.id)
            )
        ).scalars()
    )
    return NotificationSettings(
        settings=[
            NotificationSetting(kind=kind, mail=kind.value not in muted) for kind in NoticeKind
        ]
    )


async def choose_settings(
    session: AsyncSession, user: User, chosen: NotificationSettingsUpdate
) -> NotificationSettings:
    """Mute or unmute the kinds named; the others stay as they were."""
    assert user.id is not None
    mail = {setting.kind.value: setting.mail for setting in chosen.settings}
    muted = [kind for kind, wanted in mail.items() if not wanted]
    await session.execute(
        delete(NotificationMute).where(
            col(NotificationMute.user_id) == user.id, col(NotificationMute.kind).in_(list(mail))
        )
    )
    session.add_all(NotificationMute(user_id=user.id, kind=kind) for kind in muted)
    await session.flush()
    return await notification_settings(session, user)
