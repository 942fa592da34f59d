"""Bookings benchmark (issue 3): booking creation over HTTP beside the raw INSERT, and
free-room search on 2,000 rooms and 500,000 bookings.

    python benchmarks/bench_bookings.py
    python benchmarks/bench_bookings.py \\
        --database-url postgresql://postgres@127.0.0.1:5432/postgres --seed 3

Each run creates a database ``compax_bench_<random>`` on the Postgres server the URL names,
migrates it with ``compax server migrate`` and serves it with ``compax server run`` in a
separate process (production mode, default pool), so that this process, the load generator,
never shares the server's event loop. It is dropped at the end (unless ``--keep``).

Seeding, all from one fixed random seed (dates are relative to the day of the run):

* through the API: 40 buildings of 50 rooms (``:bulk``), mixed capacities, kinds and features;
  32 staff users (``users:bulk``; argon2 made cheap for the run), each signed in for a token;
* through asyncpg ``COPY``: 500,000 confirmed bookings of 1 to 2 h over the next ~47 weeks,
  placed without overlaps per room (the exclusion constraint is active during the copy),
  then ``ANALYZE``.

Measurements:

(a) ``POST /api/v1/bookings`` from 32 concurrent clients, each a different staff user on its
    own keep-alive connection, all into distinct free hourly slots (every request must answer
    201): first through ``LeanClient``, a minimal HTTP/1.1 client on which the target is
    judged, then through aiohttp's client for comparison (it costs the load generator, which
    shares the machine with the server, three times the CPU a request); then, in the same run,
    the same INSERT (compiled from the ``Booking`` model) through asyncpg on 32 connections,
    each in its own transaction, into other distinct slots: the raw limit. Both write into
    the table that holds the 500,000 seeded bookings, on days after the seeded ones; while
    they run, ``pg_stat_activity`` is sampled (what the backends wait for) and the server's
    CPU time is read from ``/proc``. Booking creation over HTTP writes its audit trail (one
    entry per booking, checked after the run); the raw INSERT writes none.
(b) ``GET /api/v1/rooms/free`` for random 1-2 h windows within opening hours, random capacity
    and feature filters, sequentially after a warm-up; the same search through the service
    function in this process (no HTTP); and the same SQL statement alone through asyncpg.
    ``EXPLAIN (ANALYZE, BUFFERS)`` of a near-term search and of the costliest of the five
    slowest, with the indexes they used. At the very end (unless ``--no-variants``), the same
    windows through two index-friendly rewrites of the statement, with and without
    ``LIMIT 50``, each checked to find exactly the rooms the app's statement finds.

Results are markdown tables on stdout; progress goes to stderr.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import random
import shutil
import statistics
import subprocess
import sys
import tempfile
import uuid
from collections import Counter
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from contextlib import asynccontextmanager, suppress
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from pathlib import Path
from time import perf_counter
from typing import Any

import aiohttp
import asyncpg
from bench_support import asyncpg_dsn, free_port, postgres_database, say
from sqlalchemy import insert
from sqlalchemy.dialects.postgresql.asyncpg import dialect as asyncpg_dialect
from sqlalchemy.engine import make_url
from sqlmodel import col

from compax_server.db import Database
from compax_server.models import Booking, Room
from compax_server.services import availability
from compax_server.services.policy import BookingPolicy
from compax_server.settings import Settings
from sync.rules import default_opening_week, weekday_of
from sync.schemas import FreeRoomQuery, RoomQuery

DEFAULT_SERVER = "postgresql://postgres@127.0.0.1:5432/postgres"
SECRET_KEY = "bench"  # noqa: S105 (a throw-away database)
ADMIN = "bench-admin"
PASSWORD = "bench-password-0123"  # noqa: S105
CHEAP_ARGON2 = {"COMPAX_ARGON2_TIME_COST": "1", "COMPAX_ARGON2_MEMORY_KIB": "64"}

FEATURES = {  # feature: share of rooms that have it
    "whiteboard": 0.8,
    "projector": 0.7,
    "ac": 0.6,
    "video_conf": 0.2,
    "computers": 0.15,
    "smart_board": 0.1,
}
KINDS = [("classroom", 0.55), ("seminar_room", 0.15), ("lab", 0.12), ("lecture_hall", 0.1),
         ("meeting_room", 0.08)]  # fmt: skip
CAPACITIES = {
    "classroom": [30, 40, 50, 60, 80],
    "seminar_room": [12, 16, 20, 25],
    "lab": [20, 30, 40],
    "lecture_hall": [100, 150, 200, 300, 500],
    "meeting_room": [6, 8, 10, 12],
}
PURPOSES = ["class", "class", "class", "exam", "meeting", "event"]
SEARCH_CAPACITIES = [None, None, 10, 20, 30, 40, 60, 100, 150]
SEARCH_FEATURES = ["projector", "ac", "whiteboard", "video_conf", "computers"]
SEED_DAYS = 329  # bookings are seeded on days 1..329 after today
WRITE_DAYS = (331, 360)  # (a) books into these days (the limit is 365 ahead)
WEEK = default_opening_week()


# --- Figures ---------------------------------------------------------------------------------


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


async def drive(work: list[list[Any]], call: Callable[[int, Any], Awaitable[None]]) -> Timing:
    """Each worker ``i`` runs ``call(i, item)`` over ``work[i]`` in turn; all run at once."""
    latencies: list[float] = []

    async def worker(index: int) -> None:
        for item in work[index]:
            start = perf_counter()
            await call(index, item)
            latencies.append(perf_counter() - start)

    start = perf_counter()
    await asyncio.gather(*(worker(i) for i in range(len(work))))
    return Timing(latencies, perf_counter() - start)


def ms(seconds: float) -> str:
    return f"{seconds * 1e3:,.2f}"


# --- Database and server processes -----------------------------------------------------------


def compax(args: list[str], env: dict[str, str], stdin: str | None = None) -> None:
    """Run ``compax <args>`` (as ``python -m compax_cli``) and fail loudly if it fails."""
    done = subprocess.run(
        [sys.executable, "-m", "compax_cli", *args],
        env={**os.environ, **env},
        input=stdin,
        capture_output=True,
        text=True,
        check=False,
    )
    if done.returncode != 0:
        raise RuntimeError(f"compax {' '.join(args)} failed: {done.stderr}")


@asynccontextmanager
async def fresh_database(server_url: str, keep: bool) -> AsyncIterator[str]:
    """A new database on the server, dropped at the end."""
    if make_url(server_url).get_backend_name() != "postgresql":
        raise SystemExit("this benchmark needs Postgres (the exclusion constraint)")
    async with postgres_database(server_url, keep=keep) as url:
        yield url


def start_server(env: dict[str, str], log: Path) -> tuple[subprocess.Popen[bytes], str]:
    """``compax server run`` on a free port, its stderr going to ``log``."""
    port = free_port()
    with log.open("wb") as stderr:
        process = subprocess.Popen(
            [sys.executable, "-m", "compax_cli", "server", "run"],
            env={**os.environ, **env, "COMPAX_PORT": str(port)},
            stdout=subprocess.DEVNULL, stderr=stderr,
        )  # fmt: skip
    return process, f"http://127.0.0.1:{port}"


def stop_server(process: subprocess.Popen[bytes]) -> None:
    process.terminate()
    try:
        process.wait(timeout=15)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()


@asynccontextmanager
async def servers(
    env: dict[str, str], count: int, workdir: Path
) -> AsyncIterator[tuple[list[str], list[int]]]:
    """``count`` processes of ``compax server run``; yields their base URLs and pids."""
    started: list[tuple[subprocess.Popen[bytes], str, Path]] = []
    try:
        for index in range(count):
            log = workdir / f"server-{index}.log"
            started.append((*start_server(env, log), log))
        async with aiohttp.ClientSession() as session:
            for process, url, log in started:
                await wait_until_healthy(session, process, url, log)
        yield [url for _, url, _ in started], [process.pid for process, _, _ in started]
    finally:
        for process, _, _ in started:
            stop_server(process)


def server_failed(message: str, log: Path) -> RuntimeError:
    return RuntimeError(f"{message}: {log.read_text()}")


async def wait_until_healthy(
    session: aiohttp.ClientSession, process: subprocess.Popen[bytes], url: str, log: Path
) -> None:
    for _ in range(300):
        if process.poll() is not None:
            raise server_failed(f"server exited with {process.returncode}", log)
        try:
            async with session.get(f"{url}/health") as response:
                if response.status == 200:
                    return
        except aiohttp.ClientError:
            pass
        await asyncio.sleep(0.1)
    raise server_failed(f"server at {url} never became healthy", log)


@dataclass
class CpuUse:
    """CPU seconds of the server processes, of this process (the load generator) and of
    Postgres' processes, and the machine's busy share over a phase."""

    server_seconds: float
    client_seconds: float
    postgres_seconds: float
    machine_busy: float
    wall: float


def process_cpu_seconds(pids: list[int], *, reaped: bool = False) -> float:
    """User plus system CPU time of processes, from ``/proc/<pid>/stat`` (Linux); with
    ``reaped``, plus that of their children that have exited and been waited for."""
    total = 0
    for pid in pids:
        fields = Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()
        total += sum(int(value) for value in fields[11 : 15 if reaped else 13])
    return total / os.sysconf("SC_CLK_TCK")


def postgres_cpu_seconds() -> float:
    """CPU time of this machine's Postgres processes (0 when Postgres runs elsewhere),
    including backends that exited meanwhile: the postmaster reaps them, so their time is in
    its children's total."""
    pids = []
    for comm in Path("/proc").glob("[0-9]*/comm"):
        with suppress(OSError):
            if comm.read_text().strip() == "postgres":
                pids.append(int(comm.parent.name))
    with suppress(OSError):
        return process_cpu_seconds(pids, reaped=True)
    return 0.0


def machine_ticks() -> tuple[int, int]:
    """(busy, total) CPU ticks of the whole machine, from ``/proc/stat``."""
    values = [int(v) for v in Path("/proc/stat").read_text().split("\n")[0].split()[1:9]]
    idle = values[3] + values[4]
    return sum(values) - idle, sum(values)


@asynccontextmanager
async def cpu_use(pids: list[int]) -> AsyncIterator[list[CpuUse]]:
    """Measures the block; the one ``CpuUse`` is in the yielded list once it ends."""
    found: list[CpuUse] = []
    server, client = process_cpu_seconds(pids), process_cpu_seconds([os.getpid()])
    postgres, (busy, total), started = postgres_cpu_seconds(), machine_ticks(), perf_counter()
    yield found
    busy_after, total_after = machine_ticks()
    found.append(
        CpuUse(
            process_cpu_seconds(pids) - server,
            process_cpu_seconds([os.getpid()]) - client,
            postgres_cpu_seconds() - postgres,
            (busy_after - busy) / max(1, total_after - total),
            perf_counter() - started,
        )
    )


# --- Seeding through the API -----------------------------------------------------------------


@dataclass
class Campus:
    admin_token: str
    room_ids: list[int]
    capacities: dict[int, int]
    staff: list[tuple[int, str]]  # (user id, token)
    seconds: float


def campus_rows(rng: random.Random, buildings: int, per_building: int) -> tuple[list, list]:
    building_rows = [
        {"code": f"B{b:02d}", "name": f"Building {b}", "floors": 5} for b in range(buildings)
    ]
    room_rows = []
    for b in range(buildings):
        for r in range(per_building):
            kind = rng.choices([k for k, _ in KINDS], [w for _, w in KINDS])[0]
            features = [f for f, share in FEATURES.items() if rng.random() < share]
            if kind == "lab" and "computers" not in features:
                features.append("computers")
            room_rows.append(
                {
                    "building": f"B{b:02d}",
                    "code": f"R{r:03d}",
                    "kind": kind,
                    "floor": r % 5,
                    "capacity": rng.choice(CAPACITIES[kind]),
                    "features": features,
                }
            )
    return building_rows, room_rows


async def seed_campus(
    base: str, rng: random.Random, buildings: int, per_building: int, clients: int
) -> Campus:
    """Buildings, rooms and staff through the bulk endpoints; a token for each staff user."""
    started = perf_counter()
    building_rows, room_rows = campus_rows(rng, buildings, per_building)
    staff_rows = [
        {"username": f"staff{i:03d}", "password": PASSWORD, "role": "staff",
         "full_name": f"Staff {i}"}
        for i in range(clients)
    ]  # fmt: skip
    async with aiohttp.ClientSession(base) as client:
        admin_token = await sign_in(client, ADMIN)
        headers = {"Authorization": f"Bearer {admin_token}"}

        async def bulk(kind: str, rows: list[dict[str, Any]]) -> list[int]:
            began = perf_counter()
            ids = []
            for first in range(0, len(rows), 1000):
                chunk = rows[first : first + 1000]
                async with client.post(
                    f"/api/v1/{kind}:bulk", json={"rows": chunk}, headers=headers
                ) as response:
                    body = await response.json()
                if response.status != 200 or body["summary"].get("created") != len(chunk):
                    raise RuntimeError(f"seeding {kind} failed: {response.status} {body}")
                ids += [row["id"] for row in body["results"]]
            say(f"  {kind}:bulk, {len(rows)} rows: {perf_counter() - began:.1f} s")
            return ids

        await bulk("buildings", building_rows)
        room_ids = await bulk("rooms", room_rows)
        staff_ids = await bulk("users", staff_rows)
        tokens = await asyncio.gather(*(sign_in(client, row["username"]) for row in staff_rows))
    capacities = {rid: row["capacity"] for rid, row in zip(room_ids, room_rows, strict=True)}
    return Campus(
        admin_token,
        room_ids,
        capacities,
        list(zip(staff_ids, tokens, strict=True)),
        perf_counter() - started,
    )


async def sign_in(client: aiohttp.ClientSession, username: str) -> str:
    async with client.post(
        "/api/v1/auth/token", json={"username": username, "password": PASSWORD}
    ) as response:
        body = await response.json()
        if response.status != 200:
            raise RuntimeError(f"sign-in of {username} failed: {response.status} {body}")
    return str(body["access_token"])


# --- Seeding bookings with COPY --------------------------------------------------------------


def opening(day: date) -> tuple[int, int] | None:
    """Opening hours of ``day`` as minutes after midnight (campus zone is UTC)."""
    hours = WEEK.get(weekday_of(day))
    if hours is None:
        return None
    return hours.open.hour * 60 + hours.open.minute, hours.close.hour * 60 + hours.close.minute


def midnight(day: date) -> datetime:
    return datetime.combine(day, time(), tzinfo=UTC)


@dataclass
class Seed:
    rows: int = 0
    seconds: float = 0.0
    per_day: Counter[int] = field(default_factory=Counter)


def booking_records(
    rng: random.Random, campus: Campus, today: date, total: int, seed: Seed
) -> Iterator[tuple[Any, ...]]:
    """``total`` confirmed bookings, none overlapping another of its room, in table order.

    Bookings are spread over every open (room, day) of the seeded weeks at random (about 0.8
    a room-day); the bookings of one room-day get 60, 90 or 120 minutes each and random gaps
    on a 15-minute grid, so they never overlap.
    """
    days = [today + timedelta(days=d) for d in range(1, SEED_DAYS + 1)]
    days = [d for d in days if opening(d) is not None]
    pairs = len(campus.room_ids) * len(days)
    counts = Counter(rng.choices(range(pairs), k=total))
    owners = [user_id for user_id, _ in campus.staff]
    now = datetime.now(UTC)
    for pair in sorted(counts):
        room_id = campus.room_ids[pair // len(days)]
        day = days[pair % len(days)]
        opens, closes = opening(day) or (0, 0)
        count = counts[pair]
        durations = [rng.choice((60, 90, 120)) for _ in range(count)]
        while sum(durations) > closes - opens:
            durations[durations.index(max(durations))] -= 30
            if min(durations) < 30:
                raise RuntimeError(f"{count} bookings do not fit on {day}")
        slack = (closes - opens - sum(durations)) // 15
        cuts = sorted(rng.randint(0, slack) for _ in range(count))
        gaps = [b - a for a, b in zip([0, *cuts[:-1]], cuts, strict=True)]
        minute, base = opens, midnight(day)
        seed.per_day[(day - today).days] += count
        for gap, duration in zip(gaps, durations, strict=True):
            minute += gap * 15
            start = base + timedelta(minutes=minute)
            minute += duration
            seed.rows += 1
            yield (
                room_id, start, start + timedelta(minutes=duration), f"Seeded {seed.rows}",
                rng.randint(1, campus.capacities[room_id]), False, "",
                uuid.UUID(int=rng.getrandbits(128), version=4), rng.choice(PURPOSES),
                rng.choice(owners), "confirmed", None, 1, now, now, *UNSET,
            )  # fmt: skip


INSERT = insert(Booking.__table__).compile(dialect=asyncpg_dialect())
COLUMNS = list(INSERT.positiontup or [])
#: The columns after ``updated_at`` (check-in and approval), unset on a new booking.
UNSET = (None, None, None, None, "")


async def copy_bookings(url: str, records: Iterator[tuple[Any, ...]]) -> None:
    conn = await asyncpg.connect(asyncpg_dsn(url))
    try:
        await conn.copy_records_to_table("bookings", records=records, columns=COLUMNS)
        await conn.execute("ANALYZE")
    finally:
        await conn.close()


# --- (a) Booking creation --------------------------------------------------------------------


def write_slots(
    rng: random.Random, campus: Campus, today: date, count: int
) -> list[tuple[int, datetime, datetime]]:
    """``count`` distinct free hourly slots (room, start, end) after the seeded days."""
    days = [today + timedelta(days=d) for d in range(WRITE_DAYS[0], WRITE_DAYS[1] + 1)]
    days = [d for d in days if opening(d) is not None]
    chosen: set[tuple[int, date, int]] = set()
    while len(chosen) < count:
        day = rng.choice(days)
        opens, closes = opening(day) or (0, 0)
        chosen.add((rng.choice(campus.room_ids), day, rng.randrange(opens // 60, closes // 60)))
    slots = [
        (room, midnight(day) + timedelta(hours=hour), midnight(day) + timedelta(hours=hour + 1))
        for room, day, hour in sorted(chosen)
    ]
    rng.shuffle(slots)
    return slots


def deal(items: list[Any], workers: int) -> list[list[Any]]:
    return [items[i::workers] for i in range(workers)]


class LeanClient:
    """A minimal HTTP/1.1 client on one keep-alive connection (asyncio streams): the request
    written in one piece, the answer read by its ``Content-Length``. Load generator and server
    share this machine's cores, and aiohttp's client spent three times as much CPU per request,
    in every request's turnaround (docs/benchmarks.md)."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, host: str):
        self.reader, self.writer, self.host = reader, writer, host.encode()

    @classmethod
    async def connect(cls, base: str) -> LeanClient:
        url = make_url(base.replace("http://", "postgresql://", 1))  # any scheme parses alike
        reader, writer = await asyncio.open_connection(url.host, url.port)
        return cls(reader, writer, f"{url.host}:{url.port}")

    async def post_json(self, path: str, token: str, body: Any) -> tuple[int, bytes]:
        """POST ``body`` as JSON with a bearer token; the status and the answer's body."""
        data = json.dumps(body).encode()
        self.writer.write(
            b"POST %s HTTP/1.1\r\nHost: %s\r\nAuthorization: Bearer %s\r\n"
            b"Content-Type: application/json\r\nContent-Length: %d\r\n\r\n%s"
            % (path.encode(), self.host, token.encode(), len(data), data)
        )
        head = await self.reader.readuntil(b"\r\n\r\n")
        status_line, *fields = head.decode("latin-1").split("\r\n")
        headers = dict(field.lower().split(": ", 1) for field in fields if field)
        if "content-length" not in headers or headers.get("connection") == "close":
            raise RuntimeError(f"unexpected answer framing: {head!r}")
        answer = await self.reader.readexactly(int(headers["content-length"]))
        return int(status_line.split(" ", 2)[1]), answer

    async def close(self) -> None:
        self.writer.close()
        await self.writer.wait_closed()


class AiohttpClient:
    """aiohttp's client on one keep-alive connection, for comparison with ``LeanClient``."""

    def __init__(self, session: aiohttp.ClientSession) -> None:
        self.session = session

    @classmethod
    async def connect(cls, base: str) -> AiohttpClient:
        return cls(aiohttp.ClientSession(base, connector=aiohttp.TCPConnector(limit=1)))

    async def post_json(self, path: str, token: str, body: Any) -> tuple[int, bytes]:
        headers = {"Authorization": f"Bearer {token}"}
        async with self.session.post(path, json=body, headers=headers) as response:
            return response.status, await response.read()

    async def close(self) -> None:
        await self.session.close()


#: The HTTP clients (a) books through; the target is judged on the first.
CLIENTS: dict[str, Callable[[str], Awaitable[LeanClient | AiohttpClient]]] = {
    "lean": LeanClient.connect,
    "aiohttp": AiohttpClient.connect,
}


async def http_bookings(
    urls: list[str],
    campus: Campus,
    slots: list[tuple[int, datetime, datetime]],
    warmup: int,
    client: str,
) -> Timing:
    """POST every slot from ``len(campus.staff)`` clients of kind ``client``, each its own user
    and keep-alive connection."""
    clients = [await CLIENTS[client](urls[i % len(urls)]) for i in range(len(campus.staff))]

    async def post(worker: int, slot: tuple[int, datetime, datetime]) -> None:
        room_id, start, end = slot
        body = {
            "room_id": room_id, "start": start.isoformat(), "end": end.isoformat(),
            "title": "Bench booking", "purpose": "meeting", "attendees": 5,
        }  # fmt: skip
        token = campus.staff[worker][1]
        status, answer = await clients[worker].post_json("/api/v1/bookings", token, body)
        if status != 201:
            raise RuntimeError(f"POST /api/v1/bookings: {status} {answer[:300]!r}")

    try:
        await drive(deal(slots[:warmup], len(clients)), post)
        return await drive(deal(slots[warmup:], len(clients)), post)
    finally:
        for connection in clients:
            await connection.close()


@asynccontextmanager
async def wait_sampler(url: str, interval: float = 0.02) -> AsyncIterator[Counter[str]]:
    """What the database's client backends are doing, sampled from ``pg_stat_activity``."""
    seen: Counter[str] = Counter()
    conn = await asyncpg.connect(asyncpg_dsn(url))
    sql = """
        SELECT state, wait_event_type, wait_event, left(regexp_replace(query, '\\s+', ' ', 'g'), 40)
        FROM pg_stat_activity
        WHERE datname = current_database() AND pid <> pg_backend_pid()
          AND backend_type = 'client backend' AND state <> 'idle'"""

    async def sample() -> None:
        while True:
            for state, kind, event, query in await conn.fetch(sql):
                if kind == "Client":  # waiting for the client's (the app's) next statement
                    seen[f"{state}, waiting for the client, after `{query.strip()}…`"] += 1
                elif kind:
                    seen[f"{state}: {kind}/{event} in `{query.strip()}…`"] += 1
                else:
                    seen[f"{state}: on CPU in `{query.strip()}…`"] += 1
            seen["(samples)"] += 1
            await asyncio.sleep(interval)

    task = asyncio.create_task(sample())
    try:
        yield seen
    finally:
        task.cancel()
        with suppress(asyncio.CancelledError):
            await task
        await conn.close()


async def raw_inserts(
    url: str, campus: Campus, slots: list[tuple[int, datetime, datetime]], warmup: int
) -> Timing:
    """The INSERT the app's flush sends, through asyncpg, one transaction per row."""
    clients = len(campus.staff)
    pool = [await asyncpg.connect(asyncpg_dsn(url)) for _ in range(clients)]
    sql = INSERT.string

    async def write(worker: int, slot: tuple[int, datetime, datetime]) -> None:
        room_id, start, end = slot
        now = datetime.now(UTC)
        values = {
            "room_id": room_id, "start": start, "end": end, "title": "Raw booking",
            "attendees": 5, "private": False, "notes": "", "id": uuid.uuid4(),
            "purpose": "meeting", "owner_id": campus.staff[worker][0], "status": "confirmed",
            "series_id": None, "version": 1, "created_at": now, "updated_at": now,
            **dict(zip(COLUMNS[-len(UNSET):], UNSET, strict=True)),
        }  # fmt: skip
        await pool[worker].execute(sql, *(values[name] for name in COLUMNS))

    try:
        await drive(deal(slots[:warmup], clients), write)
        return await drive(deal(slots[warmup:], clients), write)
    finally:
        for conn in pool:
            await conn.close()


# --- (b) Free-room search --------------------------------------------------------------------


@dataclass(frozen=True)
class Search:
    start: datetime
    end: datetime
    capacity: int | None
    features: tuple[str, ...]

    def params(self) -> dict[str, str]:
        query = {"start": self.start.isoformat(), "end": self.end.isoformat()}
        if self.capacity is not None:
            query["capacity"] = str(self.capacity)
        if self.features:
            query["features"] = ",".join(self.features)
        return query

    def model(self) -> FreeRoomQuery:
        return FreeRoomQuery.model_validate(self.params())


def searches(rng: random.Random, today: date, count: int) -> list[Search]:
    """Random 1-2 h windows within opening hours on the seeded days, random filters."""
    found = []
    while len(found) < count:
        day = today + timedelta(days=rng.randint(1, SEED_DAYS))
        hours = opening(day)
        if hours is None:
            continue
        minutes = rng.choice((60, 90, 120))
        start = rng.randrange(hours[0], hours[1] - minutes + 1, 15)
        begin = midnight(day) + timedelta(minutes=start)
        features = tuple(sorted(rng.sample(SEARCH_FEATURES, rng.choice((0, 0, 1, 1, 2)))))
        found.append(
            Search(begin, begin + timedelta(minutes=minutes), rng.choice(SEARCH_CAPACITIES),
                   features)
        )  # fmt: skip
    return found


def free_rooms_sql(search: Search) -> tuple[str, list[Any]]:
    """The statement ``availability.free_rooms`` runs, as asyncpg receives it."""
    query = search.model()
    room_query = RoomQuery(capacity=query.capacity, features=query.features)
    statement = availability._free_rooms_statement(query.start, query.end, room_query)
    compiled = statement.order_by(col(Room.capacity).nulls_last(), col(Room.id)).compile(
        dialect=asyncpg_dialect(), compile_kwargs={"render_postcompile": True}
    )
    return compiled.string, [compiled.params[name] for name in compiled.positiontup or []]


async def http_searches(base: str, token: str, plan: list[Search], warmup: int) -> Timing:
    found = []
    async with aiohttp.ClientSession(base, headers={"Authorization": f"Bearer {token}"}) as session:

        async def get(_worker: int, search: Search) -> None:
            async with session.get("/api/v1/rooms/free", params=search.params()) as response:
                body = await response.read()
                if response.status != 200:
                    raise RuntimeError(f"GET /api/v1/rooms/free: {response.status} {body[:300]!r}")
                found.append(len(json.loads(body)["items"]))

        await drive([plan[:warmup]], get)
        found.clear()
        timing = await drive([plan[warmup:]], get)
    say(f"  free rooms per answer: mean {statistics.mean(found):.1f}, min {min(found)}")
    return timing


async def service_searches(url: str, plan: list[Search], warmup: int) -> Timing:
    """``availability.free_rooms`` in this process: the server's work minus HTTP and auth."""
    database = Database(url, pool_size=1, max_overflow=0)
    policy = BookingPolicy.from_settings(Settings(secret_keys=[SECRET_KEY]))

    async def search(_worker: int, item: Search) -> None:
        async with database.read() as session:
            await availability.free_rooms(session, item.model(), policy)

    try:
        await drive([plan[:warmup]], search)
        return await drive([plan[warmup:]], search)
    finally:
        await database.dispose()


async def sql_searches(url: str, plan: list[Search], warmup: int) -> tuple[Timing, list[int]]:
    """The same statement alone through asyncpg (prepared, like SQLAlchemy's asyncpg dialect)."""
    conn = await asyncpg.connect(asyncpg_dsn(url))
    rows: list[int] = []
    statements = [free_rooms_sql(item) for item in plan]

    async def fetch(_worker: int, item: tuple[str, list[Any]]) -> None:
        rows.append(len(await conn.fetch(item[0], *item[1])))

    try:
        await drive([statements[:warmup]], fetch)
        rows.clear()
        return await drive([statements[warmup:]], fetch), rows
    finally:
        await conn.close()


# Two ways to ask "is the room free" that the indexes can answer in O(log n), for comparison
# with the app's statement (measured after (a), on the same windows; not used by the app).
VARIANT_HEAD = """
SELECT rooms.id, rooms.capacity, rooms.code, rooms.name, rooms.kind, rooms.opening_hours,
       buildings.code
FROM rooms JOIN buildings ON buildings.id = rooms.building_id
WHERE rooms.bookable
  AND ($3::int IS NULL OR rooms.capacity >= $3::int)
  AND (cardinality($4::text[]) = 0 OR rooms.id IN (
        SELECT room_id FROM room_features WHERE feature = ANY($4::text[])
        GROUP BY room_id HAVING count(*) = cardinality($4::text[])))
  AND NOT EXISTS (SELECT 1 FROM blackouts WHERE blackouts.room_id = rooms.id
                  AND blackouts."end" > $1 AND blackouts.start < $2)
  AND NOT EXISTS (SELECT 1 FROM blackouts WHERE blackouts.building_id = rooms.building_id
                  AND blackouts."end" > $1 AND blackouts.start < $2)
"""
VARIANTS = {
    "next-booking probe on `ix_bookings_room_end`": """
  AND NOT EXISTS (
        SELECT 1 FROM (SELECT start FROM bookings
                       WHERE bookings.room_id = rooms.id AND bookings.status = 'confirmed'
                         AND bookings."end" > $1
                       ORDER BY bookings."end" LIMIT 1) AS next_booking
        WHERE next_booking.start < $2)""",
    "busy rooms from a GiST index on `tstzrange(start, end)`": """
  AND rooms.id NOT IN (
        SELECT room_id FROM bookings
        WHERE bookings.status = 'confirmed'
          AND tstzrange(bookings.start, bookings."end", '[)') && tstzrange($1, $2, '[)'))""",
}
SPAN_INDEX = """CREATE INDEX ix_bench_bookings_span ON bookings
    USING gist (tstzrange(start, "end", '[)')) WHERE status = 'confirmed'"""


async def query_variants(
    url: str, plan: list[Search], warmup: int
) -> list[tuple[str, Timing, float, bool]]:
    """The app's statement and the variants, each with and without ``LIMIT 50``: timing,
    mean rows, and whether every answer had the rooms (in order) the app's statement had."""
    conn = await asyncpg.connect(asyncpg_dsn(url))
    found: list[tuple[str, Timing, float, bool]] = []
    try:
        expected = []
        for search in plan:
            sql, params = free_rooms_sql(search)
            expected.append([row["id"] for row in await conn.fetch(sql, *params)])
        await conn.execute(SPAN_INDEX)
        await conn.execute("ANALYZE bookings")
        candidates = [("the app's statement", None)]
        candidates += [(label, VARIANT_HEAD + extra) for label, extra in VARIANTS.items()]
        for label, body in candidates:
            for limit in (None, 50):
                ids: list[list[int]] = []

                async def fetch(
                    _worker: int,
                    search: Search,
                    body: str | None = body,
                    limit: int | None = limit,
                    ids: list[list[int]] = ids,
                ) -> None:
                    if body is None:
                        sql, params = free_rooms_sql(search)
                        sql += f" LIMIT {limit}" if limit else ""
                    else:
                        sql = body + " ORDER BY rooms.capacity, rooms.id"
                        sql += f" LIMIT {limit}" if limit else ""
                        params = [search.start, search.end, search.capacity, list(search.features)]
                    ids.append([row["id"] for row in await conn.fetch(sql, *params)])

                await drive([plan[:warmup]], fetch)
                timing = await drive([plan[warmup:]], fetch)
                same = all(
                    got == want[:limit] if limit else got == want
                    for got, want in zip(ids[warmup:], expected[warmup:], strict=True)
                )
                rows = statistics.mean(len(got) for got in ids[warmup:])
                found.append((f"{label}{f', LIMIT {limit}' if limit else ''}", timing, rows, same))
    finally:
        await conn.close()
    return found


@dataclass
class Explained:
    search: Search
    text: list[str]
    nodes: list[tuple[int, dict[str, Any]]]
    execution_ms: float
    planning_ms: float


async def explain(url: str, search: Search) -> Explained:
    """EXPLAIN ANALYZE of one search, as text and as a node list (from the JSON form)."""
    sql, params = free_rooms_sql(search)
    conn = await asyncpg.connect(asyncpg_dsn(url))
    try:
        await conn.fetch(sql, *params)  # warm the cache as the timed runs did
        text = [r[0] for r in await conn.fetch("EXPLAIN (ANALYZE, BUFFERS) " + sql, *params)]
        plan = json.loads(
            await conn.fetchval("EXPLAIN (ANALYZE, BUFFERS, FORMAT JSON) " + sql, *params)
        )[0]
    finally:
        await conn.close()
    nodes: list[tuple[int, dict[str, Any]]] = []

    def walk(node: dict[str, Any], depth: int) -> None:
        nodes.append((depth, node))
        for child in node.get("Plans", []):
            walk(child, depth + 1)

    walk(plan["Plan"], 0)
    return Explained(search, text, nodes, plan["Execution Time"], plan["Planning Time"])


# --- The run ---------------------------------------------------------------------------------


@dataclass
class Results:
    campus: Campus
    seed: Seed
    http_create: dict[str, Timing]  # by client (``CLIENTS``)
    raw_create: Timing
    http_waits: dict[str, Counter[str]]
    raw_waits: Counter[str]
    http_search: Timing
    service_search: Timing
    sql_search: Timing
    sql_rows: list[int]
    explained: list[tuple[str, Explained]]
    server_version: str
    load: str
    cpu: dict[str, CpuUse]
    variants: list[tuple[str, Timing, float, bool]]
    audited: int  # the audit entries written by the bookings made over HTTP


def production_env(url: str, workdir: Path, **settings: str) -> dict[str, str]:
    """The environment of ``compax server run`` in production mode on ``url`` (plus
    ``settings``), with the schema migrated and the benchmark's administrator created."""
    env = {
        "COMPAX_MODE": "production",
        "COMPAX_DATABASE_URL": url,
        "COMPAX_SECRET_KEYS": SECRET_KEY,
        "COMPAX_DATA_DIR": str(workdir),
        "COMPAX_LOG_LEVEL": "WARNING",
        **CHEAP_ARGON2,
        **settings,
    }
    compax(["server", "migrate"], env)
    compax(["server", "create-admin", "--username", ADMIN, "--password-stdin"], env,
           stdin=PASSWORD + "\n")  # fmt: skip
    return env


async def run(args: argparse.Namespace) -> None:
    begun = perf_counter()
    rng = random.Random(args.seed)
    today = datetime.now(UTC).date()
    workdir = Path(tempfile.mkdtemp(prefix="compax-bench-"))
    try:
        async with fresh_database(args.database_url, args.keep) as url:
            pool = {"COMPAX_DB_POOL_SIZE": str(args.server_pool_size)}
            env = production_env(url, workdir, **(pool if args.server_pool_size else {}))
            async with servers(env, args.servers, workdir) as (urls, pids):
                say(f"{args.servers} server process(es) at {', '.join(urls)}; seeding the campus")
                results = await measure(args, url, urls, pids, rng, today)
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
    report(args, results, perf_counter() - begun)


async def measure(
    args: argparse.Namespace,
    url: str,
    urls: list[str],
    pids: list[int],
    rng: random.Random,
    today: date,
) -> Results:
    campus = await seed_campus(urls[0], rng, args.buildings, args.rooms_per_building, args.clients)
    say(f"  {len(campus.room_ids)} rooms, {len(campus.staff)} staff in {campus.seconds:.1f} s; "
        f"copying {args.bookings:,} bookings")  # fmt: skip
    seed = Seed()
    started = perf_counter()
    await copy_bookings(url, booking_records(rng, campus, today, args.bookings, seed))
    seed.seconds = perf_counter() - started
    say(f"  copied {seed.rows:,} bookings and analysed in {seed.seconds:.1f} s")

    # (b) first, on exactly the seeded table.
    plan = searches(rng, today, args.searches + args.search_warmup)
    say(f"(b) GET /api/v1/rooms/free: {args.searches} sequential requests")
    async with cpu_use(pids) as search_cpu:
        http_search = await http_searches(urls[0], campus.staff[0][1], plan, args.search_warmup)
    say("(b) availability.free_rooms() in process, then the SQL alone")
    service_search = await service_searches(url, plan, args.search_warmup)
    sql_search, sql_rows = await sql_searches(url, plan, args.search_warmup)
    tomorrow = today + timedelta(days=1)
    while opening(tomorrow) != (7 * 60, 22 * 60):
        tomorrow += timedelta(days=1)
    near = Search(midnight(tomorrow) + timedelta(hours=10),
                  midnight(tomorrow) + timedelta(hours=11), 40, ("projector",))  # fmt: skip
    timed = plan[args.search_warmup :]
    slowest = sorted(range(len(timed)), key=lambda i: sql_search.latencies[i])[-5:]
    worst = max([await explain(url, timed[i]) for i in slowest], key=lambda e: e.execution_ms)
    explained = [
        ("a near-term search (tomorrow)", await explain(url, near)),
        ("the costliest of the 5 slowest timed SQL searches", worst),
    ]

    # (a) on the seeded table, into the weeks after the seeded ones.
    over_http = args.creates + args.create_warmup
    raw_rows = args.raw_creates + args.create_warmup
    slots = write_slots(rng, campus, today, over_http * len(CLIENTS) + raw_rows)
    http_create: dict[str, Timing] = {}
    http_waits: dict[str, Counter[str]] = {}
    cpu: dict[str, CpuUse] = {"search": search_cpu[0]}
    for at, client in enumerate(CLIENTS):
        say(f"(a) POST /api/v1/bookings: {args.creates} from {args.clients} {client} clients")
        mine = slots[at * over_http : (at + 1) * over_http]
        async with wait_sampler(url) as http_waits[client], cpu_use(pids) as create_cpu:
            http_create[client] = await http_bookings(
                urls, campus, mine, args.create_warmup, client
            )
        cpu[f"create:{client}"] = create_cpu[0]
    say(f"(a) raw INSERT through asyncpg: {args.raw_creates} on {args.clients} connections")
    async with wait_sampler(url) as raw_waits, cpu_use([]) as raw_cpu:
        raw_create = await raw_inserts(
            url, campus, slots[len(CLIENTS) * over_http :], args.create_warmup
        )
    cpu["raw"] = raw_cpu[0]
    conn = await asyncpg.connect(asyncpg_dsn(url))
    try:
        made = await conn.fetchval("SELECT count(*) FROM bookings")
        audited = await conn.fetchval(
            "SELECT count(*) FROM audit_entries WHERE record_type = 'bookings' "
            "AND action = 'create'"
        )
        server_version = await conn.fetchval("SHOW server_version")
    finally:
        await conn.close()
    if made != seed.rows + len(slots):
        raise RuntimeError(f"expected {seed.rows + len(slots)} bookings, found {made}")
    if audited != over_http * len(CLIENTS):
        raise RuntimeError(f"expected {over_http * len(CLIENTS)} audit entries, found {audited}")
    variants = []
    if args.variants:
        say("(b) the app's statement beside two index-friendly variants (adds a GiST index)")
        variants = await query_variants(url, plan, args.search_warmup)
    load = ", ".join(f"{value:.1f}" for value in os.getloadavg())
    return Results(
        campus, seed, http_create, raw_create, http_waits, raw_waits, http_search,
        service_search, sql_search, sql_rows, explained, server_version, load, cpu, variants,
        audited,
    )  # fmt: skip


def print_waits(label: str, waits: Counter[str]) -> None:
    samples = waits.pop("(samples)", 0) or 1
    print(f"| {label} | backends per sample |")
    print("|---|---:|")
    for what, count in waits.most_common(8):
        print(f"| {what} | {count / samples:.2f} |")
    print()


def print_plan(title: str, explained: Explained) -> None:
    search = explained.search
    print(
        f"#### EXPLAIN ANALYZE, {title}: {search.start:%a %Y-%m-%d %H:%M}-{search.end:%H:%M} UTC, "
        f"capacity {search.capacity}, features {','.join(search.features) or '-'}\n\n"
        f"Execution {explained.execution_ms:.2f} ms, planning {explained.planning_ms:.2f} ms.\n"
    )
    print("| node | relation / index | loops | rows per loop | ms per loop | buffers hit |")
    print("|---|---|---:|---:|---:|---:|")
    for depth, node in explained.nodes:
        where = node.get("Relation Name", "")
        if node.get("Index Name"):
            where = f"{where} / `{node['Index Name']}`".strip(" /")
        label = "&nbsp;" * 2 * depth + " ".join(
            part for part in (node["Node Type"], node.get("Join Type", "")) if part
        )
        if node.get("Parent Relationship") == "SubPlan":
            label += f" ({node.get('Subplan Name', 'SubPlan')})"
        print(
            f"| {label} | {where} | {node.get('Actual Loops', 0):,} | "
            f"{node.get('Actual Rows', 0):,} | {node.get('Actual Total Time', 0):.3f} | "
            f"{node.get('Shared Hit Blocks', 0):,} |"
        )
    used = sorted({node["Index Name"] for _, node in explained.nodes if "Index Name" in node})
    print(f"\nIndexes used: {', '.join(f'`{name}`' for name in used) or 'none'}.\n")
    print("<details><summary>Plan text</summary>\n\n```")
    print("\n".join(explained.text))
    print("```\n</details>\n")


def code_revision() -> str:
    """The commit measured, marked when the working tree differs from it."""
    root = Path(__file__).resolve().parent.parent

    def git(*args: str) -> str:
        done = subprocess.run(["git", *args], cwd=root, capture_output=True, text=True, check=False)
        return done.stdout.strip()

    head = git("rev-parse", "--short", "HEAD") or "unknown"
    dirty = git("status", "--porcelain", "--untracked-files=no")
    return f"{head}{' with uncommitted changes' if dirty else ''}"


def report(args: argparse.Namespace, results: Results, seconds: float) -> None:
    r = results
    judged = next(iter(CLIENTS))
    ratio = r.http_create[judged].per_second / r.raw_create.per_second
    pool = args.server_pool_size or Settings.model_fields["db_pool_size"].default
    print(
        f"### Booking creation, {args.clients} concurrent clients "
        f"({args.creates:,} timed over HTTP per client kind, {args.raw_creates:,} raw, each "
        f"after {args.create_warmup} warm-up)\n"
    )
    print("| path | bookings/s | p50 ms | p99 ms |")
    print("|---|---:|---:|---:|")
    for label, timing in (
        *((f"`POST /api/v1/bookings`, {args.servers} server process(es), pool {pool}, "
           f"{client} client", r.http_create[client]) for client in CLIENTS),
        (f"same INSERT via asyncpg, {args.clients} connections, autocommit (limit)",
         r.raw_create),
    ):  # fmt: skip
        print(
            f"| {label} | {timing.per_second:,.0f} | {ms(timing.percentile(50))} | "
            f"{ms(timing.percentile(99))} |"
        )
    verdict = "met" if ratio >= 0.30 else "MISSED"
    print(
        f"\nHTTP ({judged} client, audit trail on: {r.audited:,} audit entries written, one per "
        f"booking) / raw throughput: **{ratio:.1%}** (target >= 30%: {verdict})"
    )
    for client in list(CLIENTS)[1:]:
        other = r.http_create[client].per_second / r.raw_create.per_second
        print(f"with the {client} client: {other:.1%}")
    print("\nWhat the database's client backends were doing (`pg_stat_activity`, every 20 ms):\n")
    print_waits(f"during `POST /api/v1/bookings` ({judged} client)", r.http_waits[judged])
    print_waits("during the raw INSERTs", r.raw_waits)
    print(f"CPU time per booking in ms, warm-up included ({os.cpu_count()} CPUs):\n")
    print("| phase | server | load generator | Postgres | machine busy |")
    print("|---|---:|---:|---:|---:|")
    phases = [(f"HTTP, {client} client", f"create:{client}", args.creates) for client in CLIENTS]
    for label, key, timed in (*phases, ("raw INSERT", "raw", args.raw_creates)):
        use, made = r.cpu[key], timed + args.create_warmup
        print(
            f"| {label} | {use.server_seconds / made * 1e3:.3f} | "
            f"{use.client_seconds / made * 1e3:.3f} | {use.postgres_seconds / made * 1e3:.3f} | "
            f"{use.machine_busy:.0%} |"
        )
    print()

    rooms = len(r.campus.room_ids)
    print(
        f"### Free-room search, {rooms:,} rooms, {r.seed.rows:,} bookings "
        f"({args.searches} sequential requests after {args.search_warmup} warm-up)\n"
    )
    print("| path | p50 ms | p99 ms | max ms | per second |")
    print("|---|---:|---:|---:|---:|")
    for label, timing in (
        ("`GET /api/v1/rooms/free` (HTTP, token, JSON)", r.http_search),
        ("`availability.free_rooms()` in process, no HTTP", r.service_search),
        (f"the SQL alone via asyncpg (mean {statistics.mean(r.sql_rows):,.0f} rows)",
         r.sql_search),
    ):  # fmt: skip
        print(
            f"| {label} | {ms(timing.percentile(50))} | {ms(timing.percentile(99))} | "
            f"{ms(max(timing.latencies))} | {timing.per_second:,.0f} |"
        )
    p50, p99 = r.http_search.percentile(50) * 1e3, r.http_search.percentile(99) * 1e3
    print(
        f"\nTargets: p50 <= 10 ms: {'met' if p50 <= 10 else 'MISSED'} ({p50:.2f} ms); "
        f"p99 <= 50 ms: {'met' if p99 <= 50 else 'MISSED'} ({p99:.2f} ms)\n"
    )
    search = r.cpu["search"]
    searched = args.searches + args.search_warmup
    print(
        f"CPU during the HTTP searches: the server used "
        f"{search.server_seconds / searched * 1e3:.2f} ms per search "
        f"({search.server_seconds / search.wall:.0%} of one core); the machine was "
        f"{search.machine_busy:.0%} busy.\n"
    )
    for title, explained in r.explained:
        print_plan(title, explained)
    if r.variants:
        print(
            "#### The same windows through other statements (SQL alone, after (a); "
            "not what the app runs)\n"
        )
        print("| statement | p50 ms | p99 ms | max ms | mean rows | same rooms as the app's |")
        print("|---|---:|---:|---:|---:|---|")
        for label, timing, rows, same in r.variants:
            print(
                f"| {label} | {ms(timing.percentile(50))} | {ms(timing.percentile(99))} | "
                f"{ms(max(timing.latencies))} | {rows:,.0f} | {'yes' if same else 'NO'} |"
            )
        print()
    open_days = max(1, len(r.seed.per_day))
    print(
        f"Seeding: {rooms:,} rooms and {len(r.campus.staff)} users through the bulk endpoints in "
        f"{r.campus.seconds:.1f} s; {r.seed.rows:,} bookings by COPY (constraint active) and "
        f"ANALYZE in {r.seed.seconds:.1f} s, days 1-{SEED_DAYS} ahead "
        f"({r.seed.rows / open_days / rooms:.2f} bookings a room an open day). "
        f"Whole run {seconds:.0f} s; Python {platform.python_version()}, Postgres "
        f"{r.server_version}, {os.cpu_count()} CPUs, load average at the end {r.load}, "
        f"seed {args.seed}, code at {code_revision()}."
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--database-url", default=DEFAULT_SERVER,
        help="Postgres server on which a throw-away database is created and dropped",
    )  # fmt: skip
    parser.add_argument("--seed", type=int, default=3, help="random seed for all the data")
    parser.add_argument("--buildings", type=int, default=40)
    parser.add_argument("--rooms-per-building", type=int, default=50)
    parser.add_argument("--bookings", type=int, default=500_000, help="bookings seeded by COPY")
    parser.add_argument("--clients", type=int, default=32, help="concurrent booking clients")
    parser.add_argument(
        "--creates", type=int, default=4000, help="timed HTTP bookings per client kind"
    )
    parser.add_argument("--raw-creates", type=int, default=6000, help="timed raw INSERTs")
    parser.add_argument("--create-warmup", type=int, default=500)
    parser.add_argument("--searches", type=int, default=300, help="timed free-room searches")
    parser.add_argument("--search-warmup", type=int, default=30)
    parser.add_argument("--servers", type=int, default=1, help="server processes for (a)")
    parser.add_argument(
        "--server-pool-size", type=int, default=0,
        help="COMPAX_DB_POOL_SIZE for the server (default: the server's own default)",
    )  # fmt: skip
    parser.add_argument(
        "--no-variants", dest="variants", action="store_false",
        help="skip timing the alternative free-room statements at the end",
    )  # fmt: skip
    parser.add_argument("--keep", action="store_true", help="keep the database afterwards")
    args = parser.parse_args()
    if min(args.searches, args.creates, args.raw_creates) < 100 or args.clients < 1:
        parser.error("use at least 100 searches, 100 bookings and 1 client")
    asyncio.run(run(args))


if __name__ == "__main__":
    main()
