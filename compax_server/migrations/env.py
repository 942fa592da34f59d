"""Alembic environment: migrations run on a connection handed in by ``Database.migrate``."""

from alembic import context
from sqlmodel import SQLModel

import compax_server.models  # noqa: F401  (registers the tables on SQLModel.metadata)

connection = context.config.attributes.get("connection")
if connection is None:
    raise SystemExit("Run migrations with `compax server migrate`.")

context.configure(
    connection=connection,
    target_metadata=SQLModel.metadata,
    render_as_batch=connection.dialect.name == "sqlite",
    compare_type=True,
)
with context.begin_transaction():
    context.run_migrations()
