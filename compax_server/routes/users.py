"""User administration (admins only)."""

from __future__ import annotations

from functools import partial

from aiohttp import web

from compax_server.api import Api, Call, etag, json_response
from compax_server.keys import PASSWORDS
from compax_server.models import User
from compax_server.services import users
from compax_server.services.bulk import BulkBatch
from compax_server.services.common import get_or_404
from sync.permissions import Permission
from sync.schemas import (
    BulkQuery,
    BulkRequest,
    BulkResponse,
    Page,
    PasswordReset,
    UserCreate,
    UserPublic,
    UserQuery,
    UserUpdate,
)

api = Api()
MANAGE = Permission.MANAGE_USERS


@api.route(
    "GET",
    "/api/v1/users",
    summary="List users",
    tag="users",
    permission=MANAGE,
    query=UserQuery,
    response=Page[UserPublic],
)
async def list_users(call: Call[None, UserQuery]) -> web.Response:
    async with call.db.read() as session:
        return json_response(await users.list_users(session, call.query))


@api.route(
    "POST",
    "/api/v1/users",
    summary="Create a user",
    tag="users",
    permission=MANAGE,
    body=UserCreate,
    response=UserPublic,
    status=201,
)
async def create_user(call: Call[UserCreate, None]) -> web.Response:
    password_hash = await call.request.app[PASSWORDS].hash(call.body.password)
    async with call.db.write() as session:
        public = users.user_public(await users.create_user(session, call.body, password_hash))
    headers = {**etag(public.version), "Location": f"/api/v1/users/{public.id}"}
    return json_response(public, status=201, headers=headers)


@api.route(
    "GET",
    "/api/v1/users/{id}",
    summary="Read a user",
    tag="users",
    permission=MANAGE,
    response=UserPublic,
)
async def read_user(call: Call[None, None]) -> web.Response:
    async with call.db.read() as session:
        user = await get_or_404(session, User, call.path_id(), "user")
        public = await users.user_public_of(session, user)
    return json_response(public, headers=etag(user.version))


@api.route(
    "PATCH",
    "/api/v1/users/{id}",
    summary="Change a user",
    tag="users",
    permission=MANAGE,
    body=UserUpdate,
    response=UserPublic,
    conditional=True,
)
async def update_user(call: Call[UserUpdate, None]) -> web.Response:
    async with call.db.write() as session:
        user = await users.update_user(session, call.path_id(), call.body, call.if_match())
        public = await users.user_public_of(session, user)
    return json_response(public, headers=etag(public.version))


@api.route(
    "DELETE",
    "/api/v1/users/{id}",
    summary="Deactivate a user",
    tag="users",
    permission=MANAGE,
    response=UserPublic,
)
async def deactivate_user(call: Call[None, None]) -> web.Response:
    """Users are kept for the history of their bookings; deactivation revokes their tokens and
    the buildings they manage."""
    async with call.db.write() as session:
        user = await get_or_404(session, User, call.path_id(), "user", for_update=True)
        await users.change_user(session, user, {"active": False})
        public = await users.user_public_of(session, user)
    return json_response(public, headers=etag(public.version))


@api.route(
    "POST",
    "/api/v1/users/{id}/password",
    summary="Reset a user's password",
    tag="users",
    permission=MANAGE,
    body=PasswordReset,
    status=204,
)
async def reset_password(call: Call[PasswordReset, None]) -> web.Response:
    new_hash = await call.request.app[PASSWORDS].hash(call.body.new_password)
    async with call.db.write() as session:
        await users.set_password(session, call.path_id(), new_hash)
    return web.Response(status=204)


@api.route(
    "POST",
    "/api/v1/users:bulk",
    summary="Import users",
    tag="users",
    permission=MANAGE,
    body=BulkRequest,
    query=BulkQuery,
    response=BulkResponse,
)
async def bulk_users(call: Call[BulkRequest, BulkQuery]) -> web.Response:
    """Upsert on username; a password is used only when the user is created. A dry run hashes
    no password: nothing it stores is kept."""
    batch = BulkBatch.validate(call.body.rows, UserCreate)
    creates = [data for _, data in batch.valid]
    if call.query.dry_run:
        hashes = {data.username: "" for data in creates}
    else:
        hashes = await users.hash_new_passwords(call.db, call.request.app[PASSWORDS], creates)
    result = await batch.apply(
        call.db,
        key=lambda data: data.username,
        load=users.users_by_username,
        upsert=partial(users.upsert_user, hashes=hashes),
        record_type="users",
        dry_run=call.query.dry_run,
    )
    return json_response(result)
