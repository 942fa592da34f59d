"""Rooms are indexed in the order free-room answers list them, (capacity, id), not by capacity.

A free-room answer is ordered by capacity, then id. With the id in the index
Postgres walks the rooms in that order and stops once the answer is full, instead of sorting
every candidate room first (docs/benchmarks.md).

Revision ID: 0006
Revises: 0005

"""

from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_index("ix_rooms_capacity_id", "rooms", ["capacity", "id"])
    op.drop_index("ix_rooms_capacity", table_name="rooms")


def downgrade() -> None:
    op.create_index("ix_rooms_capacity", "rooms", ["capacity"])
    op.drop_index("ix_rooms_capacity_id", table_name="rooms")
