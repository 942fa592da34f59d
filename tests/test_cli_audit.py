"""``compax audit`` against a real server process: the CLI names itself, filters and renders."""

from __future__ import annotations

from pathlib import Path

import pytest
from aiohttp.test_utils import TestClient

from sync.permissions import Role
from tests.conftest import PASSWORD, MakePerson, Person
from tests.servers import ServerProcess
from tests.test_cli import Cli


@pytest.mark.slow
async def test_audit_lists_a_role_change_made_from_the_cli(
    client: TestClient, admin: Person, make_person: MakePerson, database_url: str, tmp_path: Path
) -> None:
    staff = await make_person(Role.STAFF, username="kofi")
    server = ServerProcess(database_url, tmp_path)
    server.start()
    cli = Cli(tmp_path / "admin")
    try:
        await server.wait_until_healthy()
        login = await cli(
            "login",
            "--server",
            server.url,
            "--username",
            admin.user.username,
            "--password-stdin",
            input=PASSWORD + "\n",
        )
        assert login.exit_code == 0, login.output
        promoted = await cli("users", "set-role", "kofi", "exams_officer")
        assert promoted.exit_code == 0, promoted.output

        [entry] = await cli.json(
            "audit", "--record", f"users/{staff.id}", "--action", "role_change"
        )
        assert entry["client"] == "cli"
        assert entry["actor"]["username"] == "root"
        assert entry["before"]["role"] == "staff"
        assert entry["after"]["role"] == "exams_officer"
        everything = await cli.json("audit", "--type", "users", "--all")
        assert {e["record_id"] for e in everything} >= {str(staff.id), str(admin.id)}
        assert len(await cli.json("audit", "--type", "users", "--limit", "1")) == 1
        table = await cli("audit", "--type", "users", "--id", str(staff.id))
        assert table.exit_code == 0, table.output
        assert '"staff" → "exams_officer"' in table.stdout
        bad = await cli("audit", "--record", "users")
        assert bad.exit_code != 0
        assert "record" in bad.stderr
        lonely = await cli("audit", "--id", "3")
        assert lonely.exit_code != 0
        assert "record_id" in lonely.stderr
    finally:
        server.stop()
