"""``compax server check-sso``: each part of the sign-in configuration tried for real, and
what is wrong said in words an administrator can act on."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from compax_server.settings import Settings


class Outcome(StrEnum):
    OK = "ok"
    WARNING = "warning"
    FAILED = "failed"


@dataclass(frozen=True)
class Finding:
    """One thing tried: ``what`` (``OpenID discovery``, ``LDAP service bind``…), how it went,
    and ``detail``, the words for the administrator (what was seen, what to change)."""

    what: str
    outcome: Outcome
    detail: str


async def check_sign_in(
    settings: Settings, username: str | None = None, password: str | None = None
) -> list[Finding]:
    """Every check of every configured directory, in order; with ``username`` (and for LDAP
    ``password``), that person's sign-in is tried too and their groups and role reported."""
    from compax_server.directory.ldap_checks import ldap_checks
    from compax_server.directory.oidc_checks import oidc_checks

    findings: list[Finding] = []
    if not settings.directory_configured:
        findings.append(
            Finding(
                "campus sign-in",
                Outcome.WARNING,
                "neither COMPAX_OIDC_ISSUER nor COMPAX_LDAP_URL is set: only Compax passwords",
            )
        )
    if settings.oidc_issuer:
        findings += await oidc_checks(settings)
    if settings.ldap_url:
        findings += await ldap_checks(settings, username, password)
    return findings
