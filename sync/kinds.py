"""What ``compax import`` and ``compax export`` move: each kind's columns (which are required,
which exports write), its natural key, and how a cell's text is read and written where the
value is not plain (lists, opening hours, holidays, campus-local times).

A CSV cell is text; the same text is accepted in JSON for these columns, and JSON may also give
the structured value itself.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, date, datetime, time
from functools import cached_property
from typing import Any
from zoneinfo import ZoneInfo

from sync.errors import FieldError, ValidationFailed
from sync.formats import Format
from sync.lookups import written_code
from sync.rules import local_instant
from sync.when import parse_opening_hours

# --- Cells -----------------------------------------------------------------------------------


def split_list(text: str) -> list[str]:
    """``projector, ac`` (or ``projector;ac``) as a list."""
    return [part.strip() for part in text.replace(";", ",").split(",") if part.strip()]


def join_list(values: list[str]) -> str:
    return ", ".join(values)


def parse_holidays(text: str) -> list[dict[str, str]]:
    """``Mid-term break 2026-10-12..2026-10-16; Founders Day 2026-03-06`` as holidays."""
    holidays = []
    for part in filter(None, (p.strip() for p in text.split(";"))):
        name, _, days = part.rpartition(" ")
        first, _, last = days.partition("..")
        try:
            date.fromisoformat(first)
            date.fromisoformat(last or first)
        except ValueError:
            name = ""
        if not name.strip():
            raise ValidationFailed.single(
                "holidays", f"{part!r}: write each as Name 2026-12-21..2027-01-04, with '; '"
            )
        holidays.append({"name": name.strip(), "first_day": first, "last_day": last or first})
    return holidays


def format_holidays(holidays: list[dict[str, str]]) -> str:
    return "; ".join(
        f"{h['name']} {h['first_day']}"
        + ("" if h["last_day"] == h["first_day"] else f"..{h['last_day']}")
        for h in holidays
    )


def format_opening_hours(week: dict[str, dict[str, str]]) -> str:
    """Opening hours as ``mon-fri 08:00-20:00, sat 09:00-13:00`` (what the import reads)."""
    days = ["mon", "tue", "wed", "thu", "fri", "sat", "sun"]
    spans: list[tuple[str, str, str]] = []  # (first day, last day, hours)
    for day in days:
        if day not in week:
            continue
        hours = f"{_clock(week[day]['open'])}-{_clock(week[day]['close'])}"
        previous = spans[-1] if spans else None
        if previous and previous[2] == hours and days.index(previous[1]) == days.index(day) - 1:
            spans[-1] = (previous[0], day, hours)
        else:
            spans.append((day, day, hours))
    return ", ".join(
        f"{first}{'' if first == last else '-' + last} {hours}" for first, last, hours in spans
    )


def _clock(value: str) -> str:
    """A time of day as ``HH:MM`` where it has no seconds."""
    return value[:5] if value.endswith(":00") and len(value) == 8 else value


def _instant(text: str, zone: ZoneInfo) -> str:
    """An ISO 8601 instant in UTC; a time without an offset is campus local time. Text that is
    no time at all goes to the server as it is, which names the field and why."""
    try:
        moment = datetime.fromisoformat(text.strip())
    except ValueError:
        return text
    if moment.tzinfo is None:
        moment = local_instant(moment.date(), moment.time(), zone)
    return moment.astimezone(UTC).isoformat()


def _time_key(value: Any) -> str:
    text = str(value).strip()
    try:
        return time.fromisoformat(text).isoformat()
    except ValueError:
        return text


def _code(value: Any) -> str:
    return str(value or "").strip().upper()


def _room_label(value: Any) -> str:
    """A ``BUILDING/CODE`` cell as stored, its code's inner spaces collapsed."""
    return "/".join(written_code(part) for part in str(value or "").split("/", 1))


# --- Kinds -----------------------------------------------------------------------------------

#: Reads a cell's text into the value the API takes (times without an offset in ``ZoneInfo``).
Parse = Callable[[str, ZoneInfo], Any]


@dataclass(frozen=True)
class Column:
    """One column of an import file: whether it must be there, whether exports write it, and
    how its text is read (``parse``) and written (``show``) where it is not a plain value."""

    name: str
    required: bool = False
    exported: bool = True
    parse: Parse | None = None
    show: Callable[[Any], str] | None = None


@dataclass(frozen=True)
class Kind:
    """What can be imported and exported: its columns, natural key, and (for bookings and
    timetables) the room and time a row holds, which a dry run checks for clashes. Rows per
    request default to ``batch_size``: a batch is one write transaction on the server, so slow
    kinds send fewer rows at a time to keep each one short."""

    name: str
    noun: str
    columns: tuple[Column, ...]
    key: Callable[[dict[str, Any]], str] | None
    slot: Callable[[dict[str, Any]], tuple[str, str, str] | None] | None = None
    updatable: bool = True
    batch_size: int = 500
    list_path: str | None = None

    def column(self, name: str) -> Column | None:
        return self._by_name.get(name)

    @cached_property
    def _by_name(self) -> dict[str, Column]:
        """The columns by name: ``column`` is asked for every cell of a file."""
        return {c.name: c for c in self.columns}

    @property
    def nouns(self) -> str:
        return f"{self.noun}s"

    @property
    def exported(self) -> list[Column]:
        return [c for c in self.columns if c.exported]


def _timetable_slot(row: dict[str, Any]) -> tuple[str, str, str]:
    room = f"{_code(row.get('building'))}/{written_code(str(row.get('room') or ''))}"
    place = f"{row.get('term', '')}|{room}|{_weekday(row)}"
    return place, _time_key(row.get("start")), _time_key(row.get("end"))


def _weekday(row: dict[str, Any]) -> str:
    return str(row.get("weekday", "")).strip().lower()


def _booking_slot(row: dict[str, Any]) -> tuple[str, str, str] | None:
    if str(row.get("status", "")).strip().lower() == "cancelled":
        return None
    return _room_label(row.get("room")), str(row.get("start")), str(row.get("end"))


_FEATURES = Column("features", parse=lambda text, _: split_list(text), show=join_list)
_HOURS = Column(
    "opening_hours",
    parse=lambda text, _: parse_opening_hours(text, "opening_hours"),
    show=format_opening_hours,
)
_INSTANT: Parse = _instant
#: Roles whose requests wait for approval, ``staff, class_rep`` in a CSV cell.
_APPROVAL_ROLES = Column("approval_roles", parse=lambda text, _: split_list(text), show=join_list)

BUILDINGS = Kind(
    "buildings",
    "building",
    (
        Column("code", True),
        Column("name", True),
        Column("kind"),
        Column("floors"),
        Column("checkin_required"),
        _APPROVAL_ROLES,
    ),
    key=lambda row: _code(row.get("code")),
    list_path="/api/v1/buildings",
)
ROOMS = Kind(
    "rooms",
    "room",
    (
        Column("building", True),
        Column("code", True),
        Column("name"),
        Column("kind"),
        Column("floor"),
        Column("capacity"),
        Column("bookable"),
        _FEATURES,
        _HOURS,
        Column("min_duration_minutes"),
        Column("max_duration_minutes"),
        Column("max_days_ahead"),
        Column("min_notice_minutes"),
        Column("checkin_required"),
        Column("checkin_opens_minutes"),
        Column("checkin_closes_minutes"),
        _APPROVAL_ROLES,
    ),
    key=lambda row: _room_label(f"{row.get('building') or ''}/{row.get('code') or ''}"),
    list_path="/api/v1/rooms",
)
USERS = Kind(
    "users",
    "user",
    (
        Column("username", True),
        Column("full_name"),
        Column("email"),
        Column("department"),
        Column("year_group"),
        Column("role"),
        Column("active"),
        Column("password", exported=False),
    ),
    key=lambda row: str(row.get("username", "")).strip().lower(),
    batch_size=200,
    list_path="/api/v1/users",
)
TERMS = Kind(
    "terms",
    "term",
    (
        Column("name", True),
        Column("first_day", True),
        Column("last_day", True),
        Column("holidays", parse=lambda text, _: parse_holidays(text), show=format_holidays),
    ),
    key=lambda row: str(row.get("name", "")).strip(),
    list_path="/api/v1/terms",
)
TIMETABLE = Kind(
    "timetable",
    "timetable row",
    (
        Column("course_code", True),
        Column("course_name"),
        Column("department"),
        Column("year_group"),
        Column("weekday", True),
        Column("start", True, show=_clock),
        Column("end", True, show=_clock),
        Column("building", True),
        Column("room", True),
        Column("attendees"),
        Column("term", exported=False),
    ),
    key=lambda row: (
        f"{row.get('term', '')}|{written_code(str(row.get('course_code') or ''))}|"
        f"{_weekday(row)}|{_time_key(row.get('start'))}"
    ),
    slot=_timetable_slot,
    updatable=False,
    batch_size=200,  # a row books each week of the term: 2,600 bookings for 13 weeks
)
BOOKINGS = Kind(
    "bookings",
    "booking",
    (
        Column("id"),
        Column("external_id", exported=False),
        Column("room", True),
        Column("start", True, parse=_INSTANT),
        Column("end", True, parse=_INSTANT),
        Column("title"),
        Column("purpose"),
        Column("attendees"),
        Column("private"),
        Column("notes"),
        Column("owner"),
        Column("status"),
        Column("override", exported=False),
        Column("override_reason", exported=False),
        Column("series_id"),
    ),
    key=None,
    slot=_booking_slot,
    batch_size=1000,
    list_path="/api/v1/bookings",
)
#: The columns of a series record (``sync.schemas.SeriesRecord``), in the order exports write.
_SERIES_COLUMNS = (
    "id", "room", "owner", "title", "purpose", "attendees", "private", "notes", "status",
    "frequency", "interval", "weekdays", "first_day", "last_day", "start_time", "end_time",
    "exceptions", "term", "course_code", "course_name", "department", "year_group",
    "weekday_key",
)  # fmt: skip
SERIES = Kind(
    "series",
    "series",
    tuple(
        Column(name, required=name in {"id", "room", "owner", "title"}) for name in _SERIES_COLUMNS
    ),
    key=lambda row: str(row.get("id", "")).strip().lower(),
    updatable=False,
    list_path="/api/v1/series",
)
RATINGS = Kind(
    "ratings",
    "rating",
    (
        Column("room", True),
        Column("rating", True),
        Column("comment"),
        Column("user"),
        Column("external_id"),
    ),
    key=None,
    list_path="/api/v1/ratings",
)
ISSUES = Kind(
    "issues",
    "issue",
    (
        Column("id"),
        Column("external_id"),
        Column("room", True),
        Column("category"),
        Column("summary", True),
        Column("details"),
        Column("status"),
        Column("reporter"),
        Column("assignee"),
        Column("created_at", parse=_INSTANT),
        Column("resolved_at", parse=_INSTANT),
        Column("resolution"),
    ),
    key=lambda row: (
        f"external:{row['external_id']}"
        if row.get("external_id")
        else f"id:{str(row.get('id', '')).strip().lower()}"
    ),
    list_path="/api/v1/issues",
)
KINDS = {
    kind.name: kind
    for kind in (BUILDINGS, ROOMS, USERS, TERMS, TIMETABLE, BOOKINGS, RATINGS, ISSUES)
}


def request_row(
    kind: Kind, values: dict[str, Any], zone: ZoneInfo, *, blank_is_absent: bool
) -> dict[str, Any]:
    """A row as the bulk endpoint takes it: notes (``_…``) and empty values left out, cells
    that are text for structured values parsed; ``ValidationFailed`` names any that is not."""
    row: dict[str, Any] = {}
    errors: list[FieldError] = []
    for name, value in values.items():
        if name.startswith("_") or value is None:
            continue
        if isinstance(value, str) and blank_is_absent and not value.strip():
            continue
        column = kind.column(name)
        if column is not None and column.parse is not None and isinstance(value, str):
            try:
                value = column.parse(value, zone)
            except ValidationFailed as exc:
                errors.extend(exc.errors)
                continue
        row[name] = value
    if errors:
        raise ValidationFailed(errors)
    return row


def file_row(kind: Kind, item: dict[str, Any], fmt: Format) -> dict[str, Any]:
    """An API record as an export row: the importable columns, structured values as the text
    the import reads in CSV."""
    row = {}
    for column in kind.exported:
        value = item.get(column.name)
        if fmt is Format.CSV and value in ([], {}):
            value = None
        if fmt is Format.CSV and column.show is not None and value is not None:
            value = column.show(value)
        row[column.name] = value
    return row
