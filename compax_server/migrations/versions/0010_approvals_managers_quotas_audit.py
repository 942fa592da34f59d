"""Approvals (pending bookings hold their slot), building managers, quotas, the audit trail.

Revision ID: 0010
Revises: 0009

"""

import contextlib
from collections.abc import Iterator

import sqlalchemy as sa
from alembic import op

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None

CONFIRMED = "status = 'confirmed'"
HOLDING = "status IN ('confirmed', 'pending')"
PENDING = "status = 'pending'"


@contextlib.contextmanager
def _keeping_triggers(table: str) -> Iterator[None]:
    """Around a batch change of ``table``, which SQLite makes by copying the table and so loses
    its triggers: make them again."""
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


def _forbid_overlaps(holding: str) -> None:
    """Invariant 1 in the database itself, over the bookings that match ``holding``."""
    if op.get_bind().dialect.name == "postgresql":
        op.execute("ALTER TABLE bookings DROP CONSTRAINT IF EXISTS ex_bookings_no_overlap")
        op.execute(
            "ALTER TABLE bookings ADD CONSTRAINT ex_bookings_no_overlap EXCLUDE USING gist "
            "(room_id WITH =, tstzrange(start, \"end\", '[)') WITH &&) "
            f"WHERE ({holding})"
        )
        return
    # Only the constants of this module are interpolated into the SQL.
    for event, same_row in (("INSERT", ""), ("UPDATE", "AND other.id <> NEW.id")):
        name = f"bookings_no_overlap_{event.lower()}"
        op.execute(f"DROP TRIGGER IF EXISTS {name}")
        op.execute(f"""
            CREATE TRIGGER {name}
            BEFORE {event} ON bookings
            WHEN NEW.{holding}
            BEGIN
                SELECT RAISE(ABORT, 'room-overlap: ex_bookings_no_overlap')
                WHERE EXISTS (
                    SELECT 1 FROM bookings AS other
                    WHERE other.room_id = NEW.room_id AND other.{holding}
                      AND other.start < NEW."end" AND other."end" > NEW.start {same_row}
                );
            END""")  # noqa: S608


def upgrade() -> None:
    with _keeping_triggers("bookings"), op.batch_alter_table("bookings") as batch_op:
        batch_op.add_column(sa.Column("decided_by", sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column("decided_at", sa.DateTime(timezone=True), nullable=True))
        batch_op.add_column(
            sa.Column("decision_reason", sa.String(length=500), nullable=False, server_default="")
        )
        batch_op.create_foreign_key(
            "fk_bookings_decided_by_users", "users", ["decided_by"], ["id"], ondelete="SET NULL"
        )
    op.drop_index("ix_bookings_confirmed_room_end", table_name="bookings")
    op.create_index(
        "ix_bookings_holding_room_end",
        "bookings",
        ["room_id", "end"],
        postgresql_where=sa.text(HOLDING),
        sqlite_where=sa.text(HOLDING),
    )
    op.create_index(
        "ix_bookings_pending_start",
        "bookings",
        ["start"],
        postgresql_where=sa.text(PENDING),
        sqlite_where=sa.text(PENDING),
    )
    _forbid_overlaps(HOLDING)

    op.add_column("rooms", sa.Column("approval_roles", sa.JSON(), nullable=True))
    op.add_column("buildings", sa.Column("approval_roles", sa.JSON(), nullable=True))

    op.create_table(
        "building_managers",
        sa.Column("user_id", sa.Integer(), nullable=False),
        sa.Column("building_id", sa.Integer(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["user_id"], ["users.id"], ondelete="CASCADE"),
        sa.ForeignKeyConstraint(["building_id"], ["buildings.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("user_id", "building_id"),
    )
    op.create_index(
        "ix_building_managers_building_id", "building_managers", ["building_id"], unique=False
    )

    op.create_table(
        "quotas",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("role", sa.String(length=32), nullable=True),
        sa.Column("user_id", sa.Integer(), nullable=True),
        sa.Column("max_hours_day", sa.Float(), nullable=True),
        sa.Column("max_bookings_day", sa.Integer(), nullable=True),
        sa.Column("max_hours_week", sa.Float(), nullable=True),
        sa.Column("max_bookings_week", sa.Integer(), nullable=True),
        sa.Column("max_hours_term", sa.Float(), nullable=True),
        sa.Column("max_bookings_term", sa.Integer(), nullable=True),
        sa.Column("max_future_bookings", sa.Integer(), nullable=True),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.CheckConstraint("(role IS NULL) <> (user_id IS NULL)", name="ck_quotas_one_subject"),
        sa.ForeignKeyConstraint(["user_id"], ["users.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("role"),
        sa.UniqueConstraint("user_id"),
    )

    op.create_table(
        "audit_entries",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("actor_id", sa.Integer(), nullable=True),
        sa.Column("client", sa.String(length=16), nullable=False),
        sa.Column("action", sa.String(length=24), nullable=False),
        sa.Column("record_type", sa.String(length=24), nullable=False),
        sa.Column("record_id", sa.String(length=64), nullable=False),
        sa.Column("building_id", sa.Integer(), nullable=True),
        sa.Column("before", sa.JSON(), nullable=True),
        sa.Column("after", sa.JSON(), nullable=True),
        sa.Column("reason", sa.String(length=500), nullable=False),
        sa.ForeignKeyConstraint(["actor_id"], ["users.id"], ondelete="SET NULL"),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_audit_record", "audit_entries", ["record_type", "record_id", "id"])
    op.create_index("ix_audit_actor", "audit_entries", ["actor_id", "id"])
    op.create_index("ix_audit_building", "audit_entries", ["building_id", "id"])
    op.create_index("ix_audit_at", "audit_entries", ["at"])


def downgrade() -> None:
    op.drop_table("audit_entries")
    op.drop_table("quotas")
    op.drop_table("building_managers")
    for table in ("buildings", "rooms"):
        with op.batch_alter_table(table) as batch_op:
            batch_op.drop_column("approval_roles")
    op.drop_index("ix_bookings_pending_start", table_name="bookings")
    op.drop_index("ix_bookings_holding_room_end", table_name="bookings")
    op.create_index(
        "ix_bookings_confirmed_room_end",
        "bookings",
        ["room_id", "end"],
        postgresql_where=sa.text(CONFIRMED),
        sqlite_where=sa.text(CONFIRMED),
    )
    with _keeping_triggers("bookings"), op.batch_alter_table("bookings") as batch_op:
        batch_op.drop_constraint("fk_bookings_decided_by_users", type_="foreignkey")
        batch_op.drop_column("decision_reason")
        batch_op.drop_column("decided_at")
        batch_op.drop_column("decided_by")
    _forbid_overlaps(CONFIRMED)
