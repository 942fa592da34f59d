"""Jobs carried out later, notifications and their mutes, check-in, and the waitlist.

Revision ID: 0009
Revises: 0008

"""

import contextlib
from collections.abc import Iterator

import sqlalchemy as sa
from alembic import op

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None


@contextlib.contextmanager
def _keeping_triggers(table: str) -> Iterator[None]:
    """Around a batch change of ``table``, which SQLite makes by copying the table and so loses
    its triggers (the one that refuses overlapping bookings among them): make them again."""
    bind = op.get_bind()
    triggers = []
    if bind.dialect.name == "sqlite":
        found = bind.exec_driver_sql(
            "SELECT sql FROM sqlite_master WHERE type = 'trigger' AND tbl_name = ?", (table,)
        )
        triggers = list(found.scalars())
    yield
    for trigger in triggers:
        op.execute(trigger)


def upgrade() -> None:
    op.create_table(
        "jobs",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("kind", sa.String(length=40), nullable=False),
        sa.Column("key", sa.String(length=200), nullable=False),
        sa.Column("payload", sa.JSON(), nullable=False),
        sa.Column("state", sa.String(length=12), nullable=False),
        sa.Column("run_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("last_error", sa.String(length=2000), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("finished_at", sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("key", name="uq_jobs_key"),
    )
    op.create_index("ix_jobs_state_run_at", "jobs", ["state", "run_at"])

    op.create_table(
        "notifications",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("user_id", sa.Integer(), nullable=False),
        sa.Column("kind", sa.String(length=32), nullable=False),
        sa.Column("key", sa.String(length=200), nullable=False),
        sa.Column("booking_id", sa.Uuid(), nullable=True),
        sa.Column("data", sa.JSON(), nullable=False),
        sa.Column("state", sa.String(length=12), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("sent_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("read_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(["user_id"], ["users.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("key", name="uq_notifications_key"),
    )
    op.create_index("ix_notifications_user_id_id", "notifications", ["user_id", "id"])
    op.create_index("ix_notifications_state_id", "notifications", ["state", "id"])

    op.create_table(
        "notification_mutes",
        sa.Column("user_id", sa.Integer(), nullable=False),
        sa.Column("kind", sa.String(length=32), nullable=False),
        sa.ForeignKeyConstraint(["user_id"], ["users.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("user_id", "kind"),
    )

    op.add_column(
        "buildings",
        sa.Column("checkin_required", sa.Boolean(), nullable=False, server_default=sa.false()),
    )
    op.add_column("rooms", sa.Column("checkin_required", sa.Boolean(), nullable=True))
    op.add_column("rooms", sa.Column("checkin_opens_minutes", sa.Integer(), nullable=True))
    op.add_column("rooms", sa.Column("checkin_closes_minutes", sa.Integer(), nullable=True))
    with _keeping_triggers("bookings"), op.batch_alter_table("bookings") as batch_op:
        batch_op.add_column(sa.Column("checked_in_at", sa.DateTime(timezone=True), nullable=True))
        batch_op.add_column(sa.Column("checked_in_by", sa.Integer(), nullable=True))
        batch_op.create_foreign_key(
            "fk_bookings_checked_in_by_users",
            "users",
            ["checked_in_by"],
            ["id"],
            ondelete="SET NULL",
        )

    op.create_table(
        "waitlist_entries",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("user_id", sa.Integer(), nullable=False),
        sa.Column("room_id", sa.Integer(), nullable=True),
        sa.Column("building_id", sa.Integer(), nullable=True),
        sa.Column("min_capacity", sa.Integer(), nullable=False),
        sa.Column("features", sa.JSON(), nullable=False),
        sa.Column("start", sa.DateTime(timezone=True), nullable=False),
        sa.Column("end", sa.DateTime(timezone=True), nullable=False),
        sa.Column("title", sa.String(length=200), nullable=False),
        sa.Column("purpose", sa.String(length=16), nullable=False),
        sa.Column("attendees", sa.Integer(), nullable=False),
        sa.Column("auto_book", sa.Boolean(), nullable=False),
        sa.Column("state", sa.String(length=12), nullable=False),
        sa.Column("booking_id", sa.Uuid(), nullable=True),
        sa.Column("offer_expires_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.CheckConstraint('"end" > start', name="ck_waitlist_end_after_start"),
        sa.ForeignKeyConstraint(["user_id"], ["users.id"], ondelete="CASCADE"),
        sa.ForeignKeyConstraint(["room_id"], ["rooms.id"], ondelete="CASCADE"),
        sa.ForeignKeyConstraint(["building_id"], ["buildings.id"], ondelete="CASCADE"),
        sa.ForeignKeyConstraint(["booking_id"], ["bookings.id"], ondelete="SET NULL"),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_waitlist_state_start", "waitlist_entries", ["state", "start"])
    op.create_index("ix_waitlist_user_created", "waitlist_entries", ["user_id", "created_at"])


def downgrade() -> None:
    op.drop_table("waitlist_entries")
    with _keeping_triggers("bookings"), op.batch_alter_table("bookings") as batch_op:
        batch_op.drop_constraint("fk_bookings_checked_in_by_users", type_="foreignkey")
        batch_op.drop_column("checked_in_by")
        batch_op.drop_column("checked_in_at")
    for column in ("checkin_closes_minutes", "checkin_opens_minutes", "checkin_required"):
        with op.batch_alter_table("rooms") as batch_op:
            batch_op.drop_column(column)
    with op.batch_alter_table("buildings") as batch_op:
        batch_op.drop_column("checkin_required")
    op.drop_table("notification_mutes")
    op.drop_table("notifications")
    op.drop_table("jobs")
