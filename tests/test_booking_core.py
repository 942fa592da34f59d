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
    """Occurrences moved on their own, one to another time and one to another room, stay where
    they are when the series is renamed, and are not pulled back into a closure that now
    covers their old time and room."""
    other = (await make_campus(client, admin)).room_101
    campus = await make_campus_rooms(client, admin)
    rep = await make_person(Role.CLASS_REP)
    monday = next_weekday(0)
    created = await client.post(
        "/api/v1/series",
        json=weekly(campus, monday, monday + timedelta(days=13)),
        headers=rep.headers,
    )
    assert created.status == 201, await created.text()
    first, second, third, *_ = (await created.json())["created"]
    wednesday, next_monday = monday + timedelta(days=2), monday + timedelta(days=7)
    for booking, change in (
        (second, {"start": at(wednesday, 14), "end": at(wednesday, 15)}),
        (third, {"room_id": other}),
    ):
        moved = await client.patch(
            f"/api/v1/bookings/{booking['id']}?scope=this",
            json=change,
            headers={**rep.headers, "If-Match": '"1"'},
        )
        assert moved.status == 200, await moved.text()
    for day in (wednesday, next_monday):
        closed = await client.post(
            "/api/v1/blackouts",
            json={"room_id": campus, "start": at(day, 9), "end": at(day, 12), "reason": "Floor"},
            headers=admin.headers,
        )
        assert closed.status == 201, await closed.text()

    renamed = await client.patch(
        f"/api/v1/bookings/{first['id']}?scope=all",
        json={"title": "MATH 102"},
        headers={**rep.headers, "If-Match": '"1"'},
    )
    assert renamed.status == 200, await renamed.text()
    kept_time = await (
        await client.get(f"/api/v1/bookings/{second['id']}", headers=rep.headers)
    ).json()
    assert kept_time["title"] == "MATH 102"
    assert (kept_time["room_id"], kept_time["start"][:16]) == (campus, f"{wednesday}T14:00")
    kept_room = await (
        await client.get(f"/api/v1/bookings/{third['id']}", headers=rep.headers)
    ).json()
    assert kept_room["title"] == "MATH 102"
    assert (kept_room["room_id"], kept_room["start"][:16]) == (other, f"{next_monday}T10:00")


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
