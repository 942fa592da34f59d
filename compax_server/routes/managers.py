"""Building managers: admins grant and revoke them; a building's managers see who they are."""

from __future__ import annotations

from aiohttp import web

from compax_server.api import Api, Call, json_response
from compax_server.services import managers, scope
from sync.managing import BuildingManagerPublic
from sync.permissions import Permission

api = Api()
_ITEM = "/api/v1/buildings/{id}/managers/{user_id}"


@api.route(
    "GET",
    "/api/v1/buildings/{id}/managers",
    summary="List a building's managers",
    tag="buildings",
    permission=Permission.MANAGE_CAMPUS,
    response=list[BuildingManagerPublic],
    scoped=True,
)
async def list_managers(call: Call[None, None]) -> web.Response:
    """Admins, and the building's own managers, see who manages it."""
    async with call.db.read() as session:
        where = await scope.building_where(session, call.path_id())
        if where is not None:  # no such building: 404 as for anyone
            call.require_in(Permission.MANAGE_CAMPUS, where)
        return json_response(await managers.managers_of(session, call.path_id()))


@api.route(
    "PUT",
    _ITEM,
    summary="Make a user a building's manager",
    tag="buildings",
    permission=Permission.MANAGE_USERS,
    response=BuildingManagerPublic,
    errors=(422,),
)
async def grant_manager(call: Call[None, None]) -> web.Response:
    """Idempotent: granting again answers the grant as it stands. An inactive user is 422
    naming ``user_id``."""
    async with call.db.write() as session:
        granted = await managers.grant(session, call.path_id(), call.path_id("user_id"))
    return json_response(granted)


@api.route(
    "DELETE",
    _ITEM,
    summary="Revoke a building manager",
    tag="buildings",
    permission=Permission.MANAGE_USERS,
    status=204,
)
async def revoke_manager(call: Call[None, None]) -> web.Response:
    """Idempotent: revoking what was not granted is 204 too."""
    async with call.db.write() as session:
        await managers.revoke(session, call.path_id(), call.path_id("user_id"))
    return web.Response(status=204)
