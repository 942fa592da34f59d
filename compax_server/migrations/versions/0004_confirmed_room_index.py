"""Partial index of confirmed bookings by room and end, for overlap checks and free rooms.

Revision ID: 0004
Revises: 0003

"""

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None

CONFIRMED = sa.text("status = 'confirmed'")


def upgrade() -> None:
    op.create_index(
        "ix_bookings_confirmed_room_end",
        "bookings",
        ["room_id", "end"],
        postgresql_where=CONFIRMED,
        sqlite_where=CONFIRMED,
    )


def downgrade() -> None:
    op.drop_index("ix_bookings_confirmed_room_end", table_name="bookings")
