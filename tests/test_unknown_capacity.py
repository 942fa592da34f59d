"""Rooms of unknown capacity and room codes with spaces and commas, on both databases: what
a booking there may hold, what searches return and in which order, and how such a room is
named."""

from __future__ import annotations

import sqlite3
from contextlib import closing
from datetime import UTC, datetime, timedelta
from pathlib import Path
from urllib.parse import quote, urlencode

import pytest
from aiohttp.test_utils import TestClient
from sqlalchemy.dialects import sqlite
from sqlmodel import col

from compax_server.models import Room
from compax_server.services import availability
from sync.schemas import RoomQuery
from tests.booking_helpers import at, book, bulk, make_campus, next_weekday
from tests.conftest import Person
from tests.support import error_fields, problem_of, with_version

#: A room code as a campus register writes it: spaces, a comma, 60 characters.
LONG_CODE = "LECTURE THEATRE 1, EAST WING (GROUND FLOOR) - BLOCK A & B #2"


async def _add_rooms(client: TestClient, admin: Person) -> list[int]:
    rows = await bulk(
        client,
        admin,
        "rooms",
        [
            {"building": "PB", "code": LONG_CODE},
            {"building": "PB", "code": "Store  9"},
        ],
    )
    return [row["id"] for row in rows]


async def test_free_rooms_put_unknown_capacity_last_and_leave_it_out_of_a_seat_search(
    client: TestClient, admin: Person
) -> None:
    campus = await make_campus(client, admin)
    theatre, store = await _add_rooms(client, admin)
    monday = next_weekday(0)
    query = f"start={quote(at(monday, 10))}&end={quote(at(monday, 11))}"

    found = await client.get(f"/api/v1/rooms/free?{query}", headers=admin.headers)
    assert found.status == 200, await found.text()
    rooms = [(r["id"], r["capacity"]) for r in (await found.json())["items"]]
    assert rooms == [
        (campus.room_201, 20),
        (campus.room_101, 40),
        (campus.eng_1, 40),
        (campus.room_102, 60),
        (theatre, None),
        (store, None),
    ]

    paged: list[int] = []
    cursor = ""
    while True:
        page = await client.get(
            f"/api/v1/rooms/free?{query}&limit=2{cursor}", headers=admin.headers
        )
        assert page.status == 200, await page.text()
        body = await page.json()
        paged += [r["id"] for r in body["items"]]
        if body["next_cursor"] is None:
            break
        cursor = f"&cursor={body['next_cursor']}"
    assert paged == [room_id for room_id, _ in rooms], "pages follow the same order"

    seated = await client.get(f"/api/v1/rooms/free?{query}&capacity=1", headers=admin.headers)
    assert [r["id"] for r in (await seated.json())["items"]] == [
        campus.room_201,
        campus.room_101,
        campus.eng_1,
        campus.room_102,
    ]
    unseated = await client.get(f"/api/v1/rooms/free?{query}&capacity=0", headers=admin.headers)
    assert [r["id"] for r in (await unseated.json())["items"]] == paged, "0 seats asks none"
    listed = await client.get("/api/v1/rooms?capacity=0", headers=admin.headers)
    assert {r["id"] for r in (await listed.json())["items"]}.isdisjoint({theatre, store})


async def test_a_room_of_unknown_capacity_takes_any_number_and_is_no_alternative_for_seats(
    client: TestClient, admin: Person
) -> None:
    campus = await make_campus(client, admin)
    theatre, _ = await _add_rooms(client, admin)
    monday = next_weekday(0)

    crowd = await book(client, admin, theatre, at(monday, 10), at(monday, 11), attendees=900)
    assert crowd.status == 201, await crowd.text()
    await book(client, admin, campus.room_101, at(monday, 12), at(monday, 13))
    clash = await book(client, admin, campus.room_101, at(monday, 12), at(monday, 13), attendees=30)
    problem = await problem_of(clash, 409)
    offered = [room["id"] for room in problem["alternatives"]["rooms"]]
    assert offered and theatre not in offered


async def test_patch_capacity_null_makes_it_unknown(client: TestClient, admin: Person) -> None:
    campus = await make_campus(client, admin)
    path = f"/api/v1/rooms/{campus.room_101}"
    version = (await (await client.get(path, headers=admin.headers)).json())["version"]

    patched = await client.patch(
        path, json={"capacity": None}, headers=with_version(admin.headers, version)
    )
    assert patched.status == 200, await patched.text()
    assert (await patched.json())["capacity"] is None
    monday = next_weekday(0)
    query = f"start={quote(at(monday, 10))}&end={quote(at(monday, 11))}&capacity=10"
    found = await client.get(f"/api/v1/rooms/free?{query}", headers=admin.headers)
    assert campus.room_101 not in [r["id"] for r in (await found.json())["items"]]


async def test_a_code_with_spaces_and_commas_names_its_room(
    client: TestClient, admin: Person
) -> None:
    await make_campus(client, admin)
    theatre, store = await _add_rooms(client, admin)

    read = await (await client.get(f"/api/v1/rooms/{theatre}", headers=admin.headers)).json()
    assert (read["code"], read["capacity"]) == (LONG_CODE, None)
    assert len(read["code"]) == 60
    query = urlencode({"building": "PB", "code": LONG_CODE.lower()})
    named = await client.get(f"/api/v1/rooms?{query}", headers=admin.headers)
    assert [r["id"] for r in (await named.json())["items"]] == [theatre]
    spaced = await client.get("/api/v1/rooms?building=PB&code=STORE%209", headers=admin.headers)
    assert [r["id"] for r in (await spaced.json())["items"]] == [store]


async def test_the_utilisation_report_says_which_rooms_have_unknown_seats(
    client: TestClient, admin: Person
) -> None:
    campus = await make_campus(client, admin)
    theatre, _ = await _add_rooms(client, admin)
    monday = next_weekday(0)
    await book(client, admin, campus.room_101, at(monday, 9), at(monday, 11), attendees=30)
    await book(client, admin, theatre, at(monday, 9), at(monday, 10), attendees=200)
    window = urlencode(
        {"from": at(monday, 0), "to": at(monday + timedelta(days=1), 0), "building": "PB"}
    )

    response = await client.get(f"/api/v1/reports/utilisation?{window}", headers=admin.headers)
    assert response.status == 200, await response.text()
    report = await response.json()
    rooms = {row["room_id"]: row for row in report["rooms"]}
    assert (rooms[theatre]["capacity"], rooms[theatre]["capacity_unknown"]) == (None, 1)
    assert rooms[theatre]["seat_occupancy"] is None
    assert rooms[theatre]["booked_hours"] == 1.0
    assert (rooms[campus.room_101]["capacity"], rooms[campus.room_101]["seat_occupancy"]) == (
        40,
        0.75,
    )
    [building] = report["buildings"]
    assert (building["capacity"], building["capacity_unknown"]) == (120, 2)
    assert building["seat_occupancy"] == 0.75, "rooms of unknown capacity are left out"


async def test_a_badly_written_code_or_label_is_refused_naming_its_field(
    client: TestClient, admin: Person
) -> None:
    await make_campus(client, admin)
    for code in ("A/B", "X" * 65, " -lead"):
        response = await client.post(
            "/api/v1/rooms", json={"building": "PB", "code": code}, headers=admin.headers
        )
        assert error_fields(await problem_of(response, 422)) == ["code"], code
    monday = next_weekday(0)
    row = {"room": "PB/" + "X" * 79, "start": at(monday, 10), "end": at(monday, 11)}
    rows = [row, {**row, "room": "PB"}]
    response = await client.post(
        "/api/v1/bookings:bulk", json={"rows": rows}, headers=admin.headers
    )
    assert response.status == 200, await response.text()
    results = (await response.json())["results"]
    assert [r["status"] for r in results] == ["rejected", "rejected"]
    assert [[e["field"] for e in r["errors"]] for r in results] == [["room"], ["room"]]


@pytest.mark.parametrize("capacity", [None, 30])
def test_the_free_room_order_reads_the_capacity_index_without_sorting(
    sqlite_template: Path, capacity: int | None
) -> None:
    """Unknown capacities last (``NULLS LAST``) is still the order of ``ix_rooms_capacity_id``,
    so that a search stops after the rooms it needs instead of sorting every room first."""
    start = datetime(2027, 1, 11, 10, tzinfo=UTC)
    statement = availability._free_rooms_statement(
        start, start + timedelta(hours=1), RoomQuery(capacity=capacity)
    ).order_by(col(Room.capacity).nulls_last(), col(Room.id))
    compiled = statement.compile(dialect=sqlite.dialect(), compile_kwargs={"literal_binds": True})
    with closing(sqlite3.connect(sqlite_template)) as db:
        plan = [row[3] for row in db.execute(f"EXPLAIN QUERY PLAN {compiled}")]
    assert any("ix_rooms_capacity_id" in step for step in plan), plan
    assert not any("TEMP B-TREE" in step for step in plan), plan
