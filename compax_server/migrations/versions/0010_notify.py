"""Notifications found by state, newest first, for administrators checking what failed; and on
SQLite the triggers that refuse overlapping bookings, put back: 0009 rebuilt the bookings table
to add its check-in columns, and a rebuilt SQLite table keeps no triggers.

Revision ID: 0010_notify
Revises: 0009

"""

from alembic import op

revision = "0010_notify"
down_revision = "0009"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_index("ix_notifications_state_id", "notifications", ["state", "id"])
    if op.get_bind().dialect.name == "sqlite":
        _forbid_overlaps_on_sqlite()


def _forbid_overlaps_on_sqlite() -> None:
    """The triggers of 0002, where missing. Only the loop's constants are interpolated."""
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
    op.drop_index("ix_notifications_state_id", table_name="notifications")
