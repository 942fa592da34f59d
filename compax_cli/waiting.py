"""``compax wait``: wait for a taken slot, see your entries, take or leave an offer.

Joining, withdrawing, accepting and declining talk to the server at once; the list reads the
replica (``--server`` asks the server, and administrators may list anyone's).
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Coroutine
from typing import Annotated, Any, TypeVar

import typer

from compax_cli.context import engine, now, validated
from compax_cli.lookup import room_id
from compax_cli.options import JSON
from compax_cli.output import emit, err, local, online
from sync.engine import Engine
from sync.vocabulary import Purpose
from sync.waiting import Waitlist, entries, entry_id_from
from sync.waitlist import WaitCreate
from sync.when import parse_when

T = TypeVar("T")
app = typer.Typer(
    help="Wait for a taken slot: add, list, cancel; accept or decline an offer.",
    no_args_is_help=True,
)
ENTRY = Annotated[str, typer.Argument(help="The entry id, or its first characters.")]
COLUMNS = [
    ("id", "short"),
    ("where", "where"),
    ("from", "when"),
    ("until", "until"),
    ("title", "title"),
    ("state", "state"),
    ("offer ends", "offer_ends"),
]


def _rows(compax: Engine, items: list[dict[str, Any]], as_json: bool) -> list[dict[str, Any]]:
    """Entries as printed: JSON as the server gives them, or for people the place by name and
    campus local times."""
    if as_json:
        return items
    zone = compax.reads.zone()
    codes = {b["id"]: b["code"] for b in compax.reads.buildings()}
    rows = []
    for item in items:
        room = compax.reads.room(item["room_id"]) if item["room_id"] else None
        if room is not None:
            where = f"{room['building']}/{room['code']}"
        else:
            seats = f", {item['min_capacity']}+ seats" if item["min_capacity"] else ""
            where = f"any in {codes.get(item['building_id'], item['building_id'])}{seats}"
        rows.append(
            {
                **item,
                "short": str(item["id"])[:8],
                "where": where,
                "when": local(item["start"], zone),
                "until": local(item["end"], zone)[-5:],
                "offer_ends": local(item["offer_expires_at"], zone),
            }
        )
    return rows


def _call(compax: Engine, call: Callable[[Waitlist], Coroutine[Any, Any, T]]) -> T:
    with online("nothing was changed; the waitlist needs the server"):
        return asyncio.run(call(Waitlist(compax)))


@app.command()
def add(
    ctx: typer.Context,
    room: Annotated[
        str, typer.Argument(help="PB/101 or a room id (with --any-room: its building).")
    ],
    from_: Annotated[str, typer.Option("--from", help='Start, campus time: "fri 10:00".')],
    to: Annotated[str, typer.Option(help='End, campus time: "fri 12:00".')],
    title: Annotated[str, typer.Option(help="What it is for.")] = "Booking",
    purpose: Annotated[
        Purpose, typer.Option(help="class, exam, meeting or event.")
    ] = Purpose.MEETING,
    attendees: Annotated[int, typer.Option(min=0, help="How many people.")] = 0,
    any_room: Annotated[
        bool, typer.Option("--any-room", help="Any room of ROOM's building that fits.")
    ] = False,
    capacity: Annotated[
        int, typer.Option(min=0, help="With --any-room: at least this many seats.")
    ] = 0,
    feature: Annotated[
        list[str] | None, typer.Option(help="With --any-room: a feature it must have (repeat).")
    ] = None,
    auto_book: Annotated[
        bool, typer.Option("--auto-book", help="Book it at once when it frees, no offer.")
    ] = False,
    as_json: JSON = False,
) -> None:
    """Wait for a taken slot; refused (slot-free) if you can book it now.

    Example: compax wait add PB/101 --from "fri 10:00" --to "fri 12:00" --title Seminar
    Example: compax wait add PB/101 --any-room --capacity 40 --from "fri 10:00" --to "fri 12:00"
    """
    with engine(ctx) as compax:
        zone = compax.reads.zone()
        chosen = room_id(compax.reads, room)
        place: dict[str, Any] = {"room_id": chosen}
        if any_room:
            found = compax.reads.room(chosen)
            place = {"building": found["building"] if found else room.partition("/")[0]}
            place |= {"min_capacity": capacity, "features": feature or []}
        data = validated(
            WaitCreate,
            **place,
            start=parse_when(from_, zone, now(), "from"),
            end=parse_when(to, zone, now(), "to"),
            title=title,
            purpose=purpose,
            attendees=attendees,
            auto_book=auto_book,
        )
        made = _call(compax, lambda waitlist: waitlist.join(data))
        emit(_rows(compax, [made], as_json)[0], COLUMNS, as_json)
        err.print("You will be told when it frees: compax wait list")


@app.command("list")
def list_entries(
    ctx: typer.Context,
    all_: Annotated[
        bool, typer.Option("--all", help="Closed entries too (declined, expired, …).")
    ] = False,
    server: Annotated[
        bool, typer.Option("--server", help="Ask the server instead of the replica.")
    ] = False,
    owner: Annotated[
        str | None, typer.Option(help="With --server, admins: this user's, or * for everyone's.")
    ] = None,
    as_json: JSON = False,
) -> None:
    """Your waitlist entries, soonest first: waiting, offered (until when), booked.

    Example: compax wait list --all
    """
    with engine(ctx) as compax:
        if server or owner:
            found = _call(compax, lambda waitlist: waitlist.server_entries(owner=owner))
            if not all_:
                found = [e for e in found if e["state"] in ("waiting", "offered")]
        else:
            found = entries(compax, open_only=not all_)
        emit(_rows(compax, found, as_json), COLUMNS, as_json)


@app.command()
def cancel(ctx: typer.Context, entry: ENTRY, as_json: JSON = False) -> None:
    """Leave the line; a booking held for you on offer is given up.

    Example: compax wait cancel 5f0c
    """
    _answer(ctx, entry, as_json, lambda waitlist, entry_id: waitlist.withdraw(entry_id))


@app.command()
def accept(ctx: typer.Context, entry: ENTRY, as_json: JSON = False) -> None:
    """Take the booking offered to you: it is yours like any other.

    Example: compax wait accept 5f0c
    """
    _answer(ctx, entry, as_json, lambda waitlist, entry_id: waitlist.accept(entry_id))


@app.command()
def decline(ctx: typer.Context, entry: ENTRY, as_json: JSON = False) -> None:
    """Leave the booking offered to you to the next in line.

    Example: compax wait decline 5f0c
    """
    _answer(ctx, entry, as_json, lambda waitlist, entry_id: waitlist.decline(entry_id))


#: What a command asks of the server about one entry, by the entry's id.
EntryAct = Callable[[Waitlist, str], Coroutine[Any, Any, dict[str, Any]]]


def _answer(ctx: typer.Context, entry: str, as_json: bool, act: EntryAct) -> None:
    """Do ``act`` to the entry ``entry`` names, on the server, and show the entry as it is now."""
    with engine(ctx) as compax:
        entry_id = entry_id_from(compax, entry)
        now = _call(compax, lambda waitlist: act(waitlist, entry_id))
        emit(_rows(compax, [now], as_json)[0], COLUMNS, as_json)
