"""Deleting a room or a term that bookings or series still refer to is a 409 ``in-use`` that
says what refers to it and how many, and deletes nothing."""

from __future__ import annotations

import asyncio
from datetime import timedelta

from aiohttp.test_utils import TestClient

from tests.booking_helpers import at, book, make_campus, next_weekday
from tests.conftest import Person
from tests.support import problem_of
from tests.test_series import weekly


async def test_a_room_with_bookings_and_series_is_in_use(client: TestClient, admin: Person) -> None:
    campus = await make_campus(client, admin)
    monday = next_weekday(0)
    series = weekly(campus.room_101, monday, monday + timedelta(days=6))
    assert (await client.post("/api/v1/series", json=series, headers=admin.headers)).status == 201
    cancelled = await book(client, admin, campus.room_101, at(monday, 14), at(monday, 15))
    booking = await cancelled.json()
    cancel = await client.delete(
        f"/api/v1/bookings/{booking['id']}", headers={**admin.headers, "If-Match": '"1"'}
    )
    assert cancel.status == 200, await cancel.text()
    path = f"/api/v1/rooms/{campus.room_101}"

    problem = await problem_of(await client.delete(path, headers=admin.headers), 409)

    assert problem["type"] == "in-use"
    assert problem["referred_by"] == {"bookings": 3, "series": 1}
    assert "3 bookings and 1 series" in problem["detail"]
    assert (await client.get(path, headers=admin.headers)).status == 200
    listed = await client.get(
        f"/api/v1/bookings?room_id={campus.room_101}&status=cancelled", headers=admin.headers
    )
    assert [b["id"] for b in (await listed.json())["items"]] == [booking["id"]]


async def test_a_room_with_one_booking_says_so(client: TestClient, admin: Person) -> None:
    campus = await make_campus(client, admin)
    monday = next_weekday(0)
    assert (await book(client, admin, campus.room_102, at(monday, 9), at(monday, 10))).status == 201
    response = await client.delete(f"/api/v1/rooms/{campus.room_102}", headers=admin.headers)
    problem = await problem_of(response, 409)
    assert problem["referred_by"] == {"bookings": 1}
    assert "referred to by 1 booking;" in problem["detail"]


async def test_a_room_nothing_refers_to_is_deleted_with_its_blackouts(
    client: TestClient, admin: Person
) -> None:
    campus = await make_campus(client, admin)
    monday = next_weekday(0)
    closed = await client.post(
        "/api/v1/blackouts",
        json={
            "room_id": campus.room_201,
            "start": at(monday, 8),
            "end": at(monday, 18),
            "reason": "Painting",
        },
        headers=admin.headers,
    )
    assert closed.status == 201, await closed.text()
    path = f"/api/v1/rooms/{campus.room_201}"
    deleted = await client.delete(path, headers=admin.headers)
    assert deleted.status == 204, await deleted.text()
    assert (await client.get(path, headers=admin.headers)).status == 404
    blackouts = await client.get("/api/v1/blackouts", headers=admin.headers)
    assert (await blackouts.json())["items"] == []


async def test_a_term_a_series_refers_to_is_in_use(client: TestClient, admin: Person) -> None:
    campus = await make_campus(client, admin)
    monday = next_weekday(0)
    made = await client.post(
        "/api/v1/terms",
        json={
            "name": "2026/2027 S1",
            "first_day": str(monday),
            "last_day": str(monday + timedelta(days=27)),
        },
        headers=admin.headers,
    )
    term = await made.json()
    body = weekly(campus.room_101, monday, monday + timedelta(days=6), term_id=term["id"])
    created = await client.post("/api/v1/series", json=body, headers=admin.headers)
    series = (await created.json())["series"]
    path = f"/api/v1/terms/{term['id']}"

    problem = await problem_of(await client.delete(path, headers=admin.headers), 409)

    assert (problem["type"], problem["referred_by"]) == ("in-use", {"series": 1})
    assert "1 series" in problem["detail"]
    assert (await client.get(path, headers=admin.headers)).status == 200
    read = await client.get(f"/api/v1/series/{series['id']}", headers=admin.headers)
    assert (await read.json())["term_id"] == term["id"], "the series keeps its term"


async def test_a_term_nothing_refers_to_is_deleted(client: TestClient, admin: Person) -> None:
    monday = next_weekday(0)
    made = await client.post(
        "/api/v1/terms",
        json={
            "name": "2026/2027 S2",
            "first_day": str(monday),
            "last_day": str(monday + timedelta(days=27)),
        },
        headers=admin.headers,
    )
    path = f"/api/v1/terms/{(await made.json())['id']}"
    deleted = await client.delete(path, headers=admin.headers)
    assert deleted.status == 204, await deleted.text()
    assert (await client.get(path, headers=admin.headers)).status == 404


async def test_a_room_deleted_while_it_is_booked_is_one_or_the_other(
    client: TestClient, admin: Person
) -> None:
    """A delete and a booking of the same room sent together: either the booking is made and
    the delete refused ``in-use``, or the room goes and the booking finds no room; never a
    500, never a booking left without its room."""
    await make_campus(client, admin)
    monday = next_weekday(0)
    for attempt in range(15):
        made = await client.post(
            "/api/v1/rooms",
            json={"building": "PB", "code": f"R{attempt}", "kind": "classroom", "capacity": 30},
            headers=admin.headers,
        )
        room = (await made.json())["id"]
        deleted, booked = await asyncio.gather(
            client.delete(f"/api/v1/rooms/{room}", headers=admin.headers),
            book(client, admin, room, at(monday, 9), at(monday, 10)),
        )
        outcome = (deleted.status, booked.status)
        assert outcome in {(409, 201), (204, 422)}, (
            outcome, await deleted.text(), await booked.text()
        )  # fmt: skip


async def test_a_room_with_problem_reports_is_in_use(client: TestClient, admin: Person) -> None:
    """Deleting a room used to delete its problem reports with it (ON DELETE CASCADE), open
    ones too, with no audit entry and nothing left for their reporters: they refer to it as
    its bookings do."""
    campus = await make_campus(client, admin)
    made = await client.post(
        "/api/v1/issues",
        json={"room_id": campus.room_201, "summary": "Window will not close"},
        headers=admin.headers,
    )
    assert made.status == 201, await made.text()
    path = f"/api/v1/rooms/{campus.room_201}"

    problem = await problem_of(await client.delete(path, headers=admin.headers), 409)

    assert (problem["type"], problem["referred_by"]) == ("in-use", {"issues": 1})
    assert "referred to by 1 problem report;" in problem["detail"]
    assert (await client.get(path, headers=admin.headers)).status == 200
    issue = await client.get(f"/api/v1/issues/{(await made.json())['id']}", headers=admin.headers)
    assert issue.status == 200
