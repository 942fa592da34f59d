"""The demo campus: big enough to try everything, and accepted whole by a real server."""

from __future__ import annotations

import asyncio
import os
import signal
import socket
import subprocess
import sys
from collections import Counter
from pathlib import Path

import aiohttp
import pytest
from aiohttp.test_utils import TestClient

from compax_cli.demo import PASSWORD, USERS, campus_rows, seed, timetable_rows
from compax_cli.output import USAGE
from compax_server.keys import DATABASE, PASSWORDS
from compax_server.services.users import create_user
from sync.permissions import Role
from sync.schemas import UserCreate
from tests.servers import ServerProcess, free_port


def test_the_campus_has_what_the_demo_promises() -> None:
    buildings, rooms = campus_rows()
    assert len(buildings) >= 10
    assert len(rooms) >= 200
    assert len({(r["building"], r["code"]) for r in rooms}) == len(rooms)
    assert {role for _, _, role, _ in USERS} == {role.value for role in Role}
    classes = timetable_rows(rooms)
    slots = Counter((r["building"], r["room"], r["weekday"], r["start"]) for r in classes)
    assert max(slots.values()) == 1, "no room has two classes at once"


@pytest.mark.slow
async def test_a_server_takes_the_whole_demo_campus(
    client: TestClient, database_url: str, tmp_path: Path
) -> None:
    app = client.app
    assert app is not None
    async with app[DATABASE].write() as session:
        await create_user(
            session,
            UserCreate(username="admin", password=PASSWORD, role=Role.ADMIN),
            await app[PASSWORDS].hash(PASSWORD),
        )
    server = ServerProcess(database_url, tmp_path)
    server.start()
    try:
        await server.wait_until_healthy()
        booked = await seed(server.url)
        assert booked > 100, "the timetable booked classes for the rest of the term"
        again = await seed(server.url)
        assert again == 0, "seeding twice changes nothing"
    finally:
        server.stop()
    signed = await client.post(
        "/api/v1/auth/token", json={"username": "admin", "password": PASSWORD}
    )
    headers = {"Authorization": f"Bearer {(await signed.json())['access_token']}"}
    rooms = await (await client.get("/api/v1/rooms?limit=500", headers=headers)).json()
    users = await (await client.get("/api/v1/users?limit=500", headers=headers)).json()
    assert len(rooms["items"]) == len(campus_rows()[1])
    assert sorted(u["username"] for u in users["items"]) == sorted(u for u, _, _, _ in USERS)


def _demo(port: int, data_dir: Path) -> subprocess.Popen[bytes]:
    """``compax demo`` as a user runs it, in a session of its own (to clean up after)."""
    return subprocess.Popen(
        [sys.executable, "-m", "compax_cli", "demo", "--port", str(port)],
        env={**os.environ, "COMPAX_DATA_DIR": str(data_dir), "NO_COLOR": "1"},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        start_new_session=True,
    )


def _listening(port: int) -> bool:
    with socket.socket() as probe:
        return probe.connect_ex(("127.0.0.1", port)) == 0


def test_a_port_something_listens_on_is_refused_before_anything_is_written(
    tmp_path: Path,
) -> None:
    with socket.socket() as other:
        other.bind(("127.0.0.1", 0))
        other.listen()
        port = other.getsockname()[1]
        demo = _demo(port, tmp_path)
        _, stderr = demo.communicate(timeout=60)
    assert demo.returncode == USAGE
    assert stderr.decode() == (
        f"error: port: something already listens on port {port}; choose another with --port\n"
    )
    assert list(tmp_path.iterdir()) == [], "no demo server, no profile"


@pytest.mark.slow
async def test_sigterm_stops_the_demo_and_its_server(tmp_path: Path) -> None:
    port = free_port()
    demo = _demo(port, tmp_path)
    try:
        async with aiohttp.ClientSession() as session:
            for _ in range(600):
                assert demo.poll() is None, demo.stderr.read() if demo.stderr else ""
                try:
                    async with session.get(f"http://127.0.0.1:{port}/health") as response:
                        if response.status == 200:
                            break
                except aiohttp.ClientError:
                    await asyncio.sleep(0.1)
            else:
                raise AssertionError("the demo server never answered")
        demo.send_signal(signal.SIGTERM)
        assert demo.wait(timeout=60) == 0
        assert demo.stderr is not None
        assert "Stopping the demo server" in demo.stderr.read().decode()
        assert not _listening(port), "the demo's server stopped with it"
    finally:
        if demo.poll() is None:
            os.killpg(demo.pid, signal.SIGKILL)
        demo.wait()
        if demo.stderr is not None:
            demo.stderr.close()


def test_the_next_steps_name_every_demo_account(capsys: pytest.CaptureFixture[str]) -> None:
    """The facilities account (abena) was added to the campus but not to the accounts the
    demo names; the list is now the demo's users, so it cannot fall behind again."""
    from compax_cli.demo import _next_steps

    _next_steps("http://127.0.0.1:8080")
    printed = " ".join(capsys.readouterr().out.split())
    for username, _, role, _ in USERS:
        assert username in printed, (username, role)
    assert "abena (facilities)" in printed, printed
