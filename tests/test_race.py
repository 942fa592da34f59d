"""The overlap invariant under real load: concurrent clients, real server processes, real HTTP."""

from __future__ import annotations

import asyncio
import random
from datetime import UTC, datetime, timedelta
from pathlib import Path

import aiohttp
import pytest
from aiohttp.test_utils import TestClient
from sqlalchemy import text

from compax_server.keys import DATABASE
from sync.permissions import Role
from tests.booking_helpers import make_campus, next_weekday
from tests.conftest import MakePerson, Person
from tests.servers import running_servers

CLIENTS = 50

OVERLAPPING_PAIRS = text("""
    SELECT count(*) FROM bookings a JOIN bookings b
      ON a.room_id = b.room_id AND a.id < b.id
     AND a.start < b."end" AND b.start < a."end"
     WHERE a.status = 'confirmed' AND b.status = 'confirmed'
""")


@pytest.mark.slow
async def test_concurrent_clients_never_double_book(
    client: TestClient, admin: Person, make_person: MakePerson, database_url: str, tmp_path: Path
) -> None:
    processes = 1 if database_url.startswith("sqlite") else 2
    async with (
        running_servers(database_url, tmp_path, count=processes) as urls,
        aiohttp.ClientSession() as session,
    ):
        await race(client, admin, make_person, urls, session)


async def race(
    client: TestClient,
    admin: Person,
    make_person: MakePerson,
    urls: list[str],
    session: aiohttp.ClientSession,
) -> None:
    """``CLIENTS`` people book contended times at once, spread over ``urls``; every answer is
    201 or 409 (never 5xx) and the database holds no overlapping confirmed bookings."""
    campus = await make_campus(client, admin)
    rooms = [campus.room_101, campus.room_102, campus.room_201]
    people = [await make_person(Role.STAFF) for _ in range(CLIENTS)]
    day = next_weekday(2)
    base = datetime.combine(day, datetime.min.time(), tzinfo=UTC) + timedelta(hours=9)
    rng = random.Random(7)
    wanted = [
        (
            rng.choice(rooms),
            base + timedelta(minutes=30 * rng.randrange(6)),
            timedelta(minutes=rng.choice((60, 90))),
        )
        for _ in people
    ]

    async def attempt(index: int) -> tuple[int, dict[str, object]]:
        room_id, start, length = wanted[index]
        async with session.post(
            f"{urls[index % len(urls)]}/api/v1/bookings",
            json={
                "room_id": room_id,
                "start": start.isoformat(),
                "end": (start + length).isoformat(),
                "title": f"Race {index}",
            },
            headers=people[index].headers,
        ) as response:
            return response.status, await response.json(content_type=None)

    outcomes = await asyncio.gather(*(attempt(i) for i in range(CLIENTS)))

    statuses = sorted({status for status, _ in outcomes})
    assert set(statuses) <= {201, 409}, outcomes
    refusals = [body for status, body in outcomes if status == 409]
    assert len(refusals) > CLIENTS // 2, "the seeded requests contend for the same times"
    assert all(body["type"] == "room-overlap" and body["conflicting"] for body in refusals)

    database = client.app[DATABASE]
    async with database.read() as db_session:
        assert (await db_session.execute(OVERLAPPING_PAIRS)).scalar_one() == 0
        held = (
            await db_session.execute(
                text("SELECT room_id, start, \"end\" FROM bookings WHERE status = 'confirmed'")
            )
        ).all()
    assert len(held) == sum(status == 201 for status, _ in outcomes)
    for (room_id, start, length), (status, _) in zip(wanted, outcomes, strict=True):
        holders = [h for h in held if h[0] == room_id and _overlaps(h, start, start + length)]
        assert len(holders) >= 1, "every requested time is held by some booking"
        if status == 201:
            assert len(holders) == 1, "a granted time is held by exactly that booking"


def _overlaps(row: tuple[int, object, object], start: datetime, end: datetime) -> bool:
    held_start, held_end = (_aware(row[1]), _aware(row[2]))
    return held_start < end and start < held_end


def _aware(value: object) -> datetime:
    moment = value if isinstance(value, datetime) else datetime.fromisoformat(str(value))
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


@pytest.mark.slow
async def test_concurrent_bookings_and_moves_never_double_book(
    client: TestClient, admin: Person, make_person: MakePerson, database_url: str, tmp_path: Path
) -> None:
    """New bookings (which take no turn per room: the insert itself is the check) race moves
    (which take turns per room) into the same times: every answer is a booking or a clash,
    never a deadlock or an error, and no two confirmed bookings overlap."""
    campus = await make_campus(client, admin)
    people = [await make_person(Role.STAFF) for _ in range(CLIENTS)]
    day = next_weekday(3)
    base = datetime.combine(day, datetime.min.time(), tzinfo=UTC) + timedelta(hours=9)
    movers = people[: CLIENTS // 2]
    parked = []
    for index, person in enumerate(movers):
        start = base + timedelta(hours=10) if index % 2 else base - timedelta(hours=2)
        start += timedelta(minutes=15 * (index // 2))
        made = await client.post(
            "/api/v1/bookings",
            json={
                "room_id": campus.room_201,
                "start": start.isoformat(),
                "end": (start + timedelta(minutes=15)).isoformat(),
                "title": f"Parked {index}",
            },
            headers=person.headers,
        )
        assert made.status == 201, await made.text()
        parked.append((await made.json())["id"])
    rng = random.Random(11)
    wanted = [
        (
            rng.choice([campus.room_101, campus.room_102]),
            base + timedelta(minutes=30 * rng.randrange(4)),
            timedelta(minutes=rng.choice((60, 90))),
        )
        for _ in people
    ]
    processes = 1 if database_url.startswith("sqlite") else 2

    async with (
        running_servers(database_url, tmp_path, count=processes) as urls,
        aiohttp.ClientSession() as session,
    ):

        async def attempt(index: int) -> tuple[int, dict[str, object]]:
            room_id, start, length = wanted[index]
            times = {"start": start.isoformat(), "end": (start + length).isoformat()}
            url = urls[index % len(urls)]
            if index < len(movers):
                request = session.patch(
                    f"{url}/api/v1/bookings/{parked[index]}",
                    json={"room_id": room_id, **times},
                    headers={**people[index].headers, "If-Match": '"1"'},
                )
            else:
                request = session.post(
                    f"{url}/api/v1/bookings",
                    json={"room_id": room_id, **times, "title": f"Race {index}"},
                    headers=people[index].headers,
                )
            async with request as response:
                return response.status, await response.json(content_type=None)

        outcomes = await asyncio.gather(*(attempt(i) for i in range(CLIENTS)))

    assert {status for status, _ in outcomes} <= {200, 201, 409}, outcomes
    refusals = [body for status, body in outcomes if status == 409]
    assert len(refusals) > CLIENTS // 2, "the seeded requests contend for the same times"
    assert all(body["type"] in ("room-overlap", "series-conflict") for body in refusals)
    async with client.app[DATABASE].read() as db_session:
        assert (await db_session.execute(OVERLAPPING_PAIRS)).scalar_one() == 0
