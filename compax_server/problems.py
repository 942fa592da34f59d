"""The one helper that builds every error body: RFC 9457 ``application/problem+json``."""

from __future__ import annotations

from typing import Any

from aiohttp import web
from pydantic_core import to_json

from sync.errors import CompaxError, NotAuthenticated, RateLimited, Unavailable

PROBLEM_JSON = "application/problem+json"

#: Problem types for failures that aiohttp raises before a handler runs.
_HTTP_TYPES: dict[int, tuple[str, str]] = {
    400: ("bad-request", "Bad request"),
    401: ("unauthorized", "Authentication required"),
    403: ("forbidden", "Not allowed"),
    404: ("not-found", "Not found"),
    405: ("method-not-allowed", "Method not allowed"),
    413: ("payload-too-large", "Request body too large"),
    415: ("unsupported-media-type", "Unsupported media type"),
    500: ("internal", "Internal server error"),
    503: ("unavailable", "Service unavailable"),
}


def problem(
    request: web.Request,
    status: int,
    type_: str,
    title: str,
    detail: str,
    *,
    headers: dict[str, str] | None = None,
    **extra: Any,
) -> web.Response:
    """An RFC 9457 problem response; ``extra`` members (``errors``, ``current``…) are added."""
    return problem_response(
        status, type_, title, detail, instance=request.path, headers=headers, **extra
    )


def problem_response(
    status: int,
    type_: str,
    title: str,
    detail: str,
    *,
    instance: str | None,
    headers: dict[str, str] | None = None,
    response_class: type[web.Response] = web.Response,
    **extra: Any,
) -> web.Response:
    """The problem response itself; ``instance`` is left out when no path is known (a request
    that could not be parsed)."""
    body: dict[str, Any] = {"type": type_, "title": title, "status": status, "detail": detail}
    if instance is not None:
        body["instance"] = instance
    return response_class(
        body=to_json({**body, **extra}),
        status=status,
        content_type=PROBLEM_JSON,
        headers=headers,
    )


def problem_from_parse_error(
    status: int, message: str | None, response_class: type[web.Response]
) -> web.Response:
    """The problem for a request the app never answered: one aiohttp's HTTP parser refused
    (a bad request line, oversized or malformed headers, bad chunking…), whose ``message``
    is the parser's, or with 500 one that failed outside the app, whose message is not shown."""
    type_, title = _HTTP_TYPES.get(status, ("http-error", "HTTP error"))
    detail = message if status < 500 and message else title
    return problem_response(
        status, type_, title, detail, instance=None, response_class=response_class
    )


def problem_body(error: CompaxError, instance: str) -> dict[str, Any]:
    """The problem object of a domain error, as stored for idempotent replays."""
    return {
        "type": error.type,
        "title": error.title,
        "status": error.status,
        "detail": error.detail,
        "instance": instance,
        **error.extra,
    }


def problem_from_error(request: web.Request, error: CompaxError) -> web.Response:
    headers: dict[str, str] = {}
    if isinstance(error, RateLimited | Unavailable):
        headers["Retry-After"] = str(error.retry_after)
    if isinstance(error, NotAuthenticated):
        headers["WWW-Authenticate"] = 'Bearer realm="compax"'
    return problem(
        request, error.status, error.type, error.title, error.detail, headers=headers, **error.extra
    )


def problem_from_http(request: web.Request, error: web.HTTPException) -> web.Response:
    type_, title = _HTTP_TYPES.get(error.status, ("http-error", error.reason))
    detail = {
        404: f"No resource at {request.path}",
        405: f"{request.method} is not allowed on {request.path}",
        413: "The request body is larger than the server accepts",
    }.get(error.status, error.text or title)
    headers = {k: v for k, v in error.headers.items() if k in ("Allow", "Retry-After")}
    return problem(request, error.status, type_, title, detail, headers=headers)
