"""The audit walk: every write endpoint of the app and every push operation, each made to
succeed once, must leave an audit entry naming its caller, their client and the record it
changed; and each made to fail must leave none (the entry shares the change's transaction)."""

from __future__ import annotations

import re
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import date, timedelta
from typing import Any

from aiohttp import ClientResponse
from aiohttp.test_utils import TestClient
from sqlalchemy import select
from sqlmodel import col

from compax_server.api import Endpoint
from compax_server.jobs.runner import run_due_jobs
from compax_server.keys import BOOKING_LINKS, DATABASE, ENDPOINTS
from compax_server.links import LinkAction
from compax_server.models import AuditEntry
from sync.permissions import Role
from sync.protocol import SCHEMA_VERSION, Op
from tests.booking_helpers import Campus, at, next_weekday
from tests.checkin_support import Clock, checkin_campus, client, clock, jobs
from tests.conftest import PASSWORD, MakePerson, Person

__all__ = ["client", "clock"]  # the fixtures of a campus with a server clock

WEB = {"X-Compax-Client": "web"}
NEW_PASSWORD = "correct horse battery staple"

#: Write endpoints that change no audited record (bookings, series, blackouts, rooms,
#: buildings, terms, users), and what they change instead.
UNAUDITED = {
    "sign_in": "issues a token; writes nothing but sign-in limits",
    "oidc_token": "issues a token; a directory user's grants are audited when their groups move",
    "oidc_device": "asks the OpenID provider to begin a device sign-in; writes nothing",
    "oidc_device_token": "issues a token; a directory user's grants are audited when their "
    "groups move",
    "logout_all": "bumps the token generation, a counter the trail leaves out",
    "make_calendar_feed": "bumps the calendar generation, a counter the trail leaves out",
    "revoke_calendar_feed": "bumps the calendar generation, a counter the trail leaves out",
    "register_client": "registers a sync client replica",
    "push": "applies mutations, each walked on its own in PUSHED below",
    "join_waitlist": "a waitlist entry",
    "withdraw_waitlist_entry": "a waiting waitlist entry",
    "accept_waitlist_offer": "a waitlist entry (the booking it keeps was audited when offered)",
    "mark_read": "a notification",
    "choose_settings": "notification settings",
}


@dataclass
class World:
    """What the walk works on, and what its steps leave for the steps after them."""

    client: TestClient
    clock: Clock
    admin: Person
    staff: Person
    make_person: MakePerson
    campus: Campus
    monday: date
    ids: dict[str, Any] = field(default_factory=dict)

    async def call(
        self, method: str, path: str, person: Person | None = None, **kwargs: Any
    ) -> ClientResponse:
        headers = {**(person or self.admin).headers, **WEB, **kwargs.pop("headers", {})}
        return await self.client.request(method, path, headers=headers, **kwargs)

    async def made(self, response: ClientResponse, status: int = 201) -> Any:
        assert response.status == status, await response.text()
        return await response.json()

    async def booking(self, person: Person, room_id: int, hour: int, day: int = 0) -> str:
        start, end = (
            at(self.monday + timedelta(day), hour),
            at(self.monday + timedelta(day), hour + 1),
        )
        body = {"room_id": room_id, "start": start, "end": end, "title": "Walk"}
        return str(
            (await self.made(await self.call("POST", "/api/v1/bookings", person, json=body)))["id"]
        )


@dataclass
class Done:
    """What a step did: the response, who called, from which client, and the record."""

    response: ClientResponse
    actor: Person | None
    record_type: str
    record_id: object
    client: str = "web"


Step = Callable[[World], Awaitable[Done]]


def _rows(results: Any) -> str:
    return str(results["results"][0]["id"])


async def create_building(w: World) -> Done:
    answer = await w.call("POST", "/api/v1/buildings", json={"code": "SCI", "name": "Science"})
    w.ids["sci"] = (await w.made(answer))["id"]
    return Done(answer, w.admin, "buildings", w.ids["sci"])


async def update_building(w: World) -> Done:
    path = f"/api/v1/buildings/{w.ids['sci']}"
    answer = await w.call("PATCH", path, json={"name": "Sciences"}, headers={"If-Match": '"1"'})
    return Done(answer, w.admin, "buildings", w.ids["sci"])


async def bulk_buildings(w: World) -> Done:
    rows = {"rows": [{"code": "LAW", "name": "Law"}]}
    answer = await w.call("POST", "/api/v1/buildings:bulk", json=rows)
    w.ids["law"] = _rows(await w.made(answer, 200))
    return Done(answer, w.admin, "buildings", w.ids["law"])


async def create_room(w: World) -> Done:
    body = {"building": "SCI", "code": "1", "capacity": 10}
    answer = await w.call("POST", "/api/v1/rooms", json=body)
    w.ids["sci1"] = (await w.made(answer))["id"]
    return Done(answer, w.admin, "rooms", w.ids["sci1"])


async def update_room(w: World) -> Done:
    path = f"/api/v1/rooms/{w.ids['sci1']}"
    answer = await w.call("PATCH", path, json={"capacity": 12}, headers={"If-Match": '"1"'})
    return Done(answer, w.admin, "rooms", w.ids["sci1"])


async def bulk_rooms(w: World) -> Done:
    rows = {"rows": [{"building": "SCI", "code": "2", "capacity": 10}]}
    answer = await w.call("POST", "/api/v1/rooms:bulk", json=rows)
    w.ids["sci2"] = _rows(await w.made(answer, 200))
    return Done(answer, w.admin, "rooms", w.ids["sci2"])


async def delete_room(w: World) -> Done:
    answer = await w.call("DELETE", f"/api/v1/rooms/{w.ids['sci2']}")
    return Done(answer, w.admin, "rooms", w.ids["sci2"])


async def delete_building(w: World) -> Done:
    answer = await w.call("DELETE", f"/api/v1/buildings/{w.ids['law']}")
    return Done(answer, w.admin, "buildings", w.ids["law"])


def _term(name: str, w: World) -> dict[str, str]:
    return {
        "name": name,
        "first_day": str(w.monday),
        "last_day": str(w.monday + timedelta(days=20)),
    }


async def create_term(w: World) -> Done:
    answer = await w.call("POST", "/api/v1/terms", json=_term("T9", w))
    w.ids["t9"] = (await w.made(answer))["id"]
    return Done(answer, w.admin, "terms", w.ids["t9"])


async def update_term(w: World) -> Done:
    path = f"/api/v1/terms/{w.ids['t9']}"
    answer = await w.call("PATCH", path, json={"name": "T9b"}, headers={"If-Match": '"1"'})
    return Done(answer, w.admin, "terms", w.ids["t9"])


async def bulk_terms(w: World) -> Done:
    answer = await w.call("POST", "/api/v1/terms:bulk", json={"rows": [_term("T10", w)]})
    w.ids["t10"] = _rows(await w.made(answer, 200))
    return Done(answer, w.admin, "terms", w.ids["t10"])


async def delete_term(w: World) -> Done:
    answer = await w.call("DELETE", f"/api/v1/terms/{w.ids['t10']}")
    return Done(answer, w.admin, "terms", w.ids["t10"])


async def import_timetable(w: World) -> Done:
    row = {
        "course_code": "CHEM101",
        "course_name": "Chemistry",
        "weekday": "thu",
        "start": "08:00",
        "end": "09:00",
        "building": "PB",
        "room": "201",
    }
    path = f"/api/v1/terms/{w.ids['t9']}/timetable"
    answer = await w.call("POST", path, json={"rows": [row]})
    result = await w.made(answer, 200)
    assert result["results"][0]["status"] == "created", result
    return Done(answer, w.admin, "series", result["results"][0]["series_id"])


async def create_user(w: World) -> Done:
    body = {"username": "ama", "password": PASSWORD, "role": "staff"}
    answer = await w.call("POST", "/api/v1/users", json=body)
    w.ids["ama"] = (await w.made(answer))["id"]
    return Done(answer, w.admin, "users", w.ids["ama"])


async def update_user(w: World) -> Done:
    path = f"/api/v1/users/{w.ids['ama']}"
    answer = await w.call("PATCH", path, json={"role": "class_rep"}, headers={"If-Match": '"1"'})
    return Done(answer, w.admin, "users", w.ids["ama"])


async def reset_password(w: World) -> Done:
    path = f"/api/v1/users/{w.ids['ama']}/password"
    answer = await w.call("POST", path, json={"new_password": NEW_PASSWORD})
    return Done(answer, w.admin, "users", w.ids["ama"])


async def bulk_users(w: World) -> Done:
    rows = {"rows": [{"username": "kwame", "password": PASSWORD, "role": "student"}]}
    answer = await w.call("POST", "/api/v1/users:bulk", json=rows)
    w.ids["kwame"] = _rows(await w.made(answer, 200))
    return Done(answer, w.admin, "users", w.ids["kwame"])


async def deactivate_user(w: World) -> Done:
    answer = await w.call("DELETE", f"/api/v1/users/{w.ids['kwame']}")
    return Done(answer, w.admin, "users", w.ids["kwame"])


async def update_me(w: World) -> Done:
    me = await w.made(await w.call("GET", "/api/v1/me", w.staff), 200)
    answer = await w.call(
        "PATCH",
        "/api/v1/me",
        w.staff,
        json={"full_name": "Staff Member"},
        headers={"If-Match": f'"{me["version"]}"'},
    )
    return Done(answer, w.staff, "users", w.staff.id)


async def change_password(w: World) -> Done:
    changer = await w.make_person(Role.STAFF)
    body = {"current_password": PASSWORD, "new_password": NEW_PASSWORD}
    answer = await w.call("POST", "/api/v1/me/password", changer, json=body)
    return Done(answer, changer, "users", changer.id)


async def create_booking(w: World) -> Done:
    body = {
        "room_id": w.campus.room_101,
        "start": at(w.monday, 8),
        "end": at(w.monday, 9),
        "title": "Seminar",
    }
    answer = await w.call("POST", "/api/v1/bookings", w.staff, json=body)
    w.ids["booking"] = (await w.made(answer))["id"]
    return Done(answer, w.staff, "bookings", w.ids["booking"])


async def update_booking(w: World) -> Done:
    path = f"/api/v1/bookings/{w.ids['booking']}"
    answer = await w.call(
        "PATCH", path, w.staff, json={"title": "Reading"}, headers={"If-Match": '"1"'}
    )
    return Done(answer, w.staff, "bookings", w.ids["booking"])


async def cancel_booking(w: World) -> Done:
    path = f"/api/v1/bookings/{w.ids['booking']}"
    answer = await w.call("DELETE", path, w.staff, headers={"If-Match": '"2"'})
    return Done(answer, w.staff, "bookings", w.ids["booking"])


async def bulk_bookings(w: World) -> Done:
    row = {"room": "PB/102", "start": at(w.monday, 8), "end": at(w.monday, 9), "title": "Bulk"}
    answer = await w.call("POST", "/api/v1/bookings:bulk", json={"rows": [row]})
    return Done(answer, w.admin, "bookings", _rows(await w.made(answer, 200)))


def _weekly(room: int | str, first: date, weeks: int) -> dict[str, Any]:
    return {
        "weekdays": ["wed"],
        "first_day": str(first),
        "last_day": str(first + timedelta(days=7 * weeks - 1)),
        "start_time": "15:00",
        "end_time": "16:00",
        "title": "Weekly",
        **({"room_id": room} if isinstance(room, int) else {"room": room}),
    }


async def create_series(w: World) -> Done:
    body = _weekly(w.campus.room_201, w.monday, 2)
    answer = await w.call("POST", "/api/v1/series", w.staff, json=body)
    return Done(answer, w.staff, "series", (await w.made(answer))["series"]["id"])


async def bulk_series(w: World) -> Done:
    series_id = str(uuid.uuid4())
    row = {**_weekly("ENG/1", w.monday, 2), "id": series_id, "owner": "root"}
    answer = await w.call("POST", "/api/v1/series:bulk", json={"rows": [row]})
    result = await w.made(answer, 200)
    assert result["results"][0]["status"] == "created", result
    return Done(answer, w.admin, "series", series_id)


async def create_blackout(w: World) -> Done:
    day = w.monday + timedelta(days=5)
    body = {"room_id": w.campus.room_102, "start": at(day, 8), "end": at(day, 9), "reason": "Paint"}
    answer = await w.call("POST", "/api/v1/blackouts", json=body)
    w.ids["blackout"] = (await w.made(answer))["blackout"]["id"]
    return Done(answer, w.admin, "blackouts", w.ids["blackout"])


async def delete_blackout(w: World) -> Done:
    answer = await w.call("DELETE", f"/api/v1/blackouts/{w.ids['blackout']}")
    return Done(answer, w.admin, "blackouts", w.ids["blackout"])


async def check_in(w: World) -> Done:
    booking = await w.booking(w.staff, w.campus.room_101, 12)
    w.clock.set(w.monday, 12, 5)
    try:
        answer = await w.call("POST", f"/api/v1/bookings/{booking}/checkin", w.staff)
        assert answer.status == 200, await answer.text()
    finally:
        w.clock.fixed = None
    return Done(answer, w.staff, "bookings", booking)


async def use_checkin_link(w: World) -> Done:
    booking = await w.booking(w.staff, w.campus.room_101, 14)
    link = await w.made(
        await w.call("GET", f"/api/v1/bookings/{booking}/checkin-link", w.staff), 200
    )
    path = "/links/" + link["url"].split("/links/", 1)[1]
    w.clock.set(w.monday, 14, 5)
    try:
        answer = await w.client.post(path)
        assert answer.status == 200, await answer.text()
    finally:
        w.clock.fixed = None
    return Done(answer, w.staff, "bookings", booking, "link")


async def use_cancel_link(w: World) -> Done:
    booking = await w.booking(w.staff, w.campus.room_102, 16)
    assert w.client.app is not None
    token = w.client.app[BOOKING_LINKS].token(LinkAction.CANCEL, uuid.UUID(booking))
    answer = await w.client.post(f"/links/cancel/{token}")
    return Done(answer, w.staff, "bookings", booking, "link")


async def decline_waitlist_offer(w: World) -> Done:
    owner, waiter = await w.make_person(Role.STAFF), await w.make_person(Role.STAFF)
    booking = await w.booking(owner, w.campus.eng_1, 10, day=1)
    start, end = at(w.monday + timedelta(1), 10), at(w.monday + timedelta(1), 11)
    body = {"room_id": w.campus.eng_1, "start": start, "end": end, "title": "Waiting"}
    entry = await w.made(await w.call("POST", "/api/v1/waitlist", waiter, json=body))
    gone = await w.call("DELETE", f"/api/v1/bookings/{booking}", owner, headers={"If-Match": '"1"'})
    assert gone.status == 200, await gone.text()
    assert await run_due_jobs(jobs(w.client)) >= 1
    offered = await w.made(await w.call("GET", f"/api/v1/waitlist/{entry['id']}", waiter), 200)
    assert offered["state"] == "offered", offered
    [made] = await _entries_of(w, "bookings", offered["booking_id"])
    assert (made.action, made.actor_id, made.client) == ("create", None, "job")
    answer = await w.call("POST", f"/api/v1/waitlist/{entry['id']}/decline", waiter)
    return Done(answer, waiter, "bookings", offered["booking_id"])


async def _eng(w: World) -> int:
    """The id of the building of ENG/1."""
    room = await w.made(await w.call("GET", f"/api/v1/rooms/{w.campus.eng_1}"), 200)
    return int(room["building_id"])


async def grant_manager(w: World) -> Done:
    w.ids["manager"] = manager = await w.make_person(Role.STAFF)
    eng = await _eng(w)
    answer = await w.call("PUT", f"/api/v1/buildings/{eng}/managers/{manager.id}")
    return Done(answer, w.admin, "building_manager", f"{eng}:{manager.id}")


async def revoke_manager(w: World) -> Done:
    eng, manager = await _eng(w), w.ids["manager"]
    answer = await w.call("DELETE", f"/api/v1/buildings/{eng}/managers/{manager.id}")
    return Done(answer, w.admin, "building_manager", f"{eng}:{manager.id}")


async def set_role_quota(w: World) -> Done:
    body = {"max_bookings_day": 5}
    answer = await w.call("PUT", "/api/v1/quotas/roles/class_rep", json=body)
    w.ids["role_quota"] = (await w.made(answer, 200))["id"]
    return Done(answer, w.admin, "quota", w.ids["role_quota"])


async def clear_role_quota(w: World) -> Done:
    answer = await w.call("DELETE", "/api/v1/quotas/roles/class_rep")
    return Done(answer, w.admin, "quota", w.ids["role_quota"])


async def set_user_quota(w: World) -> Done:
    body = {"max_future_bookings": 50}
    answer = await w.call("PUT", f"/api/v1/users/{w.staff.id}/quota", json=body)
    w.ids["user_quota"] = (await w.made(answer, 200))["id"]
    return Done(answer, w.admin, "quota", w.ids["user_quota"])


async def clear_user_quota(w: World) -> Done:
    answer = await w.call("DELETE", f"/api/v1/users/{w.staff.id}/quota")
    return Done(answer, w.admin, "quota", w.ids["user_quota"])


async def rate_room(w: World) -> Done:
    path = f"/api/v1/rooms/{w.campus.room_101}/rating"
    student = await w.make_person(Role.STUDENT)
    w.ids["rater"] = student
    answer = await w.call("PUT", path, student, json={"stars": 4, "comment": "Bright"})
    w.ids["rating"] = (await w.made(answer, 200))["id"]
    return Done(answer, student, "rating", w.ids["rating"])


async def unrate_room(w: World) -> Done:
    path = f"/api/v1/rooms/{w.campus.room_101}/rating"
    answer = await w.call("DELETE", path, w.ids["rater"])
    return Done(answer, w.ids["rater"], "rating", w.ids["rating"])


async def import_ratings(w: World) -> Done:
    rows = {"rows": [{"room": "PB/102", "rating": 3, "comment": "From the old finder"}]}
    answer = await w.call("POST", "/api/v1/ratings:bulk", json=rows)
    return Done(answer, w.admin, "rating", _rows(await w.made(answer, 200)))


async def _request(w: World, hour: int) -> Any:
    """A staff member's request in ENG/1 on Thursday, which waits for approval there."""
    eng = await _eng(w)
    building = await w.made(await w.call("GET", f"/api/v1/buildings/{eng}"), 200)
    if building["approval_roles"] != ["staff"]:
        headers = {"If-Match": f'"{building["version"]}"'}
        body = {"approval_roles": ["staff"]}
        await w.made(
            await w.call("PATCH", f"/api/v1/buildings/{eng}", json=body, headers=headers), 200
        )
    day = w.monday + timedelta(days=3)
    body = {"room_id": w.campus.eng_1, "start": at(day, hour), "end": at(day, hour + 1)}
    made = await w.made(
        await w.call("POST", "/api/v1/bookings", w.staff, json={**body, "title": "Asks"})
    )
    assert made["status"] == "pending", made
    return made


async def _decide(w: World, request: Any, verdict: str) -> Done:
    answer = await w.call(
        "POST",
        f"/api/v1/bookings/{request['id']}/{verdict}",
        json={"reason": "As agreed"},
        headers={"If-Match": f'"{request["version"]}"'},
    )
    return Done(answer, w.admin, "bookings", request["id"])


async def approve_booking(w: World) -> Done:
    return await _decide(w, await _request(w, 9), "approve")


async def reject_booking(w: World) -> Done:
    return await _decide(w, await _request(w, 10), "reject")


async def _series_request(w: World, verdict: str, first: date) -> Done:
    body = {**_weekly(w.campus.eng_1, first, 2), "title": "Asks weekly"}
    made = await w.made(await w.call("POST", "/api/v1/series", w.staff, json=body))
    assert {b["status"] for b in made["created"]} == {"pending"}, made
    answer = await w.call(
        "POST", f"/api/v1/series/{made['series']['id']}/{verdict}", json={"reason": "As agreed"}
    )
    return Done(answer, w.admin, "bookings", made["created"][0]["id"])


async def approve_series(w: World) -> Done:
    await _request(w, 11)
    return await _series_request(w, "approve", w.monday + timedelta(days=14))


async def reject_series(w: World) -> Done:
    return await _series_request(w, "reject", w.monday + timedelta(days=28))


async def report_issue(w: World) -> Done:
    body = {"room_id": w.campus.eng_1, "summary": "Projector dead", "category": "equipment"}
    answer = await w.call("POST", "/api/v1/issues", w.staff, json=body)
    w.ids["issue"] = (await w.made(answer))["id"]
    return Done(answer, w.staff, "issues", w.ids["issue"])


async def update_issue(w: World) -> Done:
    path = f"/api/v1/issues/{w.ids['issue']}"
    body = {"status": "in_progress"}
    answer = await w.call("PATCH", path, json=body, headers={"If-Match": '"1"'})
    return Done(answer, w.admin, "issues", w.ids["issue"])


async def bulk_issues(w: World) -> Done:
    rows = {"rows": [{"external_id": "HD-9", "room": "ENG/1", "summary": "Cold"}]}
    answer = await w.call("POST", "/api/v1/issues:bulk", json=rows)
    w.ids["imported_issue"] = _rows(await w.made(answer, 200))
    return Done(answer, w.admin, "issues", w.ids["imported_issue"])


#: One step per audited write endpoint, in an order where each finds what it needs.
WALK: dict[str, Step] = {
    step.__name__: step
    for step in (
        create_building,
        update_building,
        bulk_buildings,
        create_room,
        update_room,
        bulk_rooms,
        delete_room,
        delete_building,
        create_term,
        update_term,
        bulk_terms,
        delete_term,
        import_timetable,
        create_user,
        update_user,
        reset_password,
        bulk_users,
        deactivate_user,
        update_me,
        change_password,
        create_booking,
        update_booking,
        cancel_booking,
        bulk_bookings,
        create_series,
        bulk_series,
        create_blackout,
        delete_blackout,
        check_in,
        use_checkin_link,
        use_cancel_link,
        decline_waitlist_offer,
        grant_manager,
        revoke_manager,
        set_role_quota,
        clear_role_quota,
        set_user_quota,
        clear_user_quota,
        rate_room,
        unrate_room,
        import_ratings,
        approve_booking,
        reject_booking,
        approve_series,
        reject_series,
        report_issue,
        update_issue,
        bulk_issues,
    )
}


def _writes(client: TestClient) -> list[Endpoint]:
    assert client.app is not None
    return [e for e in client.app[ENDPOINTS] if e.method != "GET"]


async def _last_id(client: TestClient) -> int:
    assert client.app is not None
    async with client.app[DATABASE].read() as session:
        found = await session.execute(
            select(col(AuditEntry.id)).order_by(col(AuditEntry.id).desc())
        )
        return found.scalars().first() or 0


async def _since(client: TestClient, last: int) -> list[AuditEntry]:
    assert client.app is not None
    async with client.app[DATABASE].read() as session:
        found = await session.execute(select(AuditEntry).where(col(AuditEntry.id) > last))
        return list(found.scalars())


async def _entries_of(w: World, record_type: str, record_id: object) -> list[AuditEntry]:
    return [
        e
        for e in await _since(w.client, 0)
        if (e.record_type, e.record_id) == (record_type, str(record_id))
    ]


async def _world(client: TestClient, clock: Clock, admin: Person, make_person: MakePerson) -> World:
    campus = await checkin_campus(client, admin)
    staff = await make_person(Role.STAFF)
    return World(client, clock, admin, staff, make_person, campus, next_weekday(0))


def test_the_walk_names_every_write_endpoint_once(client: TestClient) -> None:
    """A new write endpoint fails here until it is walked (or said to audit nothing)."""
    names = {e.name for e in _writes(client)}
    assert set(WALK) | set(UNAUDITED) == names
    assert not set(WALK) & set(UNAUDITED)


async def test_every_write_endpoint_audits_who_from_where_and_what(
    client: TestClient, clock: Clock, admin: Person, make_person: MakePerson
) -> None:
    w = await _world(client, clock, admin, make_person)
    for name, step in WALK.items():
        last = await _last_id(client)
        done = await step(w)
        assert done.response.status < 300, (name, await done.response.text())
        entries = await _since(client, last)
        actor_id = done.actor.id if done.actor else None
        matching = [
            e
            for e in entries
            if e.record_type == done.record_type
            and e.record_id == str(done.record_id)
            and e.actor_id == actor_id
            and e.client == done.client
        ]
        assert matching, (name, [(e.action, e.record_type, e.record_id, e.client) for e in entries])
        assert all(e.at is not None for e in matching)


def _failing_path(endpoint: Endpoint) -> str:
    """``endpoint``'s path naming records that do not exist."""
    path = re.sub(r"{(booking_id|entry_id)}", str(uuid.uuid4()), endpoint.path)
    return re.sub(r"{\w+}", "999999", path)


async def test_a_write_that_fails_leaves_no_entry(
    client: TestClient, clock: Clock, admin: Person, make_person: MakePerson
) -> None:
    """Each write endpoint, called with a body it refuses or for a record that does not exist,
    answers 4xx and leaves the trail as it was (those taking no input, none of them audited,
    cannot be made to fail)."""
    await _world(client, clock, admin, make_person)
    for endpoint in _writes(client):
        if endpoint.body is None and "{" not in endpoint.path:
            assert endpoint.name in UNAUDITED, f"{endpoint.name} takes no input that could fail"
            continue
        last = await _last_id(client)
        body = {"no_such_field": 1} if endpoint.body is not None else None
        answer = await client.request(
            endpoint.method,
            _failing_path(endpoint),
            json=body,
            headers={**admin.headers, **WEB, "If-Match": '"1"'},
        )
        assert 400 <= answer.status < 500, (endpoint.name, await answer.text())
        assert await _since(client, last) == [], endpoint.name


async def _push(w: World, person: Person, mutations: list[dict[str, Any]]) -> list[Any]:
    client_id = str(uuid.uuid4())
    registered = await w.call("POST", "/api/v1/sync/clients", person, json={"client_id": client_id})
    assert registered.status == 200, await registered.text()
    body = {"client_id": client_id, "schema_version": SCHEMA_VERSION, "mutations": mutations}
    answer = await w.made(await w.call("POST", "/api/v1/sync/push", person, json=body), 200)
    return list(answer["results"])


async def test_every_push_operation_audits_its_user_and_sync_client(
    client: TestClient, clock: Clock, admin: Person, make_person: MakePerson
) -> None:
    w = await _world(client, clock, admin, make_person)
    tuesday = w.monday + timedelta(days=1)
    booking = str(uuid.uuid4())
    checked = await w.booking(w.staff, w.campus.room_101, 18, day=1)
    mutations: dict[Op, dict[str, Any]] = {
        Op.CREATE_BOOKING: {
            "id": booking,
            "room_id": w.campus.room_102,
            "start": at(tuesday, 9),
            "end": at(tuesday, 10),
            "title": "Offline",
        },
        Op.UPDATE_BOOKING: {"id": booking, "base_version": 1, "title": "Renamed"},
        Op.CANCEL_BOOKING: {"id": booking, "base_version": 2},
        Op.CREATE_SERIES: {"id": str(uuid.uuid4()), **_weekly(w.campus.room_201, w.monday, 1)},
        Op.CHECK_IN_BOOKING: {"id": checked, "at": at(tuesday, 18, 5)},
        Op.RATE_ROOM: {"room_id": w.campus.room_102, "stars": 5, "comment": "Quiet"},
        Op.REPORT_ISSUE: {"id": str(uuid.uuid4()), "room_id": w.campus.eng_1, "summary": "Hot"},
    }
    assert set(mutations) == set(Op), "every push operation is walked"
    for op, args in mutations.items():
        if op == Op.CHECK_IN_BOOKING:
            w.clock.set(tuesday, 18, 5)
        last = await _last_id(client)
        [result] = await _push(w, w.staff, [{"mid": 1, "op": op, "args": args}])
        w.clock.fixed = None
        assert result["status"] == "applied", (op, result)
        entries = await _since(client, last)
        record_type = {
            Op.CREATE_SERIES: "series",
            Op.RATE_ROOM: "rating",
            Op.REPORT_ISSUE: "issues",
        }.get(op, "bookings")
        record_id = result.get("id") or args["id"]
        assert any(
            (e.record_type, e.record_id, e.actor_id, e.client)
            == (record_type, str(record_id), w.staff.id, "sync:web")
            for e in entries
        ), (op, [(e.action, e.record_type, e.record_id, e.client) for e in entries])
    last = await _last_id(client)
    stale = {"mid": 1, "op": Op.UPDATE_BOOKING, "args": {"id": booking, "base_version": 1}}
    [refused] = await _push(w, w.staff, [stale])
    assert refused["status"] == "rejected"
    assert await _since(client, last) == []


async def test_a_job_s_changes_are_audited_as_nobody_s_from_the_job_client(
    client: TestClient, clock: Clock, admin: Person, make_person: MakePerson
) -> None:
    """A no-show released by the sweep: the release is recorded, by no user, client ``job``."""
    w = await _world(client, clock, admin, make_person)
    missed = await w.booking(w.staff, w.campus.room_101, 10)
    clock.set(w.monday, 10, 15)
    try:
        await run_due_jobs(jobs(client))
    finally:
        clock.fixed = None
    released = [e for e in await _entries_of(w, "bookings", missed) if e.action != "create"]
    assert [(e.actor_id, e.client) for e in released] == [(None, "job")]
    assert released[0].before == {"status": "confirmed", "version": 1}
    assert released[0].after == {"status": "released", "version": 2}
