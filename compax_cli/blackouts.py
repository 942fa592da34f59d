"""``compax blackouts``: close a room or a whole building for a time, list and remove closures
(administrators and exams officers; these talk to the server at once)."""

from __future__ import annotations

from typing import Annotated, Any

import typer

from compax_cli.context import administer, engine, now, validated
from compax_cli.options import JSON
from compax_cli.output import emit, err, local, more_than_shown
from sync.admin import Admin
from sync.engine import Engine
from sync.schemas import BlackoutCreate, BlackoutQuery
from sync.vocabulary import counted
from sync.when import parse_duration, parse_when

app = typer.Typer(
    help="Close rooms or buildings for a time: add, list, remove (admins, exams officers).",
    no_args_is_help=True,
)
COLUMNS = [
    ("id", "id"),
    ("closes", "where"),
    ("from", "from"),
    ("until", "until"),
    ("reason", "reason"),
]


def _row(blackout: dict[str, Any], compax: Engine) -> dict[str, Any]:
    """A blackout for people: the place by name and campus local times."""
    zone = compax.reads.zone()
    if blackout["room_id"]:
        room = compax.reads.room(blackout["room_id"])
        where = f"{room['building']}/{room['code']}" if room else f"room {blackout['room_id']}"
    else:
        codes = {b["id"]: b["code"] for b in compax.reads.buildings()}
        where = f"building {codes.get(blackout['building_id'], blackout['building_id'])}"
    return {
        **blackout,
        "where": where,
        "from": local(blackout["start"], zone),
        "until": local(blackout["end"], zone),
    }


@app.command()
def add(
    ctx: typer.Context,
    at: Annotated[str, typer.Option(help='Start, campus time: "2026-12-01 08:00".')],
    for_: Annotated[str | None, typer.Option("--for", help="Length: 3h, 90m.")] = None,
    until: Annotated[
        str | None, typer.Option(help='End instead of --for: "2026-12-02 18:00".')
    ] = None,
    room: Annotated[str | None, typer.Option(help="Close this room: PB/101 or an id.")] = None,
    building: Annotated[str | None, typer.Option(help="Close this whole building.")] = None,
    reason: Annotated[str, typer.Option(help="Why, as people will read it.")] = "",
    as_json: JSON = False,
) -> None:
    """Close a room or a building; bookings already inside it are kept and listed.

    Example: compax blackouts add --building PB --at "2026-12-01 08:00" --for 10h --reason Drill
    """
    with engine(ctx) as compax:
        zone = compax.reads.zone()
        start = parse_when(at, zone, now(), "at")
        if (for_ is None) == (until is None):
            raise typer.BadParameter("give either --for or --until")
        end = (
            start + parse_duration(for_, "for")
            if for_
            else parse_when(str(until), zone, now(), "until")
        )

        async def close(admin: Admin) -> dict[str, Any]:
            room_id = (await admin.room_named(room))["id"] if room else None
            data = validated(
                BlackoutCreate,
                room_id=room_id,
                building=building,
                start=start,
                end=end,
                reason=reason,
            )
            return await admin.add_blackout(data)

        result = administer(compax, close)
        emit(result if as_json else _row(result["blackout"], compax), COLUMNS, as_json)
        covered = result["covered_bookings"]
        if covered and not as_json:
            err.print(f"Inside it, kept: {counted(len(covered), 'booking')}")
            for booking in covered:
                when = local(booking["start"], zone)
                err.print(f"  {booking['id'][:8]}  {when}  {booking.get('title') or ''}")


@app.command("list")
def list_blackouts(
    ctx: typer.Context,
    room: Annotated[str | None, typer.Option(help="Only this room: PB/101 or an id.")] = None,
    building: Annotated[str | None, typer.Option(help="Only this building.")] = None,
    from_: Annotated[
        str | None, typer.Option("--from", help='From, campus time: "today 00:00".')
    ] = None,
    to: Annotated[str | None, typer.Option(help='Until, campus time: "2026-12-31 00:00".')] = None,
    limit: Annotated[int, typer.Option(min=1, max=10_000, help="At most this many.")] = 200,
    as_json: JSON = False,
) -> None:
    """List closures, soonest first.

    Example: compax blackouts list --building PB --from "today 00:00"
    """
    with engine(ctx) as compax:
        zone = compax.reads.zone()
        start = parse_when(from_, zone, now(), "from") if from_ else None
        end = parse_when(to, zone, now(), "to") if to else None

        async def listed(admin: Admin) -> list[dict[str, Any]]:
            room_id = (await admin.room_named(room))["id"] if room else None
            query = validated(
                BlackoutQuery,
                room_id=room_id,
                building=building,
                start=start,
                end=end,
            )
            return await admin.list_blackouts(query)

        every = administer(compax, listed)
        found = every[:limit]
        emit(found if as_json else [_row(b, compax) for b in found], COLUMNS, as_json)
        if len(every) > limit:
            more_than_shown("closures", "raise --limit or narrow --from and --to")


@app.command()
def remove(
    ctx: typer.Context, blackout: Annotated[int, typer.Argument(help="The blackout's id.")]
) -> None:
    """Remove a closure; the room or building is open again for that time.

    Example: compax blackouts remove 12
    """
    with engine(ctx) as compax:
        administer(compax, lambda admin: admin.remove_blackout(blackout))
        err.print(f"Removed blackout {blackout}")
