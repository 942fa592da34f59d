"""Foundation benchmark: token checks, ``GET /api/v1/me`` and ``GET /api/v1/rooms?limit=100``.

    python benchmarks/bench_foundation.py
    python benchmarks/bench_foundation.py \\
        --database-url postgresql://postgres@127.0.0.1:5432/postgres

Each run starts from a fresh database: a SQLite file in a temporary directory (or the file
named by a ``sqlite:///`` URL, which must not exist yet), or, for Postgres, a database
``compax_bench_<random>`` created on the server the URL names and dropped at the end. It is
migrated, the real app (``create_app``) is served in this process on a free port with
``web.AppRunner`` and ``TCPSite``, with access logs written to a file as ``compax server run``
writes them to stderr, and seeded through the bulk endpoints with 10 buildings of 20 rooms.

The HTTP load comes from a separate client process (aiohttp, C connections), so that client
and server each have a core instead of sharing one event loop. Every measurement is warmed
up first. Beside each figure stands its limit: the bare itsdangerous ``loads`` for token
checks, and one raw SQL query through the same driver for the rooms page. The result is a
markdown table on stdout; progress goes to stderr.
"""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import logging
import os
import platform
import secrets
import shutil
import statistics
import tempfile
from collections.abc import AsyncIterator, Awaitable, Callable
from concurrent.futures import ProcessPoolExecutor
from contextlib import asynccontextmanager
from dataclasses import dataclass
from multiprocessing import get_context
from pathlib import Path
from time import perf_counter
from typing import Any, TextIO

import aiohttp
import aiosqlite
import asyncpg
from aiohttp import web
from bench_support import asyncpg_dsn, postgres_database, say
from itsdangerous import URLSafeTimedSerializer
from sqlalchemy.engine import make_url

from compax_server.app import create_app
from compax_server.db import Database
from compax_server.keys import ACCESS_TOKENS, DATABASE, PASSWORDS, SETTINGS
from compax_server.logs import configure_logging
from compax_server.security import ACCESS_TOKEN_SALT, Tokens
from compax_server.services import campus
from compax_server.services.users import create_user
from compax_server.settings import LogFormat, Settings
from sync.schemas import RoomQuery, UserCreate

ADMIN, PASSWORD = "bench-admin", "bench-password-" + secrets.token_hex(8)
BUILDINGS, ROOMS_PER_BUILDING, PAGE = 10, 20, 100
FEATURES = ["projector", "ac", "computers", "whiteboard", "video_conf"]
KINDS = ["classroom", "lab", "lecture_hall", "seminar_room"]

RAW_ROOMS_SQL = {
    "sqlite": """
        SELECT r.*, b.code AS building_code,
               (SELECT group_concat(feature, ',') FROM
                  (SELECT feature FROM room_features WHERE room_id = r.id ORDER BY feature)
               ) AS features
        FROM rooms r JOIN buildings b ON b.id = r.building_id
        ORDER BY r.id LIMIT {limit}""",
    "postgresql": """
        SELECT r.*, b.code AS building_code,
               array(SELECT feature FROM room_features WHERE room_id = r.id ORDER BY feature)
                 AS features
        FROM rooms r JOIN buildings b ON b.id = r.building_id
        ORDER BY r.id LIMIT {limit}""",
}


# --- Figures -------------------------------------------------------------------------------


@dataclass
class Timing:
    """Per-operation latencies (seconds) and the wall time of the whole run."""

    latencies: list[float]
    wall: float

    def percentile(self, p: int) -> float:
        return statistics.quantiles(self.latencies, n=100, method="inclusive")[p - 1]

    @property
    def per_second(self) -> float:
        return len(self.latencies) / self.wall


async def drive(call: Callable[[int], Awaitable[object]], count: int, concurrency: int) -> Timing:
    """Run ``call(worker)`` ``count`` times from ``concurrency`` workers, timing each call."""
    remaining = iter(range(count))
    latencies: list[float] = []

    async def worker(index: int) -> None:
        for _ in remaining:
            start = perf_counter()
            await call(index)
            latencies.append(perf_counter() - start)

    start = perf_counter()
    await asyncio.gather(*(worker(i) for i in range(concurrency)))
    return Timing(latencies, perf_counter() - start)


Measured = tuple[Timing, float]  # per-call latencies, and calls per second


def time_interleaved(functions: dict[str, Callable[[], object]], loops: int) -> dict[str, Measured]:
    """Per-call latencies of each function, and its rate in loops with no timer inside.

    The functions take turns (call by call, then block by block), so that each meets the same
    noise from the rest of the machine and the comparison stays fair.
    """
    for _ in range(max(100, loops // 10)):
        for function in functions.values():
            function()
    latencies: dict[str, list[float]] = {name: [] for name in functions}
    for _ in range(loops):
        for name, function in functions.items():
            start = perf_counter()
            function()
            latencies[name].append(perf_counter() - start)
    block, walls = 100, dict.fromkeys(functions, 0.0)
    for _ in range(loops // block):
        for name, function in functions.items():
            start = perf_counter()
            for _ in range(block):
                function()
            walls[name] += perf_counter() - start
    calls = loops // block * block
    return {name: (Timing(latencies[name], walls[name]), calls / walls[name]) for name in functions}


# --- The client process ----------------------------------------------------------------------


def http_load(
    url: str, token: str, requests: int, concurrency: int, warmup: int
) -> tuple[list[float], float]:
    """GET ``url`` ``requests`` times over ``concurrency`` connections (run in a child process)."""
    return asyncio.run(_http_load(url, token, requests, concurrency, warmup))


async def _http_load(
    url: str, token: str, requests: int, concurrency: int, warmup: int
) -> tuple[list[float], float]:
    connector = aiohttp.TCPConnector(limit=concurrency)
    headers = {"Authorization": f"Bearer {token}"}
    async with aiohttp.ClientSession(connector=connector, headers=headers) as session:

        async def get(_worker: int) -> None:
            async with session.get(url) as response:
                body = await response.read()
                if response.status != 200:
                    raise RuntimeError(f"GET {url}: {response.status} {body[:200]!r}")

        await drive(get, warmup, concurrency)
        timing = await drive(get, requests, concurrency)
    return timing.latencies, timing.wall


# --- Database, server and seed ---------------------------------------------------------------


def sqlite_file(url: str) -> Path | None:
    """The file of a SQLite URL (refused if it exists: the run needs a fresh one), else None."""
    parsed = make_url(url)
    if parsed.get_backend_name() != "sqlite":
        return None
    if not parsed.database or parsed.database == ":memory:" or Path(parsed.database).exists():
        raise SystemExit(f"{url}: name a SQLite file that does not exist yet")
    return Path(parsed.database)


def remove_sqlite(path: Path) -> None:
    for suffix in ("", "-wal", "-shm"):
        Path(f"{path}{suffix}").unlink(missing_ok=True)


@asynccontextmanager
async def fresh_database(url: str) -> AsyncIterator[str]:
    """A migrated database for this run: ``url`` itself for SQLite, a new one for Postgres.

    The Postgres database is created on the server ``url`` names and dropped at the end.
    """
    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite":
        await migrate(url)
        yield url
        return
    async with postgres_database(url) as bench_url:
        await migrate(bench_url)
        yield bench_url


async def migrate(url: str) -> None:
    database = Database(url)
    try:
        await database.migrate()
    finally:
        await database.dispose()


@asynccontextmanager
async def serve(settings: Settings) -> AsyncIterator[tuple[web.Application, str]]:
    """The app on a free local port, and its base URL."""
    app = create_app(settings)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    host, port = runner.addresses[0][:2]
    try:
        yield app, f"http://{host}:{port}"
    finally:
        await runner.cleanup()


async def seed(app: web.Application, base: str) -> tuple[str, float, list[int]]:
    """An admin, then 10 buildings of 20 rooms through the bulk endpoints.

    Returns the admin's token, the seconds the bulk requests took, and the first page's ids.
    """
    password_hash = await app[PASSWORDS].hash(PASSWORD)
    async with app[DATABASE].write() as session:
        await create_user(
            session, UserCreate(username=ADMIN, password=PASSWORD, role="admin"), password_hash
        )
    buildings = [
        {"code": f"B{b:02d}", "name": f"Building {b}", "floors": 4} for b in range(BUILDINGS)
    ]
    rooms = [
        {
            "building": f"B{b:02d}",
            "code": f"R{r:03d}",
            "kind": KINDS[r % len(KINDS)],
            "floor": r % 4,
            "capacity": 20 + 10 * (r % 15),
            "features": FEATURES[: 1 + (b + r) % len(FEATURES)],
        }
        for b in range(BUILDINGS)
        for r in range(ROOMS_PER_BUILDING)
    ]
    async with aiohttp.ClientSession(base) as client:
        async with client.post(
            "/api/v1/auth/token", json={"username": ADMIN, "password": PASSWORD}
        ) as response:
            response.raise_for_status()
            token = (await response.json())["access_token"]
        headers = {"Authorization": f"Bearer {token}"}
        start = perf_counter()
        for path, rows in (("/api/v1/buildings:bulk", buildings), ("/api/v1/rooms:bulk", rooms)):
            async with client.post(path, json={"rows": rows}, headers=headers) as response:
                body = await response.json()
                if response.status != 200 or body["summary"].get("created") != len(rows):
                    raise RuntimeError(f"seeding {path} failed: {response.status} {body}")
        seeded = perf_counter() - start
        async with client.get(f"/api/v1/rooms?limit={PAGE}", headers=headers) as response:
            first_page = [room["id"] for room in (await response.json())["items"]]
    return token, seeded, first_page


# --- Measurements ----------------------------------------------------------------------------


@asynccontextmanager
async def raw_query(
    url: str, concurrency: int
) -> AsyncIterator[tuple[Callable[[int], Awaitable[list[Any]]], str]]:
    """One connection per worker of the server's own driver, and a call running the raw query."""
    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite":
        sql = RAW_ROOMS_SQL["sqlite"].format(limit=PAGE)
        connections = [await aiosqlite.connect(parsed.database or "") for _ in range(concurrency)]
        for conn in connections:
            conn.row_factory = aiosqlite.Row  # rows by column name, like asyncpg's records

        async def fetch_sqlite(worker: int) -> list[Any]:
            async with connections[worker].execute(sql) as cursor:
                return list(await cursor.fetchall())

        try:
            yield fetch_sqlite, "aiosqlite"
        finally:
            for conn in connections:
                await conn.close()
        return
    sql = RAW_ROOMS_SQL["postgresql"].format(limit=PAGE)
    pg = [await asyncpg.connect(asyncpg_dsn(url)) for _ in range(concurrency)]

    async def fetch_postgres(worker: int) -> list[Any]:
        return list(await pg[worker].fetch(sql))

    try:
        yield fetch_postgres, "asyncpg"
    finally:
        for conn in pg:
            await conn.close()


def measure_tokens(app: web.Application, token: str, loops: int) -> dict[str, Measured]:
    """``Tokens.verify`` beside the itsdangerous ``loads`` it wraps, built the same way."""
    tokens: Tokens = app[ACCESS_TOKENS]
    keys = app[SETTINGS].secret_keys
    raw = URLSafeTimedSerializer(
        list(reversed(keys)),
        salt=ACCESS_TOKEN_SALT,
        signer_kwargs={"digest_method": hashlib.sha256},
    )
    if tokens.verify(token) is None:
        raise RuntimeError("the server's token does not verify")
    return time_interleaved(
        {
            "`Tokens.verify`": lambda: tokens.verify(token),
            "`URLSafeTimedSerializer.loads` (limit)": lambda: raw.loads(
                token, max_age=tokens.max_age
            ),
        },
        loops,
    )


async def measure_in_process(
    app: web.Application, url: str, first_page: list[int], args: argparse.Namespace
) -> tuple[Timing, Timing, str]:
    """``campus.list_rooms`` without HTTP, and the raw query reading the same rows."""
    database = app[DATABASE]
    warmup = warmup_of(args.requests)

    async def list_rooms(_worker: int) -> None:
        async with database.read() as session:
            await campus.list_rooms(session, RoomQuery(limit=PAGE))

    await drive(list_rooms, warmup, args.concurrency)
    service = await drive(list_rooms, args.requests, args.concurrency)
    async with raw_query(url, args.concurrency) as (fetch, driver):
        if [row["id"] for row in await fetch(0)] != first_page:
            raise RuntimeError("the raw query does not read the rows of the API's first page")
        await drive(fetch, warmup, args.concurrency)
        raw_sql = await drive(fetch, args.requests, args.concurrency)
    return service, raw_sql, driver


def warmup_of(requests: int) -> int:
    return max(50, requests // 10)


def log_to(stream: TextIO) -> None:
    """Log as ``compax server run`` does (text, INFO, access lines included), into ``stream``."""
    configure_logging(LogFormat.TEXT, "INFO")
    handler = logging.getLogger().handlers[0]
    assert isinstance(handler, logging.StreamHandler)
    handler.setStream(stream)


async def run(args: argparse.Namespace, url: str, workdir: Path, log: TextIO) -> str:
    """The whole benchmark on ``url``; its report as markdown."""
    begun, load_before = perf_counter(), os.getloadavg()[0]
    loop = asyncio.get_running_loop()
    with ProcessPoolExecutor(max_workers=1, mp_context=get_context("spawn")) as client:
        # Start the client process first, so that its imports are done before any timing.
        await loop.run_in_executor(client, platform.python_version)
        async with fresh_database(url) as bench_url:
            settings = Settings(
                database_url=bench_url,
                data_dir=workdir,
                secret_keys=[secrets.token_urlsafe(32)],
                db_pool_size=max(10, args.concurrency),
            )
            log_to(log)
            async with serve(settings) as (app, base):
                say(f"serving on {base}; seeding")
                token, seeded, first_page = await seed(app, base)
                say(f"token checks: {args.token_loops} calls each")
                checks = measure_tokens(app, token, args.token_loops)
                http: dict[str, Timing] = {}
                for path in ("/api/v1/me", f"/api/v1/rooms?limit={PAGE}"):
                    say(f"GET {path}: {args.requests} requests, concurrency {args.concurrency}")
                    latencies, wall = await loop.run_in_executor(
                        client, http_load, base + path, token, args.requests,
                        args.concurrency, warmup_of(args.requests),
                    )  # fmt: skip
                    http[path] = Timing(latencies, wall)
                say("campus.list_rooms() in process, and the raw query")
                service, raw_sql, driver = await measure_in_process(
                    app, bench_url, first_page, args
                )

    backend = make_url(url).get_backend_name()
    lines = [
        f"{backend} ({driver}), {args.requests} requests per row after "
        f"{warmup_of(args.requests)} to warm up, concurrency {args.concurrency}:",
        "",
        "| token check | calls | calls/s | p50 µs | p99 µs |",
        "|---|---:|---:|---:|---:|",
    ]
    for label, (timing, rate) in checks.items():
        lines.append(
            f"| {label} | {len(timing.latencies):,} | {rate:,.0f} | "
            f"{timing.percentile(50) * 1e6:,.1f} | {timing.percentile(99) * 1e6:,.1f} |"
        )
    lines += ["", "| request | p50 ms | p99 ms | per second |", "|---|---:|---:|---:|"]
    for label, timing in (
        ("`GET /api/v1/me` (token check + user lookup)", http["/api/v1/me"]),
        (f"`GET /api/v1/rooms?limit={PAGE}`", http[f"/api/v1/rooms?limit={PAGE}"]),
        (f"`campus.list_rooms(limit={PAGE})` in process, no HTTP", service),
        (f"one raw SQL query, the same {PAGE} rooms, {driver} (limit)", raw_sql),
    ):
        lines.append(
            f"| {label} | {timing.percentile(50) * 1e3:,.2f} | "
            f"{timing.percentile(99) * 1e3:,.2f} | {timing.per_second:,.0f} |"
        )
    lines += [
        "",
        f"Seeding {BUILDINGS} buildings and {BUILDINGS * ROOMS_PER_BUILDING} rooms through the "
        f"bulk endpoints took {seeded * 1e3:,.0f} ms; the whole run {perf_counter() - begun:.1f} s "
        f"(Python {platform.python_version()}, {os.cpu_count()} CPUs, load average "
        f"{load_before:.2f} before and {os.getloadavg()[0]:.2f} after the run).",
    ]
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    parser.add_argument(
        "--database-url",
        help="sqlite:///NEW_FILE, or a Postgres server URL on which a throw-away database is "
        "created and dropped (default: a SQLite file in a temporary directory)",
    )
    parser.add_argument("--requests", type=int, default=1000, help="timed requests per row")
    parser.add_argument("--concurrency", type=int, default=10, help="concurrent clients")
    parser.add_argument("--token-loops", type=int, default=20_000, help="token checks timed")
    args = parser.parse_args()
    if args.requests < 100 or args.concurrency < 1 or args.token_loops < 100:
        parser.error("use at least 100 requests, 1 client and 100 token loops")
    sqlite = sqlite_file(args.database_url) if args.database_url else None
    workdir = Path(tempfile.mkdtemp(prefix="compax-bench-"))
    url = args.database_url or f"sqlite:///{workdir / 'bench.sqlite3'}"
    try:
        with (workdir / "server.log").open("w", encoding="utf-8") as log:
            print(asyncio.run(run(args, url, workdir, log)))
    finally:
        if sqlite is not None:
            remove_sqlite(sqlite)
        shutil.rmtree(workdir, ignore_errors=True)


if __name__ == "__main__":
    main()
