"""Time windows of lists and reports: ``from`` after ``to`` is one 422 naming ``from`` on every
endpoint that takes them; the utilisation report spans up to a year and counts no closed hour
as open."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from aiohttp.test_utils import TestClient

from tests.booking_helpers import at, book, make_campus, next_weekday
from tests.conftest import Person
from tests.support import error_fields, problem_of

#: Every endpoint with a ``from``/``to`` pair (``{room}`` is filled in by the test).
WINDOWED = [
    "/api/v1/bookings",
    "/api/v1/blackouts",
    "/api/v1/rooms/{room}/availability",
    "/api/v1/buildings/PB/availability",
    "/api/v1/reports/utilisation",
]


@pytest.mark.parametrize("path", WINDOWED)
@pytest.mark.parametrize("hours", [-1, 0], ids=["after", "equal"])
async def test_from_not_before_to_is_one_422_naming_from(
    client: TestClient, admin: Person, path: str, hours: int
) -> None:
    campus = await make_campus(client, admin)
    monday = next_weekday(0)
    url = path.format(room=campus.room_101)
    query = {"from": at(monday, 10), "to": at(monday, 10 + hours)}

    problem = await problem_of(await client.get(url, params=query, headers=admin.headers), 422)

    assert error_fields(problem) == ["from"]
    assert problem["errors"][0]["message"] == "must be before to"


@pytest.mark.parametrize("path", WINDOWED)
async def test_a_window_in_order_is_answered(client: TestClient, admin: Person, path: str) -> None:
    campus = await make_campus(client, admin)
    monday = next_weekday(0)
    url = path.format(room=campus.room_101)
    query = {"from": at(monday, 10), "to": at(monday, 11)}
    response = await client.get(url, params=query, headers=admin.headers)
    assert response.status == 200, await response.text()


@pytest.mark.parametrize(
    ("path", "days", "status"),
    [
        ("/api/v1/reports/utilisation", 120, 200),
        ("/api/v1/reports/utilisation", 366, 200),
        ("/api/v1/reports/utilisation", 367, 422),
        ("/api/v1/rooms/{room}/availability", 31, 200),
        ("/api/v1/rooms/{room}/availability", 32, 422),
    ],
)
async def test_a_report_spans_a_term_and_a_grid_a_month(
    client: TestClient, admin: Person, path: str, days: int, status: int
) -> None:
    campus = await make_campus(client, admin)
    monday = next_weekday(0)
    query = {"from": at(monday, 0), "to": at(monday + timedelta(days=days), 0)}
    url = path.format(room=campus.room_101)
    response = await client.get(url, params=query, headers=admin.headers)
    if status == 200:
        assert response.status == 200, await response.text()
    else:
        problem = await problem_of(response, 422)
        assert error_fields(problem) == ["to"]
        assert problem["errors"][0]["message"].startswith("the window may span at most")


async def test_utilisation_counts_no_closed_hour_as_open(client: TestClient, admin: Person) -> None:
    """Campus hours are 07:00-22:00 on weekdays: a Monday and a Tuesday are 30 open hours, less
    a room's 10-hour closure on Monday and its building's whole Tuesday."""
    campus = await make_campus(client, admin)
    monday = next_weekday(0)
    tuesday = monday + timedelta(days=1)
    closures: list[dict[str, Any]] = [
        {"room_id": campus.room_101, "start": at(monday, 8), "end": at(monday, 18)},
        {"building": "PB", "start": at(tuesday, 0), "end": at(tuesday + timedelta(days=1), 0)},
    ]
    for closure in closures:
        made = await client.post(
            "/api/v1/blackouts", json={**closure, "reason": "Works"}, headers=admin.headers
        )
        assert made.status == 201, await made.text()
    assert (
        await book(client, admin, campus.room_101, at(monday, 18), at(monday, 20))
    ).status == 201

    report = await client.get(
        "/api/v1/reports/utilisation",
        params={"from": at(monday, 0), "to": at(monday + timedelta(days=2), 0)},
        headers=admin.headers,
    )

    assert report.status == 200, await report.text()
    body = await report.json()
    rooms = {row["room"]: row for row in body["rooms"]}
    assert (rooms["PB/101"]["open_hours"], rooms["PB/101"]["booked_hours"]) == (5.0, 2.0)
    assert rooms["PB/101"]["utilisation"] == 0.4
    assert rooms["PB/102"]["open_hours"] == 15.0
    assert rooms["ENG/1"]["open_hours"] == 30.0
    buildings = {row["building"]: row for row in body["buildings"]}
    assert (buildings["PB"]["open_hours"], buildings["PB"]["booked_hours"]) == (5 + 15 + 15, 2)


async def test_a_booking_kept_under_a_closure_is_not_counted_as_use(
    client: TestClient, admin: Person
) -> None:
    """A closure keeps the bookings under it, but a closed hour is no booked hour either: a
    room closed over its booking is never more than fully used."""
    campus = await make_campus(client, admin)
    monday = next_weekday(0)
    assert (
        await book(client, admin, campus.room_101, at(monday, 10), at(monday, 12))
    ).status == 201
    closed = await client.post(
        "/api/v1/blackouts",
        json={"room_id": campus.room_101, "start": at(monday, 7), "end": at(monday, 21),
              "reason": "Leak"},
        headers=admin.headers,
    )  # fmt: skip
    assert closed.status == 201, await closed.text()

    report = await client.get(
        "/api/v1/reports/utilisation",
        params={"from": at(monday, 0), "to": at(monday + timedelta(days=1), 0)},
        headers=admin.headers,
    )

    room = {row["room"]: row for row in (await report.json())["rooms"]}["PB/101"]
    assert (room["open_hours"], room["booked_hours"], room["utilisation"]) == (1.0, 0.0, 0.0)
