"""The database handle: one async engine per process, read and write sessions, migrations.

On SQLite every write session starts with ``BEGIN IMMEDIATE`` so that a transaction which
checks and then writes holds the write lock from its first statement; readers use plain
deferred transactions and, in WAL mode, never block the writer.
"""

from __future__ import annotations

import logging
import os
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import event, text
from sqlalchemy.engine import Connection, make_url
from sqlalchemy.engine.url import URL
from sqlalchemy.ext.asyncio import (
    AsyncConnection,
    AsyncEngine,
    AsyncSession,
    async_sessionmaker,
    create_async_engine,
)
from sqlalchemy.orm import ORMExecuteState, Session, UOWTransaction

from compax_server import audit_trail  # noqa: F401  (its session event keeps the audit trail)
from compax_server.changelog import RecordingSession

_WRITE = "compax_write"
log = logging.getLogger("compax.db")
MIGRATIONS = Path(__file__).parent / "migrations"


def async_url(url: str) -> URL:
    """The URL with its async driver: ``postgresql://`` becomes asyncpg, ``sqlite://`` aiosqlite."""
    parsed = make_url(url)
    if parsed.drivername in ("postgresql", "postgres", "postgresql+psycopg2"):
        return parsed.set(drivername="postgresql+asyncpg")
    if parsed.drivername == "sqlite":
        return parsed.set(drivername="sqlite+aiosqlite")
    return parsed


class Database:
    """An async engine with read and write sessions that behave alike on SQLite and Postgres."""

    def __init__(self, url: str, *, pool_size: int = 10, max_overflow: int = 5) -> None:
        self.url = async_url(url)
        self.is_sqlite = self.url.get_backend_name() == "sqlite"
        if self.is_sqlite:
            if self.url.database and self.url.database != ":memory:":
                _private_file(Path(self.url.database))
            self.engine: AsyncEngine = create_async_engine(self.url, connect_args={"timeout": 30})
            _configure_sqlite(self.engine)
        else:
            # No pre-ping: on asyncpg it costs three round trips (BEGIN, a ping, ROLLBACK) per
            # checkout. A connection the server dropped fails its first statement instead;
            # that request is answered 503 and the pool replaces every older connection.
            # Last in, first out: a quiet moment's work goes to the connection used last, whose
            # prepared statements and type codecs are warm, and the rest stay idle.
            self.engine = create_async_engine(
                self.url, pool_size=pool_size, max_overflow=max_overflow, pool_use_lifo=True
            )
        self._sessions = async_sessionmaker(
            self.engine, expire_on_commit=False, sync_session_class=RecordingSession
        )
        # On Postgres reads run in autocommit: each query is its own READ COMMITTED
        # transaction, as it would be inside a READ COMMITTED block, minus the BEGIN and
        # ROLLBACK round trips. ``ReadSession`` refuses writes, which would otherwise commit.
        read_engine = (
            self.engine
            if self.is_sqlite
            else self.engine.execution_options(isolation_level="AUTOCOMMIT")
        )
        self._read_engine = read_engine
        self._reads = async_sessionmaker(
            read_engine, expire_on_commit=False, sync_session_class=ReadSession
        )
        snapshot_engine = (
            self.engine
            if self.is_sqlite
            else self.engine.execution_options(isolation_level="REPEATABLE READ")
        )
        self._snapshots = async_sessionmaker(snapshot_engine, expire_on_commit=False)

    @asynccontextmanager
    async def read(self) -> AsyncIterator[AsyncSession]:
        """A session for queries, each seeing what was committed when it began; it may not
        write (use ``write``), and ``snapshot`` gives several queries one consistent view."""
        async with self._reads() as session:
            yield session

    @asynccontextmanager
    async def read_connection(self) -> AsyncIterator[AsyncConnection]:
        """``read`` without a session, for Core queries on hot paths (``core_sql``)."""
        async with self._read_engine.connect() as connection:
            yield connection

    @asynccontextmanager
    async def snapshot(self) -> AsyncIterator[AsyncSession]:
        """A read-only session whose every query sees one consistent snapshot."""
        async with self._snapshots() as session:
            yield session

    @asynccontextmanager
    async def write(self) -> AsyncIterator[AsyncSession]:
        """A session whose work commits when the block ends, or rolls back if it raises."""
        async with self._sessions() as session:
            await session.connection(execution_options={_WRITE: True})
            yield session
            await session.commit()

    async def ping(self) -> None:
        async with self.engine.connect() as conn:
            await conn.execute(text("SELECT 1"))

    async def dispose(self) -> None:
        await self.engine.dispose()

    async def migrate(self, revision: str = "head") -> None:
        """Bring the schema to ``revision`` (Alembic, in one transaction)."""
        async with self.engine.begin() as conn:
            await conn.run_sync(_upgrade, revision)

    async def schema_revision(self) -> tuple[str | None, str]:
        """The database's Alembic revision and the one this code expects."""
        async with self.engine.connect() as conn:
            current = await conn.run_sync(
                lambda sync_conn: MigrationContext.configure(sync_conn).get_current_revision()
            )
        return current, ScriptDirectory.from_config(alembic_config()).get_current_head() or ""


def _private_file(path: Path) -> None:
    """Create the SQLite file ``path`` readable by its owner only (and its directories, owner
    only, where they are made), since it holds password hashes; SQLite gives its ``-wal`` and
    ``-shm`` files the database file's mode. An existing file keeps the mode it has, with a
    warning if others may read it."""
    path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    try:
        os.close(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600))
    except FileExistsError:
        mode = path.stat().st_mode & 0o777
        if mode & 0o077:
            log.warning(
                "%s holds password hashes and is readable by others (mode %o); "
                "chmod 600 it (and its -wal and -shm files)",
                path,
                mode,
            )


class ReadSession(Session):
    """The session class of ``Database.read()``: it may query, never write."""


@event.listens_for(ReadSession, "before_flush")
def _refuse_flush(session: Session, _flush: UOWTransaction, _instances: object) -> None:
    if session.new or session.dirty or session.deleted:
        raise ReadOnlySessionError("Database.read() sessions cannot write; use Database.write()")


@event.listens_for(ReadSession, "do_orm_execute")
def _refuse_statement(state: ORMExecuteState) -> None:
    if state.is_insert or state.is_update or state.is_delete:
        raise ReadOnlySessionError("Database.read() sessions cannot write; use Database.write()")


class ReadOnlySessionError(RuntimeError):
    """A write was attempted in a read session: a programming error, never a user's."""


def alembic_config() -> Config:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    return config


def _upgrade(connection: Connection, revision: str) -> None:
    config = alembic_config()
    config.attributes["connection"] = connection
    command.upgrade(config, revision)


def _configure_sqlite(engine: AsyncEngine) -> None:
    """WAL, foreign keys, a busy timeout, and transactions begun by us, not by the driver."""

    @event.listens_for(engine.sync_engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute("PRAGMA busy_timeout=30000")
        cursor.close()

    @event.listens_for(engine.sync_engine, "begin")
    def _on_begin(conn: Connection) -> None:
        immediate = conn.get_execution_options().get(_WRITE, False)
        conn.exec_driver_sql("BEGIN IMMEDIATE" if immediate else "BEGIN")
