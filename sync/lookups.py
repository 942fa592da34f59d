"""Lookups in the replica that need neither the judge nor the engine: rooms, buildings,
features and bookings by id, over any SQLite connection, so that a command which only looks
things up opens the replica file and starts as fast as ``compax status``."""

from __future__ import annotations

import json
import re
from collections.abc import Sequence
from contextlib import AbstractContextManager
from typing import Any, Protocol

_ID_PREFIX = re.compile(r"[0-9a-f-]{1,36}")


#: How a room of unknown capacity's seats read to people (``null`` in JSON).
UNKNOWN_SEATS = "?"


def seats_text(capacity: int | None) -> str:
    """A room's seats as people read them: the number, or ``?`` when unknown."""
    return UNKNOWN_SEATS if capacity is None else str(capacity)


def written_code(text: str) -> str:
    """A room code as the replica and the server store it: trimmed, inner spaces collapsed,
    upper case (``sync.vocabulary.normalised_room_code`` without its checks)."""
    return " ".join(text.split()).upper()


def room_label_parts(text: str) -> tuple[str, str]:
    """The building and room code of a label ``BUILDING/CODE`` as stored; the code may hold
    spaces and commas (``PB/Lecture Theatre 1, East Wing``), never a ``/``."""
    building, _, code = text.strip().partition("/")
    return building.strip().upper(), written_code(code)


class Readable(Protocol):
    """A replica that hands out consistent reads: a connection ``sqlite3`` or sqlite-utils."""

    def read(self) -> AbstractContextManager[Any]: ...


class Lookups:
    """Rooms, buildings, features and bookings by id, read from one replica."""

    def __init__(self, replica: Readable) -> None:
        self.replica = replica

    def room(self, room_id: int | str) -> dict[str, Any] | None:
        with self.replica.read() as db:
            row = db.execute("SELECT row FROM rooms WHERE id = ?", [str(room_id)]).fetchone()
        return None if row is None else json.loads(row[0])

    def room_by_code(self, building: str, code: str) -> dict[str, Any] | None:
        """The room ``code`` of ``building``, either written as a user types it (any case,
        spaces doubled or around it)."""
        with self.replica.read() as db:
            row = db.execute(
                "SELECT row FROM rooms WHERE building = ? AND code = ?",
                [building.strip().upper(), written_code(code)],
            ).fetchone()
        return None if row is None else json.loads(row[0])

    def rooms(
        self,
        *,
        building: str | None = None,
        kind: str | None = None,
        capacity: int | None = None,
        features: Sequence[str] = (),
        bookable: bool | None = None,
        limit: int = 100,
        offset: int = 0,
    ) -> list[dict[str, Any]]:
        """Rooms matching every filter, by building and code; each filter has an index."""
        sql, params = self._rooms_where(building, kind, capacity, features, bookable)
        sql += " ORDER BY building, code LIMIT ? OFFSET ?"
        with self.replica.read() as db:
            rows = db.execute(sql, [*params, limit, offset]).fetchall()
        return [json.loads(row[0]) for row in rows]

    @staticmethod
    def _rooms_where(
        building: str | None,
        kind: str | None,
        capacity: int | None,
        features: Sequence[str],
        bookable: bool | None,
    ) -> tuple[str, list[Any]]:
        clauses: list[str] = ["1 = 1"]
        params: list[Any] = []
        if building:
            clauses.append("building = ?")
            params.append(building.upper())
        if kind:
            clauses.append("kind = ?")
            params.append(kind)
        if capacity is not None:
            clauses.append("capacity IS NOT NULL AND capacity >= ?")
            params.append(capacity)
        if bookable is not None:
            clauses.append("bookable = ?")
            params.append(int(bookable))
        if features:
            marks = ", ".join("?" for _ in features)
            # Only "?" placeholders are interpolated, here and in the query below.
            clauses.append(
                f"id IN (SELECT room_id FROM room_features WHERE feature IN ({marks}) "  # noqa: S608
                "GROUP BY room_id HAVING count(*) = ?)"
            )
            params += [*features, len(features)]
        return "SELECT row FROM rooms WHERE " + " AND ".join(clauses), params  # noqa: S608

    def buildings(self) -> list[dict[str, Any]]:
        """Every building, by code."""
        with self.replica.read() as db:
            rows = db.execute("SELECT row FROM buildings ORDER BY code").fetchall()
        return [json.loads(row[0]) for row in rows]

    def features(self) -> list[str]:
        """Every feature some room has, alphabetically."""
        with self.replica.read() as db:
            rows = db.execute("SELECT DISTINCT feature FROM room_features ORDER BY feature")
            return [str(row[0]) for row in rows]

    # --- bookings by id -------------------------------------------------------------------

    def booking(self, booking_id: str) -> dict[str, Any] | None:
        """A booking as the user sees it now, with ``pending`` set if a change awaits sync."""
        with self.replica.read() as db:
            row = db.execute(
                "SELECT row, pending FROM local_bookings WHERE id = ?", [str(booking_id)]
            ).fetchone()
        return None if row is None else {**json.loads(row[0]), "pending": bool(row[1])}

    def booking_ids(self, prefix: str, limit: int = 2) -> list[str]:
        """Ids of bookings (pending ones included) that start with ``prefix`` (hex and dashes)."""
        if not _ID_PREFIX.fullmatch(prefix):
            return []
        with self.replica.read() as db:
            rows = db.execute(
                "SELECT id FROM local_bookings WHERE id LIKE ? LIMIT ?", [f"{prefix}%", limit]
            ).fetchall()
        return [str(row[0]) for row in rows]
