"""Health check for load balancers, Prometheus metrics and the OpenAPI document."""

from __future__ import annotations

import hmac
from importlib.metadata import version
from typing import Any

from aiohttp import web

from compax_server.api import Api, Call, json_response
from compax_server.jobs.queue import JobContext
from compax_server.jobs.runner import census
from compax_server.keys import BOOKING_POLICY, DATABASE, ENDPOINTS, METRICS
from compax_server.openapi import build_openapi
from sync.errors import NotAuthenticated, NotFound, Unavailable
from sync.permissions import Permission
from sync.schemas import CampusInfo

api = Api()
#: This server's release, read once: the package metadata is not free to read per request.
SERVER_VERSION = version("compax")


@api.route(
    "GET",
    "/health",
    summary="Check the server and its database",
    tag="system",
    public=True,
    response=dict[str, str],
)
async def health(call: Call[None, None]) -> web.Response:
    try:
        await call.request.app[DATABASE].ping()
    except Exception as exc:
        raise Unavailable(f"The database does not answer: {type(exc).__name__}") from exc
    return json_response({"status": "ok", "database": "ok"})


@api.route(
    "GET",
    "/metrics",
    summary="Read the server's metrics",
    tag="system",
    public=True,
    media_types=("text/plain", "application/openmetrics-text"),
    errors=(401, 404),
)
async def metrics(call: Call[None, None]) -> web.Response:
    """Prometheus text format; needs ``Authorization: Bearer`` with ``COMPAX_METRICS_TOKEN``."""
    token = call.settings.metrics_token
    if token is None:
        raise NotFound("Metrics are off; set COMPAX_METRICS_TOKEN to serve them")
    scheme, _, given = call.request.headers.get("Authorization", "").partition(" ")
    expected = token.get_secret_value().encode()
    if scheme.lower() != "bearer" or not hmac.compare_digest(given.strip().encode(), expected):
        raise NotAuthenticated("Send Authorization: Bearer <COMPAX_METRICS_TOKEN>")
    app = call.request.app
    app[METRICS].sample_pool(app[DATABASE].engine)
    jobs = JobContext(app[DATABASE], call.settings, app[BOOKING_POLICY])
    app[METRICS].sample_jobs(await census(jobs))
    body, content_type = app[METRICS].render(call.request.headers.get("Accept"))
    return web.Response(body=body, headers={"Content-Type": content_type})


@api.route(
    "GET",
    "/api/v1/campus",
    summary="Read the campus time zone and booking rules",
    tag="system",
    permission=Permission.READ_CAMPUS,
    response=CampusInfo,
)
async def campus(call: Call[None, None]) -> web.Response:
    """The defaults rooms fall back on; clients use them to check bookings offline."""
    rules, checkin = call.settings.campus_rules(), call.settings.checkin_rules()
    return json_response(
        CampusInfo(
            timezone=call.settings.timezone,
            opening_hours=rules.opening_hours,
            min_duration_minutes=rules.min_duration_minutes,
            max_duration_minutes=rules.max_duration_minutes,
            max_days_ahead=rules.max_days_ahead,
            min_notice_minutes=rules.min_notice_minutes,
            checkin_required=checkin.required,
            checkin_opens_minutes=checkin.opens_minutes,
            checkin_closes_minutes=checkin.closes_minutes,
            server_version=SERVER_VERSION,
        )
    )


@api.route(
    "GET",
    "/api/v1/openapi.json",
    summary="Describe the API",
    tag="system",
    public=True,
    response=dict[str, Any],
)
async def openapi(call: Call[None, None]) -> web.Response:
    return json_response(build_openapi(call.request.app[ENDPOINTS], SERVER_VERSION))
