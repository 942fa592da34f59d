"""SQLite: the triggers that refuse overlapping confirmed bookings, made again.

Migration 0009 added a foreign key to ``bookings``, which SQLite's batch mode does by copying
the table into a new one; the copy has no triggers, so from then on nothing in the database
refused an overlap there (invariant 1). Postgres keeps its exclusion constraint and needs
nothing.

Revision ID: 0010
Revises: 0009

"""

from alembic import op

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None


def upgrade() -> None:
    if op.get_bind().dialect.name != "sqlite":
        return
    # Only the constants of the loop below are interpolated into the SQL.
    for event, same_row in (("INSERT", ""), ("UPDATE", "AND other.id <> NEW.id")):
        op.execute(f"DROP TRIGGER IF EXISTS bookings_no_overlap_{event.lower()}")
        op.execute(f"""
            CREATE TRIGGER bookings_no_overlap_{event.lower()}
            BEFORE {event} ON bookings
            WHEN NEW.status = 'confirmed'
            BEGIN
                SELECT RAISE(ABORT, 'room-overlap: ex_bookings_no_overlap')
                WHERE EXISTS (
                    SELECT 1 FROM bookings AS other
                    WHERE other.room_id = NEW.room_id AND other.status = 'confirmed'
                      AND other.start < NEW."end" AND other."end" > NEW.start {same_row}
                );
            END""")  # noqa: S608


def downgrade() -> None:
    """The triggers stay: without them the database would let overlapping bookings in."""
