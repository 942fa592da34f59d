"""Each recorded mutation keeps a fingerprint of its op and arguments.

A ``mid`` pushed again with another op or other arguments is then refused (``mid-reused``)
instead of being answered with the outcome of the change first sent under it. Outcomes
recorded before this revision have no fingerprint and match any replay (docs/sync.md).

Revision ID: 0007
Revises: 0006

"""

import sqlalchemy as sa
from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("sync_mutations") as batch_op:
        batch_op.add_column(sa.Column("fingerprint", sa.String(length=64), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("sync_mutations") as batch_op:
        batch_op.drop_column("fingerprint")
