"""Statements on the hot paths (each booking request's token check and its group's
transaction) without the ORM's per-statement work: Core statements on the session's
connection, a list as one parameter (ids to match, rows to insert), and records built from rows
without validation.

Through an ORM session a statement that loads model objects costs several times the same
statement on the connection, and an expanding ``IN`` list renders a new statement (on Postgres
a new prepared statement) for every length, as does a multi-row ``VALUES`` for every number of
rows. Under load that was most of a server's CPU time per booking (docs/benchmarks.md).
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping, Sequence
from typing import Any, TypeVar

from sqlalchemy import (
    ColumnElement,
    Dialect,
    Integer,
    Row,
    Select,
    Table,
    any_,
    bindparam,
    func,
    inspect,
    select,
)
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


def unnested(table: Table, names: Sequence[str]) -> Select[Any]:
    """Rows of ``table``'s columns ``names``, one from each position of the array parameters
    of the same names (Postgres ``unnest``): to insert any number of rows with one statement
    text; ``arrays`` gives the parameters."""
    parameters = [bindparam(name, type_=ARRAY(table.c[name].type)) for name in names]
    return select(func.unnest(*parameters).table_valued(*names).render_derived(name="given"))


def arrays(rows: Sequence[Mapping[str, Any]], names: Sequence[str]) -> dict[str, list[Any]]:
    """The parameters of ``unnested(table, names)`` for ``rows``."""
    return {name: [row[name] for row in rows] for name in names}


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
