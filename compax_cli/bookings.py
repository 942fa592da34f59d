"""``compax bookings`` and ``compax book``: your bookings, made and changed offline too.

A change is checked against the local replica at once and queued; it shows as pending until a
sync has the server confirm it (``--sync`` sends it straight away).
"""

from __future__ import annotations

import asyncio
from typing import Annotated, Any

import typer

from compax_cli.context import engine, now
from compax_cli.lookup import booking_id, room_id
from compax_cli.options import JSON
from compax_cli.output import REFUSED, emit, err, local, more_than_shown
from sync.engine import Engine
from sync.reads import instant_of
from sync.vocabulary import Purpose, Scope
from sync.when import parse_duration, parse_when

app = typer.Typer(help="Your bookings: list, show, create, move, cancel.", no_args_is_help=True)
SYNC = Annotated[bool, typer.Option("--sync", help="Send the change to the server at once.")]
SCOPE = Annotated[Scope, typer.Option(help="For a series: this, following or all occurrences.")]
COLUMNS = [
    ("id", "short"),
    ("room", "room"),
    ("start", "when"),
    ("end", "until"),
    ("title", "title"),
    ("status", "state"),
]


def _rows(compax: Engine, bookings: list[dict[str, Any]], as_json: bool) -> list[dict[str, Any]]:
    """Bookings as printed: JSON as stored, or a short id and campus local times for people."""
    if as_json:
        return bookings
    zone = compax.reads.zone()
    return [
        {
            **b,
            "short": str(b["id"])[:8],
            "when": local(b["start"], zone),
            "until": local(b["end"], zone)[-5:],
            "state": _state(b),
        }
        for b in bookings
    ]


def _send(
    compax: Engine, send: bool, changed: list[dict[str, Any]]
) -> tuple[list[dict[str, Any]], bool]:
    """The changed bookings as they stand after sending them at once (``--sync``), or as saved
    here, pending until the next sync, and whether the server refused a change; says which
    on stderr."""
    if not send:
        err.print("Saved here; it is pending until you sync (compax sync)")
        return changed, False
    report = asyncio.run(compax.sync())
    if report.rejected:
        err.print("The server refused it: compax conflicts list")
    return [compax.reads.booking(str(b["id"])) or b for b in changed], bool(report.rejected)


def _refused_exit(refused: bool) -> None:
    """Exit 1 when the server refused what ``--sync`` sent, as ``compax sync`` does."""
    if refused:
        raise typer.Exit(REFUSED)


@app.command("list")
def list_bookings(
    ctx: typer.Context,
    since: Annotated[
        str | None, typer.Option("--from", help="From this time (default: now).")
    ] = None,
    limit: Annotated[int, typer.Option(min=1, max=10_000, help="Bookings per page.")] = 100,
    page: Annotated[int, typer.Option(min=1, help="Page number.")] = 1,
    as_json: JSON = False,
) -> None:
    """Your bookings from now on (or --from), pending changes included.

    Example: compax bookings list --from "2026-11-01 00:00" --json
    """
    with engine(ctx) as compax:
        start = parse_when(since, compax.reads.zone(), now(), "from") if since else now()
        bookings = compax.my_bookings(start=start, limit=limit + 1, offset=(page - 1) * limit)
        emit(_rows(compax, bookings[:limit], as_json), COLUMNS, as_json)
        if len(bookings) > limit:
            more_than_shown("bookings", f"add --page {page + 1}")


@app.command()
def show(
    ctx: typer.Context,
    booking: Annotated[str, typer.Argument(help="The booking id, or its first characters.")],
    as_json: JSON = False,
) -> None:
    """Show one booking.

    Example: compax bookings show 5f0c…
    """
    with engine(ctx) as compax:
        found = compax.reads.booking(booking_id(compax.reads, booking))
        assert found is not None
        emit(
            _rows(compax, [found], as_json)[0],
            [*COLUMNS, ("purpose", "purpose"), ("owner", "owner")],
            as_json,
        )


@app.command()
def create(
    ctx: typer.Context,
    room: Annotated[str, typer.Argument(help="PB/101 or a room id.")],
    at: Annotated[
        str, typer.Option(help='Start, campus time: "2026-11-25 10:00", "tomorrow 14:00".')
    ],
    for_: Annotated[str, typer.Option("--for", help="Length: 90m, 2h, 1h30m.")],
    title: Annotated[str, typer.Option(help="What it is for.")] = "Booking",
    purpose: Annotated[
        Purpose, typer.Option(help="class, exam, meeting or event.")
    ] = Purpose.MEETING,
    attendees: Annotated[int, typer.Option(min=0, help="How many people.")] = 0,
    private: Annotated[bool, typer.Option(help="Hide the title from others.")] = False,
    send: SYNC = False,
    as_json: JSON = False,
) -> None:
    """Book a room (offline too); refused at once if it clashes with what you can see.

    Example: compax bookings create PB/101 --at "tomorrow 10:00" --for 2h --title "MATH 101"
    """
    with engine(ctx) as compax:
        start = parse_when(at, compax.reads.zone(), now(), "at")
        made = compax.book(
            room_id(compax.reads, room),
            start,
            start + parse_duration(for_, "for"),
            title,
            purpose=purpose.value,
            attendees=attendees,
            private=private,
        )
        rows, refused = _send(compax, send, [made])
        emit(_rows(compax, rows, as_json)[0], COLUMNS, as_json)
        _refused_exit(refused)


@app.command()
def move(
    ctx: typer.Context,
    booking: Annotated[str, typer.Argument(help="The booking id, or its first characters.")],
    at: Annotated[str | None, typer.Option(help="New start, campus time.")] = None,
    for_: Annotated[str | None, typer.Option("--for", help="New length.")] = None,
    room: Annotated[str | None, typer.Option(help="New room, PB/101 or an id.")] = None,
    scope: SCOPE = Scope.THIS,
    send: SYNC = False,
    as_json: JSON = False,
) -> None:
    """Move a booking to another time or room (for a series, with --scope).

    Example: compax bookings move 5f0c… --at "fri 14:00" --for 1h --scope following
    """
    with engine(ctx) as compax:
        booking = booking_id(compax.reads, booking)
        current = compax.reads.booking(booking)
        start = parse_when(at, compax.reads.zone(), now(), "at") if at else None
        end = None
        if current is not None and (at or for_):
            old_start, old_end = instant_of(current["start"]), instant_of(current["end"])
            length = parse_duration(for_, "for") if for_ else old_end - old_start
            end = (start or old_start) + length
        moved = compax.move(
            booking,
            start=start,
            end=end,
            room_id=room_id(compax.reads, room) if room else None,
            scope=scope,
        )
        rows, refused = _send(compax, send, moved)
        emit(_rows(compax, rows, as_json), COLUMNS, as_json)
        _refused_exit(refused)


@app.command()
def cancel(
    ctx: typer.Context,
    booking: Annotated[str, typer.Argument(help="The booking id, or its first characters.")],
    scope: SCOPE = Scope.THIS,
    send: SYNC = False,
    as_json: JSON = False,
) -> None:
    """Cancel a booking (for a series, with --scope).

    Example: compax bookings cancel 5f0c… --scope all --sync
    """
    with engine(ctx) as compax:
        cancelled = compax.cancel(booking_id(compax.reads, booking), scope)
        rows, refused = _send(compax, send, cancelled)
        emit(_rows(compax, rows, as_json), COLUMNS, as_json)
        _refused_exit(refused)


def _state(booking: dict[str, Any]) -> str:
    """A booking's status for people: a local change not yet synced is marked, and a request
    waiting for approval says so."""
    if booking["status"] == "pending":
        return "pending approval" + (" (not synced)" if booking.get("pending") else "")
    return f"{booking['status']} (pending)" if booking.get("pending") else booking["status"]
