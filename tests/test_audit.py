"""The audit trail: what each kind of change records, who may read it, and its retention."""

from __future__ import annotations

import uuid
from datetime import timedelta
from typing import Any

from aiohttp.test_utils import TestClient

from compax_server.app import job_context
from compax_server.audit import acting
from compax_server.jobs.retention import prune_audit
from compax_server.keys import DATABASE
from compax_server.models import AuditEntry, Booking, BuildingManager
from compax_server.services.common import utcnow
from compax_server.store import store_for, writing
from sync.permissions import Role
from sync.vocabulary import AuditAction
from tests.booking_helpers import at, book, bulk, make_campus, next_weekday
from tests.conftest import MakePerson, Person
from tests.support import problem_of, with_version

CLI = {"X-Compax-Client": "cli"}


async def trail(client: TestClient, reader: Person, **filters: Any) -> list[dict[str, Any]]:
    """Every entry ``reader`` may read that ``filters`` select, newest first."""
    found: list[dict[str, Any]] = []
    params = {key: str(value) for key, value in filters.items()}
    while True:
        response = await client.get("/api/v1/audit", params=params, headers=reader.headers)
        assert response.status == 200, await response.text()
        page = await response.json()
        found += page["items"]
        if page["next_cursor"] is None:
            return found
        params["cursor"] = page["next_cursor"]


async def test_a_booking_made_changed_and_cancelled_leaves_three_entries(
    client: TestClient, admin: Person, make_person: MakePerson
) -> None:
    campus = await make_campus(client, admin)
    staff = await make_person(Role.STAFF)
    monday = next_weekday(0)
    made = await client.post(
        "/api/v1/bookings",
        json={
            "room_id": campus.room_101,
            "start": at(monday, 9),
            "end": at(monday, 10),
            "title": "Seminar",
        },
        headers={**staff.headers, **CLI},
    )
    assert made.status == 201, await made.text()
    booking = await made.json()
    changed = await client.patch(
        f"/api/v1/bookings/{booking['id']}",
        json={"title": "Reading group"},
        headers=with_version(staff.headers, booking["version"]),
    )
    assert changed.status == 200, await changed.text()
    cancelled = await client.delete(
        f"/api/v1/bookings/{booking['id']}",
        headers=with_version(staff.headers, (await changed.json())["version"]),
    )
    assert cancelled.status in (200, 204), await cancelled.text()

    entries = await trail(client, admin, record_type="bookings", record_id=booking["id"])
    assert [e["action"] for e in entries] == ["cancel", "update", "create"]
    cancel, update, create = entries
    assert create["actor"] == {"id": staff.id, "username": staff.user.username}
    assert create["client"] == "cli"
    assert update["client"] == "api"
    assert create["after"]["title"] == "Seminar"
    assert create["after"]["room_id"] == campus.room_101
    assert create["before"] is None
    assert update["before"] == {"title": "Seminar", "version": 1}
    assert update["after"] == {"title": "Reading group", "version": 2}
    assert cancel["before"]["status"] == "confirmed"
    assert cancel["after"]["status"] == "cancelled"
    rooms = await trail(client, admin, record_type="rooms", record_id=campus.room_101)
    building = rooms[0]["building_id"]
    assert building is not None
    assert {e["building_id"] for e in entries} == {building}


async def test_a_refused_write_leaves_no_entry(client: TestClient, admin: Person) -> None:
    campus = await make_campus(client, admin)
    monday = next_weekday(0)
    first = await book(client, admin, campus.room_101, at(monday, 9), at(monday, 10))
    assert first.status == 201
    before = await trail(client, admin)
    clash = await book(client, admin, campus.room_101, at(monday, 9), at(monday, 11))
    assert clash.status == 409
    bad = await client.post("/api/v1/rooms", json={"code": ""}, headers=admin.headers)
    assert bad.status == 422
    assert await trail(client, admin) == before


async def test_role_change_deactivation_and_password_reset_keep_no_secret(
    client: TestClient, admin: Person, make_person: MakePerson
) -> None:
    staff = await make_person(Role.STAFF)
    user = f"/api/v1/users/{staff.id}"
    read = await client.get(user, headers=admin.headers)
    promoted = await client.patch(
        user,
        json={"role": "exams_officer"},
        headers=with_version(admin.headers, (await read.json())["version"]),
    )
    assert promoted.status == 200, await promoted.text()
    reset = await client.post(
        f"{user}/password", json={"new_password": "a new long passphrase"}, headers=admin.headers
    )
    assert reset.status in (200, 204), await reset.text()
    gone = await client.delete(user, headers=admin.headers)
    assert gone.status in (200, 204), await gone.text()

    entries = await trail(client, admin, record_type="users", record_id=staff.id)
    actions = [e["action"] for e in entries]
    assert actions == ["deactivate", "password_reset", "role_change", "create"]
    deactivate, password, role, _ = entries
    assert role["before"]["role"] == "staff"
    assert role["after"]["role"] == "exams_officer"
    assert role["actor"]["id"] == admin.id
    assert deactivate["before"]["active"] is True
    assert deactivate["after"]["active"] is False
    assert password["actor"]["id"] == admin.id
    text = await (await client.get("/api/v1/audit", headers=admin.headers)).text()
    assert "password_hash" not in text
    assert "$argon2" not in text
    assert "token_generation" not in text


async def test_an_override_is_audited_with_its_rules_and_reason(
    client: TestClient, admin: Person, make_person: MakePerson
) -> None:
    campus = await make_campus(client, admin)
    officer = await make_person(Role.EXAMS_OFFICER)
    sunday = next_weekday(6)
    made = await book(
        client,
        officer,
        campus.room_101,
        at(sunday, 9),
        at(sunday, 12),
        override=True,
        override_reason="Open day",
    )
    assert made.status == 201, await made.text()
    booking_id = (await made.json())["id"]
    entries = await trail(client, admin, record_type="bookings", record_id=booking_id)
    override = [e for e in entries if e["action"] == "override"]
    assert len(override) == 1
    assert override[0]["reason"] == "Open day"
    assert override[0]["after"]["rules"]
    assert override[0]["actor"]["id"] == officer.id
    assert override[0]["building_id"] is not None
    assert {e["action"] for e in entries} == {"create", "override"}


async def test_an_import_leaves_one_import_entry_with_counts_and_one_per_record(
    client: TestClient, admin: Person
) -> None:
    await bulk(client, admin, "buildings", [{"code": "PB", "name": "Petroleum"}])
    response = await client.post(
        "/api/v1/rooms:bulk",
        json={
            "rows": [
                {"building": "PB", "code": "101", "capacity": 40},
                {"building": "PB", "code": "102", "capacity": 60},
                {"building": "PB", "code": "", "capacity": 60},
            ]
        },
        headers=admin.headers,
    )
    assert response.status == 200, await response.text()
    imports = await trail(client, admin, record_type="rooms", action="import")
    assert len(imports) == 1
    assert imports[0]["after"] == {"created": 2, "rejected": 1, "rows": 3}
    created = await trail(client, admin, record_type="rooms", action="create")
    assert sorted(e["after"]["code"] for e in created) == ["101", "102"]
    dry = await client.post(
        "/api/v1/rooms:bulk?dry_run=true",
        json={"rows": [{"building": "PB", "code": "103", "capacity": 40}]},
        headers=admin.headers,
    )
    assert dry.status == 200
    assert len(await trail(client, admin, record_type="rooms", action="import")) == 1


async def test_bookings_in_bulk_are_audited_one_by_one(client: TestClient, admin: Person) -> None:
    await make_campus(client, admin)
    monday = next_weekday(0)
    rows = [
        {"room": "PB/101", "start": at(monday, h), "end": at(monday, h + 1), "title": "T"}
        for h in (8, 9, 10)
    ]
    response = await client.post(
        "/api/v1/bookings:bulk", json={"rows": rows}, headers=admin.headers
    )
    assert response.status == 200, await response.text()
    results = (await response.json())["results"]
    assert [r["status"] for r in results] == ["created"] * 3
    ids = {r["id"] for r in results}
    created = await trail(client, admin, record_type="bookings", action="create")
    assert {e["record_id"] for e in created} == ids
    assert len(await trail(client, admin, record_type="bookings", action="import")) == 1


async def test_only_admins_and_managers_read_and_managers_only_their_buildings(
    client: TestClient, admin: Person, make_person: MakePerson
) -> None:
    campus = await make_campus(client, admin)
    staff = await make_person(Role.STAFF)
    manager = await make_person(Role.STAFF)
    monday = next_weekday(0)
    assert (await book(client, admin, campus.room_101, at(monday, 9), at(monday, 10))).status == 201
    assert (await book(client, admin, campus.eng_1, at(monday, 9), at(monday, 10))).status == 201
    await problem_of(await client.get("/api/v1/audit", headers=staff.headers), 403)
    await problem_of(await client.get("/api/v1/audit", headers=manager.headers), 403)
    rooms = await trail(client, admin, record_type="rooms", record_id=campus.room_101)
    pb = rooms[0]["building_id"]
    async with client.app[DATABASE].write() as session:  # type: ignore[index]
        session.add(BuildingManager(user_id=manager.id, building_id=pb, created_at=utcnow()))
    seen = await trail(client, manager)
    assert seen
    assert {e["building_id"] for e in seen} == {pb}
    everything = await trail(client, admin)
    assert len(everything) > len(seen)
    assert await trail(client, manager, building=pb) == seen


async def test_filters_and_paging(client: TestClient, admin: Person) -> None:
    campus = await make_campus(client, admin)
    monday = next_weekday(0)
    for hour in range(8, 13):
        made = await book(client, admin, campus.room_102, at(monday, hour), at(monday, hour + 1))
        assert made.status == 201
    everything = await trail(client, admin)
    paged = await trail(client, admin, limit=2)
    assert paged == everything
    ids = [e["id"] for e in everything]
    assert ids == sorted(ids, reverse=True)
    mine = await trail(client, admin, actor=admin.id, record_type="bookings")
    assert len(mine) == 5
    assert await trail(client, admin, actor=admin.id + 100) == []
    later = await trail(client, admin, since=(utcnow() + timedelta(hours=1)).isoformat())
    assert later == []
    assert len(
        await trail(client, admin, until=(utcnow() + timedelta(hours=1)).isoformat())
    ) == len(everything)
    lonely = await client.get("/api/v1/audit?record_id=12", headers=admin.headers)
    assert (await problem_of(lonely, 422))["errors"][0]["field"] == "record_id"
    empty = await client.get(
        "/api/v1/audit?since=2026-01-02T00:00:00Z&until=2026-01-01T00:00:00Z",
        headers=admin.headers,
    )
    assert (await problem_of(empty, 422))["errors"][0]["field"] == "until"


async def test_retention_prunes_only_entries_older_than_the_setting(
    client: TestClient, admin: Person
) -> None:
    await make_campus(client, admin)
    app = client.app
    assert app is not None
    ctx = job_context(app)
    old = utcnow() - timedelta(days=ctx.settings.audit_retention_days + 1)
    async with app[DATABASE].write() as session:
        session.add_all(
            AuditEntry(at=old, client="api", action="update", record_type="rooms", record_id=str(n))
            for n in range(7)
        )
    kept = await trail(client, admin)
    assert len(kept) > 7
    assert await prune_audit(ctx, batch=3) == 7
    assert len(await trail(client, admin)) == len(kept) - 7
    assert all(e["at"] > old.isoformat() for e in await trail(client, admin))


async def test_a_decision_through_the_store_is_audited_as_named_with_its_reason(
    client: TestClient, admin: Person
) -> None:
    campus = await make_campus(client, admin)
    monday = next_weekday(0)
    made = await book(client, admin, campus.room_101, at(monday, 9), at(monday, 10))
    booking_id = (await made.json())["id"]
    app = client.app
    assert app is not None

    async def decide(session: Any) -> None:
        booking = await session.get(Booking, uuid.UUID(booking_id))
        store = store_for(session)
        await store.take_rooms(session, {booking.room_id})
        await store.change_bookings(
            session,
            [(booking, {"decision_reason": "Fine by me"})],
            action=AuditAction.APPROVE,
            reason="Fine by me",
        )

    with acting(admin.id, "tui"):
        await writing(app[DATABASE], decide)
    [decided, _] = await trail(client, admin, record_type="bookings", record_id=booking_id)
    assert (decided["action"], decided["reason"], decided["client"]) == (
        "approve",
        "Fine by me",
        "tui",
    )
    assert decided["before"] == {"decision_reason": "", "version": 1}
    assert decided["after"] == {"decision_reason": "Fine by me", "version": 2}
