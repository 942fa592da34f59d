"""Room ratings: the caller's own (set, taken back, listed), a room's, and all of them for
the export (admins)."""

from __future__ import annotations

from aiohttp import web

from compax_server.api import Api, Call, etag, json_response
from compax_server.services import rating_import, ratings
from sync.permissions import Permission
from sync.rating_schemas import RatingPublic, RatingRecord, RatingSet
from sync.schemas import BulkQuery, BulkRequest, BulkResponse, ListQuery, Page

api = Api()


@api.route(
    "PUT",
    "/api/v1/rooms/{id}/rating",
    summary="Rate a room",
    tag="ratings",
    permission=Permission.RATE_ROOMS,
    body=RatingSet,
    response=RatingPublic,
)
async def rate_room(call: Call[RatingSet, None]) -> web.Response:
    """Set the caller's 1 to 5 stars and comment for the room, replacing any they gave."""
    async with call.db.write() as session:
        public, _ = await ratings.rate_room(
            session, call.user, call.path_id(), call.body.stars, call.body.comment
        )
    return json_response(public, headers=etag(public.version))


@api.route(
    "DELETE",
    "/api/v1/rooms/{id}/rating",
    summary="Take back your rating of a room",
    tag="ratings",
    permission=Permission.RATE_ROOMS,
    status=204,
)
async def unrate_room(call: Call[None, None]) -> web.Response:
    async with call.db.write() as session:
        await ratings.unrate_room(session, call.user, call.path_id())
    return web.Response(status=204)


@api.route(
    "GET",
    "/api/v1/rooms/{id}/ratings",
    summary="List a room's ratings",
    tag="ratings",
    permission=Permission.READ_CAMPUS,
    query=ListQuery,
    response=Page[RatingPublic],
)
async def list_room_ratings(call: Call[None, ListQuery]) -> web.Response:
    """Newest first; the authors' names only for admins, ``mine`` on the caller's own."""
    async with call.db.read() as session:
        page = await ratings.room_ratings(session, call.user, call.path_id(), call.query)
    return json_response(page)


@api.route(
    "GET",
    "/api/v1/me/ratings",
    summary="List your ratings",
    tag="ratings",
    permission=Permission.RATE_ROOMS,
    query=ListQuery,
    response=Page[RatingPublic],
)
async def list_my_ratings(call: Call[None, ListQuery]) -> web.Response:
    async with call.db.read() as session:
        return json_response(await ratings.my_ratings(session, call.user, call.query))


@api.route(
    "GET",
    "/api/v1/ratings",
    summary="Export every rating",
    tag="ratings",
    permission=Permission.MANAGE_CAMPUS,
    query=ListQuery,
    response=Page[RatingRecord],
)
async def export_ratings(call: Call[None, ListQuery]) -> web.Response:
    """Every rating by id, with its author's username or its ``external_id``."""
    async with call.db.read() as session:
        return json_response(await rating_import.export_ratings(session, call.query))


@api.route(
    "POST",
    "/api/v1/ratings:bulk",
    summary="Import ratings",
    tag="ratings",
    permission=Permission.MANAGE_CAMPUS,
    body=BulkRequest,
    query=BulkQuery,
    response=BulkResponse,
)
async def import_ratings(call: Call[BulkRequest, BulkQuery]) -> web.Response:
    """Upsert up to 1,000 ratings: a user's by room and user, another system's by room and
    ``external_id``; ``dry_run=true`` changes nothing."""
    answer = await rating_import.import_ratings(call.db, call.body.rows, dry_run=call.query.dry_run)
    return json_response(answer)
