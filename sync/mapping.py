"""Importing what other systems export: column renames, value maps, and the built-in readings
of enumerated cells (weekdays, kinds, roles, yes/no, unknown capacities, times), applied to
each row before it becomes a request. What cannot be read is never guessed: it is named,
with a suggestion and the option that maps it."""

from __future__ import annotations

import difflib
import json
import re
import tomllib
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sync.errors import ValidationFailed
from sync.permissions import Role
from sync.vocabulary import BuildingKind, Purpose, RoomKind, Weekday

# --- Words -----------------------------------------------------------------------------------


def folded(text: str) -> str:
    """A header or value as compared: trimmed, inner spaces collapsed, lower case."""
    return " ".join(str(text).split()).casefold()


def _word(text: str) -> str:
    """A value as an enumeration's word: folded, spaces and ``-`` as ``_``, no dots."""
    return re.sub(r"[\s-]+", "_", folded(text).replace(".", ""))


class Unmapped(ValueError):
    """A cell that is none of its column's words; ``suggestion`` is the closest one if any."""

    def __init__(self, value: str, expected: str, suggestion: str | None) -> None:
        super().__init__(f"{value!r} is {expected}")
        self.value = value
        self.expected = expected
        self.suggestion = suggestion


_WEEKDAYS = {
    **{day.value: day.value for day in Weekday},
    **dict.fromkeys(("monday",), "mon"),
    **dict.fromkeys(("tues", "tuesday"), "tue"),
    **dict.fromkeys(("weds", "wednesday"), "wed"),
    **dict.fromkeys(("thur", "thurs", "thursday"), "thu"),
    **dict.fromkeys(("friday",), "fri"),
    **dict.fromkeys(("saturday",), "sat"),
    **dict.fromkeys(("sunday",), "sun"),
}
_ROOM_KINDS = {
    **{kind.value: kind.value for kind in RoomKind},
    "laboratory": "lab",
    "lecture_theatre": "lecture_hall",
    "lecture_theater": "lecture_hall",
    "seminar": "seminar_room",
    "meeting": "meeting_room",
}
_BUILDING_KINDS = {
    **{kind.value: kind.value for kind in BuildingKind},
    "lab": "laboratory",
    "admin": "administrative",
    "administration": "administrative",
}
_ROLES = {role.value: role.value for role in Role}
_PURPOSES = {purpose.value: purpose.value for purpose in Purpose}
_BOOLEANS = {
    **dict.fromkeys(("y", "yes", "true", "t", "1", "on"), "true"),
    **dict.fromkeys(("n", "no", "false", "f", "0", "off"), "false"),
}
#: Capacity cells that mean the number of seats is not known.
UNKNOWN_CAPACITY = frozenset({"", "?", "n/a", "na", "unknown", "-", "--", "none", "tbc", "tbd"})
_TIME = re.compile(r"^(\d{1,2})[:.](\d{2})(?::(\d{2}))?$")


def _words(table: Mapping[str, str], expected: str) -> Callable[[str], str]:
    def read(value: str) -> str:
        found = table.get(_word(value))
        if found is None:
            close = difflib.get_close_matches(_word(value), list(table), n=1, cutoff=0.6)
            raise Unmapped(value, expected, table[close[0]] if close else None)
        return found

    return read


weekday = _words(_WEEKDAYS, "no weekday")
room_kind = _words(_ROOM_KINDS, f"no room kind ({', '.join(RoomKind)})")
building_kind = _words(_BUILDING_KINDS, f"no building kind ({', '.join(BuildingKind)})")
role = _words(_ROLES, f"no role ({', '.join(Role)})")
purpose = _words(_PURPOSES, f"no purpose ({', '.join(Purpose)})")
boolean = _words(_BOOLEANS, "neither yes nor no")


def capacity(value: str) -> str | None:
    """A capacity cell: ``None`` (unknown) for a blank, ``?``, ``n/a``, ``unknown`` or ``-``."""
    return None if folded(value) in UNKNOWN_CAPACITY else value.strip()


def clock(value: str) -> str:
    """A time of day as ``HH:MM`` (``8:00``, ``08:00:00``), or ``HH:MM:SS`` when it has
    seconds; anything else goes on as written, for the server to name."""
    match = _TIME.match(value.strip())
    if match is None:
        return value
    hours, minutes, seconds = match.groups()
    text = f"{int(hours):02d}:{minutes}"
    return text if seconds in (None, "00") else f"{text}:{seconds}"


#: Reads a cell: the text as the API takes it, ``None`` for a value that is absent, or
#: ``Unmapped``.
Reader = Callable[[str], str | None]

#: How each kind's enumerated and special cells are read.
READERS: dict[str, dict[str, Reader]] = {
    "buildings": {"kind": building_kind, "checkin_required": boolean},
    "rooms": {
        "kind": room_kind,
        "capacity": capacity,
        "bookable": boolean,
        "checkin_required": boolean,
    },
    "users": {"role": role, "active": boolean},
    "terms": {},
    "timetable": {"weekday": weekday, "start": clock, "end": clock},
    "bookings": {"purpose": purpose, "private": boolean, "override": boolean},
}

#: Lists whose items are words, each read (and value-mapped) on its own.
LIST_READERS: dict[str, Reader] = {"approval_roles": role}

#: Names other systems give the columns, which suggestions for an unknown column consider.
ALIASES: dict[str, str] = {
    "bldg": "building",
    "building_code": "code",
    "building_name": "name",
    "room_no": "code",
    "room_number": "code",
    "room_code": "code",
    "room_name": "name",
    "type": "kind",
    "room_type": "kind",
    "building_type": "kind",
    "seats": "capacity",
    "size": "capacity",
    "level": "floor",
    "storey": "floor",
    "day": "weekday",
    "from": "start",
    "to": "end",
    "start_time": "start",
    "end_time": "end",
    "module_code": "course_code",
    "module": "course_code",
    "course": "course_code",
    "module_name": "course_name",
    "module_title": "course_name",
    "title": "course_name",
    "students": "attendees",
    "class_size": "attendees",
    "venue": "room",
    "start_date": "first_day",
    "end_date": "last_day",
    "login": "username",
    "user": "username",
    "mail": "email",
    "e_mail": "email",
    "dept": "department",
}


def suggestions(column: str, known: list[str]) -> list[str]:
    """The known columns an unknown header may mean, closest first."""
    word = _word(column)
    found = [ALIASES[word]] if ALIASES.get(word) in known else []
    for alias, target in ALIASES.items():
        if target in known and alias in word.split("_") and target not in found:
            found.append(target)
    close = difflib.get_close_matches(word, known, n=3, cutoff=0.6)
    return [*found, *(c for c in close if c not in found)][:3]


# --- The mapping -----------------------------------------------------------------------------


@dataclass
class ImportMapping:
    """Column renames (source header → column; an empty target drops the column) and value
    maps (column → written value → value), as options give them and files keep them."""

    columns: dict[str, str] = field(default_factory=dict)
    values: dict[str, dict[str, str]] = field(default_factory=dict)

    def target(self, header: str) -> str | None:
        """The column a header is renamed to ('' when dropped), ``None`` when not mapped."""
        wanted = folded(header)
        for source, target in self.columns.items():
            if folded(source) == wanted:
                return target
        return None

    def value(self, column: str, text: str) -> str | None:
        """What ``text`` in ``column`` (any case) is mapped to, ``None`` when it is not."""
        table = next((t for c, t in self.values.items() if folded(c) == folded(column)), None)
        if not table:
            return None
        wanted = folded(text)
        for source, target in table.items():
            if folded(source) == wanted:
                return target
        return None

    def merged(self, other: ImportMapping) -> ImportMapping:
        """This mapping with ``other``'s entries over its own (``Room No`` over ``room no``)."""
        mapping = ImportMapping(dict(self.columns), {c: dict(v) for c, v in self.values.items()})
        for source, target in other.columns.items():
            _put(mapping.columns, source, target)
        for column, table in other.values.items():
            for source, target in table.items():
                mapping.put_value(column, source, target)
        return mapping

    def put_value(self, column: str, source: str, target: str) -> None:
        """Map ``source`` in ``column`` to ``target``, over a map of it in any case."""
        found = next((c for c in self.values if folded(c) == folded(column)), column)
        _put(self.values.setdefault(found, {}), source, target)

    def as_dict(self) -> dict[str, Any]:
        return {"columns": self.columns, "values": self.values}

    @classmethod
    def from_dict(cls, data: Any, origin: str) -> ImportMapping:
        """A mapping as a file holds it: ``{"columns": {…}, "values": {column: {…}}}``."""
        data = data if isinstance(data, dict) else {}
        columns: Any = data.get("columns", {})
        values: Any = data.get("values", {})
        if (
            not data
            or not _texts(columns)
            or not isinstance(values, dict)
            or not all(isinstance(k, str) and _texts(v) for k, v in values.items())
        ):
            raise ValidationFailed.single(
                origin,
                'write {"columns": {"Source": "target"}, "values": {"column": {"From": "to"}}}',
            )
        return cls(dict(columns), {k: dict(v) for k, v in values.items()})

    @classmethod
    def load(cls, path: str) -> ImportMapping:
        """A mapping file: JSON, or TOML when its name ends in ``.toml``."""
        try:
            text = Path(path).read_text(encoding="utf-8")
        except OSError as exc:
            raise ValidationFailed.single(
                "mapping", f"cannot read {path}: {exc.strerror}"
            ) from None
        try:
            data = tomllib.loads(text) if path.endswith(".toml") else json.loads(text)
        except (ValueError, tomllib.TOMLDecodeError) as exc:
            raise ValidationFailed.single("mapping", f"{path} cannot be read: {exc}") from None
        return cls.from_dict(data, "mapping")

    def save(self, path: str) -> None:
        """Write the mapping as ``load`` reads it: TOML when the name ends in ``.toml``."""
        text = _toml(self) if path.endswith(".toml") else json.dumps(self.as_dict(), indent=2)
        try:
            Path(path).write_text(text + "\n", encoding="utf-8")
        except OSError as exc:
            raise ValidationFailed.single(
                "save_mapping", f"cannot write {path}: {exc.strerror}"
            ) from None

    @classmethod
    def from_options(
        cls, maps: list[str], value_maps: list[str], ignore: list[str]
    ) -> ImportMapping:
        """``--map SOURCE=TARGET``, ``--map-value COLUMN:FROM=TO`` and ``--ignore COLUMN``."""
        mapping = cls()
        for option in maps:
            source, equals, target = option.partition("=")
            if not equals or not source.strip():
                raise ValidationFailed.single("map", f"{option!r}: write SOURCE=TARGET")
            _put(mapping.columns, source.strip(), target.strip())
        for column in ignore:
            _put(mapping.columns, column.strip(), "")
        for option in value_maps:
            column, colon, rest = option.partition(":")
            source, equals, target = rest.partition("=")
            if not colon or not equals or not column.strip() or not source.strip():
                raise ValidationFailed.single(
                    "map_value", f"{option!r}: write COLUMN:FROM=TO, e.g. weekday:Wednsday=wed"
                )
            mapping.put_value(column.strip(), source.strip(), target.strip())
        return mapping


def _put(table: dict[str, str], key: str, value: str) -> None:
    """``table[key] = value``, replacing an entry whose key differs only in case or spaces
    (the look-ups compare keys folded, so two such entries would leave the first in force)."""
    for old in [k for k in table if folded(k) == folded(key)]:
        del table[old]
    table[key] = value


def _toml(mapping: ImportMapping) -> str:
    """``mapping`` as TOML: ``[columns]`` and a ``[values.COLUMN]`` table per column (a JSON
    string, escapes included, is a TOML basic string)."""

    def table(name: str, entries: dict[str, str]) -> list[str]:
        return [f"[{name}]", *(f"{json.dumps(k)} = {json.dumps(v)}" for k, v in entries.items())]

    lines = table("columns", mapping.columns)
    for column, entries in mapping.values.items():
        lines += ["", *table(f"values.{json.dumps(column)}", entries)]
    return "\n".join(lines)


def _texts(value: Any) -> bool:
    return isinstance(value, dict) and all(
        isinstance(k, str) and isinstance(v, str) for k, v in value.items()
    )


def header_column(mapping: ImportMapping, header: str, known: list[str]) -> str | None:
    """The column ``header`` fills: its mapping, else the column it names ignoring case,
    surrounding spaces and spaces for ``_``; ``''`` when dropped, ``None`` when unknown."""
    target = mapping.target(header)
    if target is not None:
        return target
    if header.startswith("_"):
        return header
    word = _word(header)
    return word if word in known else None
