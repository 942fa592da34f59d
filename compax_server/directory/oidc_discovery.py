"""An OpenID provider's discovery document (OpenID Connect Discovery 1.0 section 3), as far
as Compax uses it, and the provider's JSON answers read without trusting them."""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

from compax_server.directory.oidc_tokens import ASYMMETRIC_ALGORITHMS
from sync.errors import Unavailable


@dataclass(frozen=True)
class Discovery:
    """The parts of the provider's discovery document Compax uses."""

    issuer: str
    authorization_endpoint: str
    token_endpoint: str
    jwks_uri: str
    userinfo_endpoint: str | None
    device_authorization_endpoint: str | None
    claims_supported: frozenset[str] | None
    signing_algorithms: frozenset[str]
    secret_in_body: bool

    @classmethod
    def parse(cls, document: Mapping[str, Any], issuer: str) -> Discovery:
        """The document read, or ``Unavailable`` saying what it lacks or which field is of
        the wrong type."""
        named = document.get("issuer")
        if not isinstance(named, str) or named.rstrip("/") != issuer.rstrip("/"):
            raise Unavailable(
                f"The provider's discovery document names the issuer {named!r}, "
                f"not {issuer} (COMPAX_OIDC_ISSUER)"
            )
        needed = ("authorization_endpoint", "token_endpoint", "jwks_uri")
        missing = [name for name in needed if name not in document]
        if missing:
            raise Unavailable(f"The provider's discovery document lacks {', '.join(missing)}")
        claims = _names(document, "claims_supported")
        algorithms = _names(document, "id_token_signing_alg_values_supported") or {"RS256"}
        methods = _names(document, "token_endpoint_auth_methods_supported") or frozenset()
        return cls(
            issuer=named,
            authorization_endpoint=_text(document, "authorization_endpoint"),
            token_endpoint=_text(document, "token_endpoint"),
            jwks_uri=_text(document, "jwks_uri"),
            userinfo_endpoint=_optional_text(document, "userinfo_endpoint"),
            device_authorization_endpoint=_optional_text(document, "device_authorization_endpoint"),
            claims_supported=claims,
            signing_algorithms=frozenset(algorithms) & ASYMMETRIC_ALGORITHMS,
            secret_in_body="client_secret_basic" not in methods and "client_secret_post" in methods,
        )


def _malformed(field: str) -> Unavailable:
    return Unavailable(f"The provider's discovery document is malformed: {field}")


def _text(document: Mapping[str, Any], field: str) -> str:
    """The string ``field`` holds."""
    value = document.get(field)
    if not isinstance(value, str):
        raise _malformed(field)
    return value


def _optional_text(document: Mapping[str, Any], field: str) -> str | None:
    """The string ``field`` holds, ``None`` when it is absent."""
    return None if document.get(field) is None else _text(document, field)


def _names(document: Mapping[str, Any], field: str) -> frozenset[str] | None:
    """The list of strings ``field`` holds, ``None`` when it is absent."""
    value = document.get(field)
    if value is None:
        return None
    if not isinstance(value, list) or not all(isinstance(item, str) for item in value):
        raise _malformed(field)
    return frozenset(value)


def unreachable(url: str, exc: BaseException) -> Unavailable:
    """``exc`` met asking ``url``, said as a provider that cannot be reached."""
    where = urlsplit(url)
    reason = "it did not answer in time" if isinstance(exc, TimeoutError) else str(exc)
    return Unavailable(
        f"The campus sign-in provider at {where.scheme}://{where.netloc} cannot be reached "
        f"({reason or type(exc).__name__}); try again later, or sign in with a password"
    )


def json_object(body: bytes, what: str, url: str) -> dict[str, Any]:
    """``body`` as a JSON object, or ``Unavailable`` naming what the provider sent."""
    try:
        value = json.loads(body.decode("utf-8"))
    except UnicodeDecodeError:
        raise Unavailable(
            f"The campus sign-in provider's {what} at {url} is not UTF-8 text"
        ) from None
    except (ValueError, RecursionError):
        value = None
    if not isinstance(value, dict):
        raise Unavailable(f"The campus sign-in provider's {what} at {url} is not JSON")
    return value
