"""``compax demo``: a server on its own SQLite file with a generated campus, and the CLI signed
in to it, so a new user can try everything at once.

The server runs as a child process (``compax server run``); the campus goes in through the
same bulk and timetable endpoints an administrator's import uses.
"""

from __future__ import annotations

import asyncio
import errno
import os
import random
import signal
import socket
import subprocess
import sys
from datetime import UTC, date, datetime, timedelta
from typing import Annotated, Any

import typer

from compax_cli.output import err, out, reported
from sync.engine import Engine
from sync.errors import CompaxError, Unreachable, ValidationFailed
from sync.http import connect
from sync.profiles import Profile, data_dir

PASSWORD = "compax-demo"  # noqa: S105  (printed for the user: demo accounts only)
PROFILE = "demo"
#: (code, name, kind) of the demo campus's buildings.
BUILDINGS = [
    ("PB", "Petroleum Building", "academic"),
    ("ENG", "Engineering", "academic"),
    ("SCI", "Science Block", "laboratory"),
    ("LAW", "Faculty of Law", "academic"),
    ("MED", "Medical School", "academic"),
    ("ART", "Arts Centre", "academic"),
    ("BUS", "Business School", "academic"),
    ("LIB", "Balme Library", "library"),
    ("ICT", "ICT Centre", "laboratory"),
    ("AGR", "Agriculture", "academic"),
    ("EDU", "Education", "academic"),
    ("SOC", "Social Sciences", "academic"),
]
#: (kind, capacities, features it may have) of the rooms each building gets.
ROOM_MIX = [
    ("lecture_hall", (120, 200, 300), ("projector", "ac", "microphone")),
    ("classroom", (30, 40, 60), ("projector", "whiteboard", "ac")),
    ("classroom", (30, 40, 60), ("whiteboard",)),
    ("seminar_room", (12, 20), ("whiteboard", "video_conf")),
    ("lab", (24, 32), ("computers", "projector", "ac")),
]
USERS = [
    ("admin", "Campus Administrator", "admin", "Registry"),
    ("exams", "Efua Owusu", "exams_officer", "Examinations"),
    ("rep", "Kwame Asante", "class_rep", "Engineering"),
    ("ama", "Ama Mensah", "staff", "Physics"),
    ("kofi", "Kofi Boateng", "staff", "Mathematics"),
    ("abena", "Abena Frimpong", "facilities", "Estates"),
    ("yaw", "Yaw Darko", "student", "Engineering"),
]
COURSES = ["MATH", "PHYS", "CHEM", "ECON", "LAW", "MED", "HIST", "CSCI", "AGRI", "EDUC"]


def campus_rows(seed: int = 7) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """Buildings and 204 rooms: 17 a building, mixed kinds, sizes and features."""
    rng = random.Random(seed)  # noqa: S311  (made-up data, not secrets)
    buildings = [
        {"code": c, "name": n, "kind": k, "floors": rng.randint(2, 5)} for c, n, k in BUILDINGS
    ]
    rooms = []
    for code, _, _ in BUILDINGS:
        for number in range(17):
            kind, sizes, features = ROOM_MIX[number % len(ROOM_MIX)]
            rooms.append(
                {
                    "building": code,
                    "code": f"{number // 6 + 1}{number % 6 + 1:02d}",
                    "kind": kind,
                    "floor": number // 6,
                    "capacity": rng.choice(sizes),
                    "features": sorted(rng.sample(features, rng.randint(1, len(features)))),
                }
            )
    return buildings, rooms


def term_row(today: date) -> dict[str, Any]:
    """A 14-week term around today, with a one-week break in the middle."""
    first = today - timedelta(days=today.weekday() + 14)
    break_start = first + timedelta(weeks=7)
    return {
        "name": f"Demo term {first.year}",
        "first_day": str(first),
        "last_day": str(first + timedelta(weeks=14, days=-3)),
        "holidays": [
            {
                "name": "Mid-term break",
                "first_day": str(break_start),
                "last_day": str(break_start + timedelta(days=4)),
            }
        ],
    }


def timetable_rows(rooms: list[dict[str, Any]], seed: int = 7) -> list[dict[str, Any]]:
    """A weekly timetable: a two-hour class every weekday in each lecture hall, no clashes."""
    rng = random.Random(seed)  # noqa: S311  (made-up data, not secrets)
    teaching = [r for r in rooms if r["kind"] == "lecture_hall"]
    rows: list[dict[str, Any]] = []
    for index, room in enumerate(teaching):
        for weekday in ("mon", "tue", "wed", "thu", "fri"):
            for start in rng.sample((8, 10, 12, 14, 16), 1):
                course = f"{COURSES[index % len(COURSES)]}{100 + len(rows) % 400}"
                rows.append(
                    {
                        "course_code": course,
                        "course_name": f"{course} lecture",
                        "department": course[:4],
                        "year_group": str(rng.randint(1, 4)),
                        "weekday": weekday,
                        "start": f"{start:02d}:00",
                        "end": f"{start + 2:02d}:00",
                        "building": room["building"],
                        "room": room["code"],
                        "attendees": min(room["capacity"], rng.randint(20, 150)),
                    }
                )
    return rows


async def seed(url: str) -> int:
    """Fill the demo server through its API (safe to repeat: every step is an upsert); the
    number of classes the timetable books."""
    async with connect(url) as http:
        token = await http.request(
            "POST", "/api/v1/auth/token", json={"username": "admin", "password": PASSWORD}
        )
        http.token = token["access_token"]
        buildings, rooms = campus_rows()
        await http.request("POST", "/api/v1/buildings:bulk", json={"rows": buildings})
        await http.request("POST", "/api/v1/rooms:bulk", json={"rows": rooms})
        await http.request(
            "POST",
            "/api/v1/users:bulk",
            json={
                "rows": [
                    {
                        "username": u,
                        "full_name": n,
                        "role": r,
                        "department": d,
                        "password": PASSWORD,
                    }
                    for u, n, r, d in USERS
                    if u != "admin"
                ]
            },
        )
        term = term_row(datetime.now(UTC).date())
        answer = await http.request("POST", "/api/v1/terms:bulk", json={"rows": [term]})
        term_id = answer["results"][0]["id"]
        result = await http.request(
            "POST", f"/api/v1/terms/{term_id}/timetable", json={"rows": timetable_rows(rooms)}
        )
    return sum(row["occurrences"] for row in result["results"])


async def _wait_until_up(url: str, server: subprocess.Popen[bytes]) -> None:
    import aiohttp

    async with aiohttp.ClientSession() as session:
        for _ in range(200):
            if server.poll() is not None:
                raise CompaxError("the demo server stopped; is the port in use? try --port")
            try:
                async with session.get(f"{url}/health") as response:
                    if response.status == 200:
                        return
            except aiohttp.ClientError:
                pass
            await asyncio.sleep(0.1)
    raise Unreachable(f"the demo server at {url} did not start")


class Stopped(KeyboardInterrupt):
    """SIGTERM asked the demo to stop: its server is stopped too. A ``KeyboardInterrupt``, as
    Ctrl+C is, because asyncio passes only those on from a callback it is running: any other
    exception there is logged and swallowed, and the demo would go on as if never asked."""


def _stop_on_sigterm(signum: int, frame: object) -> None:
    raise Stopped


def _port_free(port: int) -> None:
    """Refuse a port something already listens on, before anything is started or written."""
    with socket.socket() as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind(("127.0.0.1", port))
        except OSError as exc:
            if exc.errno != errno.EADDRINUSE:
                raise
            raise ValidationFailed.single(
                "port", f"something already listens on port {port}; choose another with --port"
            ) from None


def demo(
    port: Annotated[int, typer.Option(min=1, max=65535, help="Port for the demo server.")] = 8080,
) -> None:
    """Start a demo server with a generated campus (12 buildings, 204 rooms, a term's timetable,
    users of every role) and sign this CLI in to it as staff member "ama". Ctrl+C (or SIGTERM)
    stops it and its server.

    Example: compax demo --port 8080
    """
    signal.signal(signal.SIGTERM, _stop_on_sigterm)
    with reported():
        _port_free(port)
        folder = data_dir() / "demo-server"
        url = f"http://127.0.0.1:{port}"
        env = {
            **os.environ,
            "COMPAX_DATA_DIR": str(folder),
            "COMPAX_PORT": str(port),
            "COMPAX_HOST": "127.0.0.1",
            "COMPAX_DATABASE_URL": "",
            "COMPAX_SECRET_KEYS": "",
            "COMPAX_MODE": "embedded",
            "COMPAX_LOG_LEVEL": "WARNING",
        }
        compax = [sys.executable, "-m", "compax_cli", "server"]
        seeded = folder / "seeded"
        server: subprocess.Popen[bytes] | None = None
        try:
            if not (folder / "compax.sqlite3").exists():
                create_admin = [*compax, "create-admin", "--username", "admin", "--password-stdin"]
                subprocess.run(  # noqa: S603  (our own command, no user input in it)
                    create_admin, input=PASSWORD.encode(), env=env, check=True, capture_output=True
                )
            server = subprocess.Popen([*compax, "run"], env=env)  # noqa: S603
            asyncio.run(_wait_until_up(url, server))
            if not seeded.exists():
                err.print("Generating the demo campus…")
                booked = asyncio.run(seed(url))
                seeded.touch()
                err.print(
                    f"12 buildings, 204 rooms, {len(USERS)} users and a timetable of "
                    f"{booked} classes"
                )
            engine = Engine(Profile.load(PROFILE))
            try:
                asyncio.run(engine.sign_in(url, "ama", PASSWORD))
                asyncio.run(engine.sync())
            finally:
                engine.close()
            _next_steps(url)
            server.wait()
        except KeyboardInterrupt:
            err.print("Stopping the demo server")
        finally:
            signal.signal(signal.SIGTERM, signal.SIG_IGN)
            if server is not None:
                server.terminate()
                server.wait()


def _next_steps(url: str) -> None:
    accounts = ", ".join(f"{username} ({role.replace('_', ' ')})" for username, _, role, _ in USERS)
    out.print(f"""
[bold]Compax demo[/] on {url} (data in {data_dir() / "demo-server"}). In another terminal:

  export COMPAX_PROFILE={PROFILE}          # you are ama, a staff member
  compax rooms free --at "tomorrow 10:00" --for 2h --capacity 40 --feature projector
  compax book ENG/102 --at "tomorrow 10:00" --for 2h --title "Tutorial"
  compax bookings list
  compax sync
  compax status

Every demo account's password is {PASSWORD!r}: {accounts}.
The API is described at {url}/api/v1/openapi.json. Ctrl+C stops the server.""")
