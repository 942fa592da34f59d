"""An OpenID provider's discovery document (OpenID Connect Discovery 1.0 section 3), as far
as Compax uses it."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

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
        """The document read, or ``Unavailable`` saying what it lacks."""
        if str(document.get("issuer", "")).rstrip("/") != issuer.rstrip("/"):
            raise Unavailable(
                f"The provider's discovery document names the issuer {document.get('issuer')!r}, "
                f"not {issuer} (COMPAX_OIDC_ISSUER)"
            )
        needed = ("authorization_endpoint", "token_endpoint", "jwks_uri")
        missing = [name for name in needed if not isinstance(document.get(name), str)]
        if missing:
            raise Unavailable(f"The provider's discovery document lacks {', '.join(missing)}")
        claims = document.get("claims_supported")
        algorithms = document.get("id_token_signing_alg_values_supported") or ["RS256"]
        methods = document.get("token_endpoint_auth_methods_supported") or []
        return cls(
            issuer=str(document["issuer"]),
            authorization_endpoint=document["authorization_endpoint"],
            token_endpoint=document["token_endpoint"],
            jwks_uri=document["jwks_uri"],
            userinfo_endpoint=document.get("userinfo_endpoint"),
            device_authorization_endpoint=document.get("device_authorization_endpoint"),
            claims_supported=frozenset(claims) if isinstance(claims, list) else None,
            signing_algorithms=frozenset(algorithms) & ASYMMETRIC_ALGORITHMS,
            secret_in_body="client_secret_basic" not in methods and "client_secret_post" in methods,
        )
