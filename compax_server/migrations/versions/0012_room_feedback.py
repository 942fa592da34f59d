"""Real campus data and room feedback: room codes as other systems write them (up to 64
characters), rooms whose capacity is unknown, ratings with their running totals on the room,
and reports of problems with rooms.

Revision ID: 0012
Revises: 0011

"""

import sqlalchemy as sa
from alembic import op

revision = "0012"
down_revision = "0011"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("rooms") as batch_op:
        batch_op.alter_column(
            "code", existing_type=sa.String(32), type_=sa.String(64), existing_nullable=False
        )
        batch_op.alter_column("capacity", existing_type=sa.Integer(), nullable=True)
        batch_op.add_column(
            sa.Column("rating_count", sa.Integer(), nullable=False, server_default="0")
        )
        batch_op.add_column(
            sa.Column("rating_total", sa.Integer(), nullable=False, server_default="0")
        )
        batch_op.add_column(
            sa.Column("open_issues", sa.Integer(), nullable=False, server_default="0")
        )
    op.create_table(
        "room_ratings",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column(
            "room_id", sa.Integer(), sa.ForeignKey("rooms.id", ondelete="CASCADE"), nullable=False
        ),
        sa.Column(
            "user_id", sa.Integer(), sa.ForeignKey("users.id", ondelete="CASCADE"), nullable=True
        ),
        sa.Column("external_id", sa.String(255), nullable=True),
        sa.Column("stars", sa.Integer(), nullable=False),
        sa.Column("comment", sa.String(1000), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.CheckConstraint("stars BETWEEN 1 AND 5", name="ck_room_ratings_stars"),
        sa.CheckConstraint(
            "(user_id IS NULL) <> (external_id IS NULL)", name="ck_room_ratings_one_author"
        ),
        sa.UniqueConstraint("room_id", "user_id", name="uq_room_ratings_room_user"),
        sa.UniqueConstraint("room_id", "external_id", name="uq_room_ratings_room_external"),
    )
    op.create_index("ix_room_ratings_user_id", "room_ratings", ["user_id", "id"])
    op.create_index("ix_room_ratings_room_updated", "room_ratings", ["room_id", "updated_at"])
    op.create_table(
        "room_issues",
        sa.Column("id", sa.Uuid(), primary_key=True),
        sa.Column(
            "room_id", sa.Integer(), sa.ForeignKey("rooms.id", ondelete="CASCADE"), nullable=False
        ),
        sa.Column(
            "reporter_id",
            sa.Integer(),
            sa.ForeignKey("users.id", ondelete="SET NULL"),
            nullable=True,
        ),
        sa.Column(
            "booking_id",
            sa.Uuid(),
            sa.ForeignKey("bookings.id", ondelete="SET NULL"),
            nullable=True,
        ),
        sa.Column("category", sa.String(16), nullable=False),
        sa.Column("summary", sa.String(200), nullable=False),
        sa.Column("details", sa.String(2000), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column(
            "assignee_id",
            sa.Integer(),
            sa.ForeignKey("users.id", ondelete="SET NULL"),
            nullable=True,
        ),
        sa.Column("resolution", sa.String(2000), nullable=False),
        sa.Column("external_id", sa.String(255), nullable=True, unique=True),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("resolved_at", sa.DateTime(timezone=True), nullable=True),
    )
    op.create_index("ix_room_issues_room_status", "room_issues", ["room_id", "status"])
    op.create_index("ix_room_issues_status_created", "room_issues", ["status", "created_at"])
    op.create_index("ix_room_issues_reporter_created", "room_issues", ["reporter_id", "created_at"])
    op.create_index("ix_room_issues_assignee_status", "room_issues", ["assignee_id", "status"])
    op.create_index("ix_room_issues_created", "room_issues", ["created_at"])
    op.create_index("ix_room_issues_resolved", "room_issues", ["resolved_at"])


def downgrade() -> None:
    op.drop_table("room_issues")
    op.drop_table("room_ratings")
    op.execute("UPDATE rooms SET capacity = 0 WHERE capacity IS NULL")
    with op.batch_alter_table("rooms") as batch_op:
        batch_op.drop_column("open_issues")
        batch_op.drop_column("rating_total")
        batch_op.drop_column("rating_count")
        batch_op.alter_column("capacity", existing_type=sa.Integer(), nullable=False)
        batch_op.alter_column(
            "code", existing_type=sa.String(64), type_=sa.String(32), existing_nullable=False
        )
