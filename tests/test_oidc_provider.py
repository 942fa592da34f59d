"""The OpenID provider the sign-in tests run: it starts, serves discovery with the device
flow, and its login, consent and device pages can be driven to a code and to tokens."""

from __future__ import annotations

import base64
import hashlib
import json
import secrets
import urllib.error
import urllib.parse
import urllib.request
from pathlib import Path

import pytest

from tests.oidc_support import OidcProvider, node_binary, oidc_provider

__all__ = ["oidc_provider"]

pytestmark = pytest.mark.slow

DEVICE_GRANT = "urn:ietf:params:oauth:grant-type:device_code"


def _post(provider: OidcProvider, url: str, form: dict[str, str]) -> dict[str, str]:
    credentials = f"{provider.client_id}:{provider.client_secret}".encode()
    request = urllib.request.Request(  # noqa: S310
        url,
        data=urllib.parse.urlencode(form).encode(),
        headers={"Authorization": "Basic " + base64.b64encode(credentials).decode()},
    )
    with urllib.request.urlopen(request, timeout=10) as response:  # noqa: S310
        answer: dict[str, str] = json.load(response)
        return answer


def _claims(id_token: str) -> dict[str, object]:
    payload = id_token.split(".")[1]
    claims: dict[str, object] = json.loads(base64.urlsafe_b64decode(payload + "=="))
    return claims


def _discovery(provider: OidcProvider) -> dict[str, object]:
    url = f"{provider.issuer}/.well-known/openid-configuration"
    with urllib.request.urlopen(url, timeout=10) as response:  # noqa: S310
        document: dict[str, object] = json.load(response)
        return document


def test_discovery_names_the_device_flow_and_the_groups_claim(
    oidc_provider: OidcProvider,
) -> None:
    document = _discovery(oidc_provider)

    assert document["issuer"] == oidc_provider.issuer
    assert document["device_authorization_endpoint"] == f"{oidc_provider.issuer}/device/auth"
    assert document["code_challenge_methods_supported"] == ["S256"]
    assert "groups" in document["claims_supported"]  # type: ignore[operator]


def _code_flow_claims(provider: OidcProvider, account: str) -> dict[str, object]:
    """The claims of the ID token a loopback code with PKCE gives ``account``."""
    verifier = secrets.token_urlsafe(48)
    challenge = base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest())
    redirect_uri = "http://127.0.0.1:53117/callback"
    query = {
        "client_id": provider.client_id,
        "response_type": "code",
        "scope": "openid profile email",
        "redirect_uri": redirect_uri,
        "state": "the-state",
        "nonce": "the-nonce",
        "code_challenge": challenge.rstrip(b"=").decode(),
        "code_challenge_method": "S256",
    }
    url = f"{provider.issuer}/auth?{urllib.parse.urlencode(query)}"

    location = provider.log_in_and_consent(url, account)

    assert location.startswith(redirect_uri + "?")
    answer = urllib.parse.parse_qs(urllib.parse.urlsplit(location).query)
    assert answer["state"] == ["the-state"]
    tokens = _post(
        provider,
        f"{provider.issuer}/token",
        {
            "grant_type": "authorization_code",
            "code": answer["code"][0],
            "redirect_uri": redirect_uri,
            "code_verifier": verifier,
        },
    )
    return _claims(tokens["id_token"])


def test_a_loopback_code_with_pkce_gives_an_id_token_with_groups(
    oidc_provider: OidcProvider,
) -> None:
    claims = _code_flow_claims(oidc_provider, "bob")

    assert claims["sub"] == "bob"
    assert claims["nonce"] == "the-nonce"
    assert claims["groups"] == ["students"]


def test_a_provider_may_leave_the_profile_to_userinfo(tmp_path: Path) -> None:
    provider = OidcProvider(node_binary(), tmp_path, claims_in_id_token=False)
    provider.start()
    try:
        claims = _code_flow_claims(provider, "bob")
    finally:
        provider.stop()

    assert claims["sub"] == "bob"
    assert "groups" not in claims
    assert "preferred_username" not in claims


def test_an_approved_user_code_gives_the_device_its_tokens(
    oidc_provider: OidcProvider,
) -> None:
    oidc_provider.set_account("erin", groups=["staff", "eng-facilities"], name="Erin Osei")
    device = _post(
        oidc_provider, f"{oidc_provider.issuer}/device/auth", {"scope": "openid profile"}
    )
    poll = {"grant_type": DEVICE_GRANT, "device_code": device["device_code"]}
    with pytest.raises(urllib.error.HTTPError) as pending:
        _post(oidc_provider, f"{oidc_provider.issuer}/token", poll)
    assert json.load(pending.value)["error"] == "authorization_pending"

    oidc_provider.enter_user_code(device["user_code"], "erin")

    claims = _claims(_post(oidc_provider, f"{oidc_provider.issuer}/token", poll)["id_token"])
    assert claims["sub"] == "erin"
    assert claims["groups"] == ["staff", "eng-facilities"]


def test_keys_rotate_on_the_same_issuer(oidc_provider: OidcProvider) -> None:
    kid = oidc_provider.rotate_keys()

    url = f"{oidc_provider.issuer}/jwks"
    with urllib.request.urlopen(url, timeout=10) as response:  # noqa: S310
        keys = json.load(response)["keys"]
    assert [key["kid"] for key in keys] == [kid]
    assert "d" not in keys[0]
