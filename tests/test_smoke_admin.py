"""Buildings, rooms and terms managed over HTTP, on both databases."""

from __future__ import annotations

from aiohttp.test_utils import TestClient

from tests.conftest import Person


async def test_admin_creates_and_lists_a_room(client: TestClient, admin: Person) -> None:
    created = await client.post(
        "/api/v1/buildings", json={"code": "pb", "name": "Petroleum"}, headers=admin.headers
    )
    assert created.status == 201, await created.text()
    assert (await created.json())["code"] == "PB"
    room = await client.post(
        "/api/v1/rooms",
        json={"building": "PB", "code": "101", "capacity": 40, "features": ["Projector"]},
        headers=admin.headers,
    )
    assert room.status == 201, await room.text()
    listed = await client.get("/api/v1/rooms?features=projector", headers=admin.headers)
    body = await listed.json()
    assert [r["code"] for r in body["items"]] == ["101"]
    assert body["items"][0]["features"] == ["projector"]
