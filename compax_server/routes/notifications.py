"""Notifications: your own (read them, mark them read, choose which kinds are mailed), and
everyone's for administrators. Importing this module also registers the notification jobs
(delivery, reminders) and the cancel link."""

from __future__ import annotations

from aiohttp import web

from compax_server.api import Api, Call, json_response
from compax_server.jobs import delivery  # noqa: F401 (registers the delivery job)
from compax_server.keys import BOOKING_POLICY
from compax_server.services import (
    notifications,
    reminders,  # noqa: F401 (the reminder sweep, the cancel link)
)
from sync.notices import (
    MyNotificationQuery,
    NotificationPublic,
    NotificationQuery,
    NotificationSettings,
    NotificationSettingsUpdate,
)
from sync.permissions import Permission
from sync.schemas import Page

api = Api()


@api.route(
    "GET",
    "/api/v1/me/notifications",
    summary="List your notifications",
    tag="notifications",
    query=MyNotificationQuery,
    response=Page[NotificationPublic],
)
async def my_notifications(call: Call[None, MyNotificationQuery]) -> web.Response:
    """Newest first, each written out as its mail says it, whether it was mailed or not."""
    zone = call.request.app[BOOKING_POLICY].zone
    async with call.db.read() as session:
        page = await notifications.my_notifications(session, call.user, call.query, zone)
    return json_response(page)


@api.route(
    "POST",
    "/api/v1/me/notifications/{id}/read",
    summary="Mark a notification read",
    tag="notifications",
    response=NotificationPublic,
)
async def mark_read(call: Call[None, None]) -> web.Response:
    policy = call.request.app[BOOKING_POLICY]
    async with call.db.write() as session:
        notice = await notifications.mark_read(
            session, call.user, call.path_id(), policy.clock(), policy.zone
        )
    return json_response(notice)


@api.route(
    "GET",
    "/api/v1/me/notification-settings",
    summary="Read which notifications are mailed to you",
    tag="notifications",
    response=NotificationSettings,
)
async def read_settings(call: Call[None, None]) -> web.Response:
    async with call.db.read() as session:
        return json_response(await notifications.notification_settings(session, call.user))


@api.route(
    "PUT",
    "/api/v1/me/notification-settings",
    summary="Choose which notifications are mailed to you",
    tag="notifications",
    body=NotificationSettingsUpdate,
    response=NotificationSettings,
)
async def choose_settings(call: Call[NotificationSettingsUpdate, None]) -> web.Response:
    """Kinds not named keep their setting; every notification is still kept and listed."""
    async with call.db.write() as session:
        chosen = await notifications.choose_settings(session, call.user, call.body)
    return json_response(chosen)


@api.route(
    "GET",
    "/api/v1/notifications",
    summary="List everyone's notifications",
    tag="notifications",
    permission=Permission.MANAGE_USERS,
    query=NotificationQuery,
    response=Page[NotificationPublic],
)
async def all_notifications(call: Call[None, NotificationQuery]) -> web.Response:
    """Newest first: what was mailed, recorded, muted or refused, to whom."""
    zone = call.request.app[BOOKING_POLICY].zone
    async with call.db.read() as session:
        page = await notifications.all_notifications(session, call.query, zone)
    return json_response(page)
