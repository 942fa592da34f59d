"""The replica's tables, as numbered migrations: the engine runs them, and commands that only
read the replica check how many have run."""

from __future__ import annotations

#: Numbered schema migrations; ``PRAGMA user_version`` records how many have run.
MIGRATIONS: tuple[str, ...] = (
    """
    CREATE TABLE sync_state (key TEXT PRIMARY KEY, value TEXT NOT NULL);
    CREATE TABLE outbox (
        mid INTEGER PRIMARY KEY,
        op TEXT NOT NULL,
        args TEXT NOT NULL,
        record_id TEXT,
        summary TEXT NOT NULL,
        status TEXT NOT NULL DEFAULT 'pending',
        problem TEXT,
        created_at TEXT NOT NULL
    );
    CREATE INDEX outbox_status ON outbox (status, mid);
    CREATE TABLE buildings (id TEXT PRIMARY KEY, code TEXT NOT NULL, row TEXT NOT NULL);
    CREATE UNIQUE INDEX buildings_code ON buildings (code);
    CREATE TABLE rooms (
        id TEXT PRIMARY KEY, building TEXT NOT NULL, code TEXT NOT NULL, kind TEXT NOT NULL,
        capacity INTEGER NOT NULL, bookable INTEGER NOT NULL, row TEXT NOT NULL
    );
    CREATE INDEX rooms_building ON rooms (building, code);
    CREATE INDEX rooms_capacity ON rooms (capacity);
    CREATE TABLE room_features (
        room_id TEXT NOT NULL, feature TEXT NOT NULL, PRIMARY KEY (room_id, feature)
    );
    CREATE INDEX room_features_feature ON room_features (feature, room_id);
    CREATE TABLE terms (id TEXT PRIMARY KEY, row TEXT NOT NULL);
    CREATE TABLE users (id TEXT PRIMARY KEY, row TEXT NOT NULL);
    CREATE TABLE series (id TEXT PRIMARY KEY, row TEXT NOT NULL);
    CREATE TABLE blackouts (
        id TEXT PRIMARY KEY, room_id TEXT, building_id TEXT,
        start TEXT NOT NULL, "end" TEXT NOT NULL, row TEXT NOT NULL
    );
    CREATE INDEX blackouts_room ON blackouts (room_id, "end");
    CREATE INDEX blackouts_building ON blackouts (building_id, "end");
    CREATE TABLE bookings (
        id TEXT PRIMARY KEY, room_id TEXT NOT NULL, start TEXT NOT NULL, "end" TEXT NOT NULL,
        status TEXT NOT NULL, owner_id TEXT, series_id TEXT, row TEXT NOT NULL
    );
    CREATE INDEX bookings_room ON bookings (room_id, "end");
    CREATE INDEX bookings_owner ON bookings (owner_id, start);
    CREATE INDEX bookings_series ON bookings (series_id);
    CREATE TABLE pending_bookings (
        id TEXT PRIMARY KEY, mid INTEGER NOT NULL, room_id TEXT NOT NULL, start TEXT NOT NULL,
        "end" TEXT NOT NULL, status TEXT NOT NULL, row TEXT NOT NULL
    );
    CREATE INDEX pending_bookings_room ON pending_bookings (room_id, "end");
    CREATE INDEX pending_bookings_mid ON pending_bookings (mid);
    CREATE VIEW local_bookings AS
        SELECT id, room_id, start, "end", status, row, 0 AS pending FROM bookings
        WHERE id NOT IN (SELECT id FROM pending_bookings)
        UNION ALL
        SELECT id, room_id, start, "end", status, row, 1 AS pending FROM pending_bookings;
    """,
    """
    CREATE TABLE waitlist_entries (
        id TEXT PRIMARY KEY, state TEXT NOT NULL, start TEXT NOT NULL, row TEXT NOT NULL
    );
    CREATE INDEX waitlist_entries_state ON waitlist_entries (state, start);
    """,
    """
    CREATE TABLE rooms_with_unknown_capacity (
        id TEXT PRIMARY KEY, building TEXT NOT NULL, code TEXT NOT NULL, kind TEXT NOT NULL,
        capacity INTEGER, bookable INTEGER NOT NULL, row TEXT NOT NULL
    );
    INSERT INTO rooms_with_unknown_capacity (id, building, code, kind, capacity, bookable, row)
        SELECT id, building, code, kind, capacity, bookable, row FROM rooms;
    DROP TABLE rooms;
    ALTER TABLE rooms_with_unknown_capacity RENAME TO rooms;
    CREATE INDEX rooms_building ON rooms (building, code);
    CREATE INDEX rooms_capacity ON rooms (capacity);
    """,
)
