"""A pull's bookings are JSON built by the database: the same text, for every viewer, as the
Python rules of ``booking_fields`` give, and a page that stays valid JSON whatever the rows
hold (quotes, backslashes, control characters, any Unicode, nulls)."""

from __future__ import annotations

import json
import uuid
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

from aiohttp.test_utils import TestClient
from pydantic_core import to_json

from compax_server.keys import DATABASE
from compax_server.models import Booking
from compax_server.services import sync
from compax_server.services.booking_views import Viewer, booking_fields, labelled_bookings
from sync.engine import Engine
from sync.permissions import Role
from sync.protocol import PullResponse
from tests.booking_helpers import make_campus, next_weekday
from tests.conftest import MakePerson, Person
from tests.test_sync_client import signed_in

#: Texts that JSON must escape, or that are easy to get wrong.
AWKWARD = [
    'Say "hi"',
    "back\\slash and /slash",
    "line\nbreak\ttab\rreturn\x08\x0c",
    "control \x01\x1f and delete \x7f",
    "Café, Ελληνικά, 日本語, emoji 🎓, separators \u2028\u2029",
    "</script><!-- &amp; ' -->",
]


async def _bookings(client: TestClient, owners: list[Person], room_id: int) -> None:
    """Bookings of each owner: private and not, awkward titles and notes, instants with and
    without microseconds, one cancelled, and a series' occurrences."""
    day = datetime.combine(next_weekday(0), datetime.min.time(), tzinfo=UTC)
    rows = []
    for index, text in enumerate(AWKWARD * len(owners)):
        owner = owners[index % len(owners)]
        start = day + timedelta(hours=index, microseconds=0 if index % 2 else 123_000)
        rows.append(
            Booking(
                room_id=room_id,
                start=start,
                end=start + timedelta(minutes=45),
                title=text,
                purpose="meeting",
                attendees=index,
                private=index % 3 == 0,
                notes=text[::-1],
                owner_id=owner.id,
                status="cancelled" if index == 4 else "confirmed",
                created_at=start - timedelta(days=1, microseconds=5),
                updated_at=start - timedelta(days=1),
            )
        )
    async with client.app[DATABASE].write() as session:
        session.add_all(rows)
    series = await client.post(
        "/api/v1/series",
        json={
            "room_id": room_id,
            "title": 'Weekly "review" 🎓',
            "weekdays": ["tue"],
            "first_day": str(next_weekday(1)),
            "last_day": str(next_weekday(1) + timedelta(days=14)),
            "start_time": "10:00",
            "end_time": "11:00",
            "private": True,
            "notes": "Room key at the desk",
        },
        headers=owners[0].headers,
    )
    assert series.status == 201, await series.text()


async def _expected(client: TestClient, viewer: Person) -> dict[str, str]:
    """Each booking's change as the Python rules build it (``booking_fields``, as REST views
    use them), by id."""
    reader = Viewer.of(viewer.user)
    async with client.app[DATABASE].read() as session:
        rows = (await session.execute(labelled_bookings())).all()
    return {
        str(booking.id): to_json(
            {
                "op": "put",
                "table": "bookings",
                "row": booking_fields(booking, f"{building}/{room}", owner, reader),
            }
        ).decode()
        for booking, building, room, owner in rows
    }


async def test_the_database_writes_each_booking_as_the_python_rules_would(
    client: TestClient, admin: Person, make_person: MakePerson
) -> None:
    campus = await make_campus(client, admin)
    staff, rep = await make_person(Role.STAFF), await make_person(Role.CLASS_REP)
    student, officer = await make_person(Role.STUDENT), await make_person(Role.EXAMS_OFFICER)
    await _bookings(client, [staff, rep, student], campus.room_101)

    for viewer in (admin, officer, staff, rep, student):
        page = await sync.pull_page(client.app[DATABASE], viewer.user, 0, 5000, None)
        got = {
            json.loads(change)["row"]["id"]: change
            for change in page.changes
            if json.loads(change)["table"] == "bookings"
        }
        expected = await _expected(client, viewer)
        assert len(got) == len(AWKWARD) * 3 + 3
        assert got == expected, viewer.user.role
        assert PullResponse.model_validate_json(page.to_json()).changes[-1]["row"] is not None


async def test_a_pulled_page_is_valid_json_and_its_rows_reach_the_replica_as_sent(
    client: TestClient,
    admin: Person,
    make_person: MakePerson,
    engines: Callable[[str], Engine],
) -> None:
    campus = await make_campus(client, admin)
    staff, other = await make_person(Role.STAFF), await make_person(Role.STAFF)
    await _bookings(client, [staff, other], campus.room_101)

    response = await client.get("/api/v1/sync/pull?cursor=0&limit=5000", headers=other.headers)
    assert response.status == 200
    assert response.content_type == "application/json"
    body = await response.read()
    page = json.loads(body)
    assert PullResponse.model_validate_json(body).model_dump(mode="json") == page
    assert [page["has_more"], page["reset"], page["last_mutation_id"]] == [False, False, None]
    rows = {c["row"]["id"]: c["row"] for c in page["changes"] if c["table"] == "bookings"}
    titles = {row["title"] for row in rows.values()}
    assert set(AWKWARD) - titles, "others' private titles are hidden"
    assert None in titles

    engine: Engine = await signed_in(client, engines, other)
    with engine.replica.read() as db:
        stored = {
            booking_id: json.loads(row)
            for booking_id, row in db.execute("SELECT id, row FROM bookings")
        }
    assert stored == rows
    own = [row for row in rows.values() if row["owner_id"] == other.id]
    assert own and all(row["notes"] == row["title"][::-1] for row in own)
    assert all(uuid.UUID(booking_id) for booking_id in stored)
