"""``compax issues``: report a problem with a room (offline too: it is queued like any change),
and, for facilities staff, admins and building managers, see to the reports: list, show,
assign, start, resolve, reopen, and the per-building summary."""

from __future__ import annotations

import asyncio
from collections.abc import Coroutine
from typing import Annotated, Any, TypeVar

import typer

from compax_cli.context import engine, now, validated
from compax_cli.options import JSON
from compax_cli.output import REFUSED, emit, err, local, online
from sync.engine import Engine
from sync.issue_client import Issues
from sync.issue_schemas import IssueCreate, IssueQuery, IssueReportQuery, IssueUpdate
from sync.vocabulary import IssueCategory, IssueStatus
from sync.when import parse_when

T = TypeVar("T")
app = typer.Typer(
    help="Problems with rooms: report one, or list and see to them.", no_args_is_help=True
)
ISSUE = Annotated[str, typer.Argument(help="The report's id, or its first characters (as listed).")]
SYNC = Annotated[bool, typer.Option("--sync", help="Send the report to the server at once.")]
COLUMNS = [
    ("id", "short"),
    ("room", "room"),
    ("category", "category"),
    ("summary", "summary"),
    ("status", "state"),
    ("assignee", "assignee"),
    ("reported", "when"),
]
SUMMARY_COLUMNS = [
    ("building", "building"),
    ("reported", "reported"),
    ("unresolved", "unresolved"),
    ("resolved", "resolved"),
    ("median h", "median_hours_to_resolve"),
    ("mean h", "mean_hours_to_resolve"),
]


def _rows(compax: Engine, items: list[dict[str, Any]], as_json: bool) -> list[dict[str, Any]]:
    if as_json:
        return items
    zone = compax.reads.zone()
    return [
        {
            **item,
            "short": str(item["id"])[:8],
            "when": local(item["created_at"], zone) if item.get("created_at") else "",
            "state": "pending" if item.get("pending") else str(item["status"]).replace("_", " "),
        }
        for item in items
    ]


def _call(what: Coroutine[Any, Any, T]) -> T:
    with online("nothing was done; this needs the server"):
        return asyncio.run(what)


def _room(ref: str) -> dict[str, Any]:
    return {"room_id": int(ref)} if ref.isascii() and ref.isdigit() else {"room": ref}


@app.command()
def report(
    ctx: typer.Context,
    room: Annotated[str, typer.Argument(help="The room: PB/101, or its id.")],
    summary: Annotated[str, typer.Argument(help="What is wrong, in a line.")],
    category: Annotated[IssueCategory, typer.Option(help="What kind of problem.")] = (
        IssueCategory.OTHER
    ),
    details: Annotated[str, typer.Option(help="More about it (optional).")] = "",
    booking: Annotated[
        str | None, typer.Option(help="The id of the booking it spoiled (optional).")
    ] = None,
    send: SYNC = False,
    as_json: JSON = False,
) -> None:
    """Report a problem with a room; works offline: it is sent when you sync.

    Example: compax issues report PB/101 "Projector does not turn on" --category equipment
    Example: compax issues report "ENG/LAB 2" "No power at the back" --category power --sync
    """
    with engine(ctx) as compax:
        data = validated(
            IssueCreate,
            **_room(room),
            summary=summary,
            category=category,
            details=details,
            booking_id=booking,
        )
        made = Issues(compax).report(data)
        refused = False
        if send:
            refused = bool(asyncio.run(compax.sync()).rejected)
            if refused:
                err.print("The server refused it: compax conflicts list")
            else:
                made = {**made, "pending": False}
        else:
            err.print("Saved here; it is pending until you sync (compax sync)")
        emit(_rows(compax, [made], as_json)[0], COLUMNS, as_json)
        if refused:
            raise typer.Exit(REFUSED)


@app.command("list")
def list_issues(
    ctx: typer.Context,
    status: Annotated[IssueStatus | None, typer.Option(help="Only this status.")] = None,
    building: Annotated[str | None, typer.Option(help="Only this building (code).")] = None,
    category: Annotated[IssueCategory | None, typer.Option(help="Only this kind.")] = None,
    mine: Annotated[bool, typer.Option("--mine", help="Only the reports you made.")] = False,
    assigned: Annotated[
        bool, typer.Option("--assigned-to-me", help="Only the reports assigned to you.")
    ] = False,
    every: Annotated[
        bool, typer.Option("--all", help="Resolved reports too (default: unresolved only).")
    ] = False,
    limit: Annotated[int, typer.Option(min=1, max=500, help="At most this many.")] = 50,
    cursor: Annotated[
        str | None, typer.Option(help="The next page: the cursor the last page ended with.")
    ] = None,
    as_json: JSON = False,
) -> None:
    """Reports you may see, newest first: your own, and those you see to. Reports made here
    and not yet sent come first, marked pending.

    Example: compax issues list --building PB
    Example: compax issues list --assigned-to-me --json
    """
    with engine(ctx) as compax:
        query = validated(
            IssueQuery,
            status=status,
            building=building,
            category=category,
            reporter="me" if mine else None,
            assignee="me" if assigned else None,
            limit=limit,
            cursor=cursor,
        )
        filters = query.model_dump(
            mode="json", by_alias=True, exclude_none=True, exclude={"limit", "cursor"}
        )
        issues = Issues(compax)
        page = _call(issues.page(limit=query.limit, cursor=query.cursor, **filters))
        items = page["items"]
        if status is None and not every:
            items = [item for item in items if item["status"] != IssueStatus.RESOLVED]
        local_items = issues.pending(**filters) if cursor is None else []
        emit(_rows(compax, [*local_items, *items], as_json), COLUMNS, as_json)
        if page.get("next_cursor"):
            err.print(f"More: compax issues list --cursor {page['next_cursor']}")


@app.command()
def show(ctx: typer.Context, issue: ISSUE, as_json: JSON = False) -> None:
    """One report, with its details and resolution.

    Example: compax issues show 5f0c1e2a-7b7c-4f7e-9a51-0d3c2b1a9e88
    """
    with engine(ctx) as compax:
        found = _call(Issues(compax).show(issue))
        if as_json:
            emit(found, COLUMNS, True)
            return
        emit(_rows(compax, [found], False), COLUMNS, False)
        for label, key in (("details", "details"), ("resolution", "resolution")):
            if found.get(key):
                err.print(f"{label}: {found[key]}")


def _change(ctx: typer.Context, issue: str, as_json: bool, **change: Any) -> None:
    with engine(ctx) as compax:
        body = validated(IssueUpdate, **change)
        changed = _call(Issues(compax).change(issue, body))
        emit(_rows(compax, [changed], as_json)[0], COLUMNS, as_json)


@app.command()
def assign(
    ctx: typer.Context,
    issue: ISSUE,
    user: Annotated[str, typer.Argument(help="Username, or me; they are told.")],
    as_json: JSON = False,
) -> None:
    """Ask someone who sees to the building's reports to see to this one.

    Example: compax issues assign 5f0c1e2a me
    Example: compax issues assign 5f0c1e2a fmensah
    """
    if user == "me":
        with engine(ctx) as compax:
            user = str((compax.user or {}).get("username", user))
    _change(ctx, issue, as_json, assignee=user)


@app.command()
def start(ctx: typer.Context, issue: ISSUE, as_json: JSON = False) -> None:
    """Mark a report in progress; its reporter is told.

    Example: compax issues start 5f0c1e2a
    """
    _change(ctx, issue, as_json, status=IssueStatus.IN_PROGRESS)


@app.command()
def resolve(
    ctx: typer.Context,
    issue: ISSUE,
    note: Annotated[str, typer.Option(help="What was done (required); the reporter reads it.")],
    as_json: JSON = False,
) -> None:
    """Mark a report resolved, saying what was done; its reporter is told.

    Example: compax issues resolve 5f0c1e2a --note "Replaced the projector lamp"
    """
    with engine(ctx) as compax:
        change = validated(IssueUpdate, status=IssueStatus.RESOLVED, resolution=note)
        changed = _call(Issues(compax).change(issue, change))
        emit(_rows(compax, [changed], as_json)[0], COLUMNS, as_json)


@app.command()
def reopen(ctx: typer.Context, issue: ISSUE, as_json: JSON = False) -> None:
    """Open a resolved report again (its reporter may too, when the problem is back).

    Example: compax issues reopen 5f0c1e2a
    """
    _change(ctx, issue, as_json, status=IssueStatus.OPEN)


@app.command()
def summary(
    ctx: typer.Context,
    from_: Annotated[str, typer.Option("--from", help="From this time, as bookings are given.")],
    to: Annotated[str, typer.Option(help="Until this time.")],
    building: Annotated[str | None, typer.Option(help="Only this building (code).")] = None,
    as_json: JSON = False,
) -> None:
    """Per building: reports made in the range, how many are unresolved, how many were
    resolved in it and how many hours that took.

    Example: compax issues summary --from "2026-11-01 00:00" --to "2026-12-01 00:00"
    """
    with engine(ctx) as compax:
        zone, moment = compax.reads.zone(), now()
        since, until = parse_when(from_, zone, moment, "from"), parse_when(to, zone, moment, "to")
        query = validated(IssueReportQuery, building=building, **{"from": since, "to": until})
        figures = _call(Issues(compax).summary(query))
        if as_json:
            emit(figures, SUMMARY_COLUMNS, True)
            return
        emit(figures["buildings"], SUMMARY_COLUMNS, False)
