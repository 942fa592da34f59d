"""Change-log entries are keyed by their row and may wait unnumbered (``seq`` NULL).

On Postgres writers no longer take a shared counter lock: they leave ``seq`` empty and a
numbering pass fills it after they commit (docs/sync.md). The key becomes (table, row), which
already had a unique constraint; ``seq`` keeps a unique index, and a partial index finds the
entries still waiting for a number.

Revision ID: 0005
Revises: 0004

"""

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None

UNNUMBERED = sa.text("seq IS NULL")


def upgrade() -> None:
    if op.get_bind().dialect.name == "sqlite":
        # SQLite cannot change a primary key in place: copy into the new shape.
        with op.batch_alter_table(
            "changes", recreate="always", copy_from=_changes(keyed_by_row=True)
        ):
            pass
    else:
        op.drop_constraint("uq_changes_row", "changes", type_="unique")
        op.drop_constraint("changes_pkey", "changes", type_="primary")
        op.alter_column("changes", "seq", existing_type=sa.BigInteger(), nullable=True)
        op.create_primary_key("changes_pkey", "changes", ["table_name", "row_key"])
    op.create_index("uq_changes_seq", "changes", ["seq"], unique=True)
    op.create_index(
        "ix_changes_unnumbered",
        "changes",
        ["changed_at"],
        postgresql_where=UNNUMBERED,
        sqlite_where=UNNUMBERED,
    )


def downgrade() -> None:
    _number_waiting_entries()
    op.drop_index("ix_changes_unnumbered", table_name="changes")
    op.drop_index("uq_changes_seq", table_name="changes")
    if op.get_bind().dialect.name == "sqlite":
        with op.batch_alter_table(
            "changes", recreate="always", copy_from=_changes(keyed_by_row=False)
        ):
            pass
    else:
        op.drop_constraint("changes_pkey", "changes", type_="primary")
        op.alter_column("changes", "seq", existing_type=sa.BigInteger(), nullable=False)
        op.create_primary_key("changes_pkey", "changes", ["seq"])
        op.create_unique_constraint("uq_changes_row", "changes", ["table_name", "row_key"])


def _changes(*, keyed_by_row: bool) -> sa.Table:
    """The ``changes`` table keyed by (table, row) after this revision, or by ``seq`` before."""
    return sa.Table(
        "changes",
        sa.MetaData(),
        sa.Column("seq", sa.BigInteger(), autoincrement=False, nullable=keyed_by_row),
        sa.Column("table_name", sa.String(length=32), nullable=False),
        sa.Column("row_key", sa.String(length=64), nullable=False),
        sa.Column("op", sa.String(length=8), nullable=False),
        sa.Column("changed_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint(*(("table_name", "row_key") if keyed_by_row else ("seq",))),
        *(
            ()
            if keyed_by_row
            else (sa.UniqueConstraint("table_name", "row_key", name="uq_changes_row"),)
        ),
        sa.Index("ix_changes_changed_at", "changed_at"),
    )


def _number_waiting_entries() -> None:
    """Give entries still waiting a number after the counter, so ``seq`` can be required."""
    bind = op.get_bind()
    top = bind.execute(sa.text("SELECT value FROM change_counter WHERE id = 1")).scalar() or 0
    waiting = bind.execute(
        sa.text("SELECT table_name, row_key FROM changes WHERE seq IS NULL ORDER BY changed_at")
    ).all()
    for offset, (table_name, row_key) in enumerate(waiting, start=1):
        bind.execute(
            sa.text("UPDATE changes SET seq = :seq WHERE table_name = :t AND row_key = :k"),
            {"seq": top + offset, "t": table_name, "k": row_key},
        )
    if waiting:
        bind.execute(
            sa.text("UPDATE change_counter SET value = :value WHERE id = 1"),
            {"value": top + len(waiting)},
        )
