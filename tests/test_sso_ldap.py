"""Signing in with the campus LDAP directory, against a real slapd (tests/ldap_support.py):
direct bind and search then bind, groups by search and by memberOf, roles and buildings that
follow the groups, TLS, and a directory that is down or silent."""

from __future__ import annotations

import asyncio
import os
import socket
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import trustme
from aiohttp.test_utils import TestClient
from typer.testing import CliRunner

from compax_cli.main import app
from compax_server.app import create_app
from compax_server.directory.checks import Finding, Outcome
from compax_server.directory.ldap import LDAP_THREADS, LdapDirectory, close
from compax_server.directory.ldap_checks import ldap_checks
from compax_server.directory.ldap_names import is_dn, normal_dn
from compax_server.keys import SIGN_IN
from compax_server.settings import Settings
from compax_server.sign_in_settings import SignInSettings
from sync.errors import Unavailable
from sync.permissions import Role
from tests.conftest import PASSWORD, MakePerson, Person, make_settings
from tests.ldap_support import (
    GROUPS,
    PEOPLE,
    PEOPLE_BY_UID,
    SERVICE_DN,
    SERVICE_PASSWORD,
    LdapServer,
    group_dn,
    ldap_server,
    slapd,
)
from tests.support import bearer, problem_of, sign_in

__all__ = ["ldap_server", "slapd"]

DIRECT: dict[str, object] = {
    "ldap_user_dn_template": f"uid={{username}},{PEOPLE}",
    "ldap_group_base": GROUPS,
}
SEARCH: dict[str, object] = {
    "ldap_bind_dn": SERVICE_DN,
    "ldap_bind_password": SERVICE_PASSWORD,
    "ldap_user_base": PEOPLE,
    "ldap_group_base": GROUPS,
}
#: Active Directory style: no group search, the user's memberOf names their groups.
MEMBER_OF: dict[str, object] = {
    "ldap_bind_dn": SERVICE_DN,
    "ldap_bind_password": SERVICE_PASSWORD,
    "ldap_user_base": PEOPLE,
}
MAPPING: dict[str, object] = {
    "directory_roles": {"compax-admins": "admin", "Staff": "staff"},
    "directory_managers": {"eng-facilities": ["ENG"]},
}
#: The same mapping by DN, as memberOf groups (reported by DN only) need it.
MAPPING_BY_DN: dict[str, object] = {
    "directory_roles": {group_dn("compax-admins"): "admin", "CN=Staff, " + GROUPS: "staff"},
    "directory_managers": {group_dn("eng-facilities"): ["ENG"]},
}


def password_of(uid: str) -> str:
    return PEOPLE_BY_UID[uid].password


@pytest.fixture
def settings(database_url: str, tmp_path: Path, ldap_server: LdapServer) -> Settings:
    return make_settings(database_url, tmp_path, ldap_url=ldap_server.url, **DIRECT, **MAPPING)


@pytest.fixture
async def eng(client: TestClient, admin: Person) -> int:
    """The id of building ENG, whose managers are the eng-facilities group."""
    response = await client.post(
        "/api/v1/buildings", json={"code": "ENG", "name": "Engineering"}, headers=admin.headers
    )
    assert response.status == 201, await response.text()
    building: int = (await response.json())["id"]
    return building


async def signed_in(client: TestClient, uid: str, password: str | None = None) -> dict[str, Any]:
    """The token response of ``uid``'s sign-in with their directory password."""
    response = await sign_in(client, uid, password or password_of(uid))
    assert response.status == 200, await response.text()
    body: dict[str, Any] = await response.json()
    return body


# --- Direct bind, groups searched --------------------------------------------------------------


async def test_a_first_sign_in_makes_the_user_from_the_directory(
    client: TestClient, admin: Person, eng: int
) -> None:
    user = (await signed_in(client, "yaw"))["user"]
    assert (user["username"], user["full_name"], user["email"]) == (
        "yaw",
        "Yaw Darko",
        "yaw@campus.edu",
    )
    assert user["role"] == Role.STAFF
    assert user["manages"] == [eng]
    listed = await client.get(f"/api/v1/users/{user['id']}", headers=admin.headers)
    assert (await listed.json())["username"] == "yaw"


async def test_someone_in_no_mapped_group_gets_the_default_role(client: TestClient) -> None:
    assert (await signed_in(client, "abena"))["user"]["role"] == Role.STUDENT


async def test_a_group_change_takes_effect_at_the_next_sign_in_and_revokes_older_tokens(
    client: TestClient, ldap_server: LdapServer
) -> None:
    first = await signed_in(client, "kofi")
    assert first["user"]["role"] == Role.STUDENT
    ldap_server.add_to_group("kofi", "staff")
    old = bearer(first["access_token"])
    assert (await client.get("/api/v1/me", headers=old)).status == 200
    second = await signed_in(client, "kofi")
    assert second["user"]["role"] == Role.STAFF
    await problem_of(await client.get("/api/v1/me", headers=old), 401)
    ldap_server.remove_from_group("kofi", "staff")
    third = await signed_in(client, "kofi")
    assert third["user"]["role"] == Role.STUDENT
    await problem_of(await client.get("/api/v1/me", headers=bearer(second["access_token"])), 401)


async def test_leaving_the_managers_group_removes_only_the_directory_grant(
    client: TestClient, admin: Person, eng: int, ldap_server: LdapServer
) -> None:
    made = await client.post(
        "/api/v1/buildings", json={"code": "LIB", "name": "Library"}, headers=admin.headers
    )
    library = (await made.json())["id"]
    yaw = (await signed_in(client, "yaw"))["user"]
    granted = await client.put(
        f"/api/v1/buildings/{library}/managers/{yaw['id']}", headers=admin.headers
    )
    assert granted.status in (200, 201), await granted.text()
    ldap_server.remove_from_group("yaw", "eng-facilities")
    assert (await signed_in(client, "yaw"))["user"]["manages"] == [library]
    ldap_server.add_to_group("yaw", "eng-facilities")
    assert (await signed_in(client, "yaw"))["user"]["manages"] == sorted([eng, library])


async def test_a_wrong_password_is_refused_and_counted_by_the_sign_in_limits(
    client: TestClient, settings: Settings
) -> None:
    for _ in range(settings.login_attempts_per_username_and_address):
        await problem_of(await sign_in(client, "yaw", "not-yaws-password"), 401)
    await problem_of(await sign_in(client, "yaw", "not-yaws-password"), 429)
    await problem_of(await sign_in(client, "yaw", password_of("yaw")), 429)


async def test_no_such_person_is_refused(client: TestClient) -> None:
    problem = await problem_of(await sign_in(client, "nobody", "any-password"), 401)
    assert problem["detail"] == "Unknown username or wrong password"


async def test_an_empty_password_never_signs_anyone_in(
    client: TestClient, settings: Settings
) -> None:
    """An empty password is an unauthenticated bind, which many directories let succeed."""
    problem = await problem_of(await sign_in(client, "yaw", ""), 422)
    assert "password" in problem["detail"]
    assert await LdapDirectory(settings).authenticate("yaw", "") is None


@pytest.mark.parametrize("name", ["*", "ama,ou=people", "efua)(", "\\", "#ama", "ama+cn=x"])
async def test_a_username_cannot_change_the_dn_a_direct_bind_uses(
    client: TestClient, name: str
) -> None:
    for uid in ("ama", "efua"):
        await problem_of(await sign_in(client, name, password_of(uid)), 401)


async def test_a_directory_users_password_is_changed_in_the_directory(
    client: TestClient, admin: Person
) -> None:
    yaw = await signed_in(client, "yaw")
    body = {"current_password": password_of("yaw"), "new_password": "a-new-long-password"}
    changed = await client.post(
        "/api/v1/me/password", json=body, headers=bearer(yaw["access_token"])
    )
    assert "campus directory" in (await problem_of(changed, 403))["detail"]
    reset = await client.post(
        f"/api/v1/users/{yaw['user']['id']}/password",
        json={"new_password": "a-new-long-password"},
        headers=admin.headers,
    )
    assert "campus directory" in (await problem_of(reset, 403))["detail"]


async def test_an_account_taken_over_by_the_directory_keeps_no_compax_password(
    client: TestClient, make_person: MakePerson
) -> None:
    await make_person(Role.STUDENT, username="ama")
    assert (await signed_in(client, "ama"))["user"]["role"] == Role.STAFF
    await problem_of(await sign_in(client, "ama", PASSWORD), 401)


async def test_the_last_admin_stays_an_admin_when_the_directory_drops_them(
    client: TestClient, ldap_server: LdapServer
) -> None:
    assert (await signed_in(client, "efua"))["user"]["role"] == Role.ADMIN
    ldap_server.remove_from_group("efua", "compax-admins")
    assert (await signed_in(client, "efua"))["user"]["role"] == Role.ADMIN


async def test_another_admin_lets_the_directory_demote_one(
    client: TestClient, admin: Person, ldap_server: LdapServer
) -> None:
    assert (await signed_in(client, "efua"))["user"]["role"] == Role.ADMIN
    ldap_server.remove_from_group("efua", "compax-admins")
    assert (await signed_in(client, "efua"))["user"]["role"] == Role.STUDENT


class TestUserFilterFindingAnother:
    """Bind as the user, then their entry searched for by a filter that finds someone else:
    as when one person's UPN prefix is another's sAMAccountName."""

    @pytest.fixture
    def settings(self, database_url: str, tmp_path: Path, ldap_server: LdapServer) -> Settings:
        ldap_server.set_attribute("kofi", "mail", "kofi.mensah@campus.edu")
        ldap_server.set_attribute("efua", "mail", "kofi@campus.edu")
        return make_settings(
            database_url,
            tmp_path,
            ldap_url=ldap_server.url,
            ldap_user_base=PEOPLE,
            ldap_user_filter="(mail={username}@campus.edu)",
            **DIRECT,
            **MAPPING,
        )

    async def test_signs_nobody_in_as_the_other_entry(self, client: TestClient) -> None:
        await problem_of(await sign_in(client, "kofi", password_of("kofi")), 401)
        assert (await signed_in(client, "yaw"))["user"]["role"] == Role.STAFF


class TestMissingGroupBase:
    @pytest.fixture
    def settings(self, database_url: str, tmp_path: Path, ldap_server: LdapServer) -> Settings:
        return make_settings(
            database_url,
            tmp_path,
            ldap_url=ldap_server.url,
            **{**DIRECT, "ldap_group_base": "ou=gone,dc=campus,dc=test"},
            **MAPPING,
        )

    async def test_a_failed_group_search_is_a_503_in_words_not_the_default_role(
        self, client: TestClient
    ) -> None:
        problem = await problem_of(await sign_in(client, "efua", password_of("efua")), 503)
        assert "failed a search under ou=gone,dc=campus,dc=test (noSuchObject)" in problem["detail"]


async def test_text_ldap_cannot_carry_signs_nobody_in(ldap_server: LdapServer) -> None:
    directory = LdapDirectory(SignInSettings(ldap_url=ldap_server.url, **DIRECT))  # type: ignore[arg-type]
    assert await directory.authenticate("ama\ud800", "ama-password") is None
    assert await directory.authenticate("ama", "ama-password\ud800") is None
    directory.close()


# --- Search then bind, memberOf -----------------------------------------------------------------


class TestSearchThenBind:
    @pytest.fixture
    def settings(self, database_url: str, tmp_path: Path, ldap_server: LdapServer) -> Settings:
        return make_settings(database_url, tmp_path, ldap_url=ldap_server.url, **SEARCH, **MAPPING)

    async def test_the_service_account_finds_the_person_who_then_binds(
        self, client: TestClient
    ) -> None:
        user = (await signed_in(client, "ama"))["user"]
        assert (user["username"], user["role"]) == ("ama", Role.STAFF)
        await problem_of(await sign_in(client, "ama", "not-amas-password"), 401)

    @pytest.mark.parametrize("name", ["*)(uid=*", "*", "ama)(|(uid=*", "y*"])
    async def test_filter_metacharacters_in_a_username_sign_nobody_in(
        self, client: TestClient, name: str
    ) -> None:
        for uid in ("ama", "yaw"):
            await problem_of(await sign_in(client, name, password_of(uid)), 401)


class TestMemberOf:
    """Active Directory style: the groups are the user's memberOf values."""

    @pytest.fixture
    def settings(self, database_url: str, tmp_path: Path, ldap_server: LdapServer) -> Settings:
        return make_settings(
            database_url, tmp_path, ldap_url=ldap_server.url, **MEMBER_OF, **MAPPING_BY_DN
        )

    async def test_groups_come_from_member_of(
        self, client: TestClient, eng: int, ldap_server: LdapServer
    ) -> None:
        user = (await signed_in(client, "yaw"))["user"]
        assert (user["role"], user["manages"]) == (Role.STAFF, [eng])
        ldap_server.remove_from_group("yaw", "staff")
        ldap_server.remove_from_group("yaw", "eng-facilities")
        user = (await signed_in(client, "yaw"))["user"]
        assert (user["role"], user["manages"]) == (Role.STUDENT, [])

    async def test_a_cn_alone_names_no_member_of_group(
        self, aiohttp_client: Any, database_url: str, tmp_path: Path, ldap_server: LdapServer
    ) -> None:
        settings = make_settings(
            database_url, tmp_path, ldap_url=ldap_server.url, **MEMBER_OF, **MAPPING
        )
        client = await aiohttp_client(create_app(settings))
        user = (await signed_in(client, "efua"))["user"]
        assert user["role"] == Role.STUDENT


# --- TLS ----------------------------------------------------------------------------------------


def tls_settings(ldap_server: LdapServer, how: str, ca_file: Path) -> dict[str, object]:
    if how == "ldaps":
        return {"ldap_url": ldap_server.ldaps_url, "ldap_ca_file": ca_file}
    return {"ldap_url": ldap_server.url, "ldap_starttls": True, "ldap_ca_file": ca_file}


@pytest.fixture(params=["starttls", "ldaps"])
def tls(request: pytest.FixtureRequest) -> str:
    how: str = request.param
    return how


class TestTls:
    @pytest.fixture
    def settings(
        self, database_url: str, tmp_path: Path, ldap_server: LdapServer, tls: str
    ) -> Settings:
        values = tls_settings(ldap_server, tls, ldap_server.ca_file)
        return make_settings(database_url, tmp_path, **values, **DIRECT, **MAPPING)

    async def test_signs_in_over_tls_trusting_the_ca_file(self, client: TestClient) -> None:
        assert (await signed_in(client, "ama"))["user"]["role"] == Role.STAFF


class TestUntrustedCertificate:
    @pytest.fixture
    def settings(
        self, database_url: str, tmp_path: Path, ldap_server: LdapServer, tls: str
    ) -> Settings:
        other_ca = tmp_path / "other-ca.pem"
        trustme.CA().cert_pem.write_to_path(str(other_ca))
        values = tls_settings(ldap_server, tls, other_ca)
        return make_settings(database_url, tmp_path, **values, **DIRECT, **MAPPING)

    async def test_a_certificate_from_another_ca_is_a_503_in_words(
        self, client: TestClient
    ) -> None:
        problem = await problem_of(await sign_in(client, "ama", password_of("ama")), 503)
        assert "certificate" in problem["detail"]
        assert "COMPAX_LDAP_CA_FILE" in problem["detail"]


# --- A directory that is down or silent ---------------------------------------------------------


def closed_port() -> int:
    """A port nothing listens on (bound, then released)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class TestUnreachableDirectory:
    @pytest.fixture
    def settings(self, database_url: str, tmp_path: Path) -> Settings:
        return make_settings(
            database_url,
            tmp_path,
            ldap_url=f"ldap://127.0.0.1:{closed_port()}",
            local_sign_in="break-glass",
            break_glass_admins=["root"],
            **DIRECT,
            **MAPPING,
        )

    async def test_directory_users_get_a_503_in_words(self, client: TestClient) -> None:
        problem = await problem_of(await sign_in(client, "ama", "ama-password"), 503)
        assert "cannot be reached" in problem["detail"]

    async def test_the_break_glass_admin_still_signs_in(
        self, client: TestClient, admin: Person
    ) -> None:
        response = await sign_in(client, "root", PASSWORD)
        assert response.status == 200, await response.text()
        await problem_of(await sign_in(client, "root", "not-roots-password"), 401)

    async def test_a_local_user_who_is_not_break_glass_is_refused(
        self, client: TestClient, make_person: MakePerson
    ) -> None:
        await make_person(Role.STAFF, username="sena")
        await problem_of(await sign_in(client, "sena", PASSWORD), 503)


class TestUnreachableDirectoryBesideLocalPasswords:
    @pytest.fixture
    def settings(self, database_url: str, tmp_path: Path) -> Settings:
        closed = socket.socket()
        closed.bind(("127.0.0.1", 0))
        port = closed.getsockname()[1]
        closed.close()
        return make_settings(
            database_url,
            tmp_path,
            ldap_url=f"ldap://127.0.0.1:{port}",
            login_attempts_per_username_and_address=3,
            **DIRECT,
            **MAPPING,
        )

    async def test_wrong_local_passwords_stay_counted_while_the_directory_is_down(
        self, client: TestClient, make_person: MakePerson
    ) -> None:
        await make_person(Role.STAFF, username="sena")
        answers = [(await sign_in(client, "sena", f"wrong-{n}")).status for n in range(4)]
        assert answers == [503, 503, 503, 429]
        await problem_of(await sign_in(client, "sena", PASSWORD), 429)


@pytest.fixture
def silent_listener() -> Iterator[socket.socket]:
    """A listening socket that accepts connections (into its backlog) and never answers;
    closing it resets them."""
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(16)
    try:
        yield listener
    finally:
        listener.close()


@pytest.fixture
def silent_directory(silent_listener: socket.socket) -> str:
    """An ldap:// URL whose server accepts connections and never answers."""
    return f"ldap://127.0.0.1:{silent_listener.getsockname()[1]}"


class TestSilentDirectory:
    @pytest.fixture
    def settings(self, database_url: str, tmp_path: Path, silent_directory: str) -> Settings:
        return make_settings(
            database_url,
            tmp_path,
            ldap_url=silent_directory,
            ldap_timeout_seconds=1,
            **DIRECT,
            **MAPPING,
        )

    async def test_a_directory_that_never_answers_is_a_503_within_the_timeout(
        self, client: TestClient
    ) -> None:
        started = time.monotonic()
        problem = await problem_of(await sign_in(client, "ama", "ama-password"), 503)
        assert time.monotonic() - started < 5
        assert "did not answer" in problem["detail"]


class TestHangingDirectory:
    """A directory that hangs holds only the directory's own threads: password checks go on,
    sign-ins beyond its threads are refused at once, and an outage is remembered."""

    @pytest.fixture
    def settings(self, database_url: str, tmp_path: Path, silent_directory: str) -> Settings:
        return make_settings(
            database_url,
            tmp_path,
            ldap_url=silent_directory,
            ldap_timeout_seconds=60,
            local_sign_in="break-glass",
            break_glass_admins=["root"],
            **DIRECT,
            **MAPPING,
        )

    async def test_break_glass_signs_in_while_directory_sign_ins_hang(
        self,
        client: TestClient,
        admin: Person,
        silent_listener: socket.socket,
        monkeypatch: pytest.MonkeyPatch,
    ) -> None:
        assert client.app is not None
        directory = client.app[SIGN_IN].directory
        assert isinstance(directory, LdapDirectory)
        connections: list[str | None] = []
        connection = LdapDirectory.connection
        loop, all_asking = asyncio.get_running_loop(), asyncio.Event()

        def counted(self: LdapDirectory, *args: Any) -> Any:
            connections.append(args[0] if args else None)
            if len(connections) == LDAP_THREADS:
                loop.call_soon_threadsafe(all_asking.set)
            return connection(self, *args)

        monkeypatch.setattr(LdapDirectory, "connection", counted)
        hanging = [
            asyncio.create_task(sign_in(client, f"person{n}", "a-password"))
            for n in range(LDAP_THREADS)
        ]
        await asyncio.wait_for(all_asking.wait(), 30)
        assert directory.busy
        busy = await problem_of(await sign_in(client, "person-late", "a-password"), 503)
        assert busy["detail"] == "The campus directory is busy; try again in a moment"
        response = await sign_in(client, "root", PASSWORD)
        assert response.status == 200, await response.text()
        assert not any(task.done() for task in hanging)
        silent_listener.close()
        for task in hanging:
            await problem_of(await task, 503)
        asked = len(connections)
        again = await problem_of(await sign_in(client, "ama", "ama-password"), 503)
        assert "campus directory" in again["detail"]
        assert len(connections) == asked


# --- compax server check-sso ---------------------------------------------------------------------


def by_what(findings: list[Finding]) -> dict[str, Finding]:
    return {finding.what: finding for finding in findings}


async def test_checks_say_bind_refused_for_a_wrong_service_password(
    ldap_server: LdapServer,
) -> None:
    settings = SignInSettings(
        ldap_url=ldap_server.url,
        **{**SEARCH, "ldap_bind_password": "wrong"},  # type: ignore[arg-type]
    )
    found = by_what(await ldap_checks(settings, "yaw", None))
    assert found["LDAP connection"].outcome is Outcome.OK
    bind = found["LDAP service bind"]
    assert bind.outcome is Outcome.FAILED
    assert bind.detail.startswith("bind refused: check COMPAX_LDAP_BIND_DN")


async def test_checks_report_a_persons_groups_and_role(ldap_server: LdapServer) -> None:
    settings = SignInSettings(ldap_url=ldap_server.url, **SEARCH, **MAPPING)  # type: ignore[arg-type]
    found = by_what(await ldap_checks(settings, "yaw", "yaw-password"))
    assert all(f.outcome is Outcome.OK for f in found.values()), found
    assert found["LDAP user"].detail == f"yaw is uid=yaw,{PEOPLE}"
    assert f"cn=eng-facilities,{GROUPS}" in found["LDAP groups"].detail
    assert found["Compax role"].detail == "gets the role staff, manages ENG"
    nobody = by_what(await ldap_checks(settings, "abena", "wrong"))
    assert nobody["LDAP user bind"].outcome is Outcome.FAILED
    assert nobody["Compax role"].detail == "in no mapped group: gets the default role student"


async def test_checks_say_which_groups_count_by_cn_and_a_failed_search(
    ldap_server: LdapServer,
) -> None:
    settings = SignInSettings(ldap_url=ldap_server.url, **SEARCH, **MAPPING)  # type: ignore[arg-type]
    found = by_what(await ldap_checks(settings, "yaw", "yaw-password"))
    assert found["LDAP groups"].detail.endswith("; mapped by CN too: eng-facilities, staff")
    gone = settings.model_copy(update={"ldap_group_base": "ou=gone,dc=campus,dc=test"})
    groups = by_what(await ldap_checks(gone, "yaw", "yaw-password"))["LDAP groups"]
    assert groups.outcome is Outcome.FAILED
    assert "failed a search under ou=gone,dc=campus,dc=test (noSuchObject)" in groups.detail


async def test_checks_say_the_user_filter_finds_another_entry(ldap_server: LdapServer) -> None:
    ldap_server.set_attribute("kofi", "mail", "kofi.mensah@campus.edu")
    ldap_server.set_attribute("efua", "mail", "kofi@campus.edu")
    settings = SignInSettings(
        ldap_url=ldap_server.url,
        ldap_user_base=PEOPLE,
        ldap_user_filter="(mail={username}@campus.edu)",
        **DIRECT,  # type: ignore[arg-type]
    )
    found = by_what(await ldap_checks(settings, "kofi", "kofi-password"))
    assert found["LDAP user"].outcome is Outcome.FAILED
    assert f"finds uid=efua,{PEOPLE}, which is not the entry" in found["LDAP user"].detail


async def test_checks_say_the_directory_cannot_be_reached() -> None:
    settings = SignInSettings(ldap_url=f"ldap://127.0.0.1:{closed_port()}", **DIRECT)  # type: ignore[arg-type]
    (finding,) = await ldap_checks(settings, None, None)
    assert finding.outcome is Outcome.FAILED
    assert "cannot be reached" in finding.detail


async def test_a_direct_bind_reads_the_person_as_themselves(ldap_server: LdapServer) -> None:
    settings = SignInSettings(ldap_url=ldap_server.url, **DIRECT, **MAPPING)  # type: ignore[arg-type]
    identity = await LdapDirectory(settings).authenticate("Efua", "efua-password")
    assert identity is not None
    assert (identity.subject, identity.email) == (f"uid=efua,{PEOPLE}", "efua@campus.edu")
    assert await asyncio.wait_for(LdapDirectory(settings).authenticate("efua", "x"), 10) is None


def test_check_sso_says_in_words_what_the_directory_gives_a_person(
    ldap_server: LdapServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    for name in list(os.environ):
        if name.startswith("COMPAX_"):
            monkeypatch.delenv(name)
    environment = {
        "COMPAX_DATA_DIR": str(tmp_path),
        "COMPAX_LDAP_URL": ldap_server.ldaps_url,
        "COMPAX_LDAP_CA_FILE": str(ldap_server.ca_file),
        "COMPAX_LDAP_BIND_DN": SERVICE_DN,
        "COMPAX_LDAP_BIND_PASSWORD": SERVICE_PASSWORD,
        "COMPAX_LDAP_USER_BASE": PEOPLE,
        "COMPAX_LDAP_GROUP_BASE": GROUPS,
        "COMPAX_DIRECTORY_ROLES": '{"staff": "staff"}',
        "COMPAX_DIRECTORY_MANAGERS": '{"eng-facilities": ["ENG"]}',
    }
    for name, value in environment.items():
        monkeypatch.setenv(name, value)
    args = ["server", "check-sso", "--username", "yaw", "--password-stdin"]
    result = CliRunner().invoke(app, args, input="yaw-password\n")
    assert result.exit_code == 0, result.output
    assert "answered over TLS" in result.output
    assert "gets the role staff, manages ENG" in result.output
    monkeypatch.setenv("COMPAX_LDAP_BIND_PASSWORD", "wrong")
    result = CliRunner().invoke(app, args, input="yaw-password\n")
    assert result.exit_code == 1, result.output
    assert "bind refused: check COMPAX_LDAP_BIND_DN" in result.output


async def test_after_a_direct_bind_the_entry_may_be_searched_under_the_user_base(
    ldap_server: LdapServer,
) -> None:
    """As with Active Directory's UPN binds, whose bind name is no DN to read back."""
    settings = SignInSettings(
        ldap_url=ldap_server.url,
        ldap_user_base=PEOPLE,
        **DIRECT,  # type: ignore[arg-type]
    )
    identity = await LdapDirectory(settings).authenticate("ama", "ama-password")
    assert identity is not None
    assert identity.subject == f"uid=ama,{PEOPLE}"
    assert identity.groups == {f"cn=staff,{GROUPS}", "staff"}


async def test_a_direct_bind_signs_in_only_as_the_entry_it_bound_as(
    ldap_server: LdapServer, caplog: pytest.LogCaptureFixture
) -> None:
    """As when one person's UPN prefix is another's sAMAccountName: the user filter finds
    efua for kofi's name, but kofi bound, so nobody is signed in."""
    ldap_server.set_attribute("kofi", "mail", "kofi.mensah@campus.edu")
    ldap_server.set_attribute("efua", "mail", "kofi@campus.edu")
    settings = SignInSettings(
        ldap_url=ldap_server.url,
        ldap_user_base=PEOPLE,
        ldap_user_filter="(mail={username}@campus.edu)",
        **DIRECT,  # type: ignore[arg-type]
    )
    directory = LdapDirectory(settings)
    assert await directory.authenticate("kofi", "kofi-password") is None
    assert f"but COMPAX_LDAP_USER_FILTER found uid=efua,{PEOPLE}" in caplog.text
    ldap_server.set_attribute("kofi", "mail", "kofi@campus.edu")
    ldap_server.set_attribute("efua", "mail", "efua@campus.edu")
    identity = await directory.authenticate("kofi", "kofi-password")
    assert identity is not None and identity.subject == f"uid=kofi,{PEOPLE}"
    directory.close()


async def test_a_bind_name_that_is_no_dn_is_resolved_by_who_am_i(
    ldap_server: LdapServer,
) -> None:
    """As for an Active Directory UPN bind: the directory names the entry that bound."""
    directory = LdapDirectory(SignInSettings(ldap_url=ldap_server.url, **DIRECT))  # type: ignore[arg-type]
    conn = directory.bound(f"uid=kofi,{PEOPLE}", "kofi-password")
    conn.user = "kofi@campus.edu"
    assert directory.bound_entry(conn) == f"uid=kofi,{PEOPLE}"
    close(conn)


@pytest.mark.parametrize(
    "where",
    [
        {"ldap_group_base": "ou=gone,dc=campus,dc=test"},
        {"ldap_user_base": "ou=gone,dc=campus,dc=test"},
    ],
)
async def test_a_failed_search_is_unavailable_not_no_groups_or_a_wrong_password(
    ldap_server: LdapServer, where: dict[str, object]
) -> None:
    settings = SignInSettings(ldap_url=ldap_server.url, **{**DIRECT, **where})  # type: ignore[arg-type]
    directory = LdapDirectory(settings)
    with pytest.raises(Unavailable, match=r"failed a search under ou=gone.*noSuchObject"):
        await directory.authenticate("efua", "efua-password")
    directory.close()


async def test_a_group_named_like_an_admin_group_outside_the_group_base_names_no_role(
    ldap_server: LdapServer,
) -> None:
    """Anyone able to make a group may call it anything: with no group base, memberOf's
    groups are named by their DNs only."""
    ldap_server.add_group("compax-admins", "ou=services,dc=campus,dc=test", "abena")
    settings = SignInSettings(ldap_url=ldap_server.url, **MEMBER_OF, **MAPPING)  # type: ignore[arg-type]
    directory = LdapDirectory(settings)
    identity = await directory.authenticate("abena", "abena-password")
    assert identity is not None
    assert identity.groups == {"cn=compax-admins,ou=services,dc=campus,dc=test"}
    found = by_what(await ldap_checks(settings, "abena", "abena-password"))
    assert "mapped by DN only" in found["LDAP groups"].detail
    directory.close()


@pytest.mark.parametrize(
    ("name", "dn"),
    [
        ("uid=a\\=b,ou=people,dc=campus,dc=test", True),
        ("CN=Compax Admins, OU=Groups,DC=campus,DC=edu", True),
        ("a\\=b@campus.edu", False),
        ("CAMPUS\\kofi", False),
        ("", False),
    ],
)
def test_a_bind_name_is_a_dn_only_when_each_part_names_an_attribute(name: str, dn: bool) -> None:
    assert is_dn(name) is dn


def test_group_dns_are_compared_in_lower_case_without_spacing() -> None:
    assert normal_dn("CN=Compax Admins , OU=Groups,DC=campus, DC=edu") == (
        "cn=compax admins,ou=groups,dc=campus,dc=edu"
    )
