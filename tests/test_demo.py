"""The demo campus: big enough to try everything, and accepted whole by a real server."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import pytest
from aiohttp.test_utils import TestClient

from compax_cli.demo import PASSWORD, USERS, campus_rows, seed, timetable_rows
from compax_server.keys import DATABASE, PASSWORDS
from compax_server.services.users import create_user
from sync.permissions import Role
from sync.schemas import UserCreate
from tests.servers import ServerProcess


def test_the_campus_has_what_the_demo_promises() -> None:
    buildings, rooms = campus_rows()
    assert len(buildings) >= 10
    assert len(rooms) >= 200
    assert len({(r["building"], r["code"]) for r in rooms}) == len(rooms)
    assert {role for _, _, role, _ in USERS} == {role.value for role in Role}
    classes = timetable_rows(rooms)
    slots = Counter((r["building"], r["room"], r["weekday"], r["start"]) for r in classes)
    assert max(slots.values()) == 1, "no room has two classes at once"


@pytest.mark.slow
async def test_a_server_takes_the_whole_demo_campus(
    client: TestClient, database_url: str, tmp_path: Path
) -> None:
    app = client.app
    assert app is not None
    async with app[DATABASE].write() as session:
        await create_user(
            session,
            UserCreate(username="admin", password=PASSWORD, role=Role.ADMIN),
            await app[PASSWORDS].hash(PASSWORD),
        )
    server = ServerProcess(database_url, tmp_path)
    server.start()
    try:
        await server.wait_until_healthy()
        booked = await seed(server.url)
        assert booked > 100, "the timetable booked classes for the rest of the term"
        again = await seed(server.url)
        assert again == 0, "seeding twice changes nothing"
    finally:
        server.stop()
    signed = await client.post(
        "/api/v1/auth/token", json={"username": "admin", "password": PASSWORD}
    )
    headers = {"Authorization": f"Bearer {(await signed.json())['access_token']}"}
    rooms = await (await client.get("/api/v1/rooms?limit=500", headers=headers)).json()
    users = await (await client.get("/api/v1/users?limit=500", headers=headers)).json()
    assert len(rooms["items"]) == len(campus_rows()[1])
    assert sorted(u["username"] for u in users["items"]) == sorted(u for u, _, _, _ in USERS)
