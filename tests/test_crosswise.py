"""Writers that cross each other's rooms never deadlock: pushes that book in one room and move
into another, REST moves and new bookings, at once, on real server processes."""

from __future__ import annotations

import asyncio
import random
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from aiohttp.test_utils import TestClient

from compax_server.keys import DATABASE
from sync.permissions import Role
from sync.protocol import SCHEMA_VERSION
from tests.booking_helpers import make_campus, next_weekday
from tests.conftest import MakePerson, Person
from tests.servers import running_servers
from tests.test_race import OVERLAPPING_PAIRS
from tests.test_sync_server import register

#: Offline clients pushing at once, half of them with each of two rooms as their own.
PUSHERS = 30
#: People booking and moving over REST at the same time.
RESTERS = 30


@pytest.mark.slow
async def test_crosswise_pushes_and_moves_never_deadlock(
    client: TestClient, admin: Person, make_person: MakePerson, database_url: str, tmp_path: Path
) -> None:
    """Each pusher books twice in its own room and moves a booking of its own into the other
    room, while others book and move over REST in both rooms: every push is answered 200 with
    each change applied or refused for a reason of its own (never 503, never ``internal``),
    every REST answer is a booking or a clash, and no two confirmed bookings overlap."""
    campus = await make_campus(client, admin)
    rooms = (campus.room_101, campus.room_102)
    day = next_weekday(1)
    base = datetime.combine(day, datetime.min.time(), tzinfo=UTC) + timedelta(hours=8)
    rng = random.Random(5)

    def slot() -> tuple[str, str]:
        start = base + timedelta(minutes=30 * rng.randrange(16))
        return start.isoformat(), (start + timedelta(minutes=rng.choice((30, 60)))).isoformat()

    people = [await make_person(Role.STAFF) for _ in range(PUSHERS + RESTERS)]
    parked: list[str] = []
    for index, person in enumerate(people):
        start = base + timedelta(days=1, minutes=15 * (index // 2))
        made = await client.post(
            "/api/v1/bookings",
            json={
                "room_id": rooms[index % 2],
                "start": start.isoformat(),
                "end": (start + timedelta(minutes=15)).isoformat(),
                "title": f"Parked {index}",
            },
            headers=person.headers,
        )
        assert made.status == 201, await made.text()
        parked.append((await made.json())["id"])
    client_ids = [await register(client, person) for person in people[:PUSHERS]]

    def mutations(index: int) -> list[dict[str, Any]]:
        own, other = rooms[index % 2], rooms[1 - index % 2]
        creates = [
            {
                "mid": mid,
                "op": "create_booking",
                "args": dict(
                    zip(("start", "end"), slot(), strict=True),
                    id=str(uuid.uuid4()),
                    room_id=own,
                    title=f"Push {index}.{mid}",
                ),
            }
            for mid in (1, 2)
        ]
        start, end = slot()
        move = {"id": parked[index], "base_version": 1, "room_id": other, "start": start}
        return [*creates, {"mid": 3, "op": "update_booking", "args": {**move, "end": end}}]

    pushes = [mutations(index) for index in range(PUSHERS)]
    rest = [(index, *slot()) for index in range(PUSHERS, PUSHERS + RESTERS)]
    processes = 1 if database_url.startswith("sqlite") else 2

    async with (
        running_servers(database_url, tmp_path, count=processes) as urls,
        aiohttp.ClientSession() as session,
    ):

        async def pushed(index: int) -> tuple[int, Any]:
            async with session.post(
                f"{urls[index % len(urls)]}/api/v1/sync/push",
                json={
                    "client_id": client_ids[index],
                    "schema_version": SCHEMA_VERSION,
                    "mutations": pushes[index],
                },
                headers=people[index].headers,
            ) as response:
                return response.status, await response.json(content_type=None)

        async def rested(index: int, start: str, end: str) -> tuple[int, Any]:
            url, person = urls[index % len(urls)], people[index]
            times = {"room_id": rooms[index % 2], "start": start, "end": end}
            if index % 3:
                request = session.post(
                    f"{url}/api/v1/bookings",
                    json={**times, "title": f"REST {index}"},
                    headers=person.headers,
                )
            else:
                request = session.patch(
                    f"{url}/api/v1/bookings/{parked[index]}",
                    json={**times, "room_id": rooms[1 - index % 2]},
                    headers={**person.headers, "If-Match": '"1"'},
                )
            async with request as response:
                return response.status, await response.json(content_type=None)

        answers = await asyncio.gather(
            *(pushed(index) for index in range(PUSHERS)), *(rested(*wanted) for wanted in rest)
        )

    push_answers, rest_answers = answers[:PUSHERS], answers[PUSHERS:]
    assert {status for status, _ in push_answers} == {200}, push_answers
    results = [result for _, body in push_answers for result in body["results"]]
    assert len(results) == 3 * PUSHERS
    assert all(body["last_mutation_id"] == 3 for _, body in push_answers)
    refused = [result["problem"]["type"] for result in results if result["status"] == "rejected"]
    assert set(refused) <= {"room-overlap", "series-conflict"}, refused
    assert refused, "the seeded changes contend for the same times"
    assert {status for status, _ in rest_answers} <= {200, 201, 409}, rest_answers
    async with client.app[DATABASE].read() as db_session:
        assert (await db_session.execute(OVERLAPPING_PAIRS)).scalar_one() == 0
