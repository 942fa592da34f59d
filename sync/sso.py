"""Campus sign-in from the CLI and the TUI: the OpenID Connect device flow where the provider
offers it, else the authorization code flow with PKCE and a one-shot loopback redirect; the
server exchanges what the person brings back for a Compax token (docs/sign-in.md).

Either way ends with the token answer ``POST /api/v1/auth/token`` gives for a password.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import os
import secrets
import sys
import threading
import time
import webbrowser
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, TypeVar
from urllib.parse import parse_qs, urlencode, urlsplit

from pydantic import BaseModel, ValidationError

from sync.errors import (
    AuthorizationPending,
    CompaxError,
    NotAuthenticated,
    RemoteProblem,
    Unavailable,
    ValidationFailed,
)
from sync.http import Http, connect
from sync.sso_schemas import DeviceAuthorization, OidcClient, SignInMethods

M = TypeVar("M", bound=BaseModel)

#: How long the loopback flow waits for the browser to come back.
LOOPBACK_WAIT_SECONDS = 300
#: The path of the loopback redirect URI.
CALLBACK_PATH = "/callback"
#: How often a wait looks whether the person cancelled it.
_CANCEL_CHECK_SECONDS = 0.2
#: How long the loopback listener waits for each line of a browser's request.
_LINE_SECONDS = 5.0
#: How many header lines the loopback listener reads of one request.
_MOST_HEADER_LINES = 100

_RETURNED_PAGE = (
    "<!doctype html><title>Compax</title><p>Compax has your sign-in. "
    "You can close this window and go back to Compax.</p>"
)


class NoCampusSignIn(CompaxError):
    """The server has no OpenID Connect provider configured."""

    type = "no-campus-sign-in"
    status = 0
    title = "No campus sign-in here"


class SignInCancelled(CompaxError):
    """The person stopped waiting for a campus sign-in."""

    type = "sign-in-cancelled"
    status = 0
    title = "Sign-in cancelled"


@dataclass(frozen=True)
class BrowserStep:
    """What the person does in a browser: open ``url``, and enter ``user_code`` there when
    there is one (device flow); ``direct_url`` skips typing the code."""

    url: str
    user_code: str | None = None
    direct_url: str | None = None
    browser_opened: bool = False


Show = Callable[[BrowserStep], object]
Cancelled = Callable[[], bool]


def never() -> bool:
    """A sign-in nobody cancels but by interrupting the process."""
    return False


async def sign_in_methods(
    server: str, *, client: str | None = None, attempts: int = 5
) -> SignInMethods:
    """How people sign in on ``server`` (``GET /api/v1/auth/methods``), asking up to
    ``attempts`` times while it cannot be reached."""
    async with connect(server, client=client) as http:
        http.attempts = attempts
        return await _methods(http)


async def campus_token(
    server: str,
    *,
    show: Show,
    browser: bool = False,
    port: int = 0,
    cancelled: Cancelled = never,
    client: str | None = None,
) -> dict[str, Any]:
    """A Compax token for whoever signs in at the campus provider: the device flow when the
    provider offers it and ``browser`` is false, else the loopback redirect to ``port`` (0:
    a free one). ``show`` is told what to do in the browser; ``cancelled`` is asked while
    waiting."""
    async with connect(server, client=client) as http:
        oidc = (await _methods(http)).oidc
        if oidc is None:
            raise NoCampusSignIn(
                f"{server} has no campus sign-in configured; sign in with your username and "
                "password instead"
            )
        if oidc.device_flow and not browser:
            return await _device_flow(http, show, cancelled)
        if not oidc.authorization_endpoint:
            raise Unavailable(
                f"The campus sign-in provider of {server} cannot be reached now; try again "
                "later, or sign in with your username and password"
            )
        return await _loopback_flow(http, oidc, port, show, cancelled)


async def _methods(http: Http) -> SignInMethods:
    return _read(SignInMethods, await http.request("GET", "/api/v1/auth/methods"), http)


def _read(model: type[M], answer: Any, http: Http) -> M:
    """The server's ``answer`` as ``model``, or a ``CompaxError`` saying it cannot be read
    (a server that is not Compax, or a newer one)."""
    try:
        return model.model_validate(answer)
    except ValidationError as exc:
        raise CompaxError(
            f"{http.base_url} answered something that is not a Compax {model.__name__} "
            f"({exc.error_count()} wrong fields); is it a Compax server of this version?"
        ) from None


async def _device_flow(http: Http, show: Show, cancelled: Cancelled) -> dict[str, Any]:
    """RFC 8628 through the server: begin, show the code, poll at the interval asked."""
    begun = _read(DeviceAuthorization, await http.request("POST", "/api/v1/auth/oidc/device"), http)
    show(BrowserStep(begun.verification_uri, begun.user_code, begun.verification_uri_complete))
    deadline = time.monotonic() + begun.expires_in
    interval = max(begun.interval, 1)
    while True:
        await _pause(interval, cancelled)
        if time.monotonic() >= deadline:
            raise NotAuthenticated(
                f"The code {begun.user_code} expired before the sign-in was finished; "
                "start again for a new one"
            )
        try:
            answer = await http.request(
                "POST", "/api/v1/auth/oidc/device/token", json={"device_code": begun.device_code}
            )
        except RemoteProblem as problem:
            if problem.type != AuthorizationPending.type:
                raise
            asked = problem.extra.get("interval")
            if isinstance(asked, int) and not isinstance(asked, bool) and asked > 0:
                interval = asked
        else:
            return dict(answer)


@dataclass(frozen=True)
class PkceRequest:
    """One authorization request's secrets: the PKCE verifier (RFC 7636), state and nonce."""

    verifier: str
    state: str
    nonce: str

    @classmethod
    def new(cls) -> PkceRequest:
        return cls(secrets.token_urlsafe(48), secrets.token_urlsafe(24), secrets.token_urlsafe(24))

    @property
    def challenge(self) -> str:
        """The S256 code challenge of the verifier."""
        digest = hashlib.sha256(self.verifier.encode("ascii")).digest()
        return base64.urlsafe_b64encode(digest).rstrip(b"=").decode("ascii")

    def authorization_url(self, oidc: OidcClient, redirect_uri: str) -> str:
        """Where the browser goes to sign in, asking for a code sent to ``redirect_uri``."""
        query = urlencode(
            {
                "response_type": "code",
                "client_id": oidc.client_id,
                "redirect_uri": redirect_uri,
                "scope": " ".join(dict.fromkeys(["openid", *oidc.scopes])),
                "state": self.state,
                "nonce": self.nonce,
                "code_challenge": self.challenge,
                "code_challenge_method": "S256",
            }
        )
        joiner = "&" if urlsplit(oidc.authorization_endpoint).query else "?"
        return f"{oidc.authorization_endpoint}{joiner}{query}"


async def _loopback_flow(
    http: Http, oidc: OidcClient, port: int, show: Show, cancelled: Cancelled
) -> dict[str, Any]:
    """The code flow with PKCE, its redirect caught by a one-shot server on 127.0.0.1."""
    request = PkceRequest.new()
    returned: asyncio.Future[dict[str, str]] = asyncio.get_running_loop().create_future()
    connections: set[asyncio.StreamWriter] = set()
    try:
        callback = await asyncio.start_server(
            lambda reader, writer: _answer_callback(
                reader, writer, request.state, returned, connections
            ),
            "127.0.0.1",
            port,
        )
    except OSError as exc:
        raise ValidationFailed.single(
            "port", f"cannot listen on 127.0.0.1:{port} ({exc.strerror or exc})"
        ) from None
    try:
        redirect_uri = f"http://127.0.0.1:{callback.sockets[0].getsockname()[1]}{CALLBACK_PATH}"
        url = request.authorization_url(oidc, redirect_uri)
        show(BrowserStep(url, browser_opened=_open_browser(url)))
        query = await _outcome(returned, LOOPBACK_WAIT_SECONDS, cancelled)
    finally:
        callback.close()
        for writer in list(connections):
            writer.close()
    if "error" in query:
        why = query.get("error_description") or query["error"]
        raise NotAuthenticated(f"The campus sign-in provider refused the sign-in: {why}")
    exchange = {
        "code": query.get("code", ""),
        "code_verifier": request.verifier,
        "redirect_uri": redirect_uri,
        "nonce": request.nonce,
    }
    return dict(await http.request("POST", "/api/v1/auth/oidc/token", json=exchange))


async def _answer_callback(
    reader: asyncio.StreamReader,
    writer: asyncio.StreamWriter,
    state: str,
    returned: asyncio.Future[dict[str, str]],
    connections: set[asyncio.StreamWriter],
) -> None:
    """Answer one browser request: the redirect with this request's ``state`` settles
    ``returned``; anything else is told it is not found, and a connection that sends no
    request in time (a browser's preconnect) is closed."""
    connections.add(writer)
    try:
        request_line = (await _line(reader)).decode("latin-1").split()
        for _ in range(_MOST_HEADER_LINES):
            if not (await _line(reader)).strip():
                break
        target = urlsplit(request_line[1]) if len(request_line) >= 2 else None
        query = {k: v[0] for k, v in parse_qs(target.query).items()} if target else {}
        ours = target is not None and target.path == CALLBACK_PATH and query.get("state") == state
        status = "200 OK" if ours else "404 Not Found"
        body = _RETURNED_PAGE if ours else "Not a Compax sign-in"
        writer.write(
            f"HTTP/1.1 {status}\r\nContent-Type: text/html; charset=utf-8\r\n"
            f"Content-Length: {len(body.encode())}\r\nConnection: close\r\n\r\n{body}".encode()
        )
        await writer.drain()
        if ours and not returned.done():
            returned.set_result(query)
    except (OSError, UnicodeError, ValueError, TimeoutError):
        pass  # a broken or silent request from the browser: the person can try the link again
    finally:
        connections.discard(writer)
        writer.close()


async def _line(reader: asyncio.StreamReader) -> bytes:
    """One line of a browser's request, or ``TimeoutError`` when it does not come soon."""
    return await asyncio.wait_for(reader.readline(), _LINE_SECONDS)


async def _outcome(
    returned: asyncio.Future[dict[str, str]], seconds: float, cancelled: Cancelled
) -> dict[str, str]:
    """The redirect's query, once the browser brings it within ``seconds``."""
    deadline = time.monotonic() + seconds
    while not returned.done():
        if cancelled():
            raise SignInCancelled("Campus sign-in cancelled")
        if time.monotonic() >= deadline:
            raise NotAuthenticated(
                f"The browser did not come back within {seconds // 60:.0f} minutes; start again"
            )
        await asyncio.wait({returned}, timeout=_CANCEL_CHECK_SECONDS)
    return returned.result()


async def _pause(seconds: float, cancelled: Cancelled) -> None:
    """Sleep ``seconds``, stopping early with ``SignInCancelled`` once ``cancelled``."""
    end = time.monotonic() + seconds
    while (left := end - time.monotonic()) > 0:
        if cancelled():
            raise SignInCancelled("Campus sign-in cancelled")
        await asyncio.sleep(min(left, _CANCEL_CHECK_SECONDS))
    if cancelled():
        raise SignInCancelled("Campus sign-in cancelled")


def _open_browser(url: str) -> bool:
    """Ask for ``url`` in a browser where there is one: a desktop, or one named in
    ``BROWSER``; a terminal alone gets the URL printed rather than a text browser taking it
    over. The browser is started from a thread of its own, as a browser command may only
    return when its window closes."""
    desktop = sys.platform in ("darwin", "win32") or bool(
        os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY")
    )
    if not (desktop or os.environ.get("BROWSER")):
        return False
    threading.Thread(target=webbrowser.open, args=(url,), daemon=True).start()
    return True
