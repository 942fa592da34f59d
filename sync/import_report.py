"""What an import of another system's file needs fixed, found in one pass: each row is mapped
(``sync.mapping``), its references resolved (``sync.references``), and every problem counted,
so that a dry run's report shows all there is to map at once: unknown columns with
suggestions, the values to map with their rows and first line, references no record answers
to, codes derived from names and rooms of unknown capacity."""

from __future__ import annotations

import shlex
from dataclasses import dataclass, field
from typing import Any

from sync.errors import FieldError
from sync.kinds import BOOKINGS, ROOMS, TIMETABLE, Kind, split_list
from sync.mapping import (
    LIST_READERS,
    READERS,
    ImportMapping,
    Reader,
    Unmapped,
    folded,
    header_column,
    suggestions,
)
from sync.references import References, Unresolved
from sync.vocabulary import normalised_room_code

#: The longest room code; a code derived from a longer name is cut to it.
ROOM_CODE_LENGTH = 64


@dataclass
class Values:
    """One written value that needs mapping: how many rows hold it and the first one's line."""

    rows: int
    line: int
    message: str
    suggestion: str | None = None
    #: A reference that more than one record answers to (not one that none answers to).
    shared: bool = False

    def as_dict(self) -> dict[str, Any]:
        return {
            "rows": self.rows,
            "first_line": self.line,
            "message": self.message,
            "suggestion": self.suggestion,
        }


@dataclass
class MappingReport:
    """Everything about a file's shape that an import had to map, derive or could not read."""

    #: Header → the columns it may mean (an unknown column is not imported).
    unknown_columns: dict[str, list[str]] = field(default_factory=dict)
    missing_columns: list[str] = field(default_factory=list)
    #: Column → the headers that all fill it (which of them is meant is not guessed).
    twice: dict[str, list[str]] = field(default_factory=dict)
    #: Column → written value → its rows, for values that are none of the column's words.
    unmapped: dict[str, dict[str, Values]] = field(default_factory=dict)
    #: Column → written value → its rows, for references no record (or more than one) answers.
    unresolved: dict[str, dict[str, Values]] = field(default_factory=dict)
    derived_codes: int = 0
    #: New rooms without a capacity (a row without one leaves an existing room's as it is).
    unknown_capacity: int = 0

    @property
    def header_refused(self) -> bool:
        """Whether the real import would stop at this header before sending anything."""
        return bool(self.unknown_columns or self.missing_columns or self.twice)

    def count(
        self, table: dict[str, dict[str, Values]], column: str, value: str, line: int, why: str
    ) -> None:
        found = table.setdefault(column, {}).get(value)
        if found is None:
            table[column][value] = Values(1, line, why)
        else:
            found.rows += 1

    def as_dict(self) -> dict[str, Any]:
        def tables(table: dict[str, dict[str, Values]]) -> dict[str, Any]:
            return {c: {v: n.as_dict() for v, n in vs.items()} for c, vs in table.items()}

        return {
            "unknown_columns": [
                {"column": c, "suggestions": s, "map": map_option(c, s)}
                for c, s in self.unknown_columns.items()
            ],
            "missing_columns": self.missing_columns,
            "columns_given_twice": self.twice,
            "unmapped_values": tables(self.unmapped),
            "unresolved_references": tables(self.unresolved),
            "derived_codes": self.derived_codes,
            "unknown_capacity": self.unknown_capacity,
        }


def map_option(column: str, found: list[str]) -> str:
    """The option that maps ``column`` to its first suggestion, or drops it."""
    target = found[0] if found else ""
    return f"--map {shlex.quote(f'{column}={target}')}"


def value_option(column: str, value: str, to: str | None = None) -> str:
    """The option that maps ``value`` in ``column`` to ``to`` (to a word in capitals, the
    column's name, to replace, when there is no guess)."""
    return f"--map-value {shlex.quote(f'{column}:{value.strip()}={to or column.upper()}')}"


def unknown_column(column: str, found: list[str]) -> str:
    """An unknown column, with what it may mean and the option to add."""
    return (
        f"unknown column {column!r}"
        + (f" (did you mean {' or '.join(found)}?)" if found else "")
        + f": add {map_option(column, found)}"
        + ("" if found else " to leave it out")
    )


def given_twice(column: str, headers: list[str]) -> str:
    return f"{column} is given by {' and '.join(map(repr, headers))}: map all but one elsewhere"


def unknown_columns_message(report: MappingReport) -> str:
    return "; ".join(unknown_column(c, found) for c, found in report.unknown_columns.items())


@dataclass
class RowMapper:
    """Turns a row of the file into the kind's columns: renamed, values mapped and read,
    references resolved; every problem is a field error of the row and a count in
    ``report``."""

    kind: Kind
    mapping: ImportMapping
    references: References
    term: str | None = None
    #: Whether a row with a column the kind has not is refused (else left out, and reported).
    strict: bool = False
    report: MappingReport = field(default_factory=MappingReport)
    _columns: dict[str, str | None] = field(default_factory=dict)
    #: Codes cut from long names, by building: the folded name and the line it came from.
    _cut: dict[tuple[str, str], tuple[str, int]] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self._known = [c.name for c in self.kind.columns]
        #: The columns the CSV header fills, once mapped.
        self.columns: set[str] = set()

    def header(self, headers: list[str]) -> None:
        """Note the unknown and the missing columns of a CSV header."""
        filled: dict[str, list[str]] = {}
        for header in headers:
            if column := self._column(header):
                filled.setdefault(column, []).append(header)
        present = self.columns = set(filled)
        self.report.twice = {c: hs for c, hs in filled.items() if len(hs) > 1}
        required = [c.name for c in self.kind.columns if c.required]
        if self.kind is ROOMS and "name" in present:
            required.remove("code")
        self.report.missing_columns = [c for c in required if c not in present]

    def _column(self, header: str) -> str | None:
        """The column ``header`` fills ('' when dropped), ``None`` when the kind has none:
        that header, or the column a mapping names, is reported with suggestions."""
        if header not in self._columns:
            target = header_column(self.mapping, header, self._known)
            if target and target not in self._known and not target.startswith("_"):
                self.report.unknown_columns[header] = suggestions(target, self._known)
                target = None
            elif target is None:
                self.report.unknown_columns[header] = suggestions(header, self._known)
            self._columns[header] = target
        return self._columns[header]

    def row(self, line: int, values: dict[str, Any]) -> tuple[dict[str, Any], list[FieldError]]:
        """The row in the kind's columns, and what in it cannot be read."""
        row: dict[str, Any] = {}
        errors: list[FieldError] = []
        headers: dict[str, str] = {}
        for header, value in values.items():
            column = self._column(header)
            if column and column in row:
                given = self.report.twice.setdefault(column, [])
                given += [h for h in (headers[column], header) if h not in given]
                if self.strict:
                    errors.append(FieldError(header, given_twice(column, given)))
            if column:
                row[column], headers[column] = value, header
            elif column is None and self.strict:
                found = self.report.unknown_columns[header]
                errors.append(FieldError(header, unknown_column(header, found)))
        readers = READERS.get(self.kind.name, {})
        for column, value in list(row.items()):
            if column in LIST_READERS and isinstance(value, str) and value.strip():
                value = split_list(value)
            if column in LIST_READERS and isinstance(value, list):
                read = LIST_READERS[column]
                row[column] = [self._cell(line, column, v, read, errors) for v in value]
            elif isinstance(value, str):
                row[column] = self._cell(line, column, value, readers.get(column), errors)
        self._references(line, row, errors)
        if self.kind is ROOMS:
            self._room(line, row, errors)
        return row, errors

    def _cell(
        self, line: int, column: str, value: Any, read: Reader | None, errors: list[FieldError]
    ) -> Any:
        """A cell (or a list's item) as mapped and then read; one that no word reads stays
        as written, with its error."""
        if not isinstance(value, str):
            return value
        mapped = self.mapping.value(column, value)
        if mapped is not None:
            value = mapped
        if read is None or (not value.strip() and column != "capacity"):
            return value
        try:
            return read(value)
        except Unmapped as exc:
            errors.append(self._unmapped(line, column, exc))
            return value

    def _unmapped(self, line: int, column: str, exc: Unmapped) -> FieldError:
        if exc.suggestion:
            hint = f"did you mean {exc.suggestion}? add " + value_option(
                column, exc.value, exc.suggestion
            )
        else:
            hint = "add " + value_option(column, exc.value)
        message = f"{exc}; {hint}"
        self.report.count(self.report.unmapped, column, exc.value.strip(), line, message)
        self.report.unmapped[column][exc.value.strip()].suggestion = exc.suggestion
        return FieldError(column, message)

    def _room(self, line: int, row: dict[str, Any], errors: list[FieldError]) -> None:
        """A room without a code takes one made from its name."""
        name = str(row.get("name") or "")
        if str(row.get("code") or "").strip() or not name.strip():
            return
        try:
            whole = normalised_room_code(name)
        except ValueError as exc:
            errors.append(
                FieldError("code", f"no code, and the name {name!r} cannot be one: {exc}")
            )
            return
        code = whole[:ROOM_CODE_LENGTH].rstrip()
        if code != whole:
            # A name cut to a code may be another room's cut name: that room is never taken.
            building = str(row.get("building") or "")
            place = (folded(building), code)
            known = self.references.room_name(building, code)
            if known is not None and folded(known) != folded(name):
                taken = f"the code of the room {known!r}"
            else:
                other = self._cut.setdefault(place, (folded(name), line))
                taken = (
                    ""
                    if other[0] == folded(name)
                    else f"the code line {other[1]} made from another name"
                )
            if taken:
                errors.append(
                    FieldError(
                        "code",
                        f"no code, and the name {name!r} cut to {ROOM_CODE_LENGTH} characters "
                        f"is {taken}: give this room a code",
                    )
                )
                return
        row["code"] = code
        self.report.derived_codes += 1

    def _references(self, line: int, row: dict[str, Any], errors: list[FieldError]) -> None:
        """Buildings, rooms and terms named by code or name, as the codes and ids they are."""
        try:
            if self.kind is BOOKINGS and isinstance(row.get("room"), str) and "/" in row["room"]:
                row["room"] = self._resolve(line, "room", row["room"], self._booking_room)
            if self.kind in (ROOMS, TIMETABLE) and _written(row.get("building")):
                row["building"] = self._resolve(
                    line, "building", row["building"], self.references.building
                )
            if self.kind is TIMETABLE and _written(row.get("room")):
                room = _in(self, str(row.get("building", "")))
                row["room"] = self._resolve(line, "room", row["room"], room)
            if self.kind is TIMETABLE:
                term = row.get("term") if _written(row.get("term")) else self.term
                if term is None:
                    raise _Refused("term", "name the term: --term, or a term column")
                row["term"] = self._resolve(line, "term", str(term), self.references.term)
        except _Refused as exc:
            errors.append(FieldError(exc.column, exc.message))

    def _booking_room(self, cell: str) -> str:
        """``BUILDING/ROOM`` as codes, each part by code or name; a building name with a
        ``/`` in it is found too, since a room's code never has one: the first split whose
        building and room are both found, else the first whose building is."""
        splits = [(cell[:at], cell[at + 1 :]) for at, c in enumerate(cell) if c == "/"]
        no_building: Unresolved | None = None
        no_room: Unresolved | None = None
        for building, room in splits:
            try:
                code = self.references.building(building)
            except Unresolved as exc:
                no_building = no_building or exc
                continue
            try:
                return f"{code}/{self.references.room(code, room)}"
            except Unresolved as exc:
                no_room = no_room or exc
        failure = no_room or no_building
        assert failure is not None
        raise failure

    def _resolve(self, line: int, column: str, cell: Any, find: Any) -> str:
        try:
            found: str = find(str(cell))
        except Unresolved as exc:
            message = f"{exc}, or add {value_option(column, str(cell))}"
            self.report.count(self.report.unresolved, column, str(cell).strip(), line, message)
            self.report.unresolved[column][str(cell).strip()].shared = exc.shared
            raise _Refused(column, message) from None
        return found


def _in(mapper: RowMapper, building: str) -> Any:
    return lambda cell: mapper.references.room(building, cell)


def _written(value: Any) -> bool:
    return value is not None and str(value).strip() != ""


class _Refused(Exception):
    def __init__(self, column: str, message: str) -> None:
        self.column, self.message = column, message
