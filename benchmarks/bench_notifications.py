"""Notifications benchmark (issue 17): booking creation with mail on beside mail off, and how
many notifications a delivery worker mails per second to a local SMTP sink.

    python benchmarks/bench_notifications.py
    python benchmarks/bench_notifications.py \\
        --database-url postgresql+asyncpg://postgres@127.0.0.1:5432/postgres

Each run creates a throw-away Postgres database, migrates it and seeds 32 rooms and 32 staff
users with mail addresses (straight through the services; tokens signed with the run's key).
An SMTP sink (``python -m aiosmtpd -c aiosmtpd.handlers.Sink``) runs in a process of its own.

(a) ``POST /api/v1/bookings`` from 32 concurrent clients (each a staff user on a keep-alive
    connection, into distinct free slots; every answer must be 201) against ``compax server
    run``: once with no mail server set and nothing delivered, then, in the same run, with
    ``COMPAX_SMTP_HOST`` naming the sink while a delivery worker process (as ``compax worker``
    would be, at ``--nice`` 19 like the sink) mails a backlog of notifications to it all along;
    ``--rounds`` times each, alternately, for the medians. The figure is bookings per second in
    each, and their ratio; booking creation itself records no notification, so what the second
    pays for is the delivery sharing the machine and the database.
(b) Mail throughput: 2,000 notifications recorded at once, then mailed by the delivery
    handler (``deliver_notification``) to the sink, one at a time and 8 at a time, in
    notifications per second (each mail is a new SMTP connection, as in production).

Results are markdown tables on stdout; progress goes to stderr.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import subprocess
import sys
import tempfile
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager, contextmanager
from datetime import UTC, datetime, time, timedelta
from pathlib import Path
from time import perf_counter

import aiohttp
from bench_support import free_port, postgres_database, say
from sqlalchemy import func, select, update
from sqlmodel import col

from compax_server.db import Database
from compax_server.jobs.notices import DELIVER, notify
from compax_server.jobs.queue import HANDLERS, JobContext
from compax_server.models import Job, Notification, User
from compax_server.routes import notifications as _registers_the_jobs  # noqa: F401
from compax_server.security import ACCESS_TOKEN_SALT, Tokens
from compax_server.services.campus import create_building, create_room
from compax_server.services.policy import BookingPolicy
from compax_server.services.users import access_token, create_user
from compax_server.settings import Settings, SmtpSecurity
from sync.permissions import Role
from sync.schemas import BuildingCreate, RoomCreate, UserCreate
from sync.vocabulary import NoticeKind

KEY = "bench-notifications-key"
#: The staff users' password; nobody signs in with it (their tokens are signed directly).
PASSWORD = "bench-password"  # noqa: S105
CLIENTS = 32
PER_CLIENT = 60
#: Notifications waiting for delivery while (a) books with mail on.
BACKLOG = 20_000


def parse() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--database-url", default="postgresql+asyncpg://postgres@127.0.0.1:5432/postgres"
    )
    parser.add_argument("--mails", type=int, default=2000, help="Notifications mailed in (b).")
    parser.add_argument("--rounds", type=int, default=3, help="Mail off and on, alternately.")
    parser.add_argument(
        "--nice", type=int, default=19, help="Niceness of the delivery worker and the sink."
    )
    parser.add_argument("--deliver", help=argparse.SUPPRESS)  # the worker process's database
    parser.add_argument("--smtp-port", type=int, help=argparse.SUPPRESS)
    return parser.parse_args()


@contextmanager
def process(*argv: str, env: dict[str, str] | None = None) -> Iterator[subprocess.Popen[bytes]]:
    started = subprocess.Popen(argv, env={**os.environ, **(env or {})}, stdout=subprocess.DEVNULL)
    try:
        yield started
    finally:
        started.terminate()
        started.wait(timeout=15)


def mail_settings(smtp_port: int) -> dict[str, str]:
    return {
        "COMPAX_SMTP_HOST": "127.0.0.1",
        "COMPAX_SMTP_PORT": str(smtp_port),
        "COMPAX_SMTP_SECURITY": "none",
        "COMPAX_MAIL_FROM": "Compax <rooms@uni.edu.gh>",
    }


async def seed(database: Database) -> tuple[list[int], list[str]]:
    """Rooms, and staff users with mail addresses and tokens."""
    tokens = Tokens([KEY], ACCESS_TOKEN_SALT, 3600)
    async with database.write() as session:
        await create_building(session, BuildingCreate(code="PB", name="Petroleum Building"))
        rooms = [
            (await create_room(session, RoomCreate(building="PB", code=f"{n}", capacity=40))).id
            for n in range(100, 100 + CLIENTS)
        ]
        staff = [
            await create_user(
                session,
                UserCreate(
                    username=f"staff{n}",
                    password=PASSWORD,
                    email=f"staff{n}@uni.edu.gh",
                    role=Role.STAFF,
                ),
                "unused-hash",
            )
            for n in range(CLIENTS)
        ]
    return (
        [room for room in rooms if room is not None],
        [access_token(tokens, user).token for user in staff],
    )


def slots(week: int) -> Iterator[tuple[datetime, datetime]]:
    """Distinct hourly slots on weekdays ``week`` weeks ahead, 08:00 to 20:00 UTC."""
    monday = datetime.now(UTC).date() + timedelta(days=7 * week - datetime.now(UTC).weekday())
    for day in range(5):
        for hour in range(8, 20):
            start = datetime.combine(monday + timedelta(days=day), time(hour), tzinfo=UTC)
            yield start, start + timedelta(hours=1)


async def book_all(url: str, rooms: list[int], tokens: list[str], week: int) -> list[str]:
    """Each client books ``PER_CLIENT`` slots in its own room; bookings per second, and ids."""
    made: list[str] = []

    async def client(room: int, token: str) -> None:
        headers = {"Authorization": f"Bearer {token}"}
        async with aiohttp.ClientSession(headers=headers) as session:
            for start, end in list(slots(week))[:PER_CLIENT]:
                body = {"room_id": room, "start": start.isoformat(), "end": end.isoformat()}
                async with session.post(f"{url}/api/v1/bookings", json={**body, "title": "B"}) as r:
                    assert r.status == 201, await r.text()
                    made.append((await r.json())["id"])

    await asyncio.gather(*(client(room, token) for room, token in zip(rooms, tokens, strict=True)))
    return made


@asynccontextmanager
async def running_server(
    database_url: str, data_dir: Path, env: dict[str, str]
) -> AsyncIterator[str]:
    """A fresh ``compax server run`` on the database; yields its base URL once healthy."""
    port = free_port()
    server_env = {
        "COMPAX_DATABASE_URL": database_url,
        "COMPAX_SECRET_KEYS": KEY,
        "COMPAX_DATA_DIR": str(data_dir),
        "COMPAX_PORT": str(port),
        **env,
    }
    url = f"http://127.0.0.1:{port}"
    with process(sys.executable, "-m", "compax_cli", "server", "run", env=server_env):
        async with aiohttp.ClientSession() as session:
            for _ in range(300):
                try:
                    async with session.get(f"{url}/health") as response:
                        if response.status == 200:
                            break
                except aiohttp.ClientError:
                    pass
                await asyncio.sleep(0.1)
        yield url


async def booking_rate(
    database_url: str, data_dir: Path, env: dict[str, str], rooms: list[int], tokens: list[str],
    week: int,
) -> float:  # fmt: skip
    """Bookings per second from ``CLIENTS`` clients through a fresh server."""
    async with running_server(database_url, data_dir, env) as url:
        began = perf_counter()
        await book_all(url, rooms, tokens, week)
        return CLIENTS * PER_CLIENT / (perf_counter() - began)


async def record(database: Database, count: int, tag: str) -> None:
    """Record ``count`` notifications (and their delivery jobs) for the staff users."""
    async with database.read() as session:
        users = list(
            (
                await session.execute(select(col(User.id)).where(col(User.email).is_not(None)))
            ).scalars()
        )
    data = {
        "title": "Seminar",
        "room": "PB/101",
        "start": "2027-01-11T10:00:00+00:00",
        "end": "2027-01-11T11:00:00+00:00",
        "by": "An Officer",
    }
    async with database.write() as session:
        for n in range(count):
            await notify(
                session,
                user_id=users[n % len(users)],
                kind=NoticeKind.BOOKING_CANCELLED,
                key=f"{tag}-{n}",
                data=data,
            )


def context_for(database_url: str, smtp_port: int) -> JobContext:
    settings = Settings(
        database_url=database_url,
        smtp_host="127.0.0.1",
        smtp_port=smtp_port,
        smtp_security=SmtpSecurity.NONE,
        mail_from="Compax <rooms@uni.edu.gh>",
    )
    return JobContext(Database(database_url), settings, BookingPolicy.from_settings(settings))


async def mailing(database: Database) -> None:
    """Wait until the delivery worker has mailed something (it has started)."""
    first = await sent(database)
    for _ in range(600):
        if await sent(database) > first:
            return
        await asyncio.sleep(0.1)
    raise RuntimeError("the delivery worker mailed nothing in a minute")


async def sent(database: Database) -> int:
    async with database.read() as session:
        query = select(func.count()).where(col(Notification.state) == "sent")
        return int((await session.execute(query)).scalar_one())


async def deliver_forever(database_url: str, smtp_port: int) -> None:
    """The delivery worker of (a): mail every due notification, again and again."""
    context = context_for(database_url, smtp_port)
    while True:
        if not await deliver_due(context, concurrency=4):
            await asyncio.sleep(0.05)


async def deliver_due(context: JobContext, concurrency: int) -> int:
    """Carry out the due delivery jobs, ``concurrency`` at a time; how many."""
    async with context.db.read() as session:
        due = list(
            (
                await session.execute(
                    select(Job)
                    .where(col(Job.kind) == DELIVER, col(Job.state) == "queued")
                    .order_by(col(Job.id))
                    .limit(500)
                )
            ).scalars()
        )
    for first in range(0, len(due), concurrency):
        batch = due[first : first + concurrency]
        await asyncio.gather(*(HANDLERS[DELIVER](context, job.payload) for job in batch))
    if due:
        async with context.db.write() as session:
            await session.execute(
                update(Job).where(col(Job.id).in_([job.id for job in due])).values(state="done")
            )
    return len(due)


async def mail_throughput(
    database: Database, url: str, smtp_port: int, mails: int, concurrency: int
) -> float:
    """(b): record ``mails`` notifications, then mail them all; notifications per second.
    What (a) left of its backlog is mailed first, untimed."""
    context = context_for(url, smtp_port)
    while await deliver_due(context, concurrency):
        pass
    await record(database, mails, f"throughput-{concurrency}")
    before = await sent(database)
    began = perf_counter()
    while await deliver_due(context, concurrency):
        pass
    rate = mails / (perf_counter() - began)
    await context.db.dispose()
    assert await sent(database) - before == mails, "every notification is mailed"
    return rate


async def main() -> None:
    args = parse()
    if args.deliver:
        await deliver_forever(args.deliver, args.smtp_port)
        return
    smtp_port = free_port()
    nice = ["nice", "-n", str(args.nice)]
    sink = [*nice, sys.executable, "-m", "aiosmtpd", "-n", "-l", f"127.0.0.1:{smtp_port}"]
    sink += ["-c", "aiosmtpd.handlers.Sink"]
    worker = [*nice, sys.executable, __file__, "--smtp-port", str(smtp_port), "--deliver"]
    offs: list[float] = []
    ons: list[float] = []
    rates: list[float] = []
    async with postgres_database(args.database_url) as url:
        database = Database(url)
        await database.migrate()
        rooms, tokens = await seed(database)
        await record(database, BACKLOG, "backlog")
        weeks = iter(range(3, 60, 2))
        with tempfile.TemporaryDirectory() as data, process(*sink):
            for round_ in range(args.rounds):
                say(f"round {round_ + 1}: booking with mail off")
                offs.append(await booking_rate(url, Path(data), {}, rooms, tokens, next(weeks)))
                say(f"round {round_ + 1}: booking with mail on, a delivery worker mailing beside")
                with process(*worker, url):
                    await mailing(database)
                    before, began = await sent(database), perf_counter()
                    ons.append(
                        await booking_rate(
                            url, Path(data), mail_settings(smtp_port), rooms, tokens, next(weeks)
                        )
                    )
                    mailed = await sent(database) - before
                    rates.append(mailed / (perf_counter() - began))
                say(f"  {mailed} mailed meanwhile")
            say("mail throughput")
            one = await mail_throughput(database, url, smtp_port, args.mails, 1)
            eight = await mail_throughput(database, url, smtp_port, args.mails, 8)
        await database.dispose()
    off, on = statistics.median(offs), statistics.median(ons)
    print(f"| booking creation, {CLIENTS} clients (median of {args.rounds}) | bookings/s |")
    print("|---|---|")
    print(f"| mail off | {off:.0f} ({', '.join(f'{r:.0f}' for r in offs)}) |")
    print(
        f"| mail on, a worker (nice {args.nice}) mailing {statistics.median(rates):.0f}/s beside "
        f"| {on:.0f} ({', '.join(f'{r:.0f}' for r in ons)}): {on / off:.0%} of off |"
    )
    print()
    print("| delivery to a local SMTP sink | notifications/s |")
    print("|---|---|")
    print(f"| one at a time | {one:.0f} |")
    print(f"| 8 at a time | {eight:.0f} |")


if __name__ == "__main__":
    asyncio.run(main())
