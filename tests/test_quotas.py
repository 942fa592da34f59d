"""Quotas on the server, on both databases: administration, each limit on every booking path,
the per-user exception, overrides, and what the caller may still book."""

from __future__ import annotations

import asyncio
import uuid
from datetime import timedelta
from typing import Any

from aiohttp.test_utils import TestClient
from sqlalchemy import select

from compax_server.jobs.runner import run_due_jobs
from compax_server.keys import DATABASE
from compax_server.models import AuditEntry, RuleOverride
from sync.permissions import Role
from sync.protocol import SCHEMA_VERSION
from tests import test_waitlist as waitlist
from tests.booking_helpers import Campus, at, book, make_campus, next_weekday
from tests.conftest import MakePerson, Person
from tests.support import problem_of, with_version


async def set_quota(
    client: TestClient, admin: Person, path: str, status: int = 200, **limits: Any
) -> Any:
    response = await client.put(f"/api/v1/{path}", json=limits, headers=admin.headers)
    assert response.status == status, await response.text()
    return await response.json()


async def refused(response: Any, type_: str) -> dict[str, Any]:
    problem = await problem_of(response, 422)
    assert problem["type"] == type_, problem
    return problem


async def test_administration_lists_sets_replaces_and_clears(
    client: TestClient, admin: Person, make_person: MakePerson
) -> None:
    staff = await make_person(Role.STAFF)
    made = await set_quota(client, admin, "quotas/roles/staff", max_hours_day=4)
    assert (made["role"], made["max_hours_day"], made["version"]) == ("staff", 4, 1)
    replaced = await set_quota(client, admin, "quotas/roles/staff", max_bookings_week=2)
    assert replaced["max_hours_day"] is None, "a PUT replaces every limit"
    assert (replaced["max_bookings_week"], replaced["version"]) == (2, 2)
    own = await set_quota(client, admin, f"users/{staff.id}/quota", max_future_bookings=3)
    assert (own["user_id"], own["username"]) == (staff.id, staff.user.username)

    first = await client.get("/api/v1/quotas?limit=1", headers=admin.headers)
    page = await first.json()
    assert [q["role"] for q in page["items"]] == ["staff"]
    second = await client.get(
        f"/api/v1/quotas?limit=1&cursor={page['next_cursor']}", headers=admin.headers
    )
    assert [q["user_id"] for q in (await second.json())["items"]] == [staff.id]

    cleared = await client.delete(f"/api/v1/users/{staff.id}/quota", headers=admin.headers)
    assert cleared.status == 204
    again = await client.delete(f"/api/v1/users/{staff.id}/quota", headers=admin.headers)
    await problem_of(again, 404)
    assert (await client.delete("/api/v1/quotas/roles/staff", headers=admin.headers)).status == 204
    listed = await client.get("/api/v1/quotas", headers=admin.headers)
    assert (await listed.json())["items"] == []
    async with client.app[DATABASE].read() as session:  # type: ignore[index]
        actions = (
            await session.execute(
                select(AuditEntry.action).where(AuditEntry.record_type == "quota")
            )
        ).scalars()
        assert sorted(actions) == ["create", "create", "delete", "delete", "update"]


async def test_bad_quotas_are_refused_naming_the_field(client: TestClient, admin: Person) -> None:
    unknown = await client.put(
        "/api/v1/quotas/roles/wizard", json={"max_hours_day": 1}, headers=admin.headers
    )
    assert [e["field"] for e in (await problem_of(unknown, 422))["errors"]] == ["role"]
    negative = await client.put(
        "/api/v1/quotas/roles/staff", json={"max_hours_week": -1}, headers=admin.headers
    )
    assert [e["field"] for e in (await problem_of(negative, 422))["errors"]] == ["max_hours_week"]
    extra = await client.put(
        "/api/v1/quotas/roles/staff", json={"max_hours_year": 1}, headers=admin.headers
    )
    assert [e["field"] for e in (await problem_of(extra, 422))["errors"]] == ["max_hours_year"]
    nobody = await client.put("/api/v1/users/999/quota", json={}, headers=admin.headers)
    await problem_of(nobody, 404)
    listed = await client.get("/api/v1/quotas", headers=admin.headers)
    assert (await listed.json())["items"] == []


async def _setup(
    client: TestClient, admin: Person, make_person: MakePerson
) -> tuple[Campus, Person]:
    return await make_campus(client, admin), await make_person(Role.STAFF)


async def test_each_limit_refuses_a_single_booking(
    client: TestClient, admin: Person, make_person: MakePerson
) -> None:
    campus, staff = await _setup(client, admin, make_person)
    monday = next_weekday(0)
    tuesday = monday + timedelta(days=1)
    await set_quota(client, admin, "quotas/roles/staff", max_hours_day=2, max_bookings_week=3)
    assert (await book(client, staff, campus.room_101, at(monday, 9), at(monday, 10))).status == 201
    over = await book(client, staff, campus.room_102, at(monday, 11), at(monday, 12, 30))
    problem = await refused(over, "quota-hours-day")
    assert problem["detail"] == (
        f"At most 2 h a day for staff; you have 1 h on {monday:%a} {monday.day} {monday:%b} "
        "and this adds 1.5 h"
    )
    assert (
        await book(client, staff, campus.room_102, at(monday, 11), at(monday, 12))
    ).status == 201
    assert (
        await book(client, staff, campus.room_101, at(tuesday, 9), at(tuesday, 10))
    ).status == 201
    fourth = await book(client, staff, campus.room_101, at(tuesday, 11), at(tuesday, 12))
    await refused(fourth, "quota-bookings-week")
    other = await make_person(Role.CLASS_REP)
    free = await book(client, other, campus.room_101, at(tuesday, 11), at(tuesday, 12))
    assert free.status == 201, "another role's users have no quota"


async def test_future_and_term_limits(
    client: TestClient, admin: Person, make_person: MakePerson
) -> None:
    campus, staff = await _setup(client, admin, make_person)
    monday = next_weekday(0)
    term = await client.post(
        "/api/v1/terms",
        json={
            "name": "Quota term",
            "first_day": str(monday - timedelta(days=7)),
            "last_day": str(monday + timedelta(days=6)),
        },
        headers=admin.headers,
    )
    assert term.status == 201, await term.text()
    await set_quota(client, admin, "quotas/roles/staff", max_bookings_term=1)
    assert (await book(client, staff, campus.room_101, at(monday, 9), at(monday, 10))).status == 201
    await refused(
        await book(client, staff, campus.room_101, at(monday, 11), at(monday, 12)),
        "quota-bookings-term",
    )
    after = monday + timedelta(days=7)
    outside = await book(client, staff, campus.room_101, at(after, 11), at(after, 12))
    assert outside.status == 201, "no term holds that day, so the term limit does not apply"
    await set_quota(client, admin, "quotas/roles/staff", max_future_bookings=2)
    third = await book(client, staff, campus.room_102, at(after, 9), at(after, 10))
    problem = await refused(third, "quota-future")
    assert problem["detail"] == "At most 2 future bookings for staff; you have 2 and this adds 1"


async def test_a_user_exception_replaces_the_role_quota_whole(
    client: TestClient, admin: Person, make_person: MakePerson
) -> None:
    campus, staff = await _setup(client, admin, make_person)
    monday = next_weekday(0)
    await set_quota(client, admin, "quotas/roles/staff", max_bookings_day=1, max_hours_day=1)
    await set_quota(client, admin, f"users/{staff.id}/quota", max_bookings_day=3)
    for hour in (9, 11):
        made = await book(client, staff, campus.room_101, at(monday, hour), at(monday, hour + 2))
        assert made.status == 201, await made.text()
    third = await book(client, staff, campus.room_101, at(monday, 14), at(monday, 15))
    assert third.status == 201
    fourth = await book(client, staff, campus.room_101, at(monday, 16), at(monday, 17))
    assert "for you" in (await refused(fourth, "quota-bookings-day"))["detail"]
    mine = await (await client.get("/api/v1/me/quota", headers=staff.headers)).json()
    assert (mine["source"], mine["limits"]["max_bookings_day"]) == ("user", 3)


async def test_an_officer_overrides_a_quota_with_a_reason(
    client: TestClient, admin: Person, make_person: MakePerson
) -> None:
    campus, staff = await _setup(client, admin, make_person)
    officer = await make_person(Role.EXAMS_OFFICER)
    monday = next_weekday(0)
    await set_quota(client, admin, "quotas/roles/staff", max_bookings_day=0)
    mine = await book(client, staff, campus.room_101, at(monday, 9), at(monday, 10))
    await refused(mine, "quota-bookings-day")
    not_allowed = await book(
        client,
        staff,
        campus.room_101,
        at(monday, 9),
        at(monday, 10),
        override=True,
        override_reason="Mine",
    )
    await problem_of(not_allowed, 403)
    for_staff = {"owner": staff.user.username}
    await refused(
        await book(client, officer, campus.room_101, at(monday, 9), at(monday, 10), **for_staff),
        "quota-bookings-day",
    )
    overridden = await book(
        client,
        officer,
        campus.room_101,
        at(monday, 9),
        at(monday, 10),
        override=True,
        override_reason="Viva",
        **for_staff,
    )
    assert overridden.status == 201, await overridden.text()
    async with client.app[DATABASE].read() as session:  # type: ignore[index]
        [logged] = (await session.execute(select(RuleOverride))).scalars()
    assert (logged.rules, logged.reason) == (["quota-bookings-day"], "Viva")


async def test_the_idempotent_path_and_the_bulk_import(
    client: TestClient, admin: Person, make_person: MakePerson
) -> None:
    campus, staff = await _setup(client, admin, make_person)
    monday = next_weekday(0)
    await set_quota(client, admin, "quotas/roles/staff", max_bookings_day=2)
    keyed = {**staff.headers, "Idempotency-Key": str(uuid.uuid4())}
    first = await client.post(
        "/api/v1/bookings",
        json={
            "room_id": campus.room_101,
            "start": at(monday, 9),
            "end": at(monday, 10),
            "title": "A",
        },
        headers=keyed,
    )
    assert first.status == 201, await first.text()
    rows = [
        {"room": "PB/101", "start": at(monday, h), "end": at(monday, h + 1), "title": f"R{h}"}
        for h in (11, 13)
    ]
    response = await client.post(
        "/api/v1/bookings:bulk", json={"rows": rows}, headers=staff.headers
    )
    assert response.status == 200, await response.text()
    results = (await response.json())["results"]
    assert [r["status"] for r in results] == ["created", "rejected"]
    [error] = results[1]["errors"]
    assert error["message"].startswith("At most 2 bookings a day for staff; you have 2 on ")
    again = await client.post(
        "/api/v1/bookings",
        json={
            "room_id": campus.room_102,
            "start": at(monday, 15),
            "end": at(monday, 16),
            "title": "B",
        },
        headers={**staff.headers, "Idempotency-Key": str(uuid.uuid4())},
    )
    await refused(again, "quota-bookings-day")


async def test_a_series_counts_every_date_and_is_refused_whole(
    client: TestClient, admin: Person, make_person: MakePerson
) -> None:
    campus, staff = await _setup(client, admin, make_person)
    monday = next_weekday(0)
    await set_quota(client, admin, "quotas/roles/staff", max_bookings_week=1)
    series = {
        "room_id": campus.room_101,
        "title": "Seminar",
        "weekdays": ["mon", "wed"],
        "first_day": str(monday),
        "last_day": str(monday + timedelta(days=13)),
        "start_time": "10:00",
        "end_time": "11:00",
    }
    response = await client.post("/api/v1/series", json=series, headers=staff.headers)
    problem = await refused(response, "quota-bookings-week")
    assert f"week of {monday:%a} {monday.day} {monday:%b}" in problem["detail"]
    listed = await client.get("/api/v1/bookings?owner=me", headers=staff.headers)
    assert (await listed.json())["items"] == [], "nothing was booked"
    weekly = await client.post(
        "/api/v1/series", json={**series, "weekdays": ["mon"]}, headers=staff.headers
    )
    assert weekly.status == 201, await weekly.text()


async def test_a_move_counts_the_booking_once_at_its_new_times(
    client: TestClient, admin: Person, make_person: MakePerson
) -> None:
    campus, staff = await _setup(client, admin, make_person)
    monday = next_weekday(0)
    tuesday = monday + timedelta(days=1)
    await set_quota(client, admin, "quotas/roles/staff", max_hours_day=2)
    made = await book(client, staff, campus.room_101, at(monday, 9), at(monday, 11))
    booking = await made.json()
    path = f"/api/v1/bookings/{booking['id']}"
    later = await client.patch(
        path,
        json={"start": at(monday, 13), "end": at(monday, 15)},
        headers=with_version(staff.headers, 1),
    )
    assert later.status == 200, "moved, it is not counted twice"
    assert (
        await book(client, staff, campus.room_102, at(tuesday, 9), at(tuesday, 11))
    ).status == 201
    onto_tuesday = await client.patch(
        path,
        json={"start": at(tuesday, 13), "end": at(tuesday, 14)},
        headers=with_version(staff.headers, 2),
    )
    await refused(onto_tuesday, "quota-hours-day")


async def test_push_create_and_update_are_judged(
    client: TestClient, admin: Person, make_person: MakePerson
) -> None:
    campus, staff = await _setup(client, admin, make_person)
    monday = next_weekday(0)
    await set_quota(client, admin, "quotas/roles/staff", max_hours_day=2)
    client_id = str(uuid.uuid4())
    registered = await client.post(
        "/api/v1/sync/clients", json={"client_id": client_id}, headers=staff.headers
    )
    assert registered.status == 200
    first, second = str(uuid.uuid4()), str(uuid.uuid4())

    def create(booking_id: str, start: int, end: int) -> dict[str, Any]:
        return {
            "room_id": campus.room_101,
            "id": booking_id,
            "start": at(monday, start),
            "end": at(monday, end),
            "title": "Pushed",
        }

    mutations = [
        {"mid": 1, "op": "create_booking", "args": create(first, 9, 10)},
        {"mid": 2, "op": "create_booking", "args": create(second, 11, 12)},
        {"mid": 3, "op": "create_booking", "args": create(str(uuid.uuid4()), 13, 14)},
        {
            "mid": 4,
            "op": "update_booking",
            "args": {"id": first, "base_version": 1, "end": at(monday, 11)},
        },
    ]
    response = await client.post(
        "/api/v1/sync/push",
        json={"client_id": client_id, "schema_version": SCHEMA_VERSION, "mutations": mutations},
        headers=staff.headers,
    )
    assert response.status == 200, await response.text()
    results = (await response.json())["results"]
    assert [r["status"] for r in results] == ["applied", "applied", "rejected", "rejected"]
    assert [r["problem"]["type"] for r in results[2:]] == ["quota-hours-day"] * 2


async def test_my_quota_shows_each_limit_with_its_use(
    client: TestClient, admin: Person, make_person: MakePerson
) -> None:
    campus, staff = await _setup(client, admin, make_person)
    nothing = await (await client.get("/api/v1/me/quota", headers=staff.headers)).json()
    assert (nothing["source"], nothing["use"]) == ("none", [])
    await set_quota(client, admin, "quotas/roles/staff", max_future_bookings=3, max_hours_week=10)
    monday = next_weekday(0)
    assert (await book(client, staff, campus.room_101, at(monday, 9), at(monday, 11))).status == 201
    mine = await (await client.get("/api/v1/me/quota", headers=staff.headers)).json()
    assert mine["source"] == "role"
    use = {u["limit"]: u for u in mine["use"]}
    assert (use["future"]["used"], use["future"]["left"]) == (1, 2)
    assert use["hours-week"]["maximum"] == 10


async def test_a_group_of_bookings_counts_the_ones_before_it(
    client: TestClient, admin: Person, make_person: MakePerson
) -> None:
    """Requests that arrive together are booked as a group (``booking_writer``); a limited
    user's are judged one by one, each counting those the group made before it."""
    campus, staff = await _setup(client, admin, make_person)
    rep = await make_person(Role.CLASS_REP)
    monday = next_weekday(0)
    await set_quota(client, admin, "quotas/roles/staff", max_bookings_day=2)
    rooms = [campus.room_101, campus.room_102, campus.room_201, campus.eng_1]
    sent = [book(client, staff, room, at(monday, 9), at(monday, 10)) for room in rooms]
    sent += [book(client, rep, room, at(monday, 11), at(monday, 12)) for room in rooms]
    answers = await asyncio.gather(*sent)
    statuses = [answer.status for answer in answers]
    assert sorted(statuses[:4]) == [201, 201, 422, 422], statuses
    assert statuses[4:] == [201] * 4, "a user without a quota is not held back"


async def test_the_waitlist_passes_over_a_request_its_quota_refuses(
    client: TestClient, admin: Person, make_person: MakePerson
) -> None:
    """A freed slot goes to the first in line whom the judge accepts, the quota included."""
    campus = await make_campus(client, admin)
    owner, booking = await waitlist.taken(client, campus, make_person)
    limited, free = await make_person(Role.CLASS_REP), await make_person(Role.STAFF)
    await set_quota(client, admin, "quotas/roles/class_rep", max_bookings_day=1)
    monday = waitlist.MONDAY
    made = await book(client, limited, campus.room_102, at(monday, 8), at(monday, 9))
    assert made.status == 201
    first = await waitlist.joined(client, limited, campus.room_101, auto_book=True)
    second = await waitlist.joined(client, free, campus.room_101, auto_book=True)
    await waitlist.cancel(client, owner, booking)
    await run_due_jobs(waitlist.jobs(client))
    assert (await waitlist.entry(client, limited, first["id"]))["state"] == "waiting"
    assert (await waitlist.entry(client, free, second["id"]))["state"] == "booked"
