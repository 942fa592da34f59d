"""Deployment benchmark: booking creation through nginx with 1 and 2 workers, and the read
cache, on Postgres.

    python benchmarks/bench_deploy.py
    python benchmarks/bench_deploy.py --database-url postgresql://postgres@127.0.0.1:5432/postgres

The deployment is the documented one, on this machine: ``deploy/nginx.conf`` (TLS with a
throw-away self-signed certificate, Debian's nginx) in front of ``compax server run`` worker
processes in production mode, sharing a throw-away database ``compax_bench_<random>`` (dropped
at the end) and the local Redis (``--redis-url``, under a key prefix of this run). Seeding
through the API: 10 buildings of 20 rooms and 32 staff users, each signed in for a token.

(a) ``POST /api/v1/bookings`` over HTTPS through nginx from 32 concurrent clients (each a
    different staff user on its own connection), into distinct free hourly slots: first with
    one worker behind nginx, then with two. In the same run, the same INSERT through asyncpg
    on 32 connections, one transaction per row: the raw database limit. Every HTTP answer is
    counted by status; all must be 201.
(b) Hot reads through nginx and two workers, 16 clients: room lists of a building, free-room
    searches and a building's availability grid, drawn from 60 distinct requests, while one
    more client books a room every 100 ms (each booking is a change the cache must not hide).
    Run with the read cache off (``COMPAX_READ_CACHE_MEGABYTES=0``), on, and on without the
    bookings; the hit rate comes from the workers' ``/metrics``.

Results are markdown tables on stdout; progress goes to stderr.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import platform
import random
import shutil
import ssl
import subprocess
import sys
import tempfile
import uuid
from collections import Counter
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager, suppress
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from time import perf_counter

import aiohttp
from bench_bookings import (
    Timing,
    code_revision,
    deal,
    drive,
    fresh_database,
    midnight,
    ms,
    opening,
    production_env,
    raw_inserts,
    seed_campus,
    servers,
    write_slots,
)
from bench_support import say
from prometheus_client.parser import text_string_to_metric_families

# The nginx and certificate helpers of the deployment tests, so that the benchmark runs the
# very configuration the tests check.
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from tests.deploy_support import ROOT, Nginx, nginx_binary, self_signed_certificate

DEFAULT_SERVER = "postgresql://postgres@127.0.0.1:5432/postgres"
DEFAULT_REDIS = "redis://127.0.0.1:6379/0"
METRICS_TOKEN = "bench-metrics"  # noqa: S105 (a throw-away deployment)


@dataclass
class Proxy:
    """nginx's HTTPS URL, and a TLS context that trusts its certificate."""

    url: str
    tls: ssl.SSLContext


@dataclass
class Outcome:
    timing: Timing
    statuses: Counter[int]


@asynccontextmanager
async def behind_nginx(workdir: Path, name: str, upstreams: list[str]) -> AsyncIterator[Proxy]:
    """nginx with deploy/nginx.conf in front of the workers at ``upstreams`` (their base
    URLs)."""
    root = workdir / name
    root.mkdir()
    upstreams = [url.removeprefix("http://") for url in upstreams]
    certificate = self_signed_certificate(root)
    nginx = Nginx(
        nginx_binary(),
        root,
        (ROOT / "deploy" / "nginx.conf").read_text(),
        certificate,
        upstreams,
    )
    nginx.start()
    try:
        yield Proxy(nginx.url, certificate.client_context())
    finally:
        nginx.stop()


def client_sessions(proxy: Proxy, tokens: list[str]) -> list[aiohttp.ClientSession]:
    """One session (one connection) per client, each with its user's token."""
    return [
        aiohttp.ClientSession(
            proxy.url,
            connector=aiohttp.TCPConnector(limit=1, ssl=proxy.tls),
            headers={"Authorization": f"Bearer {token}"},
        )
        for token in tokens
    ]


async def http_bookings(
    proxy: Proxy, tokens: list[str], slots: list[tuple[int, datetime, datetime]], warmup: int
) -> Outcome:
    """POST every slot from ``len(tokens)`` clients; statuses are counted, not checked."""
    sessions = client_sessions(proxy, tokens)
    statuses: Counter[int] = Counter()

    async def post(worker: int, slot: tuple[int, datetime, datetime]) -> None:
        room_id, start, end = slot
        body = {
            "room_id": room_id, "start": start.isoformat(), "end": end.isoformat(),
            "title": "Bench booking", "purpose": "meeting", "attendees": 5,
        }  # fmt: skip
        async with sessions[worker].post("/api/v1/bookings", json=body) as response:
            await response.read()
            statuses[response.status] += 1

    try:
        await drive(deal(slots[:warmup], len(tokens)), post)
        statuses.clear()
        timing = await drive(deal(slots[warmup:], len(tokens)), post)
    finally:
        for session in sessions:
            await session.close()
    return Outcome(timing, statuses)


# --- (b) Hot reads ---------------------------------------------------------------------------


def read_plan(rng: random.Random, today: date, buildings: int) -> list[str]:
    """60 distinct hot reads: room lists, free-room searches and availability grids."""
    day = today + timedelta(days=7)
    while opening(day) != (7 * 60, 22 * 60):
        day += timedelta(days=1)
    reads = [f"/api/v1/rooms?building=B{b:02d}&limit=50" for b in range(buildings)]
    for hour in range(8, 20):
        for capacity in (None, 30):
            start = midnight(day) + timedelta(hours=hour)
            window = f"start={_q(start)}&end={_q(start + timedelta(hours=1))}"
            extra = f"&capacity={capacity}" if capacity else ""
            reads.append(f"/api/v1/rooms/free?{window}{extra}")
    for b in range(buildings):
        span = f"start={_q(midnight(day))}&end={_q(midnight(day + timedelta(days=1)))}"
        reads.append(f"/api/v1/buildings/B{b:02d}/availability?{span}")
    reads += reads[: 60 - len(reads)]
    rng.shuffle(reads)
    return reads[:60]


def _q(moment: datetime) -> str:
    return moment.isoformat().replace("+", "%2B")


async def cache_lookups(workers: list[str]) -> Counter[str]:
    """Read cache lookups by result, summed over the workers' /metrics."""
    found: Counter[str] = Counter()
    headers = {"Authorization": f"Bearer {METRICS_TOKEN}"}
    async with aiohttp.ClientSession(headers=headers) as session:
        for url in workers:
            async with session.get(f"{url}/metrics") as response:
                text = await response.text()
            for family in text_string_to_metric_families(text):
                for sample in family.samples:
                    if sample.name == "compax_read_cache_lookups_total":
                        found[sample.labels["result"]] += int(sample.value)
    return found


async def hot_reads(
    proxy: Proxy,
    tokens: list[str],
    plan: list[str],
    requests: int,
    writer: tuple[str, list[tuple[int, datetime, datetime]]],
) -> tuple[Outcome, int]:
    """``requests`` reads drawn from ``plan`` by ``len(tokens)`` clients, while the writer
    books one slot every 100 ms; the reads' timing and statuses, and the bookings made."""
    sessions = client_sessions(proxy, tokens)
    statuses: Counter[int] = Counter()
    rng = random.Random(11)
    work = [[rng.choice(plan) for _ in range(requests // len(tokens))] for _ in tokens]

    async def read(worker: int, path: str) -> None:
        async with sessions[worker].get(path) as response:
            await response.read()
            statuses[response.status] += 1

    booked = 0

    async def write() -> None:
        nonlocal booked
        token, slots = writer
        async with aiohttp.ClientSession(
            proxy.url,
            connector=aiohttp.TCPConnector(ssl=proxy.tls),
            headers={"Authorization": f"Bearer {token}"},
        ) as session:
            for room_id, start, end in slots:
                body = {"room_id": room_id, "start": start.isoformat(), "end": end.isoformat(),
                        "title": "Change during reads"}  # fmt: skip
                async with session.post("/api/v1/bookings", json=body) as response:
                    await response.read()
                    booked += response.status == 201
                await asyncio.sleep(0.1)

    writing = asyncio.create_task(write())
    try:
        timing = await drive(work, read)
    finally:
        writing.cancel()
        with suppress(asyncio.CancelledError):
            await writing
        for session in sessions:
            await session.close()
    return Outcome(timing, statuses), booked


# --- The run ---------------------------------------------------------------------------------


@dataclass
class Results:
    one: Outcome
    two: Outcome
    raw: Timing
    reads: dict[str, tuple[Outcome, Counter[str], int]]
    rooms: int


async def run(args: argparse.Namespace) -> None:
    begun = perf_counter()
    rng = random.Random(args.seed)
    today = datetime.now(UTC).date()
    workdir = Path(tempfile.mkdtemp(prefix="compax-bench-deploy-"))
    try:
        async with fresh_database(args.database_url, args.keep) as url:
            env = production_env(
                url,
                workdir,
                COMPAX_REDIS_URL=args.redis_url,
                COMPAX_REDIS_PREFIX=f"compax-bench-{uuid.uuid4().hex}:",
                COMPAX_TRUSTED_PROXIES="127.0.0.1",
                COMPAX_METRICS_TOKEN=METRICS_TOKEN,
            )
            results = await measure(args, url, env, rng, today, workdir)
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
    report(args, results, perf_counter() - begun)


async def measure(
    args: argparse.Namespace,
    url: str,
    env: dict[str, str],
    rng: random.Random,
    today: date,
    workdir: Path,
) -> Results:
    per_run = args.creates + args.create_warmup
    async with servers(env, 1, workdir) as (workers, _):
        say(f"one worker at {workers[0]}; seeding the campus")
        campus = await seed_campus(
            workers[0], rng, args.buildings, args.rooms_per_building, args.clients
        )
        slots = write_slots(
            rng, campus, today, 2 * per_run + args.raw_creates + args.create_warmup + 1200
        )
        tokens = [token for _, token in campus.staff]
        say(f"(a) {per_run} bookings through nginx, one worker")
        async with behind_nginx(workdir, "nginx-1", [workers[0], workers[0]]) as proxy:
            one = await http_bookings(proxy, tokens, slots[:per_run], args.create_warmup)
    slots = slots[per_run:]
    async with servers(env, 2, workdir) as (workers, _):
        say(f"(a) {per_run} bookings through nginx, two workers")
        async with behind_nginx(workdir, "nginx-2", workers) as proxy:
            two = await http_bookings(proxy, tokens, slots[:per_run], args.create_warmup)
    slots = slots[per_run:]
    say(f"(a) {args.raw_creates} raw INSERTs through asyncpg")
    raw = await raw_inserts(url, campus, slots[: args.raw_creates + args.create_warmup],
                            args.create_warmup)  # fmt: skip
    slots = slots[args.raw_creates + args.create_warmup :]

    plan = read_plan(rng, today, args.buildings)
    readers, writer = tokens[: args.readers], tokens[args.readers]
    reads: dict[str, tuple[Outcome, Counter[str], int]] = {}
    runs = (
        ("off", {"COMPAX_READ_CACHE_MEGABYTES": "0"}, 600),
        ("on", {}, 600),
        ("on, no bookings meanwhile", {}, 0),
    )
    for index, (label, cache_env, writes) in enumerate(runs):
        async with (
            servers({**env, **cache_env}, 2, workdir) as (workers, _),
            behind_nginx(workdir, f"nginx-reads-{index}", workers) as proxy,
        ):
            say(f"(b) {args.reads} hot reads through nginx, cache {label}")
            await hot_reads(proxy, readers, plan, len(plan) * 2, (writer, []))  # warm-up
            before = await cache_lookups(workers)
            outcome, booked = await hot_reads(
                proxy, readers, plan, args.reads, (writer, slots[:writes])
            )
            lookups = await cache_lookups(workers)
            lookups.subtract(before)
        slots = slots[writes:]
        reads[label] = (outcome, lookups, booked)
    return Results(one, two, raw, reads, len(campus.room_ids))


def report(args: argparse.Namespace, results: Results, seconds: float) -> None:
    r = results
    print(
        f"### Booking creation through nginx, {args.clients} concurrent clients "
        f"({args.creates:,} timed per row after {args.create_warmup} warm-up; "
        f"{args.raw_creates:,} raw)\n"
    )
    print("| path | bookings/s | p50 ms | p99 ms | answers |")
    print("|---|---:|---:|---:|---|")
    rows = (
        ("HTTPS via nginx, 1 worker", r.one.timing, r.one.statuses),
        ("HTTPS via nginx, 2 workers", r.two.timing, r.two.statuses),
        (f"same INSERT via asyncpg, {args.clients} connections (limit)", r.raw, None),
    )
    for label, timing, statuses in rows:
        answers = ", ".join(f"{n:,} × {s}" for s, n in sorted(statuses.items())) if statuses else ""
        print(
            f"| {label} | {timing.per_second:,.0f} | {ms(timing.percentile(50))} | "
            f"{ms(timing.percentile(99))} | {answers} |"
        )
    gain = r.two.timing.per_second / r.one.timing.per_second
    print(
        f"\n2 workers / 1 worker: **{gain:.2f}×** throughput; 2 workers / raw limit: "
        f"{r.two.timing.per_second / r.raw.per_second:.1%}.\n"
    )
    print(
        f"### Hot reads through nginx and 2 workers, {args.readers} clients, "
        f"{args.reads:,} timed reads of 60 distinct requests, a booking every 100 ms "
        "unless stated\n"
    )
    print("| read cache | reads/s | p50 ms | p99 ms | hit rate | bookings made meanwhile |")
    print("|---|---:|---:|---:|---:|---:|")
    for label, (outcome, lookups, booked) in r.reads.items():
        looked = sum(lookups.values())
        hits = lookups["memory_hit"] + lookups["redis_hit"]
        rate = (
            f"{hits / looked:.1%} ({lookups['memory_hit']:,} memory, "
            f"{lookups['redis_hit']:,} Redis, {lookups['miss']:,} misses, "
            f"{lookups['bypass']:,} bypassed)"
            if looked
            else "-"
        )
        timing = outcome.timing
        bad = sum(n for status, n in outcome.statuses.items() if status != 200)
        if bad:
            rate += f"; {bad} answers not 200: {dict(outcome.statuses)}"
        print(
            f"| {label} | {timing.per_second:,.0f} | {ms(timing.percentile(50))} | "
            f"{ms(timing.percentile(99))} | {rate} | {booked} |"
        )
    load = ", ".join(f"{x:.1f}" for x in os.getloadavg())
    nginx = subprocess.run(
        [nginx_binary(), "-v"], capture_output=True, text=True, check=False
    ).stderr.strip()
    print(
        f"\n{r.rooms} rooms, {args.clients} staff users. Whole run {seconds:.0f} s; "
        f"Python {platform.python_version()}, {nginx}, {os.cpu_count()} CPUs shared by nginx, "
        f"the workers, Postgres, Redis and the load generator; load average at the end {load}; "
        f"seed {args.seed}; code at {code_revision()}."
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--database-url", default=DEFAULT_SERVER,
        help="Postgres server on which a throw-away database is created and dropped",
    )  # fmt: skip
    parser.add_argument("--redis-url", default=DEFAULT_REDIS, help="Redis the workers share")
    parser.add_argument("--seed", type=int, default=5, help="random seed for all the data")
    parser.add_argument("--buildings", type=int, default=10)
    parser.add_argument("--rooms-per-building", type=int, default=20)
    parser.add_argument("--clients", type=int, default=32, help="concurrent booking clients")
    parser.add_argument("--creates", type=int, default=1500, help="timed HTTP bookings per run")
    parser.add_argument("--raw-creates", type=int, default=6000, help="timed raw INSERTs")
    parser.add_argument("--create-warmup", type=int, default=160)
    parser.add_argument("--readers", type=int, default=16, help="concurrent readers in (b)")
    parser.add_argument("--reads", type=int, default=4000, help="timed reads per run of (b)")
    parser.add_argument("--keep", action="store_true", help="keep the database afterwards")
    args = parser.parse_args()
    asyncio.run(run(args))


if __name__ == "__main__":
    main()
