"""Passwords checked against the campus LDAP directory (Active Directory included), with ldap3
(docs/sign-in.md#ldap-and-active-directory says why ldap3)."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import math
import ssl
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any, TypeVar

import ldap3
from ldap3.core.exceptions import (
    LDAPCommunicationError,
    LDAPException,
    LDAPSSLConfigurationError,
    LDAPStartTLSError,
)
from ldap3.utils.conv import escape_filter_chars
from ldap3.utils.dn import escape_rdn

from compax_server.directory.identity import DirectoryIdentity
from compax_server.directory.ldap_names import common_name, is_dn, is_under, normal_dn
from compax_server.sign_in_settings import SignInSettings
from sync.errors import Unavailable
from sync.vocabulary import AuthSource

log = logging.getLogger("compax.sign_in")

#: The LDAP result code of a refused bind (wrong password, no such entry).
INVALID_CREDENTIALS = 49
#: Bind results that say the directory cannot serve now (busy, unavailable), not that the
#: password is wrong.
_DIRECTORY_UNAVAILABLE = frozenset({51, 52})
#: A sign-in gives up after this many times ``COMPAX_LDAP_TIMEOUT_SECONDS``, whatever the
#: directory does: connecting, StartTLS and each answer are bounded by the timeout itself.
OVERALL_TIMEOUTS = 3
#: How many sign-ins may talk to the directory at once, each in a thread of the directory's
#: own pool, so that a hanging directory never holds the threads password checks run in.
LDAP_THREADS = 4
#: How long a directory found unreachable is answered for without being asked again, so that
#: an outage costs each sign-in a moment rather than the whole timeout.
OUTAGE_SECONDS = 10.0
#: The search results that are an answer; sizeLimitExceeded only where a part will do.
SUCCESS, SIZE_LIMIT_EXCEEDED = 0, 4

T = TypeVar("T")


class DirectoryDown(Exception):
    """The directory could not be asked; the message says why in an administrator's words,
    ``outage`` whether it could not be reached at all (remembered for ``OUTAGE_SECONDS``)."""

    def __init__(self, message: str, outage: bool = False) -> None:
        super().__init__(message)
        self.outage = outage


class BindRefused(Exception):
    """The directory refused a bind; ``result`` is its LDAP result description."""

    def __init__(self, dn: str, result: str) -> None:
        super().__init__(f"bind as {dn} refused ({result})")
        self.result = result


@dataclass(frozen=True)
class UserEntry:
    """A person's entry as the directory holds it."""

    dn: str
    full_name: str
    email: str | None
    member_of: tuple[str, ...]


class LdapDirectory:
    """The directory the settings name, asked in a worker thread under timeouts."""

    def __init__(self, settings: SignInSettings) -> None:
        self.settings = settings
        assert settings.ldap_url is not None
        self.url = settings.ldap_url
        self._pool: ThreadPoolExecutor | None = None
        self._slots = asyncio.Semaphore(LDAP_THREADS)
        self._outage: tuple[float, str] | None = None

    @property
    def busy(self) -> bool:
        """Whether every thread the directory may use is taken."""
        return self._slots.locked()

    def close(self) -> None:
        """Let the directory's threads go (those still waiting on it end at their timeout)."""
        if self._pool is not None:
            self._pool.shutdown(wait=False, cancel_futures=True)
            self._pool = None

    async def authenticate(self, username: str, password: str) -> DirectoryIdentity | None:
        """The person, if the directory takes ``password`` as ``username``'s; ``None`` for an
        empty password (an anonymous bind that proves nothing), text LDAP cannot carry (lone
        surrogates), no such person or a wrong password; ``Unavailable`` in words when the
        directory cannot be asked."""
        name = username.strip()
        if not password or not name or not _is_utf8(name + password):
            return None
        return await self.run(lambda: self._authenticate(name, password))

    async def run(self, work: Callable[[], T]) -> T:
        """``work`` (blocking ldap3 calls) in one of the directory's threads, given up after
        the overall timeout; ``Unavailable`` in words, at once when every thread is taken or
        the directory was found unreachable in the last ``OUTAGE_SECONDS``."""
        if self._outage is not None and time.monotonic() - self._outage[0] < OUTAGE_SECONDS:
            raise Unavailable(self._outage[1])
        if self._slots.locked():
            raise Unavailable("The campus directory is busy; try again in a moment")
        overall = self.settings.ldap_timeout_seconds * OVERALL_TIMEOUTS
        await self._slots.acquire()
        if self._pool is None:
            self._pool = ThreadPoolExecutor(LDAP_THREADS, thread_name_prefix="compax-ldap")
        job = asyncio.wrap_future(self._pool.submit(work))
        job.add_done_callback(self._release)
        try:
            return await asyncio.wait_for(asyncio.shield(job), overall)
        except TimeoutError:
            raise self._down(
                f"The campus directory at {self.url} did not answer within {overall:g} s"
            ) from None
        except DirectoryDown as exc:
            log.warning("LDAP sign-in impossible: %s", exc)
            raise (self._down(str(exc)) if exc.outage else Unavailable(str(exc))) from None
        except Exception:
            log.exception("the campus directory at %s failed", self.url)
            raise Unavailable(
                f"The campus directory at {self.url} failed; the server's log says how"
            ) from None

    def _release(self, job: asyncio.Future[Any]) -> None:
        """Free ``job``'s thread slot once its thread is done (not when its caller gave up),
        reading the outcome nobody may be waiting for any more."""
        self._slots.release()
        if not job.cancelled():
            job.exception()

    def _down(self, detail: str) -> Unavailable:
        """``Unavailable`` with ``detail``, remembered as an outage."""
        self._outage = (time.monotonic(), detail)
        return Unavailable(detail)

    def _authenticate(self, name: str, password: str) -> DirectoryIdentity | None:
        """The blocking sign-in: bind as the person (directly, or found by the service
        account), then read their entry and groups."""
        if self.settings.ldap_user_dn_template:
            reader = self._direct_bind(name, password)
            if reader is None:
                return None
        else:
            reader = self.service_connection()
        try:
            entry = self.find_user(reader, name)
            if entry is None:
                return None
            if self.settings.ldap_user_dn_template:
                if self.settings.ldap_user_base and not self.is_bound_as(reader, entry):
                    return None
            else:
                try:
                    close(self.bound(entry.dn, password))
                except BindRefused:
                    return None
            groups = self.groups_of(reader, entry, name)
        finally:
            close(reader)
        return DirectoryIdentity(
            source=AuthSource.LDAP,
            subject=entry.dn,
            username=name,
            full_name=entry.full_name,
            email=entry.email,
            groups=frozenset(groups),
        )

    def _direct_bind(self, name: str, password: str) -> ldap3.Connection | None:
        """A connection bound as the user the DN template makes of ``name``, else ``None``."""
        try:
            return self.bound(self.user_dn(name), password)
        except BindRefused:
            return None

    def is_bound_as(self, conn: ldap3.Connection, entry: UserEntry) -> bool:
        """Whether ``entry`` (found by the user filter) is the entry ``conn`` bound as, as the
        directory itself says; a mismatch signs nobody in and is logged."""
        bound = self.bound_entry(conn)
        if bound is not None and normal_dn(bound) == normal_dn(entry.dn):
            return True
        log.warning(
            "LDAP: %s bound as %s but COMPAX_LDAP_USER_FILTER found %s; nobody is signed in",
            conn.user,
            bound or "an entry the directory does not name",
            entry.dn,
        )
        return False

    def bound_entry(self, conn: ldap3.Connection) -> str | None:
        """The DN of the entry ``conn`` is bound as: its bind name read back when that is a
        DN, else what "Who am I?" (RFC 4532) answers: a DN, or for ``u:DOMAIN\\name`` the one
        entry with that sAMAccountName; else the one entry whose userPrincipalName is the bind
        name (Active Directory; tried first for a bind name with ``@``, since a
        userPrincipalName is unique in the whole forest and a sAMAccountName only in its
        domain); ``None`` when the directory does not say."""
        name = str(conn.user or "")
        if is_dn(name):
            self.search(conn, name, "(objectClass=*)", ldap3.BASE, [], size_limit=1)
            found = _entries(conn)
            return str(found[0]["dn"]) if len(found) == 1 else None
        try:
            answer = conn.extend.standard.who_am_i()
        except (LDAPCommunicationError, OSError) as exc:
            raise DirectoryDown(self.why_unreachable(exc), outage=True) from None
        except LDAPException:
            answer = None
        said = str(answer or "")
        if said[:3].lower() == "dn:" and is_dn(said[3:]):
            return said[3:]
        account = said.rpartition("\\")[2]
        if "@" in name or said[:2].lower() != "u:" or account == said:
            query = f"(userPrincipalName={escape_filter_chars(name)})"
        else:
            query = f"(sAMAccountName={escape_filter_chars(account)})"
        base = self.settings.ldap_user_base
        if base is None:
            return None
        self.search(conn, base, query, ldap3.SUBTREE, [], size_limit=2, partial_ok=True)
        found = _entries(conn)
        return str(found[0]["dn"]) if len(found) == 1 else None

    def user_dn(self, name: str) -> str:
        """The name a direct bind uses for ``name``: the DN template, ``name`` escaped."""
        assert self.settings.ldap_user_dn_template is not None
        return self.settings.ldap_user_dn_template.replace("{username}", escape_rdn(name))

    def service_connection(self) -> ldap3.Connection:
        """A connection bound as the service account (anonymous when none is set); a refused
        service bind is a configuration error, said in words and logged."""
        dn = self.settings.ldap_bind_dn
        if dn is None:
            return self.bound(None, None)
        secret = self.settings.ldap_bind_password
        try:
            return self.bound(dn, secret.get_secret_value() if secret else "")
        except BindRefused as exc:
            log.error("the LDAP service account %s was refused: %s", dn, exc.result)
            raise DirectoryDown(
                f"The campus directory at {self.url} refused the service account: check "
                "COMPAX_LDAP_BIND_DN and COMPAX_LDAP_BIND_PASSWORD"
            ) from None

    def connection(self, dn: str | None = None, password: str | None = None) -> ldap3.Connection:
        """An open connection that will bind as ``dn`` (anonymous for ``None``), TLS started
        where the settings ask; ``DirectoryDown`` in words when the directory cannot be
        reached or its certificate is not trusted."""
        timeout = self.settings.ldap_timeout_seconds
        try:
            tls = ldap3.Tls(
                validate=ssl.CERT_REQUIRED,
                ca_certs_file=str(self.settings.ldap_ca_file)
                if self.settings.ldap_ca_file
                else None,
            )
        except LDAPSSLConfigurationError:
            raise DirectoryDown(
                f"COMPAX_LDAP_CA_FILE {self.settings.ldap_ca_file} cannot be read"
            ) from None
        server = ldap3.Server(self.url, tls=tls, connect_timeout=timeout, get_info=ldap3.NONE)
        conn = ldap3.Connection(
            server,
            user=dn,
            password=password,
            authentication=ldap3.ANONYMOUS if dn is None else ldap3.SIMPLE,
            receive_timeout=math.ceil(timeout),
            auto_referrals=False,
            raise_exceptions=False,
        )
        try:
            conn.open()
            if self.settings.ldap_starttls and not conn.start_tls():
                raise DirectoryDown(
                    f"The campus directory at {self.url} refused StartTLS "
                    f"({conn.result.get('description')})",
                    outage=True,
                )
        except (LDAPCommunicationError, LDAPStartTLSError, OSError) as exc:
            close(conn)
            raise DirectoryDown(self.why_unreachable(exc), outage=True) from None
        return conn

    def why_unreachable(self, exc: Exception) -> str:
        """What the administrator should know about ``exc``, in words."""
        text = str(exc)
        if "CERTIFICATE_VERIFY_FAILED" in text or "certificate" in text.lower():
            return (
                f"The campus directory at {self.url} has a certificate this server does not "
                "trust: check COMPAX_LDAP_CA_FILE and the directory's host name"
            )
        if "timed out" in text or "timeout" in text.lower():
            return f"The campus directory at {self.url} did not answer in time"
        if isinstance(exc, LDAPStartTLSError) or "ssl" in text.lower():
            return f"The campus directory at {self.url} failed to set up TLS: {text}"
        return f"The campus directory at {self.url} cannot be reached"

    def bound(self, dn: str | None, password: str | None) -> ldap3.Connection:
        """A connection bound as ``dn`` (anonymous for ``None``); ``BindRefused`` if not."""
        conn = self.connection(dn, password)
        try:
            ok = conn.bind()
        except (LDAPCommunicationError, OSError) as exc:
            close(conn)
            raise DirectoryDown(self.why_unreachable(exc), outage=True) from None
        if not ok:
            code = conn.result.get("result")
            result = str(conn.result.get("description") or code)
            close(conn)
            if code != INVALID_CREDENTIALS:
                raise DirectoryDown(
                    f"The campus directory at {self.url} would not check a password ({result})",
                    outage=code in _DIRECTORY_UNAVAILABLE,
                )
            raise BindRefused(dn or "anonymous", result)
        return conn

    def find_user(self, conn: ldap3.Connection, name: str) -> UserEntry | None:
        """The one entry ``name`` is, under the user base with the user filter (or the bound
        DN itself when there is no user base); ``None`` for none or several."""
        settings = self.settings
        attributes = [settings.ldap_name_attribute, settings.ldap_email_attribute, "memberOf"]
        if settings.ldap_user_base:
            query = settings.ldap_user_filter.replace("{username}", escape_filter_chars(name))
            base, scope = settings.ldap_user_base, ldap3.SUBTREE
        else:
            query, base, scope = "(objectClass=*)", self.bound_dn(conn), ldap3.BASE
        self.search(conn, base, query, scope, attributes, size_limit=2, partial_ok=True)
        entries = _entries(conn)
        if len(entries) != 1:
            if len(entries) > 1:
                log.warning("LDAP: %s matches several entries; nobody is signed in", query)
            return None
        found = entries[0]
        values = found.get("attributes", {})
        return UserEntry(
            dn=str(found["dn"]),
            full_name=_first(values.get(settings.ldap_name_attribute)) or "",
            email=_first(values.get(settings.ldap_email_attribute)),
            member_of=tuple(str(group) for group in values.get("memberOf") or ()),
        )

    def bound_dn(self, conn: ldap3.Connection) -> str:
        """The DN a direct bind used, which must be a DN to be read back."""
        dn = str(conn.user or "")
        if not is_dn(dn):
            raise DirectoryDown(
                "COMPAX_LDAP_USER_DN_TEMPLATE binds with a name that is no DN "
                f"({dn}); set COMPAX_LDAP_USER_BASE so the user's entry can be found"
            )
        return dn

    def groups_of(self, conn: ldap3.Connection, entry: UserEntry, name: str) -> set[str]:
        """The names ``entry``'s groups may be mapped by: each group's DN (``normal_dn``), and
        its CN too for a group the group search found under the group base, the one place
        trusted to name groups; with no group base, only the DNs ``memberOf`` lists."""
        settings = self.settings
        if not settings.ldap_group_base:
            return {normal_dn(group) for group in entry.member_of}
        query = settings.ldap_group_filter.replace("{dn}", escape_filter_chars(entry.dn)).replace(
            "{username}", escape_filter_chars(name)
        )
        self.search(conn, settings.ldap_group_base, query, ldap3.SUBTREE, [], size_limit=0)
        names: set[str] = set()
        for item in _entries(conn):
            dn = normal_dn(str(item["dn"]))
            names.add(dn)
            cn = common_name(dn)
            if cn and is_under(dn, settings.ldap_group_base):
                names.add(cn)
        return names

    def search(
        self,
        conn: ldap3.Connection,
        base: str,
        query: str,
        scope: str,
        attributes: list[str],
        size_limit: int,
        partial_ok: bool = False,
    ) -> None:
        """One search, its entries left in ``conn.response``; any answer but success (or,
        with ``partial_ok``, a size limit hit) is ``DirectoryDown`` in words, never "none"."""
        try:
            conn.search(
                base,
                query,
                search_scope=scope,
                attributes=attributes,
                size_limit=size_limit,
                time_limit=max(1, int(self.settings.ldap_timeout_seconds)),
            )
        except (LDAPCommunicationError, OSError) as exc:
            raise DirectoryDown(self.why_unreachable(exc), outage=True) from None
        result = conn.result.get("result")
        if result == SUCCESS or (partial_ok and result == SIZE_LIMIT_EXCEEDED):
            return
        raise DirectoryDown(
            f"The campus directory at {self.url} failed a search under {base} "
            f"({conn.result.get('description') or result}): check the LDAP settings and what "
            "the bound account may read (compax server check-sso)"
        )


def _entries(conn: ldap3.Connection) -> list[dict[str, Any]]:
    """The entries (not referrals) the last search on ``conn`` found."""
    return [item for item in conn.response or [] if item.get("type") == "searchResEntry"]


def close(conn: ldap3.Connection) -> None:
    """Close ``conn`` whatever state it is in, and the socket ldap3 leaves open when opening
    it failed."""
    with contextlib.suppress(LDAPException, OSError):
        conn.unbind()
    if conn.socket is not None:
        conn.socket.close()


def _is_utf8(text: str) -> bool:
    """Whether ``text`` can be sent to the directory, which speaks UTF-8."""
    try:
        text.encode()
    except UnicodeEncodeError:
        return False
    return True


def _first(value: object) -> str | None:
    """The first of an attribute's values, as ldap3 gives them (one value or a list)."""
    if isinstance(value, list | tuple):
        value = value[0] if value else None
    return str(value) if value else None


def ldap_directory(settings: SignInSettings) -> LdapDirectory | None:
    """The LDAP directory, if the settings name one."""
    return LdapDirectory(settings) if settings.ldap_url else None
