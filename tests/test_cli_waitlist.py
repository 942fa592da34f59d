"""``compax wait`` against the test server, and the waitlist entries a replica holds after a
sync: the user's own, nobody else's."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from aiohttp.test_utils import TestClient

from compax_cli.output import REFUSED, USAGE
from compax_server.jobs.runner import run_due_jobs
from sync.engine import Engine
from sync.permissions import Role
from sync.waiting import entries
from tests.booking_helpers import at, book, make_campus, next_weekday
from tests.conftest import PASSWORD, MakePerson, Person
from tests.test_cli import Cli
from tests.test_waitlist import cancel, jobs

MONDAY = next_weekday(0)


async def signed_in(client: TestClient, cli: Cli, person: Person) -> None:
    login = await cli(
        "login",
        "--server",
        str(client.make_url("")),
        "--username",
        person.user.username,
        "--password-stdin",
        input=PASSWORD + "\n",
    )
    assert login.exit_code == 0, login.output


async def test_wait_add_list_accept_and_cancel(
    client: TestClient, admin: Person, make_person: MakePerson, tmp_path: Path
) -> None:
    campus = await make_campus(client, admin)
    owner, staff = await make_person(Role.STAFF), await make_person(Role.STAFF)
    booked = await book(client, owner, campus.room_101, at(MONDAY, 10), at(MONDAY, 12))
    assert booked.status == 201
    other = await book(client, admin, campus.room_102, at(MONDAY, 9), at(MONDAY, 13))
    assert other.status == 201
    cli = Cli(tmp_path / "cli")
    await signed_in(client, cli, staff)
    day = MONDAY.isoformat()
    slot = ["--from", f"{day} 10:00", "--to", f"{day} 12:00", "--title", "Seminar"]

    made = await cli.json("wait", "add", "PB/101", *slot)
    assert (made["state"], made["room_id"]) == ("waiting", campus.room_101)
    anywhere = await cli.json(
        "wait", "add", "PB/102", "--any-room", "--capacity", "30", "--feature", "projector", *slot
    )
    assert anywhere["building_id"] is not None and anywhere["features"] == ["projector"]
    free = await cli("wait", "add", "PB/201", *slot)
    assert free.exit_code == REFUSED, free.output
    assert "slot-free" in free.stderr
    bad = await cli("wait", "add", "PB/101", *slot, "--attendees", "-1")
    assert bad.exit_code == USAGE

    listed = await cli("wait", "list")
    assert listed.exit_code == 0 and "PB/101" in listed.stdout and "waiting" in listed.stdout

    await cancel(client, owner, await booked.json())
    await run_due_jobs(jobs(client))
    await cli("sync")
    [offered] = [e for e in await cli.json("wait", "list") if e["id"] == made["id"]]
    assert offered["state"] == "offered"
    accepted = await cli.json("wait", "accept", made["id"][:8])
    assert accepted["state"] == "booked"
    again = await cli("wait", "accept", made["id"][:8])
    assert again.exit_code == REFUSED and "not-offered" in again.stderr

    withdrawn = await cli.json("wait", "cancel", anywhere["id"][:8])
    assert withdrawn["state"] == "cancelled"
    assert await cli.json("wait", "list") == []
    assert {e["state"] for e in await cli.json("wait", "list", "--all")} == {"booked", "cancelled"}
    refused = await cli("wait", "list", "--owner", "*")
    assert refused.exit_code == REFUSED and "forbidden" in refused.stderr


async def test_a_replica_holds_its_user_s_entries_and_no_one_else_s(
    client: TestClient,
    admin: Person,
    make_person: MakePerson,
    engines: Callable[[str], Engine],
) -> None:
    campus = await make_campus(client, admin)
    owner, waiter, other = [await make_person(Role.STAFF) for _ in range(3)]
    booked = await book(client, owner, campus.room_101, at(MONDAY, 10), at(MONDAY, 12))
    assert booked.status == 201
    replicas = {}
    for person in (waiter, other):
        engine = engines(person.user.username)
        await engine.sign_in(str(client.make_url("")), person.user.username, PASSWORD)
        replicas[person.user.username] = engine
    body = {"room_id": campus.room_101, "start": at(MONDAY, 10), "end": at(MONDAY, 12)}
    joined = await client.post(
        "/api/v1/waitlist", json={**body, "title": "Mine"}, headers=waiter.headers
    )
    assert joined.status == 201
    mine = await joined.json()

    for engine in replicas.values():
        await engine.sync()
    assert [e["id"] for e in entries(replicas[waiter.user.username])] == [mine["id"]]
    assert entries(replicas[other.user.username]) == []

    await cancel(client, owner, await booked.json())
    await run_due_jobs(jobs(client))
    waiting = replicas[waiter.user.username]
    await waiting.sync()
    [offered] = entries(waiting, open_only=True)
    assert offered["state"] == "offered" and offered["booking_id"]
    held = waiting.reads.booking(offered["booking_id"])
    assert held is not None and held["status"] == "confirmed"
