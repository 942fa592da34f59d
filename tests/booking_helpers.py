"""A small campus and helpers shared by the booking tests."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from typing import Any

from aiohttp.test_utils import TestClient

from tests.conftest import Person

#: Campus time zone of the test settings; Accra is UTC+0 all year.
ZONE_OFFSET = timedelta(0)


def next_weekday(weekday: int, weeks_ahead: int = 2) -> date:
    """A date ``weeks_ahead`` weeks from now falling on ``weekday`` (0 is Monday)."""
    today = datetime.now(UTC).date()
    return today + timedelta(days=(weekday - today.weekday()) % 7 + 7 * weeks_ahead)


def at(day: date, hour: int, minute: int = 0) -> str:
    """The ISO instant of local ``hour:minute`` on ``day`` in the campus zone."""
    return (datetime.combine(day, time(hour, minute), tzinfo=UTC) - ZONE_OFFSET).isoformat()


@dataclass
class Campus:
    room_101: int
    room_102: int
    room_201: int
    eng_1: int
    closed: int


async def make_campus(client: TestClient, admin: Person) -> Campus:
    """Two buildings and five rooms, one of them not bookable."""
    await bulk(
        client,
        admin,
        "buildings",
        [
            {"code": "PB", "name": "Petroleum Building", "floors": 3},
            {"code": "ENG", "name": "Engineering"},
        ],
    )
    rows = await bulk(
        client,
        admin,
        "rooms",
        [
            {"building": "PB", "code": "101", "capacity": 40, "features": ["projector"]},
            {"building": "PB", "code": "102", "capacity": 60, "features": ["projector"]},
            {"building": "PB", "code": "201", "capacity": 20},
            {"building": "ENG", "code": "1", "capacity": 40, "features": ["projector"]},
            {"building": "ENG", "code": "2", "capacity": 100, "bookable": False},
        ],
    )
    ids = [row["id"] for row in rows]
    return Campus(*ids)


async def bulk(
    client: TestClient, admin: Person, kind: str, rows: list[dict[str, Any]]
) -> list[dict[str, Any]]:
    response = await client.post(f"/api/v1/{kind}:bulk", json={"rows": rows}, headers=admin.headers)
    assert response.status == 200, await response.text()
    results = (await response.json())["results"]
    assert all(r["status"] != "rejected" for r in results), results
    return results


async def book(
    client: TestClient, person: Person, room_id: int, start: str, end: str, **fields: Any
) -> Any:
    return await client.post(
        "/api/v1/bookings",
        json={"room_id": room_id, "start": start, "end": end, "title": "Lecture", **fields},
        headers=person.headers,
    )
