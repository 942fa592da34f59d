"""Check-in and the release of no-shows, with a controllable clock: the window's edges, who may
check in, the sweep (once, however many run), series that keep missing, the door link, and
check-ins pushed from offline clients."""

from __future__ import annotations

import asyncio
import uuid
from datetime import date, timedelta
from typing import Any

import pytest
from aiohttp.test_utils import TestClient
from sqlalchemy import select
from sqlmodel import col

from compax_server.jobs.runner import run_due_jobs
from compax_server.keys import DATABASE
from compax_server.models import Booking, Building, Notification, Room
from compax_server.services.releases import release_no_shows
from sync.permissions import Role
from tests.booking_helpers import at, book, bulk, next_weekday
from tests.checkin_support import Clock, booked, checkin_campus, client, clock, jobs
from tests.conftest import MakePerson, Person
from tests.support import problem_of
from tests.test_availability import window
from tests.test_sync_server import pull_all, push, register

#: Fixtures of checkin_support, named here so that pytest finds them in this module.
__all__ = ["client", "clock"]


async def check_in(client: TestClient, person: Person, booking_id: str) -> Any:
    return await client.post(f"/api/v1/bookings/{booking_id}/checkin", headers=person.headers)


async def reading(client: TestClient, person: Person, booking_id: str) -> dict[str, Any]:
    response = await client.get(f"/api/v1/bookings/{booking_id}", headers=person.headers)
    assert response.status == 200
    found: dict[str, Any] = await response.json()
    return found


async def notices(client: TestClient, kind: str) -> list[Notification]:
    app = client.app
    assert app is not None
    async with app[DATABASE].read() as session:
        found = await session.execute(select(Notification).where(col(Notification.kind) == kind))
        return list(found.scalars())


async def test_check_in_opens_before_the_start_and_closes_after_it(
    client: TestClient, admin: Person, make_person: MakePerson, clock: Clock
) -> None:
    campus = await checkin_campus(client, admin)
    staff = await make_person(Role.STAFF)
    monday = next_weekday(0)
    early = await booked(client, staff, campus.room_101, monday, 10)
    late = await booked(client, staff, campus.room_101, monday, 12)

    clock.set(monday, 9, 44, 59)
    problem = await problem_of(await check_in(client, staff, early), 409)
    assert problem["type"] == "checkin-closed"
    assert problem["opens_at"].startswith(at(monday, 9, 45)[:16])
    assert problem["closes_at"].startswith(at(monday, 10, 15)[:16])

    clock.set(monday, 9, 45)
    done = await check_in(client, staff, early)
    assert done.status == 200, await done.text()
    first = await done.json()
    assert first["checked_in_at"].startswith(at(monday, 9, 45)[:16])
    clock.set(monday, 9, 50)
    again = await (await check_in(client, staff, early)).json()
    assert again["version"] == first["version"] == 2, "a second check-in changes nothing"
    assert again["checked_in_at"] == first["checked_in_at"]

    clock.set(monday, 12, 15)
    problem = await problem_of(await check_in(client, staff, late), 409)
    assert problem["type"] == "checkin-closed", "the window is closed at its end"
    clock.set(monday, 12, 14, 59)
    assert (await check_in(client, staff, late)).status == 200


async def test_owners_check_in_their_own_and_officers_anyone_s(
    client: TestClient, admin: Person, make_person: MakePerson, clock: Clock
) -> None:
    campus = await checkin_campus(client, admin)
    staff, other = await make_person(Role.STAFF), await make_person(Role.CLASS_REP)
    student, officer = await make_person(Role.STUDENT), await make_person(Role.EXAMS_OFFICER)
    monday = next_weekday(0)
    booking = await booked(client, staff, campus.room_101, monday, 10)
    clock.set(monday, 10)

    assert (await problem_of(await check_in(client, other, booking), 403))["type"] == "forbidden"
    await problem_of(await check_in(client, student, booking), 403)
    await problem_of(await check_in(client, staff, "not-a-booking"), 404)
    done = await check_in(client, officer, booking)
    assert done.status == 200, await done.text()
    app = client.app
    assert app is not None
    async with app[DATABASE].read() as session:
        row = await session.get(Booking, uuid.UUID(booking))
    assert row is not None
    assert row.checked_in_by == officer.id


async def test_the_sweep_releases_no_shows_frees_the_slot_and_tells_the_owner(
    client: TestClient, admin: Person, make_person: MakePerson, clock: Clock
) -> None:
    campus = await checkin_campus(client, admin)
    staff, rep = await make_person(Role.STAFF), await make_person(Role.CLASS_REP)
    monday = next_weekday(0)
    missed = await booked(client, staff, campus.room_101, monday, 10)
    kept = await booked(client, staff, campus.room_101, monday, 12)
    free_room = await booked(client, staff, campus.eng_1, monday, 10)
    client_id = await register(client, staff)
    _, cursor, _ = await pull_all(client, staff, client_id=client_id)

    clock.set(monday, 10, 14, 59)
    await run_due_jobs(jobs(client))
    assert (await reading(client, staff, missed))["status"] == "confirmed"
    clock.set(monday, 10, 15)
    await run_due_jobs(jobs(client))
    assert (await reading(client, staff, missed))["status"] == "released"
    assert (await reading(client, staff, free_room))["status"] == "confirmed", "ENG/1 needs none"
    taken = await book(client, rep, campus.room_101, at(monday, 10, 30), at(monday, 11))
    assert taken.status == 201, "a released booking holds its room no longer"
    too_late = await problem_of(await check_in(client, staff, missed), 409)
    assert too_late["detail"] == "The booking is released; it cannot be checked in"

    clock.set(monday, 12)
    await check_in(client, staff, kept)
    clock.set(monday, 12, 15)
    await run_due_jobs(jobs(client))
    assert (await reading(client, staff, kept))["status"] == "confirmed", "it was checked in"
    [told] = [n for n in await notices(client, "released") if n.user_id == staff.id]
    assert told.data["room"] == "PB/101"
    assert told.data["start"].startswith(at(monday, 10)[:16])
    changes, _, _ = await pull_all(client, staff, cursor, client_id=client_id)
    pulled = {c["row"]["id"]: c["row"] for c in changes if c["table"] == "bookings"}
    assert pulled[missed]["status"] == "released"

    before = len(await notices(client, "released"))
    await run_due_jobs(jobs(client))
    assert len(await notices(client, "released")) == before, "a second sweep releases nothing"


async def test_two_sweeps_at_once_release_a_booking_once(
    client: TestClient, admin: Person, make_person: MakePerson, clock: Clock
) -> None:
    campus = await checkin_campus(client, admin)
    staff = await make_person(Role.STAFF)
    monday = next_weekday(0)
    bookings = [await booked(client, staff, campus.room_101, monday, h) for h in (9, 10, 11)]
    clock.set(monday, 13)

    context = jobs(client)
    await asyncio.gather(release_no_shows(context, {}), release_no_shows(context, {}))

    views = [await reading(client, staff, b) for b in bookings]
    assert [v["status"] for v in views] == ["released"] * 3
    assert [v["version"] for v in views] == [2] * 3, "each released once"
    assert len(await notices(client, "released")) == 3


async def test_a_building_asks_for_check_in_unless_its_room_says_otherwise(
    client: TestClient, admin: Person, clock: Clock
) -> None:
    campus = await checkin_campus(client, admin)
    await bulk(client, admin, "rooms", [{"building": "ENG", "code": "3", "capacity": 10}])
    rooms = await client.get("/api/v1/rooms?building=ENG", headers=admin.headers)
    eng_3 = next(r for r in (await rooms.json())["items"] if r["code"] == "3")
    assert eng_3["checkin_required"] is None
    monday = next_weekday(0)
    inherited = await booked(client, admin, eng_3["id"], monday, 10)
    own = await booked(client, admin, campus.eng_1, monday, 10)
    clock.set(monday, 11)

    await run_due_jobs(jobs(client))

    assert (await reading(client, admin, inherited))["status"] == "released"
    assert (await reading(client, admin, own))["status"] == "confirmed"


async def weekdays_series(client: TestClient, person: Person, room_id: int, monday: date) -> Any:
    response = await client.post(
        "/api/v1/series",
        json={
            "room_id": room_id,
            "title": "Seminar",
            "weekdays": ["mon", "tue", "wed", "thu", "fri"],
            "first_day": str(monday),
            "last_day": str(monday + timedelta(days=4)),
            "start_time": "10:00",
            "end_time": "11:00",
        },
        headers=person.headers,
    )
    assert response.status == 201, await response.text()
    return [b["id"] for b in (await response.json())["created"]]


async def test_a_series_missed_three_times_in_a_row_loses_the_rest(
    client: TestClient, admin: Person, make_person: MakePerson, clock: Clock
) -> None:
    campus = await checkin_campus(client, admin)
    staff = await make_person(Role.STAFF)
    monday = next_weekday(0)
    days = await weekdays_series(client, staff, campus.room_101, monday)

    for offset in range(3):
        clock.set(monday + timedelta(days=offset), 11)
        await run_due_jobs(jobs(client))

    statuses = [(await reading(client, staff, b))["status"] for b in days]
    assert statuses == ["released"] * 3 + ["cancelled"] * 2
    [told] = await notices(client, "series_released")
    assert told.user_id == staff.id
    assert told.data["cancelled"] == 2


async def test_a_check_in_breaks_a_run_of_misses(
    client: TestClient, admin: Person, make_person: MakePerson, clock: Clock
) -> None:
    campus = await checkin_campus(client, admin)
    staff = await make_person(Role.STAFF)
    monday = next_weekday(0)
    days = await weekdays_series(client, staff, campus.room_101, monday)

    for offset in range(5):
        day = monday + timedelta(days=offset)
        if offset == 2:
            clock.set(day, 10)
            assert (await check_in(client, staff, days[offset])).status == 200
        clock.set(day, 11)
        await run_due_jobs(jobs(client))

    statuses = [(await reading(client, staff, b))["status"] for b in days]
    assert statuses == ["released", "released", "confirmed", "released", "released"]
    assert await notices(client, "series_released") == []


async def test_the_door_link_checks_in_without_a_sign_in(
    client: TestClient, admin: Person, make_person: MakePerson, clock: Clock
) -> None:
    campus = await checkin_campus(client, admin)
    staff, other = await make_person(Role.STAFF), await make_person(Role.STAFF)
    monday = next_weekday(0)
    booking = await booked(client, staff, campus.room_101, monday, 10)
    late = await booked(client, staff, campus.room_101, monday, 12)
    await problem_of(
        await client.get(f"/api/v1/bookings/{booking}/checkin-link", headers=other.headers), 403
    )
    link = await client.get(f"/api/v1/bookings/{booking}/checkin-link", headers=staff.headers)
    assert link.status == 200
    path = "/links/" + (await link.json())["url"].split("/links/", 1)[1]

    page = await client.get(path)
    assert page.status == 200
    assert "PB/101" in await page.text()
    assert "Check in" in await page.text()
    clock.set(monday, 10, 5)
    done = await client.post(path)
    assert done.status == 200
    assert "Checked in" in await done.text()
    checked = await reading(client, staff, booking)
    assert checked["checked_in_at"].startswith(at(monday, 10, 5)[:16])

    forged = path[:-5] + ("x" if path[-5] != "x" else "y") + path[-4:]
    assert (await client.post(forged)).status == 404
    other_link = await client.get(f"/api/v1/bookings/{late}/checkin-link", headers=admin.headers)
    late_path = "/links/" + (await other_link.json())["url"].split("/links/", 1)[1]
    refused = await client.post(late_path)
    assert refused.status == 409
    assert "Check-in is open from" in await refused.text()


async def test_an_offline_check_in_counts_only_if_it_arrives_within_the_window(
    client: TestClient, admin: Person, make_person: MakePerson, clock: Clock
) -> None:
    campus = await checkin_campus(client, admin)
    staff = await make_person(Role.STAFF)
    monday = next_weekday(0)
    on_time = await booked(client, staff, campus.room_101, monday, 10)
    too_late = await booked(client, staff, campus.room_101, monday, 12)
    client_id = await register(client, staff)

    def checking_in(mid: int, booking_id: str, hour: int) -> dict[str, Any]:
        args = {"id": booking_id, "at": at(monday, hour, 5)}
        return {"mid": mid, "op": "check_in_booking", "args": args}

    clock.set(monday, 10, 10)
    first = await push(client, staff, client_id, [checking_in(1, on_time, 10)])
    assert first["results"][0]["status"] == "applied", first
    clock.set(monday, 12, 20)
    second = await push(client, staff, client_id, [checking_in(2, too_late, 12)])
    [result] = second["results"]
    assert result["status"] == "rejected"
    assert result["problem"]["type"] == "checkin-closed", "the server's clock decides"
    checked = await reading(client, staff, on_time)
    assert checked["checked_in_at"].startswith(at(monday, 10, 10)[:16])


async def test_the_utilisation_report_counts_no_shows_and_released_hours(
    client: TestClient, admin: Person, make_person: MakePerson, clock: Clock
) -> None:
    campus = await checkin_campus(client, admin)
    staff = await make_person(Role.STAFF)
    monday = next_weekday(0)
    missed = [await booked(client, staff, campus.room_101, monday, h) for h in (9, 11)]
    came = await booked(client, staff, campus.room_101, monday, 13)
    await booked(client, staff, campus.room_101, monday, 16)
    await booked(client, staff, campus.room_102, monday, 9)
    clock.set(monday, 13, 5)
    assert (await check_in(client, staff, came)).status == 200
    clock.set(monday, 13, 20)
    await run_due_jobs(jobs(client))
    assert [(await reading(client, staff, b))["status"] for b in missed] == ["released"] * 2

    response = await client.get(
        f"/api/v1/reports/utilisation?{window(at(monday, 0), at(monday + timedelta(days=1), 0))}"
        "&building=PB",
        headers=admin.headers,
    )
    assert response.status == 200, await response.text()
    report = await response.json()
    rooms = {row["room"]: row for row in report["rooms"]}
    assert rooms["PB/101"]["released_hours"] == 2.0
    assert rooms["PB/101"]["no_show_rate"] == round(2 / 3, 4), "16:00's window is still to come"
    assert rooms["PB/102"]["no_show_rate"] is None, "PB/102 needs no check-in"
    [building] = report["buildings"]
    assert (building["released_hours"], building["no_show_rate"]) == (2.0, round(2 / 3, 4))


@pytest.mark.parametrize("changed", ["booking", "room", "building"])
async def test_a_window_closed_before_the_booking_or_its_rules_changed_releases_nothing(
    client: TestClient, admin: Person, make_person: MakePerson, clock: Clock, changed: str
) -> None:
    """A booking made or moved after its window closed, or in a room that began to require
    check-in (itself or through its building) after the window closed, had no window to miss:
    a meeting in progress is never released by a change of the rules."""
    campus = await checkin_campus(client, admin)
    staff = await make_person(Role.STAFF)
    monday = next_weekday(0)
    meeting = await booked(client, staff, campus.room_101, monday, 10)
    clock.set(monday, 10, 30)
    app = client.app
    assert app is not None
    async with app[DATABASE].write() as session:
        room = await session.get(Room, campus.room_101)
        assert room is not None
        row = {
            "booking": await session.get(Booking, uuid.UUID(meeting)),
            "room": room,
            "building": await session.get(Building, room.building_id),
        }[changed]
        assert row is not None
        row.updated_at = clock()
    await run_due_jobs(jobs(client))
    assert (await reading(client, staff, meeting))["status"] == "confirmed"


async def test_the_rest_of_a_released_slot_is_offered_to_the_waitlist(
    client: TestClient, admin: Person, make_person: MakePerson, clock: Clock
) -> None:
    campus = await checkin_campus(client, admin)
    staff, waiter = await make_person(Role.STAFF), await make_person(Role.STAFF)
    monday = next_weekday(0)
    missed = await booked(client, staff, campus.room_101, monday, 10)
    joined = await client.post(
        "/api/v1/waitlist",
        json={"room_id": campus.room_101, "start": at(monday, 10), "end": at(monday, 11)}
        | {"title": "Study group"},
        headers=waiter.headers,
    )
    assert joined.status == 201, await joined.text()
    entry = await joined.json()
    clock.set(monday, 10, 15, 30)
    await run_due_jobs(jobs(client))
    assert (await reading(client, staff, missed))["status"] == "released"
    offered = await client.get(f"/api/v1/waitlist/{entry['id']}", headers=waiter.headers)
    held = (await offered.json())["booking_id"]
    assert (await offered.json())["state"] == "offered" and held
    booking = await reading(client, waiter, held)
    day = monday.isoformat()
    assert (booking["start"], booking["end"]) == (f"{day}T10:16:00Z", f"{day}T11:00:00Z")
