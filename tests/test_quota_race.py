"""A quota under concurrent requests by one user: real server processes, real HTTP; the
owner's turn in the store lets exactly as many through as the quota allows."""

from __future__ import annotations

import asyncio
import uuid
from pathlib import Path

import aiohttp
import pytest
from aiohttp.test_utils import TestClient
from sqlalchemy import text

from compax_server.keys import DATABASE
from sync.permissions import Role
from tests.booking_helpers import at, make_campus, next_weekday
from tests.conftest import MakePerson, Person
from tests.servers import running_servers

#: Requests sent at once by the one user, spread over the rooms and both server processes.
REQUESTS = 12


@pytest.mark.slow
async def test_concurrent_requests_never_pass_a_quota_together(
    client: TestClient, admin: Person, make_person: MakePerson, database_url: str, tmp_path: Path
) -> None:
    """One user sends ``REQUESTS`` bookings in different rooms and times at once (grouped,
    idempotent and pushed alike) with a quota of two a day: exactly two are made, every other
    answer is the quota's refusal, never a 5xx."""
    campus = await make_campus(client, admin)
    rooms = [campus.room_101, campus.room_102, campus.room_201, campus.eng_1]
    staff = await make_person(Role.STAFF)
    limit = await client.put(
        "/api/v1/quotas/roles/staff", json={"max_bookings_day": 2}, headers=admin.headers
    )
    assert limit.status == 200
    day = next_weekday(2)
    processes = 1 if database_url.startswith("sqlite") else 2
    async with (
        running_servers(database_url, tmp_path, count=processes) as urls,
        aiohttp.ClientSession() as session,
    ):
        client_ids = [str(uuid.uuid4()) for _ in urls]
        for url, client_id in zip(urls, client_ids, strict=True):
            async with session.post(
                f"{url}/api/v1/sync/clients", json={"client_id": client_id}, headers=staff.headers
            ) as registered:
                assert registered.status == 200

        async def attempt(index: int) -> tuple[int, str]:
            url = urls[index % len(urls)]
            body = {
                "room_id": rooms[index % len(rooms)],
                "start": at(day, 8 + index),
                "end": at(day, 8 + index, 30),
                "title": f"Race {index}",
            }
            headers = dict(staff.headers)
            if index % 3 == 1:
                headers["Idempotency-Key"] = str(uuid.uuid4())
            if index % 3 == 2 and index // 3 < len(urls):
                push = {
                    "client_id": client_ids[index % len(urls)],
                    "schema_version": 1,
                    "mutations": [{"mid": 1, "op": "create_booking", "args": body}],
                }
                async with session.post(
                    f"{urls[index % len(urls)]}/api/v1/sync/push", json=push, headers=headers
                ) as response:
                    answer = await response.json(content_type=None)
                    if response.status != 200:
                        return response.status, str(answer)
                    [result] = answer["results"]
                    if result["status"] == "applied":
                        return 201, ""
                    return 422, result["problem"]["type"]
            async with session.post(
                f"{url}/api/v1/bookings", json=body, headers=headers
            ) as response:
                answer = await response.json(content_type=None)
                return response.status, answer.get("type", "")

        outcomes = await asyncio.gather(*(attempt(i) for i in range(REQUESTS)))

    assert sorted({status for status, _ in outcomes}) == [201, 422], outcomes
    assert sum(status == 201 for status, _ in outcomes) == 2, outcomes
    assert {kind for status, kind in outcomes if status == 422} == {"quota-bookings-day"}
    async with client.app[DATABASE].read() as db_session:  # type: ignore[index]
        held = await db_session.execute(
            text("SELECT count(*) FROM bookings WHERE owner_id = :owner AND status = 'confirmed'"),
            {"owner": staff.id},
        )
        assert held.scalar_one() == 2
