"""The offline client and the server give the same answer to the same booking request: both
ask the one judge, one against the replica and one against the database."""

from __future__ import annotations

import random
from collections.abc import Callable
from datetime import UTC, datetime, time, timedelta
from typing import Any

import pytest
from aiohttp.test_utils import TestClient

from sync.engine import Engine
from sync.errors import CompaxError
from sync.vocabulary import Scope
from tests.booking_helpers import at, book, make_campus, next_weekday
from tests.conftest import MakePerson, Person
from tests.test_sync_client import signed_in

#: Random requests asked of both sides.
REQUESTS = 40


async def test_the_client_and_the_server_answer_every_request_alike(
    client: TestClient, admin: Person, make_person: MakePerson, engines: Callable[[str], Engine]
) -> None:
    campus = await make_campus(client, admin)
    rooms = [campus.room_101, campus.room_102, campus.room_201, campus.eng_1, campus.closed]
    staff = await make_person("staff")
    monday = next_weekday(0)
    rng = random.Random(3)
    for index in range(12):
        start = datetime.combine(monday, time(8 + rng.randrange(12)), tzinfo=UTC)
        end = start + timedelta(minutes=rng.choice((30, 60, 90)))
        room = rng.choice(rooms[:4])
        await book(client, admin, room, start.isoformat(), end.isoformat(), title=f"Held {index}")
    closed = await client.post(
        "/api/v1/blackouts",
        json={
            "room_id": campus.room_102,
            "start": at(monday, 13),
            "end": at(monday, 15),
            "reason": "Repairs",
        },
        headers=admin.headers,
    )
    assert closed.status == 201, await closed.text()
    short = await client.patch(
        f"/api/v1/rooms/{campus.eng_1}",
        json={"max_duration_minutes": 60},
        headers={**admin.headers, "If-Match": '"1"'},
    )
    assert short.status == 200, await short.text()
    engine = await signed_in(client, engines, staff)

    compared = {"accepted": 0, "refused": 0}
    for _ in range(REQUESTS):
        start = datetime.combine(monday, time(6 + rng.randrange(16)), tzinfo=UTC)
        start += timedelta(minutes=rng.choice((0, 15, 30)))
        end = start + timedelta(minutes=rng.choice((15, 45, 60, 120, 600)))
        room, attendees = rng.choice(rooms), rng.choice((0, 10, 30, 70))
        try:
            engine.check_booking(room, start, end, attendees=attendees)
            local: dict[str, Any] | None = None
        except CompaxError as error:
            local = _comparable(error.type, error.detail, error.extra)

        answer = await book(
            client, staff, room, start.isoformat(), end.isoformat(), attendees=attendees
        )
        body = await answer.json()
        if answer.status == 201:
            assert local is None, (room, start, end, attendees, local)
            cancelled = await client.delete(
                f"/api/v1/bookings/{body['id']}", headers={**staff.headers, "If-Match": '"1"'}
            )
            assert cancelled.status == 200, await cancelled.text()
            compared["accepted"] += 1
            continue
        extra = {k: v for k, v in body.items() if k not in ("type", "detail")}
        assert local == _comparable(body["type"], body["detail"], extra), (room, start, end)
        compared["refused"] += 1
    assert compared["accepted"] and compared["refused"] > REQUESTS // 4, compared


def _comparable(type_: str, detail: str, extra: dict[str, Any]) -> dict[str, Any]:
    """What both sides must agree on: the problem, every rule broken, who is in the way, and
    the alternatives (rooms by id, times as instants)."""
    alternatives = extra.get("alternatives") or {}
    return {
        "type": type_,
        "detail": detail,
        "violations": extra.get("violations"),
        "conflicting": [b["id"] for b in extra.get("conflicting") or []],
        "rooms": [r["id"] for r in alternatives.get("rooms") or []],
        "times": [
            (_instant(t["start"]), _instant(t["end"])) for t in alternatives.get("times") or []
        ],
    }


def _instant(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


async def test_the_client_and_the_server_refuse_a_move_alike(
    client: TestClient, admin: Person, make_person: MakePerson, engines: Callable[[str], Engine]
) -> None:
    """A move into a booking's way, of one booking and of a series' occurrences, is refused
    with the same problem on both sides; the booking being moved does not count as busy."""
    campus = await make_campus(client, admin)
    staff = await make_person("staff")
    monday = next_weekday(0)
    moving = await book(client, staff, campus.room_101, at(monday, 10), at(monday, 11))
    await book(client, admin, campus.room_101, at(monday, 11, 30), at(monday, 12, 30))
    series = await client.post(
        "/api/v1/series",
        json={
            "room_id": campus.room_102,
            "title": "Weekly",
            "weekdays": ["tue"],
            "first_day": str(monday),
            "last_day": str(monday + timedelta(days=14)),
            "start_time": "09:00",
            "end_time": "10:00",
        },
        headers=staff.headers,
    )
    assert series.status == 201, await series.text()
    first = (await series.json())["created"][0]
    tuesday = monday + timedelta(days=8)
    await book(client, admin, campus.room_201, at(tuesday, 14), at(tuesday, 15))
    engine = await signed_in(client, engines, staff)
    booking_id = (await moving.json())["id"]

    cases = [
        (booking_id, Scope.THIS, {"start": at(monday, 11), "end": at(monday, 12)}),
        (
            first["id"],
            Scope.ALL,
            {
                "room_id": campus.room_201,
                "start": at(monday + timedelta(days=1), 14),
                "end": at(monday + timedelta(days=1), 15),
            },
        ),
    ]
    for target, scope, change in cases:
        with pytest.raises(CompaxError) as local:
            engine.move(
                target,
                start=_instant(change["start"]),
                end=_instant(change["end"]),
                room_id=change.get("room_id"),
                scope=scope,
            )
        answer = await client.patch(
            f"/api/v1/bookings/{target}?scope={scope.value}",
            json=change,
            headers={**staff.headers, "If-Match": '"1"'},
        )
        assert answer.status == 409, await answer.text()
        body = await answer.json()
        extra = {k: v for k, v in body.items() if k not in ("type", "detail")}
        error = local.value
        assert _comparable(error.type, error.detail, error.extra) == _comparable(
            body["type"], body["detail"], extra
        )
        assert error.extra.get("dates") == body.get("dates")
