"""Real server processes: HTTPS, several workers, limits shared through Redis, graceful stops."""

from __future__ import annotations

import asyncio
import os
import signal
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import aiohttp
import asyncpg
import pytest
from aiohttp.test_utils import TestClient
from prometheus_client.parser import text_string_to_metric_families
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from compax_server.keys import DATABASE
from compax_server.models import Booking, SyncClient, SyncMutation
from sync.permissions import Role
from tests.booking_helpers import make_campus, next_weekday
from tests.conftest import PASSWORD, MakePerson, Person, _asyncpg_dsn
from tests.deploy_support import RedisServer, self_signed_certificate
from tests.servers import ServerProcess

CHEAP_ARGON2 = {"COMPAX_ARGON2_MEMORY_KIB": "64", "COMPAX_ARGON2_TIME_COST": "1"}
METRICS_TOKEN = "a-metrics-token"
ON_POSTGRES = pytest.mark.parametrize(
    "database_url", [pytest.param("postgres", marks=pytest.mark.postgres)], indirect=True
)


@asynccontextmanager
async def serving(server: ServerProcess) -> AsyncIterator[ServerProcess]:
    server.start()
    try:
        await server.wait_until_healthy()
        yield server
    finally:
        server.stop()


# --- HTTPS -----------------------------------------------------------------------------------


@pytest.mark.slow
async def test_the_server_speaks_https_with_its_certificate(
    database_url: str, tmp_path: Path
) -> None:
    """--certfile/--keyfile: HTTPS with HSTS; plain HTTP on that port gets no answer."""
    certificate = self_signed_certificate(tmp_path)
    server = ServerProcess(
        database_url,
        tmp_path,
        args=["--certfile", str(certificate.certfile), "--keyfile", str(certificate.keyfile)],
        tls=certificate.client_context(),
    )
    assert server.url.startswith("https://")
    async with serving(server), aiohttp.ClientSession() as session:
        async with session.get(f"{server.url}/health", ssl=certificate.client_context()) as r:
            assert r.status == 200
            assert r.headers["Strict-Transport-Security"] == "max-age=31536000"
        with pytest.raises(aiohttp.ClientError):
            async with session.get(f"http://127.0.0.1:{server.port}/health") as r:
                await r.read()


# --- Several workers -------------------------------------------------------------------------


def alive(pid: int) -> bool:
    return Path(f"/proc/{pid}").exists()


def worker_pids(supervisor: int) -> set[int]:
    """The worker processes the supervisor runs (its spawned children)."""
    children = Path(f"/proc/{supervisor}/task/{supervisor}/children").read_text().split()
    return {
        int(pid) for pid in children if b"spawn_main" in Path(f"/proc/{pid}/cmdline").read_bytes()
    }


async def metric(session: aiohttp.ClientSession, url: str, name: str, **labels: str) -> float:
    async with session.get(
        f"{url}/metrics", headers={"Authorization": f"Bearer {METRICS_TOKEN}"}
    ) as response:
        assert response.status == 200
        text = await response.text()
    wanted = set(labels.items())
    return sum(
        sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
        if sample.name == name and wanted <= set(sample.labels.items())
    )


@ON_POSTGRES
@pytest.mark.slow
async def test_workers_share_the_port_and_a_dead_one_is_replaced(
    database_url: str, tmp_path: Path
) -> None:
    server = ServerProcess(
        database_url, tmp_path, args=["--workers", "2"], COMPAX_METRICS_TOKEN=METRICS_TOKEN
    )
    async with serving(server), aiohttp.ClientSession() as session:
        first = worker_pids(server.pid)
        assert len(first) == 2
        for _ in range(10):
            async with session.get(f"{server.url}/api/v1/openapi.json") as response:
                assert response.status == 200
        openapi = {"route": "/api/v1/openapi.json", "status": "200"}
        # Whichever worker answers, /metrics adds up every worker's counts.
        assert await metric(session, server.url, "compax_http_requests_total", **openapi) == 10

        victim = min(first)
        os.kill(victim, signal.SIGKILL)
        for _ in range(300):
            now = worker_pids(server.pid)
            if len(now) == 2 and victim not in now:
                break
            await asyncio.sleep(0.05)
        assert len(now) == 2 and victim not in now, now
        await server.wait_until_healthy()

        server.send_signal(signal.SIGTERM)
        assert server.wait(timeout=60) == 0
        assert not any(alive(pid) for pid in now)


# --- Login limits shared through Redis -------------------------------------------------------


async def sign_in(session: aiohttp.ClientSession, url: str, username: str, password: str) -> int:
    async with session.post(
        f"{url}/api/v1/auth/token", json={"username": username, "password": password}
    ) as response:
        await response.read()
        return response.status


@ON_POSTGRES
@pytest.mark.slow
async def test_a_login_limit_holds_across_workers_and_survives_redis_going_down(
    database_url: str, tmp_path: Path, make_person: MakePerson
) -> None:
    redis = RedisServer()
    redis.start()
    ama = await make_person(Role.STAFF, username="ama")
    kofi = await make_person(Role.STAFF, username="kofi")
    env = {
        "COMPAX_REDIS_URL": redis.url,
        "COMPAX_LOGIN_ATTEMPTS_PER_USERNAME": "3",
        **CHEAP_ARGON2,
    }
    servers = [ServerProcess(database_url, tmp_path, **env) for _ in range(2)]
    try:
        async with (
            serving(servers[0]) as a,
            serving(servers[1]) as b,
            aiohttp.ClientSession() as session,
        ):
            # Three failures spread over both workers reach the limit of three.
            for url in (a.url, b.url, a.url):
                assert await sign_in(session, url, ama.user.username, "wrong") == 401
            assert await sign_in(session, b.url, ama.user.username, PASSWORD) == 429
            assert await sign_in(session, a.url, ama.user.username, PASSWORD) == 429

            redis.stop()
            # Each worker now counts on its own: a limit, never a 500 and never none.
            statuses = [
                await sign_in(session, a.url, kofi.user.username, "wrong") for _ in range(4)
            ]
            assert statuses == [401, 401, 401, 429]
            assert await sign_in(session, a.url, kofi.user.username, PASSWORD) == 429
            assert await sign_in(session, b.url, kofi.user.username, PASSWORD) == 200
    finally:
        redis.stop()
    log = servers[0].log_path.read_text()
    assert f"Redis at 127.0.0.1:{redis.port}/0 failed" in log, log
    assert "Traceback" not in log


# --- Graceful shutdown -----------------------------------------------------------------------

PUSHED = 150
#: The first mutation that books the room the test holds: the push applies the ones before it
#: in its open transaction, then waits for the test.
HELD_FROM = 40


def pushed_bookings(rooms: list[int]) -> list[dict[str, Any]]:
    """``PUSHED`` create_booking mutations on free, distinct slots; only those from
    ``HELD_FROM`` on use the last room."""
    mutations = []
    for mid in range(1, PUSHED + 1):
        slot = mid - 1
        room = rooms[2] if mid >= HELD_FROM and mid % 3 == 0 else rooms[mid % 2]
        day = next_weekday(slot % 5)
        start = datetime.combine(day, datetime.min.time(), tzinfo=UTC) + timedelta(
            hours=7, minutes=15 * (slot // 5)
        )
        mutations.append(
            {
                "mid": mid,
                "op": "create_booking",
                "args": {
                    "id": str(uuid.uuid4()),
                    "room_id": room,
                    "start": start.isoformat(),
                    "end": (start + timedelta(minutes=15)).isoformat(),
                    "title": f"Pushed {mid}",
                },
            }
        )
    return mutations


async def wait_for_a_blocked_writer(database_url: str) -> None:
    """Wait (bounded) until a backend of the test database waits on a lock."""
    conn = await asyncpg.connect(_asyncpg_dsn(database_url))
    try:
        for _ in range(600):
            waiting = await conn.fetchval(
                "SELECT count(*) FROM pg_stat_activity "
                "WHERE datname = current_database() AND wait_event_type = 'Lock'"
            )
            if waiting:
                return
            await asyncio.sleep(0.05)
    finally:
        await conn.close()
    raise AssertionError("the push never reached the held room")


async def refuses_connections(url: str) -> bool:
    """True once nothing accepts connections at ``url`` any more (bounded wait).

    Each attempt opens a new connection; one the kernel had queued when the listening socket
    closed is reset rather than refused, which counts the same.
    """
    connector = aiohttp.TCPConnector(force_close=True)
    async with aiohttp.ClientSession(connector=connector) as session:
        for _ in range(200):
            try:
                async with session.get(f"{url}/health") as response:
                    await response.read()
            except aiohttp.ClientConnectionError:
                return True
            await asyncio.sleep(0.05)
    return False


async def state_of_push(session: AsyncSession, client_id: uuid.UUID) -> tuple[int, int, int]:
    """(last_mutation_id, stored outcomes, bookings made) of the pushed mutations."""
    client = await session.get(SyncClient, client_id)
    assert client is not None
    outcomes = await session.scalar(
        select(func.count()).where(col(SyncMutation.client_id) == client_id)
    )
    made = await session.scalar(
        select(func.count()).where(col(Booking.title).startswith("Pushed "))
    )
    return client.last_mutation_id, int(outcomes or 0), int(made or 0)


@ON_POSTGRES
@pytest.mark.slow
@pytest.mark.parametrize("finishes", [True, False], ids=["finishes", "times-out"])
async def test_sigterm_during_a_push_applies_all_of_it_or_none(
    client: TestClient,
    admin: Person,
    make_person: MakePerson,
    database_url: str,
    tmp_path: Path,
    finishes: bool,
) -> None:
    """SIGTERM while a push waits mid-transaction: the server stops accepting; the push then
    either completes whole (within the shutdown timeout) or is cancelled and rolled back."""
    campus = await make_campus(client, admin)
    rooms = [campus.room_101, campus.room_102, campus.room_201]
    staff = await make_person(Role.STAFF)
    client_id = uuid.uuid4()
    registered = await client.post(
        "/api/v1/sync/clients", json={"client_id": str(client_id)}, headers=staff.headers
    )
    assert registered.status == 200
    mutations = pushed_bookings(rooms)
    held = next(m["args"] for m in mutations if m["args"]["room_id"] == rooms[2])
    timeout = "30" if finishes else "1"
    server = ServerProcess(database_url, tmp_path, COMPAX_SHUTDOWN_TIMEOUT_SECONDS=timeout)
    database = client.app[DATABASE]

    server.start()
    try:
        await server.wait_until_healthy()
        async with AsyncSession(database.engine) as blocker, aiohttp.ClientSession() as http:
            # An uncommitted booking on the held room's first pushed slot: the push's insert
            # there waits for this transaction, inside the push's own open transaction.
            blocker.add(
                Booking(
                    room_id=rooms[2],
                    start=datetime.fromisoformat(held["start"]),
                    end=datetime.fromisoformat(held["end"]),
                    title="Held by the test",
                    owner_id=admin.id,
                    created_at=datetime.now(UTC),
                    updated_at=datetime.now(UTC),
                )
            )
            await blocker.flush()

            async def push_all() -> tuple[int, Any]:
                async with http.post(
                    f"{server.url}/api/v1/sync/push",
                    json={"client_id": str(client_id), "schema_version": 1, "mutations": mutations},
                    headers=staff.headers,
                ) as response:
                    return response.status, await response.json(content_type=None)

            push = asyncio.create_task(push_all())
            await wait_for_a_blocked_writer(database_url)
            server.send_signal(signal.SIGTERM)
            assert await refuses_connections(server.url), "still accepting after SIGTERM"
            if finishes:
                await blocker.rollback()
                status, body = await push
                assert status == 200, body
                assert body["last_mutation_id"] == PUSHED
                assert {r["status"] for r in body["results"]} == {"applied"}
            else:
                with pytest.raises(aiohttp.ClientError):
                    await push
                await blocker.rollback()
        assert server.wait(timeout=60) == 0
    finally:
        server.stop()

    async with database.read() as session:
        state = await state_of_push(session, client_id)
    assert state == ((PUSHED, PUSHED, PUSHED) if finishes else (0, 0, 0))
