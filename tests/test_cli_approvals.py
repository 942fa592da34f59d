"""``compax approvals`` against the test server: listing the queue (paged), approving,
rejecting with a reason, deciding a series, and the errors said plainly."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

from aiohttp.test_utils import TestClient

from compax_cli.output import REFUSED, USAGE
from sync.permissions import Role
from tests.booking_helpers import at, book, next_weekday
from tests.conftest import MakePerson, Person
from tests.test_approvals import campus_needing_approval
from tests.test_cli import Cli
from tests.test_cli_waitlist import signed_in

MONDAY = next_weekday(0)


async def test_list_approve_and_reject(
    client: TestClient, admin: Person, make_person: MakePerson, tmp_path: Path
) -> None:
    campus, _ = await campus_needing_approval(client, admin)
    staff = await make_person(Role.STAFF)
    made = []
    for hour in (9, 11, 14):
        response = await book(
            client, staff, campus.room_101, at(MONDAY, hour), at(MONDAY, hour + 1)
        )
        made.append((await response.json())["id"])
    cli = Cli(tmp_path / "cli")
    await signed_in(client, cli, admin)

    first_page = await cli("approvals", "list", "--limit", "2")
    assert first_page.exit_code == 0, first_page.output
    assert "compax approvals list --cursor" in first_page.stderr
    listed = await cli.json("approvals", "list", "--building", "pb")
    assert [item["id"] for item in listed] == made

    approved = await cli.json("approvals", "approve", made[0], "--reason", "fine")
    assert [(b["id"], b["status"]) for b in approved] == [(made[0], "confirmed")]
    no_reason = await cli("approvals", "reject", made[1])
    assert no_reason.exit_code == USAGE, no_reason.output
    assert "reason" in no_reason.stderr
    rejected = await cli.json("approvals", "reject", made[1], "--reason", "Exams")
    assert [(b["status"], b["decision_reason"]) for b in rejected] == [("rejected", "Exams")]
    again = await cli("approvals", "approve", made[1])
    assert again.exit_code == REFUSED
    assert "not-pending" in again.stderr or "not waiting" in again.stderr


async def test_a_series_is_decided_whole_and_requesters_cannot_decide(
    client: TestClient, admin: Person, make_person: MakePerson, tmp_path: Path
) -> None:
    campus, _ = await campus_needing_approval(client, admin)
    rep = await make_person(Role.CLASS_REP)
    response = await client.post(
        "/api/v1/series",
        json={
            "room_id": campus.room_101,
            "title": "MATH 101",
            "weekdays": ["mon"],
            "first_day": str(MONDAY),
            "last_day": str(MONDAY + timedelta(days=14)),
            "start_time": "10:00",
            "end_time": "11:00",
        },
        headers=rep.headers,
    )
    series_id = (await response.json())["series"]["id"]
    cli = Cli(tmp_path / "rep")
    await signed_in(client, cli, rep)
    refused = await cli("approvals", "list")
    assert refused.exit_code == REFUSED
    assert "may not" in refused.stderr

    admin_cli = Cli(tmp_path / "admin")
    await signed_in(client, admin_cli, admin)
    decided = await admin_cli.json("approvals", "approve", series_id, "--series")
    assert [b["status"] for b in decided] == ["confirmed"] * 3


async def test_compax_book_shows_a_request_pending_approval(
    client: TestClient, admin: Person, make_person: MakePerson, tmp_path: Path
) -> None:
    await campus_needing_approval(client, admin)
    staff = await make_person(Role.STAFF)
    cli = Cli(tmp_path / "cli")
    await signed_in(client, cli, staff)
    at_ten = f"{MONDAY.isoformat()} 10:00"
    offline = await cli("book", "PB/101", "--at", at_ten, "--for", "1h", "--title", "Seminar")
    assert offline.exit_code == 0, offline.output
    assert "pending approval (not synced)" in offline.stdout
    assert (await cli("sync")).exit_code == 0
    listed = await cli("bookings", "list")
    assert "pending approval" in listed.stdout and "not synced" not in listed.stdout
