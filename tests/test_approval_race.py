"""Approvals under real concurrency: real server processes (two on Postgres), real HTTP; a
pending request holds its slot, and every decision is made exactly once."""

from __future__ import annotations

import asyncio
import uuid
from collections import Counter
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import timedelta
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from aiohttp.test_utils import TestClient
from sqlalchemy import select, text
from sqlmodel import col

from compax_server.keys import DATABASE
from compax_server.models import AuditEntry, Booking
from sync.permissions import Role
from tests.booking_helpers import at, book, next_weekday
from tests.conftest import MakePerson, Person
from tests.servers import running_servers
from tests.support import with_version
from tests.test_approvals import campus_needing_approval, manager_of
from tests.test_sync_server import create

DAY = next_weekday(1)
HOLDING_OVERLAPS = text("""
    SELECT count(*) FROM bookings a JOIN bookings b
      ON a.room_id = b.room_id AND a.id < b.id AND a.start < b."end" AND b.start < a."end"
     WHERE a.status IN ('confirmed', 'pending') AND b.status IN ('confirmed', 'pending')
""")
pytestmark = pytest.mark.slow
Answer = tuple[int, dict[str, Any]]


@asynccontextmanager
async def servers(database_url: str, tmp_path: Path) -> AsyncIterator[tuple[list[str], Http]]:
    """Two server processes on Postgres, one on SQLite (whose writers take turns anyway)."""
    count = 1 if database_url.startswith("sqlite") else 2
    async with (
        running_servers(database_url, tmp_path, count=count) as urls,
        aiohttp.ClientSession() as session,
    ):
        yield urls, Http(session)


class Http:
    """One session's requests, each answered as its status and JSON body."""

    def __init__(self, session: aiohttp.ClientSession) -> None:
        self.session = session

    async def __call__(self, method: str, url: str, person: Person, **kwargs: Any) -> Answer:
        headers = {**person.headers, **kwargs.pop("headers", {})}
        async with self.session.request(method, url, headers=headers, **kwargs) as response:
            return response.status, await response.json(content_type=None)


async def holding_overlaps(client: TestClient) -> int:
    async with client.app[DATABASE].read() as session:
        return int((await session.execute(HOLDING_OVERLAPS)).scalar_one())


async def statuses(client: TestClient, ids: list[str]) -> dict[str, str]:
    async with client.app[DATABASE].read() as session:
        rows = await session.execute(
            select(col(Booking.id), col(Booking.status)).where(
                col(Booking.id).in_([uuid.UUID(i) for i in ids])
            )
        )
        return {str(booking_id): status for booking_id, status in rows}


async def test_competing_requests_leave_exactly_one_pending(
    client: TestClient, admin: Person, make_person: MakePerson, database_url: str, tmp_path: Path
) -> None:
    """Ten overlapping requests for one room needing approval (plain, idempotent and pushed)
    sent at once: one waits, every other is refused as ``room-overlap``, never a 5xx."""
    campus, _ = await campus_needing_approval(client, admin)
    staff = [await make_person(Role.STAFF) for _ in range(4)]
    async with servers(database_url, tmp_path) as (urls, http):
        clients = {}
        for index in range(2, 10, 3):  # the pushers: a sync client each, on its own process
            clients[index] = str(uuid.uuid4())
            url, person = urls[index % len(urls)], staff[index % len(staff)]
            registered = await http(
                "POST", f"{url}/api/v1/sync/clients", person, json={"client_id": clients[index]}
            )
            assert registered[0] == 200, registered

        async def attempt(index: int) -> Answer:
            url, person = urls[index % len(urls)], staff[index % len(staff)]
            slot = (at(DAY, 10, 15 * (index % 4)), at(DAY, 12 + index % 2))  # all share 11-12
            if index in clients:
                push = {
                    "client_id": clients[index],
                    "schema_version": 1,
                    "mutations": [create(1, campus.room_101, *slot)],
                }
                status, body = await http("POST", f"{url}/api/v1/sync/push", person, json=push)
                if status != 200:
                    return status, body
                [result] = body["results"]
                if result["status"] == "applied":
                    return 201, {"id": push["mutations"][0]["args"]["id"]}  # type: ignore[index]
                return 409, result["problem"]
            body = {"room_id": campus.room_101, "start": slot[0], "end": slot[1], "title": "R"}
            key = {"Idempotency-Key": str(uuid.uuid4())} if index % 3 == 1 else {}
            return await http("POST", f"{url}/api/v1/bookings", person, json=body, headers=key)

        outcomes = await asyncio.gather(*(attempt(i) for i in range(10)))

    assert sorted(status for status, _ in outcomes) == [201] + [409] * 9, outcomes
    assert {body["type"] for status, body in outcomes if status == 409} == {"room-overlap"}
    [winner] = [body["id"] for status, body in outcomes if status == 201]
    assert await statuses(client, [winner]) == {winner: "pending"}
    assert await holding_overlaps(client) == 0


async def test_two_approvers_deciding_at_once_decide_once(
    client: TestClient, admin: Person, make_person: MakePerson, database_url: str, tmp_path: Path
) -> None:
    """An admin and the building's manager decide each of several requests at once, one
    approving and the other rejecting: one decision stands, the other gets 412 or 409
    ``not-pending``, and the audit trail holds exactly one decision per request."""
    campus, pb = await campus_needing_approval(client, admin)
    manager, staff = await manager_of(client, make_person, pb), await make_person(Role.STAFF)
    requests = []
    for hour in range(8, 16):
        made = await book(client, staff, campus.room_102, at(DAY, hour), at(DAY, hour + 1))
        assert made.status == 201, await made.text()
        requests.append(await made.json())
        assert requests[-1]["status"] == "pending"
    async with servers(database_url, tmp_path) as (urls, http):

        async def decide(index: int, person: Person, approve: bool) -> Answer:
            request, url = requests[index], urls[(index + approve) % len(urls)]
            return await http(
                "POST",
                f"{url}/api/v1/bookings/{request['id']}/{'approve' if approve else 'reject'}",
                person,
                json={"reason": "Decided in a race"},
                headers=with_version({}, request["version"]),
            )

        pairs = [((i, admin, i % 2 == 0), (i, manager, i % 2 == 1)) for i in range(len(requests))]
        answers = await asyncio.gather(*(decide(*call) for pair in pairs for call in pair))

    ids = [request["id"] for request in requests]
    final = await statuses(client, ids)
    for index, booking_id in enumerate(ids):
        (first, body_1), (second, body_2) = answers[2 * index : 2 * index + 2]
        assert sorted([first, second]) in ([200, 409], [200, 412]), (body_1, body_2)
        loser = body_2 if first == 200 else body_1
        assert max(first, second) == 412 or loser["type"] == "not-pending", loser
        winner = body_1 if first == 200 else body_2
        assert final[booking_id] == winner["status"] in ("confirmed", "rejected")
    async with client.app[DATABASE].read() as session:
        decisions = await session.execute(
            select(col(AuditEntry.record_id)).where(
                col(AuditEntry.action).in_(["approve", "reject"])
            )
        )
        assert Counter(decisions.scalars()) == Counter(ids)
    assert await holding_overlaps(client) == 0


async def test_a_request_racing_a_direct_booking_leaves_one_holder(
    client: TestClient, admin: Person, make_person: MakePerson, database_url: str, tmp_path: Path
) -> None:
    """Each round a staff request (which waits) and an admin's booking (which does not) ask
    for one slot at once: exactly one of them holds it, the other is ``room-overlap``."""
    campus, _ = await campus_needing_approval(client, admin)
    staff = await make_person(Role.STAFF)
    rounds = range(8, 16)
    async with servers(database_url, tmp_path) as (urls, http):

        async def attempt(hour: int, person: Person) -> Answer:
            url = urls[(hour + (person is admin)) % len(urls)]
            body = {"room_id": campus.room_201, "start": at(DAY, hour), "end": at(DAY, hour + 1)}
            return await http("POST", f"{url}/api/v1/bookings", person, json=body | {"title": "R"})

        answers = await asyncio.gather(*(attempt(h, p) for h in rounds for p in (staff, admin)))

    for index, hour in enumerate(rounds):
        pair = answers[2 * index : 2 * index + 2]
        assert sorted(status for status, _ in pair) == [201, 409], (hour, pair)
        [(_, refused)] = [(s, body) for s, body in pair if s == 409]
        assert refused["type"] == "room-overlap"
        [(_, held)] = [(s, body) for s, body in pair if s == 201]
        assert held["status"] == ("pending" if held["owner_id"] == staff.id else "confirmed")
    assert await holding_overlaps(client) == 0


async def test_approving_a_series_while_an_occurrence_is_cancelled(
    client: TestClient, admin: Person, make_person: MakePerson, database_url: str, tmp_path: Path
) -> None:
    """An admin approves each of several series while its owner cancels one occurrence at
    once: never a 5xx, and the occurrence ends cancelled (left out of the decision) or
    confirmed by it (the cancel refused as stale); every other occurrence is confirmed."""
    campus, _ = await campus_needing_approval(client, admin)
    rep = await make_person(Role.CLASS_REP)
    made = []
    for hour in range(8, 14):
        series = {
            "room_id": campus.room_101,
            "title": f"Series {hour}",
            "weekdays": ["tue", "thu"],
            "first_day": str(DAY),
            "last_day": str(DAY + timedelta(days=13)),
            "start_time": f"{hour:02}:00",
            "end_time": f"{hour:02}:45",
        }
        response = await client.post("/api/v1/series", json=series, headers=rep.headers)
        assert response.status == 201, await response.text()
        made.append(await response.json())
        assert {b["status"] for b in made[-1]["created"]} == {"pending"}
    async with servers(database_url, tmp_path) as (urls, http):

        async def approve(index: int) -> Answer:
            url, series_id = urls[index % len(urls)], made[index]["series"]["id"]
            return await http("POST", f"{url}/api/v1/series/{series_id}/approve", admin, json={})

        async def cancel(index: int) -> Answer:
            occurrence = made[index]["created"][index % len(made[index]["created"])]
            return await http(
                "DELETE",
                f"{urls[(index + 1) % len(urls)]}/api/v1/bookings/{occurrence['id']}",
                rep,
                headers=with_version({}, occurrence["version"]),
            )

        calls = [call(i) for i in range(len(made)) for call in (approve, cancel)]
        answers = await asyncio.gather(*calls)

    for index, result in enumerate(made):
        (approved, decision), (cancelled, cancel_body) = answers[2 * index : 2 * index + 2]
        assert approved == 200 and cancelled in (200, 412), (decision, cancel_body)
        ids = [b["id"] for b in result["created"]]
        target = ids[index % len(ids)]
        decided = {b["id"] for b in decision["decided"]}
        expected = dict.fromkeys(ids, "confirmed")
        if cancelled == 200:
            expected[target] = "cancelled"
            assert decided == set(ids) - {target}
        else:
            assert decided == set(ids)
        assert await statuses(client, ids) == expected
    assert await holding_overlaps(client) == 0
