"""``compax rooms free``, ``add`` and ``update``: free rooms from the local replica (works
offline), as the judge accepts them; rooms added and changed on the server (campus managers).
Lookups (``list``, ``show``) are in ``compax_cli.room_lookups``."""

from __future__ import annotations

from typing import Annotated, Any

import typer

from compax_cli.context import administer, engine, now, validated
from compax_cli.options import JSON
from compax_cli.output import emit, err, more_than_shown
from compax_cli.room_lookups import COLUMNS, MIN_RATING, SORT, rated, shown
from sync.admin import Admin
from sync.schemas import RoomCreate, RoomQuery, RoomUpdate
from sync.vocabulary import RoomKind
from sync.when import parse_duration, parse_opening_hours, parse_when

#: The most free rooms judged to filter or sort them by rating.
FREE_ROOMS = 10_000


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
    min_rating: MIN_RATING = None,
    sort: SORT = None,
    limit: Annotated[
        int, typer.Option(min=1, max=500, help="At most this many rooms; stderr says if more.")
    ] = 50,
    as_json: JSON = False,
) -> None:
    """Rooms free and open for the whole time, smallest that fits first (or best rated first).

    Example: compax rooms free --at "2026-11-25 10:00" --for 2h --capacity 40 --feature projector

    Example: compax rooms free --at "tomorrow 10:00" --for 1h --min-rating 4 --sort rating
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
            limit=FREE_ROOMS if min_rating is not None or sort is not None else limit + 1,
        )
        rooms = rated(rooms, min_rating, sort)
        emit([shown(r, as_json) for r in rooms[:limit]], COLUMNS, as_json)
        if len(rooms) > limit:
            more_than_shown("free rooms", "raise --limit (up to 500) or narrow the search")


NAME = Annotated[str | None, typer.Option(help="Room name.")]
KIND = Annotated[RoomKind | None, typer.Option(help="Room kind.")]
FLOOR = Annotated[int | None, typer.Option(help="Floor number.")]
SEATS = Annotated[int | None, typer.Option(help="Seats.")]
FEATURES = Annotated[
    list[str] | None, typer.Option("--feature", help="A feature (repeatable); replaces the list.")
]
BOOKABLE = Annotated[
    bool | None, typer.Option("--bookable/--not-bookable", help="Open the room for booking or not.")
]
HOURS = Annotated[
    str | None, typer.Option(help='Opening hours: "mon-fri 08:00-20:00, sat 09:00-13:00".')
]
MIN_LENGTH = Annotated[str | None, typer.Option(help="Shortest booking: 30m.")]
MAX_LENGTH = Annotated[str | None, typer.Option(help="Longest booking: 4h.")]
DAYS_AHEAD = Annotated[int | None, typer.Option(help="Bookable at most this many days ahead.")]
NOTICE = Annotated[str | None, typer.Option(help="Least notice before a booking starts: 2h.")]
CHECKIN = Annotated[
    bool | None,
    typer.Option(
        "--checkin/--no-checkin", help="Bookings here must be checked in (unset: the building's)."
    ),
]
CHECKIN_OPENS = Annotated[
    str | None, typer.Option(help="Check-in opens this long before a start: 15m.")
]
CHECKIN_CLOSES = Annotated[
    str | None, typer.Option(help="Check-in closes this long after a start: 15m.")
]


def _minutes(text: str | None, field: str) -> int | None:
    return None if text is None else int(parse_duration(text, field).total_seconds() // 60)


def _checkin_fields(checkin: bool | None, opens: str | None, closes: str | None) -> dict[str, Any]:
    """The check-in options ``add`` and ``update`` share; ``None`` where not given."""
    return {
        "checkin_required": checkin,
        "checkin_opens_minutes": _minutes(opens, "checkin-opens"),
        "checkin_closes_minutes": _minutes(closes, "checkin-closes"),
    }


def _room_fields(
    name: str | None,
    kind: RoomKind | None,
    floor: int | None,
    feature: list[str] | None,
    bookable: bool | None,
    hours: str | None,
    min_length: str | None,
    max_length: str | None,
    days_ahead: int | None,
    notice: str | None,
) -> dict[str, Any]:
    """The options ``add`` and ``update`` share, in the server's terms (minutes, opening
    hours per weekday); ``None`` where an option was not given."""

    return {
        "name": name,
        "kind": kind,
        "floor": floor,
        "features": feature,
        "bookable": bookable,
        "opening_hours": None if hours is None else parse_opening_hours(hours),
        "min_duration_minutes": _minutes(min_length, "min-length"),
        "max_duration_minutes": _minutes(max_length, "max-length"),
        "max_days_ahead": days_ahead,
        "min_notice_minutes": _minutes(notice, "notice"),
    }


def add(
    ctx: typer.Context,
    room: Annotated[str, typer.Argument(help="BUILDING/CODE of the new room, as PB/101.")],
    capacity: Annotated[int | None, typer.Option(help="Seats; left out: unknown.")] = None,
    name: NAME = None,
    kind: KIND = None,
    floor: FLOOR = None,
    feature: FEATURES = None,
    bookable: BOOKABLE = None,
    hours: HOURS = None,
    min_length: MIN_LENGTH = None,
    max_length: MAX_LENGTH = None,
    days_ahead: DAYS_AHEAD = None,
    notice: NOTICE = None,
    checkin: CHECKIN = None,
    checkin_opens: CHECKIN_OPENS = None,
    checkin_closes: CHECKIN_CLOSES = None,
    as_json: JSON = False,
) -> None:
    """Add a room to a building (campus managers); rules left out follow the campus defaults,
    and a room added without --capacity has an unknown capacity.

    Example: compax rooms add PB/101 --capacity 40 --feature projector --hours "mon-fri 08:00-18:00"
    """
    with engine(ctx) as compax:
        building, _, code = room.partition("/")
        fields = _room_fields(
            name, kind, floor, feature, bookable, hours, min_length, max_length, days_ahead, notice
        ) | _checkin_fields(checkin, checkin_opens, checkin_closes)
        data = validated(RoomCreate, building=building, code=code, capacity=capacity, **fields)
        added = administer(compax, lambda admin: admin.add_room(data))
        emit(shown(added, as_json), COLUMNS, as_json)
        err.print("Added; sync to see it in `compax rooms list`")


async def _update(admin: Admin, room: str, changes: RoomUpdate) -> dict[str, Any]:
    return await admin.update_room((await admin.room_named(room))["id"], changes)


def update(
    ctx: typer.Context,
    room: Annotated[str, typer.Argument(help="PB/101 or an id.")],
    capacity: SEATS = None,
    unknown_capacity: Annotated[
        bool, typer.Option("--unknown-capacity", help="Its seats are not known.")
    ] = False,
    name: NAME = None,
    kind: KIND = None,
    floor: FLOOR = None,
    feature: FEATURES = None,
    bookable: BOOKABLE = None,
    hours: HOURS = None,
    min_length: MIN_LENGTH = None,
    max_length: MAX_LENGTH = None,
    days_ahead: DAYS_AHEAD = None,
    notice: NOTICE = None,
    checkin: CHECKIN = None,
    checkin_opens: CHECKIN_OPENS = None,
    checkin_closes: CHECKIN_CLOSES = None,
    as_json: JSON = False,
) -> None:
    """Change a room (campus managers): only the options given change.

    Example: compax rooms update PB/101 --capacity 48 --not-bookable --checkin
    """
    if unknown_capacity and capacity is not None:
        raise typer.BadParameter("give --capacity or --unknown-capacity, not both")
    with engine(ctx) as compax:
        fields = _room_fields(
            name, kind, floor, feature, bookable, hours, min_length, max_length, days_ahead, notice
        ) | _checkin_fields(checkin, checkin_opens, checkin_closes)
        changes = validated(RoomUpdate, capacity=capacity, **fields)
        if unknown_capacity:
            changes = RoomUpdate.model_validate(
                {**changes.model_dump(exclude_unset=True), "capacity": None}
            )
        if not changes.model_fields_set:
            raise typer.BadParameter("name at least one thing to change, as --capacity 48")
        updated = administer(compax, lambda admin: _update(admin, room, changes))
        emit(shown(updated, as_json), COLUMNS, as_json)
        err.print("Changed; sync to see it here")
