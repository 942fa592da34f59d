"""Change log, sync clients and their mutation outcomes; existing rows enter the log.

Revision ID: 0003
Revises: 0002

"""

from datetime import UTC, datetime

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "change_counter",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("value", sa.BigInteger(), nullable=False),
        sa.Column("purged_through", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_table(
        "changes",
        sa.Column("seq", sa.BigInteger(), autoincrement=False, nullable=False),
        sa.Column("table_name", sa.String(length=32), nullable=False),
        sa.Column("row_key", sa.String(length=64), nullable=False),
        sa.Column("op", sa.String(length=8), nullable=False),
        sa.Column("changed_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("seq"),
        sa.UniqueConstraint("table_name", "row_key", name="uq_changes_row"),
    )
    with op.batch_alter_table("changes", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_changes_changed_at"), ["changed_at"], unique=False)

    op.create_table(
        "sync_clients",
        sa.Column("client_id", sa.Uuid(), nullable=False),
        sa.Column("user_id", sa.Integer(), nullable=False),
        sa.Column("last_mutation_id", sa.Integer(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("last_seen_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["user_id"], ["users.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("client_id"),
    )
    with op.batch_alter_table("sync_clients", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_sync_clients_user_id"), ["user_id"], unique=False)

    op.create_table(
        "sync_mutations",
        sa.Column("client_id", sa.Uuid(), nullable=False),
        sa.Column("mid", sa.Integer(), nullable=False),
        sa.Column("op", sa.String(length=32), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("result", sa.JSON(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["client_id"], ["sync_clients.client_id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("client_id", "mid"),
    )
    _log_existing_rows()


#: The replicated tables and the type of their id, in the order clients should receive them.
_REPLICATED = (
    ("buildings", sa.Integer()),
    ("rooms", sa.Integer()),
    ("terms", sa.Integer()),
    ("users", sa.Integer()),
    ("series", sa.Uuid()),
    ("blackouts", sa.Integer()),
    ("bookings", sa.Uuid()),
)


def _log_existing_rows() -> None:
    """Give every row that exists already a change, so a first pull returns all of it."""
    bind = op.get_bind()
    now = datetime.now(UTC)
    if bind.dialect.name == "sqlite":
        now = now.replace(tzinfo=None)
    changes = sa.table(
        "changes",
        sa.column("seq", sa.BigInteger()),
        sa.column("table_name", sa.String()),
        sa.column("row_key", sa.String()),
        sa.column("op", sa.String()),
        sa.column("changed_at", sa.DateTime(timezone=True)),
    )
    seq = 0
    for name, id_type in _REPLICATED:
        ids = bind.execute(sa.select(sa.column("id", id_type)).select_from(sa.table(name)))
        rows = []
        for (row_id,) in ids:
            seq += 1
            rows.append(
                {
                    "seq": seq,
                    "table_name": name,
                    "row_key": str(row_id),
                    "op": "put",
                    "changed_at": now,
                }
            )
        if rows:
            op.bulk_insert(changes, rows)
    counter = sa.table(
        "change_counter",
        sa.column("id", sa.Integer()),
        sa.column("value", sa.BigInteger()),
        sa.column("purged_through", sa.BigInteger()),
    )
    op.bulk_insert(counter, [{"id": 1, "value": seq, "purged_through": 0}])


def downgrade() -> None:
    op.drop_table("sync_mutations")
    with op.batch_alter_table("sync_clients", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_sync_clients_user_id"))

    op.drop_table("sync_clients")
    with op.batch_alter_table("changes", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_changes_changed_at"))

    op.drop_table("changes")
    op.drop_table("change_counter")
