"""Bulk imports: per-row results, upserts on natural keys, reruns, bad rows that block nothing."""

from __future__ import annotations

from typing import Any

import pytest
from aiohttp.test_utils import TestClient

from sync.permissions import Role
from tests.conftest import MakePerson, Person
from tests.support import bearer, error_fields, problem_of, sign_in


async def _bulk(
    client: TestClient, admin: Person, plural: str, rows: list[dict[str, Any]]
) -> dict[str, Any]:
    response = await client.post(
        f"/api/v1/{plural}:bulk", json={"rows": rows}, headers=admin.headers
    )
    assert response.status == 200, await response.text()
    body: dict[str, Any] = await response.json()
    assert [r["index"] for r in body["results"]] == list(range(len(rows)))
    return body


def _statuses(body: dict[str, Any]) -> list[str]:
    return [result["status"] for result in body["results"]]


def _rejected_fields(body: dict[str, Any], index: int) -> list[str]:
    result = body["results"][index]
    assert result["status"] == "rejected", result
    assert all(error["message"] for error in result["errors"])
    return [error["field"] for error in result["errors"]]


async def _list(client: TestClient, admin: Person, plural: str) -> list[dict[str, Any]]:
    response = await client.get(f"/api/v1/{plural}?limit=500", headers=admin.headers)
    items: list[dict[str, Any]] = (await response.json())["items"]
    return items


BUILDINGS = [
    {"code": "PB", "name": "Petroleum", "floors": 3},
    {"code": "no spaces!", "name": "Bad code"},
    {"code": "ENG", "name": "Engineering"},
    {"code": "LIB"},
    {"code": "SCI", "name": "Science", "floors": 0, "colour": "blue"},
    {"code": "LAW", "name": "Law\x00School"},
]


async def test_mixed_rows_store_the_good_and_name_the_bad(
    client: TestClient, admin: Person
) -> None:
    """Good rows are created, bad rows rejected with their fields; the summary counts both."""
    body = await _bulk(client, admin, "buildings", BUILDINGS)
    assert _statuses(body) == ["created", "rejected", "created", "rejected", "rejected", "rejected"]
    assert _rejected_fields(body, 1) == ["code"]
    assert _rejected_fields(body, 3) == ["name"]
    assert sorted(_rejected_fields(body, 4)) == ["colour", "floors"]
    assert _rejected_fields(body, 5) == ["name"], "a NUL, which Postgres cannot store"
    assert body["summary"] == {"created": 2, "updated": 0, "unchanged": 0, "rejected": 4}
    stored = await _list(client, admin, "buildings")
    assert [(b["code"], b["floors"], b["version"]) for b in stored] == [("PB", 3, 1), ("ENG", 1, 1)]
    assert [b["id"] for b in stored] == [body["results"][0]["id"], body["results"][2]["id"]]
    assert body["results"][1]["id"] is None


async def test_rerun_is_unchanged_and_a_changed_row_is_updated(
    client: TestClient, admin: Person
) -> None:
    """The same request twice changes nothing; changing one row updates it and bumps its version."""
    first = await _bulk(client, admin, "buildings", BUILDINGS)
    again = await _bulk(client, admin, "buildings", BUILDINGS)
    assert _statuses(again) == ["unchanged", "rejected", "unchanged", *["rejected"] * 3]
    assert [r["id"] for r in again["results"]] == [r["id"] for r in first["results"]]
    assert [b["version"] for b in await _list(client, admin, "buildings")] == [1, 1]

    changed = [dict(row) for row in BUILDINGS]
    changed[2]["name"] = "Engineering Block"
    third = await _bulk(client, admin, "buildings", changed)
    assert _statuses(third) == ["unchanged", "rejected", "updated", *["rejected"] * 3]
    assert third["summary"]["updated"] == 1
    stored = await _list(client, admin, "buildings")
    assert [(b["name"], b["version"]) for b in stored] == [
        ("Petroleum", 1),
        ("Engineering Block", 2),
    ]


async def test_a_later_row_with_the_same_key_updates_the_earlier(
    client: TestClient, admin: Person
) -> None:
    """Rows apply in order: the second row for one code updates what the first created."""
    rows = [{"code": "PB", "name": "First"}, {"code": "pb", "name": "Second"}]
    body = await _bulk(client, admin, "buildings", rows)
    assert _statuses(body) == ["created", "updated"]
    assert body["results"][0]["id"] == body["results"][1]["id"]
    stored = await _list(client, admin, "buildings")
    assert [(b["name"], b["version"]) for b in stored] == [("Second", 2)]


@pytest.mark.parametrize("plural", ["buildings", "rooms", "users", "terms"])
async def test_more_than_1000_rows_is_422(client: TestClient, admin: Person, plural: str) -> None:
    """A request over the row limit is refused whole, naming ``rows``; so is an empty one."""
    rows = [{"code": f"B{i}", "name": "x"} for i in range(1001)]
    response = await client.post(
        f"/api/v1/{plural}:bulk", json={"rows": rows}, headers=admin.headers
    )
    assert error_fields(await problem_of(response, 422)) == ["rows"]
    empty = await client.post(f"/api/v1/{plural}:bulk", json={"rows": []}, headers=admin.headers)
    assert error_fields(await problem_of(empty, 422)) == ["rows"]
    assert len(await _list(client, admin, plural)) == (1 if plural == "users" else 0)


async def test_exactly_1000_rows_are_accepted(client: TestClient, admin: Person) -> None:
    """The limit is inclusive: 1,000 buildings go in in one request."""
    rows = [{"code": f"B{i}", "name": f"Building {i}"} for i in range(1000)]
    body = await _bulk(client, admin, "buildings", rows)
    assert body["summary"]["created"] == 1000
    response = await client.get("/api/v1/buildings?limit=500", headers=admin.headers)
    assert (await response.json())["next_cursor"] is not None


# --- Rooms -----------------------------------------------------------------------------------


async def test_room_rows_need_a_known_building(client: TestClient, admin: Person) -> None:
    """A room in an unknown building is rejected naming ``building``; the others go in."""
    await _bulk(client, admin, "buildings", [{"code": "PB", "name": "Petroleum"}])
    rows = [
        {"building": "PB", "code": "101", "capacity": 40, "features": ["projector"]},
        {"building": "NOPE", "code": "101", "capacity": 40},
        {"building": "PB", "code": "102", "capacity": -5},
        {"building": "PB", "code": "103", "capacity": 20},
    ]
    body = await _bulk(client, admin, "rooms", rows)
    assert _statuses(body) == ["created", "rejected", "rejected", "created"]
    assert _rejected_fields(body, 1) == ["building"]
    assert _rejected_fields(body, 2) == ["capacity"]
    stored = await _list(client, admin, "rooms")
    assert [(r["building"], r["code"], r["features"]) for r in stored] == [
        ("PB", "101", ["projector"]),
        ("PB", "103", []),
    ]


async def test_rooms_upsert_on_building_and_code(client: TestClient, admin: Person) -> None:
    """The same room code in two buildings is two rooms; a feature change is an update."""
    await _bulk(
        client, admin, "buildings", [{"code": "PB", "name": "P"}, {"code": "ENG", "name": "E"}]
    )
    rows = [
        {"building": "PB", "code": "101", "capacity": 40, "features": ["projector"]},
        {"building": "ENG", "code": "101", "capacity": 60},
    ]
    first = await _bulk(client, admin, "rooms", rows)
    assert _statuses(first) == ["created", "created"]
    assert first["results"][0]["id"] != first["results"][1]["id"]
    assert _statuses(await _bulk(client, admin, "rooms", rows)) == ["unchanged", "unchanged"]

    rows[0]["features"] = ["projector", "ac"]
    third = await _bulk(client, admin, "rooms", rows)
    assert _statuses(third) == ["updated", "unchanged"]
    room = await client.get(f"/api/v1/rooms/{first['results'][0]['id']}", headers=admin.headers)
    body = await room.json()
    assert (body["features"], body["version"]) == (["ac", "projector"], 2)
    assert room.headers["ETag"] == '"2"'


# --- Terms -----------------------------------------------------------------------------------


async def test_term_rows_are_checked_like_single_terms(client: TestClient, admin: Person) -> None:
    """Terms ending before they start or with holidays outside them are rejected by field."""
    rows = [
        {"name": "2023/2024 S1", "first_day": "2023-09-04", "last_day": "2023-12-15"},
        {"name": "Backwards", "first_day": "2024-05-01", "last_day": "2024-01-01"},
        {
            "name": "Holiday outside",
            "first_day": "2024-01-15",
            "last_day": "2024-05-10",
            "holidays": [{"name": "Summer", "first_day": "2024-06-01", "last_day": "2024-06-05"}],
        },
    ]
    body = await _bulk(client, admin, "terms", rows)
    assert _statuses(body) == ["created", "rejected", "rejected"]
    assert _rejected_fields(body, 1) == ["last_day"]
    assert _rejected_fields(body, 2) == ["holidays"]
    assert [t["name"] for t in await _list(client, admin, "terms")] == ["2023/2024 S1"]

    rows[0]["holidays"] = [{"name": "Break", "first_day": "2023-10-30", "last_day": "2023-11-03"}]
    again = await _bulk(client, admin, "terms", rows[:1])
    assert _statuses(again) == ["updated"]
    stored = (await _list(client, admin, "terms"))[0]
    assert (stored["holidays"][0]["name"], stored["version"]) == ("Break", 2)


# --- Users -----------------------------------------------------------------------------------

USERS = [
    {"username": "yaw", "password": "yaw-first-password", "role": "staff", "department": "Geology"},
    {"username": "esi", "password": "short", "role": "student"},
    {"username": "abena", "password": "abena-password-1", "role": "class_rep"},
    {"username": "kojo", "password": "kojo-password-1", "role": "wizard"},
]


async def test_imported_users_can_sign_in(client: TestClient, admin: Person) -> None:
    """New users get the password of their row; bad rows are rejected by field."""
    body = await _bulk(client, admin, "users", USERS)
    assert _statuses(body) == ["created", "rejected", "created", "rejected"]
    assert _rejected_fields(body, 1) == ["password"]
    assert _rejected_fields(body, 3) == ["role"]
    assert "password" not in str(body).replace("'field': 'password'", "")
    for username, password in (("yaw", "yaw-first-password"), ("abena", "abena-password-1")):
        response = await sign_in(client, username, password)
        assert response.status == 200, await response.text()
    assert (await sign_in(client, "esi", "short")).status == 401
    users = {u["username"]: u for u in await _list(client, admin, "users")}
    assert sorted(users) == ["abena", "root", "yaw"]
    assert (users["yaw"]["role"], users["yaw"]["department"]) == ("staff", "Geology")


async def test_reimport_keeps_existing_passwords(client: TestClient, admin: Person) -> None:
    """A re-import with another password is unchanged, and the first password still works."""
    await _bulk(client, admin, "users", USERS[:1])
    token = (await (await sign_in(client, "yaw", "yaw-first-password")).json())["access_token"]
    rerun = [{**USERS[0], "password": "yaw-other-password"}]
    body = await _bulk(client, admin, "users", rerun)
    assert _statuses(body) == ["unchanged"]
    assert (await sign_in(client, "yaw", "yaw-first-password")).status == 200
    assert (await sign_in(client, "yaw", "yaw-other-password")).status == 401
    assert (await client.get("/api/v1/me", headers=bearer(token))).status == 200


async def test_reimport_with_a_new_role_updates_and_revokes(
    client: TestClient, admin: Person
) -> None:
    """A profile change is an update; a role change also revokes the user's tokens."""
    await _bulk(client, admin, "users", USERS[:1])
    token = (await (await sign_in(client, "yaw", "yaw-first-password")).json())["access_token"]
    body = await _bulk(client, admin, "users", [{**USERS[0], "role": "exams_officer"}])
    assert _statuses(body) == ["updated"]
    assert (await client.get("/api/v1/me", headers=bearer(token))).status == 401
    fresh = await sign_in(client, "yaw", "yaw-first-password")
    assert (await fresh.json())["user"]["role"] == "exams_officer"
    assert (await fresh.json())["user"]["version"] == 2


async def test_import_cannot_demote_the_last_admin(
    client: TestClient, admin: Person, make_person: MakePerson
) -> None:
    """The last-admin rule holds in bulk too: that row is rejected, the others still apply."""
    staff = await make_person(Role.STAFF, username="ato")
    rows = [
        {"username": "root", "password": "irrelevant-pass", "role": "staff"},
        {"username": "ato", "password": "irrelevant-pass", "role": "staff", "full_name": "Ato"},
    ]
    body = await _bulk(client, admin, "users", rows)
    assert _statuses(body) == ["rejected", "updated"]
    assert "last active admin" in body["results"][0]["errors"][0]["message"]
    me = await (await client.get("/api/v1/me", headers=admin.headers)).json()
    assert me["role"] == "admin"
    assert (await client.get("/api/v1/me", headers=staff.headers)).status == 200


async def test_bulk_is_admin_only(client: TestClient, make_person: MakePerson) -> None:
    """An exams officer cannot import, and nothing is stored."""
    officer = await make_person(Role.EXAMS_OFFICER)
    response = await client.post(
        "/api/v1/buildings:bulk", json={"rows": BUILDINGS[:1]}, headers=officer.headers
    )
    await problem_of(response, 403)
    listed = await client.get("/api/v1/buildings", headers=officer.headers)
    assert (await listed.json())["items"] == []


async def test_a_reimport_changes_only_the_fields_its_rows_name(
    client: TestClient, admin: Person
) -> None:
    """A row without ``active`` or ``role`` leaves them alone: a partial file reactivates or
    demotes no one."""
    rows = [{"username": "kofi", "password": "a-long-password", "role": "staff"}]
    first = await client.post("/api/v1/users:bulk", json={"rows": rows}, headers=admin.headers)
    user_id = (await first.json())["results"][0]["id"]
    await client.delete(f"/api/v1/users/{user_id}", headers=admin.headers)

    again = await client.post(
        "/api/v1/users:bulk",
        json={
            "rows": [{"username": "kofi", "password": "a-long-password", "department": "Physics"}]
        },
        headers=admin.headers,
    )
    assert _statuses(await again.json()) == ["updated"]
    user = await (await client.get(f"/api/v1/users/{user_id}", headers=admin.headers)).json()
    assert (user["active"], user["role"], user["department"]) == (False, "staff", "Physics")
