"""Quotas: a role's, a user's exception (admins), and what the caller may still book."""

from __future__ import annotations

from aiohttp import web

from compax_server.api import Api, Call, etag, json_response
from compax_server.keys import BOOKING_POLICY
from compax_server.services import quota_admin
from sync.permissions import Permission
from sync.quota_schemas import MyQuota, QuotaLimits, QuotaPublic
from sync.schemas import ListQuery, Page

api = Api()
MANAGE = Permission.MANAGE_QUOTAS


@api.route(
    "GET",
    "/api/v1/quotas",
    summary="List quotas of roles and users",
    tag="quotas",
    permission=MANAGE,
    query=ListQuery,
    response=Page[QuotaPublic],
)
async def list_quotas(call: Call[None, ListQuery]) -> web.Response:
    async with call.db.read() as session:
        return json_response(await quota_admin.list_quotas(session, call.query))


def _answer(public: QuotaPublic) -> web.Response:
    return json_response(public, headers=etag(public.version))


@api.route(
    "PUT",
    "/api/v1/quotas/roles/{role}",
    summary="Set a role's quota",
    tag="quotas",
    permission=MANAGE,
    body=QuotaLimits,
    response=QuotaPublic,
)
async def set_role_quota(call: Call[QuotaLimits, None]) -> web.Response:
    """Every limit is replaced: one left out is no limit."""
    role = quota_admin.role_named(call.request.match_info["role"])
    async with call.db.write() as session:
        public, _ = await quota_admin.set_role_quota(session, role, call.body)
    return _answer(public)


@api.route(
    "DELETE",
    "/api/v1/quotas/roles/{role}",
    summary="Drop a role's quota",
    tag="quotas",
    permission=MANAGE,
    status=204,
)
async def clear_role_quota(call: Call[None, None]) -> web.Response:
    role = quota_admin.role_named(call.request.match_info["role"])
    async with call.db.write() as session:
        await quota_admin.clear_role_quota(session, role)
    return web.Response(status=204)


@api.route(
    "PUT",
    "/api/v1/users/{id}/quota",
    summary="Set a user's own quota",
    tag="quotas",
    permission=MANAGE,
    body=QuotaLimits,
    response=QuotaPublic,
)
async def set_user_quota(call: Call[QuotaLimits, None]) -> web.Response:
    """The user's quota replaces their role's as a whole."""
    async with call.db.write() as session:
        public, _ = await quota_admin.set_user_quota(session, call.path_id(), call.body)
    return _answer(public)


@api.route(
    "DELETE",
    "/api/v1/users/{id}/quota",
    summary="Drop a user's own quota",
    tag="quotas",
    permission=MANAGE,
    status=204,
)
async def clear_user_quota(call: Call[None, None]) -> web.Response:
    async with call.db.write() as session:
        await quota_admin.clear_user_quota(session, call.path_id())
    return web.Response(status=204)


@api.route(
    "GET",
    "/api/v1/me/quota",
    summary="Read your quota and its use",
    tag="quotas",
    response=MyQuota,
)
async def read_my_quota(call: Call[None, None]) -> web.Response:
    async with call.db.read() as session:
        quota = await quota_admin.my_quota(session, call.user, call.request.app[BOOKING_POLICY])
    return json_response(quota)
