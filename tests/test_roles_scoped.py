"""The role walk for building managers: every scoped endpoint, by a manager of one building,
on that building (allowed) and on another (403 naming it), whatever the manager's role."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import timedelta
from typing import Any
from urllib.parse import urlencode

import pytest
from aiohttp import ClientResponse
from aiohttp.test_utils import TestClient

from compax_server.keys import ENDPOINTS
from sync.permissions import Role
from tests.booking_helpers import at, bulk, make_campus, next_weekday
from tests.conftest import MakePerson, Person
from tests.support import problem_of, with_version


@dataclass
class Place:
    """One building of the test campus as the walk uses it: its id, code and a room in it."""

    id: int
    code: str
    room: int
    blackout: int


@dataclass
class Walk:
    client: TestClient
    admin: Person
    manager: Person
    own: Place
    other: Place
    #: A staff member whose requests in either building wait for approval.
    requester: Person


Send = Callable[[Walk, Place], Awaitable[ClientResponse]]


def _window() -> dict[str, str]:
    monday = next_weekday(0)
    return {"from": at(monday, 0), "to": at(monday + timedelta(days=1), 0)}


async def _patch(walk: Walk, path: str, body: dict[str, Any]) -> ClientResponse:
    current = await (await walk.client.get(path, headers=walk.admin.headers)).json()
    headers = with_version(walk.manager.headers, current["version"])
    return await walk.client.patch(path, json=body, headers=headers)


def _blackout(**where: Any) -> dict[str, Any]:
    monday = next_weekday(0)
    return {"start": at(monday, 8), "end": at(monday, 9), "reason": "Repairs", **where}


async def _request(walk: Walk, place: Place, path: str) -> Any:
    """A pending request (a booking, or a weekly series) by the requester in ``place``."""
    monday = next_weekday(0)
    if path == "bookings":
        body: dict[str, Any] = {"start": at(monday, 14), "end": at(monday, 15)}
    else:
        body = {
            "frequency": "weekly",
            "weekdays": ["mon"],
            "first_day": monday.isoformat(),
            "last_day": (monday + timedelta(days=14)).isoformat(),
            "start_time": "16:00",
            "end_time": "17:00",
        }
    response = await walk.client.post(
        f"/api/v1/{path}",
        json={"room_id": place.room, "title": "Waits", "purpose": "meeting", **body},
        headers=walk.requester.headers,
    )
    assert response.status == 201, await response.text()
    return await response.json()


async def _decide_booking(walk: Walk, place: Place, verdict: str) -> ClientResponse:
    booking = await _request(walk, place, "bookings")
    assert booking["status"] == "pending", booking
    return await walk.client.post(
        f"/api/v1/bookings/{booking['id']}/{verdict}",
        json={"reason": "Fine by the building"},
        headers=with_version(walk.manager.headers, booking["version"]),
    )


async def _decide_series(walk: Walk, place: Place, verdict: str) -> ClientResponse:
    series = await _request(walk, place, "series")
    return await walk.client.post(
        f"/api/v1/series/{series['series']['id']}/{verdict}",
        json={"reason": "Fine by the building"},
        headers=walk.manager.headers,
    )


#: How to call each scoped endpoint in a building, and the status that means it was done.
CALLS: dict[str, tuple[Send, int]] = {
    "update_building": (
        lambda w, p: _patch(w, f"/api/v1/buildings/{p.id}", {"name": "Renamed"}),
        200,
    ),
    "create_room": (
        lambda w, p: w.client.post(
            "/api/v1/rooms",
            json={"building": p.code, "code": "900", "capacity": 10},
            headers=w.manager.headers,
        ),
        201,
    ),
    "update_room": (lambda w, p: _patch(w, f"/api/v1/rooms/{p.room}", {"capacity": 33}), 200),
    "delete_room": (
        lambda w, p: w.client.delete(f"/api/v1/rooms/{p.room}", headers=w.manager.headers),
        204,
    ),
    "create_blackout": (
        lambda w, p: w.client.post(
            "/api/v1/blackouts", json=_blackout(building=p.code), headers=w.manager.headers
        ),
        201,
    ),
    "delete_blackout": (
        lambda w, p: w.client.delete(f"/api/v1/blackouts/{p.blackout}", headers=w.manager.headers),
        204,
    ),
    "utilisation": (
        lambda w, p: w.client.get(
            f"/api/v1/reports/utilisation?{urlencode({**_window(), 'building': p.code})}",
            headers=w.manager.headers,
        ),
        200,
    ),
    "issue_report": (
        lambda w, p: w.client.get(
            f"/api/v1/reports/issues?{urlencode({**_window(), 'building': p.code})}",
            headers=w.manager.headers,
        ),
        200,
    ),
    "list_managers": (
        lambda w, p: w.client.get(f"/api/v1/buildings/{p.id}/managers", headers=w.manager.headers),
        200,
    ),
    "list_approvals": (
        lambda w, p: w.client.get(
            f"/api/v1/approvals?building={p.code}", headers=w.manager.headers
        ),
        200,
    ),
    "approve_booking": (lambda w, p: _decide_booking(w, p, "approve"), 200),
    "reject_booking": (lambda w, p: _decide_booking(w, p, "reject"), 200),
    "approve_series": (lambda w, p: _decide_series(w, p, "approve"), 200),
    "reject_series": (lambda w, p: _decide_series(w, p, "reject"), 200),
}

#: Scoped endpoints whose refusal is per row rather than 403 (``rows_refused``).
BULK = {"bulk_rooms"}


async def _walk(client: TestClient, make_person: MakePerson, role: Role) -> Walk:
    admin = await make_person(Role.ADMIN)
    await make_campus(client, admin)
    made = await bulk(
        client,
        admin,
        "rooms",
        [
            {"building": "PB", "code": "SPARE", "capacity": 1},
            {"building": "ENG", "code": "SPARE", "capacity": 1},
        ],
    )
    blackouts = []
    for code in ("PB", "ENG"):
        response = await client.post(
            "/api/v1/blackouts", json=_blackout(building=code), headers=admin.headers
        )
        assert response.status == 201, await response.text()
        blackouts.append((await response.json())["blackout"]["id"])
    buildings = {
        b["code"]: b["id"]
        for b in (await (await client.get("/api/v1/buildings", headers=admin.headers)).json())[
            "items"
        ]
    }
    own = Place(buildings["PB"], "PB", made[0]["id"], blackouts[0])
    other = Place(buildings["ENG"], "ENG", made[1]["id"], blackouts[1])
    for place in (own, other):
        building = f"/api/v1/buildings/{place.id}"
        current = await (await client.get(building, headers=admin.headers)).json()
        required = await client.patch(
            building,
            json={"approval_roles": ["staff"]},
            headers=with_version(admin.headers, current["version"]),
        )
        assert required.status == 200, await required.text()
    manager = await make_person(role)
    granted = await client.put(
        f"/api/v1/buildings/{own.id}/managers/{manager.id}", headers=admin.headers
    )
    assert granted.status == 200, await granted.text()
    return Walk(client, admin, manager, own, other, await make_person(Role.STAFF))


async def test_the_walk_covers_exactly_the_scoped_endpoints(client: TestClient) -> None:
    """A new scoped endpoint without a way to call it here fails, so none goes unwalked."""
    assert client.app is not None
    scoped = {e.name for e in client.app[ENDPOINTS] if e.scoped}
    assert scoped == CALLS.keys() | BULK


@pytest.mark.parametrize("role", [Role.STAFF, Role.STUDENT])
@pytest.mark.parametrize("name", sorted(CALLS))
async def test_a_manager_acts_in_their_building_only(
    client: TestClient, make_person: MakePerson, name: str, role: Role
) -> None:
    walk = await _walk(client, make_person, role)
    send, done = CALLS[name]
    refused = await send(walk, walk.other)
    problem = await problem_of(refused, 403)
    assert problem["building"] == "ENG", problem
    assert problem["field"], problem
    allowed = await send(walk, walk.own)
    assert allowed.status == done, await allowed.text()


@pytest.mark.parametrize("name", sorted(CALLS))
async def test_a_user_managing_nothing_is_refused_at_the_door(
    client: TestClient, make_person: MakePerson, name: str
) -> None:
    """Staff who manage no building hold none of these permissions anywhere: 403."""
    walk = await _walk(client, make_person, Role.STAFF)
    walk.manager = await make_person(Role.STAFF)
    send, _ = CALLS[name]
    await problem_of(await send(walk, walk.own), 403)


async def test_room_import_rejects_rows_outside_the_managers_buildings(
    client: TestClient, make_person: MakePerson
) -> None:
    walk = await _walk(client, make_person, Role.STAFF)
    rows = [
        {"building": "PB", "code": "700", "capacity": 5},
        {"building": "ENG", "code": "700", "capacity": 5},
        {"building": "PB", "code": "SPARE", "capacity": 7},
        {"building": "ENG", "code": "SPARE", "capacity": 7},
    ]
    response = await client.post(
        "/api/v1/rooms:bulk", json={"rows": rows}, headers=walk.manager.headers
    )
    assert response.status == 200, await response.text()
    results = (await response.json())["results"]
    assert [r["status"] for r in results] == ["created", "rejected", "updated", "rejected"]
    assert [e["field"] for e in results[1]["errors"]] == ["building"]
    assert "ENG" in results[3]["errors"][0]["message"]
    eng = await client.get("/api/v1/rooms?building=ENG&code=SPARE", headers=walk.admin.headers)
    assert (await eng.json())["items"][0]["capacity"] != 7


async def test_room_blackouts_are_checked_by_the_rooms_building(
    client: TestClient, make_person: MakePerson
) -> None:
    walk = await _walk(client, make_person, Role.STAFF)
    refused = await client.post(
        "/api/v1/blackouts", json=_blackout(room_id=walk.other.room), headers=walk.manager.headers
    )
    problem = await problem_of(refused, 403)
    assert problem["field"] == "room_id"
    made = await client.post(
        "/api/v1/blackouts", json=_blackout(room_id=walk.own.room), headers=walk.manager.headers
    )
    assert made.status == 201, await made.text()


async def test_a_managers_report_covers_their_buildings(
    client: TestClient, make_person: MakePerson
) -> None:
    walk = await _walk(client, make_person, Role.STAFF)
    response = await client.get(
        f"/api/v1/reports/utilisation?{urlencode(_window())}", headers=walk.manager.headers
    )
    assert response.status == 200, await response.text()
    report = await response.json()
    assert {row["building"] for row in report["buildings"]} == {"PB"}
    assert {row["room"].split("/")[0] for row in report["rooms"]} == {"PB"}
    everything = await client.get(
        f"/api/v1/reports/utilisation?{urlencode(_window())}", headers=walk.admin.headers
    )
    assert {row["building"] for row in (await everything.json())["buildings"]} == {"PB", "ENG"}


@pytest.mark.parametrize(
    ("method", "path", "body"),
    [
        ("POST", "/api/v1/buildings", {"code": "NEW", "name": "New"}),
        ("DELETE", "/api/v1/buildings/{own}", None),
        ("POST", "/api/v1/buildings:bulk", {"rows": [{"code": "PB", "name": "Mine"}]}),
        (
            "POST",
            "/api/v1/terms",
            {"name": "T", "first_day": "2030-01-01", "last_day": "2030-02-01"},
        ),
        ("GET", "/api/v1/users", None),
        ("PUT", "/api/v1/buildings/{own}/managers/{me}", None),
        ("DELETE", "/api/v1/buildings/{own}/managers/{me}", None),
    ],
)
async def test_managers_hold_nothing_campus_wide(
    client: TestClient, make_person: MakePerson, method: str, path: str, body: Any
) -> None:
    """Creating, deleting and importing buildings, terms, users and grants stay admin work."""
    walk = await _walk(client, make_person, Role.STAFF)
    url = path.format(own=walk.own.id, me=walk.manager.id)
    response = await client.request(method, url, json=body, headers=walk.manager.headers)
    await problem_of(response, 403)


async def test_managing_a_building_gives_no_rights_over_others_bookings(
    client: TestClient, make_person: MakePerson
) -> None:
    walk = await _walk(client, make_person, Role.STAFF)
    monday = next_weekday(0)
    other = await make_person(Role.STAFF)
    made = await client.post(
        "/api/v1/bookings",
        json={
            "room_id": walk.own.room,
            "start": at(monday, 10),
            "end": at(monday, 11),
            "title": "Theirs",
        },
        headers=other.headers,
    )
    assert made.status == 201, await made.text()
    booking = await made.json()
    cancel = await client.delete(
        f"/api/v1/bookings/{booking['id']}",
        headers=with_version(walk.manager.headers, booking["version"]),
    )
    await problem_of(cancel, 403)


async def test_a_manager_sees_others_private_bookings_as_their_role_does(
    client: TestClient, make_person: MakePerson
) -> None:
    """Managing PB shows no more of a private booking in PB than the manager's role shows,
    read or pulled."""
    walk = await _walk(client, make_person, Role.STAFF)
    other = await make_person(Role.STAFF)
    monday = next_weekday(0)
    made = await client.post(
        "/api/v1/bookings",
        json={
            "room_id": walk.own.room,
            "start": at(monday, 10),
            "end": at(monday, 11),
            "title": "Interview",
            "private": True,
        },
        headers=other.headers,
    )
    assert made.status == 201, await made.text()
    booking_id = (await made.json())["id"]
    read = await client.get(f"/api/v1/bookings/{booking_id}", headers=walk.manager.headers)
    assert read.status == 200, await read.text()
    assert (await read.json())["title"] != "Interview"
    pulled = await client.get("/api/v1/sync/pull?cursor=0", headers=walk.manager.headers)
    rows = [
        change["row"]
        for change in (await pulled.json())["changes"]
        if change["table"] == "bookings" and change["row"]["id"] == booking_id
    ]
    assert rows
    assert all(row["title"] != "Interview" for row in rows)
