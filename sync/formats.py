"""Rows in and out of files: CSV, JSON (one array of objects), JSON Lines, and iCalendar for
bookings. Files are read and written as streams, a row at a time, so that memory stays flat
however large the file; every row read carries the line it starts on.

Reading is strict: a file that is not UTF-8, a CSV quote never closed, or a CSV row with fewer
cells than the header names stops the import at that line, since what follows it cannot be
trusted to be the rows the file's author meant.
"""

from __future__ import annotations

import codecs
import csv
import json
from collections.abc import Iterator
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path
from typing import IO, Any, Protocol, TextIO

from icalendar import Event

from sync.errors import ValidationFailed
from sync.reads import instant_of
from sync.vocabulary import ical_status


class Format(StrEnum):
    CSV = "csv"
    JSON = "json"
    JSONL = "jsonl"
    ICS = "ics"


class InputFormat(StrEnum):
    """The formats an import reads."""

    CSV = "csv"
    JSON = "json"
    JSONL = "jsonl"


#: File name suffixes and the format each names.
SUFFIXES = {
    ".csv": Format.CSV,
    ".json": Format.JSON,
    ".jsonl": Format.JSONL,
    ".ndjson": Format.JSONL,
    ".ics": Format.ICS,
}
#: The largest row a JSON array may hold; a larger one is taken for a broken file.
MAX_ROW_CHARS = 1_000_000
_CHUNK = 64 * 1024


def format_for(path: str, given: Format | None, option: str = "format") -> Format:
    """The format ``given``, or the one ``path``'s suffix names; standard input needs one given."""
    if given is not None:
        return given
    if path == "-":
        raise ValidationFailed.single(option, "give --format for standard input")
    suffix = Path(path).suffix.lower()
    if suffix not in SUFFIXES:
        raise ValidationFailed.single(
            option, f"cannot tell the format of {path} from its name; give --format"
        )
    return SUFFIXES[suffix]


class TextSource(Protocol):
    """What ``RowReader`` reads: text by lines, or by pieces of at most about ``size``."""

    def __iter__(self) -> Iterator[str]: ...

    def read(self, size: int, /) -> str: ...


class Utf8Text:
    """A byte stream read as UTF-8 text (a leading byte order mark dropped), a line or a
    piece at a time; a byte that is not UTF-8 stops the reading, naming its line."""

    def __init__(self, binary: IO[bytes], name: str) -> None:
        self._binary = binary
        self._name = name
        self._decoder = codecs.getincrementaldecoder("utf-8")()
        self._lines_done = 0
        self._started = False

    def _piece(self) -> str | None:
        """The next bytes decoded, up to ``_CHUNK`` and never past the end of a line;
        ``None`` at the end of the stream."""
        raw = self._binary.readline(_CHUNK)
        try:
            text = self._decoder.decode(raw, final=not raw)
        except UnicodeDecodeError as exc:
            raise ValidationFailed.single(
                self._name, f"line {self._lines_done + 1}: is not UTF-8 text ({exc.reason})"
            ) from None
        self._lines_done += raw.endswith(b"\n")
        if not self._started:
            self._started, text = True, text.removeprefix("\ufeff")
        return text if raw else None

    def __iter__(self) -> Iterator[str]:
        """Whole lines, each with its line ending."""
        line = ""
        while (piece := self._piece()) is not None:
            line += piece
            if line.endswith("\n"):
                yield line
                line = ""
        if line:
            yield line

    def read(self, size: int, /) -> str:
        """About ``size`` characters (more when a line ends past it), '' at the end."""
        pieces: list[str] = []
        length = 0
        while length < size and (piece := self._piece()) is not None:
            pieces.append(piece)
            length += len(piece)
        return "".join(pieces)


@dataclass(frozen=True)
class SourceRow:
    """One row as read: the line it starts on, its values, and why it is no record if it is
    not one (a JSON Lines line that is not an object, a CSV row with too many cells)."""

    line: int
    values: dict[str, Any]
    problem: str | None = None


class RowReader:
    """Iterates the rows of a CSV, JSON or JSON Lines stream; ``columns`` is the CSV header.

    A problem with one row becomes that row's ``problem``; a broken file (bad CSV quoting, a
    CSV row short of cells, a JSON array that stops parsing) raises ``ValidationFailed``
    naming the file and the line.
    """

    def __init__(self, stream: TextSource, fmt: Format, name: str) -> None:
        if fmt is Format.ICS:
            raise ValueError("iCalendar is written, never read")
        self.stream = stream
        self.format = fmt
        self.name = name
        self.columns: list[str] | None = None
        self._csv: Any = None
        self._csv_line = 0
        if fmt is Format.CSV:
            self._csv = csv.reader(stream, strict=True)
            self.columns = self._header()

    def broken(self, line: int, why: str) -> ValidationFailed:
        return ValidationFailed.single(self.name, f"line {line}: {why}")

    def __iter__(self) -> Iterator[SourceRow]:
        try:
            if self.format is Format.CSV:
                yield from self._csv_rows()
            elif self.format is Format.JSONL:
                yield from self._json_lines()
            else:
                yield from self._json_array()
        except UnicodeDecodeError as exc:
            raise ValidationFailed.single(self.name, f"is not UTF-8 text ({exc.reason})") from None

    # --- CSV ------------------------------------------------------------------------------

    def _records(self) -> Iterator[tuple[int, list[str]]]:
        """Non-blank CSV records with the line each starts on."""
        try:
            for cells in self._csv:
                line, self._csv_line = self._csv_line + 1, self._csv.line_num
                if any(cell.strip() for cell in cells):
                    yield line, cells
        except csv.Error as exc:
            why = (
                "a quote opened in this row is never closed"
                if "unexpected end of data" in str(exc)
                else f"not valid CSV ({exc})"
            )
            raise self.broken(self._csv_line + 1, why) from None

    def _header(self) -> list[str]:
        try:
            line, cells = next(self._records())
        except StopIteration:
            raise ValidationFailed.single(
                self.name, "is empty; the first line names the columns"
            ) from None
        except UnicodeDecodeError as exc:
            raise ValidationFailed.single(self.name, f"is not UTF-8 text ({exc.reason})") from None
        header = [cell.strip() for cell in cells]
        if "" in header:
            raise self.broken(line, f"column {header.index('') + 1} of the header has no name")
        repeated = sorted({name for name in header if header.count(name) > 1})
        if repeated:
            raise self.broken(line, f"the header names {', '.join(repeated)} more than once")
        return header

    def _csv_rows(self) -> Iterator[SourceRow]:
        assert self.columns is not None
        width = len(self.columns)
        for line, cells in self._records():
            values = dict(zip(self.columns, cells, strict=False))
            if len(cells) < width:
                raise self.broken(line, f"has {len(cells)} cells; the header names {width}")
            if len(cells) > width:
                yield SourceRow(line, values, f"has {len(cells)} cells; the header names {width}")
            else:
                yield SourceRow(line, values)

    # --- JSON Lines -----------------------------------------------------------------------

    def _json_lines(self) -> Iterator[SourceRow]:
        for line, text in enumerate(self.stream, start=1):
            if not text.strip():
                continue
            try:
                value = json.loads(text)
            except json.JSONDecodeError as exc:
                yield SourceRow(line, {"_text": text.rstrip("\r\n")}, f"not valid JSON ({exc.msg})")
                continue
            yield _object_row(line, value)

    # --- JSON array -----------------------------------------------------------------------

    def _json_array(self) -> Iterator[SourceRow]:
        """The objects of one JSON array, decoded one at a time from a sliding buffer."""
        decoder = json.JSONDecoder()
        text, position, line, ended = "", 0, 1, False

        def more() -> bool:
            nonlocal text, position, ended
            if ended:
                return False
            chunk = self.stream.read(_CHUNK)
            ended = not chunk
            text, position = text[position:] + chunk, 0
            return bool(chunk)

        def skip_space() -> str:
            """The next character that is not white space ('' at the end), counting lines."""
            nonlocal position, line
            while True:
                while position < len(text) and text[position] in " \t\r\n":
                    line += text[position] == "\n"
                    position += 1
                if position < len(text):
                    return text[position]
                if not more():
                    return ""

        if skip_space() != "[":
            raise self.broken(line, "a .json file holds one array of objects; use jsonl for lines")
        position += 1
        if skip_space() == "]":
            return
        while True:
            skip_space()
            start_line = line
            while True:
                try:
                    value, end = decoder.raw_decode(text, position)
                except json.JSONDecodeError as exc:
                    if len(text) - position > MAX_ROW_CHARS or not more():
                        raise self.broken(start_line, f"not valid JSON ({exc.msg})") from None
                    continue
                # A number or literal that ends with the buffer may go on in the next chunk.
                if end < len(text) or not more():
                    break
            line += text.count("\n", position, end)
            position = end
            yield _object_row(start_line, value)
            after = skip_space()
            position += 1
            if after == "]":
                if skip_space():
                    raise self.broken(line, "text after the end of the array")
                return
            if after != ",":
                raise self.broken(line, "expected ',' or ']' after a row")


def _object_row(line: int, value: Any) -> SourceRow:
    if isinstance(value, dict):
        return SourceRow(line, value)
    return SourceRow(line, {"_value": value}, "is not a JSON object")


class RowWriter:
    """Writes rows to a text stream as CSV (``columns`` in order), a JSON array or JSON Lines;
    ``close`` ends the document (the JSON array's bracket) without closing the stream."""

    def __init__(self, stream: TextIO, fmt: Format, columns: list[str]) -> None:
        if fmt is Format.ICS:
            raise ValueError("iCalendar has its own writer")
        self.stream = stream
        self.format = fmt
        self.columns = columns
        self.count = 0
        self._csv = csv.writer(stream, lineterminator="\n") if fmt is Format.CSV else None
        if self._csv is not None:
            self._csv.writerow(columns)

    def write(self, row: dict[str, Any]) -> None:
        if self._csv is not None:
            self._csv.writerow([csv_cell(row.get(name)) for name in self.columns])
        elif self.format is Format.JSONL:
            self.stream.write(json.dumps(row, ensure_ascii=False, default=str) + "\n")
        else:
            self.stream.write("[\n" if self.count == 0 else ",\n")
            self.stream.write(json.dumps(row, ensure_ascii=False, default=str))
        self.count += 1

    def close(self) -> None:
        if self.format is Format.JSON:
            self.stream.write("[]\n" if self.count == 0 else "\n]\n")
        self.stream.flush()


def csv_cell(value: Any) -> str:
    """A value as a CSV cell: empty for none, ``true``/``false`` for booleans."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, dict | list):
        return json.dumps(value, ensure_ascii=False)
    return str(value)


class IcsWriter:
    """Writes bookings (as the API returns them) as one iCalendar (RFC 5545) document, an
    event at a time; ``close`` ends the calendar without closing the stream."""

    def __init__(self, stream: TextIO, name: str) -> None:
        self.stream = stream
        self.count = 0
        stream.write(
            "BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//Compax//Room bookings//EN\r\n"
            f"CALSCALE:GREGORIAN\r\nX-WR-CALNAME:{_ics_text(name)}\r\n"
        )

    def write(self, booking: dict[str, Any]) -> None:
        event = Event()
        event.add("uid", f"{booking['id']}@compax")
        event.add("dtstamp", instant_of(booking["updated_at"]))
        event.add("dtstart", instant_of(booking["start"]))
        event.add("dtend", instant_of(booking["end"]))
        event.add("summary", booking.get("title") or "Booked")
        event.add("location", booking["room"])
        event.add("status", ical_status(booking["status"]))
        event.add("sequence", int(booking["version"]) - 1)
        event.add("categories", [booking["purpose"]])
        if booking.get("series_id"):
            event.add("related-to", f"{booking['series_id']}@compax")
        self.stream.write(event.to_ical().decode())
        self.count += 1

    def close(self) -> None:
        self.stream.write("END:VCALENDAR\r\n")
        self.stream.flush()


def _ics_text(value: str) -> str:
    """Text escaped for an iCalendar property value."""
    return value.replace("\\", "\\\\").replace(";", "\\;").replace(",", "\\,").replace("\n", "\\n")
