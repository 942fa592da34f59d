"""``compax rooms list`` and ``compax rooms show``: rooms looked up in the local replica (works
offline), without loading the engine, so that scripts which list rooms start fast."""

from __future__ import annotations

from collections.abc import Callable
from typing import Annotated, TypeVar

import typer

from compax_cli.lookup import lookups, room_id
from compax_cli.options import JSON
from compax_cli.output import emit, more_than_shown
from sync.errors import ValidationFailed
from sync.vocabulary import RoomKind, normalised_code, normalised_features

T = TypeVar("T")
R = TypeVar("R")
COLUMNS = [
    ("id", "id"),
    ("building", "building"),
    ("room", "code"),
    ("kind", "kind"),
    ("seats", "capacity"),
    ("features", "features"),
    ("issues", "issues"),
]


def shown(room: dict[str, object], as_json: bool) -> dict[str, object]:
    """A room as printed: as the server has it for scripts; for people, features joined and
    its unresolved problem reports counted (``⚠2``)."""
    features = room.get("features") or []
    if as_json or not isinstance(features, list):
        return room
    reports = room.get("open_issues")
    return {**room, "features": ", ".join(features), "issues": f"⚠{reports}" if reports else ""}


def _written(field: str, value: T, normalise: Callable[[T], R]) -> R:
    """``value`` as the replica stores it; a badly written one refused, naming ``field``."""
    try:
        return normalise(value)
    except ValueError as error:
        raise ValidationFailed.single(field, str(error)) from None


def list_rooms(
    ctx: typer.Context,
    building: Annotated[str | None, typer.Option(help="Building code.")] = None,
    kind: Annotated[RoomKind | None, typer.Option(help="Room kind.")] = None,
    capacity: Annotated[
        int | None, typer.Option(min=0, max=10_000, help="At least this many seats.")
    ] = None,
    feature: Annotated[
        list[str] | None, typer.Option(help="Required feature (repeatable).")
    ] = None,
    limit: Annotated[int, typer.Option(min=1, max=10_000, help="Rooms per page.")] = 100,
    page: Annotated[int, typer.Option(min=1, help="Page number.")] = 1,
    as_json: JSON = False,
) -> None:
    """List rooms, filtered, a page at a time; when there are more, stderr says so.

    Example: compax rooms list --building PB --capacity 40 --feature projector
    """
    with lookups(ctx) as rooms:
        found = rooms.rooms(
            building=None if building is None else _written("building", building, normalised_code),
            kind=kind,
            capacity=capacity,
            features=_written("feature", feature or [], normalised_features),
            limit=limit + 1,
            offset=(page - 1) * limit,
        )
        emit([shown(r, as_json) for r in found[:limit]], COLUMNS, as_json)
        if len(found) > limit:
            more_than_shown("rooms", f"add --page {page + 1}")


def show(
    ctx: typer.Context,
    room: Annotated[str, typer.Argument(help="PB/101 or an id.")],
    as_json: JSON = False,
) -> None:
    """Show one room with its rules.

    Example: compax rooms show PB/101
    """
    with lookups(ctx) as rooms:
        found = rooms.room(room_id(rooms, room))
        if found is None:
            raise ValidationFailed.single("room", f"no room {room!r} here; try `compax rooms list`")
        emit(
            shown(found, as_json),
            [*COLUMNS, ("bookable", "bookable"), ("opening hours", "opening_hours")],
            as_json,
        )
