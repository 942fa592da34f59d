"""``compax rooms``: find rooms and free rooms, from the local replica (works offline)."""

from __future__ import annotations

from typing import Annotated

import typer

from compax_cli.context import engine, now, room_id
from compax_cli.output import emit
from sync.schemas import RoomKind, RoomQuery
from sync.when import parse_duration, parse_when

app = typer.Typer(help="Find rooms and free rooms (offline too).", no_args_is_help=True)
JSON = Annotated[bool, typer.Option("--json", help="Print JSON for scripts.")]
COLUMNS = [
    ("id", "id"),
    ("building", "building"),
    ("room", "code"),
    ("kind", "kind"),
    ("seats", "capacity"),
    ("features", "features"),
]


def _flat(room: dict[str, object]) -> dict[str, object]:
    features = room.get("features") or []
    return {**room, "features": ", ".join(features) if isinstance(features, list) else features}


@app.command("list")
def list_rooms(
    ctx: typer.Context,
    building: Annotated[str | None, typer.Option(help="Building code.")] = None,
    kind: Annotated[RoomKind | None, typer.Option(help="Room kind.")] = None,
    capacity: Annotated[int | None, typer.Option(min=0, help="At least this many seats.")] = None,
    feature: Annotated[
        list[str] | None, typer.Option(help="Required feature (repeatable).")
    ] = None,
    limit: Annotated[int, typer.Option(min=1, max=10_000, help="Rooms per page.")] = 100,
    page: Annotated[int, typer.Option(min=1, help="Page number.")] = 1,
    as_json: JSON = False,
) -> None:
    """List rooms, filtered.

    Example: compax rooms list --building PB --capacity 40 --feature projector
    """
    with engine(ctx) as compax:
        wanted = RoomQuery(building=building, kind=kind, capacity=capacity, features=feature or [])
        rooms = compax.reads.rooms(
            building=wanted.building,
            kind=wanted.kind,
            capacity=wanted.capacity,
            features=wanted.features,
            limit=limit,
            offset=(page - 1) * limit,
        )
        emit([_flat(r) for r in rooms], COLUMNS, as_json)


@app.command()
def show(
    ctx: typer.Context,
    room: Annotated[str, typer.Argument(help="PB/101 or an id.")],
    as_json: JSON = False,
) -> None:
    """Show one room with its rules.

    Example: compax rooms show PB/101
    """
    with engine(ctx) as compax:
        found = compax.reads.room(room_id(compax, room))
        assert found is not None
        emit(
            _flat(found),
            [*COLUMNS, ("bookable", "bookable"), ("opening hours", "opening_hours")],
            as_json,
        )


@app.command()
def free(
    ctx: typer.Context,
    at: Annotated[
        str, typer.Option(help='Start, campus time: "2026-11-25 10:00", "tomorrow 14:00".')
    ],
    for_: Annotated[str, typer.Option("--for", help="Length: 90m, 2h, 1h30m.")],
    capacity: Annotated[int | None, typer.Option(min=0, help="At least this many seats.")] = None,
    feature: Annotated[
        list[str] | None, typer.Option(help="Required feature (repeatable).")
    ] = None,
    building: Annotated[str | None, typer.Option(help="Building code.")] = None,
    kind: Annotated[RoomKind | None, typer.Option(help="Room kind.")] = None,
    limit: Annotated[int, typer.Option(min=1, max=500, help="At most this many rooms.")] = 50,
    as_json: JSON = False,
) -> None:
    """Rooms free and open for the whole time, smallest that fits first.

    Example: compax rooms free --at "2026-11-25 10:00" --for 2h --capacity 40 --feature projector
    """
    with engine(ctx) as compax:
        start = parse_when(at, compax.reads.zone(), now(), "at")
        end = start + parse_duration(for_, "for")
        wanted = RoomQuery(building=building, kind=kind, capacity=capacity, features=feature or [])
        rooms = compax.reads.free_rooms(
            start,
            end,
            capacity=wanted.capacity,
            features=wanted.features,
            building=wanted.building,
            kind=wanted.kind,
            limit=limit,
        )
        emit([_flat(r) for r in rooms], COLUMNS, as_json)
