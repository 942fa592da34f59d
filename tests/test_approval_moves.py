"""Moves and the approval rule, the privacy of requests and late requests, on both databases:
only a decision approves, unchanged times change no status, approvers and managers see no
private title, and a request made inside the expiry lead waits until its start."""

from __future__ import annotations

import uuid
from datetime import timedelta
from typing import Any

from aiohttp.test_utils import TestClient
from sqlalchemy import select
from sqlmodel import col

from compax_server.jobs.approvals import expire_approval_requests
from compax_server.keys import DATABASE
from compax_server.models import AuditEntry, Booking
from compax_server.services.common import utcnow
from sync.permissions import Role
from tests.booking_helpers import at
from tests.conftest import MakePerson, Person
from tests.support import with_version
from tests.test_approvals import (
    MONDAY,
    booked,
    campus_needing_approval,
    decide,
    jobs,
    manager_of,
    notices,
)


async def _audit_actions(
    client: TestClient, record_id: str, record_type: str = "bookings"
) -> list[str]:
    assert client.app is not None
    async with client.app[DATABASE].read() as session:
        found = await session.execute(
            select(col(AuditEntry.action))
            .where(
                col(AuditEntry.record_type) == record_type,
                col(AuditEntry.record_id) == record_id,
            )
            .order_by(col(AuditEntry.id))
        )
        return list(found.scalars())


async def _move(client: TestClient, person: Person, booking: Any, **fields: Any) -> Any:
    response = await client.patch(
        f"/api/v1/bookings/{booking['id']}",
        json=fields,
        headers=with_version(person.headers, booking["version"]),
    )
    assert response.status == 200, await response.text()
    return await response.json()


async def test_moving_a_pending_request_never_approves_it(
    client: TestClient, admin: Person, make_person: MakePerson
) -> None:
    campus, _ = await campus_needing_approval(client, admin)
    staff, officer = await make_person(Role.STAFF), await make_person(Role.EXAMS_OFFICER)
    request = await booked(client, staff, campus.room_101)
    assert request["status"] == "pending"
    by_officer = await _move(client, officer, request, start=at(MONDAY, 13), end=at(MONDAY, 14))
    assert (by_officer["status"], by_officer["decided_by"]) == ("pending", None)
    by_admin = await _move(client, admin, by_officer, start=at(MONDAY, 15), end=at(MONDAY, 16))
    assert by_admin["status"] == "pending"
    assert "approve" not in await _audit_actions(client, request["id"])
    assert "approved" not in [kind for kind, _ in await notices(client, staff)]


async def test_a_confirmed_booking_moved_waits_by_its_owners_rights(
    client: TestClient, admin: Person, make_person: MakePerson
) -> None:
    """An officer (who may not approve) moving a staff member's approved booking makes it wait
    again; an admin moving it there keeps it confirmed."""
    campus, _ = await campus_needing_approval(client, admin)
    staff, officer = await make_person(Role.STAFF), await make_person(Role.EXAMS_OFFICER)
    request = await booked(client, staff, campus.room_101)
    approved = await (await decide(client, admin, request, "approve")).json()
    assert approved["status"] == "confirmed"
    by_admin = await _move(client, admin, approved, start=at(MONDAY, 13), end=at(MONDAY, 14))
    assert by_admin["status"] == "confirmed"
    by_officer = await _move(client, officer, by_admin, start=at(MONDAY, 15), end=at(MONDAY, 16))
    assert (by_officer["status"], by_officer["decided_by"]) == ("pending", None)


async def test_sending_the_same_times_again_keeps_an_approval(
    client: TestClient, admin: Person, make_person: MakePerson
) -> None:
    campus, _ = await campus_needing_approval(client, admin)
    staff = await make_person(Role.STAFF)
    request = await booked(client, staff, campus.room_101)
    approved = await (await decide(client, admin, request, "approve")).json()
    renamed = await _move(
        client, staff, approved, start=approved["start"], end=approved["end"], title="Renamed"
    )
    assert (renamed["status"], renamed["title"]) == ("confirmed", "Renamed")
    assert renamed["decided_by"] == admin.id
    assert [kind for kind, _ in await notices(client, admin)].count("approval_requested") == 1


async def test_private_requests_keep_their_titles_from_managers(
    client: TestClient, admin: Person, make_person: MakePerson
) -> None:
    campus, building_id = await campus_needing_approval(client, admin)
    manager = await manager_of(client, make_person, building_id)
    staff = await make_person(Role.STAFF)
    request = await booked(client, staff, campus.room_101, title="Secret interview", private=True)
    told = [data for kind, data in await notices(client, manager) if kind == "approval_requested"]
    assert len(told) == 1 and told[0]["title"] is None, told
    trail = await client.get(
        f"/api/v1/audit?record_type=bookings&record_id={request['id']}", headers=manager.headers
    )
    assert trail.status == 200, await trail.text()
    entries = (await trail.json())["items"]
    assert entries, "the manager reads their building's part of the trail"
    assert all("title" not in (e["after"] or {}) for e in entries), entries
    as_admin = await client.get(
        f"/api/v1/audit?record_type=bookings&record_id={request['id']}", headers=admin.headers
    )
    created = [e for e in (await as_admin.json())["items"] if e["action"] == "create"]
    assert created[0]["after"]["title"] == "Secret interview"


async def test_a_grant_is_one_audit_entry(
    client: TestClient, admin: Person, make_person: MakePerson
) -> None:
    _, building_id = await campus_needing_approval(client, admin)
    staff = await make_person(Role.STAFF)
    granted = await client.put(
        f"/api/v1/buildings/{building_id}/managers/{staff.id}", headers=admin.headers
    )
    assert granted.status == 200, await granted.text()
    assert await _audit_actions(client, str(staff.id), "users") == ["create"]
    grant = await _audit_actions(client, f"{building_id}:{staff.id}", "building_manager")
    assert grant == ["create"]


async def test_a_request_made_inside_the_expiry_lead_waits_until_its_start(
    client: TestClient, admin: Person, make_person: MakePerson
) -> None:
    """A request made 30 minutes before its start (inside the 60-minute lead) is not expired
    at once: it waits for a decision until it starts."""
    campus, _ = await campus_needing_approval(client, admin)
    staff = await make_person(Role.STAFF)
    request = await booked(client, staff, campus.room_101)
    assert client.app is not None
    async with client.app[DATABASE].write() as session:
        booking = await session.get(Booking, uuid.UUID(request["id"]))
        assert booking is not None
        booking.created_at = booking.start - timedelta(minutes=30)
        start = booking.start
    to_start = int((start - utcnow()).total_seconds() // 60)
    await expire_approval_requests(jobs(client, minutes_later=to_start - 20), {})
    still = await client.get(f"/api/v1/bookings/{request['id']}", headers=staff.headers)
    assert (await still.json())["status"] == "pending"
    await expire_approval_requests(jobs(client, minutes_later=to_start + 1), {})
    gone = await client.get(f"/api/v1/bookings/{request['id']}", headers=staff.headers)
    assert (await gone.json())["status"] == "expired"
