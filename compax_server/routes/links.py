"""The pages behind signed booking links: opening one shows the booking and a button, the
button acts. Pages for people, not for programs: they answer HTML, errors included."""

from __future__ import annotations

import html

from aiohttp import web

from compax_server.api import Api, Call
from compax_server.audit import acting
from compax_server.jobs.queue import JobContext
from compax_server.keys import BOOKING_LINKS, BOOKING_POLICY
from compax_server.links import LINK_ACTIONS, LinkAction
from compax_server.models import Booking
from compax_server.openapi import HTML
from compax_server.services.bookings import room_with_label
from sync.errors import CompaxError, NotFound
from sync.when import local_span

api = Api()


def _page(title: str, body: str, status: int = 200) -> web.Response:
    """A small page that reads well on a phone."""
    text = (
        "<!doctype html><html lang=en><meta charset=utf-8>"
        '<meta name=viewport content="width=device-width, initial-scale=1">'
        f"<title>{html.escape(title)}</title>"
        "<body style='font-family:sans-serif;max-width:32em;margin:2em auto;padding:0 1em'>"
        f"<h1>{html.escape(title)}</h1>{body}</body></html>"
    )
    return web.Response(text=text, status=status, content_type=HTML, charset="utf-8")


def _trouble(error: CompaxError) -> web.Response:
    return _page(error.title, f"<p>{html.escape(error.detail)}</p>", error.status)


async def _booking_of(call: Call[None, None], action: LinkAction) -> Booking:
    """The booking a genuine link names (404 for any other link, a booking gone, or an action
    this server does not carry out)."""
    if action not in LINK_ACTIONS:
        raise NotFound("This server does not carry out such links")
    token = call.request.match_info["token"]
    booking_id = call.request.app[BOOKING_LINKS].booking_of(action, token)
    async with call.db.read() as session:
        booking = None if booking_id is None else await session.get(Booking, booking_id)
    if booking is None:
        raise NotFound("This link is not valid, or its booking is gone")
    return booking


async def _summary(call: Call[None, None], booking: Booking) -> str:
    """Where and when the booking is, as its room's door would say it (no title: anyone who
    scans a door's code may read the page)."""
    async with call.db.read() as session:
        _, label = await room_with_label(session, booking.room_id)
    zone = call.request.app[BOOKING_POLICY].zone
    return (
        f"<p><b>{html.escape(label)}</b><br>"
        f"{html.escape(local_span(booking.start, booking.end, zone))}</p>"
    )


def _pages(action: LinkAction) -> None:
    """Declare the two endpoints of ``action``: the page and its button."""
    path = f"/links/{action.value}/{{token}}"

    async def show(call: Call[None, None]) -> web.Response:
        try:
            booking = await _booking_of(call, action)
        except CompaxError as error:
            return _trouble(error)
        work = LINK_ACTIONS[action]
        form = (
            f"<form method=post><button style='font-size:1.3em;padding:.5em 1em'>"
            f"{html.escape(work.button)}</button></form>"
        )
        return _page(work.button, await _summary(call, booking) + form)

    async def act(call: Call[None, None]) -> web.Response:
        try:
            booking = await _booking_of(call, action)
            app = call.request.app
            context = JobContext(call.db, call.settings, app[BOOKING_POLICY])
            with acting(booking.owner_id, "link"):
                done = await LINK_ACTIONS[action].perform(context, booking.id)
        except CompaxError as error:
            return _trouble(error)
        return _page("Done", f"<p>{html.escape(done)}</p>")

    show.__name__ = f"show_{action.value}_link"
    act.__name__ = f"use_{action.value}_link"
    for method, verb, page in (("GET", "Open", show), ("POST", "Use", act)):
        api.route(
            method,
            path,
            summary=f"{verb} a {action.value} link",
            tag="links",
            public=True,
            media_types=(HTML,),
            errors=(404, 409),
        )(page)


for _action in LinkAction:
    _pages(_action)
