"""``compax server check-sso`` for the LDAP directory: connection, TLS, the service account,
the user base and, for a named person, their entry, groups, role and password."""

from __future__ import annotations

from urllib.parse import urlsplit

import ldap3

from compax_server.directory.checks import Finding, Outcome
from compax_server.directory.ldap import BindRefused, DirectoryDown, LdapDirectory, close
from compax_server.directory.ldap_names import is_dn
from compax_server.services.sign_in import group_mapping
from compax_server.sign_in_settings import SignInSettings
from sync.errors import Unavailable

LOOPBACK = ("127.0.0.1", "::1", "localhost")


async def ldap_checks(
    settings: SignInSettings, username: str | None, password: str | None
) -> list[Finding]:
    """Each part of the LDAP configuration tried for real, in order, stopping at the first
    that makes the rest pointless; with ``username`` their entry and groups are read (as
    the service account, or as them with ``password``), with ``password`` a real bind too."""
    directory = LdapDirectory(settings)
    try:
        return await directory.run(lambda: _checks(directory, username, password))
    except Unavailable as exc:
        return [Finding("LDAP", Outcome.FAILED, exc.detail)]
    finally:
        directory.close()


def _checks(directory: LdapDirectory, username: str | None, password: str | None) -> list[Finding]:
    findings = [_connection(directory)]
    if findings[-1].outcome is Outcome.FAILED:
        return findings
    settings = directory.settings
    reader: ldap3.Connection | None = None
    as_user = False
    if settings.ldap_bind_dn:
        secret = settings.ldap_bind_password
        try:
            reader = directory.bound(
                settings.ldap_bind_dn, secret.get_secret_value() if secret else ""
            )
        except BindRefused as exc:
            findings.append(
                Finding(
                    "LDAP service bind",
                    Outcome.FAILED,
                    "bind refused: check COMPAX_LDAP_BIND_DN and COMPAX_LDAP_BIND_PASSWORD "
                    f"({exc.result})",
                )
            )
            return findings
        findings.append(
            Finding("LDAP service bind", Outcome.OK, f"bound as {settings.ldap_bind_dn}")
        )
    if reader is None and username and password and settings.ldap_user_dn_template:
        dn = directory.user_dn(username)
        try:
            reader = directory.bound(dn, password)
        except BindRefused as exc:
            findings.append(
                Finding("LDAP user bind", Outcome.FAILED, f"bind refused as {dn}: {exc.result}")
            )
            return findings
        findings.append(Finding("LDAP user bind", Outcome.OK, f"{username} bound as {dn}"))
        as_user = True
    if reader is None:
        try:
            reader = directory.bound(None, None)
        except BindRefused:
            findings.append(
                Finding(
                    "LDAP anonymous read",
                    Outcome.WARNING,
                    "the directory refuses anonymous reads: give a password to check a user, "
                    "or set COMPAX_LDAP_BIND_DN",
                )
            )
            return findings
    try:
        if settings.ldap_user_base:
            findings.append(_user_base(directory, reader))
        if username:
            findings += _person(directory, reader, username, password, as_user)
    finally:
        close(reader)
    return findings


def _connection(directory: LdapDirectory) -> Finding:
    """Whether the directory answers, over which TLS, and a warning for passwords in clear."""
    settings = directory.settings
    try:
        close(directory.connection())
    except DirectoryDown as exc:
        return Finding("LDAP connection", Outcome.FAILED, str(exc))
    if directory.url.startswith("ldaps:"):
        return Finding("LDAP connection", Outcome.OK, f"{directory.url} answered over TLS")
    if settings.ldap_starttls:
        return Finding("LDAP connection", Outcome.OK, f"{directory.url} answered; StartTLS works")
    host = urlsplit(directory.url).hostname or ""
    if host in LOOPBACK:
        return Finding("LDAP connection", Outcome.OK, f"{directory.url} answered")
    return Finding(
        "LDAP connection",
        Outcome.WARNING,
        f"{directory.url} answered, but passwords would cross the network in clear: use "
        "ldaps:// or COMPAX_LDAP_STARTTLS=true",
    )


def _user_base(directory: LdapDirectory, conn: ldap3.Connection) -> Finding:
    """Whether the user base exists and may be searched by whoever is bound."""
    base = directory.settings.ldap_user_base or ""
    try:
        directory.search(conn, base, "(objectClass=*)", ldap3.BASE, [], size_limit=1)
    except DirectoryDown:
        pass
    else:
        if conn.response:
            return Finding("LDAP user base", Outcome.OK, f"{base} can be searched")
    return Finding(
        "LDAP user base",
        Outcome.FAILED,
        f"{base} cannot be searched ({conn.result.get('description')}): check "
        "COMPAX_LDAP_USER_BASE and what the bound account may read",
    )


def _person(
    directory: LdapDirectory,
    conn: ldap3.Connection,
    username: str,
    password: str | None,
    as_user: bool,
) -> list[Finding]:
    """The person's entry, groups and the role and buildings they would get; with
    ``password``, whether the directory takes it (``as_user``: ``conn`` is bound as them)."""
    settings = directory.settings
    try:
        entry = directory.find_user(conn, username)
    except DirectoryDown as exc:
        return [Finding("LDAP user", Outcome.FAILED, str(exc))]
    if entry is None:
        where = settings.ldap_user_base or "their DN"
        return [
            Finding(
                "LDAP user",
                Outcome.FAILED,
                f"{username} is not one entry under {where} with {settings.ldap_user_filter}",
            )
        ]
    if as_user and settings.ldap_user_base and not directory.is_bound_as(conn, entry):
        return [
            Finding(
                "LDAP user",
                Outcome.FAILED,
                f"{settings.ldap_user_filter} finds {entry.dn}, which is not the entry "
                f"{conn.user} binds as: nobody would be signed in; fix "
                "COMPAX_LDAP_USER_FILTER or COMPAX_LDAP_USER_DN_TEMPLATE",
            )
        ]
    findings = [Finding("LDAP user", Outcome.OK, f"{username} is {entry.dn}")]
    if password and not settings.ldap_user_dn_template:
        try:
            close(directory.bound(entry.dn, password))
            findings.append(Finding("LDAP user bind", Outcome.OK, f"{entry.dn} bound"))
        except BindRefused as exc:
            findings.append(
                Finding(
                    "LDAP user bind", Outcome.FAILED, f"bind refused as {entry.dn}: {exc.result}"
                )
            )
    try:
        groups = sorted(directory.groups_of(conn, entry, username))
    except DirectoryDown as exc:
        findings.append(Finding("LDAP groups", Outcome.FAILED, str(exc)))
        return findings
    findings.append(_groups(settings, username, groups))
    findings.append(_role(settings, groups))
    return findings


def _groups(settings: SignInSettings, username: str, groups: list[str]) -> Finding:
    """The person's groups by DN, and which of them may also be mapped by their CN."""
    dns = [group for group in groups if is_dn(group)]
    if not dns:
        return Finding(
            "LDAP groups", Outcome.WARNING, f"{username} is in no group the directory shows"
        )
    cns = [group for group in groups if not is_dn(group)]
    if cns:
        by_cn = f"; mapped by CN too: {', '.join(cns)}"
    elif settings.ldap_group_base:
        by_cn = f"; none lies under {settings.ldap_group_base}, so map them by DN"
    else:
        by_cn = "; with no COMPAX_LDAP_GROUP_BASE they are mapped by DN only"
    return Finding("LDAP groups", Outcome.OK, "; ".join(dns) + by_cn)


def _role(settings: SignInSettings, groups: list[str]) -> Finding:
    """What the mapping makes of ``groups``, in words."""
    mapping = group_mapping(settings)
    role = mapping.role_for(groups)
    buildings = sorted(mapping.buildings_for(groups))
    manages = f", manages {', '.join(buildings)}" if buildings else ""
    if mapping.knows_any(groups):
        return Finding("Compax role", Outcome.OK, f"gets the role {role}{manages}")
    if role is None:
        return Finding(
            "Compax role",
            Outcome.WARNING,
            "in no mapped group, and COMPAX_DIRECTORY_DEFAULT_ROLE is empty: may not sign in",
        )
    return Finding(
        "Compax role", Outcome.WARNING, f"in no mapped group: gets the default role {role}"
    )
