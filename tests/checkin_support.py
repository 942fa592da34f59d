"""A test campus with a controllable server clock, for the check-in tests (``client`` and
``clock`` are fixtures: import them into a test module to use them)."""

from __future__ import annotations

import dataclasses
from datetime import UTC, date, datetime, time

import pytest
from aiohttp.test_utils import TestClient
from pytest_aiohttp import AiohttpClient

from compax_server.app import create_app
from compax_server.jobs.queue import JobContext
from compax_server.keys import BOOKING_POLICY, DATABASE, SETTINGS
from compax_server.settings import Settings
from tests.booking_helpers import Campus, at, book, bulk, make_campus
from tests.conftest import Person


class Clock:
    """The server's clock in these tests: the real time until a test sets it."""

    def __init__(self) -> None:
        self.fixed: datetime | None = None

    def __call__(self) -> datetime:
        return self.fixed or datetime.now(UTC)

    def set(self, day: date, hour: int, minute: int = 0, second: int = 0) -> None:
        self.fixed = datetime.combine(day, time(hour, minute, second), tzinfo=UTC)


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
async def client(aiohttp_client: AiohttpClient, settings: Settings, clock: Clock) -> TestClient:
    app = create_app(settings)
    app[BOOKING_POLICY] = dataclasses.replace(app[BOOKING_POLICY], clock=clock)
    return await aiohttp_client(app)


def jobs(client: TestClient) -> JobContext:
    app = client.app
    assert app is not None
    return JobContext(app[DATABASE], app[SETTINGS], app[BOOKING_POLICY])


async def checkin_campus(client: TestClient, admin: Person) -> Campus:
    """The booking tests' campus, where PB/101 and every ENG room but ENG/1 need check-in."""
    campus = await make_campus(client, admin)
    eng = {"code": "ENG", "name": "Engineering", "checkin_required": True}
    await bulk(client, admin, "buildings", [eng])
    await bulk(
        client,
        admin,
        "rooms",
        [
            {"building": "PB", "code": "101", "capacity": 40, "checkin_required": True},
            {"building": "ENG", "code": "1", "capacity": 40, "checkin_required": False},
        ],
    )
    return campus


async def booked(client: TestClient, person: Person, room_id: int, day: date, hour: int) -> str:
    response = await book(client, person, room_id, at(day, hour), at(day, hour + 1))
    assert response.status == 201, await response.text()
    return str((await response.json())["id"])
