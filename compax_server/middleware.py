"""Middlewares: proxy headers, metrics, request ids and access logs, CORS, security headers,
and errors as problems."""

from __future__ import annotations

import logging
import random
import time

from aiohttp import web
from aiohttp.typedefs import Handler
from sqlalchemy.exc import DBAPIError

from compax_server.auth import from_trusted_proxy
from compax_server.keys import DATABASE, METRICS, PROBLEM_TYPE, SETTINGS
from compax_server.logs import request_id
from compax_server.problems import problem, problem_from_error, problem_from_http
from compax_server.services.common import database_unavailable, sqlstate
from sync.errors import CompaxError, Unavailable

access_log = logging.getLogger("compax.access")
error_log = logging.getLogger("compax.error")

_SECURITY_HEADERS = {
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "no-referrer",
    "Content-Security-Policy": "default-src 'none'; frame-ancestors 'none'",
    "Cross-Origin-Resource-Policy": "same-origin",
}
_CORS_HEADERS = "Authorization, Content-Type, If-Match, Idempotency-Key, X-Request-Id"
_CORS_METHODS = "GET, POST, PATCH, PUT, DELETE, OPTIONS"
#: The endpoints whose answers count as bookings created or rejected (channel ``rest``).
_BOOKING_ENDPOINTS = frozenset({"create_booking"})


@web.middleware
async def forwarded_scheme(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Behind a trusted proxy that ended TLS, the request is the HTTPS one the client sent.

    The proxy's ``X-Forwarded-Proto`` decides ``request.secure`` (and so HSTS) and the scheme
    of URLs the server builds; from anyone else the header is ignored.
    """
    proto = request.headers.get("X-Forwarded-Proto", "").strip().lower()
    if proto in ("http", "https") and proto != request.scheme and from_trusted_proxy(request):
        request = request.clone(scheme=proto)
    return await handler(request)


@web.middleware
async def measure(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Count the answer by route and status, time it, and note booking outcomes."""
    started = time.perf_counter()
    try:
        response = await handler(request)
    except web.HTTPException as answer:  # a redirect, raised past the problems middleware
        _observe(request, answer.status, started)
        raise
    except Exception:
        _observe(request, 500, started)
        raise
    _observe(request, response.status, started)
    return response


def _observe(request: web.Request, status: int, started: float) -> None:
    metrics = request.app[METRICS]
    route = request.match_info.route
    template = route.resource.canonical if route.resource is not None else "unmatched"
    metrics.count_request(request.method, template, status, time.perf_counter() - started)
    if route.name in _BOOKING_ENDPOINTS:
        problem_type = None if status < 300 else request.get(PROBLEM_TYPE, f"http-{status}")
        metrics.count_booking("rest", problem_type)
    if DATABASE in request.app:
        metrics.sample_pool(request.app[DATABASE].engine)


@web.middleware
async def request_context(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Give the request an id (the client's ``X-Request-Id`` if sane) and log its outcome."""
    given = request.headers.get("X-Request-Id", "")
    rid = given if 0 < len(given) <= 64 and given.isprintable() else _new_request_id()
    token = request_id.set(rid)
    started = time.perf_counter()
    try:
        response = await handler(request)
        response.headers["X-Request-Id"] = rid
        elapsed_ms = (time.perf_counter() - started) * 1000
        access_log.info(
            "%s %s %s %.1fms", request.method, request.path_qs, response.status, elapsed_ms
        )
        return response
    finally:
        request_id.reset(token)


def _new_request_id() -> str:
    """32 random hex digits, like a UUID4's, from the process's own generator: an id to find
    a request by in the logs needs no secrecy, and skips a system call per request."""
    return f"{random.getrandbits(128):032x}"


@web.middleware
async def problems(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Turn every failure into problem+json; the client never sees a trace or SQL."""
    try:
        return await handler(request)
    except CompaxError as error:
        return _problem(request, error)
    except web.HTTPException as error:
        if error.status < 400:
            raise
        if isinstance(error, web.HTTPMethodNotAllowed):
            error = await _allowed_here(request, error)
        return problem_from_http(request, error)
    except DBAPIError as error:
        if database_unavailable(error):
            error_log.warning(
                "database unavailable (SQLSTATE %s): %s", sqlstate(error), str(error.orig)[:300]
            )
            return _problem(
                request, Unavailable("The database is busy or unreachable; try again shortly")
            )
        error_log.exception("database error")
        return _internal(request)
    except OSError as error:
        error_log.warning("database connection failed: %s", error)
        return _problem(request, Unavailable("The database is unreachable"))
    except Exception:
        error_log.exception("unhandled error in %s %s", request.method, request.path)
        return _internal(request)


async def _allowed_here(
    request: web.Request, error: web.HTTPMethodNotAllowed
) -> web.HTTPMethodNotAllowed:
    """The 405 naming the methods of the first route whose path matches, as the document has
    them: aiohttp names those of every route that matches (``/rooms/free`` would offer the
    ``PATCH`` of ``/rooms/{id}``)."""
    path: str | None = None
    methods: set[str] = set()
    for resource in request.app.router.resources():
        _, allowed = await resource.resolve(request)
        if allowed and path in (None, resource.canonical):
            path = resource.canonical
            methods |= allowed
    return web.HTTPMethodNotAllowed(request.method, sorted(methods)) if methods else error


def _problem(request: web.Request, error: CompaxError) -> web.Response:
    request[PROBLEM_TYPE] = error.type
    return problem_from_error(request, error)


def _internal(request: web.Request) -> web.Response:
    return problem(
        request,
        500,
        "internal",
        "Internal server error",
        "Something went wrong on the server; it has been logged with this request's id",
    )


@web.middleware
async def security_headers(request: web.Request, handler: Handler) -> web.StreamResponse:
    response = await handler(request)
    for name, value in _SECURITY_HEADERS.items():
        response.headers.setdefault(name, value)
    if request.secure:
        response.headers.setdefault("Strict-Transport-Security", "max-age=31536000")
    return response


@web.middleware
async def cors(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Allow the configured origins only; answer preflights without touching a handler."""
    origin = request.headers.get("Origin")
    allowed = origin is not None and origin in request.app[SETTINGS].cors_origins
    preflight = request.method == "OPTIONS" and "Access-Control-Request-Method" in request.headers
    if preflight and allowed:
        response: web.StreamResponse = web.Response(status=204)
        response.headers["Access-Control-Allow-Methods"] = _CORS_METHODS
        response.headers["Access-Control-Allow-Headers"] = _CORS_HEADERS
        response.headers["Access-Control-Max-Age"] = "600"
    else:
        response = await handler(request)
    if allowed:
        response.headers["Access-Control-Allow-Origin"] = origin or ""
        response.headers["Access-Control-Expose-Headers"] = (
            "ETag, Location, Retry-After, X-Request-Id"
        )
        response.headers["Vary"] = "Origin"
    return response


#: Outermost first: the proxy's scheme is settled before anything reads it, metrics see every
#: answer, the request id covers everything else, problems wrap the handler closely.
MIDDLEWARES = (forwarded_scheme, measure, request_context, security_headers, cors, problems)
