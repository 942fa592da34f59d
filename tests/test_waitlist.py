"""The waitlist over HTTP: joining, offers made by the freed-slot job to the first request the
judge accepts, accepting, declining, lapsing, booking at once, and who sees what."""

from __future__ import annotations

import dataclasses
from datetime import timedelta
from typing import Any

from aiohttp.test_utils import TestClient
from sqlalchemy import select
from sqlmodel import col

from compax_server.jobs.queue import JobContext
from compax_server.jobs.runner import run_due_jobs
from compax_server.jobs.waitlist import expire_waitlist_offers, offer_freed_slot
from compax_server.keys import BOOKING_POLICY, DATABASE, SETTINGS
from compax_server.models import Booking, Notification
from compax_server.services.common import utcnow
from sync.permissions import Role
from tests.booking_helpers import Campus, at, book, bulk, make_campus, next_weekday
from tests.conftest import MakePerson, Person
from tests.support import error_fields

MONDAY = next_weekday(0)
SLOT = (at(MONDAY, 10), at(MONDAY, 12))


def jobs(client: TestClient, *, minutes_later: int = 0) -> JobContext:
    """What a job sees, its clock ``minutes_later`` than now."""
    app = client.app
    assert app is not None
    policy = dataclasses.replace(
        app[BOOKING_POLICY], clock=lambda: utcnow() + timedelta(minutes=minutes_later)
    )
    return JobContext(app[DATABASE], app[SETTINGS], policy)


async def wait(client: TestClient, person: Person, room_id: int | None, **fields: Any) -> Any:
    body = {"start": SLOT[0], "end": SLOT[1], "title": "Seminar", **fields}
    if room_id is not None:
        body["room_id"] = room_id
    return await client.post("/api/v1/waitlist", json=body, headers=person.headers)


async def joined(client: TestClient, person: Person, room_id: int | None, **fields: Any) -> Any:
    response = await wait(client, person, room_id, **fields)
    assert response.status == 201, await response.text()
    return await response.json()


async def entry(client: TestClient, person: Person, entry_id: str) -> Any:
    response = await client.get(f"/api/v1/waitlist/{entry_id}", headers=person.headers)
    assert response.status == 200, await response.text()
    return await response.json()


async def taken(client: TestClient, campus: Campus, make_person: MakePerson) -> tuple[Person, Any]:
    """A staff member and their booking of PB/101 in ``SLOT``."""
    owner = await make_person(Role.STAFF)
    response = await book(client, owner, campus.room_101, *SLOT)
    assert response.status == 201, await response.text()
    return owner, await response.json()


async def cancel(client: TestClient, person: Person, booking: Any) -> None:
    response = await client.delete(
        f"/api/v1/bookings/{booking['id']}",
        headers={**person.headers, "If-Match": f'"{booking["version"]}"'},
    )
    assert response.status == 200, await response.text()


async def notices(client: TestClient, person: Person) -> list[str]:
    app = client.app
    assert app is not None
    async with app[DATABASE].read() as session:
        found = await session.execute(
            select(col(Notification.kind)).where(col(Notification.user_id) == person.id)
        )
        return list(found.scalars())


async def test_a_taken_slot_can_be_waited_for_and_a_free_one_is_to_be_booked(
    client: TestClient, admin: Person, make_person: MakePerson
) -> None:
    campus = await make_campus(client, admin)
    await taken(client, campus, make_person)
    rep, student = await make_person(Role.CLASS_REP), await make_person(Role.STUDENT)

    made = await joined(client, rep, campus.room_101, attendees=20)
    assert (made["state"], made["booking_id"], made["version"]) == ("waiting", None, 1)

    free = await wait(client, rep, campus.room_102)
    assert free.status == 409
    assert (await free.json())["type"] == "slot-free"
    anywhere = await wait(client, rep, None, building="PB", min_capacity=30)
    assert (await anywhere.json())["type"] == "slot-free", "PB/102 is free then"
    refused = await wait(client, rep, campus.room_101, attendees=400)
    assert (await refused.json())["type"] == "over-capacity"
    assert (await wait(client, student, campus.room_101)).status == 403


async def test_bad_input_is_refused_naming_the_field(client: TestClient, admin: Person) -> None:
    campus = await make_campus(client, admin)
    room = campus.room_101
    cases = [
        (room, {"end": SLOT[0]}, "end"),
        (None, {}, "building"),
        (room, {"building": "PB"}, "building"),
        (room, {"attendees": -1}, "attendees"),
        (room, {"title": " "}, "title"),
        (room, {"colour": "red"}, "colour"),
        (None, {"building": "PB", "features": ["no way!"]}, "features"),
    ]
    for room_id, fields, field in cases:
        response = await wait(client, admin, room_id, **fields)
        assert response.status == 422, fields
        problem = await response.json()
        assert field in [error["field"] for error in problem["errors"]], problem
    for path in ("/api/v1/waitlist/not-an-id", "/api/v1/waitlist?limit=0"):
        assert (await client.get(path, headers=admin.headers)).status in (404, 422)


async def test_a_cancelled_slot_goes_to_the_first_request_the_judge_accepts(
    client: TestClient, admin: Person, make_person: MakePerson
) -> None:
    campus = await make_campus(client, admin)
    owner, booking = await taken(client, campus, make_person)
    first, second, third = [await make_person(Role.STAFF) for _ in range(3)]
    crowd = await joined(client, first, campus.room_101, attendees=30)
    small = await joined(client, second, campus.room_101, attendees=10)
    later = await joined(client, third, campus.room_101, attendees=5)
    shrunk = await client.patch(
        f"/api/v1/rooms/{campus.room_101}",
        json={"capacity": 20},
        headers={**admin.headers, "If-Match": '"1"'},
    )
    assert shrunk.status == 200, await shrunk.text()

    await cancel(client, owner, booking)
    assert await run_due_jobs(jobs(client)) >= 1

    assert (await entry(client, first, crowd["id"]))["state"] == "waiting", "30 do not fit"
    offered = await entry(client, second, small["id"])
    assert offered["state"] == "offered" and offered["offer_expires_at"]
    assert (await entry(client, third, later["id"]))["state"] == "waiting"
    held = await client.get(f"/api/v1/bookings/{offered['booking_id']}", headers=second.headers)
    assert (await held.json())["owner"] == second.user.username
    assert await notices(client, second) == ["waitlist_offer"]

    accepted = await client.post(f"/api/v1/waitlist/{small['id']}/accept", headers=second.headers)
    assert accepted.status == 200, await accepted.text()
    assert (await accepted.json())["state"] == "booked"
    again = await client.post(f"/api/v1/waitlist/{small['id']}/accept", headers=second.headers)
    assert (await again.json())["type"] == "not-offered"


async def test_a_declined_offer_goes_to_the_next_in_line(
    client: TestClient, admin: Person, make_person: MakePerson
) -> None:
    campus = await make_campus(client, admin)
    owner, booking = await taken(client, campus, make_person)
    first, second = await make_person(Role.STAFF), await make_person(Role.CLASS_REP)
    mine = await joined(client, first, campus.room_101)
    next_one = await joined(client, second, campus.room_101)
    await cancel(client, owner, booking)
    await run_due_jobs(jobs(client))
    held = (await entry(client, first, mine["id"]))["booking_id"]

    declined = await client.post(f"/api/v1/waitlist/{mine['id']}/decline", headers=first.headers)
    assert declined.status == 200, await declined.text()
    assert (await declined.json())["state"] == "declined"
    gone = await client.get(f"/api/v1/bookings/{held}", headers=first.headers)
    assert (await gone.json())["status"] == "cancelled"
    await run_due_jobs(jobs(client))
    assert (await entry(client, second, next_one["id"]))["state"] == "offered"


async def test_a_lapsed_offer_and_a_passed_slot_expire_by_the_sweep(
    client: TestClient, admin: Person, make_person: MakePerson
) -> None:
    campus = await make_campus(client, admin)
    owner, booking = await taken(client, campus, make_person)
    first, second = await make_person(Role.STAFF), await make_person(Role.STAFF)
    mine = await joined(client, first, campus.room_101)
    next_one = await joined(client, second, campus.room_101)
    await cancel(client, owner, booking)
    await run_due_jobs(jobs(client))

    await expire_waitlist_offers(jobs(client, minutes_later=29), {})
    assert (await entry(client, first, mine["id"]))["state"] == "offered", "not lapsed yet"
    await expire_waitlist_offers(jobs(client, minutes_later=31), {})
    lapsed = await entry(client, first, mine["id"])
    assert (lapsed["state"], lapsed["offer_expires_at"]) == ("expired", None)
    late = await client.post(f"/api/v1/waitlist/{mine['id']}/accept", headers=first.headers)
    assert (await late.json())["type"] == "not-offered"
    await run_due_jobs(jobs(client, minutes_later=31))
    assert (await entry(client, second, next_one["id"]))["state"] == "offered"

    third = await make_person(Role.STAFF)
    other = await book(client, admin, campus.room_102, *SLOT)
    assert other.status == 201
    waiting = await joined(client, third, campus.room_102)
    await expire_waitlist_offers(jobs(client, minutes_later=60 * 24 * 30), {})
    assert (await entry(client, third, waiting["id"]))["state"] == "expired"


async def test_auto_book_books_at_once_and_tells_the_user(
    client: TestClient, admin: Person, make_person: MakePerson
) -> None:
    campus = await make_campus(client, admin)
    owner, booking = await taken(client, campus, make_person)
    rep = await make_person(Role.CLASS_REP)
    mine = await joined(client, rep, campus.room_101, auto_book=True)
    await cancel(client, owner, booking)
    await run_due_jobs(jobs(client))
    booked = await entry(client, rep, mine["id"])
    assert (booked["state"], booked["offer_expires_at"]) == ("booked", None)
    assert await notices(client, rep) == ["waitlist_booked"]


async def test_one_freed_slot_offered_twice_is_booked_once(
    client: TestClient, admin: Person, make_person: MakePerson
) -> None:
    campus = await make_campus(client, admin)
    owner, booking = await taken(client, campus, make_person)
    first, second = await make_person(Role.STAFF), await make_person(Role.STAFF)
    mine = await joined(client, first, campus.room_101)
    theirs = await joined(client, second, campus.room_101, auto_book=True)
    await cancel(client, owner, booking)
    payload = {"room_id": campus.room_101, "start": SLOT[0], "end": SLOT[1]}
    await offer_freed_slot(jobs(client), payload)
    await offer_freed_slot(jobs(client), payload)
    await run_due_jobs(jobs(client))

    assert (await entry(client, first, mine["id"]))["state"] == "offered"
    assert (await entry(client, second, theirs["id"]))["state"] == "waiting"
    app = client.app
    assert app is not None
    async with app[DATABASE].read() as session:
        held = await session.execute(
            select(Booking).where(col(Booking.owner_id).in_([first.id, second.id]))
        )
        assert len(held.scalars().all()) == 1
    assert await notices(client, first) == ["waitlist_offer"]


async def test_any_room_of_a_building_that_fits_is_offered(
    client: TestClient, admin: Person, make_person: MakePerson
) -> None:
    campus = await make_campus(client, admin)
    await taken(client, campus, make_person)
    other = await book(client, admin, campus.room_102, *SLOT)
    assert other.status == 201
    rep = await make_person(Role.CLASS_REP)
    mine = await joined(
        client, rep, None, building="pb", min_capacity=30, features=["Projector"], auto_book=True
    )
    assert (mine["room_id"], mine["features"]) == (None, ["projector"])
    await cancel(client, admin, await other.json())
    await run_due_jobs(jobs(client))
    booked = await entry(client, rep, mine["id"])
    assert booked["state"] == "booked"
    room = await client.get(f"/api/v1/bookings/{booked['booking_id']}", headers=rep.headers)
    assert (await room.json())["room"] == "PB/102"


async def test_nobody_sees_or_withdraws_another_s_entry_but_admins(
    client: TestClient, admin: Person, make_person: MakePerson
) -> None:
    campus = await make_campus(client, admin)
    await taken(client, campus, make_person)
    staff, other = await make_person(Role.STAFF), await make_person(Role.EXAMS_OFFICER)
    mine = await joined(client, staff, campus.room_101)
    path = f"/api/v1/waitlist/{mine['id']}"

    assert (await client.get(path, headers=other.headers)).status == 404
    stale = {"If-Match": '"1"'}
    assert (await client.delete(path, headers={**other.headers, **stale})).status == 404
    assert (await client.post(f"{path}/decline", headers=other.headers)).status == 404
    listed = await client.get("/api/v1/waitlist", headers=other.headers)
    assert (await listed.json())["items"] == []
    everyone = await client.get("/api/v1/waitlist?owner=*", headers=other.headers)
    assert everyone.status == 403
    by_admin = await client.get(
        f"/api/v1/waitlist?owner={staff.user.username}&state=waiting", headers=admin.headers
    )
    assert [e["id"] for e in (await by_admin.json())["items"]] == [mine["id"]]

    assert (await client.delete(path, headers=staff.headers)).status == 428
    wrong = await client.delete(path, headers={**staff.headers, "If-Match": '"7"'})
    assert wrong.status == 412
    withdrawn = await client.delete(path, headers={**admin.headers, **stale})
    assert withdrawn.status == 200, await withdrawn.text()
    assert (await withdrawn.json())["state"] == "cancelled"


async def test_lists_are_paged(client: TestClient, admin: Person, make_person: MakePerson) -> None:
    campus = await make_campus(client, admin)
    await taken(client, campus, make_person)
    made = [(await joined(client, admin, campus.room_101))["id"] for _ in range(3)]
    seen, cursor = [], None
    while True:
        query = "limit=2" + (f"&cursor={cursor}" if cursor else "")
        page = await (await client.get(f"/api/v1/waitlist?{query}", headers=admin.headers)).json()
        seen += [item["id"] for item in page["items"]]
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert seen == made
    bad = await client.get("/api/v1/waitlist?cursor=nonsense", headers=admin.headers)
    assert (await bad.json())["errors"][0]["field"] == "cursor"


async def test_a_booking_shortened_or_moved_away_frees_its_slot(
    client: TestClient, admin: Person, make_person: MakePerson
) -> None:
    campus = await make_campus(client, admin)
    owner, booking = await taken(client, campus, make_person)
    later, earlier = await make_person(Role.STAFF), await make_person(Role.STAFF)
    second_hour = await joined(
        client, later, campus.room_101, start=at(MONDAY, 11), end=at(MONDAY, 12)
    )
    first_hour = await joined(
        client, earlier, campus.room_101, start=at(MONDAY, 10), end=at(MONDAY, 11)
    )
    headers = {**owner.headers, "If-Match": f'"{booking["version"]}"'}
    shortened = await client.patch(
        f"/api/v1/bookings/{booking['id']}", json={"end": at(MONDAY, 11)}, headers=headers
    )
    assert shortened.status == 200, await shortened.text()
    await run_due_jobs(jobs(client))
    assert (await entry(client, later, second_hour["id"]))["state"] == "offered"
    assert (await entry(client, earlier, first_hour["id"]))["state"] == "waiting"

    headers = {**owner.headers, "If-Match": f'"{(await shortened.json())["version"]}"'}
    moved = await client.patch(
        f"/api/v1/bookings/{booking['id']}", json={"room_id": campus.eng_1}, headers=headers
    )
    assert moved.status == 200, await moved.text()
    assert await run_due_jobs(jobs(client)) >= 1
    assert (await entry(client, earlier, first_hour["id"]))["state"] == "offered"


async def test_a_wait_for_any_room_is_judged_in_the_rooms_that_match(
    client: TestClient, admin: Person, make_person: MakePerson
) -> None:
    """The judge hears a wait for any room as it hears one for a room: a request no matching
    room of the building would ever take is refused now, not waited for in vain."""
    await make_campus(client, admin)
    rep = await make_person(Role.CLASS_REP)
    crowd = await wait(client, rep, None, building="PB", attendees=9_000)
    assert crowd.status == 422
    assert error_fields(await crowd.json()) == ["min_capacity"]
    past = await wait(
        client, rep, None, building="PB", start="2020-01-06T09:00:00Z", end="2020-01-06T10:00:00Z"
    )
    assert past.status == 422, await past.text()
    endless = await wait(
        client, rep, None, building="PB", start=SLOT[0], end="2030-01-01T00:00:00Z"
    )
    assert endless.status == 422, await endless.text()


async def test_a_freed_room_of_unknown_capacity_goes_only_to_a_wait_that_asks_no_seats(
    client: TestClient, admin: Person, make_person: MakePerson
) -> None:
    campus = await make_campus(client, admin)
    [hall] = await bulk(client, admin, "rooms", [{"building": "PB", "code": "Main Hall, East"}])
    held = [
        await book(client, admin, room, *SLOT)
        for room in (campus.room_101, campus.room_102, campus.room_201, hall["id"])
    ]
    assert all(response.status == 201 for response in held)
    rep, staff = await make_person(Role.CLASS_REP), await make_person(Role.STAFF)
    seats = await joined(client, rep, None, building="PB", min_capacity=10, auto_book=True)
    crowd = await joined(client, staff, None, building="PB", auto_book=True)
    too_many = await wait(client, rep, None, building="PB", min_capacity=500)
    assert error_fields(await too_many.json()) == ["min_capacity"], "unknown seats are no seats"

    await cancel(client, admin, await held[3].json())
    await run_due_jobs(jobs(client))
    assert (await entry(client, rep, seats["id"]))["state"] == "waiting"
    booked = await entry(client, staff, crowd["id"])
    assert booked["state"] == "booked"
    room = await client.get(f"/api/v1/bookings/{booked['booking_id']}", headers=staff.headers)
    assert (await room.json())["room"] == "PB/MAIN HALL, EAST"
