"""The hot paths' Core helpers (``services/core_sql.py``) on SQLite and Postgres: an id list
as one parameter matches exactly what ``IN`` matches, and records equal what the ORM loads."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from sqlalchemy import inspect, select
from sqlmodel import SQLModel, col

from compax_server.db import Database
from compax_server.models import User
from compax_server.services.core_sql import ids, one_of_ids, records

USERS = SQLModel.metadata.tables["users"]
BY_IDS = {
    name: select(USERS).where(clause).order_by(USERS.c.id)
    for name, clause in one_of_ids(USERS.c.id, "ids").items()
}


@pytest.fixture
async def database(database_url: str) -> Database:
    """The test database with five users, ids 1 to 5."""
    db = Database(database_url)
    now = datetime(2026, 3, 2, 9, 30, 15, 250_000, tzinfo=UTC)
    async with db.write() as session:
        for number in range(1, 6):
            session.add(
                User(
                    username=f"user{number}",
                    full_name=f"User {number}",
                    email=f"user{number}@example.org",
                    role="staff" if number % 2 else "student",
                    password_hash="x",
                    token_generation=number,
                    created_at=now,
                    updated_at=now,
                )
            )
    return db


@pytest.mark.parametrize("wanted", [[], [3], [5, 1, 3, 1], [2, 4, 99, -1], list(range(1, 6))])
async def test_one_of_ids_matches_what_in_matches(database: Database, wanted: list[int]) -> None:
    """Any number of ids, repeats and unknown ids included, is one statement's parameter."""
    async with database.read_connection() as connection:
        found = await connection.execute(
            BY_IDS[connection.dialect.name], {"ids": ids(connection.dialect, wanted)}
        )
        matched = [row.id for row in found]
    async with database.read() as session:
        expected = await session.execute(
            select(col(User.id)).where(col(User.id).in_(wanted)).order_by(col(User.id))
        )
        assert matched == list(expected.scalars())
    await database.dispose()


async def test_records_equal_what_the_orm_loads(database: Database) -> None:
    """Every column, the time zone of instants included, and detached like a loaded object."""
    async with database.read_connection() as connection:
        found = await connection.execute(
            BY_IDS[connection.dialect.name], {"ids": ids(connection.dialect, [1, 2, 3, 4, 5])}
        )
        made = records(User, found.all())
    async with database.read() as session:
        loaded = list((await session.execute(select(User).order_by(col(User.id)))).scalars())
    await database.dispose()
    assert [user.model_dump() for user in made] == [user.model_dump() for user in loaded]
    assert made[0].created_at.tzinfo is not None
    state = inspect(made[2])
    assert state.detached and state.identity == (3,)
