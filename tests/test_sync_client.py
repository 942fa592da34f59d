"""The client engine against a real server over HTTP: offline changes, sync, conflicts."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timedelta

import pytest
from aiohttp.test_utils import TestClient

from sync.engine import Engine
from sync.errors import RoomOverlap
from sync.vocabulary import Scope
from tests.booking_helpers import Campus, at, book, make_campus, next_weekday
from tests.conftest import PASSWORD, MakePerson, Person


def when(text: str) -> datetime:
    return datetime.fromisoformat(text)


async def signed_in(client: TestClient, engines: Callable[[str], Engine], person: Person) -> Engine:
    engine = engines(person.user.username)
    await engine.sign_in(str(client.make_url("")), person.user.username, PASSWORD)
    await engine.sync()
    return engine


async def server_bookings(client: TestClient, person: Person) -> list[dict[str, object]]:
    response = await client.get("/api/v1/bookings?owner=me&limit=500", headers=person.headers)
    return list((await response.json())["items"])


async def test_an_offline_booking_is_pending_until_the_server_confirms_it(
    client: TestClient, admin: Person, make_person: MakePerson, engines: Callable[[str], Engine]
) -> None:
    campus = await make_campus(client, admin)
    staff = await make_person("staff")
    engine = await signed_in(client, engines, staff)
    assert len(engine.reads.rooms()) == 5
    monday = next_weekday(0)

    made = engine.book(campus.room_101, when(at(monday, 9)), when(at(monday, 10)), "Offline")
    assert made["pending"] is True
    assert engine.status()["pending"] == 1
    assert await server_bookings(client, staff) == []

    with pytest.raises(RoomOverlap) as clash:
        engine.book(campus.room_101, when(at(monday, 9, 30)), when(at(monday, 10, 30)), "Clash")
    assert clash.value.extra["conflicting"][0]["id"] == made["id"]
    assert engine.status()["pending"] == 1, "a local clash is refused before it is queued"

    report = await engine.sync()
    assert (report.pushed, report.applied, report.rejected) == (1, 1, 0)
    assert engine.status()["pending"] == 0
    confirmed = engine.reads.booking(made["id"])
    assert confirmed is not None and confirmed["pending"] is False and confirmed["version"] == 1
    assert [b["id"] for b in await server_bookings(client, staff)] == [made["id"]]


async def test_a_refused_change_waits_for_the_user_and_retries_with_an_alternative(
    client: TestClient, admin: Person, make_person: MakePerson, engines: Callable[[str], Engine]
) -> None:
    campus = await make_campus(client, admin)
    staff, rival = await make_person("staff"), await make_person("staff")
    engine = await signed_in(client, engines, staff)
    monday = next_weekday(0)
    mine = engine.book(
        campus.room_101, when(at(monday, 9)), when(at(monday, 10)), "Mine", attendees=30
    )
    assert (await book(client, rival, campus.room_101, at(monday, 9), at(monday, 11))).status == 201

    report = await engine.sync()
    assert report.rejected == 1
    [conflict] = engine.conflicts()
    assert conflict.problem["type"] == "room-overlap"
    assert engine.reads.booking(mine["id"]) is None, "a refused booking is not shown as booked"
    options = conflict.alternatives()
    assert options[0].room_id == campus.room_102
    assert engine.status()["needs_attention"] == 1

    engine.retry(conflict.mid, alternative=1)
    assert engine.conflicts() == []
    await engine.sync()
    held = await server_bookings(client, staff)
    assert [(b["room_id"], b["start"]) for b in held] == [
        (campus.room_102, at(monday, 9).replace("+00:00", "Z"))
    ]
    assert engine.status()["pending"] == 0 and engine.status()["needs_attention"] == 0


async def test_moves_and_cancellations_made_offline_reach_the_server(
    client: TestClient, admin: Person, make_person: MakePerson, engines: Callable[[str], Engine]
) -> None:
    campus: Campus = await make_campus(client, admin)
    staff = await make_person("staff")
    engine = await signed_in(client, engines, staff)
    monday = next_weekday(0)
    first = engine.book(campus.room_101, when(at(monday, 9)), when(at(monday, 10)), "First")
    second = engine.book(campus.room_102, when(at(monday, 9)), when(at(monday, 10)), "Second")
    await engine.sync()

    engine.move(first["id"], start=when(at(monday, 14)), end=when(at(monday, 15)))
    engine.move(first["id"], room_id=campus.eng_1)
    engine.cancel(second["id"])
    assert engine.status()["pending"] == 3
    await engine.sync()

    server = {b["id"]: b for b in await server_bookings(client, staff)}
    assert (server[first["id"]]["room_id"], server[first["id"]]["start"][11:16]) == (
        campus.eng_1,
        "14:00",
    )
    assert server[first["id"]]["version"] == 3
    cancelled = await client.get(f"/api/v1/bookings/{second['id']}", headers=staff.headers)
    assert (await cancelled.json())["status"] == "cancelled"
    local = engine.reads.booking(first["id"])
    assert local is not None and local["version"] == 3 and local["pending"] is False


async def test_a_discarded_change_is_gone_and_the_replica_matches_the_server(
    client: TestClient, admin: Person, make_person: MakePerson, engines: Callable[[str], Engine]
) -> None:
    campus = await make_campus(client, admin)
    staff, rival = await make_person("staff"), await make_person("staff")
    engine = await signed_in(client, engines, staff)
    monday = next_weekday(0)
    engine.book(campus.room_201, when(at(monday, 9)), when(at(monday, 10)), "Lost")
    await book(client, rival, campus.room_201, at(monday, 9), at(monday, 10))
    await engine.sync()
    [conflict] = engine.conflicts()
    engine.discard(conflict.mid)
    assert engine.conflicts() == [] and engine.status()["pending"] == 0
    await engine.sync()

    local = engine.reads.bookings_in([campus.room_201], when(at(monday, 0)), when(at(monday, 23)))
    remote = await (
        await client.get(f"/api/v1/bookings?room_id={campus.room_201}", headers=staff.headers)
    ).json()
    assert [b["id"] for b in local] == [b["id"] for b in remote["items"]]
    assert local[0]["title"] == "Lecture" and local[0]["pending"] is False


async def test_a_series_booked_offline_and_one_occurrence_cancelled(
    client: TestClient, admin: Person, make_person: MakePerson, engines: Callable[[str], Engine]
) -> None:
    from sync.schemas import SeriesCreate

    campus = await make_campus(client, admin)
    staff = await make_person("staff")
    engine = await signed_in(client, engines, staff)
    monday = next_weekday(0)
    rows = engine.book_series(
        SeriesCreate(
            room_id=campus.room_101,
            title="Seminar",
            weekdays=["mon"],
            first_day=monday,
            last_day=monday + timedelta(days=14),
            start_time="10:00",
            end_time="11:00",
        )
    )
    assert len(rows) == 3 and all(r["pending"] for r in rows)
    await engine.sync()
    mine = engine.reads.my_bookings(staff.id)
    assert [b["pending"] for b in mine] == [False, False, False]
    engine.cancel(mine[1]["id"], Scope.THIS)
    await engine.sync()
    statuses = [b["status"] for b in await server_bookings(client, staff)]
    assert statuses == ["confirmed", "confirmed"]
