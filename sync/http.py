"""The HTTP client of the clients: JSON in, JSON out, problems raised as domain errors.

Network errors and 502, 503 and 504 answers are retried with exponential backoff and full
jitter (honouring ``Retry-After``); everything else is answered at once. A server still
unreachable, or a gateway still answering 502-504, after the last attempt is ``Unreachable``:
the change was not made, and queued changes stay queued.

aiohttp is imported when the first connection is made, not with this module: the engine
imports it, and offline work (the TUI's first screen, local reads) should not wait for it.
"""

from __future__ import annotations

import asyncio
import json as json_module
import random
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from sync.errors import CompaxError, RemoteProblem, Unreachable, ValidationFailed

if TYPE_CHECKING:
    import aiohttp

RETRIED_STATUSES = frozenset({502, 503, 504})


def server_url(text: str, option: str = "server") -> str:
    """A server's base URL as written (``https://rooms.example.edu``), or ``host:port`` taken
    as plain HTTP; anything else is refused, naming ``option``."""
    given = text.strip()
    if "://" not in given:
        given = f"http://{given}"
    wrong = f"{text!r} is not a server address; give http(s)://HOST[:PORT] or HOST:PORT"
    try:
        parts = urlsplit(given)
        port = parts.port
    except ValueError:
        raise ValidationFailed.single(option, wrong) from None
    if (
        parts.scheme not in ("http", "https")
        or not parts.hostname
        or parts.query
        or parts.fragment
        or (port is None and "://" not in text)
    ):
        raise ValidationFailed.single(option, wrong)
    return given.rstrip("/")


class Http:
    """Calls to one Compax server, with the caller's bearer token when there is one."""

    def __init__(
        self,
        session: aiohttp.ClientSession,
        base_url: str,
        token: str | None = None,
        *,
        client: str | None = None,
        attempts: int = 5,
        base_delay: float = 0.2,
        max_delay: float = 5.0,
    ) -> None:
        self._session = session
        self.base_url = base_url.rstrip("/")
        self.token = token
        self.client = client
        self.attempts = attempts
        self.base_delay = base_delay
        self.max_delay = max_delay

    async def request(
        self,
        method: str,
        path: str,
        *,
        json: Any = None,
        params: dict[str, Any] | None = None,
        headers: dict[str, str] | None = None,
        decode: Callable[[bytes], Any] = json_module.loads,
    ) -> Any:
        """The JSON answer as ``decode`` reads it (``None`` for 204), or the domain error the
        server named."""
        import aiohttp

        all_headers = dict(headers or {})
        if self.token:
            all_headers["Authorization"] = f"Bearer {self.token}"
        if self.client:
            all_headers["X-Compax-Client"] = self.client
        query = {k: str(v) for k, v in (params or {}).items() if v is not None}
        for attempt in range(1, self.attempts + 1):
            try:
                async with self._session.request(
                    method, self.base_url + path, json=json, params=query, headers=all_headers
                ) as response:
                    if response.status in RETRIED_STATUSES and attempt < self.attempts:
                        await self._wait(attempt, response.headers.get("Retry-After"))
                        continue
                    return await _decode(response, decode)
            except aiohttp.InvalidURL:
                raise ValidationFailed.single(
                    "server", f"{self.base_url!r} is not a server address"
                ) from None
            except (aiohttp.ClientConnectionError, TimeoutError) as exc:
                if attempt == self.attempts:
                    where = urlsplit(self.base_url).netloc or self.base_url
                    raise Unreachable(f"Cannot reach {where}: {_in_words(exc)}") from None
                await self._wait(attempt, None)
        raise AssertionError("unreachable")  # pragma: no cover

    async def _wait(self, attempt: int, retry_after: str | None) -> None:
        delay = random.uniform(0, min(self.max_delay, self.base_delay * 2 ** (attempt - 1)))  # noqa: S311
        if retry_after and retry_after.isdigit():
            delay = max(delay, min(float(retry_after), self.max_delay))
        await asyncio.sleep(delay)


def _in_words(failure: BaseException) -> str:
    """Why a connection failed, for people rather than for the programmer who wrote it."""
    import aiohttp

    if isinstance(failure, TimeoutError | aiohttp.ServerTimeoutError):
        return "no answer in time"
    if isinstance(failure, aiohttp.ClientConnectorDNSError):
        return "no computer has that name"
    if isinstance(failure, aiohttp.ClientConnectorCertificateError):
        return "its certificate is not one this computer trusts"
    if isinstance(failure, aiohttp.ClientSSLError):
        return "a secure connection could not be made"
    if isinstance(failure, aiohttp.ClientConnectorError):
        return "nothing answers there"
    if isinstance(failure, aiohttp.ServerDisconnectedError):
        return "the server closed the connection"
    return "the connection failed"


async def _decode(response: aiohttp.ClientResponse, decode: Callable[[bytes], Any]) -> Any:
    if response.status == 204:
        return None
    body = await response.read()
    is_json = response.content_type in ("application/json", "application/problem+json")
    if response.status in RETRIED_STATUSES:
        problem = json_module.loads(body) if is_json else None
        why = problem.get("detail") if isinstance(problem, dict) else None
        raise Unreachable(
            f"{response.url.origin()} answered {response.status} {why or response.reason}"
        )
    if response.status >= 400:
        problem = json_module.loads(body) if is_json else None
        if isinstance(problem, dict) and "type" in problem:
            raise RemoteProblem(problem)
        raise CompaxError(f"The server answered {response.status} {response.reason}")
    return decode(body) if is_json else body


@asynccontextmanager
async def connect(
    base_url: str,
    token: str | None = None,
    timeout: float = 30,  # noqa: ASYNC109 (the session's ClientTimeout, not a deadline for this call)
    client: str | None = None,
) -> AsyncIterator[Http]:
    """An ``Http`` with its own connection pool, closed when the block ends; ``client`` names
    the front end in ``X-Compax-Client`` (the audit trail records it)."""
    import aiohttp

    client_timeout = aiohttp.ClientTimeout(total=timeout, connect=min(timeout, 10))
    async with aiohttp.ClientSession(timeout=client_timeout) as session:
        yield Http(session, base_url, token, client=client)
