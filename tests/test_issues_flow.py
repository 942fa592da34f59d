"""Problem reports beyond one request, on both databases: who is mailed (through a real SMTP
server), a report pushed offline twice being one report, the count pulled with the room, and
the per-building report against figures worked out by hand."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from aiohttp.test_utils import TestClient
from sqlalchemy import func, select, update
from sqlmodel import col

from compax_server.keys import DATABASE
from compax_server.models import AuditEntry, Building, Room, RoomIssue
from compax_server.settings import Settings
from sync.permissions import Role
from tests.booking_helpers import make_campus
from tests.conftest import MakePerson, Person, make_settings
from tests.mail_support import SmtpServer
from tests.support import problem_of
from tests.test_issues import changed, report
from tests.test_notifications import deliveries, jobs
from tests.test_sync_server import push, register


@pytest.fixture
def smtp() -> Iterator[SmtpServer]:
    server = SmtpServer().start()
    yield server
    server.stop()


@pytest.fixture
def settings(database_url: str, tmp_path: Path, smtp: SmtpServer) -> Settings:
    mail = {"smtp_host": "127.0.0.1", "smtp_port": smtp.port, "smtp_security": "none"}
    return make_settings(database_url, tmp_path, mail_from="Compax <rooms@uni.edu.gh>", **mail)


async def _manage(client: TestClient, admin: Person, building: int, person: Person) -> None:
    response = await client.put(
        f"/api/v1/buildings/{building}/managers/{person.id}", headers=admin.headers
    )
    assert response.status == 200, await response.text()


async def run_mail(client: TestClient) -> None:
    await deliveries(jobs(client))


async def test_reports_assignments_and_status_changes_are_mailed(
    client: TestClient, admin: Person, make_person: MakePerson, smtp: SmtpServer
) -> None:
    await make_campus(client, admin)
    reporter = await make_person(Role.STUDENT, email="rep@uni.edu.gh")
    fixer = await make_person(Role.FACILITIES, email="fix@uni.edu.gh")
    pb = await make_person(Role.STAFF, email="pb@uni.edu.gh")
    eng = await make_person(Role.STAFF, email="eng@uni.edu.gh")
    await _manage(client, admin, 1, pb)
    await _manage(client, admin, 2, eng)
    issue = await report(client, reporter, room="PB/101", summary="Projector dead")
    await run_mail(client)
    assert sorted(m["To"] for m in smtp.inbox.mails) == ["fix@uni.edu.gh", "pb@uni.edu.gh"]
    assert smtp.inbox.mails[0]["Subject"] == "Problem reported: PB/101, Projector dead"

    smtp.inbox.mails.clear()
    assigned = await changed(client, fixer, issue, assignee=pb.user.username)
    await run_mail(client)
    assert [(m["To"], m["Subject"]) for m in smtp.inbox.mails] == [
        ("pb@uni.edu.gh", "Yours to see to: PB/101, Projector dead")
    ]

    smtp.inbox.mails.clear()
    await changed(client, pb, assigned, status="resolved", resolution="New lamp")
    await run_mail(client)
    [mail] = smtp.inbox.mails
    assert (mail["To"], mail["Subject"]) == ("rep@uni.edu.gh", "Your report is resolved: PB/101")
    assert "New lamp" in str(mail.get_body(("plain",)))


async def test_a_reporter_is_never_told_of_their_own_report_and_admins_stand_in(
    client: TestClient, admin: Person, make_person: MakePerson, smtp: SmtpServer
) -> None:
    """With no facilities staff and no manager, the admins are told; a facilities reporter
    is told nothing of their own report."""
    await make_campus(client, admin)
    await make_person(Role.ADMIN, email="boss@uni.edu.gh")
    staff = await make_person(Role.STAFF, email="staff@uni.edu.gh")
    await report(client, staff, room="ENG/1", summary="Cold")
    await run_mail(client)
    assert [m["To"] for m in smtp.inbox.mails] == ["boss@uni.edu.gh"]
    smtp.inbox.mails.clear()
    fixer = await make_person(Role.FACILITIES, email="fix@uni.edu.gh")
    await report(client, fixer, room="ENG/1", summary="Colder")
    await run_mail(client)
    assert smtp.inbox.mails == []


async def test_an_offline_report_pushed_twice_is_one_report(
    client: TestClient, admin: Person, make_person: MakePerson
) -> None:
    campus = await make_campus(client, admin)
    student = await make_person(Role.STUDENT)
    first_client = await register(client, student)
    chosen = str(uuid.uuid4())
    mutation = {
        "mid": 1,
        "op": "report_issue",
        "args": {"id": chosen, "room": "PB/102", "summary": "Broken chair"},
    }
    applied = await push(client, student, first_client, [mutation])
    assert applied["results"][0]["status"] == "applied", applied
    assert applied["results"][0]["id"] == chosen
    replay = await push(client, student, first_client, [mutation])
    assert replay["results"] == applied["results"]
    other_client = await register(client, student)
    again = await push(client, student, other_client, [mutation])
    assert again["results"][0]["status"] == "applied", again
    listed = await client.get("/api/v1/issues", headers=admin.headers)
    assert [i["id"] for i in (await listed.json())["items"]] == [chosen]
    bad = {"mid": 2, "op": "report_issue", "args": {"room": "PB/102", "summary": ""}}
    refused = await push(client, student, first_client, [bad])
    assert refused["results"][0]["status"] == "rejected"
    assert refused["results"][0]["problem"]["errors"][0]["field"] == "args.summary"
    room = await client.get(f"/api/v1/rooms/{campus.room_102}", headers=student.headers)
    assert (await room.json())["open_issues"] == 1


async def test_a_pull_after_a_report_carries_the_rooms_new_count(
    client: TestClient, admin: Person, make_person: MakePerson
) -> None:
    campus = await make_campus(client, admin)
    staff = await make_person(Role.STAFF)
    before = await client.get("/api/v1/sync/pull", headers=staff.headers)
    cursor = (await before.json())["cursor"]
    issue = await report(client, staff, room_id=campus.room_201, summary="Dark")
    after = await client.get(f"/api/v1/sync/pull?cursor={cursor}", headers=staff.headers)
    changes = (await after.json())["changes"]
    assert [(c["table"], c["row"]["id"], c["row"]["open_issues"]) for c in changes] == [
        ("rooms", campus.room_201, 1)
    ]
    cursor = (await after.json())["cursor"]
    await changed(client, admin, issue, assignee="root")
    quiet = await client.get(f"/api/v1/sync/pull?cursor={cursor}", headers=staff.headers)
    assert (await quiet.json())["changes"] == []
    await changed(client, admin, {**issue, "version": 2}, status="resolved", resolution="Bulb")
    resolved = await client.get(f"/api/v1/sync/pull?cursor={cursor}", headers=staff.headers)
    assert [c["row"]["open_issues"] for c in (await resolved.json())["changes"]] == [0]


async def _at(client: TestClient, issue_id: str, made: datetime, solved: datetime | None) -> None:
    app = client.app
    assert app is not None
    async with app[DATABASE].write() as session:
        await session.execute(
            update(RoomIssue)
            .where(col(RoomIssue.id) == uuid.UUID(issue_id))
            .values(created_at=made, resolved_at=solved)
        )


@pytest.fixture
def base() -> datetime:
    return datetime(2026, 3, 2, 8, tzinfo=UTC)


async def test_the_report_per_building_matches_figures_worked_by_hand(
    client: TestClient, admin: Person, make_person: MakePerson, base: datetime
) -> None:
    await make_campus(client, admin)
    staff = await make_person(Role.STAFF)
    pb_manager = await make_person(Role.STAFF)
    await _manage(client, admin, 1, pb_manager)
    hours = timedelta(hours=1)
    plan: list[tuple[str, str, datetime, datetime | None]] = [
        ("PB/101", "equipment", base, base + 2 * hours),  # resolved in range: 2 h
        ("PB/101", "power", base + hours, base + 6 * hours),  # resolved in range: 5 h
        ("PB/102", "equipment", base + 3 * hours, None),  # open
        ("PB/102", "other", base - 48 * hours, base + 9 * hours),  # made before; 57 h
        ("ENG/1", "climate", base + 5 * hours, None),  # in progress
        ("ENG/1", "climate", base + 30 * 24 * hours, None),  # after the range
    ]
    made: list[dict[str, Any]] = []
    for room, category, _, solved in plan:
        issue = await report(client, staff, room=room, summary="x", category=category)
        if solved is not None:
            issue = await changed(client, admin, issue, status="resolved", resolution="done")
        made.append(issue)
    await changed(client, admin, made[4], status="in_progress")
    for issue, (_, _, at, solved) in zip(made, plan, strict=True):
        await _at(client, issue["id"], at, solved)

    window = {"from": base.isoformat(), "to": (base + 24 * hours).isoformat()}
    response = await client.get("/api/v1/reports/issues", params=window, headers=admin.headers)
    assert response.status == 200, await response.text()
    figures = {b["building"]: b for b in (await response.json())["buildings"]}
    pb, eng = figures["PB"], figures["ENG"]
    assert (pb["reported"], pb["unresolved"], pb["resolved"]) == (3, 1, 3)
    assert {k: v for k, v in pb["by_category"].items() if v} == {"equipment": 2, "power": 1}
    assert pb["by_status"] == {"open": 1, "in_progress": 0, "resolved": 2}
    assert (pb["median_hours_to_resolve"], pb["mean_hours_to_resolve"]) == (5.0, 21.33)
    assert (eng["reported"], eng["unresolved"], eng["resolved"]) == (1, 1, 0)
    assert eng["by_status"]["in_progress"] == 1 and eng["median_hours_to_resolve"] is None

    mine = await client.get("/api/v1/reports/issues", params=window, headers=pb_manager.headers)
    assert [b["building"] for b in (await mine.json())["buildings"]] == ["PB"]
    other = await client.get(
        "/api/v1/reports/issues", params={**window, "building": "ENG"}, headers=pb_manager.headers
    )
    assert (await problem_of(other, 403))["building"] == "ENG"
    backwards = await client.get(
        "/api/v1/reports/issues",
        params={"from": window["to"], "to": window["from"]},
        headers=admin.headers,
    )
    assert (await problem_of(backwards, 422))["errors"][0]["field"] == "to"
    refused = await client.get("/api/v1/reports/issues", params=window, headers=staff.headers)
    forbidden = await problem_of(refused, 403)
    assert forbidden["detail"].startswith(
        "Your role (staff) may not summarise problem reports per building"
    ), forbidden["detail"]


async def test_import_is_idempotent_and_an_export_imports_unchanged(
    client: TestClient, admin: Person, make_person: MakePerson, tmp_path: Path
) -> None:
    await make_campus(client, admin)
    await make_person(Role.STAFF, username="rita")
    fixer = await make_person(Role.FACILITIES, username="fred")
    pb_manager = await make_person(Role.STAFF, username="pbman")
    await _manage(client, admin, 1, pb_manager)
    rows = [
        {
            "external_id": "HD-1",
            "room": "pb/101",
            "category": "equipment",
            "summary": "Projector",
            "status": "resolved",
            "resolution": "Lamp",
            "reporter": "rita",
            "assignee": "fred",
            "created_at": "2026-03-02T08:00:00+00:00",
            "resolved_at": "2026-03-02T10:30:00+00:00",
        },
        {"external_id": "HD-2", "room": "ENG/1", "summary": "Hot", "assignee": "pbman"},
        {"external_id": "HD-3", "room": "PB/999", "summary": "x"},
        {"room": "PB/101", "summary": "no key"},
        {"external_id": "HD-4", "room": "PB/102", "summary": "x", "status": "resolved"},
        {"external_id": "HD-5", "room": "PB/102", "summary": "Chairs", "assignee": "pbman"},
        {
            "external_id": "HD-6",
            "room": "PB/102",
            "summary": "Resolved before it was made",
            "status": "resolved",
            "resolution": "Time travel",
            "created_at": "2026-03-02T08:00:00+00:00",
            "resolved_at": "2026-03-01T08:00:00+00:00",
        },
        {
            "external_id": "HD-7",
            "room": "PB/102",
            "summary": "Made now, resolved last year",
            "status": "resolved",
            "resolution": "Time travel",
            "resolved_at": "2025-03-01T08:00:00+00:00",
        },
    ]

    async def bulk(person: Person, body: list[dict[str, Any]], dry: bool = False) -> Any:
        response = await client.post(
            f"/api/v1/issues:bulk{'?dry_run=true' if dry else ''}",
            json={"rows": body},
            headers=person.headers,
        )
        assert response.status == 200, await response.text()
        return await response.json()

    dry = await bulk(fixer, rows, dry=True)
    assert dry["dry_run"] is True and dry["summary"]["created"] == 2
    assert (await client.get("/api/v1/issues", headers=admin.headers)).status == 200
    first = await bulk(fixer, rows)
    outcome = [(r["status"], [e["field"] for e in r["errors"]]) for r in first["results"]]
    assert outcome == [
        ("created", []),
        ("rejected", ["assignee"]),
        ("rejected", ["room"]),
        ("rejected", ["external_id"]),
        ("rejected", ["resolution"]),
        ("created", []),
        ("rejected", ["resolved_at"]),
        ("rejected", ["resolved_at"]),
    ]
    again = await bulk(fixer, [rows[0], rows[5]])
    assert [r["status"] for r in again["results"]] == ["unchanged", "unchanged"]
    changed_row = {**rows[5], "summary": "Broken chairs"}
    assert (await bulk(admin, [changed_row]))["results"][0]["status"] == "updated"
    refused = await client.post(
        "/api/v1/issues:bulk", json={"rows": rows[:1]}, headers=pb_manager.headers
    )
    await problem_of(refused, 403)

    listed = await client.get("/api/v1/issues", headers=admin.headers)
    exported = (await listed.json())["items"]
    made = {item["external_id"]: item for item in exported}
    assert made["HD-1"]["reporter"] == "rita" and made["HD-1"]["resolved_at"].startswith(
        "2026-03-02T10:30"
    )
    assert made["HD-5"]["version"] == 2
    columns = (
        "id", "external_id", "room", "category", "summary", "details", "status", "reporter",
        "assignee", "created_at", "resolved_at", "resolution",
    )  # fmt: skip
    back = [{k: item[k] for k in columns if item[k] is not None} for item in exported]
    reimported = await bulk(admin, back)
    assert [r["status"] for r in reimported["results"]] == ["unchanged", "unchanged"]
    app = client.app
    assert app is not None
    async with app[DATABASE].read() as session:
        entries = (
            (
                await session.execute(
                    select(AuditEntry).where(
                        col(AuditEntry.record_type) == "issues", col(AuditEntry.action) == "import"
                    )
                )
            )
            .scalars()
            .all()
        )
    assert len(entries) == 4  # the dry run's was rolled back with it


async def _counts_match_reports(client: TestClient) -> dict[str, int]:
    """Every room's kept count of unresolved reports, checked against the reports themselves;
    by room label."""
    app = client.app
    assert app is not None
    async with app[DATABASE].read() as session:
        kept = dict((await session.execute(select(Room.id, Room.open_issues))).all())
        counted = dict(
            (
                await session.execute(
                    select(RoomIssue.room_id, func.count())
                    .where(col(RoomIssue.status).in_(["open", "in_progress"]))
                    .group_by(col(RoomIssue.room_id))
                )
            ).all()
        )
        labels = dict(
            (
                await session.execute(
                    select(Room.id, Building.code + "/" + Room.code).join(
                        Building, col(Building.id) == col(Room.building_id)
                    )
                )
            ).all()
        )
    assert kept == {room: counted.get(room, 0) for room in kept}
    return {labels[room]: count for room, count in kept.items() if count}


async def test_a_rooms_count_of_unresolved_reports_follows_every_path(
    client: TestClient, admin: Person, make_person: MakePerson
) -> None:
    """Reported, moved between rooms and resolved by import, reopened and resolved by hand:
    each room's count is always its unresolved reports."""
    await make_campus(client, admin)
    fixer = await make_person(Role.FACILITIES, username="fred")

    async def imported(row: dict[str, Any]) -> str:
        response = await client.post(
            "/api/v1/issues:bulk", json={"rows": [row]}, headers=fixer.headers
        )
        assert response.status == 200, await response.text()
        return str((await response.json())["results"][0]["status"])

    made = await report(client, admin, room="PB/101", summary="Flicker")
    assert await _counts_match_reports(client) == {"PB/101": 1}
    row = {"external_id": "HD-9", "room": "PB/101", "summary": "Hot"}
    assert await imported(row) == "created"
    assert await _counts_match_reports(client) == {"PB/101": 2}
    assert await imported({**row, "room": "PB/102"}) == "updated"
    assert await _counts_match_reports(client) == {"PB/101": 1, "PB/102": 1}
    resolved = {**row, "room": "PB/102", "status": "resolved", "resolution": "Fan"}
    assert await imported(resolved) == "updated"
    assert await _counts_match_reports(client) == {"PB/101": 1}
    made = await changed(client, fixer, made, status="resolved", resolution="Bulb")
    assert await _counts_match_reports(client) == {}
    await changed(client, admin, made, status="open")
    assert await _counts_match_reports(client) == {"PB/101": 1}
