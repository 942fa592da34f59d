"""A function that takes a transaction's turn in rooms, one after another in the order given.

The booking store (``compax_server/store``) takes every room a transaction touches in one
call, ascending: a loop, so the order of the locks never depends on how a query is run.

Revision ID: 0008
Revises: 0007

"""

from alembic import op

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None

#: The lock class of a room's turn (``pg_advisory_xact_lock(2, room_id)``).
LOCK_ROOM = 2


def upgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    op.execute(f"""
        CREATE FUNCTION compax_take_rooms(room_ids integer[]) RETURNS void
        LANGUAGE plpgsql AS $$
        DECLARE
            room integer;
        BEGIN
            FOREACH room IN ARRAY room_ids LOOP
                PERFORM pg_advisory_xact_lock({LOCK_ROOM}, room);
            END LOOP;
        END
        $$
    """)


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute("DROP FUNCTION compax_take_rooms(integer[])")
