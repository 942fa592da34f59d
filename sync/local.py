"""A profile's local state, read straight from its files without the engine: who is signed
in, the last sync and the changes waiting (what ``compax status`` shows), and the replica file
for lookups, so that commands which only read start fast."""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from sync.profiles import Profile
from sync.replica_tables import MIGRATIONS


class ReplicaFile:
    """The replica of a profile that has one, opened read-only with the standard library, for
    lookups; a replica made by an older Compax is brought up to date by the engine first."""

    def __init__(self, profile: Profile) -> None:
        path = profile.replica_path
        self.connection = _read_only(path)
        if self.connection.execute("PRAGMA user_version").fetchone()[0] < len(MIGRATIONS):
            self.connection.close()
            _brought_up_to_date(path)
            self.connection = _read_only(path)

    def close(self) -> None:
        self.connection.close()

    @contextmanager
    def read(self) -> Iterator[sqlite3.Connection]:
        """A consistent read: every query in the block sees the same snapshot."""
        self.connection.execute("BEGIN")
        try:
            yield self.connection
        finally:
            self.connection.rollback()


def _read_only(path: Path) -> sqlite3.Connection:
    connection = sqlite3.connect(f"file:{path}?mode=ro", uri=True, isolation_level=None)
    connection.execute("PRAGMA busy_timeout = 10000")
    return connection


def _brought_up_to_date(path: Path) -> None:
    """Run the replica's migrations (through sqlite-utils, which the lookups never load)."""
    from sync.replica import Replica

    Replica(path).close()


def status(profile: Profile) -> dict[str, Any]:
    """Server, user, last sync, changes waiting and changes that need attention."""
    state: dict[str, str] = {}
    counts: dict[str, int] = {}
    if profile.replica_path.exists():
        replica = ReplicaFile(profile)
        try:
            with replica.read() as db:
                state = dict(db.execute("SELECT key, value FROM sync_state").fetchall())
                counts = dict(db.execute("SELECT status, count(*) FROM outbox GROUP BY status"))
        finally:
            replica.close()
    cache = profile.open_cache()
    try:
        signed_in = cache.get("token") is not None
    finally:
        cache.close()
    user = json.loads(state["user"]) if "user" in state else {}
    return {
        "profile": profile.name,
        "server": profile.server or None,
        "user": user.get("username"),
        "role": user.get("role"),
        "signed_in": signed_in,
        "last_sync": state.get("last_sync"),
        "pending": counts.get("pending", 0) + counts.get("applied", 0),
        "needs_attention": counts.get("rejected", 0),
        "cursor": int(state.get("cursor") or 0),
    }
