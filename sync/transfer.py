"""Bulk import and export through the HTTP API: the core behind ``compax import`` and
``compax export``.

An import reads a file a row at a time (``sync.formats``), turns each row into what the
server's bulk endpoint takes, and sends batches in file order, one at a time, so the server
always sees the rows before the current batch as written; the next batch is read while the
server works on the current one. Every row gets one outcome: created, updated,
unchanged or rejected (with its field and reason, copied to the rejects file in the input's
own format). The server matches rows to records on natural keys, so importing a file again
changes nothing. A dry run has the server check each batch and roll it back; a ledger of what
the earlier batches would have written (a temporary SQLite file, so memory stays flat) lets
later rows see them: the same key again is an update, an overlapping booking a clash.

An export pages through a list endpoint and writes each row as it arrives, in the columns the
import reads, so an export imports again as all unchanged.
"""

from __future__ import annotations

import asyncio
import hashlib
import itertools
import json
import os
import sqlite3
import sys
import tempfile
from collections import Counter
from collections.abc import AsyncGenerator, AsyncIterator, Callable, Iterator, Mapping
from contextlib import ExitStack, aclosing, contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import IO, Any, TextIO
from zoneinfo import ZoneInfo

from sync.admin import new_password
from sync.engine import Engine
from sync.errors import FieldError, ValidationFailed
from sync.formats import (
    Format,
    IcsWriter,
    RowReader,
    RowWriter,
    SourceRow,
    Utf8Text,
    format_for,
)
from sync.http import Http
from sync.import_report import MappingReport, RowMapper, given_twice, unknown_columns_message
from sync.kinds import (
    BOOKINGS,
    BUILDINGS,
    ISSUES,
    RATINGS,
    ROOMS,
    TIMETABLE,
    USERS,
    Kind,
    file_row,
    request_row,
)
from sync.mapping import ImportMapping
from sync.rating_rules import ImportedKeys
from sync.references import References, Unresolved
from sync.vocabulary import BulkStatus
from sync.when import parse_when

#: The most rows one bulk request may carry (the endpoints' limit).
MAX_BATCH = 1000
#: A batch of slow rows can take a while: the time one request may take, in seconds.
BULK_TIMEOUT = 300.0
#: Rows per page when an export reads a list (the API's maximum).
PAGE = 500
#: The columns a rejects file adds to each row; an import ignores every column named ``_…``.
NOTES = ("_line", "_field", "_reason")
#: How many rejected rows a report keeps to show (all of them go to the rejects file).
FIRST_REJECTS = 10

# --- Outcomes --------------------------------------------------------------------------------


@dataclass(frozen=True)
class Outcome:
    """What became of one row: its status, the fields at fault, and the record's id."""

    status: BulkStatus
    errors: tuple[FieldError, ...] = ()
    id: str | None = None


def _outcome(result: dict[str, Any], lines: list[int] | None = None) -> Outcome:
    """A bulk or timetable result as an ``Outcome`` (a dry run's ``would_create`` is created);
    a clash with a row of the request names that row's line of the file (``lines``)."""
    status = result["status"]
    errors = [FieldError(e["field"], e["message"]) for e in result.get("errors", [])]
    clashes = result.get("clashes") or []

    def problem(found: dict[str, Any]) -> str:
        row = found.get("row")
        if lines is not None and isinstance(row, int) and 0 <= row < len(lines):
            return f"clashes with line {lines[row]} of this file"
        return str(found.get("detail", found.get("type", "")))

    if clashes and errors:
        dates = "; ".join(
            f"{c['date']} {', '.join(problem(p) for p in c['problems'])}" for c in clashes[:3]
        )
        more = f"; and {len(clashes) - 3} more" if len(clashes) > 3 else ""
        errors[0] = FieldError(errors[0].field, f"{errors[0].message}: {dates}{more}")
    identifier = result.get("id") or result.get("series_id")
    return Outcome(
        BulkStatus.CREATED if status == "would_create" else BulkStatus(status),
        tuple(errors),
        None if identifier is None else str(identifier),
    )


@dataclass
class ImportReport:
    """How many rows ended in each status, and where rejects and new passwords went."""

    kind: str
    dry_run: bool
    counts: Counter[BulkStatus] = field(default_factory=Counter)
    rejects_file: str | None = None
    passwords_file: str | None = None
    passwords: int = 0
    #: The first rejected rows (line and errors), to show where no rejects file was asked for.
    first_rejects: list[tuple[int, tuple[FieldError, ...]]] = field(default_factory=list)
    #: What the file's shape needed mapped, derived, or could not be read.
    mapping: MappingReport = field(default_factory=MappingReport)
    #: A dry run went on past a CSV header that the real import refuses before sending a row.
    header_refused: bool = False

    @property
    def rows(self) -> int:
        return sum(self.counts.values())

    def as_dict(self) -> dict[str, Any]:
        return {
            "kind": self.kind,
            "dry_run": self.dry_run,
            "rows": self.rows,
            **{status.value: self.counts[status] for status in BulkStatus},
            "rejects_file": self.rejects_file,
            "passwords_file": self.passwords_file,
            "passwords": self.passwords,
            **self.mapping.as_dict(),
        }


@dataclass(frozen=True)
class ImportProgress:
    """Rows done so far, and bytes of the file read (``None`` for standard input)."""

    rows: int
    bytes_read: int | None
    total_bytes: int | None


# --- Dry runs --------------------------------------------------------------------------------


class DryRunLedger:
    """What the earlier batches of a dry run would have written, which the server rolled back.

    Kept in a temporary SQLite file, so memory stays flat however long the file: a key seen
    before makes a row an update (or unchanged, if it is the same row), and a booking or
    timetable row that overlaps an earlier one of the file in the same room is a clash.
    """

    def __init__(self, kind: Kind) -> None:
        self.kind = kind
        self._directory = tempfile.TemporaryDirectory(prefix="compax-dry-run-")
        self.db = sqlite3.connect(Path(self._directory.name) / "ledger.sqlite3")
        self.db.executescript(
            """
            PRAGMA journal_mode = OFF;
            PRAGMA synchronous = OFF;
            CREATE TABLE keys (key TEXT PRIMARY KEY, digest TEXT NOT NULL, line INTEGER);
            CREATE TABLE slots (
                key TEXT PRIMARY KEY, place TEXT, start TEXT, "end" TEXT, line INTEGER
            );
            CREATE INDEX slots_place ON slots (place, start);
            """
        )

    def close(self) -> None:
        self.db.close()
        self._directory.cleanup()

    def review(self, line: int, row: dict[str, Any], outcome: Outcome) -> Outcome:
        """``outcome`` (the server's, against the database) as it would be after the rows
        before this batch were written."""
        key = self.kind.key(row) if self.kind.key else outcome.id
        if key is None:
            return outcome
        # The fields the key is made of are compared as the key has them (``pb`` is ``PB``,
        # as the server stores it): only the others can make a row of the same key differ.
        keyed = {k for k in row if self.kind.key and self.kind.key({**row, k: None}) != key}
        digest = hashlib.sha256(
            json.dumps(
                {k: v for k, v in row.items() if k != "password" and k not in keyed},
                sort_keys=True,
                default=str,
            ).encode()
        ).hexdigest()
        status = outcome.status
        seen = self.db.execute("SELECT digest, line FROM keys WHERE key = ?", [key]).fetchone()
        if seen is not None and seen[0] == digest:
            status = BulkStatus.UNCHANGED
        elif seen is not None and self.kind.updatable:
            status = BulkStatus.UPDATED
        elif seen is not None:
            message = f"line {seen[1]} of this file has this {self.kind.noun} with other values"
            return Outcome(BulkStatus.REJECTED, (FieldError("row", message),), outcome.id)
        slot = self.kind.slot(row) if self.kind.slot else None
        if slot is not None and status is not BulkStatus.UNCHANGED:
            clash = self.db.execute(
                'SELECT line FROM slots WHERE place = ? AND start < ? AND "end" > ? AND key != ?'
                " LIMIT 1",
                [slot[0], slot[2], slot[1], key],
            ).fetchone()
            if clash is not None:
                message = f"clashes with line {clash[0]} of this file (same room and time)"
                return Outcome(BulkStatus.REJECTED, (FieldError("room", message),), outcome.id)
        self.db.execute("INSERT OR REPLACE INTO keys VALUES (?, ?, ?)", [key, digest, line])
        if status is not BulkStatus.UNCHANGED:
            self.db.execute("DELETE FROM slots WHERE key = ?", [key])
            if slot is not None:
                self.db.execute("INSERT INTO slots VALUES (?, ?, ?, ?, ?)", [key, *slot, line])
        return Outcome(status, outcome.errors, outcome.id)


# --- Files the import writes -----------------------------------------------------------------


class RejectsFile:
    """The rejected rows, in the input's format, each with ``_line``, ``_field`` and
    ``_reason``: fix them and import the file again."""

    def __init__(self, path: str, fmt: Format, columns: list[str] | None) -> None:
        self.path = path
        try:
            self.stream = open(path, "w", newline="", encoding="utf-8")  # noqa: SIM115 (see close)
        except OSError as exc:
            raise ValidationFailed.single(
                "rejects", f"cannot write {path}: {exc.strerror}"
            ) from None
        kept = [c for c in columns or [] if c not in NOTES]
        self.writer = RowWriter(self.stream, fmt, [*kept, *NOTES])

    def write(self, line: int, values: dict[str, Any], errors: tuple[FieldError, ...]) -> None:
        row = {k: v for k, v in values.items() if k not in NOTES}
        row["_line"] = line
        row["_field"] = ", ".join(dict.fromkeys(e.field for e in errors))
        row["_reason"] = "; ".join(e.message for e in errors)
        self.writer.write(row)

    def close(self) -> None:
        self.writer.close()
        self.stream.close()


class PasswordsFile:
    """Generated initial passwords, appended as ``username,password`` to a file that only its
    owner may read (0600); opened before the first batch that needs it is sent, so a user is
    never created with a password that could not be kept. A file this import created and
    wrote no password to (every user existed) is removed at the end."""

    def __init__(self, path: str | None) -> None:
        self.path = path
        self.count = 0
        self._stream: TextIO | None = None
        self._created = False

    def open(self) -> None:
        if self._stream is not None:
            return
        path = self.path or f"compax-passwords-{datetime.now():%Y%m%d-%H%M%S}.csv"
        self._created = not os.path.exists(path)
        try:
            descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
        except OSError as exc:
            raise ValidationFailed.single(
                "passwords", f"cannot write {path}: {exc.strerror}"
            ) from None
        os.fchmod(descriptor, 0o600)
        self._stream = os.fdopen(descriptor, "a", newline="", encoding="utf-8")
        self.path = path
        if self._stream.tell() == 0:
            self._stream.write("username,password\n")

    def write(self, username: str, password: str) -> None:
        assert self._stream is not None
        self._stream.write(f"{username},{password}\n")
        self.count += 1

    def sync(self) -> None:
        """Make the passwords written so far durable before anything else happens."""
        if self._stream is not None:
            self._stream.flush()
            os.fsync(self._stream.fileno())

    def close(self) -> None:
        if self._stream is not None:
            self.sync()
            self._stream.close()
            if self._created and not self.count and self.path:
                os.unlink(self.path)


# --- Import ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class ImportJob:
    """What to import: a kind, a file (``-`` for standard input) and the options."""

    kind: Kind
    source: str
    format: Format | None = None
    dry_run: bool = False
    rejects: str | None = None
    passwords: str | None = None
    term: str | None = None
    batch_size: int | None = None
    #: Values every row is sent with (a campus move's rule override), over the file's own.
    given: Mapping[str, Any] = field(default_factory=dict)
    #: How the file's columns and values become the kind's (``sync.mapping``).
    mapping: ImportMapping = field(default_factory=ImportMapping)


@dataclass
class _Pending:
    """One row of the current batch: as read (for the rejects file), as sent, and its fate."""

    line: int
    values: dict[str, Any]
    request: dict[str, Any] | None
    outcome: Outcome | None = None
    password: str | None = None
    #: Where the row is sent, when not to the batch's endpoint (a timetable row's term).
    path: str | None = None


async def import_file(
    engine: Engine, job: ImportJob, progress: Callable[[ImportProgress], None] | None = None
) -> ImportReport:
    """Import ``job.source`` a batch at a time; every row ends in the report's counts, and a
    rejected one in the rejects file when there is one. The job and the file's header are
    checked before anything is sent."""
    kind = job.kind
    fmt = format_for(job.source, job.format)
    if fmt is Format.ICS:
        raise ValidationFailed.single("format", "iCalendar files can be exported, not imported")
    size = job.batch_size or kind.batch_size
    if not 1 <= size <= MAX_BATCH:
        raise ValidationFailed.single("batch-size", f"must be 1 to {MAX_BATCH}")
    if job.rejects and job.source != "-" and _same_file(job.rejects, job.source):
        raise ValidationFailed.single("rejects", "must not be the file being imported")
    report = ImportReport(kind.name, job.dry_run, rejects_file=job.rejects)
    with ExitStack() as stack:
        binary, total = stack.enter_context(_source(job.source))
        name = "-" if job.source == "-" else Path(job.source).name
        reader = RowReader(Utf8Text(binary, name), fmt, name)
        # A file without a header (JSON) refuses a row with an unknown key in a dry run too,
        # as the real run does, so that the dry run's counts are the real run's; a CSV
        # header's unknown column stops a real run before anything is sent instead.
        strict = not job.dry_run or reader.columns is None
        mapper = RowMapper(kind, job.mapping, References(), job.term, strict, report.mapping)
        if reader.columns is not None:
            mapper.header(reader.columns)
            _check_header(kind, mapper, reader.name, job)
            report.header_refused = mapper.report.header_refused
        async with engine.http(timeout=BULK_TIMEOUT) as http:
            mapper.references = await references(http, kind)
            if kind is TIMETABLE and job.term:
                try:
                    mapper.references.term(job.term)
                except Unresolved as exc:
                    raise ValidationFailed.single("term", str(exc)) from None
            path = f"/api/v1/{kind.name}:bulk"
            zone = await campus_zone(http) if kind is BOOKINGS else ZoneInfo("UTC")
            batch = _Batch(
                http,
                kind,
                path,
                job.dry_run,
                report,
                rejects=_closing(stack, RejectsFile(job.rejects, fmt, reader.columns))
                if job.rejects
                else None,
                passwords=_closing(stack, PasswordsFile(job.passwords))
                if kind is USERS and not job.dry_run
                else None,
                ledger=_closing(stack, DryRunLedger(kind)) if job.dry_run else None,
            )
            position = binary.tell if binary.seekable() else None
            source = iter(reader)

            keys = ImportedKeys() if kind is RATINGS else None

            def read_batch() -> _ReadBatch:
                """The file's next rows, up to a batch, and how much of it is read."""
                rows = [
                    _pending(mapper, row, zone, blank_is_absent=fmt is Format.CSV, given=job.given)
                    for row in itertools.islice(source, size)
                ]
                if keys is not None:
                    _key_imported_ratings(rows, keys)
                return rows, position() if position else None

            sent = 0
            try:
                async with aclosing(_read_ahead(read_batch)) as batches:
                    async for rows, done in batches:
                        batch.rows = rows
                        await batch.flush()
                        sent += 1
                        if progress:
                            progress(ImportProgress(report.rows, done, total))
            except ValidationFailed as exc:
                raise _stopped(exc, sent, report.rows, job.dry_run) from None
        if progress:
            progress(ImportProgress(report.rows, total, total))
    if batch.passwords is not None and batch.passwords.count:
        report.passwords_file, report.passwords = batch.passwords.path, batch.passwords.count
    return report


def _stopped(exc: ValidationFailed, batches: int, rows: int, dry_run: bool) -> ValidationFailed:
    """``exc``, which stopped an import half way, saying what of the file is already in."""
    if dry_run or not batches:
        already = "nothing was changed"
    else:
        already = (
            f"the {batches} batch(es) before it ({rows} rows) were sent and stay in: fix the "
            "file and import it again (rows already in come back unchanged)"
        )
    *first, last = exc.errors
    return ValidationFailed([*first, FieldError(last.field, f"{last.message}; {already}")])


#: A batch of rows as read, and how much of the file is read after it (``None`` for a pipe).
_ReadBatch = tuple[list[_Pending], int | None]


async def _read_ahead(read: Callable[[], _ReadBatch]) -> AsyncGenerator[_ReadBatch, None]:
    """The batches ``read`` returns, until an empty one; each is read in a worker thread while
    the caller sends the one before and waits for the answer. A batch is handed over only
    when the caller asks for it, after it is done with the one before, so batches still go to
    the server one at a time and in file order; a file that breaks half way raises only after
    the batches before the break were answered."""
    upcoming = asyncio.ensure_future(asyncio.to_thread(read))
    try:
        while True:
            rows, done = await upcoming
            if not rows:
                return
            upcoming = asyncio.ensure_future(asyncio.to_thread(read))
            yield rows, done
    finally:
        await asyncio.wait([upcoming])  # a worker thread cannot be stopped half way
        if not upcoming.cancelled():
            upcoming.exception()  # the caller's own error is the one to report


def _pending(
    mapper: RowMapper,
    row: SourceRow,
    zone: ZoneInfo,
    *,
    blank_is_absent: bool,
    given: Mapping[str, Any],
) -> _Pending:
    """A row as read, and as it is sent once mapped (``None`` when it is refused here); the
    rejects file gets it as read, so it imports again with the same mapping."""
    kind = mapper.kind
    if row.problem is not None:
        return _Pending(row.line, row.values, None, _rejected(FieldError("row", row.problem)))
    values, errors = mapper.row(row.line, row.values)
    try:
        request = {**request_row(kind, values, zone, blank_is_absent=blank_is_absent), **given}
    except ValidationFailed as exc:
        errors.extend(exc.errors)
    if errors:
        return _Pending(row.line, row.values, None, Outcome(BulkStatus.REJECTED, tuple(errors)))
    pending = _Pending(row.line, row.values, request)
    if kind is TIMETABLE:
        pending.path = f"/api/v1/terms/{request['term']}/timetable"
    if kind is USERS and "password" not in request:
        pending.password = request["password"] = new_password()
    return pending


def _key_imported_ratings(rows: list[_Pending], keys: ImportedKeys) -> None:
    """Give each rating row that names neither a user nor an ``external_id`` its key by its
    occurrence in the whole file, which the server, seeing a batch at a time, cannot count."""
    for pending in rows:
        request = pending.request
        if request is None or request.get("user") or request.get("external_id"):
            continue
        try:
            stars = int(request.get("rating", 0))
        except (TypeError, ValueError):
            continue  # the server refuses the row, naming ``rating``
        request["external_id"] = keys.key(
            str(request.get("room", "")), stars, str(request.get("comment") or "")
        )


def _rejected(error: FieldError) -> Outcome:
    return Outcome(BulkStatus.REJECTED, (error,))


@dataclass
class _Batch:
    """The rows waiting to be sent, and where their outcomes go once the server answered."""

    http: Http
    kind: Kind
    path: str
    dry_run: bool
    report: ImportReport
    rejects: RejectsFile | None
    passwords: PasswordsFile | None
    ledger: DryRunLedger | None
    rows: list[_Pending] = field(default_factory=list)

    async def flush(self) -> None:
        """Send the rows the server is to check, then settle every row in file order."""
        sent: dict[str, list[_Pending]] = {}
        for row in self.rows:
            if row.request is not None:
                sent.setdefault(row.path or self.path, []).append(row)
        if self.passwords is not None and any(row.password for row in self.rows):
            self.passwords.open()
        for path, rows in sent.items():
            answer = await self.http.request(
                "POST",
                path,
                json={"rows": [_body(self.kind, row.request or {}) for row in rows]},
                params={"dry_run": "true"} if self.dry_run else None,
            )
            lines = [row.line for row in rows]
            for result in answer["results"]:
                rows[result["index"]].outcome = _outcome(result, lines)
        for row in self.rows:
            assert row.outcome is not None
            outcome = row.outcome
            if self.ledger is not None and outcome.status is not BulkStatus.REJECTED:
                assert row.request is not None
                outcome = self.ledger.review(row.line, row.request, outcome)
            self.report.counts[outcome.status] += 1
            if (
                self.kind is ROOMS
                and outcome.status is BulkStatus.CREATED
                and (row.request or {}).get("capacity") is None
            ):
                self.report.mapping.unknown_capacity += 1
            if outcome.status is BulkStatus.REJECTED:
                if len(self.report.first_rejects) < FIRST_REJECTS:
                    self.report.first_rejects.append((row.line, outcome.errors))
                if self.rejects is not None:
                    self.rejects.write(row.line, row.values, outcome.errors)
            if outcome.status is BulkStatus.CREATED and row.password and self.passwords:
                assert row.request is not None
                self.passwords.write(str(row.request["username"]).strip().lower(), row.password)
        if self.passwords is not None:
            self.passwords.sync()
        self.rows.clear()


def _body(kind: Kind, request: dict[str, Any]) -> dict[str, Any]:
    """A row as its endpoint takes it: a timetable row's term is the endpoint's."""
    return {k: v for k, v in request.items() if k != "term"} if kind is TIMETABLE else request


def check_columns(
    kind: Kind, columns: list[str], name: str, mapping: ImportMapping | None = None
) -> None:
    """A CSV header names, once mapped, only the kind's columns (and ``_…`` notes) and all it
    must have; an unknown column is named with the columns it may mean and the ``--map``."""
    mapper = RowMapper(kind, mapping or ImportMapping(), References())
    mapper.header(columns)
    _check_header(kind, mapper, name, None)


def _check_header(kind: Kind, mapper: RowMapper, name: str, job: ImportJob | None) -> None:
    """Stop an import whose header does not fit before anything is sent; a dry run goes on
    and reports it with everything else."""
    report = mapper.report
    if job is not None and job.dry_run:
        return
    if report.unknown_columns:
        raise ValidationFailed.single(
            name,
            f"{unknown_columns_message(report)}; {kind.name} have "
            + ", ".join(c.name for c in kind.columns),
        )
    if report.twice:
        raise ValidationFailed.single(
            name, "; ".join(given_twice(c, headers) for c, headers in report.twice.items())
        )
    if report.missing_columns:
        raise ValidationFailed.single(name, f"missing column {', '.join(report.missing_columns)}")
    if kind is TIMETABLE and job is not None and not job.term and "term" not in mapper.columns:
        raise ValidationFailed.single(
            "term", "name the term the timetable is for (--term), or give a term column"
        )


@contextmanager
def _source(path: str) -> Iterator[tuple[IO[bytes], int | None]]:
    """The file's bytes (standard input for ``-``) and its size when it has one."""
    if path == "-":
        yield sys.stdin.buffer, None
        return
    try:
        stream = open(path, "rb")  # noqa: SIM115 (closed below)
    except OSError as exc:
        raise ValidationFailed.single("FILE", f"cannot read {path}: {exc.strerror}") from None
    with stream:
        yield stream, os.fstat(stream.fileno()).st_size


def _closing(stack: ExitStack, resource: Any) -> Any:
    stack.callback(resource.close)
    return resource


def _same_file(one: str, other: str) -> bool:
    return Path(one).resolve() == Path(other).resolve()


# --- Lookups ---------------------------------------------------------------------------------


async def pages(
    http: Http, path: str, params: dict[str, Any] | None = None
) -> AsyncIterator[dict[str, Any]]:
    """Every item of a paged list endpoint, a page at a time."""
    query = {**(params or {}), "limit": PAGE}
    while True:
        page = await http.request("GET", path, params=query)
        for item in page["items"]:
            yield item
        if not page["next_cursor"]:
            return
        query["cursor"] = page["next_cursor"]


async def references(http: Http, kind: Kind) -> References:
    """The buildings, rooms and terms a file of ``kind`` may name, read once."""
    wanted = {
        ROOMS: ("buildings", "rooms"),
        TIMETABLE: ("buildings", "rooms", "terms"),
        BOOKINGS: ("buildings", "rooms"),
    }.get(kind, ())
    lists = {name: [item async for item in pages(http, f"/api/v1/{name}")] for name in wanted}
    return References(**lists)


async def find_term(http: Http, ref: str) -> dict[str, Any]:
    """The term named ``ref`` (or with that id)."""
    wanted = ref.strip()
    async for term in pages(http, "/api/v1/terms"):
        if term["name"] == wanted or str(term["id"]) == wanted:
            return term
    raise ValidationFailed.single(
        "term", f"no term {wanted!r}; import it first (compax import terms)"
    )


async def campus_zone(http: Http) -> ZoneInfo:
    """The campus time zone, in which times without an offset are read."""
    return ZoneInfo((await http.request("GET", "/api/v1/campus"))["timezone"])


# --- Export ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class ExportFilters:
    """The filters of the list commands; each kind uses those its list endpoint knows."""

    building: str | None = None
    room_id: int | None = None
    kind: str | None = None
    capacity: int | None = None
    features: tuple[str, ...] = ()
    owner: str | None = None
    status: str | None = None
    purpose: str | None = None
    since: str | None = None
    until: str | None = None
    role: str | None = None
    department: str | None = None
    active: bool | None = None
    term: str | None = None


@dataclass(frozen=True)
class ExportJob:
    kind: Kind
    format: Format | None = None
    output: str | None = None
    filters: ExportFilters = field(default_factory=ExportFilters)


@dataclass(frozen=True)
class ExportReport:
    rows: int
    output: str | None


async def export_file(engine: Engine, job: ExportJob, now: datetime) -> ExportReport:
    """Write every record of ``job.kind`` the filters select to the output (standard output
    when there is none), a page at a time; a file appears only once it is complete."""
    kind, output = job.kind, job.output if job.output != "-" else None
    fmt = job.format or (format_for(output, None, "output") if output else Format.CSV)
    if fmt is Format.ICS and kind is not BOOKINGS:
        raise ValidationFailed.single("format", "ics is for bookings only")
    if kind is TIMETABLE and not job.filters.term:
        raise ValidationFailed.single("term", "name the term to export (--term)")
    async with engine.http() as http:
        path, params = await _export_source(http, kind, job.filters, now)
        items = pages(http, path, params)
        first = await anext(items, None)  # nothing is written unless the server answers
        with _output(output) as stream:
            writer: RowWriter | IcsWriter
            if fmt is Format.ICS:
                writer = IcsWriter(stream, "Compax bookings")
            else:
                writer = RowWriter(stream, fmt, [c.name for c in kind.exported])
            if first is not None:
                writer.write(first if fmt is Format.ICS else file_row(kind, first, fmt))
                async for item in items:
                    writer.write(item if fmt is Format.ICS else file_row(kind, item, fmt))
            writer.close()
    return ExportReport(writer.count, output)


async def _export_source(
    http: Http, kind: Kind, filters: ExportFilters, now: datetime
) -> tuple[str, dict[str, Any]]:
    """The list endpoint and query parameters for ``kind`` under ``filters``."""
    if kind is TIMETABLE:
        assert filters.term is not None
        return f"/api/v1/terms/{(await find_term(http, filters.term))['id']}/timetable", {}
    assert kind.list_path is not None
    params: dict[str, Any] = {}
    if kind is BUILDINGS:
        params = {"kind": filters.kind}
    elif kind is ROOMS:
        params = {
            "building": filters.building,
            "kind": filters.kind,
            "capacity": filters.capacity,
            "features": ",".join(filters.features) or None,
        }
    elif kind is USERS:
        active = None if filters.active is None else str(filters.active).lower()
        params = {"role": filters.role, "department": filters.department, "active": active}
    elif kind is ISSUES:
        params = {"building": filters.building, "status": filters.status}
    elif kind is BOOKINGS:
        zone = await campus_zone(http)
        params = {
            "building": filters.building,
            "room_id": filters.room_id,
            "owner": filters.owner,
            "status": filters.status,
            "purpose": filters.purpose,
            "from": _utc_text(parse_when(filters.since, zone, now, "from"))
            if filters.since
            else None,
            "to": _utc_text(parse_when(filters.until, zone, now, "to")) if filters.until else None,
        }
    return kind.list_path, {k: v for k, v in params.items() if v is not None}


def _utc_text(moment: datetime) -> str:
    return moment.astimezone(UTC).isoformat().replace("+00:00", "Z")


@contextmanager
def _output(path: str | None) -> Iterator[TextIO]:
    """Standard output, or ``path`` written as ``path.part`` and renamed once complete."""
    if path is None:
        yield sys.stdout
        sys.stdout.flush()
        return
    partial = f"{path}.part"
    try:
        stream = open(partial, "w", newline="", encoding="utf-8")  # noqa: SIM115 (closed below)
    except OSError as exc:
        raise ValidationFailed.single("output", f"cannot write {path}: {exc.strerror}") from None
    try:
        with stream:
            yield stream
    except BaseException:
        Path(partial).unlink(missing_ok=True)
        raise
    os.replace(partial, path)
