"""``compax managers`` against a real server process: an administrator grants and revokes, the
manager then manages their building's rooms and not another's, and their client knows it."""

from __future__ import annotations

from pathlib import Path

import pytest
from aiohttp.test_utils import TestClient

from compax_cli.output import REFUSED
from sync.engine import Engine
from sync.managing import access_of_engine
from sync.permissions import Permission, Role
from sync.profiles import Profile
from tests.booking_helpers import make_campus
from tests.conftest import MakePerson, Person
from tests.servers import ServerProcess
from tests.test_cli import Cli
from tests.test_cli_admin import _signed_in


@pytest.mark.slow
async def test_managers_are_granted_listed_and_revoked(
    client: TestClient,
    admin: Person,
    make_person: MakePerson,
    database_url: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    await make_campus(client, admin)
    alice = await make_person(Role.STAFF, username="alice", full_name="Alice Owusu")
    server = ServerProcess(database_url, tmp_path)
    server.start()
    cli, alice_cli = Cli(tmp_path / "admin"), Cli(tmp_path / "alice")
    try:
        await server.wait_until_healthy()
        await _signed_in(cli, server, admin)
        await _signed_in(alice_cli, server, alice)
        refused = await alice_cli("rooms", "add", "PB/900", "--capacity", "3")
        assert refused.exit_code == REFUSED, refused.output

        added = await cli("managers", "add", "pb", "alice")
        assert added.exit_code == 0, added.output
        assert "alice now manages PB" in added.stderr
        assert (await cli("managers", "add", "PB", "alice")).exit_code == 0
        listed = await cli.json("managers", "list", "PB")
        assert [(m["username"], m["full_name"]) for m in listed] == [("alice", "Alice Owusu")]
        assert "alice" in (await cli("managers", "list", "PB")).stdout
        unknown = await cli("managers", "add", "NOPE", "alice")
        assert unknown.exit_code == REFUSED
        assert "no building NOPE" in unknown.stderr

        assert (await alice_cli.json("whoami"))["manages_buildings"] == ""
        assert (await alice_cli("sync")).exit_code == 0
        assert (await alice_cli.json("whoami"))["manages_buildings"] == "PB"
        monkeypatch.setenv("COMPAX_DATA_DIR", str(tmp_path / "alice"))
        engine = Engine(Profile.load(None))
        try:
            access = access_of_engine(engine)
        finally:
            engine.close()
        assert access.allows_somewhere(Permission.MANAGE_CAMPUS)
        assert access.buildings_for(Permission.MANAGE_BLACKOUTS) == {1}

        made = await alice_cli("rooms", "add", "PB/900", "--capacity", "3")
        assert made.exit_code == 0, made.output
        elsewhere = await alice_cli("rooms", "add", "ENG/900", "--capacity", "3")
        assert elsewhere.exit_code == REFUSED
        assert "building ENG" in elsewhere.stderr
        assert [m["username"] for m in await alice_cli.json("managers", "list", "PB")] == ["alice"]
        assert (await alice_cli("managers", "add", "PB", "alice")).exit_code == REFUSED

        removed = await cli("managers", "remove", "PB", "alice")
        assert removed.exit_code == 0, removed.output
        assert await cli.json("managers", "list", "PB") == []
        assert (await cli("managers", "remove", "PB", "alice")).exit_code == 0
    finally:
        server.stop()
