"""The terminal UI in a real terminal: ``compax tui`` started in tmux against a running server,
driven with send-keys and read with capture-pane (skipped where tmux is not installed; CI
installs it). It signs in, finds a free room, books it offline, sees it pending, syncs and sees
it confirmed at 80x24, then starts again at 160x48."""

from __future__ import annotations

import asyncio
import shlex
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pytest
from aiohttp.test_utils import TestClient

from sync.permissions import Role
from sync.profiles import Profile
from tests.booking_helpers import at, make_campus, next_weekday
from tests.conftest import PASSWORD, MakePerson, Person
from tests.servers import ServerProcess

#: Seconds between keys, as a quick typist leaves them.
KEY_PAUSE = 0.15

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(shutil.which("tmux") is None, reason="tmux is not installed"),
]


class Tmux:
    """One tmux session on a server of its own (``-S``, a socket in a temporary folder that
    ``close`` removes), so it never meets the user's and leaves nothing behind."""

    def __init__(self, command: str, width: int, height: int) -> None:
        self._folder = Path(tempfile.mkdtemp(prefix="compax-tmux-"))
        self.socket = str(self._folder / "socket")
        self._tmux("new-session", "-d", "-s", "tui", "-x", str(width), "-y", str(height), command)

    def _tmux(self, *args: str) -> str:
        done = subprocess.run(
            ["tmux", "-S", self.socket, *args], capture_output=True, text=True, check=True
        )
        return done.stdout

    async def keys(self, *keys: str) -> None:
        """Press keys by tmux name (``Enter``, ``F4``, ``C-r``) at a person's pace: a key
        that moves the focus must land before the next key is read."""
        for key in keys:
            self._tmux("send-keys", "-t", "tui", key)
            await asyncio.sleep(KEY_PAUSE)

    async def type(self, text: str) -> None:
        self._tmux("send-keys", "-t", "tui", "-l", text)
        await asyncio.sleep(KEY_PAUSE)

    def screen(self) -> str:
        return self._tmux("capture-pane", "-p", "-t", "tui")

    async def wait_for(self, *texts: str, seconds: float = 30) -> str:
        """The screen once it shows every one of ``texts``; fails with the screen if it never
        does. Polls, since a terminal has nothing to wait on."""
        deadline = time.monotonic() + seconds
        while True:
            screen = self.screen()
            if all(text in screen for text in texts):
                return screen
            if time.monotonic() > deadline:
                raise AssertionError(f"never showed {texts}:\n{screen}")
            await asyncio.sleep(0.05)

    async def wait_closed(self, seconds: float = 10) -> None:
        """Until the program has ended and its session with it."""
        deadline = time.monotonic() + seconds
        while self._alive():
            if time.monotonic() > deadline:
                raise AssertionError(f"still running:\n{self.screen()}")
            await asyncio.sleep(0.05)

    def _alive(self) -> bool:
        probe = ["tmux", "-S", self.socket, "has-session", "-t", "tui"]
        return subprocess.run(probe, capture_output=True, check=False).returncode == 0

    def close(self) -> None:
        subprocess.run(["tmux", "-S", self.socket, "kill-server"], capture_output=True, check=False)
        shutil.rmtree(self._folder, ignore_errors=True)


async def test_book_offline_and_sync_in_a_real_terminal(
    client: TestClient,
    admin: Person,
    make_person: MakePerson,
    database_url: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    await make_campus(client, admin)
    staff = await make_person(Role.STAFF)
    monday = next_weekday(0)
    server = ServerProcess(database_url, tmp_path)
    server.start()
    # COLUMNS and LINES (set by some test runners) would override the terminal's own size.
    command = " ".join(
        [
            "unset COLUMNS LINES;",
            f"COMPAX_DATA_DIR={shlex.quote(str(tmp_path / 'client'))}",
            shlex.quote(sys.executable),
            "-m compax_cli --profile tmux tui",
        ]
    )
    # The profile names the server, as after `compax login --server`; the form has it filled in.
    monkeypatch.setenv("COMPAX_DATA_DIR", str(tmp_path / "client"))
    Profile("tmux", server=server.url).save()
    terminal = Tmux(command, 80, 24)
    try:
        await server.wait_until_healthy()
        await terminal.wait_for("Sign in to Compax", "Password")
        await terminal.wait_for(server.url)
        await terminal.type(staff.user.username)
        await terminal.wait_for(staff.user.username)
        await terminal.keys("Tab")
        await terminal.type(PASSWORD)
        await terminal.wait_for("•" * len(PASSWORD))
        await terminal.keys("Enter")
        await terminal.wait_for("● online", "5 rooms")

        await terminal.keys("C-f", "Tab", "Tab")
        await terminal.type("50")
        await terminal.keys("Tab", "Tab")
        await terminal.type(f"{monday} 10:00")
        await terminal.keys("Tab")
        await terminal.type("1h")
        await terminal.keys("Enter")
        await terminal.wait_for("1 room free", "PB/102")
        await terminal.keys("Enter")
        await terminal.wait_for("PB/102", "marked")
        await terminal.keys("Enter")
        await terminal.wait_for("Book PB/102", "Nothing clashes")
        await terminal.type("Tutorial")
        await terminal.wait_for("Tutorial")
        await terminal.keys("C-s")
        await terminal.wait_for("1 pending")

        await terminal.keys("F4")
        await terminal.wait_for("Tutorial", "⧗ pending")
        await terminal.keys("C-r")
        await terminal.wait_for("✓ confirmed", "0 pending")
        mine = await client.get("/api/v1/bookings?owner=me", headers=staff.headers)
        [held] = (await mine.json())["items"]
        assert (held["room"], held["title"], held["start"]) == (
            "PB/102",
            "Tutorial",
            at(monday, 10).replace("+00:00", "Z"),
        )

        await terminal.keys("C-q")
        await terminal.wait_closed()
        terminal.close()

        # Started again in a larger terminal: still signed in, and the grid uses the width.
        terminal = Tmux(command, 160, 48)
        await terminal.wait_for("● online", "5 rooms")
        await terminal.keys("F4")
        await terminal.wait_for("Tutorial", "✓ confirmed")
        await terminal.keys("Enter")
        wide = await terminal.wait_for("PB/102", "21:00", " Tutorial")
        assert max(len(line) for line in wide.splitlines()) > 120, "the grid uses the width"
        await terminal.keys("C-q")
        await terminal.wait_closed()
    finally:
        terminal.close()
        server.stop()
