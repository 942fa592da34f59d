"""Campus sign-in as the API answers it: which methods a server offers, and the requests of
the OpenID Connect code exchange and device flow (docs/sign-in.md)."""

from __future__ import annotations

from pydantic import ConfigDict, Field

from sync.schemas import Schema

_FORBID_EXTRA = ConfigDict(extra="forbid")


class OidcClient(Schema):
    """What a front end needs to send a person to the OpenID provider: the server completes
    the exchange with ``POST /api/v1/auth/oidc/token``."""

    issuer: str
    client_id: str
    authorization_endpoint: str
    scopes: list[str]
    #: Whether ``POST /api/v1/auth/oidc/device`` works (the provider offers the device flow).
    device_flow: bool
    #: The web frontend's redirect URIs the server accepts, beside loopback ones.
    redirect_uris: list[str]


class SignInMethods(Schema):
    """How people sign in here."""

    #: Whether anyone may sign in with a Compax password (else only break-glass admins).
    password: bool
    #: Whether passwords are also checked against the campus LDAP directory.
    ldap: bool
    oidc: OidcClient | None = None


class OidcCodeExchange(Schema):
    """An authorization code the provider gave, with the PKCE verifier and nonce of the
    request that got it (RFC 7636, OpenID Connect Core 3.1.2.1)."""

    model_config = _FORBID_EXTRA
    code: str = Field(min_length=1, max_length=4096)
    code_verifier: str = Field(min_length=43, max_length=128, pattern=r"^[A-Za-z0-9._~-]+$")
    redirect_uri: str = Field(min_length=1, max_length=2048)
    nonce: str = Field(min_length=8, max_length=256)


class DeviceAuthorization(Schema):
    """A device sign-in begun: the person opens ``verification_uri`` and enters ``user_code``
    (or opens ``verification_uri_complete``), while the client polls with ``device_code``."""

    device_code: str
    user_code: str
    verification_uri: str
    verification_uri_complete: str | None = None
    expires_in: int
    interval: int


class DevicePoll(Schema):
    model_config = _FORBID_EXTRA
    device_code: str = Field(min_length=1, max_length=4096)
