"""``compax issues`` against the test server: a report queued and shown pending until a sync,
sent at once with --sync, seen to by facilities staff (assign, start, resolve), reopened by its
reporter, the per-building summary, and the errors said plainly."""

from __future__ import annotations

from pathlib import Path

from aiohttp.test_utils import TestClient

from compax_cli.output import REFUSED, USAGE
from sync.permissions import Role
from tests.booking_helpers import make_campus
from tests.conftest import MakePerson, Person
from tests.test_cli import Cli
from tests.test_cli_waitlist import signed_in


async def test_report_offline_then_see_to_it(
    client: TestClient, admin: Person, make_person: MakePerson, tmp_path: Path
) -> None:
    await make_campus(client, admin)
    student = await make_person(Role.STUDENT)
    fixer = await make_person(Role.FACILITIES, username="fred")
    cli = Cli(tmp_path / "student")
    await signed_in(client, cli, student)

    queued = await cli.json(
        "issues", "report", "pb/101", "Projector dead", "--category", "equipment"
    )
    assert (queued["room"], queued["pending"], queued["category"]) == (
        "PB/101",
        True,
        "equipment",
    )
    [pending] = await cli.json("issues", "list", "--mine")
    assert pending["id"] == queued["id"] and pending["pending"] is True
    table = await cli("issues", "list", "--mine")
    assert "pending" in table.stdout
    synced = await cli("sync")
    assert synced.exit_code == 0, synced.output
    [sent] = await cli.json("issues", "list", "--mine")
    assert sent["id"] == queued["id"] and "pending" not in sent
    assert sent["reporter"] == student.user.username
    assert (await cli.json("rooms", "show", "PB/101"))["open_issues"] == 1
    shown = await cli("rooms", "show", "PB/101")
    assert "issues" in shown.stdout and "⚠1" in shown.stdout, shown.stdout

    staff_cli = Cli(tmp_path / "fred")
    await signed_in(client, staff_cli, fixer)
    mine = await staff_cli.json("issues", "assign", queued["id"], "me")
    assert mine["assignee"] == "fred"
    assert [i["id"] for i in await staff_cli.json("issues", "list", "--assigned-to-me")] == [
        queued["id"]
    ]
    started = await staff_cli.json("issues", "start", queued["id"])
    assert started["status"] == "in_progress"
    listed = await staff_cli("issues", "list")
    assert "in progress" in listed.stdout, "the table speaks words, --json the value"
    no_note = await staff_cli("issues", "resolve", queued["id"])
    assert no_note.exit_code == USAGE, no_note.output
    blank = await staff_cli("issues", "resolve", queued["id"], "--note", " ")
    assert blank.exit_code == USAGE and "resolution" in blank.stderr, blank.output
    done = await staff_cli.json("issues", "resolve", queued["id"], "--note", "New lamp")
    assert (done["status"], done["resolution"]) == ("resolved", "New lamp")
    assert await staff_cli.json("issues", "list") == []
    assert len(await staff_cli.json("issues", "list", "--all")) == 1

    refused = await cli("issues", "start", queued["id"])
    assert refused.exit_code == REFUSED and "reopen" in refused.stderr, refused.output
    reopened = await cli.json("issues", "reopen", queued["id"])
    assert reopened["status"] == "open"
    shown = await staff_cli.json("issues", "show", queued["id"])
    assert shown["status"] == "open" and shown["resolution"] == ""

    figures = await staff_cli.json(
        "issues", "summary", "--from", "2026-01-01 00:00", "--to", "2099-01-01T00:00:00Z"
    )
    assert [(b["building"], b["reported"], b["unresolved"]) for b in figures["buildings"]] == [
        ("PB", 1, 1)
    ]
    student_figures = await cli("issues", "summary", "--from", "2026-01-01T00:00:00Z", "--to", "x")
    assert student_figures.exit_code == USAGE and "to" in student_figures.stderr


async def test_a_report_sent_at_once_and_bad_input_named(
    client: TestClient, admin: Person, make_person: MakePerson, tmp_path: Path
) -> None:
    campus = await make_campus(client, admin)
    staff = await make_person(Role.STAFF)
    cli = Cli(tmp_path / "staff")
    await signed_in(client, cli, staff)
    sent = await cli.json("issues", "report", str(campus.eng_1), "Too hot", "--sync")
    assert sent["room_id"] == campus.eng_1
    room = await client.get(f"/api/v1/rooms/{campus.eng_1}/issues", headers=staff.headers)
    assert [b["summary"] for b in await room.json()] == ["Too hot"]
    long = await cli("issues", "report", "PB/101", "x" * 201)
    assert long.exit_code == USAGE and "summary" in long.stderr, long.output
    unslashed = await cli("issues", "report", "PB101", "Dirty")
    assert unslashed.exit_code == USAGE and "room" in unslashed.stderr, unslashed.output
    nowhere = await cli("issues", "report", "PB/999", "Dirty")
    assert nowhere.exit_code == USAGE and "no room PB/999" in nowhere.stderr, nowhere.output
    assert (await cli.json("status"))["pending"] == 0


async def test_import_then_export_then_import_again_changes_nothing(
    client: TestClient, admin: Person, make_person: MakePerson, tmp_path: Path
) -> None:
    await make_campus(client, admin)
    fixer = await make_person(Role.FACILITIES)
    cli = Cli(tmp_path / "fixer")
    await signed_in(client, cli, fixer)
    example = Path(__file__).parent.parent / "docs" / "examples" / "issues.csv"
    first = await cli.json("import", "issues", str(example))
    assert (first["created"], first["rejected"]) == (2, 0), first
    again = await cli.json("import", "issues", str(example))
    assert again["unchanged"] == 2, again
    for fmt in ("csv", "jsonl"):
        exported = tmp_path / f"issues.{fmt}"
        done = await cli("export", "issues", "-o", str(exported))
        assert done.exit_code == 0, done.output
        assert "Exported 2 issues" in done.stderr
        back = await cli.json("import", "issues", str(exported))
        assert (back["unchanged"], back["rejected"]) == (2, 0), (fmt, back)


async def test_a_refused_report_waits_in_conflicts_and_is_retried_for_another_room(
    client: TestClient, admin: Person, make_person: MakePerson, tmp_path: Path
) -> None:
    campus = await make_campus(client, admin)
    staff = await make_person(Role.STAFF)
    cli = Cli(tmp_path / "staff")
    await signed_in(client, cli, staff)
    unknown = "0b7c3c1e-5d2a-4f3e-9a1b-2c3d4e5f6a7b"
    refused = await cli("issues", "report", "PB/101", "Dirty", "--booking", unknown, "--sync")
    assert refused.exit_code == REFUSED, refused.output
    [conflict] = await cli.json("conflicts", "list")
    assert conflict["change"] == "Report PB/101: Dirty" and "booking_id" in conflict["reason"], (
        conflict
    )
    retried = await cli("conflicts", "retry", str(conflict["mid"]), "--room", "PB/102", "--sync")
    assert retried.exit_code == 0, retried.output
    assert await cli.json("conflicts", "list") == []
    room = await client.get(f"/api/v1/rooms/{campus.room_102}/issues", headers=staff.headers)
    assert [b["summary"] for b in await room.json()] == ["Dirty"]


async def test_a_report_is_named_by_the_short_id_its_table_shows(
    client: TestClient, admin: Person, make_person: MakePerson, tmp_path: Path
) -> None:
    """At 80 columns the table cannot show a whole UUID: it shows the first 8 characters, as
    ``bookings list`` does, and every command that takes a report takes those (or any 4 or
    more), as ``bookings`` commands take a booking's."""
    await make_campus(client, admin)
    staff = await make_person(Role.STAFF)
    fixer = await make_person(Role.FACILITIES, username="fred")
    cli = Cli(tmp_path / "staff")
    await signed_in(client, cli, staff)
    sent = await cli.json("issues", "report", "PB/101", "Projector dead", "--sync")
    short = sent["id"][:8]
    fred = Cli(tmp_path / "fred")
    await signed_in(client, fred, fixer)
    table = await fred("issues", "list")
    assert table.exit_code == 0 and f"{short} " in table.stdout, table.stdout
    shown = await fred.json("issues", "show", short)
    assert shown["id"] == sent["id"]
    assert (await fred.json("issues", "assign", short, "me"))["assignee"] == "fred"
    assert (await fred.json("issues", "start", sent["id"][:4].upper()))["status"] == "in_progress"
    too_short = await fred("issues", "show", sent["id"][:3])
    assert too_short.exit_code == USAGE and "issue" in too_short.stderr, too_short.output
    other = "0" if sent["id"][0] != "0" else "1"
    unknown = await fred("issues", "show", other * 8)
    assert unknown.exit_code == USAGE and "issue" in unknown.stderr, unknown.output


async def test_a_report_not_yet_sent_is_listed_only_where_the_filters_let_it(
    client: TestClient, admin: Person, make_person: MakePerson, tmp_path: Path
) -> None:
    """Reports not yet sent come first in ``issues list``, but only those the filters asked
    for would let through: a PB report is not listed under --building ENG, nor an open one
    under --status resolved, nor an equipment one under --category power."""
    await make_campus(client, admin)
    staff = await make_person(Role.STAFF)
    cli = Cli(tmp_path / "staff")
    await signed_in(client, cli, staff)
    queued = await cli.json(
        "issues", "report", "PB/101", "Projector dead", "--category", "equipment"
    )
    assert queued["pending"] is True
    for filters in (
        ["--building", "ENG"],
        ["--status", "resolved"],
        ["--category", "power"],
        ["--assigned-to-me"],
    ):
        assert await cli.json("issues", "list", *filters) == [], filters
    for filters in (["--building", "pb"], ["--status", "open"], ["--category", "equipment"]):
        assert [i["id"] for i in await cli.json("issues", "list", *filters)] == [queued["id"]], (
            filters
        )
