"""Notifications as server and clients both see them: what a user was told, the kinds each user
chooses to be mailed, and the calls the CLI and the TUI make to read and choose them."""

from __future__ import annotations

import uuid
from datetime import datetime
from enum import StrEnum
from typing import TYPE_CHECKING

from pydantic import ConfigDict, Field

from sync.schemas import ListQuery, Page, Schema
from sync.vocabulary import NoticeKind

if TYPE_CHECKING:
    from sync.engine import Engine

_FORBID_EXTRA = ConfigDict(extra="forbid")
#: Lists are read this many at a time (the API's largest page).
PAGE = 500


class NoticeState(StrEnum):
    """Where a notification stands: ``pending`` until its delivery, then one of the others."""

    PENDING = "pending"
    SENT = "sent"
    RECORDED = "recorded"
    MUTED = "muted"
    FAILED = "failed"


class NotificationPublic(Schema):
    """One thing a user was told, written out as its mail says it (in campus time)."""

    id: int
    user_id: int
    kind: NoticeKind
    state: NoticeState = Field(
        description="`sent` mailed; `recorded` kept here only (mail is off or the user has "
        "no address); `muted` the user chose not to be mailed this kind; `failed` the mail "
        "server refused it for good; `pending` not delivered yet."
    )
    subject: str
    text: str
    booking_id: uuid.UUID | None
    created_at: datetime
    sent_at: datetime | None
    read_at: datetime | None


class MyNotificationQuery(ListQuery):
    """Your notifications, newest first."""

    unread: bool = Field(default=False, description="Only those not marked read.")


class NotificationQuery(ListQuery):
    """Anyone's notifications, newest first (administrators)."""

    user: str | None = Field(default=None, max_length=64, description="Only this username's.")
    state: NoticeState | None = None
    kind: NoticeKind | None = None


class NotificationSetting(Schema):
    model_config = _FORBID_EXTRA
    kind: NoticeKind
    mail: bool = Field(description="Whether notifications of this kind are mailed to you.")


class NotificationSettings(Schema):
    """Which kinds of notification are mailed to you, every kind named. Every notification is
    kept and listed, mailed or not."""

    settings: list[NotificationSetting]


class NotificationSettingsUpdate(Schema):
    """Which kinds of notification to mail you; kinds not named are left as they are."""

    model_config = _FORBID_EXTRA
    settings: list[NotificationSetting] = Field(max_length=len(NoticeKind))


class Notices:
    """The signed-in user's notifications on the profile's server, each call over HTTP."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    async def latest(self, limit: int = 50, *, unread: bool = False) -> list[NotificationPublic]:
        """Your ``limit`` newest notifications (only those not read, with ``unread``)."""
        found: list[NotificationPublic] = []
        query = MyNotificationQuery(limit=min(limit, PAGE), unread=unread)
        async with self.engine.http() as http:
            while len(found) < limit:
                params = query.model_dump(mode="json", exclude_none=True)
                params["unread"] = str(query.unread).lower()
                answer = await http.request("GET", "/api/v1/me/notifications", params=params)
                page = Page[NotificationPublic].model_validate(answer)
                found += page.items
                if page.next_cursor is None:
                    break
                query = query.model_copy(update={"cursor": page.next_cursor})
        return found[:limit]

    async def mark_read(self, notification_id: int) -> NotificationPublic:
        async with self.engine.http() as http:
            answer = await http.request("POST", f"/api/v1/me/notifications/{notification_id}/read")
        return NotificationPublic.model_validate(answer)

    async def settings(self) -> NotificationSettings:
        async with self.engine.http() as http:
            answer = await http.request("GET", "/api/v1/me/notification-settings")
        return NotificationSettings.model_validate(answer)

    async def choose(self, kind: NoticeKind, mail: bool) -> NotificationSettings:
        """Have notifications of ``kind`` mailed to you, or not; the settings after."""
        body = NotificationSettingsUpdate(settings=[NotificationSetting(kind=kind, mail=mail)])
        async with self.engine.http() as http:
            answer = await http.request(
                "PUT", "/api/v1/me/notification-settings", json=body.model_dump(mode="json")
            )
        return NotificationSettings.model_validate(answer)
