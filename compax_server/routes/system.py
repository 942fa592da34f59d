"""Health check for load balancers and the OpenAPI document."""

from __future__ import annotations

from importlib.metadata import version

from aiohttp import web

from compax_server.api import Api, Call, json_response
from compax_server.keys import DATABASE, ENDPOINTS
from compax_server.openapi import build_openapi
from sync.errors import Unavailable

api = Api()


@api.route("GET", "/health", summary="Check the server and its database", tag="system", public=True)
async def health(call: Call[None, None]) -> web.Response:
    try:
        await call.request.app[DATABASE].ping()
    except Exception as exc:
        raise Unavailable(f"The database does not answer: {type(exc).__name__}") from exc
    return json_response({"status": "ok", "database": "ok"})


@api.route(
    "GET", "/api/v1/openapi.json", summary="Describe the API", tag="system", public=True
)
async def openapi(call: Call[None, None]) -> web.Response:
    return json_response(build_openapi(call.request.app[ENDPOINTS], version("compax")))
