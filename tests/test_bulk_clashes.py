"""Bulk booking imports where many rows clash: each refused row carries its problem, and
refusing rows costs the same statements however many rows are refused (no per-row search
for alternatives, no per-row round trips)."""

from __future__ import annotations

from datetime import date, timedelta
from typing import Any

from aiohttp.test_utils import TestClient

from tests.booking_helpers import at, book, make_campus, next_weekday
from tests.conftest import Person
from tests.support import statements_sent


def _rows(count: int, room: str, hour: int) -> list[dict[str, Any]]:
    """``count`` one-hour rows in ``room`` at ``hour`` on successive days: every other one
    clashes with the standing booking of that day (``_stand``), the rest are clean."""
    return [
        {
            "external_id": f"{room}-{offset}",
            "room": room,
            "start": at(_day(offset), hour),
            "end": at(_day(offset), hour + 1),
            "title": f"Row {offset}",
        }
        for offset in range(count)
    ]


def _day(offset: int) -> date:
    """The ``offset``-th weekday from a Monday two weeks ahead (rooms close at weekends)."""
    weeks, day = divmod(offset, 5)
    return next_weekday(0) + timedelta(weeks=weeks, days=day)


async def _stand(client: TestClient, admin: Person, room_id: int, count: int, hour: int) -> None:
    """A private booking in ``room_id`` at ``hour`` on every other of ``count`` days."""
    for offset in range(0, count, 2):
        day = _day(offset)
        made = await book(client, admin, room_id, at(day, hour), at(day, hour + 1), private=True)
        assert made.status == 201, await made.text()


async def _import(client: TestClient, admin: Person, rows: list[dict[str, Any]]) -> Any:
    response = await client.post(
        "/api/v1/bookings:bulk", json={"rows": rows}, headers=admin.headers
    )
    assert response.status == 200, await response.text()
    return await response.json()


async def test_refused_rows_carry_the_problem_a_single_booking_gets(
    client: TestClient, admin: Person
) -> None:
    """A row that meets a standing booking is refused under ``room`` with the single booking's
    detail and the booking in its way named; one in a closed room with its rule; the clean
    rows between them go in."""
    campus = await make_campus(client, admin)
    await _stand(client, admin, campus.room_101, 4, 9)
    rows = [*_rows(4, "PB/101", 9), *_rows(1, "ENG/2", 9)]
    body = await _import(client, admin, rows)
    assert [r["status"] for r in body["results"]] == [
        "rejected",
        "created",
        "rejected",
        "created",
        "rejected",
    ]
    alone = await book(client, admin, campus.room_101, rows[0]["start"], rows[0]["end"])
    assert alone.status == 409
    problem = await alone.json()
    assert problem["alternatives"]["rooms"], "a single booking is offered alternatives"
    [error] = body["results"][0]["errors"]
    [standing] = problem["conflicting"]
    assert error["field"] == "room"
    assert error["message"] == f"{problem['detail']}; in the way: Lecture ({standing['id']})"
    [closed] = body["results"][4]["errors"]
    assert closed["field"] == "room"
    assert "not open for booking" in closed["message"]


async def test_a_row_is_refused_for_the_bookings_in_its_way_when_it_came(
    client: TestClient, admin: Person
) -> None:
    """A refused row names what stood in its way, not a booking a later row made in its time."""
    campus = await make_campus(client, admin)
    await _stand(client, admin, campus.room_101, 1, 9)
    monday = next_weekday(0)
    long_row = {
        "external_id": "long",
        "room": "PB/101",
        "start": at(monday, 9),
        "end": at(monday, 12),
        "title": "Long",
    }
    later = {**long_row, "external_id": "later", "start": at(monday, 11), "title": "Later"}
    body = await _import(client, admin, [long_row, later])
    assert [r["status"] for r in body["results"]] == ["rejected", "created"]
    message = body["results"][0]["errors"][0]["message"]
    assert "in the way: Lecture (" in message
    assert "Later" not in message


async def test_refusing_more_rows_sends_no_more_statements(
    client: TestClient, admin: Person
) -> None:
    """Twice as many rows, half of them clashing, cost the same statements: a refused row is
    judged in memory like a clean one."""
    campus = await make_campus(client, admin)
    await _stand(client, admin, campus.room_101, 40, 9)
    await _stand(client, admin, campus.room_102, 80, 9)
    with statements_sent(client) as few:
        small = await _import(client, admin, _rows(40, "PB/101", 9))
    with statements_sent(client) as many:
        large = await _import(client, admin, _rows(80, "PB/102", 9))
    assert small["summary"]["rejected"] == 20
    assert large["summary"]["rejected"] == 40
    assert large["summary"]["created"] == 40
    assert len(many) == len(few), many
