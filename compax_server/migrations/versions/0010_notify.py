"""Notifications found by state, newest first, for administrators checking what failed.

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


def downgrade() -> None:
    op.drop_index("ix_notifications_state_id", table_name="notifications")
