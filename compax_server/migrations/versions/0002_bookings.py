"""Bookings, series, blackouts; no two confirmed bookings of a room overlap.

Revision ID: 0002
Revises: 0001

"""

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "idempotency_keys",
        sa.Column("user_id", sa.Integer(), nullable=False),
        sa.Column("key", sa.String(length=200), nullable=False),
        sa.Column("request_hash", sa.String(length=64), nullable=False),
        sa.Column("status", sa.Integer(), nullable=False),
        sa.Column("body", sa.JSON(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["user_id"], ["users.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("user_id", "key"),
    )
    with op.batch_alter_table("idempotency_keys", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_idempotency_keys_created_at"), ["created_at"], unique=False
        )

    op.create_table(
        "rule_overrides",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("booking_id", sa.Uuid(), nullable=True),
        sa.Column("series_id", sa.Uuid(), nullable=True),
        sa.Column("user_id", sa.Integer(), nullable=False),
        sa.Column("rules", sa.JSON(), nullable=False),
        sa.Column("reason", sa.String(length=500), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["user_id"], ["users.id"], ondelete="RESTRICT"),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("rule_overrides", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_rule_overrides_booking_id"), ["booking_id"], unique=False
        )
        batch_op.create_index(
            batch_op.f("ix_rule_overrides_series_id"), ["series_id"], unique=False
        )

    op.create_table(
        "blackouts",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("room_id", sa.Integer(), nullable=True),
        sa.Column("building_id", sa.Integer(), nullable=True),
        sa.Column("start", sa.DateTime(timezone=True), nullable=False),
        sa.Column("end", sa.DateTime(timezone=True), nullable=False),
        sa.Column("reason", sa.String(length=500), nullable=False),
        sa.Column("created_by", sa.Integer(), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.CheckConstraint('"end" > start', name="ck_blackouts_end_after_start"),
        sa.CheckConstraint(
            "(room_id IS NULL) <> (building_id IS NULL)", name="ck_blackouts_one_target"
        ),
        sa.ForeignKeyConstraint(["building_id"], ["buildings.id"], ondelete="CASCADE"),
        sa.ForeignKeyConstraint(["created_by"], ["users.id"], ondelete="RESTRICT"),
        sa.ForeignKeyConstraint(["room_id"], ["rooms.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("blackouts", schema=None) as batch_op:
        batch_op.create_index("ix_blackouts_building_end", ["building_id", "end"], unique=False)
        batch_op.create_index("ix_blackouts_room_end", ["room_id", "end"], unique=False)

    op.create_table(
        "series",
        sa.Column("frequency", sa.String(length=8), nullable=False),
        sa.Column("interval", sa.Integer(), nullable=False),
        sa.Column("weekdays", sa.JSON(), nullable=False),
        sa.Column("first_day", sa.Date(), nullable=False),
        sa.Column("last_day", sa.Date(), nullable=False),
        sa.Column("start_time", sa.Time(), nullable=False),
        sa.Column("end_time", sa.Time(), nullable=False),
        sa.Column("exceptions", sa.JSON(), nullable=False),
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("room_id", sa.Integer(), nullable=False),
        sa.Column("owner_id", sa.Integer(), nullable=False),
        sa.Column("title", sa.String(length=200), nullable=False),
        sa.Column("purpose", sa.String(length=16), nullable=False),
        sa.Column("attendees", sa.Integer(), nullable=False),
        sa.Column("private", sa.Boolean(), nullable=False),
        sa.Column("notes", sa.String(length=2000), nullable=False),
        sa.Column("term_id", sa.Integer(), nullable=True),
        sa.Column("course_code", sa.String(length=32), nullable=True),
        sa.Column("course_name", sa.String(length=200), nullable=True),
        sa.Column("department", sa.String(length=100), nullable=True),
        sa.Column("year_group", sa.String(length=32), nullable=True),
        sa.Column("weekday_key", sa.String(length=3), nullable=True),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["owner_id"], ["users.id"], ondelete="RESTRICT"),
        sa.ForeignKeyConstraint(["room_id"], ["rooms.id"], ondelete="RESTRICT"),
        sa.ForeignKeyConstraint(["term_id"], ["terms.id"], ondelete="SET NULL"),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("series", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_series_owner_id"), ["owner_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_series_room_id"), ["room_id"], unique=False)
        batch_op.create_index(
            "uq_series_timetable_slot",
            ["term_id", "course_code", "weekday_key", "start_time"],
            unique=True,
        )

    op.create_table(
        "bookings",
        sa.Column("room_id", sa.Integer(), nullable=False),
        sa.Column("start", sa.DateTime(timezone=True), nullable=False),
        sa.Column("end", sa.DateTime(timezone=True), nullable=False),
        sa.Column("title", sa.String(length=200), nullable=False),
        sa.Column("attendees", sa.Integer(), nullable=False),
        sa.Column("private", sa.Boolean(), nullable=False),
        sa.Column("notes", sa.String(length=2000), nullable=False),
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("purpose", sa.String(length=16), nullable=False),
        sa.Column("owner_id", sa.Integer(), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("series_id", sa.Uuid(), nullable=True),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.CheckConstraint('"end" > start', name="ck_bookings_end_after_start"),
        sa.ForeignKeyConstraint(["owner_id"], ["users.id"], ondelete="RESTRICT"),
        sa.ForeignKeyConstraint(["room_id"], ["rooms.id"], ondelete="RESTRICT"),
        sa.ForeignKeyConstraint(["series_id"], ["series.id"], ondelete="SET NULL"),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("bookings", schema=None) as batch_op:
        batch_op.create_index("ix_bookings_owner_start", ["owner_id", "start"], unique=False)
        batch_op.create_index("ix_bookings_room_end", ["room_id", "end"], unique=False)
        batch_op.create_index(batch_op.f("ix_bookings_series_id"), ["series_id"], unique=False)
        batch_op.create_index("ix_bookings_start", ["start"], unique=False)

    with op.batch_alter_table("users", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("calendar_generation", sa.Integer(), nullable=False, server_default="0")
        )

    _forbid_overlaps()


def _forbid_overlaps() -> None:
    """Invariant 1 in the database itself: confirmed bookings of one room never overlap."""
    if op.get_bind().dialect.name == "postgresql":
        op.execute("CREATE EXTENSION IF NOT EXISTS btree_gist")
        op.execute(
            "ALTER TABLE bookings ADD CONSTRAINT ex_bookings_no_overlap EXCLUDE USING gist "
            "(room_id WITH =, tstzrange(start, \"end\", '[)') WITH &&) "
            "WHERE (status = 'confirmed')"
        )
        return
    # SQLite has no exclusion constraints; these triggers refuse what one would.
    # Only the constants of the loop below are interpolated into the SQL.
    for event, same_row in (("INSERT", ""), ("UPDATE", "AND other.id <> NEW.id")):
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
    if op.get_bind().dialect.name == "postgresql":
        op.execute("ALTER TABLE bookings DROP CONSTRAINT ex_bookings_no_overlap")
    else:
        op.execute("DROP TRIGGER bookings_no_overlap_insert")
        op.execute("DROP TRIGGER bookings_no_overlap_update")
    with op.batch_alter_table("users", schema=None) as batch_op:
        batch_op.drop_column("calendar_generation")

    with op.batch_alter_table("bookings", schema=None) as batch_op:
        batch_op.drop_index("ix_bookings_start")
        batch_op.drop_index(batch_op.f("ix_bookings_series_id"))
        batch_op.drop_index("ix_bookings_room_end")
        batch_op.drop_index("ix_bookings_owner_start")

    op.drop_table("bookings")
    with op.batch_alter_table("series", schema=None) as batch_op:
        batch_op.drop_index("uq_series_timetable_slot")
        batch_op.drop_index(batch_op.f("ix_series_room_id"))
        batch_op.drop_index(batch_op.f("ix_series_owner_id"))

    op.drop_table("series")
    with op.batch_alter_table("blackouts", schema=None) as batch_op:
        batch_op.drop_index("ix_blackouts_room_end")
        batch_op.drop_index("ix_blackouts_building_end")

    op.drop_table("blackouts")
    with op.batch_alter_table("rule_overrides", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_rule_overrides_series_id"))
        batch_op.drop_index(batch_op.f("ix_rule_overrides_booking_id"))

    op.drop_table("rule_overrides")
    with op.batch_alter_table("idempotency_keys", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_idempotency_keys_created_at"))

    op.drop_table("idempotency_keys")
