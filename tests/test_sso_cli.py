"""Campus sign-in from the CLI and the TUI against real processes: a Compax server whose
OpenID provider is ``oidc-provider`` (tests/oidc_support.py). ``compax login --sso`` runs as
a process of its own with no terminal, shows a code, and the test enters it at the provider
as a person would; the loopback flow goes through the browser ``BROWSER`` names. The engine
adopts a campus sign-in as it does a password one, changes of another account kept."""

from __future__ import annotations

import asyncio
import json
import os
import re
import signal
import socket
import sys
import time
import urllib.error
import urllib.request
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient
from textual.widgets import Button, Input, Static

from compax_cli.output import INTERRUPTED, REFUSED, SIGN_IN, USAGE
from compax_tui.app import CompaxApp
from compax_tui.screens.finder import FinderScreen
from compax_tui.screens.sign_in import SignInScreen
from sync import sso
from sync.engine import Engine
from sync.errors import CompaxError
from sync.permissions import Role
from sync.sso import BrowserStep, campus_token
from tests.booking_helpers import at, make_campus, next_weekday
from tests.conftest import PASSWORD, MakePerson, Person
from tests.oidc_support import OidcProvider, oidc_provider
from tests.servers import ServerProcess
from tests.test_cli import Cli
from tests.tui_campus import settle

__all__ = ["oidc_provider"]

pytestmark = pytest.mark.slow

#: How the test server maps the provider's groups (tests/oidc_support.py seeds them).
ROLES = {"compax-admins": "admin", "staff": "staff", "students": "student"}
#: How long a step of a sign-in may take before the test gives up.
STEP_SECONDS = 60


def campus_settings(provider: OidcProvider) -> dict[str, str]:
    """The server's environment for signing in at ``provider``."""
    return {
        "COMPAX_OIDC_ISSUER": provider.issuer,
        "COMPAX_OIDC_CLIENT_ID": provider.client_id,
        "COMPAX_OIDC_CLIENT_SECRET": provider.client_secret,
        "COMPAX_DIRECTORY_ROLES": json.dumps(ROLES),
    }


@pytest.fixture
async def campus_server(
    database_url: str, oidc_provider: OidcProvider, tmp_path: Path
) -> AsyncIterator[ServerProcess]:
    """A server signing people in at the test provider, on the test's database."""
    server = ServerProcess(database_url, tmp_path, **campus_settings(oidc_provider))
    server.start()
    try:
        await server.wait_until_healthy()
        yield server
    finally:
        server.stop()


@dataclass
class Login:
    """``compax login`` running as a process of its own, its stderr read as it comes."""

    process: asyncio.subprocess.Process
    lines: list[str]

    @classmethod
    async def start(cls, data_dir: Path, *args: str, **env: str) -> Login:
        process = await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "compax_cli",
            "login",
            *args,
            stdin=asyncio.subprocess.DEVNULL,
            stdout=asyncio.subprocess.DEVNULL,
            stderr=asyncio.subprocess.PIPE,
            env={**os.environ, "COMPAX_DATA_DIR": str(data_dir), "NO_COLOR": "1", **env},
        )
        return cls(process, [])

    async def line_matching(self, pattern: str) -> re.Match[str]:
        """The first stderr line matching ``pattern``, reading on until it comes."""
        assert self.process.stderr is not None
        async with asyncio.timeout(STEP_SECONDS):
            while True:
                line = (await self.process.stderr.readline()).decode()
                if not line:
                    raise AssertionError(f"login ended before {pattern!r}: {self.stderr}")
                self.lines.append(line)
                if found := re.search(pattern, line):
                    return found

    async def finished(self) -> int:
        """The exit status, once the process has ended (the rest of stderr read)."""
        assert self.process.stderr is not None
        async with asyncio.timeout(STEP_SECONDS):
            self.lines += (await self.process.stderr.read()).decode().splitlines(keepends=True)
            return await self.process.wait()

    @property
    def stderr(self) -> str:
        return "".join(self.lines)

    def stop(self) -> None:
        if self.process.returncode is None:
            self.process.kill()


async def device_sign_in(
    data_dir: Path, server: ServerProcess, provider: OidcProvider, account: str
) -> Login:
    """``compax login --sso`` to the end, the code it shows entered at the provider as
    ``account``."""
    login = await Login.start(data_dir, "--sso", "--server", server.url)
    try:
        shown = await login.line_matching(r"Open (\S+) and enter (\S+)")
        assert shown[1].startswith(provider.issuer)
        await login.line_matching("Waiting for the sign-in")
        await asyncio.to_thread(provider.enter_user_code, shown[2], account)
        assert await login.finished() == 0, login.stderr
    finally:
        login.stop()
    return login


async def test_the_device_flow_signs_the_cli_in_with_the_role_its_groups_give(
    campus_server: ServerProcess, oidc_provider: OidcProvider, tmp_path: Path
) -> None:
    oidc_provider.set_account(
        "erin", groups=["staff"], name="Erin Darko", email="erin@campus.example"
    )
    cli = Cli(tmp_path / "cli")
    login = await device_sign_in(tmp_path / "cli", campus_server, oidc_provider, "erin")
    assert f"Signed in as erin (staff) on {campus_server.url}" in login.stderr
    me = await cli.json("whoami")
    assert (me["username"], me["role"], me["signed_in"]) == ("erin", "staff", True)
    assert (me["full_name"], me["email"]) == ("Erin Darko", "erin@campus.example")

    oidc_provider.set_account("erin", groups=["staff", "compax-admins"])
    again = await device_sign_in(tmp_path / "cli", campus_server, oidc_provider, "erin")
    assert "Signed in as erin (admin)" in again.stderr
    assert (await cli.json("whoami"))["role"] == "admin"


async def test_a_campus_sign_in_of_another_account_waits_for_the_changes_to_sync(
    campus_server: ServerProcess,
    oidc_provider: OidcProvider,
    client: TestClient,
    admin: Person,
    make_person: MakePerson,
    engines: Callable[[str], Engine],
) -> None:
    campus = await make_campus(client, admin)
    staff = await make_person(Role.STAFF)
    engine = engines("shared")
    await engine.sign_in(campus_server.url, staff.user.username, PASSWORD)
    await engine.sync()
    monday = next_weekday(0)
    start, end = datetime.fromisoformat(at(monday, 9)), datetime.fromisoformat(at(monday, 10))
    engine.book(campus.room_101, start, end, "Offline")

    with pytest.raises(CompaxError, match="still to sync"):
        await engine_sign_in_sso(engine, campus_server, oidc_provider, "alice")
    assert (engine.profile.username, engine.status()["pending"]) == (staff.user.username, 1)
    assert engine.user is not None and engine.user["username"] == staff.user.username

    await engine.sync()
    user = await engine_sign_in_sso(engine, campus_server, oidc_provider, "alice")
    assert (user["username"], engine.profile.username) == ("alice", "alice")
    assert engine.status()["pending"] == 0
    assert engine.reads.my_bookings(user["id"]) == []


async def engine_sign_in_sso(
    engine: Engine, server: ServerProcess, provider: OidcProvider, account: str
) -> dict[str, Any]:
    """``Engine.sign_in_sso`` with the device code it shows entered at ``provider``."""
    shown: asyncio.Queue[BrowserStep] = asyncio.Queue()
    signing_in = asyncio.create_task(engine.sign_in_sso(server.url, show=shown.put_nowait))
    async with asyncio.timeout(STEP_SECONDS):
        step = await shown.get()
    assert step.user_code is not None
    await asyncio.to_thread(provider.enter_user_code, step.user_code, account)
    async with asyncio.timeout(STEP_SECONDS):
        return await signing_in


async def test_a_device_sign_in_refused_at_the_provider_ends_in_words(
    campus_server: ServerProcess, oidc_provider: OidcProvider, tmp_path: Path
) -> None:
    login = await Login.start(tmp_path / "cli", "--sso", "--server", campus_server.url)
    try:
        shown = await login.line_matching(r"Open (\S+) and enter (\S+)")
        await asyncio.to_thread(oidc_provider.deny_user_code, shown[2])
        assert await login.finished() == SIGN_IN, login.stderr
    finally:
        login.stop()
    assert "error: The sign-in was denied in the browser" in login.stderr
    assert "Traceback" not in login.stderr
    assert (await Cli(tmp_path / "cli").json("whoami"))["signed_in"] is False


async def test_the_loopback_flow_signs_in_through_the_browser_the_cli_opens(
    campus_server: ServerProcess, oidc_provider: OidcProvider, tmp_path: Path
) -> None:
    login, opened = await _login_with_recording_browser(campus_server, tmp_path)
    try:
        await login.line_matching("Waiting for the sign-in")
        url = await asyncio.to_thread(_written, opened)
        assert url.startswith(oidc_provider.issuer) and "code_challenge_method=S256" in url
        assert url in login.stderr
        back = await asyncio.to_thread(oidc_provider.log_in_and_consent, url, "carol")
        assert back.startswith("http://127.0.0.1:") and "/callback?" in back
        forged = re.sub(r"state=[^&]+", "state=not-this-sign-in", back)
        with pytest.raises(urllib.error.HTTPError, match="404"):
            await asyncio.to_thread(_get, forged)
        page = await asyncio.to_thread(_get, back)
        assert "Compax has your sign-in" in page
        assert await login.finished() == 0, login.stderr
    finally:
        login.stop()
    assert "Signed in as carol (admin)" in login.stderr


async def test_the_loopback_listener_closes_an_idle_browser_connection_once_the_code_came(
    fake_compax: tuple[str, FakeCompax], monkeypatch: pytest.MonkeyPatch
) -> None:
    for name in ("BROWSER", "DISPLAY", "WAYLAND_DISPLAY"):
        monkeypatch.delenv(name, raising=False)
    url, fake = fake_compax
    shown: asyncio.Future[BrowserStep] = asyncio.get_running_loop().create_future()
    signing_in = asyncio.create_task(campus_token(url, show=shown.set_result, browser=True))
    async with asyncio.timeout(STEP_SECONDS):
        step = await shown
    query = parse_qs(urlsplit(step.url).query)
    redirect_uri, state = query["redirect_uri"][0], query["state"][0]
    reader, writer = await asyncio.open_connection("127.0.0.1", urlsplit(redirect_uri).port)
    try:
        page = await asyncio.to_thread(_get, f"{redirect_uri}?code=the-code&state={state}")
        assert "Compax has your sign-in" in page
        async with asyncio.timeout(3):
            assert (await signing_in)["access_token"] == "from-the-stand-in"
            assert await reader.read() == b"", "the idle connection is closed"
    finally:
        writer.close()
    assert fake.exchanged[0]["code"] == "the-code"


async def test_the_loopback_listener_gives_a_silent_connection_a_few_seconds(
    fake_compax: tuple[str, FakeCompax], monkeypatch: pytest.MonkeyPatch
) -> None:
    for name in ("BROWSER", "DISPLAY", "WAYLAND_DISPLAY"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setattr(sso, "_LINE_SECONDS", 0.2)
    url, _ = fake_compax
    shown: asyncio.Future[BrowserStep] = asyncio.get_running_loop().create_future()
    signing_in = asyncio.create_task(campus_token(url, show=shown.set_result, browser=True))
    async with asyncio.timeout(STEP_SECONDS):
        step = await shown
    query = parse_qs(urlsplit(step.url).query)
    redirect_uri, state = query["redirect_uri"][0], query["state"][0]
    reader, writer = await asyncio.open_connection("127.0.0.1", urlsplit(redirect_uri).port)
    try:
        writer.write(b"GET /callback?state=")
        async with asyncio.timeout(3):
            assert await reader.read() == b"", "the silent connection is closed"
        assert not signing_in.done(), "and the sign-in still waits for the browser"
        await asyncio.to_thread(_get, f"{redirect_uri}?code=the-code&state={state}")
        async with asyncio.timeout(3):
            await signing_in
    finally:
        writer.close()


async def test_an_idle_browser_connection_does_not_hold_up_the_loopback_sign_in(
    campus_server: ServerProcess, oidc_provider: OidcProvider, tmp_path: Path
) -> None:
    login, opened = await _login_with_recording_browser(campus_server, tmp_path)
    try:
        await login.line_matching("Waiting for the sign-in")
        url = await asyncio.to_thread(_written, opened)
        back = await asyncio.to_thread(oidc_provider.log_in_and_consent, url, "carol")
        port = urlsplit(back).port
        assert port is not None
        with socket.create_connection(("127.0.0.1", port)) as preconnect:
            page = await asyncio.to_thread(_get, back)
            assert "Compax has your sign-in" in page
            preconnect.settimeout(3)
            assert await asyncio.to_thread(preconnect.recv, 1) == b""
            async with asyncio.timeout(4):
                assert await login.finished() == 0, login.stderr
    finally:
        login.stop()
    assert "Signed in as carol (admin)" in login.stderr


async def _login_with_recording_browser(
    server: ServerProcess, tmp_path: Path
) -> tuple[Login, Path]:
    """``compax login --browser`` started with a browser that only writes the URL it is given
    to the file returned beside the login."""
    opened = tmp_path / "opened.txt"
    browser = tmp_path / "browser"
    browser.write_text(f"#!/bin/sh\nprintf '%s\\n' \"$1\" > '{opened}'\n")
    browser.chmod(0o755)
    login = await Login.start(
        tmp_path / "cli", "--browser", "--server", server.url, BROWSER=str(browser)
    )
    return login, opened


def _written(path: Path) -> str:
    """What ``path`` holds, once something has written it."""
    deadline = time.monotonic() + STEP_SECONDS
    while not (path.exists() and path.read_text().strip()):
        assert time.monotonic() < deadline, f"nothing wrote {path}"
        time.sleep(0.05)
    return path.read_text().strip()


def _get(url: str) -> str:
    with urllib.request.urlopen(url, timeout=10) as answer:  # noqa: S310 (the test's own loopback)
        return str(answer.read().decode())


async def test_ctrl_c_stops_waiting_for_the_campus_sign_in(
    campus_server: ServerProcess, tmp_path: Path
) -> None:
    login = await Login.start(tmp_path / "cli", "--sso", "--server", campus_server.url)
    try:
        await login.line_matching("Waiting for the sign-in")
        login.process.send_signal(signal.SIGINT)
        assert await login.finished() == INTERRUPTED, login.stderr
    finally:
        login.stop()
    assert "Campus sign-in cancelled" in login.stderr
    assert "Traceback" not in login.stderr


async def test_a_loopback_port_already_taken_is_named(
    campus_server: ServerProcess, tmp_path: Path
) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        result = await Cli(tmp_path / "cli")(
            "login", "--sso", "--port", str(port), "--server", campus_server.url
        )
    assert result.exit_code == USAGE, result.output
    assert f"port: cannot listen on 127.0.0.1:{port}" in result.stderr


async def test_a_provider_that_cannot_be_reached_is_said_in_words(
    campus_server: ServerProcess, oidc_provider: OidcProvider, tmp_path: Path
) -> None:
    oidc_provider.stop()
    try:
        result = await Cli(tmp_path / "cli")("login", "--sso", "--server", campus_server.url)
    finally:
        oidc_provider.start()
    assert result.exit_code == REFUSED, result.output
    assert "campus sign-in provider" in result.stderr
    assert "cannot be reached" in result.stderr
    assert "password" in result.stderr


async def test_a_server_without_campus_sign_in_says_so(database_url: str, tmp_path: Path) -> None:
    server = ServerProcess(database_url, tmp_path)
    server.start()
    try:
        await server.wait_until_healthy()
        result = await Cli(tmp_path / "cli")("login", "--sso", "--server", server.url)
    finally:
        server.stop()
    assert result.exit_code == REFUSED, result.output
    assert "has no campus sign-in configured" in result.stderr
    assert "password" in result.stderr


async def _campus_step(app: CompaxApp) -> str:
    """The link and code the sign-in screen shows, once it shows them."""
    async with asyncio.timeout(STEP_SECONDS):
        while True:
            shown = str(app.screen.query_one("#campus-step", Static).render())
            if "enter" in shown:
                return shown
            await asyncio.sleep(0.05)


async def test_the_tui_signs_in_with_the_campus_sign_in_button(
    campus_server: ServerProcess,
    oidc_provider: OidcProvider,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("COMPAX_DATA_DIR", str(tmp_path / "client"))
    oidc_provider.set_account("dave", groups=["staff", "eng-facilities"])
    app = CompaxApp("tui", sync_interval=None)
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        assert isinstance(app.screen, SignInScreen)
        app.screen.query_one("#server", Input).value = campus_server.url
        await settle(pilot)
        assert app.screen.query_one("#campus-sign-in", Button).display

        await pilot.click("#campus-sign-in")
        shown = await _campus_step(app)
        assert str(app.screen.query_one("#campus-sign-in", Button).label) == "Cancel"
        await pilot.press("escape")
        await settle(pilot)
        assert isinstance(app.screen, SignInScreen), "cancelled, the form stays"
        assert not app.screen.query_one("#campus-step", Static).display
        assert str(app.screen.query_one("#campus-sign-in", Button).label) == "Campus sign-in"

        await pilot.click("#campus-sign-in")
        denied = re.search(r"enter (\S+)", await _campus_step(app))
        assert denied is not None
        await asyncio.to_thread(oidc_provider.deny_user_code, denied[1])
        await settle(pilot)
        error = str(app.screen.query_one("#sign-in-error", Static).render())
        assert "The sign-in was denied in the browser" in error

        await pilot.click("#campus-sign-in")
        shown = await _campus_step(app)
        assert not str(app.screen.query_one("#sign-in-error", Static).render()).strip()
        code = re.search(r"enter (\S+)", shown)
        assert code is not None
        await asyncio.to_thread(oidc_provider.enter_user_code, code[1], "dave")
        await settle(pilot)
        assert isinstance(app.screen, FinderScreen), "signed in, the finder shows"
        assert app.engine.user is not None
        assert (app.engine.user["username"], app.engine.user["role"]) == ("dave", "staff")


async def test_the_tui_offers_no_campus_sign_in_where_the_server_has_none(
    database_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("COMPAX_DATA_DIR", str(tmp_path / "client"))
    server = ServerProcess(database_url, tmp_path)
    server.start()
    try:
        await server.wait_until_healthy()
        app = CompaxApp("tui", sync_interval=None)
        async with app.run_test(size=(80, 24)) as pilot:
            await settle(pilot)
            assert isinstance(app.screen, SignInScreen)
            app.screen.query_one("#server", Input).value = server.url
            await settle(pilot)
            assert not app.screen.query_one("#campus-sign-in", Button).display
    finally:
        server.stop()


@dataclass
class FakeCompax:
    """What a stand-in Compax server answers a campus sign-in: the device start's JSON (or
    bytes sent as JSON), then the device polls' answers in turn (status and JSON), noting when
    each poll came, and the code exchanges posted to it."""

    device: object = None
    polls: list[tuple[int, dict[str, object]]] = field(default_factory=list)
    polled_at: list[float] = field(default_factory=list)
    exchanged: list[dict[str, str]] = field(default_factory=list)


@pytest.fixture
async def fake_compax() -> AsyncIterator[tuple[str, FakeCompax]]:
    """A server on 127.0.0.1 offering a device flow, answering what the test puts in it; its
    address and what it answers."""
    fake = FakeCompax()
    oidc = {
        "issuer": "https://idp.campus.example",
        "client_id": "compax",
        "authorization_endpoint": "https://idp.campus.example/auth",
        "scopes": ["openid"],
        "device_flow": True,
        "redirect_uris": [],
    }

    async def methods(request: web.Request) -> web.Response:
        return web.json_response({"password": True, "ldap": False, "oidc": oidc})

    async def device(request: web.Request) -> web.Response:
        if isinstance(fake.device, bytes):
            return web.Response(body=fake.device, content_type="application/json")
        return web.json_response(fake.device)

    async def poll(request: web.Request) -> web.Response:
        fake.polled_at.append(time.monotonic())
        status, answer = fake.polls.pop(0)
        return web.json_response(answer, status=status, content_type="application/problem+json")

    async def exchange(request: web.Request) -> web.Response:
        fake.exchanged.append(await request.json())
        return web.json_response({"access_token": "from-the-stand-in"})

    app = web.Application()
    app.router.add_get("/api/v1/auth/methods", methods)
    app.router.add_post("/api/v1/auth/oidc/token", exchange)
    app.router.add_post("/api/v1/auth/oidc/device", device)
    app.router.add_post("/api/v1/auth/oidc/device/token", poll)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    host, port = runner.addresses[0][:2]
    try:
        yield f"http://{host}:{port}", fake
    finally:
        await runner.cleanup()


def _problem(status: int, kind: str, detail: str, **extra: object) -> tuple[int, dict[str, object]]:
    body = {"type": kind, "title": kind, "status": status, "detail": detail, **extra}
    return status, {**body, "instance": "/api/v1/auth/oidc/device/token"}


async def test_the_client_polls_at_the_interval_the_server_last_gave(
    fake_compax: tuple[str, FakeCompax],
) -> None:
    url, fake = fake_compax
    fake.device = {
        "device_code": "the-device",
        "user_code": "ABCD-EFGH",
        "verification_uri": "https://idp.campus.example/device",
        "expires_in": 60,
        "interval": 1,
    }
    fake.polls += [
        _problem(400, "authorization-pending", "Ask less often", interval=2),
        _problem(401, "not-authenticated", "The sign-in was denied in the browser"),
    ]
    shown: list[BrowserStep] = []
    started = time.monotonic()

    with pytest.raises(CompaxError, match="denied in the browser"):
        await campus_token(url, show=shown.append)

    first, second = fake.polled_at
    assert 1 <= first - started < 2, "the start's interval"
    assert second - first >= 2, "the interval the pending answer gave"
    assert shown[0].user_code == "ABCD-EFGH"


async def test_a_junk_answer_ends_the_tuis_campus_sign_in_in_words(
    fake_compax: tuple[str, FakeCompax], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    url, fake = fake_compax
    fake.device = b"<html>not JSON"
    monkeypatch.setenv("COMPAX_DATA_DIR", str(tmp_path / "client"))
    app = CompaxApp("tui", sync_interval=None)
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        assert isinstance(app.screen, SignInScreen)
        app.screen.query_one("#server", Input).value = url
        await settle(pilot)
        assert app.screen.query_one("#campus-sign-in", Button).display

        await pilot.click("#campus-sign-in")
        await settle(pilot)

        error = str(app.screen.query_one("#sign-in-error", Static).render())
        assert "The campus sign-in stopped on something unexpected" in error
        assert "JSONDecodeError" in error
        assert str(app.screen.query_one("#campus-sign-in", Button).label) == "Campus sign-in"
        assert not app.screen.query_one("#sign-in", Button).disabled
        assert not app.screen.query_one("#campus-step", Static).display
        assert isinstance(app.screen, SignInScreen)


async def test_an_answer_that_is_not_a_device_sign_in_is_said_in_words(
    fake_compax: tuple[str, FakeCompax], tmp_path: Path
) -> None:
    url, fake = fake_compax
    fake.device = {"device_code": 5}

    result = await Cli(tmp_path / "cli")("login", "--sso", "--server", url)

    assert result.exit_code != 0, result.output
    assert "answered something that is not a Compax DeviceAuthorization" in result.stderr
    assert "Traceback" not in result.output
