"""The change log: entries numbered so that no pull misses a change, one entry per row, and the
database handle it rests on (read sessions, dropped connections)."""

from __future__ import annotations

import asyncio
import random
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import asyncpg
import pytest
from aiohttp.test_utils import TestClient
from sqlalchemy import delete, text
from sqlalchemy.engine import make_url

from compax_server import changelog
from compax_server.db import Database, ReadOnlySessionError
from compax_server.keys import DATABASE
from compax_server.models import Booking, Change
from compax_server.services import sync
from compax_server.services.common import LOCK_CHANGE_LOG, apply_changes, serialise_on, utcnow
from sync.protocol import PullResponse
from tests.booking_helpers import at, book, make_campus, next_weekday
from tests.conftest import Person

#: Runs a test on Postgres only (where writers commit side by side).
POSTGRES_ONLY = pytest.mark.parametrize(
    "database_url", [pytest.param("postgres", marks=pytest.mark.postgres)], indirect=True
)


async def pull_from(client: TestClient, person: Person, cursor: int) -> tuple[list[Any], int]:
    """Every change after ``cursor``, page by page, and the cursor at the end."""
    changes: list[Any] = []
    while True:
        response = await client.get(
            f"/api/v1/sync/pull?cursor={cursor}&limit=3", headers=person.headers
        )
        assert response.status == 200, await response.text()
        page = await response.json()
        assert page["cursor"] >= cursor
        changes += page["changes"]
        cursor = page["cursor"]
        if not page["has_more"]:
            return changes, cursor


async def test_a_changed_row_has_one_entry_and_comes_after_the_cursor(
    client: TestClient, admin: Person
) -> None:
    campus = await make_campus(client, admin)
    monday = next_weekday(0)
    made = await (await book(client, admin, campus.room_101, at(monday, 9), at(monday, 10))).json()
    _, cursor = await pull_from(client, admin, 0)
    moved = await client.patch(
        f"/api/v1/bookings/{made['id']}",
        json={"start": at(monday, 11), "end": at(monday, 12)},
        headers={**admin.headers, "If-Match": '"1"'},
    )
    assert moved.status == 200, await moved.text()

    later, _ = await pull_from(client, admin, cursor)
    assert [(c["table"], c["row"]["id"], c["row"]["version"]) for c in later] == [
        ("bookings", made["id"], 2)
    ]
    everything, _ = await pull_from(client, admin, 0)
    bookings = [c["row"]["id"] for c in everything if c["table"] == "bookings"]
    assert bookings == [made["id"]], "one entry per row: the older one was replaced"


@POSTGRES_ONLY
async def test_postgres_writers_leave_entries_for_the_pull_to_number(
    client: TestClient, admin: Person
) -> None:
    """SQLite writers, one at a time, number their own entries; Postgres writers do not."""
    campus = await make_campus(client, admin)
    _, cursor = await pull_from(client, admin, 0)
    monday = next_weekday(0)
    made = await (await book(client, admin, campus.room_101, at(monday, 9), at(monday, 10))).json()
    async with client.app[DATABASE].read() as session:
        waiting = await session.get(Change, ("bookings", made["id"]))
        top = (await session.execute(text("SELECT value FROM change_counter"))).scalar_one()
    assert waiting is not None and waiting.seq is None, "a writer takes no number, and no lock"

    changes, new_cursor = await pull_from(client, admin, cursor)
    assert [c["row"]["id"] for c in changes] == [made["id"]]
    assert new_cursor == top + 1
    async with client.app[DATABASE].read() as session:
        numbered = await session.get(Change, ("bookings", made["id"]))
    assert numbered is not None and numbered.seq == top + 1


@POSTGRES_ONLY
async def test_a_change_committed_after_a_pull_is_not_behind_its_cursor(
    client: TestClient, admin: Person
) -> None:
    """The plain-sequence failure, staged: A writes first, B writes later but commits first,
    a client pulls (seeing B), then A commits. A sequence would have given A the smaller
    number, behind the client's cursor, and the client would never see it."""
    campus = await make_campus(client, admin)
    _, cursor = await pull_from(client, admin, 0)
    database = client.app[DATABASE]
    monday = datetime.combine(next_weekday(0), datetime.min.time(), tzinfo=UTC)

    def booking(hour: int) -> Booking:
        start = monday + timedelta(hours=hour)
        return Booking(
            room_id=campus.room_101,
            start=start,
            end=start + timedelta(hours=1),
            title=f"at {hour}",
            owner_id=admin.id,
            created_at=utcnow(),
            updated_at=utcnow(),
        )

    first, second = booking(9), booking(11)
    async with database.write() as session_a:
        session_a.add(first)
        await session_a.flush()
        async with database.write() as session_b:
            session_b.add(second)
        seen, cursor = await pull_from(client, admin, cursor)
        assert [c["row"]["id"] for c in seen] == [str(second.id)]
    seen, _ = await pull_from(client, admin, cursor)
    assert [c["row"]["id"] for c in seen] == [str(first.id)]


async def test_a_read_session_refuses_to_write(client: TestClient) -> None:
    async with client.app[DATABASE].read() as session:
        assert (await session.execute(text("SELECT 1"))).scalar_one() == 1
        with pytest.raises(ReadOnlySessionError):
            await session.execute(delete(Change))


@POSTGRES_ONLY
async def test_a_dropped_connection_costs_a_retry_not_an_error(
    client: TestClient, database_url: str
) -> None:
    """The pool does not ping before each checkout: a connection the server dropped fails
    once, answered 503 with Retry-After, and the next request gets a fresh one."""
    assert (await client.get("/health")).status == 200
    name = make_url(database_url).database
    admin = await asyncpg.connect(
        make_url(database_url).set(drivername="postgresql").render_as_string(hide_password=False)
    )
    try:
        await admin.execute(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
            "WHERE datname = $1 AND pid <> pg_backend_pid()",
            name,
        )
    finally:
        await admin.close()
    first = await client.get("/health")
    assert first.status in (200, 503)
    if first.status == 503:
        assert first.headers["Retry-After"].isdigit()
    assert (await client.get("/health")).status == 200


WRITERS = 12
PULLERS = 4
WRITES_EACH = 25


@pytest.mark.slow
@POSTGRES_ONLY
async def test_concurrent_pullers_never_miss_a_change(
    client: TestClient, admin: Person, database_url: str
) -> None:
    """Writers on many connections of two pools (as two server processes would have) book and
    change bookings, each holding its transaction open for a random moment before COMMIT, so
    commits land in another order than the writes began; pullers meanwhile keep pulling pages
    of 1 to 20 changes, catching up with the writers again and again.
    Afterwards every puller, continuing from its own cursor, holds exactly what the database
    holds: no change was ever numbered at or below a cursor already handed out."""
    campus = await make_campus(client, admin)
    rooms = [campus.room_101, campus.room_102, campus.room_201, campus.eng_1]
    pools = [Database(database_url, pool_size=WRITERS, max_overflow=PULLERS) for _ in range(2)]
    writing = True

    async def write(index: int) -> None:
        rng = random.Random(index)
        day = datetime.combine(next_weekday(index // 4), datetime.min.time(), tzinfo=UTC)
        mine: list[uuid.UUID] = []
        for step in range(WRITES_EACH):
            async with pools[step % 2].write() as session:
                if mine and rng.random() < 0.4:
                    booking = await session.get(Booking, rng.choice(mine), with_for_update=True)
                    assert booking is not None
                    apply_changes(booking, {"title": f"step {step}"})
                else:
                    start = day + timedelta(hours=7, minutes=15 * step)
                    booking = Booking(
                        room_id=rooms[index % len(rooms)],
                        start=start,
                        end=start + timedelta(minutes=15),
                        title=f"writer {index}",
                        owner_id=admin.id,
                        created_at=utcnow(),
                        updated_at=utcnow(),
                    )
                    session.add(booking)
                    mine.append(booking.id)
                await session.flush()
                await asyncio.sleep(rng.random() * 0.02)
            await asyncio.sleep(rng.random() * 0.01)

    async def pull(index: int, held: dict[str, int]) -> None:
        cursor, turn = 0, index
        while True:
            last_round = not writing
            has_more = True
            while has_more:
                turn += 1
                limit = 1 + turn % 20
                pulled = await sync.pull_page(pools[turn % 2], admin.user, cursor, limit, None)
                page = PullResponse.model_validate_json(pulled.to_json())
                assert page.cursor >= cursor, "cursors only move forward"
                assert not page.reset
                cursor, has_more = page.cursor, page.has_more
                for change in page.changes:
                    if change["table"] == "bookings":
                        held[str(change["row"]["id"])] = change["row"]["version"]
            if last_round:
                return
            await asyncio.sleep(0.001)

    views: list[dict[str, int]] = [{} for _ in range(PULLERS)]
    pullers = [asyncio.create_task(pull(i, views[i])) for i in range(PULLERS)]
    try:
        await asyncio.gather(*(write(i) for i in range(WRITERS)))
    finally:
        writing = False
        await asyncio.gather(*pullers)
        for pool in pools:
            await pool.dispose()

    async with client.app[DATABASE].read() as session:
        rows = await session.execute(text("SELECT id, version FROM bookings"))
        truth = {str(row.id): row.version for row in rows}
    assert len(truth) > WRITERS * WRITES_EACH // 2
    for view in views:
        assert view == truth


@POSTGRES_ONLY
async def test_a_numbering_that_need_not_wait_gives_way_to_one_under_way(
    client: TestClient, admin: Person
) -> None:
    """Cached reads number without waiting: while another numbering holds the lock they give
    up at once and leave the entries waiting (to be bypassed); once it is free, they number."""
    campus = await make_campus(client, admin)
    await pull_from(client, admin, 0)
    monday = next_weekday(0)
    assert (await book(client, admin, campus.room_101, at(monday, 9), at(monday, 10))).status == 201
    db: Database = client.app[DATABASE]
    async with db.write() as holder:
        await serialise_on(holder, LOCK_CHANGE_LOG)
        assert await asyncio.wait_for(sync.number_changes(db, wait=False), timeout=5) == 0
        async with db.read() as session:
            assert await changelog.any_waiting(session)
    assert await sync.number_changes(db, wait=False) >= 1
    async with db.read() as session:
        assert not await changelog.any_waiting(session)
