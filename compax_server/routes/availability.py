"""Free rooms, availability grids, utilisation reports and calendar feeds."""

from __future__ import annotations

from aiohttp import web

from compax_server.api import Api, Call, json_response
from compax_server.cache import cached_json, viewer_scope
from compax_server.keys import BOOKING_POLICY, FEED_TOKENS
from compax_server.services import availability, calendars, users
from compax_server.services.scope import building_coded
from compax_server.services.utilisation import utilisation_report
from sync.errors import NotFound
from sync.permissions import Permission
from sync.schemas import (
    BuildingAvailability,
    CalendarFeed,
    FreeRoom,
    FreeRoomQuery,
    Page,
    RoomAvailability,
    UtilisationQuery,
    UtilisationReport,
    WindowQuery,
)

api = Api()
READ = Permission.READ_BOOKINGS
ICS = "text/calendar"


@api.route(
    "GET",
    "/api/v1/rooms/free",
    summary="Find free rooms",
    tag="availability",
    permission=Permission.READ_CAMPUS,
    query=FreeRoomQuery,
    response=Page[FreeRoom],
)
async def free_rooms(call: Call[None, FreeRoomQuery]) -> web.Response:
    """Rooms free for the whole window that the judge accepts, smallest that fits first."""
    policy = call.request.app[BOOKING_POLICY]

    async def search() -> Page[FreeRoom]:
        return await availability.free_rooms(session, call.query, policy)

    async with call.db.read() as session:
        return await cached_json(call, session, search)


@api.route(
    "GET",
    "/api/v1/rooms/{id}/availability",
    summary="Read a room's availability",
    tag="availability",
    permission=READ,
    query=WindowQuery,
    response=RoomAvailability,
)
async def room_availability(call: Call[None, WindowQuery]) -> web.Response:
    room_id, policy = call.path_id(), call.request.app[BOOKING_POLICY]

    async def grid() -> RoomAvailability:
        return await availability.room_availability(
            session, room_id, call.query.start, call.query.end, policy, call.user
        )

    async with call.db.read() as session:
        return await cached_json(call, session, grid, viewer=viewer_scope(call.user))


@api.route(
    "GET",
    "/api/v1/buildings/{code}/availability",
    summary="Read a building's availability",
    tag="availability",
    permission=READ,
    query=WindowQuery,
    response=BuildingAvailability,
)
async def building_availability(call: Call[None, WindowQuery]) -> web.Response:
    code, policy = call.request.match_info["code"], call.request.app[BOOKING_POLICY]

    async def grid() -> BuildingAvailability:
        return await availability.building_availability(
            session, code, call.query.start, call.query.end, policy, call.user
        )

    async with call.db.read() as session:
        return await cached_json(call, session, grid, viewer=viewer_scope(call.user))


@api.route(
    "GET",
    "/api/v1/reports/utilisation",
    summary="Report room utilisation",
    tag="availability",
    permission=Permission.READ_REPORTS,
    query=UtilisationQuery,
    response=UtilisationReport,
    scoped=True,
)
async def utilisation(call: Call[None, UtilisationQuery]) -> web.Response:
    """A building's managers read its report; without ``building`` they get their buildings."""
    async with call.db.read() as session:
        buildings = call.access.buildings_for(Permission.READ_REPORTS)
        if call.query.building and buildings is not None:
            call.require_in(
                Permission.READ_REPORTS, await building_coded(session, call.query.building)
            )
        report = await utilisation_report(
            session,
            call.query.start,
            call.query.end,
            call.query.building,
            call.request.app[BOOKING_POLICY],
            within=buildings,
        )
    return json_response(report)


@api.route(
    "GET",
    "/api/v1/rooms/{id}/calendar.ics",
    summary="Subscribe to a room's calendar",
    tag="calendars",
    permission=READ,
    media_types=(ICS,),
)
async def room_calendar(call: Call[None, None]) -> web.Response:
    async with call.db.read() as session:
        body = await calendars.room_calendar(session, call.path_id(), call.user)
    return web.Response(body=body, content_type=ICS, charset="utf-8")


@api.route(
    "GET",
    "/api/v1/me/calendar.ics",
    summary="Read your calendar",
    tag="calendars",
    media_types=(ICS,),
)
async def my_calendar(call: Call[None, None]) -> web.Response:
    async with call.db.read() as session:
        body = await calendars.personal_calendar(session, call.user)
    return web.Response(body=body, content_type=ICS, charset="utf-8")


@api.route(
    "POST",
    "/api/v1/me/calendar-feed",
    summary="Make a private calendar feed URL",
    tag="calendars",
    response=CalendarFeed,
)
async def make_calendar_feed(call: Call[None, None]) -> web.Response:
    """A URL calendar apps can subscribe to without signing in; it revokes older feed URLs."""
    async with call.db.write() as session:
        user = await users.bump_calendar_generation(session, call.user.id or 0)
    issued = call.request.app[FEED_TOKENS].issue(user.id or 0, user.calendar_generation)
    path = f"/api/v1/calendar/{issued.token}.ics"
    url = str(call.request.url.with_path(path).with_query(None))
    feed = CalendarFeed(url=url, path=path, expires_at=issued.expires_at)
    return json_response(feed, headers={"Cache-Control": "no-store"})


@api.route(
    "DELETE",
    "/api/v1/me/calendar-feed",
    summary="Revoke your calendar feed URLs",
    tag="calendars",
    status=204,
)
async def revoke_calendar_feed(call: Call[None, None]) -> web.Response:
    async with call.db.write() as session:
        await users.bump_calendar_generation(session, call.user.id or 0)
    return web.Response(status=204)


@api.route(
    "GET",
    "/api/v1/calendar/{token}.ics",
    summary="Read a private calendar feed",
    tag="calendars",
    public=True,
    media_types=(ICS,),
)
async def calendar_feed(call: Call[None, None]) -> web.Response:
    """The token in the URL is the credential; a revoked or forged one is 404."""
    async with call.db.read() as session:
        owner = await calendars.feed_owner(
            session, call.request.app[FEED_TOKENS], call.request.match_info["token"]
        )
        if owner is None:
            raise NotFound("No calendar feed at this address; it may have been revoked")
        body = await calendars.personal_calendar(session, owner)
    return web.Response(body=body, content_type=ICS, charset="utf-8")
