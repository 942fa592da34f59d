"""``Idempotency-Key`` under concurrency: requests sent together with one key act once, and
every one of them gets the first answer with its headers, on one process or on two."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import aiohttp
from aiohttp.test_utils import TestClient

from tests.booking_helpers import at, book, make_campus, next_weekday
from tests.conftest import Person
from tests.servers import running_servers
from tests.support import problem_of

#: How many requests with one key are sent at once.
TOGETHER = 8


class Answer:
    """What a client got back: status, body and the headers a replay must repeat."""

    def __init__(self, status: int, body: Any, headers: Any) -> None:
        self.status = status
        self.body = body
        self.etag = headers.get("ETag")
        self.location = headers.get("Location")
        self.replayed = headers.get("Idempotent-Replayed") == "true"

    @property
    def seen(self) -> tuple[int, Any, str | None, str | None]:
        return self.status, self.body, self.etag, self.location


def _body(room_id: int, hour: int = 9) -> dict[str, Any]:
    monday = next_weekday(0)
    return {"room_id": room_id, "start": at(monday, hour), "end": at(monday, hour + 1)}


def _check_one_booking_and_replays(answers: list[Answer]) -> None:
    """One answer made the booking; every other one is its replay, identical to it."""
    made = [a for a in answers if not a.replayed]
    assert len(made) == 1, [a.seen for a in answers]
    first = made[0]
    assert first.status == 201, first.body
    assert first.etag == f'"{first.body["version"]}"'
    assert first.location == f"/api/v1/bookings/{first.body['id']}"
    assert all(a.seen == first.seen for a in answers), [a.seen for a in answers]


async def _listed(client: TestClient, admin: Person, room_id: int) -> list[dict[str, Any]]:
    listed = await client.get(f"/api/v1/bookings?room_id={room_id}", headers=admin.headers)
    items: list[dict[str, Any]] = (await listed.json())["items"]
    return items


async def test_requests_sent_together_with_one_key_book_once_and_replay(
    client: TestClient, admin: Person
) -> None:
    campus = await make_campus(client, admin)
    body = {**_body(campus.room_101), "title": "Together"}
    headers = {**admin.headers, "Idempotency-Key": "together-1"}

    async def send() -> Answer:
        response = await client.post("/api/v1/bookings", json=body, headers=headers)
        return Answer(response.status, await response.json(), response.headers)

    answers = await asyncio.gather(*(send() for _ in range(TOGETHER)))

    _check_one_booking_and_replays(list(answers))
    assert [b["id"] for b in await _listed(client, admin, campus.room_101)] == [
        answers[0].body["id"]
    ]


async def test_a_replay_carries_the_etag_and_location_of_the_first_answer(
    client: TestClient, admin: Person
) -> None:
    campus = await make_campus(client, admin)
    body = {**_body(campus.room_102), "title": "Once"}
    headers = {**admin.headers, "Idempotency-Key": "once-1"}
    first = await client.post("/api/v1/bookings", json=body, headers=headers)
    again = await client.post("/api/v1/bookings", json=body, headers=headers)
    answers = [
        Answer(first.status, await first.json(), first.headers),
        Answer(again.status, await again.json(), again.headers),
    ]
    assert [a.replayed for a in answers] == [False, True]
    _check_one_booking_and_replays(answers)


async def test_a_refusal_is_replayed_even_when_the_room_frees_up(
    client: TestClient, admin: Person
) -> None:
    campus = await make_campus(client, admin)
    wanted = _body(campus.room_101)
    made = await book(client, admin, campus.room_101, wanted["start"], wanted["end"])
    blocker = await made.json()
    headers = {**admin.headers, "Idempotency-Key": "refused-1"}
    body = {**wanted, "title": "Refused"}
    refused = await problem_of(
        await client.post("/api/v1/bookings", json=body, headers=headers), 409
    )
    assert refused["type"] == "room-overlap"
    cancelled = await client.delete(
        f"/api/v1/bookings/{blocker['id']}", headers={**admin.headers, "If-Match": '"1"'}
    )
    assert cancelled.status == 200, await cancelled.text()

    again = await client.post("/api/v1/bookings", json=body, headers=headers)

    assert await problem_of(again, 409) == refused
    assert again.headers["Idempotent-Replayed"] == "true"
    assert "ETag" not in again.headers and "Location" not in again.headers
    assert await _listed(client, admin, campus.room_101) == []


async def test_two_server_processes_book_once_for_one_key(
    client: TestClient, admin: Person, database_url: str, tmp_path: Path
) -> None:
    campus = await make_campus(client, admin)
    body = {**_body(campus.room_201), "title": "Across"}
    headers = {**admin.headers, "Idempotency-Key": "across-1"}
    async with (
        running_servers(database_url, tmp_path, count=2) as urls,
        aiohttp.ClientSession() as session,
    ):

        async def send(index: int) -> Answer:
            url = f"{urls[index % len(urls)]}/api/v1/bookings"
            async with session.post(url, json=body, headers=headers) as response:
                return Answer(response.status, await response.json(), response.headers)

        answers = await asyncio.gather(*(send(i) for i in range(TOGETHER)))

    _check_one_booking_and_replays(list(answers))
    assert [b["id"] for b in await _listed(client, admin, campus.room_201)] == [
        answers[0].body["id"]
    ]
