"""Concurrent single bookings share transactions (group commit), each answered as if alone."""

from __future__ import annotations

import asyncio
from collections import Counter
from typing import Any

import pytest
from aiohttp.test_utils import TestClient
from sqlalchemy import event
from sqlalchemy.exc import OperationalError

from compax_server.keys import DATABASE
from compax_server.services import booking_writer
from compax_server.services.booking_writer import BookingWriter
from sync.permissions import Role
from tests.booking_helpers import at, book, make_campus, next_weekday
from tests.conftest import MakePerson, Person
from tests.support import with_version


def count_commits(client: TestClient) -> Counter[str]:
    """Counts the transactions the app's engine commits from now on."""
    commits: Counter[str] = Counter()
    engine = client.app[DATABASE].engine.sync_engine
    event.listen(engine, "commit", lambda _conn: commits.update(["commit"]))
    return commits


async def test_concurrent_requests_get_the_answers_they_would_get_alone(
    client: TestClient, admin: Person, make_person: MakePerson
) -> None:
    campus = await make_campus(client, admin)
    people = [await make_person(Role.STAFF) for _ in range(3)]
    monday = next_weekday(0)
    # Each person asks for the same eight hours of room 101: one of each three must win.
    wanted = [
        (person, campus.room_101, at(monday, 8 + hour), at(monday, 9 + hour))
        for hour in range(8)
        for person in people
    ]
    # Two requests that break a rule, and two for other rooms that nobody else wants.
    wanted += [
        (people[0], campus.room_101, at(monday, 6), at(monday, 7)),
        (people[1], campus.closed, at(monday, 10), at(monday, 11)),
        (people[2], campus.room_102, at(monday, 10), at(monday, 11)),
        (people[0], campus.eng_1, at(monday, 10), at(monday, 11)),
    ]
    commits = count_commits(client)

    answers = await asyncio.gather(
        *(book(client, person, room, start, end) for person, room, start, end in wanted)
    )

    bodies = [await answer.json() for answer in answers]
    assert commits["commit"] < len(wanted), "concurrent requests should share transactions"
    for hour in range(8):
        group = list(
            zip(answers[3 * hour : 3 * hour + 3], bodies[3 * hour : 3 * hour + 3], strict=True)
        )
        made = [body for answer, body in group if answer.status == 201]
        refused = [body for answer, body in group if answer.status != 201]
        assert len(made) == 1, [body for _, body in group]
        assert made[0]["room"] == "PB/101"
        assert made[0]["start"].startswith(at(monday, 8 + hour)[:16])
        for body in refused:
            assert body["type"] == "room-overlap"
            assert [c["id"] for c in body["conflicting"]] == [made[0]["id"]]
            assert body["alternatives"]["rooms"], "a refusal still offers alternatives"
    outside, closed, other_room, eng = bodies[-4:]
    assert [a.status for a in answers[-4:]] == [422, 409, 201, 201]
    assert (outside["type"], closed["type"]) == ("outside-hours", "not-bookable")
    assert (other_room["room"], eng["room"]) == ("PB/102", "ENG/1")
    for (person, *_), answer, body in zip(wanted, answers, bodies, strict=True):
        if answer.status == 201:
            assert body["owner"] == person.user.username, "each booking is its requester's"
            read = await client.get(f"/api/v1/bookings/{body['id']}", headers=person.headers)
            assert await read.json() == body, "the answer is the booking as its owner reads it"

    listed = await client.get(
        "/api/v1/bookings", params={"room_id": str(campus.room_101)}, headers=admin.headers
    )
    assert len((await listed.json())["items"]) == 8, "exactly one booking holds each hour"


async def test_a_refusal_in_a_batch_equals_the_refusal_of_a_request_alone(
    client: TestClient, admin: Person, make_person: MakePerson
) -> None:
    campus = await make_campus(client, admin)
    owner, others = await make_person(Role.STAFF), [await make_person(Role.STAFF) for _ in range(6)]
    monday = next_weekday(0)
    first = await book(client, owner, campus.room_101, at(monday, 10), at(monday, 12), private=True)
    assert first.status == 201

    together = await asyncio.gather(
        *(book(client, p, campus.room_101, at(monday, 11), at(monday, 12)) for p in others)
    )
    alone = await book(client, others[0], campus.room_101, at(monday, 11), at(monday, 12))

    expected = await alone.json()
    for answer in together:
        assert answer.status == 409
        body = await answer.json()
        assert body["conflicting"] == expected["conflicting"]
        assert body["alternatives"] == expected["alternatives"]
        assert body["conflicting"][0]["title"] is None, "a private title stays hidden"


async def test_if_a_shared_transaction_fails_each_request_is_tried_alone(
    client: TestClient, admin: Person, make_person: MakePerson, monkeypatch: pytest.MonkeyPatch
) -> None:
    campus = await make_campus(client, admin)
    people = [await make_person(Role.STAFF) for _ in range(10)]
    monday = next_weekday(0)
    batches: list[int] = []

    async def failing(_session: Any, requests: list[Any], *_args: Any, **_kwargs: Any) -> Any:
        batches.append(len(requests))
        raise RuntimeError("the shared transaction failed")

    monkeypatch.setattr(booking_writer, "book_each", failing)
    answers = await asyncio.gather(
        *(
            book(client, person, campus.room_101, at(monday, 8 + i), at(monday, 9 + i))
            for i, person in enumerate(people)
        )
    )

    assert batches, "some requests should have been batched"
    assert [answer.status for answer in answers] == [201] * len(people)


async def test_a_group_that_finds_the_database_unreachable_is_answered_503_at_once(
    client: TestClient, admin: Person, make_person: MakePerson, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Tried alone, each request of the group would only wait for the database in turn: they
    are all answered 503 together, and the requests booked alone are unaffected."""
    campus = await make_campus(client, admin)
    people = [await make_person(Role.STAFF) for _ in range(10)]
    monday = next_weekday(0)
    batches: list[int] = []

    async def unreachable(_session: Any, requests: list[Any], *_args: Any, **_kwargs: Any) -> Any:
        batches.append(len(requests))
        raise OperationalError("SELECT 1", {}, ConnectionRefusedError("connection refused"))

    monkeypatch.setattr(booking_writer, "book_each", unreachable)
    answers = await asyncio.gather(
        *(
            book(client, person, campus.room_101, at(monday, 8 + i), at(monday, 9 + i))
            for i, person in enumerate(people)
        )
    )

    assert batches, "some requests should have been grouped"
    statuses = sorted(answer.status for answer in answers)
    assert statuses == [201] * (len(people) - sum(batches)) + [503] * sum(batches)


async def test_a_user_deactivated_while_their_request_waits_for_its_group_is_refused(
    client: TestClient, admin: Person, make_person: MakePerson, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A request authenticated before its user was deactivated, but written after, in a group:
    it is refused as its token now would be, and the rest of the group is booked."""
    campus = await make_campus(client, admin)
    first, leaving, staying = [await make_person(Role.STAFF) for _ in range(3)]
    monday = next_weekday(0)
    writing, all_in, release = asyncio.Event(), asyncio.Event(), asyncio.Event()
    write_alone, book_now = BookingWriter._write_alone, BookingWriter.book
    arrived: list[int] = []

    async def held_up(self: Any, request: Any) -> Any:
        writing.set()
        await release.wait()
        return await write_alone(self, request)

    async def counted(self: Any, caller: Any, data: Any) -> Any:
        arrived.append(caller.user_id)  # past its token check
        if len(arrived) == 3:
            all_in.set()
        return await book_now(self, caller, data)

    monkeypatch.setattr(BookingWriter, "_write_alone", held_up)
    monkeypatch.setattr(BookingWriter, "book", counted)
    wanted = [(first, 8), (leaving, 9), (staying, 10)]
    alone = asyncio.ensure_future(
        book(client, first, campus.room_101, at(monday, 8), at(monday, 9))
    )
    await writing.wait()
    grouped = [
        asyncio.ensure_future(
            book(client, person, campus.room_102, at(monday, hour), at(monday, hour + 1))
        )
        for person, hour in wanted[1:]
    ]
    await all_in.wait()
    deactivated = await client.patch(
        f"/api/v1/users/{leaving.id}",
        json={"active": False},
        headers=with_version(admin.headers, leaving.user.version),
    )
    assert deactivated.status == 200, await deactivated.text()
    release.set()

    answers = [await alone, *[await request for request in grouped]]

    assert [answer.status for answer in answers] == [201, 401, 201]
    assert "revoked" in (await answers[1].json())["detail"]
