"""Passwords checked against the campus LDAP directory (Active Directory included)."""

from __future__ import annotations

from compax_server.directory.checks import Finding
from compax_server.directory.identity import DirectoryIdentity
from compax_server.sign_in_settings import SignInSettings


class LdapDirectory:
    """The directory the settings name."""

    def __init__(self, settings: SignInSettings) -> None:
        self.settings = settings

    async def authenticate(self, username: str, password: str) -> DirectoryIdentity | None:
        raise NotImplementedError("written by the LDAP part of issue 19")


def ldap_directory(settings: SignInSettings) -> LdapDirectory | None:
    """The LDAP directory, if the settings name one."""
    return LdapDirectory(settings) if settings.ldap_url else None


async def ldap_checks(
    settings: SignInSettings, username: str | None, password: str | None
) -> list[Finding]:
    raise NotImplementedError("written by the LDAP part of issue 19")
