"""What a server keeps on its machine: the embedded database file readable by its owner only,
and the signing key a development server makes when it is given a database but no keys."""

from __future__ import annotations

import logging
import os
import stat
from collections.abc import Iterator
from pathlib import Path

import aiohttp
import pytest
from sqlalchemy import text

from compax_server.db import Database
from tests.conftest import PASSWORD, MakePerson
from tests.servers import running_servers


@pytest.fixture
def open_umask() -> Iterator[None]:
    """The usual umask (022), under which a file made with default modes is world-readable."""
    previous = os.umask(0o022)
    try:
        yield
    finally:
        os.umask(previous)


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


@pytest.mark.usefixtures("open_umask")
async def test_a_new_database_file_and_its_wal_and_shm_are_owner_only(tmp_path: Path) -> None:
    path = tmp_path / "compax.sqlite3"  # the directory exists already
    database = Database(f"sqlite:///{path}")
    try:
        await database.migrate()
        async with database.write() as session:
            await session.execute(text("UPDATE change_counter SET value = value"))
        companions = [path.with_name(path.name + suffix) for suffix in ("-wal", "-shm")]
        assert all(p.exists() for p in companions), "the pool holds a connection open"
        assert [_mode(p) for p in (path, *companions)] == [0o600, 0o600, 0o600]
    finally:
        await database.dispose()


@pytest.mark.usefixtures("open_umask")
async def test_a_missing_data_directory_is_made_owner_only(tmp_path: Path) -> None:
    path = tmp_path / "data" / "compax.sqlite3"
    database = Database(f"sqlite:///{path}")
    await database.dispose()
    assert (_mode(path.parent), _mode(path)) == (0o700, 0o600)


def test_an_existing_file_keeps_its_mode_with_a_warning(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    path = tmp_path / "compax.sqlite3"
    path.touch()
    path.chmod(0o640)
    with caplog.at_level(logging.WARNING, logger="compax.db"):
        Database(f"sqlite:///{path}")
    assert _mode(path) == 0o640
    assert "chmod 600" in caplog.text
    caplog.clear()
    path.chmod(0o600)
    with caplog.at_level(logging.WARNING, logger="compax.db"):
        Database(f"sqlite:///{path}")
    assert caplog.text == ""


async def test_a_development_server_given_a_database_but_no_keys_makes_one(
    make_person: MakePerson, database_url: str, tmp_path: Path
) -> None:
    user = await make_person(username="lecturer")
    data_dir = tmp_path / "server"
    data_dir.mkdir()
    async with (
        running_servers(database_url, data_dir, COMPAX_SECRET_KEYS="") as (url,),
        aiohttp.ClientSession() as session,
    ):
        signed_in = await session.post(
            f"{url}/api/v1/auth/token", json={"username": "lecturer", "password": PASSWORD}
        )
        assert signed_in.status == 200, await signed_in.text()
        token = (await signed_in.json())["access_token"]
        me = await session.get(f"{url}/api/v1/me", headers={"Authorization": f"Bearer {token}"})
        assert (me.status, (await me.json())["id"]) == (200, user.id)
    key = data_dir / "secret_key"
    assert _mode(key) == 0o600
    assert key.read_text().strip()
    log = "".join(p.read_text() for p in data_dir.glob("server-*.log"))
    assert "COMPAX_SECRET_KEYS is not set" in log
