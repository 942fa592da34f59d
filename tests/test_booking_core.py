"""Every booking path asks the one judge: capacity, retitled series, and free rooms it accepts."""

from __future__ import annotations

from datetime import timedelta

from aiohttp.test_utils import TestClient

from sync.permissions import Role
from tests.booking_helpers import at, book, make_campus, next_weekday
from tests.conftest import MakePerson, Person
from tests.support import problem_of
from tests.test_series import weekly


async def test_more_attendees_than_seats_is_refused_unless_overridden(
    client: TestClient, admin: Person, make_person: MakePerson
) -> None:
    campus = await make_campus(client, admin)
    staff = await make_person(Role.STAFF)
    monday = next_weekday(0)

    refused = await book(
        client, staff, campus.room_201, at(monday, 10), at(monday, 11), attendees=300
    )
    problem = await problem_of(refused, 422)
    assert problem["type"] == "over-capacity"
    assert "seats 20" in problem["detail"]

    series = await client.post(
        "/api/v1/series",
        json=weekly(campus.room_201, monday, monday + timedelta(days=6), attendees=21),
        headers=staff.headers,
    )
    assert (await problem_of(series, 409))["dates"][0]["problems"][0]["type"] == "over-capacity"

    overridden = await book(
        client,
        admin,
        campus.room_201,
        at(monday, 10),
        at(monday, 11),
        attendees=300,
        override=True,
        override_reason="Exam overflow",
    )
    assert overridden.status == 201, await overridden.text()
    made = await overridden.json()

    grown = await client.patch(
        f"/api/v1/bookings/{made['id']}",
        json={"attendees": 400},
        headers={**staff.headers, "If-Match": '"1"'},
    )
    assert grown.status == 403, "only the owner or an officer changes it"
    grown = await client.patch(
        f"/api/v1/bookings/{made['id']}",
        json={"attendees": 400, "title": "Bigger"},
        headers={**admin.headers, "If-Match": '"1"'},
    )
    assert (await problem_of(grown, 422))["type"] == "over-capacity"


async def test_retitling_a_series_moves_no_occurrence(
    client: TestClient, admin: Person, make_person: MakePerson
) -> None:
    """An occurrence moved on its own stays where it is when the series is renamed, and is not
    pulled back into a closure that now covers its old time."""
    await make_campus(client, admin)
    campus = await make_campus_rooms(client, admin)
    rep = await make_person(Role.CLASS_REP)
    monday = next_weekday(0)
    created = await client.post(
        "/api/v1/series",
        json=weekly(campus, monday, monday + timedelta(days=13)),
        headers=rep.headers,
    )
    assert created.status == 201, await created.text()
    first, second, *_ = (await created.json())["created"]
    moved = await client.patch(
        f"/api/v1/bookings/{second['id']}?scope=this",
        json={
            "start": at(monday + timedelta(days=2), 14),
            "end": at(monday + timedelta(days=2), 15),
        },
        headers={**rep.headers, "If-Match": '"1"'},
    )
    assert moved.status == 200, await moved.text()
    closed = await client.post(
        "/api/v1/blackouts",
        json={
            "room_id": campus,
            "start": at(monday + timedelta(days=2), 9),
            "end": at(monday + timedelta(days=2), 12),
            "reason": "Flooring",
        },
        headers=admin.headers,
    )
    assert closed.status == 201, await closed.text()

    renamed = await client.patch(
        f"/api/v1/bookings/{first['id']}?scope=all",
        json={"title": "MATH 102"},
        headers={**rep.headers, "If-Match": '"1"'},
    )
    assert renamed.status == 200, await renamed.text()
    again = await client.get(f"/api/v1/bookings/{second['id']}", headers=rep.headers)
    body = await again.json()
    assert body["title"] == "MATH 102"
    assert body["start"].startswith(f"{monday + timedelta(days=2)}T14:00")


async def make_campus_rooms(client: TestClient, admin: Person) -> int:
    """A 40-seat room of its own building, for tests that close it."""
    building = await client.post(
        "/api/v1/buildings", json={"code": "LIB", "name": "Library"}, headers=admin.headers
    )
    assert building.status == 201, await building.text()
    room = await client.post(
        "/api/v1/rooms",
        json={"building": "LIB", "code": "1", "capacity": 40},
        headers=admin.headers,
    )
    assert room.status == 201, await room.text()
    return int((await room.json())["id"])


async def test_free_rooms_and_alternatives_offer_only_rooms_the_judge_accepts(
    client: TestClient, admin: Person, make_person: MakePerson
) -> None:
    campus = await make_campus(client, admin)
    staff = await make_person(Role.STAFF)
    short = await client.patch(
        f"/api/v1/rooms/{campus.room_102}",
        json={"max_duration_minutes": 60},
        headers={**admin.headers, "If-Match": '"1"'},
    )
    assert short.status == 200, await short.text()
    monday = next_weekday(0)
    window = {"start": at(monday, 10), "end": at(monday, 12)}

    free = await client.get("/api/v1/rooms/free", params=window, headers=staff.headers)
    assert free.status == 200, await free.text()
    offered = [room["room"] for room in (await free.json())["items"]]
    assert "PB/102" not in offered, "its own maximum is one hour"
    assert offered == ["PB/201", "PB/101", "ENG/1"]

    crowded = await client.get(
        "/api/v1/rooms/free", params={**window, "capacity": "30"}, headers=staff.headers
    )
    assert [room["room"] for room in (await crowded.json())["items"]] == ["PB/101", "ENG/1"]

    assert (await book(client, admin, campus.room_101, *window.values())).status == 201
    clash = await book(client, staff, campus.room_101, *window.values(), attendees=30)
    problem = await problem_of(clash, 409)
    assert [r["room"] for r in problem["alternatives"]["rooms"]] == ["ENG/1"]
