"""The administration screen's forms: their fields, what turns their values into schemas,
and how the bookings a new closure covers are told."""

from __future__ import annotations

from datetime import date
from typing import Any
from zoneinfo import ZoneInfo

from compax_tui.screens.base import span
from compax_tui.screens.dialogs import FormField
from sync.admin import new_password
from sync.errors import ValidationFailed
from sync.permissions import Role
from sync.reads import instant_of
from sync.schemas import RoomCreate, RoomUpdate
from sync.vocabulary import RoomKind, counted

ROLES = [(role.value.replace("_", " "), role.value) for role in Role]
KINDS = [(kind.value.replace("_", " "), kind.value) for kind in RoomKind]
#: The blackout form's field that each field of the server's answer is about.
BLACKOUT_FIELDS = {"room_id": "where", "building": "where", "building_id": "where",
                   "end": "length"}  # fmt: skip
#: How many of the bookings inside a new closure are named; the rest are counted.
COVERED_NAMED = 5


def user_fields() -> list[FormField]:
    """A new user, with a generated password to hand over."""
    return [
        FormField("username", "Username"),
        FormField("full_name", "Full name"),
        FormField("role", "Role", Role.STAFF.value, "select", ROLES),
        FormField("department", "Department"),
        FormField("password", "Password", new_password()),
    ]


def room_fields(buildings: list[tuple[str, str]]) -> list[FormField]:
    """A new room in one of ``buildings`` (label, code)."""
    return [
        FormField("building", "Building", buildings[0][1], "select", buildings),
        FormField("code", "Code", placeholder="101"),
        FormField("kind", "Kind", RoomKind.CLASSROOM.value, "select", KINDS),
        FormField("capacity", "Seats", kind="integer", placeholder="?"),
        FormField("features", "Features", placeholder="projector, ac"),
    ]


def seats_value(capacity: int | None) -> str:
    """A room's seats as the form shows them: blank when unknown (and blank saves unknown)."""
    return "" if capacity is None else str(capacity)


def room_edit_fields(room: dict[str, Any]) -> list[FormField]:
    """What may change of ``room``, filled with what it is now."""
    return [
        FormField("kind", "Kind", room["kind"], "select", KINDS),
        FormField("capacity", "Seats", seats_value(room["capacity"]), "integer", placeholder="?"),
        FormField("features", "Features", ", ".join(room["features"])),
        FormField("bookable", "Bookable", "yes" if room["bookable"] else "no", "checkbox"),
    ]


def blackout_fields(today: date) -> list[FormField]:
    """A closure of a room or a building, from today 08:00 for ten hours unless changed."""
    return [
        FormField("where", "Close", placeholder="PB/101, or PB for the building"),
        FormField("start", "From", f"{today} 08:00"),
        FormField("length", "For", "10h"),
        FormField("reason", "Reason", placeholder="as people will read it"),
    ]


def covered_text(bookings: list[dict[str, Any]], zone: ZoneInfo) -> str:
    """The bookings inside a new closure, which it keeps: how many, and which."""
    lines = [f"{counted(len(bookings), 'booking')} inside it kept; move them or tell their owners:"]
    for booking in bookings[:COVERED_NAMED]:
        when = span(instant_of(booking["start"]), instant_of(booking["end"]), zone)
        title = booking.get("title") or "(private)"
        owner = f" ({booking['owner']})" if booking.get("owner") else ""
        lines.append(f"{booking['room']} {when} {title}{owner}")
    if len(bookings) > COVERED_NAMED:
        lines.append(f"and {len(bookings) - COVERED_NAMED} more")
    return "\n".join(lines)


def _features(text: str) -> list[str]:
    """Features typed as ``projector, ac``."""
    return [feature.strip() for feature in text.split(",") if feature.strip()]


def room_create(values: dict[str, Any]) -> RoomCreate:
    """A new room from the form's values."""
    return RoomCreate.model_validate(
        {
            **values,
            "capacity": values["capacity"] or None,
            "features": _features(values["features"]),
        }
    )


def room_update(values: dict[str, Any]) -> RoomUpdate:
    """A room's changes from the form's values."""
    return RoomUpdate.model_validate(
        {
            **values,
            "capacity": values["capacity"] or None,
            "features": _features(values["features"]),
        }
    )


def grant_fields(buildings: list[tuple[str, str]]) -> list[FormField]:
    """A building (label, code) of ``buildings`` and the user to make its manager."""
    return [
        FormField("building", "Building", buildings[0][1], "select", buildings),
        FormField("username", "Username", placeholder="alice"),
    ]


def grant_of(values: dict[str, Any]) -> tuple[str, str]:
    """The building code and username a grant form names."""
    username = str(values["username"]).strip()
    if not username:
        raise ValidationFailed.single("username", "name the user")
    return str(values["building"]), username
