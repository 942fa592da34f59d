"""Campus sign-in through the OpenID provider: which ways in a server offers, the web
frontend's code exchange and the device flow of the CLI and TUI (docs/sign-in.md)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from urllib.parse import urlsplit

from aiohttp import web

from compax_server.api import Api, Call, json_response
from compax_server.auth import client_address
from compax_server.directory.identity import DirectoryIdentity
from compax_server.directory.oidc import OpenIdProvider
from compax_server.keys import OPENID, SETTINGS, SIGN_IN
from compax_server.services.sign_in import SignIn
from compax_server.sign_in_settings import LocalSignIn, SignInSettings
from sync.errors import NotAuthenticated, SignInNotOffered, Unavailable, ValidationFailed
from sync.schemas import TokenResponse
from sync.sso_schemas import (
    DeviceAuthorization,
    DevicePoll,
    OidcClient,
    OidcCodeExchange,
    SignInMethods,
)

api = Api()

_LOOPBACK_HOSTS = frozenset({"127.0.0.1", "localhost", "::1"})
_NO_STORE = {"Cache-Control": "no-store"}


@api.route(
    "GET",
    "/api/v1/auth/methods",
    summary="List the ways to sign in",
    tag="auth",
    public=True,
    response=SignInMethods,
)
async def sign_in_methods(call: Call[None, None]) -> web.Response:
    """Passwords, LDAP, and what a front end needs to send a person to the OpenID provider;
    while the provider cannot be reached its ``authorization_endpoint`` is empty and
    ``device_flow`` false, and the password stays offered."""
    settings = call.request.app[SETTINGS]
    provider = call.request.app[OPENID]
    methods = SignInMethods(
        password=settings.local_sign_in is LocalSignIn.EVERYONE,
        ldap=settings.ldap_url is not None,
        oidc=await _client(provider, settings) if provider is not None else None,
    )
    return json_response(methods)


async def _client(provider: OpenIdProvider, settings: SignInSettings) -> OidcClient:
    try:
        discovery = await provider.discovery()
    except Unavailable:
        endpoint, device_flow = "", False
    else:
        endpoint = discovery.authorization_endpoint
        device_flow = provider.device_endpoint(discovery) is not None
    return OidcClient(
        issuer=provider.issuer,
        client_id=provider.client_id,
        authorization_endpoint=endpoint,
        scopes=provider.scopes,
        device_flow=device_flow,
        redirect_uris=settings.oidc_web_redirect_uris,
    )


@api.route(
    "POST",
    "/api/v1/auth/oidc/token",
    summary="Sign in with an OpenID authorization code",
    tag="auth",
    public=True,
    body=OidcCodeExchange,
    response=TokenResponse,
    errors=(403, 409),
)
async def oidc_token(call: Call[OidcCodeExchange, None]) -> web.Response:
    """The server redeems the code with the PKCE verifier at the provider, checks the ID
    token (signature, issuer, audience, times, nonce) and answers with a Compax token."""
    provider = _provider(call.request)
    exchange = call.body
    if not _redirect_allowed(exchange.redirect_uri, call.request.app[SETTINGS]):
        raise ValidationFailed.single(
            "redirect_uri",
            "is neither in COMPAX_OIDC_WEB_REDIRECT_URIS nor a loopback address "
            "(http://127.0.0.1:PORT/...)",
        )
    token = await _counted(
        call.request,
        lambda: provider.exchange_code(
            exchange.code, exchange.code_verifier, exchange.redirect_uri, exchange.nonce
        ),
    )
    return json_response(token, headers=_NO_STORE)


@api.route(
    "POST",
    "/api/v1/auth/oidc/device",
    summary="Begin a device sign-in",
    tag="auth",
    public=True,
    response=DeviceAuthorization,
    errors=(409, 429),
)
async def oidc_device(call: Call[None, None]) -> web.Response:
    """The provider's device flow begun with Compax's client: the person enters ``user_code``
    at ``verification_uri`` while the client polls ``/api/v1/auth/oidc/device/token``. Each
    start counts under the sign-in limits of the caller's address, so that nobody spends
    Compax's quota at the provider; one the provider did not begin is given back."""
    provider = _provider(call.request)
    sign_in: SignIn = call.request.app[SIGN_IN]
    address = client_address(call.request)
    attempt = await sign_in.limits.reserve(f"oidc:{address}", address)
    try:
        device = await provider.start_device()
    except Exception:
        await attempt.undecided()
        raise
    return json_response(device, headers=_NO_STORE)


@api.route(
    "POST",
    "/api/v1/auth/oidc/device/token",
    summary="Finish a device sign-in",
    tag="auth",
    public=True,
    body=DevicePoll,
    response=TokenResponse,
    errors=(403, 409),
)
async def oidc_device_token(call: Call[DevicePoll, None]) -> web.Response:
    """A Compax token once the person approved the device; ``authorization-pending`` with
    ``interval`` until then, 401 once they denied it or the code expired."""
    provider = _provider(call.request)
    device_code = call.body.device_code
    token = await _counted(call.request, lambda: provider.poll_device(device_code))
    return json_response(token, headers=_NO_STORE)


def _provider(request: web.Request) -> OpenIdProvider:
    provider = request.app[OPENID]
    if provider is None:
        raise SignInNotOffered("This server has no campus sign-in provider (COMPAX_OIDC_ISSUER)")
    return provider


def _redirect_allowed(uri: str, settings: SignInSettings) -> bool:
    """One of the web frontend's URIs, or a loopback one of the CLI or TUI (RFC 8252 7.3)."""
    if uri in settings.oidc_web_redirect_uris:
        return True
    try:
        parts = urlsplit(uri)
        port = parts.port
    except ValueError:
        return False
    return parts.scheme == "http" and parts.hostname in _LOOPBACK_HOSTS and port is not None


async def _counted(
    request: web.Request, identify: Callable[[], Awaitable[DirectoryIdentity]]
) -> TokenResponse:
    """A token for the person ``identify`` finds, each try counted under the sign-in limits
    as a guess at the pseudo-account of the caller's address: refused codes and ID tokens
    keep their place, a sign-in gives it back, and so does anything else (an outage, a
    pending device) that reached no verdict."""
    sign_in: SignIn = request.app[SIGN_IN]
    address = client_address(request)
    attempt = await sign_in.limits.reserve(f"oidc:{address}", address)
    try:
        token = await sign_in.token_for_identity(await identify())
    except NotAuthenticated:
        raise
    except Exception:
        await attempt.undecided()
        raise
    await attempt.succeeded()
    return token
