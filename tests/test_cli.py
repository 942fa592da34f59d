"""The ``compax`` command line against a real server process: sign in, book offline, sync,
resolve a conflict, and fail in one clear line with the documented exit code."""

from __future__ import annotations

import asyncio
import json
import sqlite3
from pathlib import Path
from typing import Any

import pytest
import typer
from aiohttp.test_utils import TestClient
from click.testing import Result
from typer.testing import CliRunner

from compax_cli.main import app
from compax_cli.output import REFUSED, SIGN_IN, UNREACHABLE, USAGE
from sync.engine import Engine
from sync.permissions import Role
from sync.profiles import Profile
from tests.booking_helpers import at, book, make_campus, next_weekday
from tests.conftest import PASSWORD, MakePerson, Person
from tests.servers import ServerProcess

DOCS = Path(__file__).parent.parent / "docs" / "cli.md"


class Cli:
    """Runs ``compax`` commands in a worker thread (they run their own event loop)."""

    def __init__(self, data_dir: Path) -> None:
        self.runner = CliRunner()
        self.env = {"COMPAX_DATA_DIR": str(data_dir), "NO_COLOR": "1", "COLUMNS": "200"}

    async def __call__(self, *args: str, input: str | None = None) -> Result:
        return await asyncio.to_thread(
            self.runner.invoke, app, list(args), input=input, env=self.env
        )

    async def json(self, *args: str) -> Any:
        result = await self(*args, "--json")
        assert result.exit_code == 0, result.output
        return json.loads(result.stdout)


@pytest.mark.slow
async def test_book_offline_sync_see_the_conflict_and_retry_with_an_alternative(
    client: TestClient, admin: Person, make_person: MakePerson, database_url: str, tmp_path: Path
) -> None:
    campus = await make_campus(client, admin)
    staff, rival = await make_person(Role.STAFF), await make_person(Role.STAFF)
    server = ServerProcess(database_url, tmp_path)
    server.start()
    cli = Cli(tmp_path / "cli")
    try:
        await server.wait_until_healthy()
        login = await cli(
            "login",
            "--server",
            server.url,
            "--username",
            staff.user.username,
            "--password-stdin",
            input=PASSWORD + "\n",
        )
        assert login.exit_code == 0, login.output
        assert f"Signed in as {staff.user.username}" in login.stderr
        assert [r["code"] for r in await cli.json("rooms", "list", "--building", "PB")] == [
            "101",
            "102",
            "201",
        ]

        monday = next_weekday(0)
        made = await cli.json(
            "book",
            "PB/101",
            "--at",
            f"{monday} 10:00",
            "--for",
            "1h",
            "--title",
            "Mine",
            "--attendees",
            "30",
        )
        assert made["pending"] is True
        assert (await cli.json("status"))["pending"] == 1
        assert (
            await book(client, rival, campus.room_101, at(monday, 10), at(monday, 11))
        ).status == 201

        synced = await cli("sync")
        assert synced.exit_code == REFUSED, synced.output
        assert "need attention" in synced.stderr
        [conflict] = await cli.json("conflicts", "list")
        assert conflict["type"] == "room-overlap"
        listed = (await cli("conflicts", "list")).stdout.splitlines()
        number = listed[-1].split()[0]
        assert number == str(conflict["mid"]), "the list's number is the one show takes"
        shown = await cli("conflicts", "show", number)
        assert "[1] room PB/102" in shown.stdout
        options = (await cli.json("conflicts", "show", number))["alternatives"]
        assert all(o["start"].endswith(":00Z") for o in options if o["start"]), options

        retried = await cli(
            "conflicts", "retry", str(conflict["mid"]), "--alternative", "1", "--sync"
        )
        assert retried.exit_code == 0, retried.output
        state = await cli.json("status")
        assert (state["pending"], state["needs_attention"]) == (0, 0)
        mine = await (await client.get("/api/v1/bookings?owner=me", headers=staff.headers)).json()
        assert [(b["room"], b["title"]) for b in mine["items"]] == [("PB/102", "Mine")]

        listed = await cli("bookings", "list")
        short = mine["items"][0]["id"][:8]
        assert short in listed.stdout
        cancelled = await cli.json("bookings", "cancel", short, "--sync")
        assert [(b["status"], b["pending"]) for b in cancelled] == [("cancelled", False)], (
            "with --sync the answer is the booking as the server now holds it"
        )
        gone = await client.get(f"/api/v1/bookings/{mine['items'][0]['id']}", headers=staff.headers)
        assert (await gone.json())["status"] == "cancelled"

        server.stop()
        offline = await cli("sync")
        assert offline.exit_code == UNREACHABLE
        assert offline.stderr.startswith(
            f"offline: Cannot reach 127.0.0.1:{server.port}: nothing answers there"
        ), offline.stderr
    finally:
        server.stop()


def signed_in_offline(data_dir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Make the default profile under ``data_dir`` one that signed in once (as a staff
    member ``ama``), with an empty replica, as after a sign-in that has since expired."""
    monkeypatch.setenv("COMPAX_DATA_DIR", str(data_dir))
    compax = Engine(Profile.load())
    compax.replica.set_state(user=json.dumps({"id": 1, "username": "ama", "role": "staff"}))
    compax.close()


async def test_expected_failures_are_one_line_and_an_exit_code(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    cli = Cli(tmp_path / "cli")
    not_signed_in = await cli("sync")
    assert not_signed_in.exit_code == SIGN_IN
    assert not_signed_in.stderr.count("\n") == 1
    assert "Traceback" not in not_signed_in.output
    signed_in_offline(tmp_path / "cli", monkeypatch)
    bad_time = await cli("rooms", "free", "--at", "someday", "--for", "1h")
    assert bad_time.exit_code == USAGE
    assert bad_time.stderr.startswith("error: at:")
    bad_length = await cli("rooms", "free", "--at", "2027-01-11 10:00", "--for", "forever")
    assert bad_length.exit_code == USAGE
    assert "for:" in bad_length.stderr
    unknown = await cli("conflicts", "discard", "7")
    assert unknown.exit_code == REFUSED
    assert "needs attention" in unknown.stderr


async def test_lookups_say_what_is_missing_in_one_line(tmp_path: Path) -> None:
    """``rooms list`` and ``rooms show`` read the replica file itself: a profile that never
    signed in is told to, a replica without tables yet is brought up to date, and a room that
    is not there, or a badly written filter, is named."""
    cli = Cli(tmp_path / "cli")
    never_synced = await cli("rooms", "list")
    assert never_synced.exit_code == SIGN_IN
    assert never_synced.stderr == "error: Sign in first: compax login\n"
    replica = tmp_path / "cli" / "profiles" / "default" / "replica.sqlite3"
    replica.parent.mkdir(parents=True)
    replica.touch()
    not_signed_in = await cli("rooms", "list")
    assert not_signed_in.exit_code == SIGN_IN, "brought up to date, still nobody signed in"
    with sqlite3.connect(replica) as db:
        db.execute("INSERT INTO sync_state (key, value) VALUES ('user', '{}')")
    assert await cli.json("rooms", "list") == []
    missing = await cli("rooms", "show", "99999")
    assert missing.exit_code == USAGE
    assert missing.stderr == "error: room: no room '99999' here; try `compax rooms list`\n"
    badly_written = await cli("rooms", "list", "--building", "P B")
    assert badly_written.exit_code == USAGE
    assert badly_written.stderr.startswith("error: building: use letters, digits")


def _commands(group: Any, prefix: str = "compax") -> list[tuple[str, Any]]:
    """Every command and sub-app under ``group``, with its full name."""
    found = []
    for name, command in sorted(group.commands.items()):
        path = f"{prefix} {name}"
        found.append((path, command))
        if hasattr(command, "commands"):
            found += _commands(command, path)
    return found


def test_every_command_has_help_with_an_example_and_is_in_the_docs() -> None:
    docs = DOCS.read_text()
    for path, command in _commands(typer.main.get_command(app)):
        assert command.help, f"{path} has no help"
        if not hasattr(command, "commands"):
            assert "Example: " in command.help, f"{path} has no example"
        assert f"`{path}" in docs, f"{path} is missing from docs/cli.md"
