"""What the benchmark scripts share: progress messages, free ports and throw-away databases."""

from __future__ import annotations

import secrets
import socket
import sys
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import asyncpg
from sqlalchemy.engine import make_url


def say(message: str) -> None:
    """A progress line on stderr, so that stdout carries only the results."""
    print(message, file=sys.stderr, flush=True)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def asyncpg_dsn(url: str) -> str:
    """A SQLAlchemy Postgres URL as asyncpg takes it."""
    return make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)


async def admin_sql(url: str, sql: str) -> None:
    conn = await asyncpg.connect(asyncpg_dsn(url))
    try:
        await conn.execute(sql)
    finally:
        await conn.close()


@asynccontextmanager
async def postgres_database(server_url: str, *, keep: bool = False) -> AsyncIterator[str]:
    """A new, empty database ``compax_bench_<random>`` on the Postgres server ``server_url``
    names; yields its URL and drops it at the end unless ``keep``."""
    name = f"compax_bench_{secrets.token_hex(6)}"
    await admin_sql(server_url, f'CREATE DATABASE "{name}"')
    say(f"created database {name}")
    try:
        yield make_url(server_url).set(database=name).render_as_string(hide_password=False)
    finally:
        if keep:
            say(f"kept database {name}")
        else:
            await admin_sql(server_url, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
            say(f"dropped database {name}")
