"""Sync under faults: lost answers, a killed server, an interrupted pull, a reset."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path

import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient
from aiohttp.typedefs import Handler

from compax_server.app import create_app
from compax_server.keys import ACCESS_TOKENS, DATABASE, PASSWORDS
from compax_server.services.sync import compact
from compax_server.services.users import access_token, create_user
from compax_server.settings import Settings
from sync.engine import Engine
from sync.errors import Unreachable
from sync.profiles import Profile
from sync.replica import Replica
from sync.schemas import UserCreate
from tests.booking_helpers import at, make_campus, next_weekday
from tests.conftest import PASSWORD, AiohttpClient, MakePerson, Person, make_settings
from tests.servers import ServerProcess
from tests.test_sync_client import server_bookings, signed_in, when


async def test_a_lost_push_answer_is_retried_and_nothing_is_applied_twice(
    aiohttp_client: AiohttpClient,
    settings: Settings,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The server commits the push, the connection drops before the answer arrives; the client
    sends the same mutations again and gets the stored outcomes."""
    dropped: list[str] = []

    @web.middleware
    async def drop_first_push_answer(request: web.Request, handler: Handler) -> web.StreamResponse:
        response = await handler(request)
        if request.path == "/api/v1/sync/push" and not dropped:
            dropped.append(request.path)
            assert request.transport is not None
            request.transport.close()
        return response

    app = create_app(settings)
    app.middlewares.insert(0, drop_first_push_answer)
    client = await aiohttp_client(app)
    admin, staff = await _people(client)
    campus = await make_campus(client, admin)
    monkeypatch.setenv("COMPAX_DATA_DIR", str(tmp_path / "client"))
    engine = Engine(Profile.load("staff"))
    try:
        await engine.sign_in(str(client.make_url("")), staff.user.username, PASSWORD)
        await engine.sync()
        monday = next_weekday(0)
        made = [
            engine.book(
                campus.room_101, when(at(monday, hour)), when(at(monday, hour + 1)), f"B{hour}"
            )
            for hour in (8, 9, 10)
        ]
        report = await engine.sync()
        assert dropped, "the first push answer was lost"
        assert (report.applied, report.rejected) == (3, 0)
        held = await server_bookings(client, staff)
        assert sorted(b["id"] for b in held) == sorted(b["id"] for b in made)
        assert engine.status()["pending"] == 0
    finally:
        engine.close()


async def _people(client: TestClient) -> tuple[Person, Person]:
    app = client.app
    assert app is not None
    people = []
    for username, role in (("root", "admin"), ("ama", "staff")):
        data = UserCreate(username=username, password=PASSWORD, role=role)  # type: ignore[arg-type]
        password_hash = await app[PASSWORDS].hash(PASSWORD)
        async with app[DATABASE].write() as session:
            user = await create_user(session, data, password_hash)
        people.append(Person(user, access_token(app[ACCESS_TOKENS], user).token))
    return people[0], people[1]


@pytest.mark.slow
async def test_a_server_killed_mid_push_loses_and_duplicates_nothing(
    client: TestClient,
    admin: Person,
    make_person: MakePerson,
    database_url: str,
    tmp_path: Path,
    engines: Callable[[str], Engine],
) -> None:
    campus = await make_campus(client, admin)
    staff = await make_person("staff")
    server = ServerProcess(database_url, tmp_path)
    server.start()
    try:
        await server.wait_until_healthy()
        engine = engines("killed")
        await engine.sign_in(server.url, staff.user.username, PASSWORD)
        await engine.sync()
        first_day = next_weekday(0)
        made = []
        # Enough changes (three push batches) that the sync is still under way when the server
        # is killed, however fast the push and the pull after it are; no more than the one
        # page of 500 that server_bookings reads.
        for room in (campus.room_101, campus.room_102):
            for day in range(25):
                for hour in range(8, 18):
                    moment = when(at(first_day + timedelta(days=7 * (day // 5) + day % 5), hour))
                    made.append(
                        engine.book(room, moment, moment + timedelta(hours=1), f"B{day}-{hour}")[
                            "id"
                        ]
                    )
        syncing = asyncio.create_task(engine.sync())
        # Polls the server over HTTP: there is no event here to wait on.
        while not await server_bookings(client, staff):  # noqa: ASYNC110
            await asyncio.sleep(0.02)
        server.kill()
        with pytest.raises(Unreachable):
            await syncing
        assert engine.status()["pending"] == len(made), "nothing is lost locally"

        server.start()
        await server.wait_until_healthy()
        report = await engine.sync()
        assert report.rejected == 0
        held = await server_bookings(client, staff)
        assert sorted(b["id"] for b in held) == sorted(made), "each booking exactly once"
        assert engine.status()["pending"] == 0
    finally:
        server.stop()


async def test_an_interrupted_pull_page_leaves_the_replica_as_it_was(
    client: TestClient,
    admin: Person,
    make_person: MakePerson,
    engines: Callable[[str], Engine],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    campus = await make_campus(client, admin)
    staff = await make_person("staff")
    engine = await signed_in(client, engines, staff)
    before = _snapshot(engine.replica)
    monday = next_weekday(0)
    await client.post(
        "/api/v1/buildings", json={"code": "NEW", "name": "New"}, headers=admin.headers
    )
    await client.post(
        "/api/v1/bookings",
        json={
            "room_id": campus.room_101,
            "start": at(monday, 9),
            "end": at(monday, 10),
            "title": "T",
        },
        headers=admin.headers,
    )

    real_put = Replica._put

    def fail_on_bookings(self: Replica, table: str, rows: list[dict[str, object]]) -> None:
        if table == "bookings":
            raise OSError("disk unplugged half-way through the page")
        real_put(self, table, rows)

    monkeypatch.setattr(Replica, "_put", fail_on_bookings)
    with pytest.raises(OSError, match="half-way"):
        await engine.sync()
    assert _snapshot(engine.replica) == before

    monkeypatch.setattr(Replica, "_put", real_put)
    await engine.sync()
    after = _snapshot(engine.replica)
    assert after["buildings"] == before["buildings"] + 1 and after["bookings"] == 1
    assert after["cursor"] > before["cursor"]


def _snapshot(replica: Replica) -> dict[str, int]:
    with replica.read() as db:
        counts = {
            t: db.execute(f"SELECT count(*) FROM {t}").fetchone()[0]  # noqa: S608 (fixed names)
            for t in ("buildings", "rooms", "bookings")
        }
    return {**counts, "cursor": int(replica.state("cursor") or 0)}


async def test_a_client_behind_compaction_resets_and_keeps_its_outbox(
    client: TestClient, admin: Person, make_person: MakePerson, engines: Callable[[str], Engine]
) -> None:
    campus = await make_campus(client, admin)
    staff = await make_person("staff")
    engine = await signed_in(client, engines, staff)
    monday = next_weekday(0)
    pending = engine.book(campus.room_101, when(at(monday, 9)), when(at(monday, 10)), "Kept")
    assert (
        await client.delete(f"/api/v1/rooms/{campus.room_201}", headers=admin.headers)
    ).status == 204
    await compact(client.app[DATABASE], retention=timedelta(seconds=-1))

    report = await engine.sync()
    assert report.reset is True
    assert report.applied == 1
    assert engine.reads.room(campus.room_201) is None, "the deleted room is gone after the reset"
    assert len(engine.reads.rooms()) == 4
    kept = engine.reads.booking(pending["id"])
    assert kept is not None and kept["pending"] is False
    assert [b["id"] for b in await server_bookings(client, staff)] == [pending["id"]]


async def test_an_unreachable_database_is_503_with_retry_after(
    aiohttp_client: AiohttpClient, tmp_path: Path
) -> None:
    dead = make_settings("postgresql://postgres@127.0.0.1:9/none", tmp_path)
    client = await aiohttp_client(create_app(dead))
    response = await client.get("/api/v1/me", headers={"Authorization": "Bearer x.y.z"})
    assert response.status in (401, 503)
    health = await client.get("/health")
    assert health.status == 503
    assert health.headers["Retry-After"].isdigit()
    assert (await health.json())["type"] == "unavailable"
    signed = await client.post("/api/v1/auth/token", json={"username": "a", "password": "b"})
    assert signed.status == 503, await signed.text()
    assert "Retry-After" in signed.headers
