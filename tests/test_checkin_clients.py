"""Check-in from the clients: the engine queues it like any change and shows it pending, the
server counts it only if it arrives within the window, and ``compax checkin`` drives both."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from aiohttp.test_utils import TestClient

from compax_cli.output import REFUSED, USAGE
from sync.engine import Engine
from sync.errors import CheckinClosed
from sync.permissions import Role
from tests.booking_helpers import at, book, next_weekday
from tests.checkin_support import Clock, booked, checkin_campus, client, clock
from tests.conftest import PASSWORD, MakePerson, Person
from tests.test_cli import Cli
from tests.test_sync_client import signed_in

#: Fixtures of checkin_support, named here so that pytest finds them in this module.
__all__ = ["client", "clock"]


def on_clock(engine: Engine, clock: Clock) -> Engine:
    """``engine`` reading the same clock as the server."""
    engine.clock = engine.reads.clock = clock
    return engine


async def test_an_offline_check_in_is_pending_then_counted_or_refused(
    client: TestClient,
    admin: Person,
    make_person: MakePerson,
    engines: Callable[[str], Engine],
    clock: Clock,
) -> None:
    campus = await checkin_campus(client, admin)
    staff = await make_person(Role.STAFF)
    monday = next_weekday(0)
    on_time = await booked(client, staff, campus.room_101, monday, 10)
    late = await booked(client, staff, campus.room_101, monday, 12)
    engine = on_clock(await signed_in(client, engines, staff), clock)

    clock.set(monday, 9, 30)
    with pytest.raises(CheckinClosed) as refused:
        engine.check_in(on_time)
    assert refused.value.extra["opens_at"].startswith(at(monday, 9, 45)[:16])
    assert engine.status()["pending"] == 0

    clock.set(monday, 10, 5)
    checked = engine.check_in(on_time)
    assert checked["pending"] is True
    assert checked["checked_in_at"].startswith(at(monday, 10, 5)[:16])
    report = await engine.sync()
    assert (report.applied, report.rejected) == (1, 0)
    stored = engine.reads.booking(on_time)
    assert stored is not None and stored["pending"] is False and stored["checked_in_at"]

    clock.set(monday, 12, 10)
    engine.check_in(late)
    clock.set(monday, 12, 20)
    report = await engine.sync()
    assert report.rejected == 1, "it reached the server after the window closed"
    [conflict] = engine.conflicts()
    assert conflict.problem["type"] == "checkin-closed"


async def test_compax_checkin_checks_in_and_prints_the_door_link(
    client: TestClient, admin: Person, make_person: MakePerson, tmp_path: Path
) -> None:
    """The command reads the real clock, like the server here: the booking starts soon."""
    campus = await checkin_campus(client, admin)
    staff = await make_person(Role.STAFF)
    soon = datetime.now(UTC).replace(second=0, microsecond=0) + timedelta(minutes=5)
    made = await book(
        client, admin, campus.room_101, soon.isoformat(), (soon + timedelta(hours=1)).isoformat(),
        owner=staff.user.username, override=True, override_reason="a test at any hour",
    )  # fmt: skip
    assert made.status == 201, await made.text()
    booking = str((await made.json())["id"])
    later = await booked(client, staff, campus.room_101, next_weekday(0), 14)
    cli = Cli(tmp_path / "cli")
    server = str(client.make_url("")).rstrip("/")
    login = await cli(
        "login", "--server", server, "--username", staff.user.username, "--password-stdin",
        input=PASSWORD + "\n",
    )  # fmt: skip
    assert login.exit_code == 0, login.output

    refused = await cli("checkin", later[:8])
    assert refused.exit_code == REFUSED
    assert "checkin-closed" in refused.stderr
    assert "Check-in is open from Mon" in refused.stderr

    done = await cli.json("checkin", booking[:8], "--sync")
    assert [(b["id"], b["pending"]) for b in done] == [(booking, False)]
    assert done[0]["checked_in_at"]

    link = await cli("checkin", "link", booking[:8], "--qr")
    assert link.exit_code == 0, link.output
    url = link.stdout.splitlines()[0]
    assert url.startswith("http") and "/links/checkin/" in url
    assert "█" in link.stdout or "▀" in link.stdout, "a QR code follows the link"
    assert (await cli("checkin", "link")).exit_code == USAGE
