"""``compax rooms list`` and ``compax rooms show``: rooms looked up in the local replica (works
offline), without loading the engine, so that scripts which list rooms start fast."""

from __future__ import annotations

from collections.abc import Callable
from typing import Annotated, Any, TypeVar, cast

import typer

from compax_cli.lookup import lookups, room_id
from compax_cli.options import JSON
from compax_cli.output import emit, more_than_shown
from sync.errors import ValidationFailed
from sync.lookups import seats_text
from sync.rating_rules import by_rating, rating_label
from sync.vocabulary import RoomKind, RoomSort, normalised_code, normalised_features

T = TypeVar("T")
R = TypeVar("R")
COLUMNS = [
    ("id", "id"),
    ("building", "building"),
    ("room", "code"),
    ("kind", "kind"),
    ("seats", "capacity"),
    ("features", "features"),
    ("rating", "rating"),
    ("issues", "issues"),
]
#: Options that choose rooms by rating, as ``compax rooms list`` and ``free`` take them.
MIN_RATING = Annotated[
    float | None,
    typer.Option(
        min=1, max=5, help="Only rooms rated at least this on average (unrated rooms left out)."
    ),
]
SORT = Annotated[RoomSort | None, typer.Option(help="rating: best rated first, unrated last.")]
#: The most rooms read to filter or sort by rating, which the replica cannot index.
ALL_ROOMS = 100_000


def shown(room: dict[str, object], as_json: bool) -> dict[str, object]:
    """A room as printed: as the server has it for scripts; for people, features joined and
    an unknown capacity as ``?``, its unresolved problem reports counted (``⚠2``)."""
    if as_json:
        return room
    features = room.get("features") or []
    reports = room.get("open_issues")
    count, total = room.get("rating_count"), room.get("rating_total")
    rating = rating_label(count, total) if isinstance(count, int) and isinstance(total, int) else ""
    return {
        **room,
        "features": ", ".join(features) if isinstance(features, list) else features,
        "capacity": seats_text(cast("int | None", room.get("capacity"))),
        "rating": rating,
        "issues": f"⚠{reports}" if reports else "",
    }


def rated(
    rooms: list[dict[str, Any]], min_rating: float | None, sort: RoomSort | None
) -> list[dict[str, Any]]:
    """``rooms`` at least ``min_rating`` on average, best first with ``--sort rating``."""
    if min_rating is not None and abs(round(min_rating * 10) - min_rating * 10) > 1e-6:
        raise ValidationFailed.single("min_rating", "give it to one decimal, such as 4.5")
    return by_rating(rooms, min_rating=min_rating, best_first=sort == RoomSort.RATING)


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
    min_rating: MIN_RATING = None,
    sort: SORT = None,
    limit: Annotated[int, typer.Option(min=1, max=10_000, help="Rooms per page.")] = 100,
    page: Annotated[int, typer.Option(min=1, help="Page number.")] = 1,
    as_json: JSON = False,
) -> None:
    """List rooms, filtered, a page at a time; when there are more, stderr says so.

    Example: compax rooms list --building PB --capacity 40 --feature projector --sort rating
    """
    by_rating_too = min_rating is not None or sort is not None
    with lookups(ctx) as rooms:
        found = rooms.rooms(
            building=None if building is None else _written("building", building, normalised_code),
            kind=kind,
            capacity=capacity,
            features=_written("feature", feature or [], normalised_features),
            limit=ALL_ROOMS if by_rating_too else limit + 1,
            offset=0 if by_rating_too else (page - 1) * limit,
        )
        if by_rating_too:
            found = rated(found, min_rating, sort)[(page - 1) * limit : page * limit + 1]
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
