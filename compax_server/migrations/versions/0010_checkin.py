"""Refuse overlapping confirmed bookings on SQLite again: 0009 rebuilt the bookings table to add
its check-in columns (batch mode), which drops the table's triggers.

Revision ID: 0010
Revises: 0009

"""

from alembic import op

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None


def upgrade() -> None:
    """Postgres kept its exclusion constraint through 0009; SQLite gets 0002's triggers back."""
    if op.get_bind().dialect.name != "sqlite":
        return
    # Only the constants of the loop below are interpolated into the SQL.
    for event, same_row in (("INSERT", ""), ("UPDATE", "AND other.id <> NEW.id")):
        op.execute(f"""
            CREATE TRIGGER IF NOT EXISTS bookings_no_overlap_{event.lower()}
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
    """The triggers are 0002's: going back to 0009 keeps them, as 0009 should have."""
