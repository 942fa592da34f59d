"""The waitlist: wait for a taken slot, see your entries, take or leave an offer."""

from __future__ import annotations

from aiohttp import web

import compax_server.jobs.waitlist  # noqa: F401  (registers the waitlist's jobs)
from compax_server.api import Api, Call, etag, json_response
from compax_server.keys import BOOKING_POLICY
from compax_server.services import waitlist
from compax_server.store import writing
from sync.permissions import Permission
from sync.schemas import Page
from sync.waitlist import WaitCreate, WaitPublic, WaitQuery

api = Api()
READ, BOOK = Permission.READ_BOOKINGS, Permission.BOOK


@api.route(
    "POST",
    "/api/v1/waitlist",
    summary="Wait for a taken slot",
    tag="waitlist",
    permission=BOOK,
    body=WaitCreate,
    response=WaitPublic,
    status=201,
)
async def join_waitlist(call: Call[WaitCreate, None]) -> web.Response:
    """A slot with nothing in its way is refused as ``slot-free``: book it instead. When a
    booking there is cancelled, released, moved or shortened, the first waiting request the
    booking rules accept is booked: held as an offer, or for good with ``auto_book``."""
    policy = call.request.app[BOOKING_POLICY]
    async with call.db.write() as session:
        entry = await waitlist.join(session, call.user, call.body, policy)
    headers = {**etag(entry.version), "Location": f"/api/v1/waitlist/{entry.id}"}
    return json_response(entry, status=201, headers=headers)


@api.route(
    "GET",
    "/api/v1/waitlist",
    summary="List waitlist entries",
    tag="waitlist",
    permission=READ,
    query=WaitQuery,
    response=Page[WaitPublic],
)
async def list_waitlist(call: Call[None, WaitQuery]) -> web.Response:
    async with call.db.read() as session:
        return json_response(await waitlist.list_entries(session, call.user, call.query))


@api.route(
    "GET",
    "/api/v1/waitlist/{entry_id}",
    summary="Read a waitlist entry",
    tag="waitlist",
    permission=READ,
    response=WaitPublic,
)
async def read_waitlist_entry(call: Call[None, None]) -> web.Response:
    entry_id = waitlist.parse_entry_id(call.request.match_info["entry_id"])
    async with call.db.read() as session:
        entry = waitlist.public(await waitlist.entry_for(session, call.user, entry_id))
    return json_response(entry, headers=etag(entry.version))


@api.route(
    "DELETE",
    "/api/v1/waitlist/{entry_id}",
    summary="Withdraw from the waitlist",
    tag="waitlist",
    permission=READ,
    response=WaitPublic,
    conditional=True,
)
async def withdraw_waitlist_entry(call: Call[None, None]) -> web.Response:
    """The entry is kept, ``cancelled``; a booking held for it on offer is cancelled."""
    entry_id = waitlist.parse_entry_id(call.request.match_info["entry_id"])
    version = call.if_match()
    entry = await writing(
        call.db, lambda session: waitlist.withdraw(session, call.user, entry_id, version)
    )
    return json_response(entry, headers=etag(entry.version))


@api.route(
    "POST",
    "/api/v1/waitlist/{entry_id}/accept",
    summary="Accept a waitlist offer",
    tag="waitlist",
    permission=BOOK,
    response=WaitPublic,
)
async def accept_waitlist_offer(call: Call[None, None]) -> web.Response:
    """The booking held for the entry becomes yours for good; ``not-offered`` if the offer
    lapsed or was never made."""
    entry_id = waitlist.parse_entry_id(call.request.match_info["entry_id"])
    now = call.request.app[BOOKING_POLICY].clock()
    async with call.db.write() as session:
        entry = await waitlist.accept(session, call.user, entry_id, now)
    return json_response(entry, headers=etag(entry.version))


@api.route(
    "POST",
    "/api/v1/waitlist/{entry_id}/decline",
    summary="Decline a waitlist offer",
    tag="waitlist",
    permission=READ,
    response=WaitPublic,
)
async def decline_waitlist_offer(call: Call[None, None]) -> web.Response:
    """The booking held for the entry is cancelled and offered to the next in line."""
    entry_id = waitlist.parse_entry_id(call.request.match_info["entry_id"])
    entry = await writing(call.db, lambda session: waitlist.decline(session, call.user, entry_id))
    return json_response(entry, headers=etag(entry.version))
