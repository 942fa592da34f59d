"""Sync throughput: push offline bookings, pull into an empty replica, and an idle sync.

Starts a real ``compax server run`` process on a fresh database, then drives the client
engine (``sync.Engine``) over HTTP, as the CLI and the TUI do:

1. push N offline bookings (queued locally, then one ``sync``): mutations per second;
2. pull M changes into an empty replica (several times, each into a new one: the median
   counts), with the CPU time each side spent per change (the server process, the client
   process, and on Postgres the server's backends), beside ``sqlite-utils`` inserting the same
   rows into a local SQLite file in the same run (the limit it is compared to);
3. a sync with nothing new: round-trip latency.

    python benchmarks/bench_sync.py                          # SQLite server
    python benchmarks/bench_sync.py --database-url postgresql://postgres@127.0.0.1:5432/postgres
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import random
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

import aiohttp
import sqlite_utils
from bench_support import postgres_database
from sqlalchemy import insert, text, update
from sqlalchemy.engine import make_url

from compax_server.db import Database
from compax_server.models import Booking, Change, ChangeCounter
from compax_server.security import Passwords
from compax_server.services.users import create_user
from compax_server.settings import Settings
from sync.engine import Engine
from sync.profiles import Profile
from sync.schemas import UserCreate

PASSWORD = "benchmark-password"  # noqa: S105 (a throw-away database)
ROOMS = 100


def parse() -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "--database-url", default="", help="a Postgres server to create a database on"
    )
    parser.add_argument("--push", type=int, default=10_000, help="offline bookings to push")
    parser.add_argument("--pull", type=int, default=100_000, help="changes to pull")
    parser.add_argument(
        "--pull-runs", type=int, default=3, help="pulls into new replicas; the median counts"
    )
    parser.add_argument("--idle", type=int, default=50, help="idle syncs to time")
    return parser.parse_args()


async def seed_users(database: Database) -> None:
    passwords = Passwords(Settings(secret_keys=["bench"], argon2_time_cost=1, argon2_memory_kib=64))
    async with database.write() as session:
        for username, role in (("admin", "admin"), ("pusher", "staff"), ("puller", "staff")):
            data = UserCreate(username=username, password=PASSWORD, role=role)  # type: ignore[arg-type]
            await create_user(session, data, await passwords.hash(PASSWORD))


def start_server(database_url: str, data_dir: Path, port: int) -> subprocess.Popen[bytes]:
    env = {
        **os.environ,
        "COMPAX_DATABASE_URL": database_url,
        "COMPAX_SECRET_KEYS": "bench",
        "COMPAX_DATA_DIR": str(data_dir),
        "COMPAX_PORT": str(port),
        "COMPAX_LOG_LEVEL": "WARNING",
        "COMPAX_MAX_DAYS_AHEAD": "1000",
    }
    return subprocess.Popen(
        [sys.executable, "-m", "compax_cli", "server", "run"],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )


async def wait_healthy(url: str) -> None:
    async with aiohttp.ClientSession() as session:
        for _ in range(200):
            try:
                async with session.get(f"{url}/health") as response:
                    if response.status == 200:
                        return
            except aiohttp.ClientError:
                pass
            await asyncio.sleep(0.1)
    raise RuntimeError("server did not start")


async def make_rooms(url: str) -> list[int]:
    async with aiohttp.ClientSession(url) as http:
        async with http.post(
            "/api/v1/auth/token", json={"username": "admin", "password": PASSWORD}
        ) as r:
            headers = {"Authorization": f"Bearer {(await r.json())['access_token']}"}
        await http.post(
            "/api/v1/buildings:bulk",
            headers=headers,
            json={"rows": [{"code": f"B{b}", "name": f"Building {b}"} for b in range(10)]},
        )
        async with http.post(
            "/api/v1/rooms:bulk",
            headers=headers,
            json={
                "rows": [
                    {"building": f"B{i % 10}", "code": f"R{i}", "capacity": 20 + i % 80}
                    for i in range(ROOMS)
                ]
            },
        ) as r:
            return [row["id"] for row in (await r.json())["results"]]


def weekday_slots(count: int, first: datetime) -> list[datetime]:
    """``count`` hour slots 08:00–17:00 on weekdays from ``first`` on, per room."""
    slots, day = [], first
    while len(slots) < count:
        if day.weekday() < 5:
            slots += [day + timedelta(hours=h) for h in range(8, 18)]
        day += timedelta(days=1)
    return slots[:count]


async def bench_push(url: str, rooms: list[int], count: int) -> dict[str, float]:
    engine = Engine(Profile.load("pusher"))
    await engine.sign_in(url, "pusher", PASSWORD)
    await engine.sync()
    first = datetime.now(UTC).replace(hour=0, minute=0, second=0, microsecond=0) + timedelta(days=7)
    slots = weekday_slots(count // len(rooms) + 1, first)
    queued = 0
    for slot in slots:
        for room in rooms:
            if queued == count:
                break
            engine.book(room, slot, slot + timedelta(hours=1), f"Offline {queued}")
            queued += 1
    async with engine.http() as http:
        started = time.perf_counter()
        pushed, applied, rejected = await engine._push(http)
        elapsed = time.perf_counter() - started
    engine.close()
    assert (pushed, applied, rejected) == (count, count, 0), (pushed, applied, rejected)
    return {"mutations": count, "seconds": elapsed, "per_second": count / elapsed}


async def add_server_bookings(database: Database, rooms: list[int], total: int) -> None:
    """Top the server up to ``total`` bookings (with their change-log entries), written directly."""
    async with database.write() as session:
        have = (await session.execute(text("SELECT count(*) FROM bookings"))).scalar_one()
        owner = (
            await session.execute(text("SELECT id FROM users WHERE username = 'admin'"))
        ).scalar_one()
        counter = await session.get(ChangeCounter, 1)
        assert counter is not None
        first = datetime(2030, 1, 1, tzinfo=UTC)
        now, seq, rows, changes = datetime.now(UTC), counter.value, [], []
        for i in range(total - have):
            start = first + timedelta(hours=i // len(rooms))
            booking_id = uuid.uuid4()
            rows.append(
                {
                    "id": booking_id,
                    "room_id": rooms[i % len(rooms)],
                    "start": start,
                    "end": start + timedelta(minutes=50),
                    "title": f"Seeded {i}",
                    "purpose": "class",
                    "attendees": 10,
                    "private": False,
                    "notes": "",
                    "owner_id": owner,
                    "status": "confirmed",
                    "version": 1,
                    "created_at": now,
                    "updated_at": now,
                }
            )
            seq += 1
            changes.append(
                {
                    "seq": seq,
                    "table_name": "bookings",
                    "row_key": str(booking_id),
                    "op": "put",
                    "changed_at": now,
                }
            )
        for chunk in range(0, len(rows), 5000):
            await session.execute(insert(Booking), rows[chunk : chunk + 5000])
            await session.execute(insert(Change), changes[chunk : chunk + 5000])
        await session.execute(update(ChangeCounter).where(ChangeCounter.id == 1).values(value=seq))


def process_cpu_seconds(pid: int) -> float:
    """User and system CPU seconds that process ``pid`` has used so far (Linux ``/proc``)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def postgres_cpu_seconds(database: str | None) -> float:
    """CPU seconds used so far by the Postgres backends connected to ``database`` (none for
    a SQLite server)."""
    total = 0.0
    if database is None:
        return total
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            if f" {database} ".encode() in (entry / "cmdline").read_bytes():
                total += process_cpu_seconds(int(entry.name))
        except OSError:  # the process ended meanwhile
            continue
    return total


async def bench_pull(
    url: str, expected: int, workdir: Path, runs: int, server_pid: int, database: str | None
) -> dict[str, float]:
    """Pull everything into ``runs`` new replicas: the median run's rate and CPU per change."""
    results = []
    for run in range(runs):
        engine = Engine(Profile.load(f"puller-{run}"))
        await engine.sign_in(url, "puller", PASSWORD)
        async with engine.http() as http:
            server, postgres = process_cpu_seconds(server_pid), postgres_cpu_seconds(database)
            client, started = time.process_time(), time.perf_counter()
            pulled, _, _ = await engine._pull(http)
            elapsed = time.perf_counter() - started
            client = time.process_time() - client
            server = process_cpu_seconds(server_pid) - server
            postgres = postgres_cpu_seconds(database) - postgres
        assert pulled >= expected, (pulled, expected)
        results.append(
            {
                "changes": pulled,
                "seconds": elapsed,
                "per_second": pulled / elapsed,
                "server_us": server / pulled * 1e6,
                "client_us": client / pulled * 1e6,
                "postgres_us": postgres / pulled * 1e6,
            }
        )
        if run < runs - 1:
            engine.close()
    with engine.replica.read() as db:
        rows = [json.loads(r[0]) for r in db.execute("SELECT row FROM bookings")]
    engine.close()
    limit_db = sqlite_utils.Database(workdir / "limit.sqlite3")
    limit_db.enable_wal()
    flat = [{**row, "id": str(row["id"])} for row in rows]
    started = time.perf_counter()
    limit_db["bookings"].insert_all(flat, pk="id", batch_size=2000)
    limit_seconds = time.perf_counter() - started
    median = sorted(results, key=lambda result: result["per_second"])[len(results) // 2]
    return {
        **median,
        "slowest": min(result["per_second"] for result in results),
        "fastest": max(result["per_second"] for result in results),
        "limit_rows": len(flat),
        "limit_per_second": len(flat) / limit_seconds,
    }


async def bench_idle(url: str, rounds: int) -> dict[str, float]:
    engine = Engine(Profile.load("pusher"))
    await engine.sync()
    timings = []
    for _ in range(rounds):
        started = time.perf_counter()
        await engine.sync()
        timings.append((time.perf_counter() - started) * 1000)
    engine.close()
    timings.sort()
    return {"p50_ms": statistics.median(timings), "p99_ms": timings[int(len(timings) * 0.99) - 1]}


async def measure(
    args: argparse.Namespace, database_url: str, workdir: Path
) -> tuple[dict[str, float], dict[str, float], dict[str, float]]:
    """Push, pull and idle sync against a server on ``database_url``, migrated and seeded here."""
    database = Database(database_url)
    await database.migrate()
    await seed_users(database)
    port = random.randint(20_000, 40_000)
    server = start_server(database_url, workdir, port)
    url = f"http://127.0.0.1:{port}"
    postgres = make_url(database_url).database if args.database_url else None
    try:
        await wait_healthy(url)
        rooms = await make_rooms(url)
        push = await bench_push(url, rooms, args.push)
        await add_server_bookings(database, rooms, args.pull)
        pull = await bench_pull(url, args.pull, workdir, args.pull_runs, server.pid, postgres)
        idle = await bench_idle(url, args.idle)
    finally:
        server.terminate()
        server.wait()
        await database.dispose()
    return push, pull, idle


async def main() -> None:
    args = parse()
    workdir = Path(tempfile.mkdtemp(prefix="compax-bench-"))
    os.environ["COMPAX_DATA_DIR"] = str(workdir / "client")
    async with contextlib.AsyncExitStack() as stack:
        if args.database_url:
            database_url = await stack.enter_async_context(postgres_database(args.database_url))
        else:
            database_url = f"sqlite:///{workdir / 'server.sqlite3'}"
        push, pull, idle = await measure(args, database_url, workdir)
    kind = "Postgres" if args.database_url else "SQLite"
    print(f"\n### Sync on a {kind} server ({os.cpu_count()} cores)\n")
    print("| measurement | result | target |")
    print("|---|---|---|")
    print(
        f"| push {push['mutations']:,} offline bookings "
        f"| {push['per_second']:,.0f} mutations/s ({push['seconds']:.1f} s) | ≥ 2,000/s |"
    )
    print(
        f"| pull {pull['changes']:,} changes into an empty replica "
        f"| {pull['per_second']:,.0f} changes/s ({pull['seconds']:.1f} s; median of "
        f"{args.pull_runs}, {pull['slowest']:,.0f}–{pull['fastest']:,.0f}) | ≥ 50,000/s |"
    )
    postgres = f", Postgres {pull['postgres_us']:.1f} µs" if args.database_url else ""
    print(
        f"| CPU per change pulled (median run) | server {pull['server_us']:.1f} µs{postgres}, "
        f"client {pull['client_us']:.1f} µs | |"
    )
    print(
        f"| sqlite-utils `insert_all` of the same {pull['limit_rows']:,} rows (the limit) "
        f"| {pull['limit_per_second']:,.0f} rows/s | |"
    )
    print(
        "| pull rate / sqlite-utils rate "
        f"| {pull['per_second'] / pull['limit_per_second']:.0%} | ≥ 30% |"
    )
    print(
        "| sync with nothing new "
        f"| p50 {idle['p50_ms']:.1f} ms, p99 {idle['p99_ms']:.1f} ms | ≤ 20 ms |"
    )


if __name__ == "__main__":
    asyncio.run(main())
