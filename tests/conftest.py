"""Fixtures: every server test runs on SQLite and on Postgres, each on a database of its own.

Postgres comes from ``COMPAX_TEST_DATABASE_URL`` (default: the local server as ``postgres``).
A session database is created, migrated and dropped; each test starts from empty tables.
Unreachable Postgres skips those tests loudly, except under ``CI=true``, where it fails.
"""

from __future__ import annotations

import asyncio
import os
import shutil
import uuid
from collections.abc import Awaitable, Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import asyncpg
import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient
from sqlalchemy.engine import make_url
from sqlmodel import SQLModel

from compax_server.app import create_app
from compax_server.db import Database
from compax_server.keys import ACCESS_TOKENS, DATABASE, PASSWORDS
from compax_server.models import User
from compax_server.services.users import access_token, create_user
from compax_server.settings import Settings
from sync.engine import Engine
from sync.permissions import Role
from sync.profiles import Profile
from sync.schemas import UserCreate

DEFAULT_PG = "postgresql://postgres@127.0.0.1:5432/postgres"
IN_CI = os.environ.get("CI", "").lower() in ("1", "true", "yes")
PASSWORD = "a-long-test-password"

AiohttpClient = Callable[[web.Application], Awaitable[TestClient]]


def _asyncpg_dsn(url: str) -> str:
    return make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)


@pytest.fixture(scope="session")
def postgres_server_url() -> str:
    url = os.environ.get("COMPAX_TEST_DATABASE_URL", DEFAULT_PG)

    async def probe() -> None:
        conn = await asyncpg.connect(_asyncpg_dsn(url), timeout=5)
        await conn.close()

    try:
        asyncio.run(probe())
    except (OSError, asyncpg.PostgresError, TimeoutError) as exc:
        message = f"PostgreSQL at {url} is unreachable ({exc}); Postgres tests cannot run"
        if IN_CI:
            pytest.fail(message + " and CI=true forbids skipping them")
        pytest.skip("SKIPPING POSTGRES TESTS: " + message)
    return url


@contextmanager
def migrated_postgres_database(server_url: str, prefix: str) -> Iterator[str]:
    """A new, migrated Postgres database named ``prefix`` and a random suffix on the server
    ``server_url`` names, dropped when the block ends."""
    name = f"{prefix}_{uuid.uuid4().hex[:12]}"
    server = make_url(server_url)

    async def admin(sql: str) -> None:
        conn = await asyncpg.connect(_asyncpg_dsn(server_url))
        try:
            await conn.execute(sql)
        finally:
            await conn.close()

    asyncio.run(admin(f'CREATE DATABASE "{name}"'))
    url = server.set(database=name).render_as_string(hide_password=False)
    try:
        asyncio.run(_migrate(url))
        yield url
    finally:
        asyncio.run(admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))


@pytest.fixture(scope="session")
def postgres_database(postgres_server_url: str) -> Iterator[str]:
    """A migrated Postgres database for this test session, dropped at the end."""
    with migrated_postgres_database(postgres_server_url, "compax_test") as url:
        yield url


@pytest.fixture(scope="session")
def sqlite_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A migrated SQLite file, copied for each test."""
    path = tmp_path_factory.mktemp("template") / "compax.sqlite3"
    asyncio.run(_migrate(f"sqlite:///{path}"))
    return path


async def _migrate(url: str) -> None:
    database = Database(url)
    try:
        await database.migrate()
    finally:
        await database.dispose()


@pytest.fixture(
    params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)],
)
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """An empty, migrated database: a fresh SQLite file, or the session's Postgres emptied."""
    if request.param == "sqlite":
        path = tmp_path / "compax.sqlite3"
        shutil.copy(request.getfixturevalue("sqlite_template"), path)
        return f"sqlite:///{path}"
    url: str = request.getfixturevalue("postgres_database")
    asyncio.run(_empty_tables(url))
    return url


async def _empty_tables(url: str) -> None:
    tables = ", ".join(t.name for t in SQLModel.metadata.sorted_tables)
    conn = await asyncpg.connect(_asyncpg_dsn(url))
    try:
        await conn.execute(f"TRUNCATE {tables} RESTART IDENTITY CASCADE")
        await conn.execute(
            "INSERT INTO change_counter (id, value, purged_through) VALUES (1, 0, 0)"
        )
    finally:
        await conn.close()


def make_settings(database_url: str, data_dir: Path, **overrides: object) -> Settings:
    """Settings for tests: a fixed key, cheap argon2 parameters (the defaults are tested), and
    jobs left to the test (``runner.run_due_jobs``) rather than run by the app on its own."""
    values: dict[str, object] = {
        "jobs": "external",
        "database_url": database_url,
        "data_dir": data_dir,
        "secret_keys": ["test-signing-key"],
        "argon2_time_cost": 1,
        "argon2_memory_kib": 64,
        **overrides,
    }
    return Settings(**values)  # type: ignore[arg-type]


@pytest.fixture
def settings(database_url: str, tmp_path: Path) -> Settings:
    return make_settings(database_url, tmp_path)


@pytest.fixture
async def client(aiohttp_client: AiohttpClient, settings: Settings) -> TestClient:
    return await aiohttp_client(create_app(settings))


@dataclass
class Person:
    """A user made for a test, with ready-made request headers carrying their token."""

    user: User
    token: str

    @property
    def id(self) -> int:
        assert self.user.id is not None
        return self.user.id

    @property
    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token}"}


MakePerson = Callable[..., Awaitable[Person]]


@pytest.fixture
def make_person(client: TestClient) -> MakePerson:
    """Create a user of a role directly in the database and sign a token for them."""
    app = client.app
    assert app is not None
    counter = iter(range(1, 10_000))

    async def make(
        role: Role | str = Role.STAFF, username: str | None = None, **fields: object
    ) -> Person:
        name = username or f"{Role(role).value.replace('_', '')}{next(counter)}"
        data = UserCreate(username=name, password=PASSWORD, role=Role(role), **fields)  # type: ignore[arg-type]
        password_hash = await app[PASSWORDS].hash(PASSWORD)
        async with app[DATABASE].write() as session:
            user = await create_user(session, data, password_hash)
        assert user.id is not None
        token = access_token(app[ACCESS_TOKENS], user).token
        return Person(user=user, token=token)

    return make


@pytest.fixture
async def admin(make_person: MakePerson) -> Person:
    return await make_person(Role.ADMIN, username="root")


@pytest.fixture
def engines(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Callable[[str], Engine]]:
    """Client engines, each on a profile of its own under a temporary data directory."""
    monkeypatch.setenv("COMPAX_DATA_DIR", str(tmp_path / "client"))
    opened: list[Engine] = []

    def open_engine(name: str) -> Engine:
        engine = Engine(Profile.load(name))
        opened.append(engine)
        return engine

    yield open_engine
    for engine in opened:
        engine.close()
