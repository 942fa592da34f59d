"""Directory users: made on first sign-in, their role, name and managed buildings following
the directory at each sign-in, and the accounts the directory may never take."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import pytest
from aiohttp.test_utils import TestClient
from sqlalchemy import select
from sqlmodel import col

from compax_server.app import create_app
from compax_server.directory.identity import DirectoryIdentity
from compax_server.directory.mapping import RANKED, GroupMapping
from compax_server.keys import DATABASE, PASSWORDS, SIGN_IN
from compax_server.models import AuditEntry, BuildingManager, User
from compax_server.services.directory_users import directory_username
from compax_server.services.users import create_user
from sync.errors import Forbidden, NotAuthenticated
from sync.permissions import Role
from sync.schemas import UserCreate
from sync.vocabulary import AuthSource
from tests.booking_helpers import make_campus
from tests.conftest import PASSWORD, MakePerson, Person, make_settings

ROLES = {"compax-admins": Role.ADMIN, "cn=Staff,ou=groups,dc=campus,dc=test": Role.STAFF}
STAFF = "cn=staff,ou=groups,dc=campus,dc=test"
MANAGERS = {"pb-facilities": ["PB"], "ghost-facilities": ["NOPE"]}


def ama(*groups: str, subject: str = "uid=ama,ou=people,dc=campus,dc=test") -> DirectoryIdentity:
    return DirectoryIdentity(
        source=AuthSource.LDAP,
        subject=subject,
        username="Ama.Owusu@campus.edu",
        full_name="Ama Owusu",
        email="ama@campus.edu",
        groups=frozenset(groups),
    )


@pytest.fixture
async def client(aiohttp_client, database_url: str, tmp_path: Path) -> TestClient:  # type: ignore[no-untyped-def]
    settings = make_settings(
        database_url,
        tmp_path,
        directory_roles=ROLES,
        directory_managers=MANAGERS,
        directory_domains=["campus.edu"],
        break_glass_admins=["root"],
    )
    return await aiohttp_client(create_app(settings))


async def _sign_in(client: TestClient, identity: DirectoryIdentity) -> dict[str, Any]:
    assert client.app is not None
    answer = await client.app[SIGN_IN].token_for_identity(identity)
    return answer.model_dump(mode="json")


async def _user(client: TestClient, username: str) -> User:
    assert client.app is not None
    async with client.app[DATABASE].read() as session:
        user = await session.scalar(select(User).where(col(User.username) == username))
    assert user is not None
    return user


def test_the_highest_mapped_role_wins_and_groups_match_whole_in_any_case() -> None:
    mapping = GroupMapping(ROLES, MANAGERS, Role.STUDENT)
    assert mapping.role_for(["CN=staff, OU=Groups, DC=campus, DC=test"]) is Role.STAFF
    assert mapping.role_for(["staff"]) is Role.STUDENT  # a DN in the mapping names that DN only
    assert mapping.role_for(["cn=compax-admins,ou=elsewhere,dc=campus,dc=test"]) is Role.STUDENT
    assert mapping.role_for(["Staff", "COMPAX-ADMINS"]) is Role.ADMIN
    assert mapping.role_for(["library"]) is Role.STUDENT
    every_role = GroupMapping({role.value: role for role in Role}, {}, None)
    assert every_role.role_for(["class_rep", "staff"]) is Role.STAFF
    assert every_role.role_for(["exams_officer", "staff", "student"]) is Role.EXAMS_OFFICER
    assert every_role.role_for(["class_rep"]) is Role.CLASS_REP
    assert set(RANKED) == set(Role)
    assert GroupMapping(ROLES, {}, None).role_for(["library"]) is None
    assert mapping.buildings_for(["PB-Facilities"]) == {"PB"}
    assert mapping.buildings_for(["cn=pb-facilities,ou=groups"]) == set()


def test_directory_names_become_compax_usernames() -> None:
    campus = ["campus.edu"]
    assert directory_username("Ama.Owusu@campus.edu", campus) == "ama.owusu"
    assert directory_username("Ama.Owusu@Gmail.com", campus) == "ama.owusu@gmail.com"
    assert directory_username("ama@students.campus.edu", campus) == "ama@students.campus.edu"
    assert directory_username("Ama.Owusu@campus.edu") == "ama.owusu@campus.edu"
    assert directory_username("CAMPUS kofi mensah") == "campus-kofi-mensah"
    assert directory_username(" X ") == "x"


async def test_first_sign_in_makes_the_user_and_later_ones_find_them(client: TestClient) -> None:
    first = await _sign_in(client, ama("cn=staff,ou=groups,dc=campus,dc=test"))
    assert first["user"]["username"] == "ama.owusu"
    assert (first["user"]["role"], first["user"]["auth_source"]) == ("staff", "ldap")
    assert (first["user"]["full_name"], first["user"]["email"]) == ("Ama Owusu", "ama@campus.edu")
    again = await _sign_in(client, ama("CN=Staff,OU=groups,DC=campus,DC=test"))
    assert again["user"]["id"] == first["user"]["id"]
    user = await _user(client, "ama.owusu")
    assert (user.auth_source, user.external_id) == ("ldap", "ldap:" + ama().subject)
    assert user.password_hash == ""
    me = await client.get(
        "/api/v1/me", headers={"Authorization": f"Bearer {again['access_token']}"}
    )
    assert me.status == 200


async def test_a_change_of_group_changes_the_role_and_revokes_older_tokens(
    client: TestClient,
) -> None:
    staff = await _sign_in(client, ama(STAFF))
    student = await _sign_in(client, ama("library"))
    assert student["user"]["role"] == "student"
    old = await client.get(
        "/api/v1/me", headers={"Authorization": f"Bearer {staff['access_token']}"}
    )
    assert old.status == 401
    new = await client.get(
        "/api/v1/me", headers={"Authorization": f"Bearer {student['access_token']}"}
    )
    assert (await new.json())["role"] == "student"
    assert client.app is not None
    async with client.app[DATABASE].read() as session:
        actions = list(
            await session.scalars(
                select(col(AuditEntry.action)).where(
                    col(AuditEntry.record_type) == "users",
                    col(AuditEntry.record_id) == str(staff["user"]["id"]),
                )
            )
        )
    assert actions == ["create", "role_change"]


async def test_the_last_admin_stays_an_admin_whatever_the_directory_says(
    client: TestClient,
) -> None:
    await _sign_in(client, ama("compax-admins"))
    kept = await _sign_in(client, ama("library"))
    assert kept["user"]["role"] == "admin"
    kofi = DirectoryIdentity(
        AuthSource.OIDC, "issuer#kofi", "kofi", groups=frozenset({"compax-admins"})
    )
    await _sign_in(client, kofi)
    demoted = await _sign_in(client, ama("library"))
    assert demoted["user"]["role"] == "student"


async def test_the_directory_never_takes_a_break_glass_deactivated_or_taken_account(
    client: TestClient, make_person: MakePerson
) -> None:
    await make_person(Role.ADMIN, username="root")
    with pytest.raises(Forbidden, match="break-glass"):
        await _sign_in(client, DirectoryIdentity(AuthSource.LDAP, "uid=root", "root"))
    await _sign_in(client, ama(STAFF))
    with pytest.raises(Forbidden, match="another ldap account"):
        await _sign_in(client, ama(STAFF, subject="uid=ama2,ou=people,dc=campus,dc=test"))
    assert client.app is not None
    async with client.app[DATABASE].write() as session:
        user = await session.scalar(select(User).where(col(User.username) == "ama.owusu"))
        assert user is not None
        user.active = False
    with pytest.raises(NotAuthenticated, match="deactivated"):
        await _sign_in(client, ama(STAFF))
    client.app[SIGN_IN].mapping = GroupMapping(ROLES, {}, None)
    with pytest.raises(Forbidden, match="no directory group"):
        await _sign_in(client, DirectoryIdentity(AuthSource.LDAP, "uid=yaw", "yaw"))


async def test_an_account_made_here_is_taken_over_and_loses_its_password(
    client: TestClient, make_person: MakePerson
) -> None:
    made = await make_person(Role.STUDENT, username="ama.owusu")
    answer = await _sign_in(client, ama(STAFF))
    assert answer["user"]["id"] == made.id
    refused = await client.post(
        "/api/v1/auth/token", json={"username": "ama.owusu", "password": PASSWORD}
    )
    assert refused.status == 401
    old_token = await client.get("/api/v1/me", headers=made.headers)
    assert old_token.status == 401


async def test_no_admin_made_here_and_no_account_of_another_identity_is_taken_over(
    client: TestClient, make_person: MakePerson
) -> None:
    await make_person(Role.ADMIN, username="admin")
    with pytest.raises(Forbidden, match="admin account"):
        await _sign_in(client, DirectoryIdentity(AuthSource.OIDC, "google#1", "admin@campus.edu"))
    gmail = DirectoryIdentity(AuthSource.OIDC, "google#2", "Admin@gmail.com")
    assert (await _sign_in(client, gmail))["user"]["username"] == "admin@gmail.com"
    ldap = await _sign_in(client, ama(STAFF))
    other = DirectoryIdentity(AuthSource.OIDC, "issuer#ama", "ama.owusu@campus.edu")
    with pytest.raises(Forbidden, match="another ldap account"):
        await _sign_in(client, other)
    again = await client.get(
        "/api/v1/me", headers={"Authorization": f"Bearer {ldap['access_token']}"}
    )
    assert again.status == 200


async def test_directory_grants_follow_groups_and_hand_grants_stay(
    client: TestClient, admin: Person
) -> None:
    await make_campus(client, admin)
    first = await _sign_in(client, ama(STAFF, "pb-facilities", "ghost-facilities"))
    user_id = first["user"]["id"]
    assert first["user"]["manages"] == [1]
    by_hand = await client.put(f"/api/v1/buildings/2/managers/{user_id}", headers=admin.headers)
    assert by_hand.status == 200
    after = await _sign_in(client, ama(STAFF))
    assert after["user"]["manages"] == [2]
    assert client.app is not None
    async with client.app[DATABASE].read() as session:
        grants = list(
            await session.execute(
                select(col(BuildingManager.building_id), col(BuildingManager.source))
            )
        )
        trail = list(
            await session.scalars(
                select(col(AuditEntry.action))
                .where(col(AuditEntry.record_type) == "building_manager")
                .order_by(col(AuditEntry.id))
            )
        )
    assert [tuple(row) for row in grants] == [(2, "admin")]
    assert trail == ["create", "create", "delete"]


@pytest.mark.postgres
async def test_two_first_sign_ins_at_once_make_one_user(client: TestClient) -> None:
    answers = await asyncio.gather(*(_sign_in(client, ama(STAFF)) for _ in range(4)))
    assert len({answer["user"]["id"] for answer in answers}) == 1


async def test_with_passwords_for_break_glass_only_everyone_else_is_sent_to_the_directory(
    aiohttp_client: Any, database_url: str, tmp_path: Path
) -> None:
    settings = make_settings(
        database_url,
        tmp_path,
        oidc_issuer="http://127.0.0.1:9/",
        oidc_client_id="compax",
        local_sign_in="break-glass",
        break_glass_admins=["root"],
    )
    client = await aiohttp_client(create_app(settings))
    app = client.app
    for role, name in ((Role.ADMIN, "root"), (Role.STAFF, "kofi")):
        password_hash = await app[PASSWORDS].hash(PASSWORD)
        async with app[DATABASE].write() as session:
            await create_user(
                session, UserCreate(username=name, password=PASSWORD, role=role), password_hash
            )
    root = await client.post("/api/v1/auth/token", json={"username": "Root", "password": PASSWORD})
    assert root.status == 200, await root.text()
    kofi = await client.post("/api/v1/auth/token", json={"username": "kofi", "password": PASSWORD})
    assert kofi.status == 401
    assert "campus account" in (await kofi.json())["detail"]
