"""Approvals on the offline client: a booking made offline in a room needing approval shows
pending locally, is queued like any change, and after the sync the server's row says pending;
a pending request holds its slot in the replica too, and approving it shows after a sync."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from aiohttp.test_utils import TestClient

from sync.approvals import Approvals
from sync.engine import Engine
from sync.errors import RoomOverlap
from sync.permissions import Role
from tests.booking_helpers import at, next_weekday
from tests.conftest import MakePerson, Person
from tests.test_approvals import campus_needing_approval
from tests.test_sync_client import signed_in, when


async def test_an_offline_request_shows_pending_and_the_server_agrees(
    client: TestClient, admin: Person, make_person: MakePerson, engines: Callable[[str], Engine]
) -> None:
    campus, _ = await campus_needing_approval(client, admin)
    staff, officer = await make_person(Role.STAFF), await make_person(Role.EXAMS_OFFICER)
    engine = await signed_in(client, engines, staff)
    monday = next_weekday(0)
    start, end = when(at(monday, 9)), when(at(monday, 10))

    made = engine.book(campus.room_101, start, end, "Offline request")
    assert (made["status"], made["pending"]) == ("pending", True)
    elsewhere = engine.book(campus.eng_1, start, end, "No approval here")
    assert elsewhere["status"] == "confirmed"
    with pytest.raises(RoomOverlap):
        engine.book(campus.room_101, start, end, "Clash with my own request")

    await engine.sync()
    synced = engine.reads.booking(made["id"])
    assert synced is not None
    assert (synced["status"], synced["pending"]) == ("pending", False)
    on_server = await client.get(f"/api/v1/bookings/{made['id']}", headers=staff.headers)
    assert (await on_server.json())["status"] == "pending"

    # Another user's replica sees the request holding the slot.
    other = await signed_in(client, engines, officer)
    with pytest.raises(RoomOverlap):
        other.book(campus.room_101, start, end, "Taken by a request")

    # An admin's client approves it; the requester's next sync shows it confirmed.
    approver = await signed_in(client, engines, admin)
    decided = await Approvals(approver).decide(made["id"], approve=True, reason="ok")
    assert decided["status"] == "confirmed"
    await engine.sync()
    approved = engine.reads.booking(made["id"])
    assert approved is not None and approved["status"] == "confirmed"


async def test_offline_moves_ask_the_same_rule_as_the_server(
    client: TestClient, admin: Person, make_person: MakePerson, engines: Callable[[str], Engine]
) -> None:
    """Offline, a pending request moved stays pending, a confirmed booking moved into a room
    needing approval waits again, and a title alone changes no status; the server agrees."""
    campus, _ = await campus_needing_approval(client, admin)
    staff = await make_person(Role.STAFF)
    engine = await signed_in(client, engines, staff)
    monday = next_weekday(0)
    request = engine.book(campus.room_101, when(at(monday, 9)), when(at(monday, 10)), "Asks")
    elsewhere = engine.book(campus.eng_1, when(at(monday, 9)), when(at(monday, 10)), "Free")
    await engine.sync()

    moved = engine.move(request["id"], start=when(at(monday, 11)), end=when(at(monday, 12)))
    assert moved[0]["status"] == "pending"
    renamed = engine.move(elsewhere["id"], title="Renamed")
    assert renamed[0]["status"] == "confirmed"
    await engine.sync()
    into = engine.move(elsewhere["id"], room_id=campus.room_102)
    assert into[0]["status"] == "pending"

    await engine.sync()
    for booking_id in (request["id"], elsewhere["id"]):
        local = engine.reads.booking(booking_id)
        on_server = await client.get(f"/api/v1/bookings/{booking_id}", headers=staff.headers)
        assert local is not None
        assert local["status"] == (await on_server.json())["status"] == "pending"

    # Approved, the request keeps its approval through a change of title alone.
    approver = await signed_in(client, engines, admin)
    await Approvals(approver).decide(request["id"], approve=True, reason="ok")
    await engine.sync()
    retitled = engine.move(request["id"], title="Renamed")
    assert retitled[0]["status"] == "confirmed"
    await engine.sync()
    on_server = await client.get(f"/api/v1/bookings/{request['id']}", headers=staff.headers)
    assert (await on_server.json())["status"] == "confirmed"
