"""The campus OpenID provider: discovery, keys, ID tokens, the code exchange, the device flow."""

from __future__ import annotations

import asyncio
import base64
import ssl
import time
from collections.abc import Callable, Mapping
from typing import Any
from urllib.parse import quote

import aiohttp
from joserfc import jwt
from joserfc.errors import JoseError
from joserfc.jwk import Key, KeySet

from compax_server.directory.identity import DirectoryIdentity
from compax_server.directory.oidc_discovery import Discovery, json_object, unreachable
from compax_server.directory.oidc_tokens import (
    IdTokenRules,
    claim_at,
    groups_of,
    refused,
    token_header,
)
from compax_server.sign_in_settings import SignInSettings
from sync.errors import (
    AuthorizationPending,
    Forbidden,
    NotAuthenticated,
    SignInNotOffered,
    Unavailable,
)
from sync.sso_schemas import DeviceAuthorization
from sync.vocabulary import AuthSource

#: How long a discovery document is trusted before it is read again.
DISCOVERY_TTL_SECONDS = 3600.0
#: How long a provider found unreachable is answered for without being asked again, so that
#: an outage costs each request a moment rather than the whole timeout.
OUTAGE_SECONDS = 10.0
DEVICE_GRANT = "urn:ietf:params:oauth:grant-type:device_code"
#: RFC 8628's polling interval when the provider names none, and what ``slow_down`` adds.
DEVICE_INTERVAL_SECONDS = 5
#: The longest polling interval passed on, so a provider's junk cannot stall a client for ever.
LONGEST_INTERVAL_SECONDS = 300


class ProviderRefusal(Exception):
    """The provider answered a token request with an OAuth error (RFC 6749 5.2)."""

    def __init__(self, error: str, description: str) -> None:
        super().__init__(f"{error}: {description}" if description else error)
        self.error = error
        self.description = description


CLIENT_REFUSED = (
    "The campus sign-in provider refused Compax's client credentials; an administrator must "
    "check COMPAX_OIDC_CLIENT_ID and COMPAX_OIDC_CLIENT_SECRET (compax server check-sso)"
)


class OpenIdProvider:
    """The provider the settings name: its discovery document and keys are read when first
    needed and kept (the keys read again when a token names one not seen: key rotation);
    every request to it takes at most ``oidc_timeout_seconds``."""

    def __init__(self, settings: SignInSettings, clock: Callable[[], float] = time.time) -> None:
        assert settings.oidc_issuer is not None
        assert settings.oidc_client_id is not None
        self.settings = settings
        self.issuer = settings.oidc_issuer
        self.client_id = settings.oidc_client_id
        self.clock = clock
        self._session: aiohttp.ClientSession | None = None
        self._discovery: Discovery | None = None
        self._discovered_at = 0.0
        self._outage: tuple[float, str] | None = None
        self._keys: KeySet | None = None
        self._lock = asyncio.Lock()
        self._intervals: dict[str, tuple[int, float]] = {}

    @property
    def scopes(self) -> list[str]:
        """The scopes to ask for, ``openid`` first."""
        return ["openid", *(scope for scope in self.settings.oidc_scopes if scope != "openid")]

    async def close(self) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None

    async def discovery(self) -> Discovery:
        """The discovery document, read again once it is older than the TTL; when the provider
        cannot be asked, the old one is kept, or without one the failure is repeated, for
        ``OUTAGE_SECONDS`` before asking again."""
        async with self._lock:
            now = time.monotonic()
            if self._discovery is not None and now - self._discovered_at <= DISCOVERY_TTL_SECONDS:
                return self._discovery
            if self._outage is not None and now - self._outage[0] < OUTAGE_SECONDS:
                raise Unavailable(self._outage[1])
            url = self.issuer.rstrip("/") + "/.well-known/openid-configuration"
            try:
                self._discovery = Discovery.parse(
                    await self._get_json(url, "discovery document"), self.issuer
                )
            except Unavailable as exc:
                if self._discovery is not None:
                    self._discovered_at = now - DISCOVERY_TTL_SECONDS + OUTAGE_SECONDS
                    return self._discovery
                self._outage = (time.monotonic(), exc.detail)
                raise
            self._discovered_at, self._outage = time.monotonic(), None
            return self._discovery

    async def keys(self, refresh: bool = False) -> KeySet:
        """The provider's signing keys, read again with ``refresh``."""
        discovery = await self.discovery()
        async with self._lock:
            if self._keys is None or refresh:
                document = await self._get_json(discovery.jwks_uri, "signing keys")
                try:
                    keys = KeySet.import_key_set(
                        {"keys": [k for k in document.get("keys", []) if k.get("use") != "enc"]}
                    )
                except (JoseError, ValueError, TypeError, AttributeError, RecursionError) as exc:
                    raise Unavailable(
                        f"The provider's signing keys at {discovery.jwks_uri} cannot be read"
                    ) from exc
                self._keys = keys
            return self._keys

    async def exchange_code(
        self, code: str, code_verifier: str, redirect_uri: str, nonce: str
    ) -> DirectoryIdentity:
        """The person behind an authorization code (PKCE ``code_verifier``; the ID token
        must carry ``nonce``)."""
        form = {
            "grant_type": "authorization_code",
            "code": code,
            "redirect_uri": redirect_uri,
            "code_verifier": code_verifier,
        }
        try:
            tokens = await self.token_request(form)
        except ProviderRefusal as refusal:
            raise _code_refused(refusal) from None
        return await self._identity(tokens, nonce)

    def device_endpoint(self, discovery: Discovery) -> str | None:
        """Where device sign-ins begin: the provider's endpoint, unless the settings turn the
        device flow off."""
        return discovery.device_authorization_endpoint if self.settings.oidc_device_flow else None

    async def start_device(self) -> DeviceAuthorization:
        """A device sign-in begun at the provider (RFC 8628 3.1)."""
        discovery = await self.discovery()
        endpoint = self.device_endpoint(discovery)
        if endpoint is None:
            raise SignInNotOffered(
                "The campus sign-in provider's device flow is not offered here; sign in with a "
                "loopback redirect (compax login --sso does so on its own)"
            )
        form = {"scope": " ".join(self.scopes)}
        status, answer = await self._post(endpoint, form, discovery)
        if status == 401 or answer.get("error") in ("invalid_client", "unauthorized_client"):
            raise Unavailable(CLIENT_REFUSED)
        try:
            device = DeviceAuthorization(
                device_code=answer["device_code"],
                user_code=answer["user_code"],
                verification_uri=answer.get("verification_uri") or answer["verification_url"],
                verification_uri_complete=answer.get("verification_uri_complete"),
                expires_in=int(answer["expires_in"]),
                interval=min(
                    max(int(answer.get("interval") or DEVICE_INTERVAL_SECONDS), 1),
                    LONGEST_INTERVAL_SECONDS,
                ),
            )
        except (KeyError, TypeError, ValueError, OverflowError) as exc:
            raise Unavailable(
                f"The provider's device authorization answer cannot be read ({answer})"
            ) from exc
        now = time.monotonic()
        self._intervals = {code: kept for code, kept in self._intervals.items() if kept[1] > now}
        self._intervals[device.device_code] = (device.interval, now + device.expires_in)
        return device

    async def poll_device(self, device_code: str) -> DirectoryIdentity:
        """The person, once they have approved the device; ``AuthorizationPending`` until
        then."""
        try:
            tokens = await self.token_request(
                {"grant_type": DEVICE_GRANT, "device_code": device_code}
            )
        except ProviderRefusal as refusal:
            raise _device_refused(refusal, self._interval(device_code, refusal)) from None
        self._intervals.pop(device_code, None)
        return await self._identity(tokens, None)

    def _interval(self, device_code: str, refusal: ProviderRefusal) -> int:
        """How often ``device_code`` may be polled: the provider's interval from its start,
        raised by five seconds at each ``slow_down`` (RFC 8628 3.5)."""
        interval, expires = self._intervals.get(
            device_code, (DEVICE_INTERVAL_SECONDS, time.monotonic() + LONGEST_INTERVAL_SECONDS)
        )
        if refusal.error == "slow_down":
            interval = min(interval + DEVICE_INTERVAL_SECONDS, LONGEST_INTERVAL_SECONDS)
            self._intervals[device_code] = (interval, expires)
        return interval

    async def token_request(self, form: dict[str, str]) -> dict[str, Any]:
        """The token endpoint's answer to ``form`` with Compax's client authentication;
        ``ProviderRefusal`` for an OAuth error, ``Unavailable`` for refused credentials or a
        provider that cannot answer."""
        discovery = await self.discovery()
        status, answer = await self._post(discovery.token_endpoint, form, discovery)
        error = answer.get("error")
        if status == 200 and error is None:
            return answer
        if status >= 500 or not isinstance(error, str):
            raise Unavailable(
                f"The campus sign-in provider's token endpoint answered {status}: {answer}"
            )
        raise ProviderRefusal(error, str(answer.get("error_description") or ""))

    async def verified_claims(self, id_token: str, nonce: str | None) -> dict[str, Any]:
        """The claims of ``id_token`` once its signature (by a key the provider publishes)
        and its claims (``IdTokenRules``) are checked."""
        header = token_header(id_token)
        discovery = await self.discovery()
        if discovery.signing_algorithms and header.alg not in discovery.signing_algorithms:
            raise refused(
                f"the ID token is signed with {header.alg}, which the provider does not use"
            )
        key = _key_named(await self.keys(), header.kid) or _key_named(
            await self.keys(refresh=True), header.kid
        )
        if key is None:
            raise refused(f"the ID token is signed with a key ({header.kid}) the provider lacks")
        try:
            token = jwt.decode(id_token, key, algorithms=[header.alg])
        except (JoseError, ValueError, RecursionError) as exc:
            raise refused("the ID token's signature does not verify") from exc
        rules = IdTokenRules(
            discovery.issuer, self.client_id, self.settings.oidc_clock_skew_seconds
        )
        rules.check(token.claims, self.clock(), nonce)
        return dict(token.claims)

    async def _identity(self, tokens: Mapping[str, Any], nonce: str | None) -> DirectoryIdentity:
        """The person the token answer names, the userinfo endpoint asked for the username
        or groups claim when the ID token lacks either."""
        id_token = tokens.get("id_token")
        if not isinstance(id_token, str):
            raise Unavailable("The provider answered without an ID token; is `openid` a scope?")
        claims = await self.verified_claims(id_token, nonce)
        by_email = self.settings.oidc_username_claim == "email"
        wanted = (self.settings.oidc_username_claim, self.settings.oidc_groups_claim)
        if any(claim_at(claims, name) is None for name in wanted) or (
            by_email and "email_verified" not in claims
        ):
            claims = {**await self._userinfo(tokens.get("access_token"), claims["sub"]), **claims}
        username = claim_at(claims, self.settings.oidc_username_claim)
        if not isinstance(username, str) or not username:
            raise Forbidden(
                f"The provider gave no {self.settings.oidc_username_claim!r} claim to make a "
                "Compax username of; an administrator may set COMPAX_OIDC_USERNAME_CLAIM"
            )
        if by_email and claims.get("email_verified") is not True:
            raise Forbidden(
                f"The campus sign-in was refused: the provider has not verified {username}, "
                "so it cannot be a Compax username"
            )
        name = claims.get("name")
        email = claims.get("email")
        return DirectoryIdentity(
            source=AuthSource.OIDC,
            subject=f"{claims['iss']}#{claims['sub']}",
            username=username,
            full_name=name if isinstance(name, str) else "",
            email=email if isinstance(email, str) else None,
            groups=groups_of(claim_at(claims, self.settings.oidc_groups_claim)) or frozenset(),
        )

    async def _userinfo(self, access_token: object, subject: str) -> dict[str, Any]:
        """The userinfo endpoint's claims of ``subject``; none when it cannot be asked or
        speaks of someone else (OpenID Connect Core 5.3.2)."""
        discovery = await self.discovery()
        if not isinstance(access_token, str) or discovery.userinfo_endpoint is None:
            return {}
        headers = {"Authorization": f"Bearer {access_token}"}
        claims = await self._get_json(discovery.userinfo_endpoint, "userinfo", headers)
        return claims if claims.get("sub") == subject else {}

    def _client(self) -> aiohttp.ClientSession:
        if self._session is None:
            ca_file = self.settings.oidc_ca_file
            context = ssl.create_default_context(cafile=ca_file) if ca_file else True
            self._session = aiohttp.ClientSession(
                timeout=aiohttp.ClientTimeout(total=self.settings.oidc_timeout_seconds),
                connector=aiohttp.TCPConnector(ssl=context),
            )
        return self._session

    async def _get_json(
        self, url: str, what: str, headers: Mapping[str, str] | None = None
    ) -> dict[str, Any]:
        try:
            async with self._client().get(url, headers=headers) as response:
                status, body = response.status, await response.read()
        except (aiohttp.ClientError, TimeoutError) as exc:
            raise unreachable(url, exc) from exc
        if status != 200:
            raise Unavailable(f"The campus sign-in provider's {what} at {url} answered {status}")
        return json_object(body, what, url)

    async def _post(
        self, url: str, form: dict[str, str], discovery: Discovery
    ) -> tuple[int, dict[str, Any]]:
        """``form`` posted with the client's authentication: HTTP Basic with a secret (RFC
        6749 2.3.1, names form-encoded), in the body where the provider only takes that, or
        just the client id for a public client."""
        secret = self.settings.oidc_client_secret
        body = dict(form)
        headers = {"Accept": "application/json"}
        if secret is None or discovery.secret_in_body:
            body["client_id"] = self.client_id
            if secret is not None:
                body["client_secret"] = secret.get_secret_value()
        else:
            pair = f"{quote(self.client_id, safe='')}:{quote(secret.get_secret_value(), safe='')}"
            headers["Authorization"] = "Basic " + base64.b64encode(pair.encode()).decode()
        try:
            async with self._client().post(url, data=body, headers=headers) as response:
                status, answer = response.status, await response.read()
        except (aiohttp.ClientError, TimeoutError) as exc:
            raise unreachable(url, exc) from exc
        if status >= 500:
            raise Unavailable(f"The campus sign-in provider at {url} answered {status}")
        return status, json_object(answer, "answer", url)


def _key_named(keys: KeySet, kid: str | None) -> Key | None:
    """The key ``kid`` names, or the only key of a set when the token names none."""
    if kid is None:
        return keys.keys[0] if len(keys.keys) == 1 else None
    return next((key for key in keys.keys if key.kid == kid), None)


def _code_refused(refusal: ProviderRefusal) -> Exception:
    if refusal.error in ("invalid_client", "unauthorized_client"):
        return Unavailable(CLIENT_REFUSED)
    if refusal.error == "invalid_grant":
        return refused(
            "the provider did not take the code: it was used already or has expired, or the "
            f"code_verifier or redirect_uri is not the one it was made for ({refusal})"
        )
    return refused(f"the provider refused the code ({refusal})")


def _device_refused(refusal: ProviderRefusal, interval: int) -> Exception:
    """What a refused device poll means to the client, ``interval`` the seconds to wait."""
    if refusal.error == "authorization_pending":
        return AuthorizationPending("The sign-in is not finished in the browser yet", interval)
    if refusal.error == "slow_down":
        return AuthorizationPending(
            "Ask less often: the provider says the sign-in was polled too fast", interval
        )
    if refusal.error == "access_denied":
        return NotAuthenticated("The sign-in was denied in the browser")
    if refusal.error == "expired_token":
        return NotAuthenticated("The code expired before the sign-in was finished; start again")
    if refusal.error in ("invalid_client", "unauthorized_client"):
        return Unavailable(CLIENT_REFUSED)
    return NotAuthenticated(f"The provider did not take the device code ({refusal}); start again")
