"""Approval requests: the approvers' queue, and approving or rejecting a request or a series."""

from __future__ import annotations

from aiohttp import web

import compax_server.jobs.approvals  # noqa: F401  (registers the expiry sweep)
from compax_server.api import Api, Call, etag, json_response
from compax_server.services import approvals
from compax_server.services.bookings import parse_booking_id
from compax_server.store import writing
from sync.approvals import ApprovalQuery, Approve, Reject, SeriesDecision
from sync.permissions import Permission
from sync.schemas import BookingPublic, Page

api = Api()
#: Admins, and building managers (for their buildings: the services check each request's).
APPROVE = Permission.APPROVE_BOOKINGS


@api.route(
    "GET",
    "/api/v1/approvals",
    summary="List the requests waiting for your approval",
    tag="approvals",
    permission=APPROVE,
    scoped=True,
    query=ApprovalQuery,
    response=Page[BookingPublic],
)
async def list_approvals(call: Call[None, ApprovalQuery]) -> web.Response:
    """Pending requests in the buildings the caller approves for (all of them for admins),
    soonest start first: the order they expire in."""
    async with call.db.read() as session:
        return json_response(await approvals.approval_queue(session, call.user, call.query))


async def _decide_booking(
    call: Call[Approve, None] | Call[Reject, None], approve: bool
) -> web.Response:
    booking_id = parse_booking_id(call.request.match_info["booking_id"])
    version, reason = call.if_match(), call.body.reason
    view = await writing(
        call.db,
        lambda session: approvals.decide_booking(
            session, call.user, booking_id, version, approve=approve, reason=reason
        ),
    )
    return json_response(view, headers=etag(view.version))


@api.route(
    "POST",
    "/api/v1/bookings/{booking_id}/approve",
    summary="Approve a pending request",
    tag="approvals",
    permission=APPROVE,
    scoped=True,
    body=Approve,
    response=BookingPublic,
    conditional=True,
)
async def approve_booking(call: Call[Approve, None]) -> web.Response:
    """Send ``If-Match`` with the version read; the booking becomes ``confirmed`` and its
    requester is told. 409 ``not-pending`` when it waits for no decision."""
    return await _decide_booking(call, approve=True)


@api.route(
    "POST",
    "/api/v1/bookings/{booking_id}/reject",
    summary="Reject a pending request",
    tag="approvals",
    permission=APPROVE,
    scoped=True,
    body=Reject,
    response=BookingPublic,
    conditional=True,
)
async def reject_booking(call: Call[Reject, None]) -> web.Response:
    """A ``reason`` is required and told to the requester; the slot is free again."""
    return await _decide_booking(call, approve=False)


async def _decide_series(
    call: Call[Approve, None] | Call[Reject, None], approve: bool
) -> web.Response:
    series_id = parse_booking_id(call.request.match_info["series_id"])
    reason = call.body.reason
    result: SeriesDecision = await writing(
        call.db,
        lambda session: approvals.decide_series(
            session, call.user, series_id, approve=approve, reason=reason
        ),
    )
    return json_response(result)


@api.route(
    "POST",
    "/api/v1/series/{series_id}/approve",
    summary="Approve a series' pending occurrences",
    tag="approvals",
    permission=APPROVE,
    scoped=True,
    body=Approve,
    response=SeriesDecision,
)
async def approve_series(call: Call[Approve, None]) -> web.Response:
    """Every pending occurrence at once; its requester is told once."""
    return await _decide_series(call, approve=True)


@api.route(
    "POST",
    "/api/v1/series/{series_id}/reject",
    summary="Reject a series' pending occurrences",
    tag="approvals",
    permission=APPROVE,
    scoped=True,
    body=Reject,
    response=SeriesDecision,
)
async def reject_series(call: Call[Reject, None]) -> web.Response:
    """Every pending occurrence at once, with one ``reason``; their slots are free again."""
    return await _decide_series(call, approve=False)
