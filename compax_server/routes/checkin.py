"""Check-in of a booking, and the signed link on its room's door that checks it in."""

from __future__ import annotations

from aiohttp import web

from compax_server.api import Api, Call, etag, json_response
from compax_server.keys import BOOKING_LINKS, BOOKING_POLICY
from compax_server.links import LinkAction
from compax_server.services import checkin
from compax_server.services import releases as releases  # registers the release sweep's job
from compax_server.services.bookings import parse_booking_id
from compax_server.store import writing
from sync.permissions import Permission
from sync.schemas import BookingPublic, CheckinLink

api = Api()


@api.route(
    "POST",
    "/api/v1/bookings/{booking_id}/checkin",
    summary="Check a booking in",
    tag="bookings",
    permission=Permission.BOOK,
    response=BookingPublic,
)
async def check_in(call: Call[None, None]) -> web.Response:
    """Within the window around its start (``checkin-closed`` names it otherwise); the owner,
    or an admin or exams officer for anyone. Checking in twice changes nothing."""
    booking_id = parse_booking_id(call.request.match_info["booking_id"])
    policy = call.request.app[BOOKING_POLICY]
    view = await writing(
        call.db, lambda session: checkin.check_in_view(session, call.user, booking_id, policy)
    )
    return json_response(view, headers=etag(view.version))


@api.route(
    "GET",
    "/api/v1/bookings/{booking_id}/checkin-link",
    summary="Get a booking's door check-in link",
    tag="bookings",
    permission=Permission.BOOK,
    response=CheckinLink,
)
async def checkin_link(call: Call[None, None]) -> web.Response:
    """A signed link that checks the booking in without a sign-in, for a QR code on the door;
    for the owner, or an admin or exams officer."""
    booking_id = parse_booking_id(call.request.match_info["booking_id"])
    async with call.db.read() as session:
        found = await checkin.checkin_link_of(session, call.user, booking_id)
    url = call.request.app[BOOKING_LINKS].url(LinkAction.CHECK_IN, found)
    return json_response(CheckinLink(url=url, booking_id=found))
