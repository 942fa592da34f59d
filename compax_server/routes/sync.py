"""The sync protocol: register a client replica, push its mutations, pull changes."""

from __future__ import annotations

from aiohttp import web

from compax_server.api import Api, Call, json_response
from compax_server.audit import acting, current_actor, sync_client
from compax_server.keys import BOOKING_POLICY, METRICS
from compax_server.services import sync
from sync.permissions import Permission
from sync.protocol import (
    ClientState,
    PullQuery,
    PullResponse,
    PushRequest,
    PushResponse,
    RegisterClient,
)

api = Api()
SYNC = Permission.READ_BOOKINGS


@api.route(
    "POST",
    "/api/v1/sync/clients",
    summary="Register a client replica",
    tag="sync",
    permission=SYNC,
    body=RegisterClient,
    response=ClientState,
)
async def register_client(call: Call[RegisterClient, None]) -> web.Response:
    """A client id (a UUID the client makes) belongs to one user; registering twice is fine."""
    return json_response(await sync.register_client(call.db, call.user, call.body.client_id))


@api.route(
    "POST",
    "/api/v1/sync/push",
    summary="Push offline changes",
    tag="sync",
    permission=SYNC,
    body=PushRequest,
    response=PushResponse,
)
async def push(call: Call[PushRequest, None]) -> web.Response:
    """Mutations with ``mid`` at or below ``last_mutation_id`` get their stored outcome again;
    one beyond the next stops the batch and is reported as a ``gap``."""
    policy = call.request.app[BOOKING_POLICY]
    with acting(call.user.id, sync_client(current_actor().client)):
        response = await sync.push(call.db, call.user, call.body, policy)
    call.request.app[METRICS].count_push(call.body, response.results)
    return json_response(response)


@api.route(
    "GET",
    "/api/v1/sync/pull",
    summary="Pull changes",
    tag="sync",
    permission=SYNC,
    query=PullQuery,
    response=PullResponse,
)
async def pull(call: Call[None, PullQuery]) -> web.Response:
    """Changes after ``cursor``, in order, from one snapshot; repeat while ``has_more``."""
    query = call.query
    page = await sync.pull_page(call.db, call.user, query.cursor, query.limit, query.client_id)
    call.request.app[METRICS].count_pull(len(page.changes))
    return web.Response(body=page.to_json(), content_type="application/json")
