"""What each role may see of other people's series and bookings: reading a series, pulling it,
and listing bookings by owner follow the rules a booking's own view follows."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from aiohttp.test_utils import TestClient

from sync.permissions import Role
from tests.booking_helpers import book, make_campus, next_weekday
from tests.conftest import MakePerson, Person
from tests.support import problem_of
from tests.test_series import weekly
from tests.test_sync_server import pull_all

#: Each role, with whether it sees a private title and whether it sees the owner of another
#: user's series.
SIGHT = [
    (Role.ADMIN, True, True),
    (Role.EXAMS_OFFICER, True, True),
    (Role.STAFF, False, True),
    (Role.CLASS_REP, False, True),
    (Role.STUDENT, False, False),
]


async def _private_series(client: TestClient, admin: Person, owner: Person) -> dict[str, Any]:
    """A private series of ``owner``'s, as its owner sees it."""
    campus = await make_campus(client, admin)
    monday = next_weekday(0)
    body = weekly(campus.room_101, monday, monday + timedelta(days=6), private=True)
    made = await client.post("/api/v1/series", json=body, headers=owner.headers)
    assert made.status == 201, await made.text()
    series: dict[str, Any] = (await made.json())["series"]
    assert (series["title"], series["owner_id"]) == ("MATH 101", owner.id)
    return series


@pytest.mark.parametrize(("role", "sees_title", "sees_owner"), SIGHT)
async def test_a_private_series_reads_as_its_bookings_do(
    client: TestClient,
    admin: Person,
    make_person: MakePerson,
    role: Role,
    sees_title: bool,
    sees_owner: bool,
) -> None:
    owner = await make_person(Role.STAFF)
    series = await _private_series(client, admin, owner)
    viewer = admin if role is Role.ADMIN else await make_person(role)

    read = await client.get(f"/api/v1/series/{series['id']}", headers=viewer.headers)

    assert read.status == 200, await read.text()
    seen = await read.json()
    assert seen["title"] == ("MATH 101" if sees_title else None)
    assert seen["owner_id"] == (owner.id if sees_owner else None)
    occurrences = await client.get(
        f"/api/v1/bookings?series_id={series['id']}", headers=viewer.headers
    )
    for booking in (await occurrences.json())["items"]:
        assert (booking["title"], booking["owner_id"]) == (seen["title"], seen["owner_id"])


async def test_the_owner_reads_their_own_private_series_in_full(
    client: TestClient, admin: Person, make_person: MakePerson
) -> None:
    owner = await make_person(Role.CLASS_REP)
    series = await _private_series(client, admin, owner)
    read = await client.get(f"/api/v1/series/{series['id']}", headers=owner.headers)
    seen = await read.json()
    assert (seen["title"], seen["owner_id"]) == ("MATH 101", owner.id)


@pytest.mark.parametrize(("role", "sees_title", "sees_owner"), SIGHT)
async def test_a_pull_shows_a_series_as_reading_it_does(
    client: TestClient,
    admin: Person,
    make_person: MakePerson,
    role: Role,
    sees_title: bool,
    sees_owner: bool,
) -> None:
    owner = await make_person(Role.STAFF)
    series = await _private_series(client, admin, owner)
    viewer = admin if role is Role.ADMIN else await make_person(role)

    changes, _, _ = await pull_all(client, viewer)

    pulled = [c["row"] for c in changes if c["table"] == "series"]
    assert [row["id"] for row in pulled] == [series["id"]]
    assert pulled[0]["title"] == ("MATH 101" if sees_title else None)
    assert pulled[0]["owner_id"] == (owner.id if sees_owner else None)
    bookings = [c["row"] for c in changes if c["table"] == "bookings"]
    assert bookings, "the occurrences are pulled too"
    assert all(b["owner_id"] == pulled[0]["owner_id"] for b in bookings)


async def test_a_student_lists_bookings_by_owner_only_for_themselves(
    client: TestClient, admin: Person, make_person: MakePerson
) -> None:
    campus = await make_campus(client, admin)
    staff = await make_person(Role.STAFF, username="lecturer")
    student = await make_person(Role.STUDENT, username="kofi")
    monday = next_weekday(0)
    start, end = f"{monday}T09:00:00Z", f"{monday}T10:00:00Z"
    assert (await book(client, staff, campus.room_101, start, end)).status == 201

    for owner in ("lecturer", "LECTURER", "root"):
        refused = await client.get(f"/api/v1/bookings?owner={owner}", headers=student.headers)
        problem = await problem_of(refused, 403)
        assert (problem["type"], problem["field"]) == ("forbidden", "owner")
        assert "owner=me" in problem["detail"]
    for own in ("me", "kofi", "Kofi"):
        listed = await client.get(f"/api/v1/bookings?owner={own}", headers=student.headers)
        assert listed.status == 200, await listed.text()
        assert (await listed.json())["items"] == []


@pytest.mark.parametrize("role", [Role.ADMIN, Role.EXAMS_OFFICER, Role.STAFF, Role.CLASS_REP])
async def test_other_roles_list_anyones_bookings_by_owner(
    client: TestClient, admin: Person, make_person: MakePerson, role: Role
) -> None:
    campus = await make_campus(client, admin)
    staff = await make_person(Role.STAFF, username="lecturer")
    viewer = admin if role is Role.ADMIN else await make_person(role)
    monday = next_weekday(0)
    made = await book(client, staff, campus.room_101, f"{monday}T09:00:00Z", f"{monday}T10:00:00Z")
    listed = await client.get("/api/v1/bookings?owner=lecturer", headers=viewer.headers)
    assert listed.status == 200, await listed.text()
    items = (await listed.json())["items"]
    assert [(b["id"], b["owner"]) for b in items] == [((await made.json())["id"], "lecturer")]
