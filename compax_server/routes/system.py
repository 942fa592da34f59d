"""Health check for load balancers and the OpenAPI document."""

from __future__ import annotations

from importlib.metadata import version

from aiohttp import web

from compax_server.api import Api, Call, json_response
from compax_server.keys import DATABASE, ENDPOINTS
from compax_server.openapi import build_openapi
from sync.errors import Unavailable
from sync.permissions import Permission
from sync.schemas import CampusInfo

api = Api()


@api.route("GET", "/health", summary="Check the server and its database", tag="system", public=True)
async def health(call: Call[None, None]) -> web.Response:
    try:
        await call.request.app[DATABASE].ping()
    except Exception as exc:
        raise Unavailable(f"The database does not answer: {type(exc).__name__}") from exc
    return json_response({"status": "ok", "database": "ok"})


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
    rules = call.settings.campus_rules()
    return json_response(
        CampusInfo(
            timezone=call.settings.timezone,
            opening_hours=rules.opening_hours,
            min_duration_minutes=rules.min_duration_minutes,
            max_duration_minutes=rules.max_duration_minutes,
            max_days_ahead=rules.max_days_ahead,
            min_notice_minutes=rules.min_notice_minutes,
            server_version=version("compax"),
        )
    )


@api.route("GET", "/api/v1/openapi.json", summary="Describe the API", tag="system", public=True)
async def openapi(call: Call[None, None]) -> web.Response:
    return json_response(build_openapi(call.request.app[ENDPOINTS], version("compax")))
