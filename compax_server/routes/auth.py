"""Sign-in, token revocation and the caller's own record."""

from __future__ import annotations

from aiohttp import web

from compax_server.api import Api, Call, etag, json_response
from compax_server.auth import client_address
from compax_server.keys import PASSWORDS, SIGN_IN
from compax_server.services import users
from compax_server.services.access import managed_buildings
from sync.errors import ValidationFailed
from sync.schemas import MeUpdate, PasswordChange, TokenRequest, TokenResponse, UserPublic

api = Api()


@api.route(
    "POST",
    "/api/v1/auth/token",
    summary="Sign in",
    tag="auth",
    public=True,
    body=TokenRequest,
    response=TokenResponse,
)
async def sign_in(call: Call[TokenRequest, None]) -> web.Response:
    sign_in = call.request.app[SIGN_IN]
    token = await sign_in(call.body.username, call.body.password, client_address(call.request))
    return json_response(token, headers={"Cache-Control": "no-store"})


@api.route(
    "POST", "/api/v1/auth/logout-all", summary="Revoke all your tokens", tag="auth", status=204
)
async def logout_all(call: Call[None, None]) -> web.Response:
    """Every token and calendar feed URL of the caller stops working."""
    async with call.db.write() as session:
        await users.revoke_tokens(session, call.user.id or 0)
    return web.Response(status=204)


@api.route("GET", "/api/v1/me", summary="Read your own record", tag="auth", response=UserPublic)
async def read_me(call: Call[None, None]) -> web.Response:
    """Your record, with ``manages``: the buildings you manage."""
    async with call.db.read() as session:
        public = await users.user_public_of(session, call.user)
    return json_response(public, headers=etag(call.user.version))


@api.route(
    "PATCH",
    "/api/v1/me",
    summary="Change your name or email",
    tag="auth",
    body=MeUpdate,
    response=UserPublic,
    conditional=True,
)
async def update_me(call: Call[MeUpdate, None]) -> web.Response:
    async with call.db.write() as session:
        user = await users.update_user(session, call.user.id or 0, call.body, call.if_match())
        public = await users.user_public_of(session, user)
    return json_response(public, headers=etag(public.version))


@api.route(
    "POST",
    "/api/v1/me/password",
    summary="Change your password",
    tag="auth",
    body=PasswordChange,
    response=TokenResponse,
    errors=(403,),
)
async def change_password(call: Call[PasswordChange, None]) -> web.Response:
    """Every older token and calendar feed URL stops working; the answer carries a fresh token.
    Guesses at the current password count under the sign-in limits; a directory user's
    password is changed in the directory."""
    users.refuse_directory_password(call.user)
    sign_in = call.request.app[SIGN_IN]
    address = client_address(call.request)
    if not await sign_in.is_password_of(call.user, call.body.current_password, address):
        raise ValidationFailed.single("current_password", "is not your current password")
    new_hash = await call.request.app[PASSWORDS].hash(call.body.new_password)
    async with call.db.write() as session:
        user = await users.set_password(session, call.user.id or 0, new_hash)
        token = sign_in.token_for(user, await managed_buildings(session, call.user.id or 0))
    return json_response(token, headers={"Cache-Control": "no-store"})
