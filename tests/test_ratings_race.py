"""Ratings under concurrent clients: real server processes, real HTTP. However the requests
interleave, a room's running totals equal the sum of its rating rows, and one user's racing
first ratings of a room end as one row."""

from __future__ import annotations

import asyncio
import itertools
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from aiohttp.test_utils import TestClient

from sync.permissions import Role
from tests.booking_helpers import make_campus
from tests.conftest import MakePerson, Person
from tests.servers import running_servers
from tests.test_ratings import totals_and_rows

#: Different users rating the one room at once.
RATERS = 10
#: Changes one user sends at once to their rating of that room, and first ratings racing.
CHANGES = 8


@pytest.mark.slow
async def test_concurrent_ratings_keep_the_totals_equal_to_the_rows(
    client: TestClient, admin: Person, make_person: MakePerson, database_url: str, tmp_path: Path
) -> None:
    campus = await make_campus(client, admin)
    raters = [await make_person(Role.STUDENT) for _ in range(RATERS)]
    changer, racer = await make_person(Role.STAFF), await make_person(Role.STAFF)
    processes = 1 if database_url.startswith("sqlite") else 2
    async with (
        running_servers(database_url, tmp_path, count=processes) as urls,
        aiohttp.ClientSession() as session,
    ):
        servers = itertools.cycle(urls)

        async def send(person: Person, method: str, room_id: int, **body: Any) -> int:
            path = f"{next(servers)}/api/v1/rooms/{room_id}/rating"
            async with session.request(
                method, path, json=body or None, headers=person.headers
            ) as answer:
                return answer.status

        async with session.put(
            f"{urls[0]}/api/v1/rooms/{campus.room_101}/rating",
            json={"stars": 1},
            headers=changer.headers,
        ) as first:
            assert first.status == 200
        calls = [send(p, "PUT", campus.room_101, stars=1 + i % 5) for i, p in enumerate(raters)]
        calls += [send(changer, "PUT", campus.room_101, stars=1 + i % 5) for i in range(CHANGES)]
        calls += [send(racer, "PUT", campus.room_102, stars=1 + i % 5) for i in range(CHANGES)]
        calls += [send(raters[0], "DELETE", campus.room_101)]
        statuses = await asyncio.gather(*calls)
    assert set(statuses) <= {200, 204, 404}, statuses
    assert statuses.count(200) == RATERS + 2 * CHANGES
    for room_id, raters_left in [(campus.room_101, None), (campus.room_102, 1)]:
        (count, total), stars = await totals_and_rows(client, room_id)
        assert (count, total) == (len(stars), sum(stars))
        if raters_left is not None:
            assert count == raters_left, "one user's racing first ratings make one row"
