"""Buildings, rooms, terms and users over HTTP: CRUD, versions, paging, filters, natural keys."""

from __future__ import annotations

import base64
from typing import Any

import pytest
from aiohttp.test_utils import TestClient

from sync.permissions import Role
from tests.conftest import PASSWORD, MakePerson, Person
from tests.support import error_fields, problem_of, sign_in, with_version


async def _create(
    client: TestClient, admin: Person, plural: str, body: dict[str, Any]
) -> dict[str, Any]:
    response = await client.post(f"/api/v1/{plural}", json=body, headers=admin.headers)
    assert response.status == 201, await response.text()
    created: dict[str, Any] = await response.json()
    assert response.headers["Location"] == f"/api/v1/{plural}/{created['id']}"
    assert response.headers["ETag"] == f'"{created["version"]}"'
    return created


async def _walk(client: TestClient, admin: Person, path: str, limit: int) -> list[list[int]]:
    """The ids of every page of ``path``, following ``next_cursor`` until it is null."""
    pages: list[list[int]] = []
    cursor: str | None = None
    separator = "&" if "?" in path else "?"
    for _ in range(100):
        url = f"{path}{separator}limit={limit}" + (f"&cursor={cursor}" if cursor else "")
        response = await client.get(url, headers=admin.headers)
        assert response.status == 200, await response.text()
        body = await response.json()
        pages.append([item["id"] for item in body["items"]])
        cursor = body["next_cursor"]
        if cursor is None:
            return pages
    raise AssertionError("paging never ended")


def _hash_free(value: Any) -> None:
    """Assert that no key or value anywhere in ``value`` is a password or its hash."""
    if isinstance(value, dict):
        for key, item in value.items():
            assert "password" not in key, value
            _hash_free(item)
    elif isinstance(value, list):
        for item in value:
            _hash_free(item)
    elif isinstance(value, str):
        assert not value.startswith("$argon2"), value


@pytest.fixture
async def campus(client: TestClient, admin: Person) -> dict[str, int]:
    """Two buildings with rooms of several kinds, sizes and features; returns ids by name."""
    ids: dict[str, int] = {}
    for code, name in (("PB", "Petroleum"), ("ENG", "Engineering")):
        ids[code] = (await _create(client, admin, "buildings", {"code": code, "name": name}))["id"]
    rooms = [
        ("PB", "101", "classroom", 40, ["projector"]),
        ("PB", "102", "lab", 25, ["projector", "computers"]),
        ("PB", "103", "lecture_hall", 200, ["projector", "ac", "computers"]),
        ("ENG", "101", "classroom", 60, ["ac"]),
        ("ENG", "L1", "lab", 30, ["computers", "ac"]),
    ]
    for building, code, kind, capacity, features in rooms:
        body = {
            "building": building,
            "code": code,
            "kind": kind,
            "capacity": capacity,
            "features": features,
        }
        ids[f"{building}-{code}"] = (await _create(client, admin, "rooms", body))["id"]
    return ids


async def _room_codes(client: TestClient, admin: Person, query: str) -> list[str]:
    response = await client.get(f"/api/v1/rooms?{query}", headers=admin.headers)
    assert response.status == 200, await response.text()
    return [f"{r['building']}-{r['code']}" for r in (await response.json())["items"]]


# --- Buildings -------------------------------------------------------------------------------


async def test_building_lifecycle(client: TestClient, admin: Person) -> None:
    """Create, read, list, update with If-Match and delete a building; ETag tracks the version."""
    created = await _create(
        client, admin, "buildings", {"code": " pb ", "name": "Petroleum", "floors": 3}
    )
    assert (created["code"], created["name"], created["floors"], created["version"]) == (
        "PB",
        "Petroleum",
        3,
        1,
    )
    path = f"/api/v1/buildings/{created['id']}"
    read = await client.get(path, headers=admin.headers)
    assert read.status == 200
    assert read.headers["ETag"] == '"1"'
    assert await read.json() == created

    listed = await (await client.get("/api/v1/buildings", headers=admin.headers)).json()
    assert listed == {"items": [created], "next_cursor": None}

    updated = await client.patch(
        path,
        json={"name": "Petroleum Building", "kind": "laboratory"},
        headers=with_version(admin.headers, 1),
    )
    assert updated.status == 200, await updated.text()
    body = await updated.json()
    assert (body["name"], body["kind"], body["version"]) == ("Petroleum Building", "laboratory", 2)
    assert updated.headers["ETag"] == '"2"'
    reread = await client.get(path, headers=admin.headers)
    assert reread.headers["ETag"] == '"2"'
    assert (await reread.json())["name"] == "Petroleum Building"

    deleted = await client.delete(path, headers=admin.headers)
    assert deleted.status == 204
    await problem_of(await client.get(path, headers=admin.headers), 404)


async def test_update_without_changes_keeps_the_version(client: TestClient, admin: Person) -> None:
    """A PATCH that sets what is already there does not bump the version."""
    created = await _create(client, admin, "buildings", {"code": "PB", "name": "Petroleum"})
    response = await client.patch(
        f"/api/v1/buildings/{created['id']}",
        json={"name": "Petroleum"},
        headers=with_version(admin.headers, 1),
    )
    assert response.status == 200
    assert (await response.json())["version"] == 1
    assert response.headers["ETag"] == '"1"'


async def test_building_code_cannot_be_changed_by_patch(client: TestClient, admin: Person) -> None:
    """The natural key is not a field of the update schema."""
    created = await _create(client, admin, "buildings", {"code": "PB", "name": "Petroleum"})
    response = await client.patch(
        f"/api/v1/buildings/{created['id']}",
        json={"code": "XX"},
        headers=with_version(admin.headers, 1),
    )
    assert error_fields(await problem_of(response, 422)) == ["code"]


@pytest.mark.parametrize("second_code", ["PB", "pb", " Pb "])
async def test_duplicate_building_code_is_409(
    client: TestClient, admin: Person, second_code: str
) -> None:
    """Building codes are unique after normalisation."""
    await _create(client, admin, "buildings", {"code": "PB", "name": "Petroleum"})
    response = await client.post(
        "/api/v1/buildings", json={"code": second_code, "name": "Other"}, headers=admin.headers
    )
    problem = await problem_of(response, 409)
    assert problem["field"] == "code"
    listed = await (await client.get("/api/v1/buildings", headers=admin.headers)).json()
    assert [b["name"] for b in listed["items"]] == ["Petroleum"]


async def test_building_with_rooms_cannot_be_deleted(
    client: TestClient, admin: Person, campus: dict[str, int]
) -> None:
    """Deleting a building that still has rooms is 409 in-use and deletes nothing."""
    path = f"/api/v1/buildings/{campus['PB']}"
    problem = await problem_of(await client.delete(path, headers=admin.headers), 409)
    assert problem["type"] == "in-use"
    assert (await client.get(path, headers=admin.headers)).status == 200
    assert len(await _room_codes(client, admin, "building=PB")) == 3


async def test_buildings_filter_by_kind(client: TestClient, admin: Person) -> None:
    """``kind`` narrows the building list."""
    await _create(client, admin, "buildings", {"code": "PB", "name": "Petroleum"})
    await _create(client, admin, "buildings", {"code": "LIB", "name": "Library", "kind": "library"})
    response = await client.get("/api/v1/buildings?kind=library", headers=admin.headers)
    assert [b["code"] for b in (await response.json())["items"]] == ["LIB"]


# --- Rooms -----------------------------------------------------------------------------------


async def test_room_lifecycle(client: TestClient, admin: Person, campus: dict[str, int]) -> None:
    """Read, update (capacity and features) and delete a room, with versions and ETags."""
    path = f"/api/v1/rooms/{campus['PB-101']}"
    read = await client.get(path, headers=admin.headers)
    room = await read.json()
    assert read.headers["ETag"] == '"1"'
    assert (room["building"], room["building_id"], room["code"], room["capacity"]) == (
        "PB",
        campus["PB"],
        "101",
        40,
    )
    assert room["features"] == ["projector"]

    updated = await client.patch(
        path,
        json={"capacity": 45, "features": ["Projector", "AC", "ac"]},
        headers=with_version(admin.headers, 1),
    )
    assert updated.status == 200, await updated.text()
    body = await updated.json()
    assert (body["capacity"], body["features"], body["version"]) == (45, ["ac", "projector"], 2)
    assert updated.headers["ETag"] == '"2"'

    features_only = await client.patch(
        path, json={"features": ["ac"]}, headers=with_version(admin.headers, 2)
    )
    assert (await features_only.json())["version"] == 3
    assert (await (await client.get(path, headers=admin.headers)).json())["features"] == ["ac"]

    assert (await client.delete(path, headers=admin.headers)).status == 204
    await problem_of(await client.get(path, headers=admin.headers), 404)
    assert "PB-101" not in await _room_codes(client, admin, "")


async def test_room_code_is_unique_within_its_building_only(
    client: TestClient, admin: Person, campus: dict[str, int]
) -> None:
    """The same room code in another building is fine; twice in one building is 409."""
    clash = await client.post(
        "/api/v1/rooms",
        json={"building": "pb", "code": "101", "capacity": 10},
        headers=admin.headers,
    )
    problem = await problem_of(clash, 409)
    assert problem["field"] == "code"
    await _create(client, admin, "buildings", {"code": "LIB", "name": "Library"})
    await _create(client, admin, "rooms", {"building": "LIB", "code": "101", "capacity": 10})
    assert sorted(await _room_codes(client, admin, "")).count("PB-101") == 1


async def test_room_in_unknown_building_is_422(client: TestClient, admin: Person) -> None:
    """A room must name an existing building."""
    response = await client.post(
        "/api/v1/rooms",
        json={"building": "NOPE", "code": "1", "capacity": 5},
        headers=admin.headers,
    )
    assert error_fields(await problem_of(response, 422)) == ["building"]


async def test_room_durations_must_be_ordered(
    client: TestClient, admin: Person, campus: dict[str, int]
) -> None:
    """A PATCH leaving max duration below min duration is 422 naming max_duration_minutes."""
    path = f"/api/v1/rooms/{campus['PB-101']}"
    first = await client.patch(
        path, json={"min_duration_minutes": 60}, headers=with_version(admin.headers, 1)
    )
    assert first.status == 200
    second = await client.patch(
        path, json={"max_duration_minutes": 30}, headers=with_version(admin.headers, 2)
    )
    assert error_fields(await problem_of(second, 422)) == ["max_duration_minutes"]


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ("", ["PB-101", "PB-102", "PB-103", "ENG-101", "ENG-L1"]),
        ("building=PB", ["PB-101", "PB-102", "PB-103"]),
        ("building=eng", ["ENG-101", "ENG-L1"]),
        ("kind=lab", ["PB-102", "ENG-L1"]),
        ("capacity=40", ["PB-101", "PB-103", "ENG-101"]),
        ("capacity=41", ["PB-103", "ENG-101"]),
        ("features=projector", ["PB-101", "PB-102", "PB-103"]),
        ("features=computers,ac", ["PB-103", "ENG-L1"]),
        ("features=Computers,%20AC,projector", ["PB-103"]),
        ("building=ENG&kind=lab&capacity=30&features=ac", ["ENG-L1"]),
        ("building=ENG&capacity=61", []),
        ("building=NONE", []),
    ],
)
async def test_room_filters(
    client: TestClient, admin: Person, campus: dict[str, int], query: str, expected: list[str]
) -> None:
    """Rooms filter by building, kind, minimum capacity and all-of features, in id order."""
    assert await _room_codes(client, admin, query) == expected


async def test_rooms_filter_by_bookable(
    client: TestClient, admin: Person, campus: dict[str, int]
) -> None:
    """``bookable=false`` lists only rooms closed to booking."""
    response = await client.patch(
        f"/api/v1/rooms/{campus['ENG-L1']}",
        json={"bookable": False},
        headers=with_version(admin.headers, 1),
    )
    assert response.status == 200
    assert await _room_codes(client, admin, "bookable=false") == ["ENG-L1"]
    assert "ENG-L1" not in await _room_codes(client, admin, "bookable=true")


async def test_students_can_read_the_campus(
    client: TestClient, make_person: MakePerson, campus: dict[str, int]
) -> None:
    """Reading rooms needs only a token, whatever the role."""
    student = await make_person(Role.STUDENT)
    response = await client.get("/api/v1/rooms?building=PB", headers=student.headers)
    assert len((await response.json())["items"]) == 3


# --- Paging ----------------------------------------------------------------------------------


@pytest.mark.parametrize("limit", [1, 2, 3, 5, 6])
async def test_room_paging_walks_every_room_once(
    client: TestClient, admin: Person, campus: dict[str, int], limit: int
) -> None:
    """Following next_cursor visits every room once, in id order, in pages of ``limit``."""
    pages = await _walk(client, admin, "/api/v1/rooms", limit)
    ids = [i for page in pages for i in page]
    room_ids = sorted(v for k, v in campus.items() if "-" in k)
    assert ids == room_ids
    assert all(len(page) == limit for page in pages[:-1])
    assert 1 <= len(pages[-1]) <= limit


async def test_paging_keeps_the_filter(
    client: TestClient, admin: Person, campus: dict[str, int]
) -> None:
    """A cursor continues the filtered list, not the whole one."""
    pages = await _walk(client, admin, "/api/v1/rooms?features=projector", 2)
    assert pages == [[campus["PB-101"], campus["PB-102"]], [campus["PB-103"]]]


async def test_user_paging_walks_every_user_once(
    client: TestClient, admin: Person, make_person: MakePerson
) -> None:
    """Users page the same way as rooms."""
    people = [admin] + [await make_person(Role.STUDENT) for _ in range(6)]
    pages = await _walk(client, admin, "/api/v1/users", 3)
    assert [len(page) for page in pages] == [3, 3, 1]
    assert [i for page in pages for i in page] == [p.id for p in people]


@pytest.mark.parametrize(
    "cursor",
    [
        "garbage!",
        "not-base64-at-all",
        base64.urlsafe_b64encode(b"id:abc").decode(),
        base64.urlsafe_b64encode(b"offset:3").decode(),
        base64.urlsafe_b64encode(b"\xff\xfe").decode(),
        base64.urlsafe_b64encode(b"id:2147483648").decode(),
        base64.urlsafe_b64encode(b"id:99999999999999999999999").decode(),
    ],
)
@pytest.mark.parametrize("collection", ["rooms", "buildings", "terms", "users"])
async def test_bad_cursor_is_422(
    client: TestClient, admin: Person, collection: str, cursor: str
) -> None:
    """A cursor the server did not hand out is refused, naming ``cursor``."""
    response = await client.get(f"/api/v1/{collection}?cursor={cursor}", headers=admin.headers)
    assert error_fields(await problem_of(response, 422)) == ["cursor"]


# --- Terms -----------------------------------------------------------------------------------

TERM = {
    "name": "2022/2023 S2",
    "first_day": "2023-01-16",
    "last_day": "2023-05-12",
    "holidays": [{"name": "Easter", "first_day": "2023-04-07", "last_day": "2023-04-10"}],
}


async def test_term_lifecycle(client: TestClient, admin: Person) -> None:
    """Create, read, list, update and delete a term with its holidays."""
    created = await _create(client, admin, "terms", TERM)
    assert created["holidays"] == TERM["holidays"]
    path = f"/api/v1/terms/{created['id']}"
    read = await client.get(path, headers=admin.headers)
    assert read.headers["ETag"] == '"1"'
    assert await read.json() == created
    listed = await (await client.get("/api/v1/terms", headers=admin.headers)).json()
    assert [t["name"] for t in listed["items"]] == ["2022/2023 S2"]
    holidays = [
        *TERM["holidays"],
        {"name": "May Day", "first_day": "2023-05-01", "last_day": "2023-05-01"},
    ]
    updated = await client.patch(
        path, json={"holidays": holidays}, headers=with_version(admin.headers, 1)
    )
    assert updated.status == 200, await updated.text()
    assert (await updated.json())["holidays"] == holidays
    assert updated.headers["ETag"] == '"2"'
    assert (await client.delete(path, headers=admin.headers)).status == 204
    await problem_of(await client.get(path, headers=admin.headers), 404)


async def test_duplicate_term_name_is_409(client: TestClient, admin: Person) -> None:
    """Term names are unique, on create and on rename."""
    await _create(client, admin, "terms", TERM)
    again = await client.post("/api/v1/terms", json=TERM, headers=admin.headers)
    assert (await problem_of(again, 409))["field"] == "name"
    other = await _create(client, admin, "terms", {**TERM, "name": "2023/2024 S1", "holidays": []})
    rename = await client.patch(
        f"/api/v1/terms/{other['id']}",
        json={"name": "2022/2023 S2"},
        headers=with_version(admin.headers, 1),
    )
    assert (await problem_of(rename, 409))["field"] == "name"


async def test_term_ending_before_it_starts_is_422(client: TestClient, admin: Person) -> None:
    """``last_day`` before ``first_day`` names last_day, on create and on update."""
    body = {**TERM, "last_day": "2023-01-01", "holidays": []}
    response = await client.post("/api/v1/terms", json=body, headers=admin.headers)
    assert error_fields(await problem_of(response, 422)) == ["last_day"]
    created = await _create(client, admin, "terms", TERM)
    patched = await client.patch(
        f"/api/v1/terms/{created['id']}",
        json={"first_day": "2023-06-01"},
        headers=with_version(admin.headers, 1),
    )
    fields = error_fields(await problem_of(patched, 422))
    assert "last_day" in fields


async def test_a_term_lasts_at_most_two_years_as_its_timetables_series_do(
    client: TestClient, admin: Person
) -> None:
    """A term longer than a series may last (whose timetable could not be booked) is a 422
    naming ``last_day``, on create and on update; two years to the day is a term."""
    longest = {**TERM, "first_day": "2027-01-04", "last_day": "2029-01-05", "holidays": []}
    created = await _create(client, admin, "terms", longest)
    too_long = await client.post(
        "/api/v1/terms",
        json={**longest, "name": "Forever", "last_day": "2029-01-06"},
        headers=admin.headers,
    )
    problem = await problem_of(too_long, 422)
    assert error_fields(problem) == ["last_day"]
    assert "at most two years" in problem["errors"][0]["message"]
    stretched = await client.patch(
        f"/api/v1/terms/{created['id']}",
        json={"last_day": "8999-12-31"},
        headers=with_version(admin.headers, 1),
    )
    assert error_fields(await problem_of(stretched, 422)) == ["last_day"]
    timetable = await client.post(
        f"/api/v1/terms/{created['id']}/timetable?dry_run=true",
        json={"rows": [{"course_code": "MATH101", "weekday": "mon", "start": "10:00",
                        "end": "11:00", "building": "PB", "room": "101"}]},
        headers=admin.headers,
    )  # fmt: skip
    assert timetable.status == 200, await timetable.text()


async def test_holiday_outside_the_term_is_422(client: TestClient, admin: Person) -> None:
    """A holiday must lie within its term, on create and on update; nothing is stored."""
    body = {
        **TERM,
        "holidays": [{"name": "Summer", "first_day": "2023-05-10", "last_day": "2023-06-10"}],
    }
    response = await client.post("/api/v1/terms", json=body, headers=admin.headers)
    problem = await problem_of(response, 422)
    assert error_fields(problem) == ["holidays"]
    assert "Summer" in problem["errors"][0]["message"]
    created = await _create(client, admin, "terms", TERM)
    patched = await client.patch(
        f"/api/v1/terms/{created['id']}",
        json={"holidays": body["holidays"]},
        headers=with_version(admin.headers, 1),
    )
    assert error_fields(await problem_of(patched, 422)) == ["holidays[0]"]
    read = await (await client.get(f"/api/v1/terms/{created['id']}", headers=admin.headers)).json()
    assert read["holidays"] == TERM["holidays"]
    assert read["version"] == 1


# --- Users -----------------------------------------------------------------------------------

NEW_USER = {
    "username": "Ama.Owusu",
    "password": "ama-secret-password",
    "full_name": "Ama Owusu",
    "email": "ama@example.edu",
    "department": "Petroleum",
    "year_group": "2025",
    "role": "class_rep",
}


async def test_user_lifecycle_never_shows_a_password_hash(
    client: TestClient, admin: Person
) -> None:
    """Create, read, list, update, reset and deactivate a user; no response holds a hash."""
    response = await client.post("/api/v1/users", json=NEW_USER, headers=admin.headers)
    assert response.status == 201, await response.text()
    created = await response.json()
    _hash_free(created)
    assert (created["username"], created["role"], created["active"]) == (
        "ama.owusu",
        "class_rep",
        True,
    )
    path = f"/api/v1/users/{created['id']}"

    read = await client.get(path, headers=admin.headers)
    assert read.headers["ETag"] == '"1"'
    _hash_free(await read.json())
    listed = await (await client.get("/api/v1/users", headers=admin.headers)).json()
    _hash_free(listed)
    assert [u["username"] for u in listed["items"]] == ["root", "ama.owusu"]

    token = await sign_in(client, "ama.owusu", "ama-secret-password")
    assert token.status == 200
    token_body = await token.json()
    _hash_free(token_body)
    me = await client.get(
        "/api/v1/me", headers={"Authorization": f"Bearer {token_body['access_token']}"}
    )
    _hash_free(await me.json())

    updated = await client.patch(
        path, json={"department": "Geology"}, headers=with_version(admin.headers, 1)
    )
    _hash_free(await updated.json())
    assert (await updated.json())["department"] == "Geology"

    reset = await client.post(
        f"{path}/password", json={"new_password": "brand-new-password"}, headers=admin.headers
    )
    assert reset.status == 204
    assert (await sign_in(client, "ama.owusu", "ama-secret-password")).status == 401
    assert (await sign_in(client, "ama.owusu", "brand-new-password")).status == 200

    deactivated = await client.delete(path, headers=admin.headers)
    assert deactivated.status == 200
    body = await deactivated.json()
    _hash_free(body)
    assert body["active"] is False
    assert (await client.get(path, headers=admin.headers)).status == 200
    assert (await sign_in(client, "ama.owusu", "brand-new-password")).status == 401


@pytest.mark.parametrize("second", ["ama.owusu", "AMA.OWUSU", " Ama.Owusu "])
async def test_duplicate_username_is_409(client: TestClient, admin: Person, second: str) -> None:
    """Usernames are unique after normalisation."""
    assert (await client.post("/api/v1/users", json=NEW_USER, headers=admin.headers)).status == 201
    response = await client.post(
        "/api/v1/users", json={**NEW_USER, "username": second}, headers=admin.headers
    )
    assert (await problem_of(response, 409))["field"] == "username"


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"password": "short"}, "password"),
        ({"password": "ama.owusu"}, "password"),
        ({"email": "not-an-email"}, "email"),
        ({"role": "superuser"}, "role"),
        ({"username": "has space"}, "username"),
        ({"password_hash": "$argon2id$..."}, "password_hash"),
    ],
)
async def test_bad_user_fields_are_422(
    client: TestClient, admin: Person, body: dict[str, str], field: str
) -> None:
    """Each bad user field is named, and no user is created."""
    response = await client.post("/api/v1/users", json={**NEW_USER, **body}, headers=admin.headers)
    assert error_fields(await problem_of(response, 422)) == [field]
    listed = await (await client.get("/api/v1/users", headers=admin.headers)).json()
    assert [u["username"] for u in listed["items"]] == ["root"]


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ("role=student", ["s1", "s2"]),
        ("role=staff", ["t1"]),
        ("department=Geology", ["s2", "t1"]),
        ("active=false", ["s2"]),
        ("active=true&role=student", ["s1"]),
        ("role=exams_officer", []),
    ],
)
async def test_user_filters(
    client: TestClient, admin: Person, make_person: MakePerson, query: str, expected: list[str]
) -> None:
    """Users filter by role, department and active flag."""
    await make_person(Role.STUDENT, username="s1", department="Petroleum")
    await make_person(Role.STUDENT, username="s2", department="Geology", active=False)
    await make_person(Role.STAFF, username="t1", department="Geology")
    response = await client.get(f"/api/v1/users?{query}", headers=admin.headers)
    assert response.status == 200, await response.text()
    assert [u["username"] for u in (await response.json())["items"]] == expected


async def test_users_are_admin_only(client: TestClient, make_person: MakePerson) -> None:
    """An exams officer can neither list nor read users."""
    officer = await make_person(Role.EXAMS_OFFICER)
    await problem_of(await client.get("/api/v1/users", headers=officer.headers), 403)
    await problem_of(await client.get(f"/api/v1/users/{officer.id}", headers=officer.headers), 403)
    assert (await sign_in(client, officer.user.username, PASSWORD)).status == 200


# --- Nulls and known gaps --------------------------------------------------------------------


@pytest.mark.parametrize(
    ("plural", "body"),
    [
        ("buildings", {"name": None}),
        ("buildings", {"floors": None}),
        ("rooms", {"bookable": None, "kind": None}),
        ("terms", {"first_day": None}),
        ("terms", {"holidays": None}),
        ("users", {"role": None}),
        ("users", {"active": None}),
        ("me", {"full_name": None}),
    ],
)
async def test_null_for_a_required_field_is_422(
    client: TestClient, admin: Person, campus: dict[str, int], plural: str, body: dict[str, None]
) -> None:
    """``null`` cannot clear a field the record must have: 422 naming it, nothing changed."""
    await _create(client, admin, "terms", TERM)
    ids = {"buildings": campus["PB"], "rooms": campus["PB-101"], "terms": 1, "users": admin.id}
    path = "/api/v1/me" if plural == "me" else f"/api/v1/{plural}/{ids[plural]}"
    before = await (await client.get(path, headers=admin.headers)).json()
    response = await client.patch(path, json=body, headers=with_version(admin.headers, 1))
    assert sorted(error_fields(await problem_of(response, 422))) == sorted(body)
    assert await (await client.get(path, headers=admin.headers)).json() == before


async def test_null_clears_a_field_that_may_be_empty(
    client: TestClient, admin: Person, campus: dict[str, int]
) -> None:
    """Optional fields (a room's own rules) can be cleared with ``null``."""
    path = f"/api/v1/rooms/{campus['PB-101']}"
    first = await client.patch(
        path, json={"max_days_ahead": 30}, headers=with_version(admin.headers, 1)
    )
    assert (await first.json())["max_days_ahead"] == 30
    cleared = await client.patch(
        path, json={"max_days_ahead": None}, headers=with_version(admin.headers, 2)
    )
    assert cleared.status == 200
    assert (await cleared.json())["max_days_ahead"] is None


async def test_huge_capacity_filter_is_422(client: TestClient, admin: Person) -> None:
    """A capacity beyond any integer column is refused as input, not a server error."""
    response = await client.get(
        "/api/v1/rooms?capacity=99999999999999999999", headers=admin.headers
    )
    assert error_fields(await problem_of(response, 422)) == ["capacity"]


async def test_blank_term_name_is_refused(client: TestClient, admin: Person) -> None:
    """A term named only by whitespace is refused on create and on rename."""
    blank = await client.post("/api/v1/terms", json={**TERM, "name": "   "}, headers=admin.headers)
    assert error_fields(await problem_of(blank, 422)) == ["name"]
    created = await _create(client, admin, "terms", TERM)
    response = await client.patch(
        f"/api/v1/terms/{created['id']}",
        json={"name": "   "},
        headers=with_version(admin.headers, 1),
    )
    assert error_fields(await problem_of(response, 422)) == ["name"]
