"""Campus sign-in: where each user signs in, their directory identity, and which building
grants the directory made.

Revision ID: 0011
Revises: 0010

"""

import sqlalchemy as sa
from alembic import op

revision = "0011"
down_revision = "0010"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column(
        "users",
        sa.Column("auth_source", sa.String(16), nullable=False, server_default="local"),
    )
    op.add_column("users", sa.Column("external_id", sa.String(255), nullable=True))
    op.create_index("ix_users_external_id", "users", ["external_id"], unique=True)
    op.add_column(
        "building_managers",
        sa.Column("source", sa.String(16), nullable=False, server_default="admin"),
    )


def downgrade() -> None:
    with op.batch_alter_table("building_managers") as batch_op:
        batch_op.drop_column("source")
    op.drop_index("ix_users_external_id", table_name="users")
    with op.batch_alter_table("users") as batch_op:
        batch_op.drop_column("external_id")
        batch_op.drop_column("auth_source")
