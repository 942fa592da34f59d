"""OpenID Connect ID tokens: the checks of OpenID Connect Core 3.1.3.7 on their claims, and
reading claims (groups, usernames) at dotted paths."""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from sync.errors import NotAuthenticated

#: Signature algorithms an ID token may use: the provider's public keys, never a shared secret
#: nor ``none``.
ASYMMETRIC_ALGORITHMS = frozenset(
    {"RS256", "RS384", "RS512", "PS256", "PS384", "PS512", "ES256", "ES384", "ES512", "EdDSA"}
)


def refused(reason: str) -> NotAuthenticated:
    """A sign-in refused because of the ID token, in words saying what to do."""
    return NotAuthenticated(f"The campus sign-in was refused: {reason}; start the sign-in again")


@dataclass(frozen=True)
class TokenHeader:
    """What an ID token's header says of its signature: the key's id and the algorithm."""

    kid: str | None
    alg: str


def token_header(id_token: str) -> TokenHeader:
    """The header of a compact JWS, read before its signature is checked to find the key."""
    try:
        encoded = id_token.split(".", 1)[0]
        header = json.loads(base64.urlsafe_b64decode(encoded + "=" * (-len(encoded) % 4)))
    except (ValueError, binascii.Error, RecursionError) as exc:
        raise refused("the provider's ID token is not a JWT") from exc
    if not isinstance(header, dict):
        raise refused("the provider's ID token is not a JWT")
    alg, kid = header.get("alg"), header.get("kid")
    if not isinstance(alg, str) or alg not in ASYMMETRIC_ALGORITHMS:
        raise refused(f"the ID token is signed with {alg!r}, not with a public key algorithm")
    if kid is not None and not isinstance(kid, str):
        raise refused(f"the ID token's header names its key with {kid!r}, not a key id")
    return TokenHeader(kid, alg)


@dataclass(frozen=True)
class IdTokenRules:
    """What a verified signature's claims must also say: from this issuer, for this client,
    current within ``skew`` seconds, and (for the code flow) for this request's ``nonce``."""

    issuer: str
    client_id: str
    skew: int

    def check(self, claims: Mapping[str, Any], now: float, nonce: str | None) -> None:
        """Raise ``NotAuthenticated`` naming the first claim that is wrong."""
        if claims.get("iss") != self.issuer:
            raise refused(f"the ID token was issued by {claims.get('iss')!r}, not {self.issuer}")
        audience = claims.get("aud")
        audiences = [audience] if isinstance(audience, str) else audience
        if not isinstance(audiences, list) or self.client_id not in audiences:
            raise refused("the ID token was not issued to Compax's client id")
        if len(audiences) > 1 and claims.get("azp") != self.client_id:
            raise refused("the ID token names several audiences but not Compax as its party")
        if not isinstance(claims.get("sub"), str) or not claims["sub"]:
            raise refused("the ID token names no subject")
        expires = _time(claims, "exp")
        if expires is None or now > expires + self.skew:
            raise refused("the ID token has expired (check the server's clock)")
        issued = _time(claims, "iat")
        if issued is None or issued > now + self.skew:
            raise refused("the ID token was issued in the future (check the server's clock)")
        not_before = _time(claims, "nbf")
        if not_before is not None and not_before > now + self.skew:
            raise refused("the ID token is not valid yet (check the server's clock)")
        if nonce is not None and claims.get("nonce") != nonce:
            raise refused("the ID token was made for another sign-in (its nonce differs)")


def _time(claims: Mapping[str, Any], name: str) -> float | None:
    value = claims.get(name)
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    return float(value)


def claim_at(claims: Mapping[str, Any], path: str) -> Any:
    """The claim at a dotted ``path`` (``realm_access.roles``), or ``None``; a claim whose own
    name holds the dots wins."""
    if path in claims:
        return claims[path]
    value: Any = claims
    for part in path.split("."):
        if not isinstance(value, Mapping) or part not in value:
            return None
        value = value[part]
    return value


def groups_of(value: Any) -> frozenset[str] | None:
    """A groups claim as names: a list of strings, or one string; ``None`` if absent."""
    if value is None:
        return None
    if isinstance(value, str):
        return frozenset({value})
    if isinstance(value, list):
        return frozenset(item for item in value if isinstance(item, str))
    return frozenset()
