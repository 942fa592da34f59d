"""Statements on the hot paths (each booking request's token check and its group's
transaction) without the ORM's per-statement work: Core statements on the session's
connection, lists of ids as one parameter, and records built from rows without validation.

Through an ORM session a statement that loads model objects costs several times the same
statement on the connection, and an expanding ``IN`` list renders a new statement (on Postgres
a new prepared statement) for every length. Under load that was most of a server's CPU time
per booking (docs/benchmarks.md).
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from typing import Any, TypeVar

from sqlalchemy import ColumnElement, Dialect, Integer, Row, any_, bindparam, func, inspect, select
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncSession
from sqlalchemy.sql.expression import literal_column
from sqlmodel import SQLModel

ModelT = TypeVar("ModelT", bound=SQLModel)


def one_of_ids(column: ColumnElement[int], name: str) -> dict[str, ColumnElement[bool]]:
    """``column`` is one of the integers of the list parameter ``name`` (``ids``), per
    dialect: ``= ANY(array)`` on Postgres, ``IN (json_each(...))`` on SQLite, one statement
    text for lists of any length."""
    return {
        "postgresql": column == any_(bindparam(name, type_=ARRAY(Integer))),
        "sqlite": column.in_(
            select(literal_column("value")).select_from(func.json_each(bindparam(name)))
        ),
    }


def ids(dialect: Dialect, values: Iterable[int]) -> list[int] | str:
    """The value of a ``one_of_ids`` parameter: a list on Postgres, JSON text on SQLite."""
    listed = sorted(set(values))
    return listed if dialect.name == "postgresql" else json.dumps(listed)


async def connection_of(session: AsyncSession) -> AsyncConnection:
    """The connection of ``session``'s transaction, for Core statements, once the session
    has written what it holds (as its own ``execute`` would, before a query)."""
    await session.flush()
    return await session.connection()


def records(model: type[ModelT], rows: Iterable[Row[*tuple[Any, ...]]]) -> list[ModelT]:
    """Model objects from rows holding ``model``'s columns (other columns are ignored), as the
    ORM would load them but without its per-statement work: detached, as if their session had
    closed."""
    mapper = inspect(model)
    keys = [attribute.key for attribute in mapper.column_attrs]
    made = []
    for row in rows:
        record = mapper.class_manager.new_instance()
        values = row._mapping
        record.__dict__.update({key: values[key] for key in keys})
        inspect(record).key = mapper.identity_key_from_primary_key(
            [values[column.key] for column in mapper.primary_key]
        )
        made.append(record)
    return made
