"""A real OpenLDAP directory for the tests: Debian's ``slapd`` run from a temporary directory
with a ``slapd.conf`` of its own (mdb backend, suffix ``dc=campus,dc=test``), plain LDAP with
StartTLS and LDAPS under a certificate from a ``trustme`` CA, and the ``memberof`` overlay so
users carry ``memberOf`` as in Active Directory.

The tree is seeded over LDAP once slapd answers (``slapadd`` would bypass the overlay), and
put back to that seed before each test, so tests may change groups freely.
"""

from __future__ import annotations

import shutil
import socket
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import ldap3
import pytest
import trustme
from ldap3.core.exceptions import LDAPException

from tests.conftest import IN_CI
from tests.servers import free_port

SLAPD = "/usr/sbin/slapd"
SCHEMAS = Path("/etc/ldap/schema")
MODULES = Path("/usr/lib/ldap")
SUFFIX = "dc=campus,dc=test"
PEOPLE = f"ou=people,{SUFFIX}"
GROUPS = f"ou=groups,{SUFFIX}"
ROOT_DN = f"cn=admin,{SUFFIX}"
ROOT_PASSWORD = "root-secret"
SERVICE_DN = f"cn=compax-service,ou=services,{SUFFIX}"
SERVICE_PASSWORD = "service-secret"
#: groupOfNames must have a member; this DN of nobody keeps an emptied group valid.
NOBODY = f"cn=nobody,{SUFFIX}"


@dataclass(frozen=True)
class Person:
    """A seeded user: ``uid``, full name, email, password and the groups (CNs) they are in."""

    uid: str
    name: str
    email: str
    password: str
    groups: tuple[str, ...]

    @property
    def dn(self) -> str:
        return f"uid={self.uid},{PEOPLE}"


PEOPLE_SEEDED = (
    Person("ama", "Ama Owusu", "ama.owusu@campus.edu", "ama-password", ("staff",)),
    Person("kofi", "Kofi Mensah", "kofi@campus.edu", "kofi-password", ("students",)),
    Person("efua", "Efua Boateng", "efua@campus.edu", "efua-password", ("compax-admins",)),
    Person("yaw", "Yaw Darko", "yaw@campus.edu", "yaw-password", ("staff", "eng-facilities")),
    Person("abena", "Abena Asante", "abena@campus.edu", "abena-password", ()),
)
GROUP_NAMES = ("compax-admins", "staff", "students", "eng-facilities")
PEOPLE_BY_UID = {person.uid: person for person in PEOPLE_SEEDED}


def group_dn(group: str) -> str:
    return f"cn={group},{GROUPS}"


_CONFIG = """\
include {schemas}/core.schema
include {schemas}/cosine.schema
include {schemas}/inetorgperson.schema
include {schemas}/nis.schema
modulepath {modules}
moduleload back_mdb.la
moduleload memberof.la
pidfile {run}/slapd.pid
argsfile {run}/slapd.args
TLSCACertificateFile {run}/ca.pem
TLSCertificateFile {run}/server.pem
TLSCertificateKeyFile {run}/server.key
sizelimit 500

database mdb
maxsize 16777216
suffix "{suffix}"
rootdn "{root_dn}"
rootpw {root_password}
directory {run}/data
overlay memberof
memberof-group-oc groupOfNames
memberof-member-ad member
memberof-memberof-ad memberOf
memberof-refint TRUE
access to attrs=userPassword
    by self write
    by anonymous auth
    by * none
access to *
    by users read
    by * none
"""


class LdapServer:
    """slapd serving ``url`` (plain, StartTLS offered) and ``ldaps_url``; ``ca_file`` is the
    PEM of the CA its certificate comes from."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory
        self.port = free_port()
        self.ldaps_port = free_port()
        self.url = f"ldap://127.0.0.1:{self.port}"
        self.ldaps_url = f"ldaps://127.0.0.1:{self.ldaps_port}"
        self.ca_file = directory / "ca.pem"
        self.log_path = directory / "slapd.log"
        self._process: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        """Write the configuration and certificate, start slapd, wait until it answers."""
        ca = trustme.CA()
        ca.cert_pem.write_to_path(str(self.ca_file))
        issued = ca.issue_cert("127.0.0.1", "localhost")
        issued.cert_chain_pems[0].write_to_path(str(self.directory / "server.pem"))
        issued.private_key_pem.write_to_path(str(self.directory / "server.key"))
        (self.directory / "data").mkdir()
        config = self.directory / "slapd.conf"
        config.write_text(
            _CONFIG.format(
                schemas=SCHEMAS,
                modules=MODULES,
                run=self.directory,
                suffix=SUFFIX,
                root_dn=ROOT_DN,
                root_password=ROOT_PASSWORD,
            )
        )
        listen = f"{self.url}/ {self.ldaps_url}/"
        with self.log_path.open("wb") as log:
            self._process = subprocess.Popen(
                [SLAPD, "-d", "256", "-f", str(config), "-h", listen],
                stdout=log,
                stderr=subprocess.STDOUT,
            )
        self._wait_until_answering()
        self.seed()

    def _wait_until_answering(self) -> None:
        deadline = time.monotonic() + 15
        while time.monotonic() < deadline:
            assert self._process is not None
            if self._process.poll() is not None:
                raise RuntimeError(f"slapd stopped at start:\n{self.log_path.read_text()}")
            try:
                socket.create_connection(("127.0.0.1", self.port), timeout=1).close()
            except OSError:
                time.sleep(0.1)
                continue
            self._admin().unbind()
            return
        raise RuntimeError(f"slapd did not answer within 15 s:\n{self.log_path.read_text()}")

    def stop(self) -> None:
        if self._process is None:
            return
        self._process.terminate()
        try:
            self._process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self._process.kill()
            self._process.wait()
        self._process = None

    def _admin(self) -> ldap3.Connection:
        server = ldap3.Server(self.url, connect_timeout=5)
        return ldap3.Connection(
            server, ROOT_DN, ROOT_PASSWORD, auto_bind=True, receive_timeout=5, raise_exceptions=True
        )

    def seed(self) -> None:
        """The tree as the tests expect it: emptied under the suffix and filled again."""
        conn = self._admin()
        try:
            conn.raise_exceptions = False
            conn.search(SUFFIX, "(objectClass=*)", attributes=[])
            for dn in sorted((e.entry_dn for e in conn.entries), key=len, reverse=True):
                conn.delete(dn)
            conn.raise_exceptions = True
            conn.add(SUFFIX, ["dcObject", "organization"], {"o": "Campus", "dc": "campus"})
            for unit in ("people", "groups", "services"):
                conn.add(f"ou={unit},{SUFFIX}", ["organizationalUnit"], {"ou": unit})
            conn.add(
                SERVICE_DN,
                ["applicationProcess", "simpleSecurityObject"],
                {"cn": "compax-service", "userPassword": SERVICE_PASSWORD},
            )
            for person in PEOPLE_SEEDED:
                given, _, family = person.name.partition(" ")
                conn.add(
                    person.dn,
                    ["inetOrgPerson"],
                    {
                        "uid": person.uid,
                        "cn": person.name,
                        "givenName": given,
                        "sn": family,
                        "mail": person.email,
                        "userPassword": person.password,
                    },
                )
            for group in GROUP_NAMES:
                members = [p.dn for p in PEOPLE_SEEDED if group in p.groups] or [NOBODY]
                conn.add(group_dn(group), ["groupOfNames"], {"cn": group, "member": members})
        finally:
            conn.unbind()

    def add_to_group(self, uid: str, group: str) -> None:
        """Make ``uid`` a member of ``group`` (its CN)."""
        self._modify_members(group, {"member": [(ldap3.MODIFY_ADD, [f"uid={uid},{PEOPLE}"])]})

    def remove_from_group(self, uid: str, group: str) -> None:
        """Take ``uid`` out of ``group`` (its CN); the group keeps its placeholder member."""
        conn = self._admin()
        try:
            conn.modify(group_dn(group), {"member": [(ldap3.MODIFY_ADD, [NOBODY])]})
        except LDAPException:
            pass
        finally:
            conn.unbind()
        self._modify_members(group, {"member": [(ldap3.MODIFY_DELETE, [f"uid={uid},{PEOPLE}"])]})

    def set_attribute(self, uid: str, attribute: str, value: str) -> None:
        """Give ``uid``'s entry ``value`` as its only ``attribute``."""
        conn = self._admin()
        try:
            conn.modify(f"uid={uid},{PEOPLE}", {attribute: [(ldap3.MODIFY_REPLACE, [value])]})
        finally:
            conn.unbind()

    def add_group(self, cn: str, under: str, uid: str) -> None:
        """A group ``cn`` under ``under`` (anywhere in the tree) with ``uid`` its member."""
        conn = self._admin()
        try:
            conn.add(
                f"cn={cn},{under}", ["groupOfNames"], {"cn": cn, "member": f"uid={uid},{PEOPLE}"}
            )
        finally:
            conn.unbind()

    def _modify_members(self, group: str, changes: dict[str, list[tuple[str, list[str]]]]) -> None:
        conn = self._admin()
        try:
            conn.modify(group_dn(group), changes)
        finally:
            conn.unbind()


def slapd_missing_reason() -> str | None:
    """Why slapd cannot run here, or ``None``."""
    if not Path(SLAPD).exists() and shutil.which("slapd") is None:
        return "slapd is not installed (apt-get install slapd ldap-utils)"
    return None


@pytest.fixture(scope="session")
def slapd(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LdapServer]:
    """One slapd for the test session, stopped at the end."""
    reason = slapd_missing_reason()
    if reason is not None:
        if IN_CI:
            pytest.fail(f"{reason}, and CI=true forbids skipping the LDAP tests")
        pytest.skip(f"SKIPPING LDAP TESTS: {reason}")
    server = LdapServer(tmp_path_factory.mktemp("slapd"))
    try:
        server.start()
        yield server
    finally:
        server.stop()


@pytest.fixture
def ldap_server(slapd: LdapServer) -> LdapServer:
    """The session's slapd, its tree back to the seed: each test may change groups."""
    slapd.seed()
    return slapd
