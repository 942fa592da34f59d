"""Signing in through a real OpenID provider (oidc-provider, run by the tests): the web
frontend's code exchange with PKCE, the device flow, groups following the directory, key
rotation, refusals in words, a provider that is down, and ``compax server check-sso``."""

from __future__ import annotations

import asyncio
import base64
import json
import secrets
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlencode, urlsplit

import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient
from authlib.oauth2.rfc7636 import create_s256_code_challenge
from joserfc import jwt
from joserfc.jwk import KeySet, RSAKey
from typer.testing import CliRunner, Result

from compax_cli.main import app as cli_app
from compax_server.app import create_app
from compax_server.directory import oidc
from compax_server.directory.checks import Outcome
from compax_server.directory.oidc import OpenIdProvider
from compax_server.directory.oidc_checks import oidc_checks
from compax_server.directory.oidc_discovery import json_object
from compax_server.keys import OPENID
from compax_server.settings import Settings
from compax_server.sign_in_settings import SignInSettings
from sync.errors import NotAuthenticated, Unavailable
from sync.permissions import Role
from tests.booking_helpers import make_campus
from tests.conftest import PASSWORD, AiohttpClient, MakePerson, Person, make_settings
from tests.oidc_support import (
    WEB_REDIRECT_URI,
    OidcProvider,
    free_port,
    node_binary,
    oidc_provider,
)
from tests.support import bearer, error_fields, problem_of, sign_in

__all__ = ["oidc_provider"]

pytestmark = pytest.mark.slow

LOOPBACK = "http://127.0.0.1:38123/callback"
ROLES = {"staff": "staff", "compax-admins": "admin"}
MANAGERS = {"eng-facilities": ["ENG"]}


@pytest.fixture
def overrides() -> dict[str, object]:
    """Settings a test changes, by parametrizing this fixture."""
    return {}


@pytest.fixture
def settings(
    database_url: str, tmp_path: Path, oidc_provider: OidcProvider, overrides: dict[str, object]
) -> Settings:
    return make_settings(
        database_url,
        tmp_path,
        **{
            "oidc_issuer": oidc_provider.issuer,
            "oidc_client_id": oidc_provider.client_id,
            "oidc_client_secret": oidc_provider.client_secret,
            "oidc_web_redirect_uris": [WEB_REDIRECT_URI],
            "directory_roles": ROLES,
            "directory_managers": MANAGERS,
            **overrides,
        },
    )


async def _code_for(
    client: TestClient, provider: OidcProvider, account: str, redirect_uri: str = LOOPBACK
) -> dict[str, str]:
    """What the front end posts after sending ``account`` to the provider: the code it got
    back, with the verifier and nonce of its request."""
    methods = await (await client.get("/api/v1/auth/methods")).json()
    oidc = methods["oidc"]
    verifier, nonce, state = secrets.token_urlsafe(48), secrets.token_urlsafe(16), "s-1"
    query = {
        "client_id": oidc["client_id"],
        "response_type": "code",
        "scope": " ".join(oidc["scopes"]),
        "redirect_uri": redirect_uri,
        "state": state,
        "nonce": nonce,
        "code_challenge": create_s256_code_challenge(verifier),
        "code_challenge_method": "S256",
    }
    url = f"{oidc['authorization_endpoint']}?{urlencode(query)}"
    location = await asyncio.to_thread(provider.log_in_and_consent, url, account)
    assert location.startswith(redirect_uri + "?"), location
    answer = parse_qs(urlsplit(location).query)
    assert answer["state"] == [state]
    return {
        "code": answer["code"][0],
        "code_verifier": verifier,
        "redirect_uri": redirect_uri,
        "nonce": nonce,
    }


async def _signed_in(client: TestClient, provider: OidcProvider, account: str) -> dict[str, Any]:
    body = await _code_for(client, provider, account)
    response = await client.post("/api/v1/auth/oidc/token", json=body)
    assert response.status == 200, await response.text()
    assert response.headers["Cache-Control"] == "no-store"
    token: dict[str, Any] = await response.json()
    return token


async def _me(client: TestClient, token: dict[str, Any]) -> dict[str, Any]:
    response = await client.get("/api/v1/me", headers=bearer(token["access_token"]))
    assert response.status == 200, await response.text()
    me: dict[str, Any] = await response.json()
    return me


async def _users_named(client: TestClient, admin: Person, username: str) -> list[Any]:
    listed = await client.get(f"/api/v1/users?username={username}", headers=admin.headers)
    assert listed.status == 200, await listed.text()
    items: list[Any] = (await listed.json())["items"]
    return items


async def test_methods_describe_the_provider_for_the_front_ends(
    client: TestClient, oidc_provider: OidcProvider
) -> None:
    response = await client.get("/api/v1/auth/methods")

    assert response.status == 200, await response.text()
    assert await response.json() == {
        "password": True,
        "ldap": False,
        "oidc": {
            "issuer": oidc_provider.issuer,
            "client_id": oidc_provider.client_id,
            "authorization_endpoint": f"{oidc_provider.issuer}/auth",
            "scopes": ["openid", "profile", "email"],
            "device_flow": True,
            "redirect_uris": [WEB_REDIRECT_URI],
        },
    }


async def test_the_web_flow_makes_the_user_once_with_the_role_of_their_groups(
    client: TestClient, oidc_provider: OidcProvider, admin: Person
) -> None:
    body = await _code_for(client, oidc_provider, "alice", WEB_REDIRECT_URI)
    first = await client.post("/api/v1/auth/oidc/token", json=body)
    assert first.status == 200, await first.text()
    token = await first.json()

    me = await _me(client, token)
    assert (me["username"], me["role"]) == ("alice", "staff")
    assert (me["full_name"], me["email"]) == ("Alice Mensah", "alice@campus.example")
    again = await _signed_in(client, oidc_provider, "alice")
    assert again["user"]["id"] == me["id"]
    assert len(await _users_named(client, admin, "alice")) == 1


async def test_a_student_and_an_admin_get_their_roles(
    client: TestClient, oidc_provider: OidcProvider
) -> None:
    assert (await _signed_in(client, oidc_provider, "bob"))["user"]["role"] == "student"
    assert (await _signed_in(client, oidc_provider, "carol"))["user"]["role"] == "admin"


async def test_a_managers_group_grants_its_building(
    client: TestClient, oidc_provider: OidcProvider, admin: Person
) -> None:
    await make_campus(client, admin)

    token = await _signed_in(client, oidc_provider, "dave")

    assert token["user"]["manages"] == [2]
    assert (await _me(client, token))["manages"] == [2]


@pytest.mark.parametrize(
    ("change", "words"),
    [
        ({"nonce": "another-sign-in-nonce"}, "nonce differs"),
        ({"code_verifier": "w" * 43}, "code_verifier"),
        ({"code": "a-code-the-provider-never-gave"}, "did not take the code"),
    ],
)
async def test_a_refused_code_creates_nobody(
    client: TestClient,
    oidc_provider: OidcProvider,
    admin: Person,
    change: dict[str, str],
    words: str,
) -> None:
    body = await _code_for(client, oidc_provider, "bob")

    response = await client.post("/api/v1/auth/oidc/token", json=body | change)

    problem = await problem_of(response, 401)
    assert words in problem["detail"]
    assert await _users_named(client, admin, "bob") == []


async def test_a_code_is_taken_once(client: TestClient, oidc_provider: OidcProvider) -> None:
    body = await _code_for(client, oidc_provider, "bob")
    assert (await client.post("/api/v1/auth/oidc/token", json=body)).status == 200

    again = await client.post("/api/v1/auth/oidc/token", json=body)

    assert "used already" in (await problem_of(again, 401))["detail"]


@pytest.mark.parametrize(
    "redirect_uri",
    ["https://elsewhere.example/callback", "http://127.0.0.1/callback", "http://evil.example:80/"],
)
async def test_a_redirect_uri_not_allowed_is_refused_before_the_provider_is_asked(
    client: TestClient, redirect_uri: str
) -> None:
    body = {"code": "x", "code_verifier": "v" * 43, "redirect_uri": redirect_uri, "nonce": "n" * 8}

    response = await client.post("/api/v1/auth/oidc/token", json=body)

    assert error_fields(await problem_of(response, 422)) == ["redirect_uri"]


async def test_a_group_change_takes_effect_at_the_next_sign_in_and_revokes_older_tokens(
    client: TestClient, oidc_provider: OidcProvider
) -> None:
    oidc_provider.set_account("frank", groups=["staff"], name="Frank Adjei")
    staff = await _signed_in(client, oidc_provider, "frank")
    assert staff["user"]["role"] == "staff"
    oidc_provider.set_account("frank", groups=["students"])
    assert (await _me(client, staff))["role"] == "staff", "nothing changes until they sign in"

    student = await _signed_in(client, oidc_provider, "frank")

    assert student["user"]["role"] == "student"
    older = await client.get("/api/v1/me", headers=bearer(staff["access_token"]))
    await problem_of(older, 401)
    assert (await _me(client, student))["role"] == "student"


async def test_groups_and_username_come_from_userinfo_when_the_id_token_lacks_them(
    aiohttp_client: AiohttpClient, database_url: str, tmp_path: Path
) -> None:
    provider = OidcProvider(node_binary(), tmp_path / "provider", claims_in_id_token=False)
    provider.start()
    try:
        settings = make_settings(
            database_url,
            tmp_path,
            oidc_issuer=provider.issuer,
            oidc_client_id=provider.client_id,
            oidc_client_secret=provider.client_secret,
            directory_roles=ROLES,
        )
        client = await aiohttp_client(create_app(settings))
        token = await _signed_in(client, provider, "carol")
    finally:
        provider.stop()

    assert (token["user"]["username"], token["user"]["role"]) == ("carol", "admin")


async def test_a_rotated_provider_key_is_fetched_when_a_token_names_it(
    client: TestClient, oidc_provider: OidcProvider
) -> None:
    await _signed_in(client, oidc_provider, "alice")

    kid = await asyncio.to_thread(oidc_provider.rotate_keys)

    token = await _signed_in(client, oidc_provider, "alice")
    assert token["user"]["username"] == "alice"
    assert client.app is not None
    provider = client.app[OPENID]
    assert provider is not None
    assert [key.kid for key in (await provider.keys()).keys] == [kid]


async def test_the_device_flow_through_the_api(
    client: TestClient, oidc_provider: OidcProvider
) -> None:
    started = await client.post("/api/v1/auth/oidc/device")
    assert started.status == 200, await started.text()
    device = await started.json()
    assert device["verification_uri"] == f"{oidc_provider.issuer}/device"
    poll = {"device_code": device["device_code"]}

    pending = await client.post("/api/v1/auth/oidc/device/token", json=poll)
    problem = await problem_of(pending, 400)
    assert (problem["type"], problem["interval"]) == ("authorization-pending", device["interval"])

    await asyncio.to_thread(oidc_provider.enter_user_code, device["user_code"], "carol")
    done = await client.post("/api/v1/auth/oidc/device/token", json=poll)

    assert done.status == 200, await done.text()
    assert (await _me(client, await done.json()))["role"] == "admin"


async def test_a_denied_device_is_refused_in_words(
    client: TestClient, oidc_provider: OidcProvider
) -> None:
    device = await (await client.post("/api/v1/auth/oidc/device")).json()

    await asyncio.to_thread(oidc_provider.deny_user_code, device["user_code"])
    denied = await client.post(
        "/api/v1/auth/oidc/device/token", json={"device_code": device["device_code"]}
    )

    assert "denied" in (await problem_of(denied, 401))["detail"]


async def test_bad_codes_from_one_address_hit_the_sign_in_limit(client: TestClient) -> None:
    body = {"code": "guess", "code_verifier": "v" * 43, "redirect_uri": LOOPBACK, "nonce": "n" * 8}
    for _ in range(10):
        await problem_of(await client.post("/api/v1/auth/oidc/token", json=body), 401)

    limited = await client.post("/api/v1/auth/oidc/token", json=body)

    await problem_of(limited, 429)
    assert int(limited.headers["Retry-After"]) > 0


@pytest.mark.parametrize("overrides", [{"login_attempts_per_username_and_address": 3}])
async def test_device_starts_from_one_address_hit_the_sign_in_limit(client: TestClient) -> None:
    for _ in range(3):
        assert (await client.post("/api/v1/auth/oidc/device")).status == 200

    limited = await client.post("/api/v1/auth/oidc/device")

    await problem_of(limited, 429)
    assert int(limited.headers["Retry-After"]) > 0


@pytest.mark.parametrize("overrides", [{"oidc_username_claim": "email"}])
async def test_an_email_the_provider_has_not_verified_is_no_username(
    client: TestClient, oidc_provider: OidcProvider
) -> None:
    oidc_provider.set_account(
        "erin", groups=["staff"], email="erin@campus.example", email_verified=False
    )
    body = await _code_for(client, oidc_provider, "erin")

    refused = await client.post("/api/v1/auth/oidc/token", json=body)

    problem = await problem_of(refused, 403)
    assert "the provider has not verified erin@campus.example" in problem["detail"]
    oidc_provider.set_account("erin", groups=["staff"], email_verified=True)
    assert (await _signed_in(client, oidc_provider, "erin"))["user"]["username"]


# --- a provider that sends junk --------------------------------------------------------------

JUNK = f"http://127.0.0.1:{free_port()}"


def _junk_discovery(**changes: object) -> bytes:
    document = {
        "issuer": JUNK,
        "authorization_endpoint": f"{JUNK}/auth",
        "token_endpoint": f"{JUNK}/token",
        "jwks_uri": f"{JUNK}/jwks",
        "device_authorization_endpoint": f"{JUNK}/device",
        **changes,
    }
    return json.dumps(document).encode()


@dataclass
class JunkProvider:
    """What the provider at ``JUNK`` answers: its discovery document's bytes, its device
    start, and its token endpoint's answers in turn (status and JSON)."""

    discovery: bytes = field(default_factory=_junk_discovery)
    device: dict[str, object] = field(default_factory=dict)
    tokens: list[tuple[int, dict[str, object]]] = field(default_factory=list)


@pytest.fixture
async def junk() -> AsyncIterator[JunkProvider]:
    """A provider at ``JUNK`` answering whatever the test puts in it."""
    served = JunkProvider()

    async def discovery(request: web.Request) -> web.Response:
        return web.Response(body=served.discovery, content_type="application/json")

    async def device(request: web.Request) -> web.Response:
        return web.json_response(served.device)

    async def token(request: web.Request) -> web.Response:
        status, answer = served.tokens.pop(0)
        return web.json_response(answer, status=status)

    app = web.Application()
    app.router.add_get("/.well-known/openid-configuration", discovery)
    app.router.add_post("/device", device)
    app.router.add_post("/token", token)
    runner = web.AppRunner(app)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", int(JUNK.rsplit(":", 1)[1])).start()
    try:
        yield served
    finally:
        await runner.cleanup()


@pytest.mark.parametrize("overrides", [{"oidc_issuer": JUNK}])
@pytest.mark.parametrize(
    ("document", "words"),
    [
        (b'{"issuer": "\xff"}', "is not UTF-8 text"),
        (b"[]", "is not JSON"),
        (_junk_discovery(issuer=["x"]), "names the issuer ['x']"),
        (_junk_discovery(jwks_uri=None), "is malformed: jwks_uri"),
        (_junk_discovery(token_endpoint={"url": "x"}), "is malformed: token_endpoint"),
        (_junk_discovery(userinfo_endpoint=5), "is malformed: userinfo_endpoint"),
        (_junk_discovery(device_authorization_endpoint=True), "device_authorization_endpoint"),
        (
            _junk_discovery(id_token_signing_alg_values_supported="RS256"),
            "is malformed: id_token_signing_alg_values_supported",
        ),
        (
            _junk_discovery(id_token_signing_alg_values_supported=[["RS256"]]),
            "is malformed: id_token_signing_alg_values_supported",
        ),
        (_junk_discovery(claims_supported=[{}]), "is malformed: claims_supported"),
        (
            _junk_discovery(token_endpoint_auth_methods_supported=5),
            "is malformed: token_endpoint_auth_methods_supported",
        ),
    ],
)
async def test_a_junk_discovery_document_is_a_503_in_words(
    client: TestClient, junk: JunkProvider, document: bytes, words: str
) -> None:
    junk.discovery = document

    started = await client.post("/api/v1/auth/oidc/device")

    assert words in (await problem_of(started, 503))["detail"]
    methods = await (await client.get("/api/v1/auth/methods")).json()
    assert methods["oidc"]["authorization_endpoint"] == ""


def _unsigned_token(header: dict[str, object]) -> str:
    encoded = base64.urlsafe_b64encode(json.dumps(header).encode()).rstrip(b"=").decode()
    return f"{encoded}.e30.c2ln"


@pytest.mark.parametrize("overrides", [{"oidc_issuer": JUNK}])
@pytest.mark.parametrize(
    ("header", "words"),
    [
        ({"alg": ["RS256"]}, "not with a public key algorithm"),
        ({"alg": {"RS256": 1}}, "not with a public key algorithm"),
        ({"alg": "RS256", "kid": ["key-1"]}, "not a key id"),
        ({"alg": "RS256", "kid": 7}, "not a key id"),
    ],
)
async def test_an_id_token_header_of_junk_is_refused_in_words(
    client: TestClient, junk: JunkProvider, header: dict[str, object], words: str
) -> None:
    junk.tokens.append((200, {"id_token": _unsigned_token(header), "access_token": "a"}))
    body = {"code": "c", "code_verifier": "v" * 43, "redirect_uri": LOOPBACK, "nonce": "n" * 8}

    refused = await client.post("/api/v1/auth/oidc/token", json=body)

    assert words in (await problem_of(refused, 401))["detail"]


@pytest.mark.parametrize("overrides", [{"oidc_issuer": JUNK}])
async def test_the_providers_device_interval_is_passed_on_and_slow_down_adds_five_seconds(
    client: TestClient, junk: JunkProvider
) -> None:
    junk.device = {
        "device_code": "the-device",
        "user_code": "ABCD-EFGH",
        "verification_uri": f"{JUNK}/verify",
        "expires_in": 600,
        "interval": 7,
    }
    junk.tokens += [
        (400, {"error": "authorization_pending"}),
        (400, {"error": "slow_down"}),
        (400, {"error": "slow_down"}),
        (400, {"error": "authorization_pending"}),
    ]
    started = await client.post("/api/v1/auth/oidc/device")
    assert (await started.json())["interval"] == 7

    intervals = []
    for _ in range(4):
        polled = await client.post(
            "/api/v1/auth/oidc/device/token", json={"device_code": "the-device"}
        )
        intervals.append((await problem_of(polled, 400))["interval"])

    assert intervals == [7, 12, 17, 17]


DOWN = f"http://127.0.0.1:{free_port()}"


@pytest.mark.parametrize(
    "overrides",
    [{"oidc_issuer": DOWN, "local_sign_in": "break-glass", "break_glass_admins": ["root"]}],
)
async def test_a_provider_that_is_down_is_a_503_in_words_and_break_glass_still_signs_in(
    client: TestClient, make_person: MakePerson, admin: Person
) -> None:
    await make_person(Role.STAFF, username="kofi")
    started = await client.post("/api/v1/auth/oidc/device")
    problem = await problem_of(started, 503)
    assert f"provider at {DOWN} cannot be reached" in problem["detail"]
    body = {"code": "c", "code_verifier": "v" * 43, "redirect_uri": LOOPBACK, "nonce": "n" * 8}
    await problem_of(await client.post("/api/v1/auth/oidc/token", json=body), 503)
    methods = await (await client.get("/api/v1/auth/methods")).json()
    assert methods["password"] is False
    assert (methods["oidc"]["authorization_endpoint"], methods["oidc"]["device_flow"]) == (
        "",
        False,
    )

    assert (await sign_in(client, "root", PASSWORD)).status == 200
    refused = await sign_in(client, "kofi", PASSWORD)
    assert "turned off" in (await problem_of(refused, 401))["detail"]


async def test_a_provider_that_never_answers_is_unavailable_after_the_timeout(
    oidc_provider: OidcProvider,
) -> None:
    connections: list[asyncio.StreamWriter] = []

    async def silent(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        connections.append(writer)
        await reader.read()

    server = await asyncio.start_server(silent, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    settings = _sign_in_settings(
        oidc_provider, oidc_issuer=f"http://127.0.0.1:{port}", oidc_timeout_seconds=0.3
    )
    provider = OpenIdProvider(settings)
    started = time.monotonic()
    try:
        with pytest.raises(Unavailable, match="it did not answer in time"):
            await provider.discovery()
    finally:
        await provider.close()
        server.close()
        for writer in connections:
            writer.close()
            await writer.wait_closed()
        await server.wait_closed()
    assert time.monotonic() - started < 5


async def test_an_unreachable_provider_is_not_asked_again_for_a_moment(
    oidc_provider: OidcProvider,
) -> None:
    port = free_port()
    provider = OpenIdProvider(
        _sign_in_settings(oidc_provider, oidc_issuer=f"http://127.0.0.1:{port}")
    )
    asked: list[int] = []

    async def answer(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        asked.append(port)
        writer.close()
        await writer.wait_closed()

    try:
        with pytest.raises(Unavailable, match="cannot be reached"):
            await provider.discovery()
        server = await asyncio.start_server(answer, "127.0.0.1", port)
        try:
            with pytest.raises(Unavailable, match="cannot be reached"):
                await provider.discovery()
        finally:
            server.close()
            await server.wait_closed()
    finally:
        await provider.close()
    assert asked == []


async def test_a_known_discovery_document_outlives_the_provider_going_away(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    running = OidcProvider(node_binary(), tmp_path)
    running.start()
    provider = OpenIdProvider(_sign_in_settings(running))
    try:
        known = await provider.discovery()
        running.stop()
        monkeypatch.setattr(oidc, "DISCOVERY_TTL_SECONDS", -1.0)

        assert await provider.discovery() is known
    finally:
        running.stop()
        await provider.close()


# --- ID tokens signed with the provider's own key ---------------------------------------------


def _provider_key(provider: OidcProvider) -> RSAKey:
    keys = KeySet.import_key_set(json.loads(provider.jwks_file.read_text()))
    key = keys.keys[0]
    assert isinstance(key, RSAKey)
    return key


def _id_token(key: RSAKey, provider: OidcProvider, **changes: object) -> str:
    now = int(time.time())
    claims = {
        "iss": provider.issuer,
        "aud": provider.client_id,
        "sub": "alice",
        "iat": now,
        "exp": now + 300,
        "nonce": "the-nonce",
        **changes,
    }
    return jwt.encode({"alg": "RS256", "kid": key.kid}, claims, key)


def _sign_in_settings(provider: OidcProvider, **overrides: object) -> SignInSettings:
    values: dict[str, object] = {
        "oidc_issuer": provider.issuer,
        "oidc_client_id": provider.client_id,
        "oidc_client_secret": provider.client_secret,
        **overrides,
    }
    return SignInSettings(**values)  # type: ignore[arg-type]


#: Claims that are times, given in the cases below as seconds from when the case runs.
_TIMES = ("exp", "iat", "nbf")


@pytest.mark.parametrize(
    ("changes", "words"),
    [
        ({"exp": -121}, "expired"),
        ({"iat": 600, "exp": 900}, "in the future"),
        ({"nbf": 600}, "not valid yet"),
        ({"iss": "https://elsewhere.example"}, "issued by"),
        ({"aud": "another-client"}, "client id"),
        ({"aud": ["another-client", "compax-tests"]}, "several audiences"),
        ({"nonce": "another"}, "nonce differs"),
    ],
)
async def test_id_token_claims_are_checked(
    oidc_provider: OidcProvider, changes: dict[str, Any], words: str
) -> None:
    provider = OpenIdProvider(_sign_in_settings(oidc_provider, oidc_clock_skew_seconds=60))
    now = int(time.time())
    claims = {name: now + value if name in _TIMES else value for name, value in changes.items()}
    token = _id_token(_provider_key(oidc_provider), oidc_provider, **claims)
    try:
        with pytest.raises(NotAuthenticated, match=words):
            await provider.verified_claims(token, "the-nonce")
    finally:
        await provider.close()


async def test_an_id_token_within_the_clock_skew_and_for_this_party_passes(
    oidc_provider: OidcProvider,
) -> None:
    provider = OpenIdProvider(_sign_in_settings(oidc_provider, oidc_clock_skew_seconds=60))
    late = {"exp": int(time.time()) - 30, "aud": ["other", "compax-tests"], "azp": "compax-tests"}
    token = _id_token(_provider_key(oidc_provider), oidc_provider, **late)
    try:
        assert (await provider.verified_claims(token, "the-nonce"))["sub"] == "alice"
    finally:
        await provider.close()


async def test_an_id_token_signed_by_another_key_is_refused(oidc_provider: OidcProvider) -> None:
    provider = OpenIdProvider(_sign_in_settings(oidc_provider))
    forger = RSAKey.generate_key(2048, parameters={"kid": _provider_key(oidc_provider).kid})
    unknown = RSAKey.generate_key(2048, parameters={"kid": "never-published"})
    try:
        with pytest.raises(NotAuthenticated, match="signature does not verify"):
            await provider.verified_claims(_id_token(forger, oidc_provider), "the-nonce")
        with pytest.raises(NotAuthenticated, match="the provider lacks"):
            await provider.verified_claims(_id_token(unknown, oidc_provider), "the-nonce")
    finally:
        await provider.close()


# --- compax server check-sso -----------------------------------------------------------------


async def test_check_sso_passes_a_working_configuration(oidc_provider: OidcProvider) -> None:
    findings = await oidc_checks(_sign_in_settings(oidc_provider))

    assert [(f.what, f.outcome) for f in findings] == [
        ("OpenID discovery", Outcome.OK),
        ("OpenID signing keys", Outcome.OK),
        ("OpenID client credentials", Outcome.OK),
        ("OpenID device flow", Outcome.OK),
        ("OpenID groups claim", Outcome.OK),
    ]


async def test_check_sso_says_the_client_secret_is_refused(oidc_provider: OidcProvider) -> None:
    settings = _sign_in_settings(oidc_provider, oidc_client_secret="not-the-secret")

    findings = {f.what: f for f in await oidc_checks(settings)}

    credentials = findings["OpenID client credentials"]
    assert credentials.outcome is Outcome.FAILED
    assert "the client secret is wrong" in credentials.detail


async def test_check_sso_says_the_issuer_cannot_be_reached(oidc_provider: OidcProvider) -> None:
    settings = _sign_in_settings(oidc_provider, oidc_issuer=DOWN)

    findings = await oidc_checks(settings)

    assert [(f.what, f.outcome) for f in findings] == [("OpenID discovery", Outcome.FAILED)]
    assert f"provider at {DOWN} cannot be reached" in findings[0].detail


async def test_check_sso_warns_of_a_missing_groups_claim(oidc_provider: OidcProvider) -> None:
    settings = _sign_in_settings(oidc_provider, oidc_groups_claim="memberships")

    findings = {f.what: f for f in await oidc_checks(settings)}

    groups = findings["OpenID groups claim"]
    assert groups.outcome is Outcome.WARNING
    assert groups.detail.startswith("no group claim")
    assert "COMPAX_DIRECTORY_DEFAULT_ROLE (student)" in groups.detail


def _check_sso(provider: OidcProvider, tmp_path: Path, **env: str) -> Result:
    environment = {
        "COMPAX_DATA_DIR": str(tmp_path),
        "COMPAX_OIDC_ISSUER": provider.issuer,
        "COMPAX_OIDC_CLIENT_ID": provider.client_id,
        "COMPAX_OIDC_CLIENT_SECRET": provider.client_secret,
        **env,
    }
    return CliRunner().invoke(cli_app, ["server", "check-sso"], env=environment)


def test_compax_server_check_sso_says_what_is_wrong(
    oidc_provider: OidcProvider, tmp_path: Path
) -> None:
    working = _check_sso(oidc_provider, tmp_path)
    assert working.exit_code == 0, working.output
    assert "OpenID client credentials: client compax-tests is accepted" in working.stderr

    refused = _check_sso(oidc_provider, tmp_path, COMPAX_OIDC_CLIENT_SECRET="wrong")
    assert refused.exit_code == 1, refused.output
    assert "the client secret is wrong or expired" in refused.stderr
    assert "Traceback" not in refused.output


@pytest.mark.parametrize("overrides", [{"oidc_device_flow": False}])
async def test_a_device_flow_turned_off_is_not_offered(client: TestClient) -> None:
    methods = await (await client.get("/api/v1/auth/methods")).json()
    assert methods["oidc"]["device_flow"] is False

    started = await client.post("/api/v1/auth/oidc/device")

    problem = await problem_of(started, 409)
    assert problem["type"] == "sign-in-not-offered"
    assert "loopback" in problem["detail"]


@pytest.mark.parametrize("overrides", [{"oidc_issuer": JUNK}])
@pytest.mark.parametrize("field", ["interval", "expires_in"])
async def test_a_device_answer_with_an_endless_number_is_an_outage_in_words(
    client: TestClient, junk: JunkProvider, field: str
) -> None:
    junk.device = {
        "device_code": "the-device",
        "user_code": "ABCD-EFGH",
        "verification_uri": f"{JUNK}/verify",
        "expires_in": 600,
        "interval": 5,
        field: float("inf"),
    }
    started = await client.post("/api/v1/auth/oidc/device")
    assert (
        "device authorization answer cannot be read" in (await problem_of(started, 503))["detail"]
    )


def test_json_nested_past_any_reason_is_not_json() -> None:
    with pytest.raises(Unavailable, match="is not JSON"):
        json_object(b"[" * 100_000, "discovery document", JUNK)
