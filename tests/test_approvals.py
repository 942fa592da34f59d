"""Approvals over HTTP, on both databases: who waits, the queue, approving and rejecting a
request or a series, scope, expiry, the notices, every creation path, and the races."""

from __future__ import annotations

import asyncio
import dataclasses
from datetime import timedelta
from typing import Any

from aiohttp.test_utils import TestClient
from sqlalchemy import select
from sqlmodel import col

from compax_server.jobs.approvals import expire_approval_requests
from compax_server.jobs.queue import JobContext
from compax_server.jobs.runner import run_due_jobs
from compax_server.keys import BOOKING_POLICY, DATABASE, SETTINGS
from compax_server.models import BuildingManager, Notification
from compax_server.services.common import utcnow
from sync.permissions import Role
from tests.booking_helpers import Campus, at, book, make_campus, next_weekday
from tests.conftest import MakePerson, Person
from tests.support import error_fields, problem_of, with_version
from tests.test_sync_server import create, push, register

MONDAY = next_weekday(0)
SLOT = (at(MONDAY, 10), at(MONDAY, 12))


async def require_approval(
    client: TestClient, admin: Person, kind: str, record_id: int, roles: list[str] | None
) -> None:
    """Set the ``approval_roles`` of a building or room."""
    found = await client.get(f"/api/v1/{kind}/{record_id}", headers=admin.headers)
    assert found.status == 200, await found.text()
    version = (await found.json())["version"]
    response = await client.patch(
        f"/api/v1/{kind}/{record_id}",
        json={"approval_roles": roles},
        headers=with_version(admin.headers, version),
    )
    assert response.status == 200, await response.text()
    assert (await response.json())["approval_roles"] == roles


async def campus_needing_approval(client: TestClient, admin: Person) -> tuple[Campus, int]:
    """The test campus, PB's rooms needing approval for staff and class reps; PB's id."""
    campus = await make_campus(client, admin)
    room = await (
        await client.get(f"/api/v1/rooms/{campus.room_101}", headers=admin.headers)
    ).json()
    await require_approval(client, admin, "buildings", room["building_id"], ["staff", "class_rep"])
    return campus, room["building_id"]


async def manager_of(client: TestClient, make_person: MakePerson, building_id: int) -> Person:
    manager = await make_person(Role.STAFF)
    app = client.app
    assert app is not None
    async with app[DATABASE].write() as session:
        session.add(
            BuildingManager(user_id=manager.id, building_id=building_id, created_at=utcnow())
        )
    return manager


async def booked(client: TestClient, person: Person, room_id: int, **fields: Any) -> Any:
    response = await book(client, person, room_id, *SLOT, **fields)
    assert response.status == 201, await response.text()
    return await response.json()


async def notices(client: TestClient, person: Person) -> list[tuple[str, dict[str, Any]]]:
    app = client.app
    assert app is not None
    async with app[DATABASE].read() as session:
        found = await session.execute(
            select(col(Notification.kind), col(Notification.data))
            .where(col(Notification.user_id) == person.id)
            .order_by(col(Notification.id))
        )
        return [(kind, data) for kind, data in found]


def jobs(client: TestClient, *, minutes_later: int = 0) -> JobContext:
    app = client.app
    assert app is not None
    policy = dataclasses.replace(
        app[BOOKING_POLICY], clock=lambda: utcnow() + timedelta(minutes=minutes_later)
    )
    return JobContext(app[DATABASE], app[SETTINGS], policy)


async def decide(
    client: TestClient, person: Person, booking: Any, verdict: str, **body: Any
) -> Any:
    return await client.post(
        f"/api/v1/bookings/{booking['id']}/{verdict}",
        json=body,
        headers=with_version(person.headers, booking["version"]),
    )


async def test_listed_roles_wait_and_approvers_do_not(
    client: TestClient, admin: Person, make_person: MakePerson
) -> None:
    campus, pb = await campus_needing_approval(client, admin)
    staff, officer = await make_person(Role.STAFF), await make_person(Role.EXAMS_OFFICER)
    assert (await booked(client, staff, campus.room_101))["status"] == "pending"
    assert (await booked(client, officer, campus.room_102))["status"] == "confirmed"
    assert (await booked(client, admin, campus.room_201))["status"] == "confirmed"
    # ENG asks nothing; PB's manager approves there, so never waits there.
    assert (await booked(client, staff, campus.eng_1))["status"] == "confirmed"
    manager = await manager_of(client, make_person, pb)
    later = (at(MONDAY, 13), at(MONDAY, 14))
    response = await book(client, manager, campus.room_101, *later)
    assert (await response.json())["status"] == "confirmed"
    # A room's own list wins over its building's: an empty list asks nobody.
    await require_approval(client, admin, "rooms", campus.room_102, [])
    response = await book(client, staff, campus.room_102, *later)
    assert (await response.json())["status"] == "confirmed"


async def test_approval_roles_are_validated(client: TestClient, admin: Person) -> None:
    campus = await make_campus(client, admin)
    found = await (
        await client.get(f"/api/v1/rooms/{campus.room_101}", headers=admin.headers)
    ).json()
    for roles in (["dean"], ["staff", "staff"]):
        response = await client.patch(
            f"/api/v1/rooms/{campus.room_101}",
            json={"approval_roles": roles},
            headers=with_version(admin.headers, found["version"]),
        )
        problem = await problem_of(response, 422)
        assert error_fields(problem)[0].startswith("approval_roles")


async def test_a_pending_request_holds_its_slot_and_approvers_are_told(
    client: TestClient, admin: Person, make_person: MakePerson
) -> None:
    campus, _ = await campus_needing_approval(client, admin)
    staff, other = await make_person(Role.STAFF), await make_person(Role.STAFF)
    request = await booked(client, staff, campus.room_101)
    clash = await book(client, other, campus.room_101, *SLOT)
    assert (await problem_of(clash, 409))["type"] == "room-overlap"
    told = await notices(client, admin)
    assert [kind for kind, _ in told] == ["approval_requested"]
    assert told[0][1]["booking_id"] == request["id"]
    assert await notices(client, staff) == []


async def test_approving_confirms_and_tells_the_requester(
    client: TestClient, admin: Person, make_person: MakePerson
) -> None:
    campus, _ = await campus_needing_approval(client, admin)
    staff = await make_person(Role.STAFF)
    request = await booked(client, staff, campus.room_101)

    response = await decide(client, admin, request, "approve", reason="fine")
    assert response.status == 200, await response.text()
    approved = await response.json()
    assert approved["status"] == "confirmed"
    assert approved["decided_by"] == admin.id
    assert approved["decided_at"] is not None
    assert response.headers["ETag"] == f'"{approved["version"]}"'
    assert [kind for kind, _ in await notices(client, staff)] == ["approved"]

    again = await decide(client, admin, approved, "approve")
    problem = await problem_of(again, 409)
    assert problem["type"] == "not-pending"
    assert problem["current"] == "confirmed"
    stale = await decide(client, admin, request, "reject", reason="no")
    await problem_of(stale, 412)


async def test_rejecting_needs_a_reason_and_frees_the_slot(
    client: TestClient, admin: Person, make_person: MakePerson
) -> None:
    campus, _ = await campus_needing_approval(client, admin)
    staff, officer = await make_person(Role.STAFF), await make_person(Role.EXAMS_OFFICER)
    request = await booked(client, staff, campus.room_101)
    for body in ({}, {"reason": "   "}):
        problem = await problem_of(await decide(client, admin, request, "reject", **body), 422)
        assert error_fields(problem) == ["reason"]
    missing = await client.post(
        f"/api/v1/bookings/{request['id']}/reject", json={"reason": "x"}, headers=admin.headers
    )
    await problem_of(missing, 428)

    response = await decide(client, admin, request, "reject", reason="Exams that week")
    assert response.status == 200, await response.text()
    rejected = await response.json()
    assert rejected["status"] == "rejected"
    assert rejected["decision_reason"] == "Exams that week"
    [(kind, data)] = await notices(client, staff)
    assert (kind, data["reason"]) == ("rejected", "Exams that week")
    assert (await booked(client, officer, campus.room_101))["status"] == "confirmed"


async def test_managers_decide_only_in_their_buildings(
    client: TestClient, admin: Person, make_person: MakePerson
) -> None:
    campus, pb = await campus_needing_approval(client, admin)
    eng = (await (await client.get(f"/api/v1/rooms/{campus.eng_1}", headers=admin.headers)).json())[
        "building_id"
    ]
    await require_approval(client, admin, "buildings", eng, ["staff"])
    pb_manager = await manager_of(client, make_person, pb)
    eng_manager = await manager_of(client, make_person, eng)
    staff, student = await make_person(Role.STAFF), await make_person(Role.STUDENT)
    in_pb = await booked(client, staff, campus.room_101)
    in_eng = await booked(client, staff, campus.eng_1)

    # Approvers of a building with managers are its managers; admins hear of none.
    assert [k for k, _ in await notices(client, pb_manager)] == ["approval_requested"]
    assert [k for k, _ in await notices(client, eng_manager)] == ["approval_requested"]
    assert await notices(client, admin) == []

    queue = await client.get("/api/v1/approvals", headers=pb_manager.headers)
    assert [b["id"] for b in (await queue.json())["items"]] == [in_pb["id"]]
    everything = await client.get("/api/v1/approvals", headers=admin.headers)
    assert {b["id"] for b in (await everything.json())["items"]} == {in_pb["id"], in_eng["id"]}
    only_eng = await client.get("/api/v1/approvals?building=eng", headers=admin.headers)
    assert [b["id"] for b in (await only_eng.json())["items"]] == [in_eng["id"]]
    for nobody in (student, staff):
        await problem_of(await client.get("/api/v1/approvals", headers=nobody.headers), 403)

    await problem_of(await decide(client, pb_manager, in_eng, "approve"), 403)
    await problem_of(await decide(client, staff, in_pb, "approve"), 403)
    response = await decide(client, pb_manager, in_pb, "approve")
    assert response.status == 200, await response.text()
    unknown = await client.post(
        "/api/v1/bookings/00000000-0000-0000-0000-000000000000/approve",
        json={},
        headers=with_version(admin.headers, 1),
    )
    await problem_of(unknown, 404)


async def test_the_queue_is_paged_soonest_first(
    client: TestClient, admin: Person, make_person: MakePerson
) -> None:
    campus, _ = await campus_needing_approval(client, admin)
    staff = await make_person(Role.STAFF)
    made = []
    for hour in (14, 9, 11):
        response = await book(
            client, staff, campus.room_101, at(MONDAY, hour), at(MONDAY, hour + 1)
        )
        made.append((hour, (await response.json())["id"]))
    seen: list[str] = []
    cursor = ""
    while True:
        page = await (
            await client.get(f"/api/v1/approvals?limit=2{cursor}", headers=admin.headers)
        ).json()
        seen += [b["id"] for b in page["items"]]
        if page["next_cursor"] is None:
            break
        cursor = f"&cursor={page['next_cursor']}"
    assert seen == [booking_id for _, booking_id in sorted(made)]
    bad = await client.get(
        "/api/v1/approvals?from=2030-01-02T00:00:00Z&to=2030-01-01T00:00:00Z", headers=admin.headers
    )
    assert error_fields(await problem_of(bad, 422)) == ["to"]


async def test_requests_nobody_decides_expire_before_their_start(
    client: TestClient, admin: Person, make_person: MakePerson
) -> None:
    campus, _ = await campus_needing_approval(client, admin)
    staff, officer = await make_person(Role.STAFF), await make_person(Role.EXAMS_OFFICER)
    request = await booked(client, staff, campus.room_101)
    days_away = int((MONDAY - utcnow().date()).days)
    # A day before the start, nothing is due yet.
    await expire_approval_requests(jobs(client, minutes_later=(days_away - 1) * 24 * 60), {})
    still = await client.get(f"/api/v1/bookings/{request['id']}", headers=staff.headers)
    assert (await still.json())["status"] == "pending"
    # Within the lead of its start, it expires; run by two workers at once, then again, it is
    # expired and told once.
    minutes = days_away * 24 * 60 + 10 * 60 - 30
    await asyncio.gather(
        *(expire_approval_requests(jobs(client, minutes_later=minutes), {}) for _ in range(2))
    )
    await expire_approval_requests(jobs(client, minutes_later=minutes), {})
    expired = await client.get(f"/api/v1/bookings/{request['id']}", headers=staff.headers)
    assert (await expired.json())["status"] == "expired"
    assert [k for k, _ in await notices(client, staff)] == ["approval_expired"]
    assert (await booked(client, officer, campus.room_101))["status"] == "confirmed"


async def test_a_series_waits_and_is_decided_whole(
    client: TestClient, admin: Person, make_person: MakePerson
) -> None:
    campus, _ = await campus_needing_approval(client, admin)
    rep = await make_person(Role.CLASS_REP)
    response = await client.post(
        "/api/v1/series",
        json={
            "room_id": campus.room_101,
            "title": "MATH 101",
            "weekdays": ["mon", "wed"],
            "first_day": str(MONDAY),
            "last_day": str(MONDAY + timedelta(days=13)),
            "start_time": "10:00",
            "end_time": "11:00",
        },
        headers=rep.headers,
    )
    assert response.status == 201, await response.text()
    result = await response.json()
    assert {b["status"] for b in result["created"]} == {"pending"}
    assert [k for k, _ in await notices(client, admin)] == ["approval_requested"]
    series_id = result["series"]["id"]

    # One occurrence decided on its own, then the rest together.
    first = result["created"][0]
    assert (await decide(client, admin, first, "reject", reason="Holiday")).status == 200
    whole = await client.post(
        f"/api/v1/series/{series_id}/approve", json={"reason": "ok"}, headers=admin.headers
    )
    assert whole.status == 200, await whole.text()
    decided = (await whole.json())["decided"]
    assert len(decided) == len(result["created"]) - 1
    assert {b["status"] for b in decided} == {"confirmed"}
    assert [k for k, _ in await notices(client, rep)] == ["rejected", "approved"]
    again = await client.post(
        f"/api/v1/series/{series_id}/reject", json={"reason": "no"}, headers=admin.headers
    )
    assert (await problem_of(again, 409))["type"] == "not-pending"


async def test_push_and_moves_ask_the_rule(
    client: TestClient, admin: Person, make_person: MakePerson
) -> None:
    campus, _ = await campus_needing_approval(client, admin)
    staff = await make_person(Role.STAFF)
    client_id = await register(client, staff)
    mutations = [create(1, campus.room_101, *SLOT), create(2, campus.eng_1, *SLOT)]
    result = await push(client, staff, client_id, mutations)
    assert [r["status"] for r in result["results"]] == ["applied", "applied"]
    statuses = {}
    for mutation in mutations:
        found = await client.get(
            f"/api/v1/bookings/{mutation['args']['id']}", headers=staff.headers
        )
        statuses[mutation["args"]["room_id"]] = (await found.json())["status"]
    assert statuses == {campus.room_101: "pending", campus.eng_1: "confirmed"}

    # Moving the confirmed one into PB waits again; changing a title does not.
    eng_id = mutations[1]["args"]["id"]
    current = await (await client.get(f"/api/v1/bookings/{eng_id}", headers=staff.headers)).json()
    retitled = await client.patch(
        f"/api/v1/bookings/{eng_id}",
        json={"title": "Renamed"},
        headers=with_version(staff.headers, current["version"]),
    )
    current = await retitled.json()
    assert current["status"] == "confirmed"
    moved = await client.patch(
        f"/api/v1/bookings/{eng_id}",
        json={"room_id": campus.room_102},
        headers=with_version(staff.headers, current["version"]),
    )
    assert moved.status == 200, await moved.text()
    assert (await moved.json())["status"] == "pending"
    # A pending request may be cancelled by its owner.
    cancelled = await client.delete(
        f"/api/v1/bookings/{eng_id}",
        headers=with_version(staff.headers, (await moved.json())["version"]),
    )
    assert cancelled.status == 200, await cancelled.text()


async def test_competing_requests_cannot_both_wait_nor_both_be_approved(
    client: TestClient, admin: Person, make_person: MakePerson
) -> None:
    """Two requests for one slot at once: one waits, the other is refused, so two approvers
    approving at once can never double-book; and a request racing a direct booking: exactly
    one wins."""
    campus, pb = await campus_needing_approval(client, admin)
    manager = await manager_of(client, make_person, pb)
    first, second = await make_person(Role.STAFF), await make_person(Role.STAFF)
    answers = await asyncio.gather(
        book(client, first, campus.room_101, *SLOT), book(client, second, campus.room_101, *SLOT)
    )
    assert sorted(a.status for a in answers) == [201, 409]
    [winner] = [await a.json() for a in answers if a.status == 201]
    assert winner["status"] == "pending"
    decisions = await asyncio.gather(
        decide(client, admin, winner, "approve"), decide(client, manager, winner, "approve")
    )
    statuses = sorted(d.status for d in decisions)
    assert statuses == [200, 412], statuses

    officer = await make_person(Role.EXAMS_OFFICER)
    later = (at(MONDAY, 14), at(MONDAY, 15))
    racing = await asyncio.gather(
        book(client, first, campus.room_101, *later), book(client, officer, campus.room_101, *later)
    )
    assert sorted(a.status for a in racing) == [201, 409]
    window = {"room_id": campus.room_101, "from": later[0], "to": later[1]}
    holding = await client.get(
        "/api/v1/bookings", params={**window, "status": "pending"}, headers=admin.headers
    )
    confirmed = await client.get("/api/v1/bookings", params=window, headers=admin.headers)
    assert len((await holding.json())["items"]) + len((await confirmed.json())["items"]) == 1


async def test_bulk_imports_and_waitlist_auto_booking_ask_the_rule(
    client: TestClient, admin: Person, make_person: MakePerson
) -> None:
    campus, _ = await campus_needing_approval(client, admin)
    staff, owner = await make_person(Role.STAFF), await make_person(Role.EXAMS_OFFICER)
    rows = [
        {"room": "PB/101", "start": SLOT[0], "end": SLOT[1], "title": "Imported"},
        {"room": "ENG/1", "start": SLOT[0], "end": SLOT[1], "title": "Imported"},
    ]
    response = await client.post(
        "/api/v1/bookings:bulk", json={"rows": rows}, headers=staff.headers
    )
    assert response.status == 200, await response.text()
    ids = [result["id"] for result in (await response.json())["results"]]
    statuses = []
    for booking_id in ids:
        found = await client.get(f"/api/v1/bookings/{booking_id}", headers=staff.headers)
        statuses.append((await found.json())["status"])
    assert statuses == ["pending", "confirmed"]
    assert [k for k, _ in await notices(client, admin)] == ["approval_requested"]

    # A slot freed in PB and booked for a waiting staff member waits for approval too.
    later = (at(MONDAY, 14), at(MONDAY, 15))
    taken = await book(client, owner, campus.room_102, *later)
    assert (await taken.json())["status"] == "confirmed"
    waiting = await client.post(
        "/api/v1/waitlist",
        json={
            "room_id": campus.room_102,
            "start": later[0],
            "end": later[1],
            "title": "Waiting",
            "auto_book": True,
        },
        headers=staff.headers,
    )
    assert waiting.status == 201, await waiting.text()
    held = await taken.json()
    cancelled = await client.delete(
        f"/api/v1/bookings/{held['id']}", headers=with_version(owner.headers, held["version"])
    )
    assert cancelled.status == 200
    await run_due_jobs(jobs(client))
    mine = await client.get(
        "/api/v1/bookings",
        params={"owner": "me", "status": "pending", "room_id": campus.room_102},
        headers=staff.headers,
    )
    assert [b["title"] for b in (await mine.json())["items"]] == ["Waiting"]
