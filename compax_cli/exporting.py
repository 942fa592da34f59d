"""``compax export``: bookings, rooms, buildings, users, terms and timetables as CSV, JSON,
JSON Lines (or iCalendar for bookings), read from the server a page at a time, in the columns
``compax import`` reads: an export imports again as all unchanged."""

from __future__ import annotations

import asyncio
from dataclasses import replace
from typing import Annotated

import typer

from compax_cli.context import administer, engine, now
from compax_cli.options import ACTIVE, DEPARTMENT, ROLE
from compax_cli.output import err, online
from sync.campus_move import export_campus
from sync.formats import Format
from sync.kinds import KINDS
from sync.transfer import ExportFilters, ExportJob, export_file
from sync.vocabulary import BookingStatus, BuildingKind, IssueStatus, Purpose, RoomKind

app = typer.Typer(
    help="Export records as CSV, JSON, JSON Lines or (bookings) iCalendar, to stdout or a file.",
    no_args_is_help=True,
)
FORMAT = Annotated[
    Format | None,
    typer.Option(
        "--format", help="csv, json, jsonl or ics (bookings); default: from -o's name, else csv."
    ),
]
OUTPUT = Annotated[
    str | None,
    typer.Option(
        "--output", "-o", metavar="FILE", help="Write to this file (default: standard output)."
    ),
]
BUILDING = Annotated[str | None, typer.Option(help="Building code.")]


def _run(ctx: typer.Context, job: ExportJob, room: str | None = None) -> None:
    """Export ``job`` (with ``room`` resolved to its id first) and say how many rows went out."""
    with engine(ctx) as compax:
        if room is not None:
            found = administer(compax, lambda admin: admin.room_named(room))
            job = replace(job, filters=replace(job.filters, room_id=int(found["id"])))
        with online("the export did not finish"):
            report = asyncio.run(export_file(compax, job, now()))
    where = report.output or "standard output"
    err.print(f"Exported {report.rows} {job.kind.nouns} to {where}", markup=False)


@app.command()
def bookings(
    ctx: typer.Context,
    since: Annotated[
        str | None,
        typer.Option("--from", help='Ending after this, campus time: "2026-11-01 00:00".'),
    ] = None,
    until: Annotated[
        str | None, typer.Option("--to", help="Starting before this, campus time.")
    ] = None,
    building: BUILDING = None,
    room: Annotated[str | None, typer.Option(help="Only this room: PB/101 or an id.")] = None,
    owner: Annotated[
        str | None, typer.Option(help="Only this owner's (a username, or me).")
    ] = None,
    status: Annotated[
        BookingStatus, typer.Option(help="confirmed or cancelled.")
    ] = BookingStatus.CONFIRMED,
    purpose: Annotated[Purpose | None, typer.Option(help="class, exam, meeting or event.")] = None,
    fmt: FORMAT = None,
    output: OUTPUT = None,
) -> None:
    """Export the bookings you may see, filtered; as ics for a calendar.

    Example: compax export bookings --building PB --from "2026-11-01 00:00" --format ics -o pb.ics
    """
    filters = ExportFilters(
        building=building,
        owner=owner,
        status=status.value,
        purpose=purpose.value if purpose else None,
        since=since,
        until=until,
    )
    _run(ctx, ExportJob(KINDS["bookings"], fmt, output, filters), room)


@app.command()
def rooms(
    ctx: typer.Context,
    building: BUILDING = None,
    kind: Annotated[RoomKind | None, typer.Option(help="Room kind.")] = None,
    capacity: Annotated[int | None, typer.Option(min=0, help="At least this many seats.")] = None,
    feature: Annotated[
        list[str] | None, typer.Option(help="Required feature (repeatable).")
    ] = None,
    fmt: FORMAT = None,
    output: OUTPUT = None,
) -> None:
    """Export rooms with their features and rules, filtered.

    Example: compax export rooms --building PB -o pb-rooms.csv
    """
    filters = ExportFilters(
        building=building,
        kind=kind.value if kind else None,
        capacity=capacity,
        features=tuple(feature or ()),
    )
    _run(ctx, ExportJob(KINDS["rooms"], fmt, output, filters))


@app.command()
def issues(
    ctx: typer.Context,
    building: BUILDING = None,
    status: Annotated[IssueStatus | None, typer.Option(help="Only this status.")] = None,
    fmt: FORMAT = None,
    output: OUTPUT = None,
) -> None:
    """Export the problem reports you may see, newest first.

    Example: compax export issues --building PB -o pb-issues.csv
    """
    filters = ExportFilters(building=building, status=status.value if status else None)
    _run(ctx, ExportJob(KINDS["issues"], fmt, output, filters))


@app.command()
def buildings(
    ctx: typer.Context,
    kind: Annotated[BuildingKind | None, typer.Option(help="Building kind.")] = None,
    fmt: FORMAT = None,
    output: OUTPUT = None,
) -> None:
    """Export buildings.

    Example: compax export buildings --format json -o buildings.json
    """
    filters = ExportFilters(kind=kind.value if kind else None)
    _run(ctx, ExportJob(KINDS["buildings"], fmt, output, filters))


@app.command()
def users(
    ctx: typer.Context,
    role: ROLE = None,
    department: DEPARTMENT = None,
    active: ACTIVE = None,
    fmt: FORMAT = None,
    output: OUTPUT = None,
) -> None:
    """Export users, without passwords (admins).

    Example: compax export users --role staff --department Physics -o physics-staff.csv
    """
    filters = ExportFilters(role=role.value if role else None, department=department, active=active)
    _run(ctx, ExportJob(KINDS["users"], fmt, output, filters))


@app.command()
def terms(ctx: typer.Context, fmt: FORMAT = None, output: OUTPUT = None) -> None:
    """Export terms with their holidays.

    Example: compax export terms -o terms.csv
    """
    _run(ctx, ExportJob(KINDS["terms"], fmt, output))


@app.command()
def timetable(
    ctx: typer.Context,
    term: Annotated[str, typer.Option(help="The term (its name or id).")],
    fmt: FORMAT = None,
    output: OUTPUT = None,
) -> None:
    """Export a term's timetable as the rows it was imported from.

    Example: compax export timetable --term "2026/2027 S1" -o timetable.csv
    """
    _run(ctx, ExportJob(KINDS["timetable"], fmt, output, ExportFilters(term=term)))


@app.command()
def ratings(ctx: typer.Context, fmt: FORMAT = None, output: OUTPUT = None) -> None:
    """Export every room rating (admins), as compax import ratings reads it back.

    Example: compax export ratings -o ratings.csv
    """
    _run(ctx, ExportJob(KINDS["ratings"], fmt, output))


@app.command()
def campus(
    ctx: typer.Context,
    directory: Annotated[str, typer.Argument(metavar="DIR", help="A new or empty folder.")],
) -> None:
    """Export the whole campus to a folder, for compax import campus on another server (admins).

    Buildings, rooms, users (without passwords), terms, series with their timetable courses,
    bookings (confirmed and cancelled) and blackouts, as JSON Lines; docs/import.md.

    Example: compax export campus campus-2026-12
    """
    with engine(ctx) as compax, online("the export did not finish; export into a new folder"):
        counts = asyncio.run(export_campus(compax, directory, now()))
    for name, rows in counts.items():
        err.print(f"{name}: {rows}", markup=False)
    err.print(f"Campus exported to {directory}", markup=False)
