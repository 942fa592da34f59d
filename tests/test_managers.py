"""Granting and revoking building managers, and the user records that list them."""

from __future__ import annotations

import asyncio
import uuid

from aiohttp.test_utils import TestClient
from sqlalchemy import select
from sqlmodel import col

from compax_server.keys import DATABASE
from compax_server.models import AuditEntry
from sync.permissions import Role
from sync.protocol import SCHEMA_VERSION
from tests.booking_helpers import at, make_campus, next_weekday
from tests.conftest import PASSWORD, MakePerson, Person
from tests.support import problem_of


async def _grant(client: TestClient, admin: Person, building: int, user: int) -> int:
    response = await client.put(
        f"/api/v1/buildings/{building}/managers/{user}", headers=admin.headers
    )
    return response.status


async def _managers(client: TestClient, admin: Person, building: int) -> list[str]:
    response = await client.get(f"/api/v1/buildings/{building}/managers", headers=admin.headers)
    assert response.status == 200, await response.text()
    return [item["username"] for item in await response.json()]


async def test_granting_is_idempotent_and_shows_in_the_user_record(
    client: TestClient, admin: Person, make_person: MakePerson
) -> None:
    await make_campus(client, admin)
    alice = await make_person(Role.STAFF, username="alice")
    first = await client.put(f"/api/v1/buildings/1/managers/{alice.id}", headers=admin.headers)
    assert first.status == 200, await first.text()
    grant = await first.json()
    assert (grant["building_id"], grant["user_id"], grant["username"]) == (1, alice.id, "alice")
    again = await client.put(f"/api/v1/buildings/1/managers/{alice.id}", headers=admin.headers)
    assert again.status == 200
    assert (await again.json())["created_at"] == grant["created_at"]
    assert await _grant(client, admin, 2, alice.id) == 200
    assert await _managers(client, admin, 1) == ["alice"]

    record = await (await client.get(f"/api/v1/users/{alice.id}", headers=admin.headers)).json()
    assert record["manages"] == [1, 2]
    assert record["version"] == 3  # each grant moves the record on, so clients pull it
    me = await (await client.get("/api/v1/me", headers=alice.headers)).json()
    assert me["manages"] == [1, 2]
    listed = await (await client.get("/api/v1/users?username=alice", headers=admin.headers)).json()
    assert listed["items"][0]["manages"] == [1, 2]
    signed_in = await client.post(
        "/api/v1/auth/token", json={"username": "alice", "password": PASSWORD}
    )
    assert (await signed_in.json())["user"]["manages"] == [1, 2]


async def test_revoking_is_idempotent(
    client: TestClient, admin: Person, make_person: MakePerson
) -> None:
    await make_campus(client, admin)
    alice = await make_person(Role.STAFF, username="alice")
    assert await _grant(client, admin, 1, alice.id) == 200
    for _ in range(2):
        gone = await client.delete(
            f"/api/v1/buildings/1/managers/{alice.id}", headers=admin.headers
        )
        assert gone.status == 204, await gone.text()
    assert await _managers(client, admin, 1) == []
    me = await (await client.get("/api/v1/me", headers=alice.headers)).json()
    assert me["manages"] == []
    refused = await client.post(
        "/api/v1/rooms",
        json={"building": "PB", "code": "900", "capacity": 1},
        headers=alice.headers,
    )
    await problem_of(refused, 403)


async def test_unknown_building_or_user_is_404_and_an_inactive_user_422(
    client: TestClient, admin: Person, make_person: MakePerson
) -> None:
    await make_campus(client, admin)
    alice = await make_person(Role.STAFF, username="alice", active=False)
    no_building = await client.put(
        f"/api/v1/buildings/99/managers/{alice.id}", headers=admin.headers
    )
    assert "building" in (await problem_of(no_building, 404))["detail"]
    no_user = await client.put("/api/v1/buildings/1/managers/999", headers=admin.headers)
    assert "user" in (await problem_of(no_user, 404))["detail"]
    inactive = await client.put(f"/api/v1/buildings/1/managers/{alice.id}", headers=admin.headers)
    problem = await problem_of(inactive, 422)
    assert [error["field"] for error in problem["errors"]] == ["user_id"]
    assert await _managers(client, admin, 1) == []


async def test_deactivating_a_user_revokes_their_buildings(
    client: TestClient, admin: Person, make_person: MakePerson
) -> None:
    await make_campus(client, admin)
    alice = await make_person(Role.STAFF, username="alice")
    assert await _grant(client, admin, 1, alice.id) == 200
    gone = await client.delete(f"/api/v1/users/{alice.id}", headers=admin.headers)
    assert gone.status == 200, await gone.text()
    assert (await gone.json())["manages"] == []
    assert await _managers(client, admin, 1) == []
    back = await client.get(f"/api/v1/users/{alice.id}", headers=admin.headers)
    assert (await back.json())["manages"] == []


async def test_deleting_a_building_revokes_its_managers(
    client: TestClient, admin: Person, make_person: MakePerson
) -> None:
    response = await client.post(
        "/api/v1/buildings", json={"code": "NEW", "name": "New"}, headers=admin.headers
    )
    building = (await response.json())["id"]
    alice = await make_person(Role.STAFF, username="alice")
    assert await _grant(client, admin, building, alice.id) == 200
    deleted = await client.delete(f"/api/v1/buildings/{building}", headers=admin.headers)
    assert deleted.status == 204, await deleted.text()
    me = await (await client.get("/api/v1/me", headers=alice.headers)).json()
    assert me["manages"] == []


async def test_a_managers_pushed_bookings_follow_their_role(
    client: TestClient, admin: Person, make_person: MakePerson
) -> None:
    """Sync operations check the campus role: a student who manages PB may still not book
    there, offline or not."""
    campus = await make_campus(client, admin)
    student = await make_person(Role.STUDENT)
    assert await _grant(client, admin, 1, student.id) == 200
    client_id = str(uuid.uuid4())
    registered = await client.post(
        "/api/v1/sync/clients", json={"client_id": client_id}, headers=student.headers
    )
    assert registered.status == 200, await registered.text()
    monday = next_weekday(0)
    pushed = await client.post(
        "/api/v1/sync/push",
        json={
            "client_id": client_id,
            "schema_version": SCHEMA_VERSION,
            "mutations": [
                {
                    "mid": 1,
                    "op": "create_booking",
                    "args": {
                        "id": str(uuid.uuid4()),
                        "room_id": campus.room_101,
                        "start": at(monday, 10),
                        "end": at(monday, 11),
                        "title": "Mine",
                    },
                }
            ],
        },
        headers=student.headers,
    )
    assert pushed.status == 200, await pushed.text()
    [result] = (await pushed.json())["results"]
    assert result["status"] == "rejected"
    assert result["problem"]["type"] == "forbidden"


async def test_a_pull_carries_the_managers_record(
    client: TestClient, admin: Person, make_person: MakePerson
) -> None:
    await make_campus(client, admin)
    alice = await make_person(Role.STAFF, username="alice")
    assert await _grant(client, admin, 2, alice.id) == 200
    pulled = await client.get("/api/v1/sync/pull?cursor=0", headers=alice.headers)
    assert pulled.status == 200, await pulled.text()
    own = [
        change["row"]
        for change in (await pulled.json())["changes"]
        if change["table"] == "users" and change["op"] == "put"
    ]
    assert [row["manages"] for row in own] == [[2]]


async def test_grants_and_revocations_are_audited(
    client: TestClient, admin: Person, make_person: MakePerson
) -> None:
    await make_campus(client, admin)
    alice = await make_person(Role.STAFF, username="alice")
    assert await _grant(client, admin, 1, alice.id) == 200
    assert await _grant(client, admin, 1, alice.id) == 200
    assert await _grant(client, admin, 2, alice.id) == 200
    gone = await client.delete(f"/api/v1/buildings/1/managers/{alice.id}", headers=admin.headers)
    assert gone.status == 204
    deactivated = await client.delete(f"/api/v1/users/{alice.id}", headers=admin.headers)
    assert deactivated.status == 200
    assert client.app is not None
    async with client.app[DATABASE].read() as session:
        found = await session.execute(
            select(AuditEntry)
            .where(col(AuditEntry.record_type) == "building_manager")
            .order_by(col(AuditEntry.id))
        )
        entries = [(e.action, e.record_id, e.building_id, e.actor_id) for e in found.scalars()]
    assert entries == [
        ("create", f"1:{alice.id}", 1, admin.id),
        ("create", f"2:{alice.id}", 2, admin.id),
        ("delete", f"1:{alice.id}", 1, admin.id),
        ("delete", f"2:{alice.id}", 2, admin.id),
    ]


async def test_a_grant_racing_a_deactivation_never_leaves_an_inactive_manager(
    client: TestClient, admin: Person, make_person: MakePerson
) -> None:
    """Both take the user's row first: whichever goes second sees the other's work."""
    await make_campus(client, admin)
    for round_ in range(4):
        user = await make_person(Role.STAFF, username=f"racer{round_}")
        grant, deactivate = await asyncio.gather(
            client.put(f"/api/v1/buildings/1/managers/{user.id}", headers=admin.headers),
            client.delete(f"/api/v1/users/{user.id}", headers=admin.headers),
        )
        assert grant.status in (200, 422), await grant.text()
        assert deactivate.status == 200, await deactivate.text()
        record = await client.get(f"/api/v1/users/{user.id}", headers=admin.headers)
        assert (await record.json())["manages"] == []
    assert await _managers(client, admin, 1) == []


async def test_the_same_grant_twice_at_once_is_one_grant(
    client: TestClient, admin: Person, make_person: MakePerson
) -> None:
    await make_campus(client, admin)
    alice = await make_person(Role.STAFF, username="alice")
    answers = await asyncio.gather(
        *(
            client.put(f"/api/v1/buildings/1/managers/{alice.id}", headers=admin.headers)
            for _ in range(3)
        )
    )
    assert [answer.status for answer in answers] == [200, 200, 200]
    assert await _managers(client, admin, 1) == ["alice"]
