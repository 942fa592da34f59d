"""The HTTP connection level, below the app: a request aiohttp's parser refuses is answered
with problem+json like every other error, and no answer names the server's software."""

from __future__ import annotations

from typing import Any

from aiohttp import hdrs, web
from aiohttp.http_exceptions import HttpProcessingError
from aiohttp.web_protocol import RequestHandler
from aiohttp.web_request import BaseRequest

from compax_server.problems import problem_from_parse_error


async def drop_server_header(_request: web.Request, response: web.StreamResponse) -> None:
    """``on_response_prepare``: take out the ``Server`` header aiohttp adds to each answer,
    which tells a scanner the exact Python and aiohttp versions to aim at."""
    response.headers.popall(hdrs.SERVER, None)


class _ParseErrorResponse(web.Response):
    """A problem answered where the app's signals do not run, so it takes its own ``Server``
    header out once aiohttp has added it."""

    async def _prepare_headers(self) -> None:
        await super()._prepare_headers()
        self.headers.popall(hdrs.SERVER, None)


class ProblemRequestHandler(RequestHandler):
    """aiohttp's connection handler, answering the requests it cannot parse as problems."""

    def handle_error(
        self,
        request: BaseRequest,
        status: int = 500,
        exc: BaseException | None = None,
        message: str | None = None,
    ) -> web.StreamResponse:
        """aiohttp's own handling (it logs, and refuses once an answer has begun), with the
        plain-text answer it builds replaced by a problem."""
        super().handle_error(request, status, exc, message)
        response = problem_from_parse_error(status, message, _ParseErrorResponse)
        response.force_close()
        return response

    def log_exception(self, *args: Any, **kw: Any) -> None:
        """A request the parser refuses is the client's doing: one warning line without a
        traceback, so that a stream of them cannot bury the log; anything else as aiohttp
        logs it."""
        refused = kw.get("exc_info")
        if isinstance(refused, HttpProcessingError) and refused.code < 500:
            self.logger.warning("refused a malformed request: %s", refused.message[:200])
            return
        super().log_exception(*args, **kw)


class ProblemServer(web.Server):
    """aiohttp's low-level server, whose connections are ``ProblemRequestHandler``s, made as
    its own ``RequestHandler``s are."""

    def __call__(self) -> RequestHandler:
        return ProblemRequestHandler(self, loop=self._loop, **self._kwargs)


class AppRunner(web.AppRunner):
    """``web.AppRunner`` serving through a ``ProblemServer``.

    aiohttp builds its server from the app's handler, request factory and settings in
    ``_make_server``; that server is kept as it is, as a ``ProblemServer``, which differs
    only in the connection handler it makes.
    """

    async def _make_server(self) -> web.Server:
        server = await super()._make_server()
        server.__class__ = ProblemServer
        return server
