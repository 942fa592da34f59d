"""The local replica: server rows (written only by pull), the outbox, and sync state.

What the user sees is the view ``local_bookings``: the server's bookings with the pending
rows of the outbox laid over them.

One SQLite file per profile, in WAL mode. Every write goes through ``Replica.write()``: a
``BEGIN IMMEDIATE`` transaction (savepoints when nested) under a lock, so the CLI, the TUI's
workers and a sync in progress never interleave half-done writes. A local change writes its
pending row and its outbox entry in one such transaction (invariant 2).
"""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import msgspec
import sqlite_utils
from pydantic_core import to_json

from sync.protocol import TABLES
from sync.replica_tables import MIGRATIONS


def instant(value: datetime | str) -> str:
    """A UTC instant as the sortable text the replica stores (``2026-11-25T10:00:00.000000Z``)."""
    if isinstance(value, str) and value[-1:] == "Z" and value[10:11] == "T":
        # The server's own UTC forms, with or without microseconds, need no parsing.
        if len(value) == 27 and value[19] == ".":
            return value
        if len(value) == 20:
            return f"{value[:19]}.000000Z"
    moment = (
        datetime.fromisoformat(value.replace("Z", "+00:00")) if isinstance(value, str) else value
    )
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def now_text() -> str:
    return instant(datetime.now(UTC))


class Replica:
    """A profile's replica file, safe to share between threads (one writer at a time)."""

    def __init__(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self.path = path
        connection = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
        self.db = sqlite_utils.Database(connection)
        self._lock = threading.RLock()
        self.db.enable_wal()
        self.db.execute("PRAGMA foreign_keys = ON")
        self.db.execute("PRAGMA busy_timeout = 10000")
        self.db.execute("PRAGMA synchronous = NORMAL")
        # 16 MiB of page cache instead of 2: a pull's upserts land all over the id index of a
        # large table, and with the default cache the later pages of a first pull cost a
        # third more.
        self.db.execute("PRAGMA cache_size = -16384")
        self._migrate()

    def close(self) -> None:
        self.db.close()

    def _migrate(self) -> None:
        with self.write():
            done = self.db.execute("PRAGMA user_version").fetchone()[0]
            for number, script in enumerate(MIGRATIONS[done:], start=done + 1):
                for statement in script.split(";"):
                    if statement.strip():
                        self.db.execute(statement)
                self.db.execute(f"PRAGMA user_version = {number}")

    @contextmanager
    def write(self) -> Iterator[sqlite_utils.Database]:
        """One write transaction (``BEGIN IMMEDIATE``); nested calls become savepoints."""
        with self._lock:
            if self.db.conn.in_transaction:
                with self.db.atomic():
                    yield self.db
                return
            self.db.execute("BEGIN IMMEDIATE")
            try:
                yield self.db
            except BaseException:
                self.db.rollback()
                raise
            self.db.execute("COMMIT")

    @contextmanager
    def read(self) -> Iterator[sqlite_utils.Database]:
        """A consistent read: every query in the block sees the same snapshot."""
        with self._lock:
            if self.db.conn.in_transaction:
                yield self.db
                return
            self.db.execute("BEGIN")
            try:
                yield self.db
            finally:
                self.db.rollback()

    # --- sync state ----------------------------------------------------------------------

    def state(self, key: str, default: str | None = None) -> str | None:
        with self.read() as db:
            row = db.execute("SELECT value FROM sync_state WHERE key = ?", [key]).fetchone()
        return default if row is None else str(row[0])

    def set_state(self, **values: object) -> None:
        with self.write() as db:
            db.conn.executemany(
                "INSERT INTO sync_state (key, value) VALUES (?, ?) "
                "ON CONFLICT (key) DO UPDATE SET value = excluded.value",
                [(key, str(value)) for key, value in values.items()],
            )

    # --- server rows ---------------------------------------------------------------------

    def apply_changes(self, changes: Iterable[dict[str, Any]]) -> int:
        """Upsert and delete server rows given as dicts, a table at a time; the caller holds
        the transaction."""
        return self._apply(
            (change["op"], change["table"], change["row"], None) for change in changes
        )

    def apply_pulled(self, changes: Iterable[PulledChange]) -> int:
        """Upsert and delete the server rows of a pulled page, a table at a time, each row
        stored as the server's JSON text; the caller holds the transaction."""
        return self._apply(
            (change.op, change.table, _ROW.decode(change.row), bytes(change.row).decode())
            for change in changes
        )

    def _apply(self, changes: Iterable[tuple[str, str, dict[str, Any], str | None]]) -> int:
        """Apply (op, table, row, row's JSON text or ``None`` to encode it) changes."""
        puts: dict[str, list[tuple[dict[str, Any], str]]] = {table: [] for table in TABLES}
        deletes: dict[str, list[str]] = {table: [] for table in TABLES}
        count = 0
        for op, table, row, text in changes:
            count += 1
            if table not in puts:
                continue
            if op == "put":
                puts[table].append((row, _dumps(row) if text is None else text))
            else:
                deletes[table].append(str(row["id"]))
        for table in TABLES:
            if deletes[table]:
                self._delete(table, deletes[table])
            if puts[table]:
                self._put(table, puts[table])
        return count

    def _delete(self, table: str, ids: Sequence[str]) -> None:
        rows = [(row_id,) for row_id in ids]
        self.db.conn.executemany(f"DELETE FROM {table} WHERE id = ?", rows)  # noqa: S608
        if table == "rooms":
            self.db.conn.executemany("DELETE FROM room_features WHERE room_id = ?", rows)

    def _put(self, table: str, rows: list[tuple[dict[str, Any], str]]) -> None:
        """Upsert rows of ``table``, each given as its values and its JSON text."""
        make = _VALUES[table]
        columns, values = _COLUMNS[table], [make(row, text) for row, text in rows]
        placeholders = ", ".join("?" for _ in columns)
        quoted = ", ".join(f'"{c}"' for c in columns)
        # Table and column names come from _COLUMNS (a KeyError for any other table).
        self.db.conn.executemany(
            f"INSERT OR REPLACE INTO {table} ({quoted}) VALUES ({placeholders})",  # noqa: S608
            values,
        )
        if table == "rooms":
            ids = [(str(row["id"]),) for row, _ in rows]
            self.db.conn.executemany("DELETE FROM room_features WHERE room_id = ?", ids)
            self.db.conn.executemany(
                "INSERT INTO room_features (room_id, feature) VALUES (?, ?)",
                [(str(row["id"]), feature) for row, _ in rows for feature in row["features"]],
            )

    def drop_server_rows(self) -> None:
        """Forget every server row (a reset); the outbox and pending rows stay."""
        for table in (*TABLES, "room_features"):
            self.db.execute(f"DELETE FROM {table}")  # noqa: S608


class PulledChange(msgspec.Struct, frozen=True):
    """A change of a pulled page, its row kept as the server's JSON text (``msgspec.Raw``)."""

    op: str
    table: str
    row: msgspec.Raw


class PulledPage(msgspec.Struct, frozen=True):
    """A pull's answer (``sync.protocol.PullResponse``) with its rows left undecoded."""

    cursor: int
    has_more: bool
    changes: list[PulledChange]
    last_mutation_id: int | None = None
    reset: bool = False


#: Decoders of a pull's answer, and of one row of it.
PULLED_PAGE = msgspec.json.Decoder(PulledPage)
_ROW = msgspec.json.Decoder(dict[str, Any])


def _dumps(row: dict[str, Any]) -> str:
    """A row as compact JSON text (pydantic-core's encoder: several times faster than json's)."""
    return to_json(row).decode()


def _text(value: object) -> str | None:
    return None if value is None else str(value)


_COLUMNS: dict[str, tuple[str, ...]] = {
    "buildings": ("id", "code", "row"),
    "rooms": ("id", "building", "code", "kind", "capacity", "bookable", "row"),
    "terms": ("id", "row"),
    "users": ("id", "row"),
    "series": ("id", "row"),
    "blackouts": ("id", "room_id", "building_id", "start", "end", "row"),
    "bookings": ("id", "room_id", "start", "end", "status", "owner_id", "series_id", "row"),
    "waitlist_entries": ("id", "state", "start", "row"),
}
#: Each table's ``_COLUMNS`` values from a row and its JSON text.
_VALUES: dict[str, Callable[[dict[str, Any], str], tuple[Any, ...]]] = {
    "buildings": lambda r, text: (str(r["id"]), r["code"], text),
    "rooms": lambda r, text: (
        str(r["id"]),
        r["building"],
        r["code"],
        r["kind"],
        r["capacity"],
        int(r["bookable"]),
        text,
    ),
    "terms": lambda r, text: (str(r["id"]), text),
    "users": lambda r, text: (str(r["id"]), text),
    "series": lambda r, text: (str(r["id"]), text),
    "blackouts": lambda r, text: (
        str(r["id"]),
        _text(r["room_id"]),
        _text(r["building_id"]),
        instant(r["start"]),
        instant(r["end"]),
        text,
    ),
    "bookings": lambda r, text: (
        str(r["id"]),
        str(r["room_id"]),
        instant(r["start"]),
        instant(r["end"]),
        r["status"],
        _text(r["owner_id"]),
        _text(r["series_id"]),
        text,
    ),
    "waitlist_entries": lambda r, text: (str(r["id"]), r["state"], instant(r["start"]), text),
}
