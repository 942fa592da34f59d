"""Bookings, series, timetables and blackouts."""

from __future__ import annotations

from functools import partial
from typing import Any

from aiohttp import web
from sqlalchemy.ext.asyncio import AsyncSession

from compax_server.api import Api, Call, etag, json_response
from compax_server.keys import BOOKING_POLICY, BOOKING_WRITER
from compax_server.problems import PROBLEM_JSON
from compax_server.services import (
    blackouts,
    bookings,
    bulk,
    idempotency,
    scope,
    series,
    series_records,
)
from compax_server.store import writing
from sync.permissions import Permission
from sync.schemas import (
    BlackoutCreate,
    BlackoutPublic,
    BlackoutQuery,
    BlackoutResult,
    BookingBulkResponse,
    BookingCreate,
    BookingPublic,
    BookingQuery,
    BookingUpdate,
    BulkQuery,
    BulkRequest,
    ListQuery,
    Page,
    ScopeQuery,
    SeriesCreate,
    SeriesPublic,
    SeriesRecord,
    SeriesResult,
    TimetableEntry,
    TimetableQuery,
    TimetableRequest,
    TimetableResult,
)

api = Api()
READ, BOOK = Permission.READ_BOOKINGS, Permission.BOOK


@api.route(
    "POST",
    "/api/v1/bookings",
    summary="Book a room",
    tag="bookings",
    permission=BOOK,
    body=BookingCreate,
    response=BookingPublic,
    status=201,
    reads_caller=True,
    idempotent=True,
)
async def create_booking(call: Call[BookingCreate, None]) -> web.Response:
    """Send an ``Idempotency-Key`` header to make retries safe: a repeat gets the first answer."""
    policy = call.request.app[BOOKING_POLICY]
    raw_key = call.request.headers.get("Idempotency-Key")
    if raw_key is None:  # the booking writer reads the caller in the booking's transaction
        return _created(await call.request.app[BOOKING_WRITER].book(call.caller, call.body))
    user = await call.read_user()

    async def book(session: AsyncSession) -> BookingPublic:
        return await bookings.create_booking(session, user, call.body, policy)

    status, body, replayed = await idempotency.run_once(
        call.db,
        user.id or 0,
        idempotency.check_key(raw_key),
        idempotency.fingerprint("POST", call.request.path, call.body),
        book,
        status=201,
        instance=call.request.path,
    )
    return _replay(status, body) if replayed else _created(body)


@api.route(
    "POST",
    "/api/v1/bookings:bulk",
    summary="Import bookings",
    tag="bookings",
    permission=BOOK,
    body=BulkRequest,
    query=BulkQuery,
    response=BookingBulkResponse,
)
async def bulk_bookings(call: Call[BulkRequest, BulkQuery]) -> web.Response:
    """Create, change or cancel up to 1,000 bookings named by ``id``, ``external_id``, or room
    and start, each checked like a single booking; ``dry_run=true`` changes nothing."""
    result = await bulk.import_bookings(
        call.db,
        call.user,
        call.body.rows,
        call.request.app[BOOKING_POLICY],
        dry_run=call.query.dry_run,
    )
    return json_response(result)


def _created(view: BookingPublic) -> web.Response:
    return json_response(view, status=201, headers=_booking_headers(view.id, view.version))


def _booking_headers(booking_id: object, version: int) -> dict[str, str]:
    """The ``ETag`` and ``Location`` of a booking just made."""
    return {**etag(version), "Location": f"/api/v1/bookings/{booking_id}"}


def _replay(status: int, body: Any) -> web.Response:
    """The stored answer to an ``Idempotency-Key``, with the headers the first one had."""
    headers = {"Idempotent-Replayed": "true"}
    if status == 201:
        headers |= _booking_headers(body["id"], body["version"])
    response = json_response(body, status=status, headers=headers)
    if status >= 400:
        response.content_type = PROBLEM_JSON
    return response


@api.route(
    "GET",
    "/api/v1/bookings",
    summary="List bookings",
    tag="bookings",
    permission=READ,
    query=BookingQuery,
    response=Page[BookingPublic],
)
async def list_bookings(call: Call[None, BookingQuery]) -> web.Response:
    async with call.db.read() as session:
        return json_response(await bookings.list_bookings(session, call.query, call.user))


@api.route(
    "GET",
    "/api/v1/bookings/{booking_id}",
    summary="Read a booking",
    tag="bookings",
    permission=READ,
    response=BookingPublic,
)
async def read_booking(call: Call[None, None]) -> web.Response:
    booking_id = bookings.parse_booking_id(call.request.match_info["booking_id"])
    async with call.db.read() as session:
        view = await bookings.read_booking(session, booking_id, call.user)
    return json_response(view, headers=etag(view.version))


@api.route(
    "PATCH",
    "/api/v1/bookings/{booking_id}",
    summary="Change a booking",
    tag="bookings",
    permission=BOOK,
    body=BookingUpdate,
    query=ScopeQuery,
    response=BookingPublic,
    conditional=True,
)
async def update_booking(call: Call[BookingUpdate, ScopeQuery]) -> web.Response:
    """With ``scope=following`` or ``all``, a move shifts each occurrence of the series alike."""
    booking_id = bookings.parse_booking_id(call.request.match_info["booking_id"])
    version, policy = call.if_match(), call.request.app[BOOKING_POLICY]
    view = await writing(
        call.db,
        lambda session: bookings.update_booking(
            session, call.user, booking_id, call.body, version, call.query.scope, policy
        ),
    )
    return json_response(view, headers=etag(view.version))


@api.route(
    "DELETE",
    "/api/v1/bookings/{booking_id}",
    summary="Cancel a booking",
    tag="bookings",
    permission=BOOK,
    query=ScopeQuery,
    response=dict[str, list[BookingPublic]],
    conditional=True,
)
async def cancel_booking(call: Call[None, ScopeQuery]) -> web.Response:
    """Cancelled bookings are kept (status ``cancelled``); the answer lists every one cancelled."""
    booking_id = bookings.parse_booking_id(call.request.match_info["booking_id"])
    version = call.if_match()
    cancelled = await writing(
        call.db,
        lambda session: bookings.cancel_booking(
            session, call.user, booking_id, version, call.query.scope
        ),
    )
    return json_response({"cancelled": cancelled})


@api.route(
    "POST",
    "/api/v1/series",
    summary="Book a recurring series",
    tag="bookings",
    permission=BOOK,
    body=SeriesCreate,
    response=SeriesResult,
    status=201,
)
async def create_series(call: Call[SeriesCreate, None]) -> web.Response:
    """``on_conflict=fail`` books nothing if any date clashes; ``skip`` books the rest."""
    policy = call.request.app[BOOKING_POLICY]
    result = await writing(
        call.db, lambda session: series.create_series(session, call.user, call.body, policy)
    )
    headers = {"Location": f"/api/v1/series/{result.series.id}"}
    return json_response(result, status=201, headers=headers)


@api.route(
    "GET",
    "/api/v1/series/{series_id}",
    summary="Read a series",
    tag="bookings",
    permission=READ,
    response=SeriesPublic,
)
async def read_series(call: Call[None, None]) -> web.Response:
    series_id = bookings.parse_booking_id(call.request.match_info["series_id"])
    async with call.db.read() as session:
        return json_response(await series.read_series(session, series_id, call.user))


@api.route(
    "GET",
    "/api/v1/series",
    summary="List every series as a record",
    tag="bookings",
    permission=Permission.IMPORT_TIMETABLE,
    query=ListQuery,
    response=Page[SeriesRecord],
)
async def list_series(call: Call[None, ListQuery]) -> web.Response:
    """Every series by id, with room, owner and term by name: what a campus export writes."""
    async with call.db.read() as session:
        return json_response(await series_records.list_series_records(session, call.query))


@api.route(
    "POST",
    "/api/v1/series:bulk",
    summary="Restore series records",
    tag="bookings",
    permission=Permission.IMPORT_TIMETABLE,
    body=BulkRequest,
    query=BulkQuery,
    response=BookingBulkResponse,
)
async def bulk_series(call: Call[BulkRequest, BulkQuery]) -> web.Response:
    """Create up to 1,000 series by id, records alone (their occurrences come as bookings that
    name them); an existing one is unchanged, or refused if it differs."""
    result = await series_records.import_series_records(
        call.db, call.body.rows, dry_run=call.query.dry_run
    )
    return json_response(result)


@api.route(
    "POST",
    "/api/v1/terms/{id}/timetable",
    summary="Import a term timetable",
    tag="bookings",
    permission=Permission.IMPORT_TIMETABLE,
    body=TimetableRequest,
    query=TimetableQuery,
    response=TimetableResult,
)
async def import_timetable(call: Call[TimetableRequest, TimetableQuery]) -> web.Response:
    """Each row becomes a weekly series over the term; ``dry_run=true`` changes nothing."""
    result = await series.import_timetable(
        call.db,
        call.user,
        call.path_id(),
        call.body.rows,
        call.request.app[BOOKING_POLICY],
        dry_run=call.query.dry_run,
    )
    return json_response(result)


@api.route(
    "GET",
    "/api/v1/terms/{id}/timetable",
    summary="List a term's timetable",
    tag="bookings",
    permission=READ,
    query=ListQuery,
    response=Page[TimetableEntry],
)
async def list_timetable(call: Call[None, ListQuery]) -> web.Response:
    """The term's timetable as it was imported, one row per weekly course session."""
    async with call.db.read() as session:
        return json_response(await series.list_timetable(session, call.path_id(), call.query))


@api.route(
    "POST",
    "/api/v1/blackouts",
    summary="Close a room or building",
    tag="blackouts",
    permission=Permission.MANAGE_BLACKOUTS,
    body=BlackoutCreate,
    response=BlackoutResult,
    status=201,
    scoped=True,
)
async def create_blackout(call: Call[BlackoutCreate, None]) -> web.Response:
    """Bookings inside the blackout are listed in the answer; they are not cancelled. A
    building's managers close its rooms or the whole building."""
    result = await blackouts.create_blackout(
        call.db, call.user, call.body, check=partial(call.require_in, Permission.MANAGE_BLACKOUTS)
    )
    headers = {"Location": f"/api/v1/blackouts/{result.blackout.id}"}
    return json_response(result, status=201, headers=headers)


@api.route(
    "GET",
    "/api/v1/blackouts",
    summary="List blackouts",
    tag="blackouts",
    permission=READ,
    query=BlackoutQuery,
    response=Page[BlackoutPublic],
)
async def list_blackouts(call: Call[None, BlackoutQuery]) -> web.Response:
    async with call.db.read() as session:
        return json_response(await blackouts.list_blackouts(session, call.query))


@api.route(
    "DELETE",
    "/api/v1/blackouts/{id}",
    summary="Remove a blackout",
    tag="blackouts",
    permission=Permission.MANAGE_BLACKOUTS,
    status=204,
    scoped=True,
)
async def delete_blackout(call: Call[None, None]) -> web.Response:
    """A building's managers remove closures of it or of its rooms."""
    async with call.db.write() as session:
        where = await scope.blackout_where(session, call.path_id())
        if where is not None:  # no such blackout: 404 as for anyone
            call.require_in(Permission.MANAGE_BLACKOUTS, where)
        await blackouts.delete_blackout(session, call.path_id())
    return web.Response(status=204)
