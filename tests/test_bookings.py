"""Single bookings over HTTP: the overlap invariant, rules, edits, cancellation, idempotency."""

from __future__ import annotations

import dataclasses
import uuid
from typing import Any

import pytest
from aiohttp.test_utils import TestClient

from compax_server.keys import DATABASE
from compax_server.services import bookings as bookings_service
from sync.permissions import Role
from tests.booking_helpers import at, book, make_campus, next_weekday
from tests.conftest import MakePerson, Person
from tests.support import statements_sent


async def test_an_overlapping_booking_is_refused_with_alternatives(
    client: TestClient, admin: Person, make_person: MakePerson
) -> None:
    campus = await make_campus(client, admin)
    staff, rep = await make_person(Role.STAFF), await make_person(Role.CLASS_REP)
    monday = next_weekday(0)
    first = await book(client, staff, campus.room_101, at(monday, 10), at(monday, 12), private=True)
    assert first.status == 201, await first.text()

    clash = await book(client, rep, campus.room_101, at(monday, 11), at(monday, 13), attendees=30)

    assert clash.status == 409
    assert clash.content_type == "application/problem+json"
    problem = await clash.json()
    assert problem["type"] == "room-overlap"
    assert [c["id"] for c in problem["conflicting"]] == [(await first.json())["id"]]
    assert problem["conflicting"][0]["title"] is None, "a private title is hidden from others"
    rooms = [r["room"] for r in problem["alternatives"]["rooms"]]
    assert rooms[:2] == ["PB/102", "ENG/1"], "same building first, then by size; 201 is too small"
    times = problem["alternatives"]["times"]
    assert len(times) == 3
    assert all(t["start"] >= at(monday, 12)[:16] or t["end"] <= at(monday, 10)[:16] for t in times)


async def test_back_to_back_bookings_do_not_overlap(client: TestClient, admin: Person) -> None:
    campus = await make_campus(client, admin)
    monday = next_weekday(0)
    assert (await book(client, admin, campus.room_101, at(monday, 9), at(monday, 10))).status == 201
    assert (
        await book(client, admin, campus.room_101, at(monday, 10), at(monday, 11))
    ).status == 201


async def test_each_rule_has_its_own_problem_type(
    client: TestClient, admin: Person, make_person: MakePerson
) -> None:
    campus = await make_campus(client, admin)
    staff = await make_person(Role.STAFF)
    monday, sunday = next_weekday(0), next_weekday(6)
    far = next_weekday(0, weeks_ahead=60)
    past = next_weekday(0, weeks_ahead=-2)
    cases = [
        (campus.room_101, at(sunday, 10), at(sunday, 11), "outside-hours", 422),
        (campus.room_101, at(monday, 6), at(monday, 8), "outside-hours", 422),
        (campus.room_101, at(monday, 8), at(monday, 17), "too-long", 422),
        (campus.room_101, at(monday, 8), at(monday, 8, 10), "too-short", 422),
        (campus.room_101, at(far, 10), at(far, 11), "too-far-ahead", 422),
        (campus.room_101, at(past, 10), at(past, 11), "too-short-notice", 422),
        (campus.closed, at(monday, 10), at(monday, 11), "not-bookable", 409),
    ]
    for room_id, start, end, expected, status in cases:
        response = await book(client, staff, room_id, start, end)
        body = await response.json()
        assert (response.status, body["type"]) == (status, expected), (start, body)
        assert body["detail"]


async def test_a_blackout_refuses_bookings_and_reports_the_ones_it_covers(
    client: TestClient, admin: Person, make_person: MakePerson
) -> None:
    campus = await make_campus(client, admin)
    staff = await make_person(Role.STAFF)
    monday = next_weekday(0)
    kept = await book(client, staff, campus.room_101, at(monday, 9), at(monday, 10))
    created = await client.post(
        "/api/v1/blackouts",
        json={"building": "PB", "start": at(monday, 8), "end": at(monday, 18), "reason": "Exams"},
        headers=admin.headers,
    )
    assert created.status == 201, await created.text()
    covered = (await created.json())["covered_bookings"]
    assert [b["id"] for b in covered] == [(await kept.json())["id"]]

    refused = await book(client, staff, campus.room_102, at(monday, 12), at(monday, 13))
    assert refused.status == 409
    assert (await refused.json())["type"] == "blackout"
    still = await client.get(f"/api/v1/bookings/{(await kept.json())['id']}", headers=staff.headers)
    assert (await still.json())["status"] == "confirmed"


async def test_officers_may_override_rules_but_never_an_overlap(
    client: TestClient, admin: Person, make_person: MakePerson
) -> None:
    campus = await make_campus(client, admin)
    officer, staff = await make_person(Role.EXAMS_OFFICER), await make_person(Role.STAFF)
    sunday = next_weekday(6)
    no_reason = await book(
        client, officer, campus.room_101, at(sunday, 9), at(sunday, 12), override=True
    )
    assert no_reason.status == 422
    assert (await no_reason.json())["errors"][0]["field"] == "override_reason"
    denied = await book(
        client,
        staff,
        campus.room_101,
        at(sunday, 9),
        at(sunday, 12),
        override=True,
        override_reason="Open day",
    )
    assert denied.status == 403
    allowed = await book(
        client,
        officer,
        campus.room_101,
        at(sunday, 9),
        at(sunday, 12),
        override=True,
        override_reason="Open day",
    )
    assert allowed.status == 201, await allowed.text()
    overlap = await book(
        client,
        officer,
        campus.room_101,
        at(sunday, 10),
        at(sunday, 11),
        override=True,
        override_reason="Open day",
    )
    assert overlap.status == 409
    assert (await overlap.json())["type"] == "room-overlap"


async def test_changes_need_the_current_version_and_ownership(
    client: TestClient, admin: Person, make_person: MakePerson
) -> None:
    campus = await make_campus(client, admin)
    owner, other = await make_person(Role.STAFF), await make_person(Role.CLASS_REP)
    monday = next_weekday(0)
    booking = await (
        await book(client, owner, campus.room_101, at(monday, 9), at(monday, 10))
    ).json()
    await book(client, owner, campus.room_101, at(monday, 11), at(monday, 12))
    url = f"/api/v1/bookings/{booking['id']}"

    missing = await client.patch(url, json={"title": "New"}, headers=owner.headers)
    assert missing.status == 428
    foreign = await client.patch(
        url, json={"title": "Mine"}, headers={**other.headers, "If-Match": '"1"'}
    )
    assert foreign.status == 403
    renamed = await client.patch(
        url, json={"title": "New"}, headers={**owner.headers, "If-Match": '"1"'}
    )
    assert renamed.status == 200, await renamed.text()
    assert renamed.headers["ETag"] == '"2"'
    stale = await client.patch(
        url, json={"title": "Old"}, headers={**owner.headers, "If-Match": '"1"'}
    )
    assert stale.status == 412
    assert (await stale.json())["current"]["title"] == "New"
    clash = await client.patch(
        url,
        json={"start": at(monday, 11, 30), "end": at(monday, 12, 30)},
        headers={**owner.headers, "If-Match": '"2"'},
    )
    assert clash.status == 409
    assert (await clash.json())["type"] == "room-overlap"


async def test_a_cancelled_booking_frees_the_room_and_stays_visible(
    client: TestClient, admin: Person, make_person: MakePerson
) -> None:
    campus = await make_campus(client, admin)
    staff = await make_person(Role.STAFF)
    monday = next_weekday(0)
    booking = await (
        await book(client, staff, campus.room_101, at(monday, 9), at(monday, 10))
    ).json()
    cancelled = await client.delete(
        f"/api/v1/bookings/{booking['id']}", headers={**staff.headers, "If-Match": '"1"'}
    )
    assert cancelled.status == 200, await cancelled.text()
    assert [b["status"] for b in (await cancelled.json())["cancelled"]] == ["cancelled"]
    again = await book(client, staff, campus.room_101, at(monday, 9), at(monday, 10))
    assert again.status == 201
    history = await client.get(
        f"/api/v1/bookings?room_id={campus.room_101}&status=cancelled", headers=staff.headers
    )
    assert [b["id"] for b in (await history.json())["items"]] == [booking["id"]]


async def test_an_idempotency_key_replays_the_first_answer(
    client: TestClient, admin: Person
) -> None:
    campus = await make_campus(client, admin)
    monday = next_weekday(0)
    body = {"room_id": campus.room_101, "start": at(monday, 9), "end": at(monday, 10), "title": "T"}
    headers = {**admin.headers, "Idempotency-Key": "abc-1"}
    first = await client.post("/api/v1/bookings", json=body, headers=headers)
    second = await client.post("/api/v1/bookings", json=body, headers=headers)
    assert (first.status, second.status) == (201, 201)
    assert (await first.json())["id"] == (await second.json())["id"]
    assert second.headers["Idempotent-Replayed"] == "true"
    listed = await client.get(f"/api/v1/bookings?room_id={campus.room_101}", headers=admin.headers)
    assert len((await listed.json())["items"]) == 1
    reused = await client.post("/api/v1/bookings", json={**body, "title": "Other"}, headers=headers)
    assert reused.status == 422
    assert (await reused.json())["type"] == "idempotency-key-reused"


async def test_students_read_but_cannot_book_and_see_no_private_fields(
    client: TestClient, admin: Person, make_person: MakePerson
) -> None:
    campus = await make_campus(client, admin)
    staff, student = await make_person(Role.STAFF), await make_person(Role.STUDENT)
    monday = next_weekday(0)
    await book(
        client, staff, campus.room_101, at(monday, 9), at(monday, 10), notes="Room key at desk"
    )
    refused = await book(client, student, campus.room_101, at(monday, 11), at(monday, 12))
    assert refused.status == 403
    seen = (await (await client.get("/api/v1/bookings", headers=student.headers)).json())["items"]
    assert len(seen) == 1
    assert (seen[0]["title"], seen[0]["notes"], seen[0]["owner"]) == ("Lecture", None, None)


async def test_a_client_made_id_is_kept_and_cannot_be_reused(
    client: TestClient, admin: Person
) -> None:
    campus = await make_campus(client, admin)
    monday = next_weekday(0)
    booking_id = str(uuid.uuid4())
    made = await book(client, admin, campus.room_101, at(monday, 9), at(monday, 10), id=booking_id)
    assert (await made.json())["id"] == booking_id
    again = await book(client, admin, campus.room_102, at(monday, 9), at(monday, 10), id=booking_id)
    assert again.status == 409
    assert (await again.json())["type"] == "duplicate"


async def test_the_database_refusal_reads_like_the_pre_check(
    client: TestClient, admin: Person, monkeypatch: pytest.MonkeyPatch
) -> None:
    """When a write races past the pre-check, the database refuses it (the exclusion
    constraint on Postgres, the trigger on SQLite) and the caller still gets room-overlap
    with the booking in the way."""
    campus = await make_campus(client, admin)
    monday = next_weekday(0)
    first = await (await book(client, admin, campus.room_101, at(monday, 9), at(monday, 11))).json()
    real_look = bookings_service.room_and_slot
    probes: list[bookings_service.SlotProbe] = []

    async def blind_look(*args: Any, **kwargs: Any) -> Any:
        room, label, probe = await real_look(*args, **kwargs)
        probes.append(probe)
        return room, label, dataclasses.replace(probe, booked=False)

    monkeypatch.setattr(bookings_service, "room_and_slot", blind_look)
    raced = await book(client, admin, campus.room_101, at(monday, 10), at(monday, 12))
    assert [probe.booked for probe in probes] == [True], "the pre-check was blinded"
    assert raced.status == 409
    problem = await raced.json()
    assert problem["type"] == "room-overlap"
    assert [c["id"] for c in problem["conflicting"]] == [first["id"]]
    listed = await client.get(f"/api/v1/bookings?room_id={campus.room_101}", headers=admin.headers)
    assert [b["id"] for b in (await listed.json())["items"]] == [first["id"]]


async def test_a_booking_is_its_callers_read_and_three_statements_in_its_transaction(
    client: TestClient, admin: Person
) -> None:
    """The caller's user, the room with what stands in the slot's way, the insert, its audit
    entry and the change-log entry (one statement with the insert on Postgres; on SQLite the
    audit entry is one more, and the change counter's too): no token-check read of its own, no
    re-reads, no per-check queries."""
    campus = await make_campus(client, admin)
    monday = next_weekday(0)
    with statements_sent(client) as sent:
        made = await book(client, admin, campus.room_101, at(monday, 9), at(monday, 10))
    assert made.status == 201, await made.text()
    verbs = [statement.split()[0].upper() for statement in sent]
    statements = [verb for verb in verbs if verb not in ("BEGIN", "COMMIT", "ROLLBACK")]
    if client.app[DATABASE].is_sqlite:
        assert statements == ["SELECT", "SELECT", "INSERT", "INSERT", "UPDATE", "INSERT"]
    else:
        assert statements == ["SELECT", "SELECT", "WITH"], "the insert with its log and audit"
