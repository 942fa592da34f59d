"""The batch core of push answers every mutation exactly as the one-by-one path would."""

from __future__ import annotations

import asyncio
import shutil
import uuid
from collections.abc import Iterator
from datetime import UTC, date, datetime, time, timedelta
from pathlib import Path
from typing import Any

import asyncpg
import pytest
from aiohttp.test_utils import TestClient
from sqlalchemy import text
from sqlalchemy.engine import make_url

from compax_server.app import create_app
from compax_server.db import Database
from compax_server.keys import ACCESS_TOKENS, BOOKING_POLICY, DATABASE, PASSWORDS
from compax_server.services import booking_batch
from compax_server.services import sync as sync_service
from compax_server.services.common import LOCK_ROOM
from compax_server.services.users import access_token, create_user
from sync.permissions import Role
from sync.schemas import BookingCreate, UserCreate
from tests.booking_helpers import Campus, at, book, make_campus, next_weekday
from tests.conftest import PASSWORD, AiohttpClient, Person, make_settings
from tests.test_sync_server import create, push, register


@pytest.fixture
def twin_database_url(
    database_url: str, request: pytest.FixtureRequest, tmp_path: Path
) -> Iterator[str]:
    """A second empty, migrated database of the same kind as ``database_url``."""
    if database_url.startswith("sqlite"):
        path = tmp_path / "twin.sqlite3"
        shutil.copy(request.getfixturevalue("sqlite_template"), path)
        yield f"sqlite:///{path}"
        return
    server = make_url(request.getfixturevalue("postgres_server_url"))
    name = f"compax_twin_{uuid.uuid4().hex[:12]}"
    admin_dsn = server.set(drivername="postgresql").render_as_string(hide_password=False)

    async def admin(sql: str) -> None:
        conn = await asyncpg.connect(admin_dsn)
        try:
            await conn.execute(sql)
        finally:
            await conn.close()

    async def migrate(url: str) -> None:
        database = Database(url)
        try:
            await database.migrate()
        finally:
            await database.dispose()

    asyncio.run(admin(f'CREATE DATABASE "{name}"'))
    url = server.set(database=name).render_as_string(hide_password=False)
    try:
        asyncio.run(migrate(url))
        yield url
    finally:
        asyncio.run(admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))


async def people(client: TestClient) -> list[Person]:
    """An admin and two staff users, made in the same order (so with the same ids) each time."""
    app = client.app
    assert app is not None
    made = []
    for username, role in (("root", Role.ADMIN), ("staff1", Role.STAFF), ("staff2", Role.STAFF)):
        data = UserCreate(username=username, password=PASSWORD, role=role)
        async with app[DATABASE].write() as session:
            user = await create_user(session, data, await app[PASSWORDS].hash(PASSWORD))
        assert user.id is not None
        made.append(Person(user, access_token(app[ACCESS_TOKENS], user).token))
    return made


def scenario(campus: Campus, ids: list[str]) -> list[dict[str, Any]]:
    """Mutations that meet every rule, clash with each other and with what is booked already,
    with other ops in between; ``ids[mid]`` is the client-made id of mutation ``mid``'s booking."""
    monday, tuesday = next_weekday(0), next_weekday(1)

    def made(mid: int, room: int, start: str, end: str, **fields: Any) -> dict[str, Any]:
        return create(mid, room, start, end, **{"id": ids[mid], **fields})

    def half_hour(day: date, slot: int) -> tuple[str, str]:
        start = datetime.combine(day, time(8), tzinfo=UTC) + timedelta(minutes=30 * slot)
        return start.isoformat(), (start + timedelta(minutes=30)).isoformat()

    return [
        made(1, campus.room_101, at(monday, 9), at(monday, 10)),
        made(2, campus.room_101, at(monday, 9, 30), at(monday, 10, 30)),  # clashes with 1
        made(3, campus.room_102, at(monday, 12), at(monday, 13)),
        made(4, campus.closed, at(monday, 9), at(monday, 10)),  # not bookable
        made(5, campus.room_102, at(monday, 21, 30), at(monday, 23)),  # outside hours
        made(6, campus.room_102, at(monday, 10), at(monday, 11)),  # someone else's booking
        made(7, campus.room_201, at(tuesday, 10), at(tuesday, 11)),  # blackout
        made(8, 999_999, at(monday, 9), at(monday, 10)),  # no such room
        made(9, campus.room_201, at(monday, 9), at(monday, 10), owner="staff2"),  # not allowed
        made(10, campus.room_201, at(monday, 9), at(monday, 10)),
        {
            "mid": 11,
            "op": "update_booking",
            "args": {
                "id": ids[1],
                "base_version": 1,
                "start": at(monday, 10),
                "end": at(monday, 11),
            },
        },
        made(12, campus.room_101, at(monday, 10, 30), at(monday, 11, 30)),  # clashes with 11
        made(13, campus.room_101, at(monday, 9), at(monday, 10)),  # freed by 11
        {"mid": 14, "op": "cancel_booking", "args": {"id": ids[10], "base_version": 1}},
        made(15, campus.room_201, at(monday, 9), at(monday, 10)),  # freed by 14
        made(16, campus.room_201, at(monday, 11), at(monday, 10)),  # ends before it starts
        made(17, campus.eng_1, at(monday, 8), at(monday, 9), id=ids[1]),  # id taken by 1
        made(18, campus.eng_1, at(monday, 8), at(monday, 9)),
        *(made(mid, campus.eng_1, *half_hour(tuesday, mid - 19)) for mid in range(19, 41)),
    ]


async def play(
    client: TestClient, ids: list[str], *, batch: bool, monkeypatch: pytest.MonkeyPatch
) -> tuple[list[Any], list[Any], list[Any], list[str]]:
    """The scenario pushed on a fresh database: both answers (the second replays the first),
    the bookings the database holds afterwards, and the ids of the bookings the batch core
    left to the one-by-one path."""
    admin, staff, other = await people(client)
    campus = await make_campus(client, admin)
    monday, tuesday = next_weekday(0), next_weekday(1)
    theirs = await book(
        client, other, campus.room_102, at(monday, 9, 30), at(monday, 10, 30), id=ids[0]
    )
    assert theirs.status == 201
    closed = await client.post(
        "/api/v1/blackouts",
        json={
            "room_id": campus.room_201,
            "start": at(tuesday, 8),
            "end": at(tuesday, 12),
            "reason": "Painting",
        },
        headers=admin.headers,
    )
    assert closed.status == 201, await closed.text()
    if not batch:
        monkeypatch.setattr(sync_service._Chunk, "_booking_to_create", lambda self, m: None)
    alone: list[str] = []
    one_by_one = booking_batch.create_booking

    async def counted(
        session: Any, actor: Any, data: BookingCreate, policy: Any, **options: Any
    ) -> Any:
        alone.append(str(data.id))
        return await one_by_one(session, actor, data, policy, **options)

    monkeypatch.setattr(booking_batch, "create_booking", counted)
    monkeypatch.setattr(sync_service, "CHUNK", 16)
    client_id = await register(client, staff)
    mutations = scenario(campus, ids)
    first = await push(client, staff, client_id, mutations)
    again = await push(client, staff, client_id, mutations)
    monkeypatch.undo()
    async with client.app[DATABASE].read() as session:
        rows = await session.execute(
            text('SELECT id, room_id, start, "end", status, version FROM bookings ORDER BY id')
        )
        held = [tuple(row) for row in rows]
    return first["results"], again["results"], held, alone


async def test_a_batch_push_answers_as_the_one_by_one_path(
    aiohttp_client: AiohttpClient,
    database_url: str,
    twin_database_url: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    ids = [str(uuid.uuid4()) for _ in range(41)]
    batched = await aiohttp_client(create_app(make_settings(database_url, tmp_path / "a")))
    alone = await aiohttp_client(create_app(make_settings(twin_database_url, tmp_path / "b")))

    results, replayed, held, left = await play(batched, ids, batch=True, monkeypatch=monkeypatch)
    expected, _, expected_held, _ = await play(alone, ids, batch=False, monkeypatch=monkeypatch)

    assert results == expected
    assert replayed == results, "a replay answers the stored outcomes"
    assert held == expected_held
    assert left == [ids[mid] for mid in (2, 4, 5, 6, 7, 8, 9, 12, 1)], (
        "only the requests the in-memory check could not pass went one by one (17 reuses 1's id)"
    )
    outcome = {r["mid"]: r["problem"]["type"] if r["problem"] else r["status"] for r in results}
    assert outcome == {
        1: "applied",
        2: "room-overlap",
        3: "applied",
        4: "not-bookable",
        5: "outside-hours",
        6: "room-overlap",
        7: "blackout",
        8: "validation",
        9: "forbidden",
        10: "applied",
        11: "applied",
        12: "room-overlap",
        13: "applied",
        14: "applied",
        15: "applied",
        16: "validation",
        17: "duplicate",
        18: "applied",
        **dict.fromkeys(range(19, 41), "applied"),
    }


async def test_the_database_has_the_last_word_over_the_batch(
    client: TestClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A clash the batch did not see (as a concurrent writer's would be) makes the database
    skip or refuse the insert; the batch is undone and each request answered one by one."""
    admin, staff, other = await people(client)
    campus = await make_campus(client, admin)
    monday = next_weekday(0)
    theirs = await book(client, other, campus.room_101, at(monday, 9), at(monday, 10))
    monkeypatch.setattr(booking_batch.Busy, "clashes", lambda self, start, end: False)
    client_id = await register(client, staff)
    answer = await push(
        client,
        staff,
        client_id,
        [
            create(1, campus.room_102, at(monday, 9), at(monday, 10)),
            create(2, campus.room_101, at(monday, 9, 30), at(monday, 10, 30)),
            create(3, campus.room_201, at(monday, 9), at(monday, 10)),
        ],
    )
    assert [r["status"] for r in answer["results"]] == ["applied", "rejected", "applied"]
    problem = answer["results"][1]["problem"]
    assert problem["type"] == "room-overlap"
    assert [c["id"] for c in problem["conflicting"]] == [(await theirs.json())["id"]]
    listed = await client.get(f"/api/v1/bookings?room_id={campus.room_101}", headers=admin.headers)
    assert len((await listed.json())["items"]) == 1


@pytest.mark.parametrize(
    "database_url", [pytest.param("postgres", marks=pytest.mark.postgres)], indirect=True
)
async def test_a_batch_takes_its_turn_in_each_of_its_rooms_first(
    client: TestClient, admin: Person
) -> None:
    """Several bookings in one transaction hold its turn in each of their rooms (advisory
    locks taken by the store before anything else) until it commits, so that a move never
    waits on them while they wait on it."""
    campus = await make_campus(client, admin)
    database = client.app[DATABASE]
    monday = next_weekday(0)
    requests = [
        BookingCreate(room_id=room_id, start=at(monday, 9), end=at(monday, 10), title="Turn")
        for room_id in (campus.room_102, campus.room_101, campus.room_102)
    ]
    held_turns = text(
        "SELECT objid FROM pg_locks WHERE locktype = 'advisory' AND classid = :kind AND granted"
    )
    async with database.write() as session:
        outcomes = await booking_batch.create_bookings(
            session, admin.user, requests, client.app[BOOKING_POLICY]
        )
        async with database.read_connection() as other:
            held = set((await other.execute(held_turns, {"kind": LOCK_ROOM})).scalars())
    async with database.read_connection() as other:
        after = set((await other.execute(held_turns, {"kind": LOCK_ROOM})).scalars())

    assert [type(outcome).__name__ for outcome in outcomes] == ["Created", "Created", "RoomOverlap"]
    assert held == {campus.room_101, campus.room_102}
    assert after == set()
