"""Moving a campus to another server: ``export_campus`` writes everything a campus holds to a
folder of JSON Lines files, and ``import_campus`` reads such a folder into a server, in the
order the records need one another.

The folder holds buildings, rooms, users, terms, series (with their timetable courses),
cancelled and confirmed bookings, and blackouts, plus ``campus.json`` (the campus time zone
and how many rows each file has). Bookings and series keep their ids, so each occurrence stays
in its series however it was moved, retitled or cancelled; buildings, rooms, terms and users
are matched on their codes and names, and blackouts on what they close and when, so importing
a folder again changes nothing. Versions start again at 1 (a cancelled booking's is 2), and
rule checks are overridden for bookings (past ones broke the notice rule long ago), each
override logged with the reason ``campus move``.

Password hashes never leave a server: every user the import creates gets a generated password,
written once to a passwords file only its owner may read; users who exist keep theirs.
"""

from __future__ import annotations

import json
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

from sync.engine import Engine
from sync.errors import CompaxError, FieldError, ValidationFailed
from sync.formats import Format
from sync.http import Http
from sync.kinds import BOOKINGS, BUILDINGS, ROOMS, SERIES, TERMS, USERS, Kind
from sync.transfer import (
    FIRST_REJECTS,
    ExportFilters,
    ExportJob,
    ImportJob,
    ImportReport,
    export_file,
    import_file,
    pages,
)
from sync.vocabulary import BookingStatus, BulkStatus

#: The folder's description: format, campus time zone, rows per file.
MANIFEST = "campus.json"
FORMAT_VERSION = 1
#: Why the bookings of a campus move may break the rules (written with each override).
MOVE_REASON = "campus move"
CANCELLED = "bookings-cancelled"
BLACKOUTS = "blackouts"


@dataclass(frozen=True)
class _Part:
    """One file of a campus folder: its name, its kind, and the export's filters."""

    name: str
    kind: Kind
    filters: ExportFilters = field(default_factory=ExportFilters)


#: The files of a campus folder besides blackouts, in the order an import reads them:
#: cancelled bookings before confirmed ones, which may since hold their times.
PARTS = (
    _Part("buildings", BUILDINGS),
    _Part("rooms", ROOMS),
    _Part("users", USERS),
    _Part("terms", TERMS),
    _Part("series", SERIES),
    _Part(CANCELLED, BOOKINGS, ExportFilters(status=BookingStatus.CANCELLED.value)),
    _Part("bookings", BOOKINGS, ExportFilters(status=BookingStatus.CONFIRMED.value)),
)


def _file(folder: Path, name: str) -> Path:
    return folder / f"{name}.jsonl"


# --- Export ----------------------------------------------------------------------------------


async def export_campus(engine: Engine, directory: str, now: datetime) -> dict[str, int]:
    """Write the whole campus to ``directory`` (new, or empty); the rows written per file."""
    folder = _new_folder(directory)
    counts: dict[str, int] = {}
    for part in PARTS:
        job = ExportJob(part.kind, Format.JSONL, str(_file(folder, part.name)), part.filters)
        counts[part.name] = (await export_file(engine, job, now)).rows
    async with engine.http() as http:
        counts[BLACKOUTS] = await _export_blackouts(http, _file(folder, BLACKOUTS))
        zone = (await http.request("GET", "/api/v1/campus"))["timezone"]
    manifest = {
        "format": FORMAT_VERSION,
        "exported_at": now.isoformat(),
        "timezone": zone,
        "files": counts,
    }
    (folder / MANIFEST).write_text(json.dumps(manifest, indent=2) + "\n", encoding="utf-8")
    return counts


def _new_folder(directory: str) -> Path:
    """``directory``, made if it is not there; refused unless it is an empty folder."""
    folder = Path(directory)
    if folder.exists() and (not folder.is_dir() or any(folder.iterdir())):
        raise ValidationFailed.single("DIR", f"{directory} must be a new or empty folder")
    folder.mkdir(parents=True, exist_ok=True)
    return folder


async def _export_blackouts(http: Http, path: Path) -> int:
    """Every blackout, with its room or building by code rather than by this server's id."""
    rooms = {room["id"]: f"{room['building']}/{room['code']}" async for room in _all(http, ROOMS)}
    buildings = {b["id"]: b["code"] async for b in _all(http, BUILDINGS)}
    written = 0
    with path.open("w", encoding="utf-8") as out:
        async for blackout in pages(http, "/api/v1/blackouts"):
            row = {
                "room": rooms.get(blackout["room_id"]),
                "building": buildings.get(blackout["building_id"]),
                "start": blackout["start"],
                "end": blackout["end"],
                "reason": blackout["reason"],
            }
            out.write(json.dumps(row) + "\n")
            written += 1
    return written


def _all(http: Http, kind: Kind) -> Any:
    assert kind.list_path is not None
    return pages(http, kind.list_path)


# --- Import ----------------------------------------------------------------------------------


async def import_campus(
    engine: Engine, directory: str, passwords: str | None = None
) -> list[ImportReport]:
    """Import the campus folder ``directory`` into the server, file by file; one report each.
    New users' generated passwords go to ``passwords`` (see ``PasswordsFile``)."""
    folder = Path(directory)
    manifest = _manifest(folder)
    async with engine.http() as http:
        zone = (await http.request("GET", "/api/v1/campus"))["timezone"]
    if zone != manifest["timezone"]:
        raise ValidationFailed.single(
            "timezone",
            f"the campus was in {manifest['timezone']} and this server is in {zone}: set "
            "COMPAX_TIMEZONE alike first (series are in campus local time)",
        )
    moving = {"override": True, "override_reason": MOVE_REASON}
    reports = []
    with tempfile.TemporaryDirectory(prefix="compax-campus-") as scratch:
        for part in PARTS:
            source = _file(folder, part.name)
            given: dict[str, Any] = moving if part.kind is BOOKINGS else {}
            if part.name == CANCELLED:
                source = _made_then_cancelled(source, Path(scratch) / source.name)
            job = ImportJob(
                part.kind,
                str(source),
                Format.JSONL,
                passwords=passwords if part.kind is USERS else None,
                given=given,
            )
            report = await import_file(engine, job)
            report.kind = part.name
            reports.append(report)
    async with engine.http() as http:
        reports.append(await _import_blackouts(http, _file(folder, BLACKOUTS)))
    return reports


def _manifest(folder: Path) -> dict[str, Any]:
    """The folder's ``campus.json``, once every file it needs is there."""
    try:
        manifest: Any = json.loads((folder / MANIFEST).read_text(encoding="utf-8"))
    except (OSError, ValueError, RecursionError):
        raise ValidationFailed.single(
            "DIR", f"{folder} has no readable {MANIFEST}: write it with compax export campus"
        ) from None
    if not isinstance(manifest, dict) or manifest.get("format") != FORMAT_VERSION:
        raise ValidationFailed.single("DIR", f"{MANIFEST} is not format {FORMAT_VERSION}")
    missing = [
        name
        for name in [*(part.name for part in PARTS), BLACKOUTS]
        if not _file(folder, name).is_file()
    ]
    if missing:
        raise ValidationFailed.single("DIR", f"missing {', '.join(missing)} in {folder}")
    return manifest


def _json_lines(path: Path) -> Iterator[tuple[int, dict[str, Any]]]:
    """The objects of a JSON Lines file with their line numbers; a line that is none stops
    the import, naming the file and the line."""
    try:
        with path.open(encoding="utf-8") as rows:
            for number, line in enumerate(rows, start=1):
                if not line.strip():
                    continue
                try:
                    row = json.loads(line)
                except (ValueError, RecursionError):
                    row = None
                if not isinstance(row, dict):
                    raise ValidationFailed.single(
                        "DIR", f"{path.name}, line {number}: not one JSON object"
                    )
                yield number, row
    except UnicodeDecodeError:
        raise ValidationFailed.single("DIR", f"{path.name} is not UTF-8 text") from None


def _made_then_cancelled(source: Path, target: Path) -> Path:
    """Each cancelled booking of ``source`` as two rows: made (as it was), then cancelled. A
    booking that exists is unchanged by the first and, being cancelled, by the second."""
    with target.open("w", encoding="utf-8") as out:
        for _, row in _json_lines(source):
            made = {name: value for name, value in row.items() if name != "status"}
            out.write(json.dumps(made) + "\n" + json.dumps(row) + "\n")
    return target


async def _import_blackouts(http: Http, path: Path) -> ImportReport:
    """Close what each row of ``path`` closes, unless a blackout here closes it alike."""
    report = ImportReport(BLACKOUTS, dry_run=False)
    rooms = {f"{room['building']}/{room['code']}": room["id"] async for room in _all(http, ROOMS)}
    buildings = {b["code"]: b["id"] async for b in _all(http, BUILDINGS)}
    standing = {
        _closure(b["room_id"], b["building_id"], b["start"], b["end"], b["reason"])
        async for b in pages(http, "/api/v1/blackouts")
    }
    for line_number, row in _json_lines(path):
        missing = [name for name in ("start", "end", "reason") if name not in row]
        if missing:
            _reject(report, line_number, FieldError(missing[0], "required"))
            continue
        room_id = rooms.get(row["room"]) if row.get("room") else None
        building_id = buildings.get(row["building"]) if row.get("building") else None
        if room_id is None and building_id is None:
            named = row.get("room") or row.get("building")
            _reject(report, line_number, FieldError("room", f"no room or building {named}"))
            continue
        key = _closure(room_id, building_id, row["start"], row["end"], row["reason"])
        if key in standing:
            report.counts[BulkStatus.UNCHANGED] += 1
            continue
        body = {"start": row["start"], "end": row["end"], "reason": row["reason"]}
        body |= {"room_id": room_id} if room_id is not None else {"building": row["building"]}
        try:
            await http.request("POST", "/api/v1/blackouts", json=body)
        except CompaxError as exc:
            _reject(report, line_number, FieldError(str(exc.extra.get("field", "row")), exc.detail))
            continue
        standing.add(key)
        report.counts[BulkStatus.CREATED] += 1
    return report


def _reject(report: ImportReport, line: int, error: FieldError) -> None:
    report.counts[BulkStatus.REJECTED] += 1
    if len(report.first_rejects) < FIRST_REJECTS:
        report.first_rejects.append((line, (error,)))


def _closure(
    room_id: int | None, building_id: int | None, start: str, end: str, reason: str
) -> tuple[Any, ...]:
    """What a blackout closes and when, with its instants compared as instants."""
    return room_id, building_id, datetime.fromisoformat(start), datetime.fromisoformat(end), reason
