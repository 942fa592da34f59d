"""Exit codes scripts can trust: a server address is taken as written or refused in one line,
a gateway that answers 502 is an unreachable server, every command that needs a sign-in
says so alike, and ``--version`` answers."""

from __future__ import annotations

import json
from importlib.metadata import version
from pathlib import Path

import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer

from compax_cli.output import REFUSED, SIGN_IN, UNREACHABLE, USAGE
from sync.permissions import Role
from tests.booking_helpers import at, book, make_campus, next_weekday
from tests.conftest import PASSWORD, MakePerson, Person
from tests.servers import ServerProcess
from tests.test_cli import Cli

#: Every command that reads or changes the profile's data, with arguments it would take.
NEEDS_SIGN_IN = [
    ("rooms", "list"),
    ("rooms", "show", "PB/101"),
    ("rooms", "free", "--at", "2027-01-11 10:00", "--for", "1h"),
    ("book", "PB/101", "--at", "2027-01-11 10:00", "--for", "1h", "--title", "T"),
    ("bookings", "list"),
    ("conflicts", "list"),
    ("sync",),
    ("users", "list"),
    ("blackouts", "list"),
    ("export", "rooms"),
    ("import", "rooms", "no-such-file.csv"),
]


async def _assert_sign_in_first(cli: Cli) -> None:
    for command in NEEDS_SIGN_IN:
        result = await cli(*command)
        assert result.exit_code == SIGN_IN, (command, result.output)
        assert result.stderr == "error: Sign in first: compax login\n", command
        assert result.stdout == "", command


async def test_a_profile_never_signed_in_is_told_to_sign_in_first_by_every_command(
    tmp_path: Path,
) -> None:
    cli = Cli(tmp_path / "cli")
    await _assert_sign_in_first(cli)
    assert not (tmp_path / "cli" / "profiles" / "default" / "replica.sqlite3").exists()


@pytest.mark.parametrize("address", ["not-a-url", "ftp://example.edu", "http://host:99999", ""])
async def test_a_server_address_that_is_no_url_is_one_line_and_exit_2(
    tmp_path: Path, address: str
) -> None:
    cli = Cli(tmp_path / "cli")
    result = await cli(
        "login", "--server", address, "--username", "ama", "--password-stdin", input="x\n"
    )
    assert result.exit_code == USAGE, result.output
    assert result.stderr.startswith("error: server: ")
    assert result.stderr.count("\n") == 1
    assert "Traceback" not in result.output


async def _assert_lists_say_when_there_is_more(cli: Cli, when: str) -> None:
    """A list cut at its limit says so on stderr with how to see the rest; stdout stays
    the data alone, and the last page says nothing."""
    lists = [
        (("rooms", "list", "--building", "PB", "--limit", "2"), 2,
         "more rooms than shown: add --page 2"),
        (("rooms", "free", "--at", when, "--for", "1h", "--limit", "1"), 1,
         "more free rooms than shown: raise --limit"),
        (("bookings", "list", "--limit", "1"), 1, "more bookings than shown: add --page 2"),
    ]  # fmt: skip
    for command, shown, note in lists:
        cut = await cli(*command, "--json")
        assert cut.exit_code == 0, cut.output
        assert len(json.loads(cut.stdout)) == shown, command
        assert cut.stderr.startswith(note), command
    last = await cli("rooms", "list", "--building", "PB", "--limit", "2", "--page", "2", "--json")
    assert (len(json.loads(last.stdout)), last.stderr) == (1, "")
    whole = await cli("bookings", "list", "--limit", "2", "--json")
    assert (len(json.loads(whole.stdout)), whole.stderr) == (2, "")


async def _gateway(port: int) -> TestServer:
    """A reverse proxy whose servers are all down: every request is 502."""

    async def bad_gateway(request: web.Request) -> web.Response:
        return web.Response(status=502, text="<html>502 Bad Gateway</html>")

    app = web.Application()
    app.router.add_route("*", "/{tail:.*}", bad_gateway)
    server = TestServer(app, host="127.0.0.1", port=port)
    await server.start_server()
    return server


@pytest.mark.slow
async def test_host_and_port_sign_in_a_gateway_is_unreachable_and_signed_out_is_exit_4(
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
            f"127.0.0.1:{server.port}",
            "--username",
            staff.user.username,
            "--password-stdin",
            input=PASSWORD + "\n",
        )
        assert login.exit_code == 0, login.output
        assert (await cli.json("whoami"))["server"] == server.url
        monday = next_weekday(0)
        for hour in (10, 12):
            booked = await cli.json(
                "book", "PB/101", "--at", f"{monday} {hour}:00", "--for", "1h", "--title", "Mine"
            )
            assert (booked["start"], booked["end"]) == (
                f"{monday}T{hour}:00:00Z",
                f"{monday}T{hour + 1}:00:00Z",
            ), "one RFC 3339 form (Accra is UTC+0)"
        await _assert_lists_say_when_there_is_more(cli, f"{monday} 10:00")
        assert (
            await book(client, rival, campus.room_102, at(monday, 10), at(monday, 11))
        ).status == 201
        clash = await cli(
            "book", "PB/102", "--at", f"{monday} 10:00", "--for", "1h", "--title", "X", "--sync"
        )
        assert clash.exit_code == REFUSED, clash.output
        assert "The server refused it" in clash.stderr
        [conflict] = await cli.json("conflicts", "list")
        assert (
            await book(client, rival, campus.room_201, at(monday, 10), at(monday, 11))
        ).status == 201, "taken on the server, not yet in the replica"
        again = await cli("conflicts", "retry", str(conflict["mid"]), "--room", "PB/201", "--sync")
        assert again.exit_code == REFUSED, again.output
        assert "Refused again" in again.stderr
        stamp = "2026-11-25T10:00:00+01:00"
        queued = await cli.json(
            "book", "PB/101", "--at", f"{monday} 14:00", "--for", "1h", "--title", stamp
        )
        assert queued["title"] == stamp, "a title is text, whatever it looks like"
    finally:
        server.stop()

    gateway = await _gateway(server.port)
    try:
        behind = await cli("sync")
        assert behind.exit_code == UNREACHABLE, behind.output
        assert behind.stderr.startswith("offline: ")
        assert "502" in behind.stderr
        assert "stay queued" in behind.stderr
    finally:
        await gateway.close()
    assert (await cli.json("status"))["pending"] == 1

    signed_out = await cli("logout")
    assert signed_out.exit_code == 0, signed_out.output
    await _assert_sign_in_first(cli)
    state = await cli.json("status")
    assert (state["signed_in"], state["pending"]) == (False, 1), "queued changes stay"


async def test_version(tmp_path: Path) -> None:
    result = await Cli(tmp_path / "cli")("--version")
    assert result.exit_code == 0, result.output
    assert result.stdout == f"compax {version('compax')}\n"
