"""The sync endpoints: registration, idempotent push, gaps, scoped snapshot pulls, resets."""

from __future__ import annotations

import uuid
from datetime import timedelta
from typing import Any

from aiohttp.test_utils import TestClient

from compax_server.keys import DATABASE
from compax_server.services.sync import compact
from sync.permissions import Role
from sync.protocol import SCHEMA_VERSION
from tests.booking_helpers import Campus, at, make_campus, next_weekday
from tests.conftest import MakePerson, Person


async def register(client: TestClient, person: Person) -> str:
    client_id = str(uuid.uuid4())
    response = await client.post(
        "/api/v1/sync/clients", json={"client_id": client_id}, headers=person.headers
    )
    assert response.status == 200, await response.text()
    return client_id


async def push(
    client: TestClient, person: Person, client_id: str, mutations: list[dict[str, Any]]
) -> Any:
    response = await client.post(
        "/api/v1/sync/push",
        json={
            "client_id": client_id,
            "schema_version": SCHEMA_VERSION,
            "mutations": mutations,
        },
        headers=person.headers,
    )
    assert response.status == 200, await response.text()
    return await response.json()


def create(mid: int, room_id: int, start: str, end: str, **fields: Any) -> dict[str, Any]:
    return {
        "mid": mid,
        "op": "create_booking",
        "args": {
            "id": str(uuid.uuid4()),
            "room_id": room_id,
            "start": start,
            "end": end,
            "title": "Offline",
            **fields,
        },
    }


async def pull_all(
    client: TestClient,
    person: Person,
    cursor: int = 0,
    limit: int = 1000,
    client_id: str | None = None,
) -> tuple[list[dict[str, Any]], int, list[dict[str, Any]]]:
    changes, pages = [], []
    while True:
        query = f"cursor={cursor}&limit={limit}" + (f"&client_id={client_id}" if client_id else "")
        response = await client.get(f"/api/v1/sync/pull?{query}", headers=person.headers)
        assert response.status == 200, await response.text()
        page = await response.json()
        pages.append(page)
        changes += page["changes"]
        assert page["cursor"] >= cursor, "cursors only move forward"
        cursor = page["cursor"]
        if not page["has_more"]:
            return changes, cursor, pages


async def test_a_pushed_mutation_applies_once_and_replays_its_outcome(
    client: TestClient, admin: Person, make_person: MakePerson
) -> None:
    campus = await make_campus(client, admin)
    staff = await make_person(Role.STAFF)
    client_id = await register(client, staff)
    monday = next_weekday(0)
    first = create(1, campus.room_101, at(monday, 9), at(monday, 10))

    applied = await push(client, staff, client_id, [first])
    assert applied["last_mutation_id"] == 1
    assert applied["results"][0]["status"] == "applied"
    assert applied["results"][0]["id"] == first["args"]["id"]

    replayed = await push(client, staff, client_id, [first])
    assert replayed["results"] == applied["results"]
    listed = await client.get(f"/api/v1/bookings?room_id={campus.room_101}", headers=staff.headers)
    assert len((await listed.json())["items"]) == 1, "applied exactly once"


async def test_a_rejection_advances_and_a_gap_stops_the_batch(
    client: TestClient, admin: Person, make_person: MakePerson
) -> None:
    campus = await make_campus(client, admin)
    staff, other = await make_person(Role.STAFF), await make_person(Role.STAFF)
    monday = next_weekday(0)
    await push(
        client,
        other,
        await register(client, other),
        [create(1, campus.room_101, at(monday, 9), at(monday, 11))],
    )
    client_id = await register(client, staff)

    answer = await push(
        client,
        staff,
        client_id,
        [
            create(1, campus.room_101, at(monday, 10), at(monday, 12), attendees=10),
            create(2, campus.room_102, at(monday, 10), at(monday, 12)),
            create(4, campus.room_201, at(monday, 10), at(monday, 12)),
        ],
    )
    assert [r["status"] for r in answer["results"]] == ["rejected", "applied"]
    problem = answer["results"][0]["problem"]
    assert problem["type"] == "room-overlap"
    assert problem["conflicting"] and problem["alternatives"]["rooms"]
    assert answer["last_mutation_id"] == 2
    assert answer["gap"] == {"expected": 3, "received": 4}


async def test_push_checks_roles_versions_and_client_ownership(
    client: TestClient, admin: Person, make_person: MakePerson
) -> None:
    campus = await make_campus(client, admin)
    staff, student = await make_person(Role.STAFF), await make_person(Role.STUDENT)
    monday = next_weekday(0)
    student_client = await register(client, student)
    refused = await push(
        client, student, student_client, [create(1, campus.room_101, at(monday, 9), at(monday, 10))]
    )
    assert refused["results"][0]["problem"]["type"] == "forbidden"

    stolen = await client.post(
        "/api/v1/sync/push",
        json={
            "client_id": student_client,
            "schema_version": SCHEMA_VERSION,
            "mutations": [],
        },
        headers=staff.headers,
    )
    assert stolen.status == 403

    client_id = await register(client, staff)
    made = create(1, campus.room_101, at(monday, 9), at(monday, 10))
    await push(client, staff, client_id, [made])
    booking_id = made["args"]["id"]
    answer = await push(
        client,
        staff,
        client_id,
        [
            {
                "mid": 2,
                "op": "update_booking",
                "args": {"id": booking_id, "base_version": 1, "title": "Renamed"},
            },
            {
                "mid": 3,
                "op": "update_booking",
                "args": {"id": booking_id, "base_version": 1, "title": "Stale"},
            },
            {"mid": 4, "op": "create_booking", "args": {"room_id": "x"}},
            {"mid": 5, "op": "cancel_booking", "args": {"id": booking_id, "base_version": 2}},
        ],
    )
    assert [r["status"] for r in answer["results"]] == [
        "applied",
        "rejected",
        "rejected",
        "applied",
    ]
    assert answer["results"][1]["problem"]["type"] == "stale-version"
    assert answer["results"][1]["problem"]["current"]["title"] == "Renamed"
    fields = {e["field"] for e in answer["results"][2]["problem"]["errors"]}
    assert {"args.room_id", "args.start", "args.end", "args.title"} <= fields


async def test_a_first_pull_returns_everything_the_caller_may_see(
    client: TestClient, admin: Person, make_person: MakePerson
) -> None:
    campus = await make_campus(client, admin)
    staff, student = await make_person(Role.STAFF), await make_person(Role.STUDENT)
    monday = next_weekday(0)
    staff_client = await register(client, staff)
    await push(
        client,
        staff,
        staff_client,
        [create(1, campus.room_101, at(monday, 9), at(monday, 10), notes="Key", private=True)],
    )

    changes, cursor, pages = await pull_all(client, student, limit=3)
    assert len(pages) > 2
    tables = {}
    for change in changes:
        tables.setdefault(change["table"], []).append(change["row"])
    assert len(tables["buildings"]) == 2 and len(tables["rooms"]) == 5
    assert [user["username"] for user in tables["users"]] == [student.user.username]
    booking = tables["bookings"][0]
    assert (booking["title"], booking["notes"], booking["owner"]) == (None, None, None)

    own, _, _ = await pull_all(client, staff, client_id=staff_client)
    mine = next(c["row"] for c in own if c["table"] == "bookings")
    assert (mine["title"], mine["notes"]) == ("Offline", "Key")
    again, same_cursor, _ = await pull_all(client, student, cursor=cursor)
    assert again == [] and same_cursor == cursor


async def test_later_changes_come_after_the_cursor_and_cancellations_arrive(
    client: TestClient, admin: Person, make_person: MakePerson
) -> None:
    campus = await make_campus(client, admin)
    staff = await make_person(Role.STAFF)
    client_id = await register(client, staff)
    _, cursor, _ = await pull_all(client, staff)
    monday = next_weekday(0)
    made = create(1, campus.room_101, at(monday, 9), at(monday, 10))
    await push(
        client,
        staff,
        client_id,
        [
            made,
            {
                "mid": 2,
                "op": "cancel_booking",
                "args": {"id": made["args"]["id"], "base_version": 1},
            },
        ],
    )
    changes, _, pages = await pull_all(client, staff, cursor=cursor, client_id=client_id)
    assert [(c["table"], c["row"]["status"]) for c in changes] == [("bookings", "cancelled")]
    assert pages[-1]["last_mutation_id"] == 2


async def test_a_cursor_behind_compaction_gets_a_reset(client: TestClient, admin: Person) -> None:
    campus: Campus = await make_campus(client, admin)
    _, cursor, _ = await pull_all(client, admin)
    deleted = await client.delete(f"/api/v1/rooms/{campus.room_201}", headers=admin.headers)
    assert deleted.status == 204
    changes, _, _ = await pull_all(client, admin, cursor=cursor)
    assert [(c["op"], c["table"], c["row"]["id"]) for c in changes] == [
        ("delete", "rooms", str(campus.room_201))
    ]

    removed = await compact(client.app[DATABASE], retention=timedelta(seconds=-1))
    assert removed == 1
    response = await client.get(f"/api/v1/sync/pull?cursor={cursor}", headers=admin.headers)
    page = await response.json()
    assert page["reset"] is True
    rooms = [c["row"]["id"] for c in page["changes"] if c["table"] == "rooms"]
    assert len(rooms) == 4 and campus.room_201 not in rooms


async def test_a_push_in_an_unknown_schema_version_is_refused(
    client: TestClient, admin: Person
) -> None:
    client_id = await register(client, admin)
    response = await client.post(
        "/api/v1/sync/push",
        json={
            "client_id": client_id,
            "schema_version": 999,
            "mutations": [],
        },
        headers=admin.headers,
    )
    assert response.status == 400
    assert "schema" in (await response.json())["detail"]
