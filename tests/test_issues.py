"""Problem reports on both databases: reporting, who sees what, every status change and who
may make it, assignment, a room's open reports in the room and free-room answers, and the
audit trail."""

from __future__ import annotations

import asyncio
import base64
import uuid
from dataclasses import dataclass
from typing import Any

import pytest
from aiohttp.test_utils import TestClient
from sqlalchemy import select
from sqlmodel import col

from compax_server.keys import DATABASE
from compax_server.models import AuditEntry
from sync.permissions import Role
from tests.booking_helpers import Campus, at, book, make_campus, next_weekday
from tests.conftest import MakePerson, Person
from tests.support import problem_of, with_version


@dataclass
class People:
    admin: Person
    reporter: Person
    student: Person
    facilities: Person
    manager: Person
    other_manager: Person


@pytest.fixture
async def campus(client: TestClient, admin: Person) -> Campus:
    return await make_campus(client, admin)


@pytest.fixture
async def people(
    client: TestClient, admin: Person, make_person: MakePerson, campus: Campus
) -> People:
    """A reporter, another student, facilities staff, PB's manager and ENG's manager."""
    found = People(
        admin,
        await make_person(Role.STAFF, username="rita"),
        await make_person(Role.STUDENT, username="sam"),
        await make_person(Role.FACILITIES, username="fred"),
        await make_person(Role.STAFF, username="pbman"),
        await make_person(Role.STAFF, username="engman"),
    )
    for building, person in ((1, found.manager), (2, found.other_manager)):
        response = await client.put(
            f"/api/v1/buildings/{building}/managers/{person.id}", headers=admin.headers
        )
        assert response.status == 200, await response.text()
    return found


async def report(
    client: TestClient, person: Person, status: int = 201, **body: Any
) -> dict[str, Any]:
    response = await client.post("/api/v1/issues", json=body, headers=person.headers)
    assert response.status == status, await response.text()
    answer: dict[str, Any] = await response.json()
    return answer


async def patch(client: TestClient, person: Person, issue: dict[str, Any], **body: Any) -> Any:
    return await client.patch(
        f"/api/v1/issues/{issue['id']}",
        json=body,
        headers=with_version(person.headers, issue["version"]),
    )


async def changed(
    client: TestClient, person: Person, issue: dict[str, Any], **body: Any
) -> dict[str, Any]:
    response = await patch(client, person, issue, **body)
    assert response.status == 200, await response.text()
    answer: dict[str, Any] = await response.json()
    return answer


async def listed(client: TestClient, person: Person, **query: Any) -> list[str]:
    response = await client.get("/api/v1/issues", params=query, headers=person.headers)
    assert response.status == 200, await response.text()
    return [item["summary"] for item in (await response.json())["items"]]


def forged(text: str) -> str:
    """A cursor as the server writes them, holding ``text``."""
    return base64.urlsafe_b64encode(text.encode()).decode().rstrip("=")


async def test_a_report_is_made_by_label_or_id_and_sent_twice_is_one(
    client: TestClient, campus: Campus, people: People
) -> None:
    made = await report(
        client, people.student, room="pb/101", summary=" Projector dead ", category="equipment"
    )
    assert made["room"] == "PB/101" and made["room_id"] == campus.room_101
    assert (made["summary"], made["status"], made["reporter"]) == ("Projector dead", "open", "sam")
    assert made["assignee"] is None and made["resolved_at"] is None
    chosen = str(uuid.uuid4())
    first = await report(client, people.reporter, id=chosen, room_id=campus.eng_1, summary="Hot")
    again = await report(
        client, people.reporter, 200, id=chosen, room_id=campus.eng_1, summary="Hot"
    )
    assert again == first and first["category"] == "other"
    taken = await client.post(
        "/api/v1/issues",
        json={"id": chosen, "room_id": campus.eng_1, "summary": "Hot"},
        headers=people.student.headers,
    )
    assert (await problem_of(taken, 409))["type"] == "duplicate"


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"summary": "x"}, "room"),
        ({"room": None, "room_id": None, "summary": "x"}, "room"),
        ({"room": "PB/101", "room_id": 1, "summary": "x"}, "room"),
        ({"room": "PB101", "summary": "x"}, "room"),
        ({"room": "PB/999", "summary": "x"}, "room"),
        ({"room_id": 999, "summary": "x"}, "room_id"),
        ({"room": "PB/101", "summary": "  "}, "summary"),
        ({"room": "PB/101", "summary": "x" * 201}, "summary"),
        ({"room": "PB/101", "summary": "x", "details": "x" * 2001}, "details"),
        ({"room": "PB/101", "summary": "x", "category": "ghosts"}, "category"),
        ({"room": "PB/101", "summary": "x", "booking_id": str(uuid.uuid4())}, "booking_id"),
    ],
)
async def test_bad_reports_name_the_field_and_change_nothing(
    client: TestClient, campus: Campus, people: People, body: dict[str, Any], field: str
) -> None:
    response = await client.post("/api/v1/issues", json=body, headers=people.student.headers)
    problem = await problem_of(response, 422)
    assert field in [error["field"] for error in problem["errors"]], problem
    assert await listed(client, people.admin) == []


async def test_the_booking_named_must_be_the_reporters_and_in_that_room(
    client: TestClient, campus: Campus, people: People
) -> None:
    day = next_weekday(1)
    response = await book(client, people.reporter, campus.room_101, at(day, 9), at(day, 10))
    assert response.status == 201, await response.text()
    booking = (await response.json())["id"]
    made = await report(client, people.reporter, room="PB/101", summary="No", booking_id=booking)
    assert made["booking_id"] == booking
    await report(client, people.facilities, room="PB/101", summary="Seen", booking_id=booking)
    elsewhere = await client.post(
        "/api/v1/issues",
        json={"room": "PB/102", "summary": "x", "booking_id": booking},
        headers=people.reporter.headers,
    )
    assert "another room" in (await problem_of(elsewhere, 422))["detail"]
    not_mine = await client.post(
        "/api/v1/issues",
        json={"room": "PB/101", "summary": "x", "booking_id": booking},
        headers=people.student.headers,
    )
    assert (await problem_of(not_mine, 422))["errors"][0]["field"] == "booking_id"


async def test_who_sees_which_reports(client: TestClient, campus: Campus, people: People) -> None:
    pb = await report(client, people.reporter, room="PB/101", summary="pb")
    await report(client, people.student, room="ENG/1", summary="eng")
    assert await listed(client, people.reporter) == ["pb"]
    assert await listed(client, people.student) == ["eng"]
    assert await listed(client, people.facilities) == ["eng", "pb"]
    assert await listed(client, people.admin) == ["eng", "pb"]
    assert await listed(client, people.manager) == ["pb"]
    assert await listed(client, people.other_manager) == ["eng"]
    for person, status in (
        (people.reporter, 200),
        (people.manager, 200),
        (people.facilities, 200),
        (people.student, 403),
        (people.other_manager, 403),
    ):
        response = await client.get(f"/api/v1/issues/{pb['id']}", headers=person.headers)
        assert response.status == status, (person.user.username, await response.text())
    unknown = await client.get(f"/api/v1/issues/{uuid.uuid4()}", headers=people.admin.headers)
    await problem_of(unknown, 404)
    garbled = await client.get("/api/v1/issues/nope", headers=people.admin.headers)
    await problem_of(garbled, 404)
    room = await client.get(
        f"/api/v1/rooms/{campus.room_101}/issues", headers=people.student.headers
    )
    assert room.status == 200
    briefs = await room.json()
    assert [(b["summary"], b["status"]) for b in briefs] == [("pb", "open")]
    assert "reporter" not in briefs[0]


async def test_filters_and_paging(client: TestClient, campus: Campus, people: People) -> None:
    for number in range(5):
        await report(
            client,
            people.reporter,
            room="PB/101" if number % 2 else "ENG/1",
            summary=f"n{number}",
            category="power" if number == 4 else "other",
        )
    assert await listed(client, people.admin, building="pb") == ["n3", "n1"]
    assert await listed(client, people.admin, category="power") == ["n4"]
    assert await listed(client, people.admin, room_id=campus.room_101) == ["n3", "n1"]
    assert await listed(client, people.admin, reporter="rita") == ["n4", "n3", "n2", "n1", "n0"]
    assert await listed(client, people.admin, reporter="me") == []
    assert await listed(client, people.admin, assignee="me") == []
    # One who sees only their own reports learns nothing of who exists from the filters: a
    # name of nobody matches nothing, as another user's name does.
    for name in ("rita", "nobody"):
        assert await listed(client, people.student, reporter=name) == []
        assert await listed(client, people.student, assignee=name) == []
    assert await listed(client, people.reporter, reporter="rita") == [
        "n4", "n3", "n2", "n1", "n0"
    ]  # fmt: skip
    seen: list[str] = []
    cursor = None
    while True:
        params: dict[str, Any] = {"limit": 2, **({"cursor": cursor} if cursor else {})}
        response = await client.get("/api/v1/issues", params=params, headers=people.admin.headers)
        page = await response.json()
        seen += [item["summary"] for item in page["items"]]
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert seen == ["n4", "n3", "n2", "n1", "n0"]
    for query, field in (
        ({"status": "lost"}, "status"),
        ({"assignee": "nobody"}, "assignee"),
        ({"cursor": "zzz"}, "cursor"),
        ({"cursor": forged(f"issue:0001-01-01T00:00:00+14:00|{uuid.uuid4()}")}, "cursor"),
        ({"cursor": forged(f"issue:9999-12-31T23:59:59-14:00|{uuid.uuid4()}")}, "cursor"),
        ({"cursor": forged(f"issue:2026-01-01T00:00:00|{uuid.uuid4()}")}, "cursor"),
        ({"from": "2026-01-02T00:00:00Z", "to": "2026-01-01T00:00:00Z"}, "to"),
    ):
        response = await client.get("/api/v1/issues", params=query, headers=people.admin.headers)
        problem = await problem_of(response, 422)
        assert field in [error["field"] for error in problem["errors"]], problem


async def test_status_moves_and_who_may_move_them(
    client: TestClient, campus: Campus, people: People
) -> None:
    issue = await report(client, people.reporter, room="PB/101", summary="Dirty")
    for person in (people.reporter, people.student, people.other_manager):
        response = await patch(client, person, issue, status="in_progress")
        await problem_of(response, 403)
    started = await changed(client, people.manager, issue, status="in_progress")
    assert (started["status"], started["version"]) == ("in_progress", 2)
    stale = await patch(client, people.manager, issue, status="open")
    assert (await problem_of(stale, 412))["type"] == "stale-version"
    missing = await client.patch(
        f"/api/v1/issues/{issue['id']}", json={"status": "open"}, headers=people.manager.headers
    )
    await problem_of(missing, 428)
    no_note = await patch(client, people.facilities, started, status="resolved")
    assert (await problem_of(no_note, 422))["errors"][0]["field"] == "resolution"
    early = await patch(client, people.reporter, started, status="open")
    assert (await problem_of(early, 422))["errors"][0]["field"] == "status"
    done = await changed(
        client, people.facilities, started, status="resolved", resolution="Cleaned"
    )
    assert done["resolution"] == "Cleaned" and done["resolved_at"] is not None
    # Sent with the status it already has, a new resolution is still taken, and an empty one
    # is still refused.
    reworded = await changed(
        client, people.facilities, done, status="resolved", resolution="Cleaned twice"
    )
    assert (reworded["resolution"], reworded["version"]) == ("Cleaned twice", done["version"] + 1)
    emptied = await patch(client, people.facilities, reworded, status="resolved", resolution="")
    assert (await problem_of(emptied, 422))["errors"][0]["field"] == "resolution"
    done = reworded
    back = await patch(client, people.manager, done, status="in_progress")
    assert (await problem_of(back, 422))["errors"][0]["field"] == "status"
    more = await patch(client, people.reporter, done, status="open", resolution="x")
    await problem_of(more, 403)
    reopened = await changed(client, people.reporter, done, status="open")
    assert (reopened["status"], reopened["resolved_at"], reopened["resolution"]) == (
        "open",
        None,
        "",
    )
    straight = await changed(client, people.admin, reopened, status="resolved", resolution="Ok")
    assert straight["status"] == "resolved"
    same = await changed(client, people.admin, straight, resolution="Ok")
    assert same["version"] == straight["version"]


async def test_assignment_needs_someone_who_sees_to_the_building(
    client: TestClient, make_person: MakePerson, campus: Campus, people: People
) -> None:
    issue = await report(client, people.reporter, room="PB/101", summary="Wobbly desk")
    for who in ("sam", "engman", "nobody", 9999, 10**12, "", True):
        response = await patch(client, people.facilities, issue, assignee=who)
        problem = await problem_of(response, 422)
        assert problem["errors"][0]["field"] == "assignee", problem
    retired = await make_person(Role.FACILITIES, username="gone", active=False)
    response = await patch(client, people.facilities, issue, assignee=retired.user.username)
    await problem_of(response, 422)
    to_manager = await changed(client, people.facilities, issue, assignee="pbman")
    assert to_manager["assignee"] == "pbman"
    to_admin = await changed(client, people.manager, to_manager, assignee=people.admin.id)
    assert to_admin["assignee"] == "root"
    mine = await changed(client, people.facilities, to_admin, assignee="fred")
    assert await listed(client, people.facilities, assignee="me") == ["Wobbly desk"]
    nobody = await changed(client, people.facilities, mine, assignee=None)
    assert nobody["assignee"] is None


async def test_rooms_and_free_rooms_count_unresolved_reports(
    client: TestClient, campus: Campus, people: People
) -> None:
    await report(client, people.reporter, room="PB/101", summary="a")
    second = await report(client, people.reporter, room="PB/101", summary="b")
    await changed(client, people.admin, second, status="resolved", resolution="fixed")
    await report(client, people.reporter, room="PB/102", summary="c")

    rooms = await (await client.get("/api/v1/rooms", headers=people.student.headers)).json()
    counts = {room["id"]: room["open_issues"] for room in rooms["items"]}
    assert counts[campus.room_101] == 1 and counts[campus.room_102] == 1
    assert counts[campus.room_201] == 0
    one = await (
        await client.get(f"/api/v1/rooms/{campus.room_101}", headers=people.student.headers)
    ).json()
    assert one["open_issues"] == 1
    day = next_weekday(1)
    for order in ({}, {"sort": "rating"}):
        free = await client.get(
            "/api/v1/rooms/free",
            params={"start": at(day, 9), "end": at(day, 10), **order},
            headers=people.student.headers,
        )
        assert free.status == 200, await free.text()
        counts = {room["id"]: room["open_issues"] for room in (await free.json())["items"]}
        assert counts[campus.room_101] == 1 and counts[campus.eng_1] == 0, order


async def test_every_write_is_audited_in_the_rooms_building(
    client: TestClient, campus: Campus, people: People
) -> None:
    issue = await report(client, people.reporter, room="ENG/1", summary="Socket sparks")
    await changed(client, people.facilities, issue, status="in_progress")
    app = client.app
    assert app is not None
    async with app[DATABASE].read() as session:
        entries = (
            (
                await session.execute(
                    select(AuditEntry)
                    .where(col(AuditEntry.record_type) == "issues")
                    .order_by(col(AuditEntry.id))
                )
            )
            .scalars()
            .all()
        )
    assert [(e.action, e.actor_id, e.building_id, e.record_id) for e in entries] == [
        ("create", people.reporter.id, 2, issue["id"]),
        ("update", people.facilities.id, 2, issue["id"]),
    ]
    trail = await client.get(
        "/api/v1/audit", params={"record_type": "issues"}, headers=people.other_manager.headers
    )
    assert trail.status == 200, await trail.text()
    assert len((await trail.json())["items"]) == 2


async def test_a_report_sent_several_times_at_once_is_one_report(
    client: TestClient, campus: Campus, people: People
) -> None:
    chosen = str(uuid.uuid4())
    body = {"id": chosen, "room_id": campus.room_201, "summary": "Door jammed"}
    answers = await asyncio.gather(
        *(
            client.post("/api/v1/issues", json=body, headers=people.reporter.headers)
            for _ in range(5)
        )
    )
    assert sorted(answer.status for answer in answers) == [200, 200, 200, 200, 201]
    assert await listed(client, people.admin) == ["Door jammed"]
