"""``compax import``: buildings, rooms, users, terms, timetables and bookings from CSV, JSON or
JSON Lines files (or standard input), in batches through the server's bulk endpoints."""

from __future__ import annotations

import asyncio
from typing import Annotated

import typer

from compax_cli.context import engine
from compax_cli.import_summary import progress, summary
from compax_cli.output import REFUSED, USAGE, err, online, reported
from sync.campus_move import import_campus
from sync.formats import Format, InputFormat
from sync.kinds import KINDS
from sync.mapping import ImportMapping
from sync.transfer import ImportJob, import_file
from sync.vocabulary import BulkStatus

app = typer.Typer(
    help="Import records from CSV, JSON or JSON Lines files; importing a file twice changes "
    "nothing the second time. Columns: docs/import.md.",
    no_args_is_help=True,
)
FILE = Annotated[str, typer.Argument(help="The file to import; - reads standard input.")]
FORMAT = Annotated[
    InputFormat | None,
    typer.Option("--format", help="The file's format; default: from its name (.csv, .json…)."),
]
DRY_RUN = Annotated[
    bool,
    typer.Option("--dry-run", help="Check every row and report what would happen; change nothing."),
]
REJECTS = Annotated[
    str | None,
    typer.Option(
        "--rejects",
        metavar="FILE",
        help="Write rejected rows here, in the input's format, with _line, _field and _reason.",
    ),
]
BATCH = Annotated[
    int | None,
    typer.Option("--batch-size", min=1, max=1000, help="Rows per request (default: per kind)."),
]
JSON = Annotated[bool, typer.Option("--json", help="Print the summary as JSON for scripts.")]
MAP = Annotated[
    list[str] | None,
    typer.Option(
        "--map",
        metavar="SOURCE=TARGET",
        help="Read the file's column SOURCE as TARGET (SOURCE= drops it); repeatable.",
    ),
]
MAP_VALUE = Annotated[
    list[str] | None,
    typer.Option(
        "--map-value",
        metavar="COLUMN:FROM=TO",
        help="Read FROM in COLUMN as TO (e.g. kind:Teaching=academic); repeatable.",
    ),
]
IGNORE = Annotated[
    list[str] | None,
    typer.Option("--ignore", metavar="COLUMN", help="Leave the file's COLUMN out; repeatable."),
]
MAPPING = Annotated[
    str | None,
    typer.Option(
        "--mapping",
        metavar="FILE",
        help="Column and value maps from a JSON (or .toml) file; --map and --map-value add to it.",
    ),
]
SAVE_MAPPING = Annotated[
    str | None,
    typer.Option(
        "--save-mapping",
        metavar="FILE",
        help="Write the mapping in effect to FILE (JSON, or TOML for a .toml name), to import "
        "with --mapping FILE alone.",
    ),
]
PASSWORDS = Annotated[
    str | None,
    typer.Option(
        "--passwords",
        metavar="FILE",
        help="Add generated passwords of new users to this file (0600); "
        "default: compax-passwords-<time>.csv here.",
    ),
]


def mapping(
    maps: list[str] | None,
    value_maps: list[str] | None,
    ignore: list[str] | None,
    mapping_file: str | None,
    save: str | None,
) -> ImportMapping:
    """The mapping the options give (the file's, then the options' over it), saved if asked;
    one that cannot be read or saved is a usage error (exit 2), before anything is sent."""
    with reported():
        given = ImportMapping.from_options(maps or [], value_maps or [], ignore or [])
        effective = ImportMapping.load(mapping_file).merged(given) if mapping_file else given
        if save:
            effective.save(save)
    return effective


def _run(ctx: typer.Context, job: ImportJob, as_json: bool) -> None:
    """Import ``job``, print the summary, and exit 1 if any row was rejected; a dry run whose
    header the real import would refuse exits 2, as that import would."""
    unfinished = "the batches sent before are in: run the same import again to finish it"
    with engine(ctx) as compax, progress(job) as advance, online(unfinished):
        report = asyncio.run(import_file(compax, job, advance))
    summary(report, as_json)
    if report.header_refused:
        raise typer.Exit(USAGE)
    if report.counts[BulkStatus.REJECTED]:
        raise typer.Exit(REFUSED)


def _format(fmt: InputFormat | None) -> Format | None:
    return None if fmt is None else Format(fmt.value)


def _plain(name: str, doc: str) -> None:
    """Add ``compax import NAME``: a kind that takes the options every import takes, and no
    other."""

    def command(
        ctx: typer.Context,
        file: FILE,
        fmt: FORMAT = None,
        dry_run: DRY_RUN = False,
        rejects: REJECTS = None,
        batch_size: BATCH = None,
        maps: MAP = None,
        value_maps: MAP_VALUE = None,
        ignore: IGNORE = None,
        mapping_file: MAPPING = None,
        save_mapping: SAVE_MAPPING = None,
        as_json: JSON = False,
    ) -> None:
        mapped = mapping(maps, value_maps, ignore, mapping_file, save_mapping)
        job = ImportJob(
            KINDS[name], file, _format(fmt), dry_run, rejects, batch_size=batch_size, mapping=mapped
        )
        _run(ctx, job, as_json)

    command.__doc__ = doc
    app.command(name)(command)


_plain(
    "buildings",
    """Import buildings, matched on their code (admins).

    Example: compax import buildings buildings.csv --dry-run

    Example: compax import buildings Buildings.csv --map "Building Code=code" --map Type=kind
    --map-value kind:Teaching=academic --save-mapping buildings-map.json
    """,
)
_plain(
    "rooms",
    """Import rooms, matched on building and room code (admins).

    The building may be named by code or name; a room without a code takes one from its name.

    Example: compax import rooms rooms.csv --rejects rooms-rejected.csv

    Example: compax import rooms Rooms.csv --mapping rooms-map.json --dry-run
    """,
)


@app.command()
def users(
    ctx: typer.Context,
    file: FILE,
    passwords: PASSWORDS = None,
    fmt: FORMAT = None,
    dry_run: DRY_RUN = False,
    rejects: REJECTS = None,
    batch_size: BATCH = None,
    maps: MAP = None,
    value_maps: MAP_VALUE = None,
    ignore: IGNORE = None,
    mapping_file: MAPPING = None,
    save_mapping: SAVE_MAPPING = None,
    as_json: JSON = False,
) -> None:
    """Import users, matched on username (admins).

    A new user gets the password column's value, or a generated password that is added to the
    passwords file.

    Example: compax import users staff.csv --passwords new-staff-passwords.csv
    """
    mapped = mapping(maps, value_maps, ignore, mapping_file, save_mapping)
    job = ImportJob(
        KINDS["users"],
        file,
        _format(fmt),
        dry_run,
        rejects,
        passwords,
        batch_size=batch_size,
        mapping=mapped,
    )
    _run(ctx, job, as_json)


_plain(
    "terms",
    """Import terms with their holidays, matched on the term name (admins).

    Example: compax import terms terms.json
    """,
)


@app.command()
def timetable(
    ctx: typer.Context,
    file: FILE,
    term: Annotated[
        str | None,
        typer.Option(help="The term (name or id) of rows without a term column of their own."),
    ] = None,
    fmt: FORMAT = None,
    dry_run: DRY_RUN = False,
    rejects: REJECTS = None,
    batch_size: BATCH = None,
    maps: MAP = None,
    value_maps: MAP_VALUE = None,
    ignore: IGNORE = None,
    mapping_file: MAPPING = None,
    save_mapping: SAVE_MAPPING = None,
    as_json: JSON = False,
) -> None:
    """Import a term's timetable: each row becomes a weekly series over the term (admins).

    Rows go to the term of their term column (by name or id), else to --term.

    Example: compax import timetable timetable.csv --term "2026/2027 S1" --rejects fix-me.csv

    Example: compax import timetable Timetable.csv --map "Module Code=course_code" --map Day=weekday
    --map-value weekday:Wednsday=wed --dry-run
    """
    mapped = mapping(maps, value_maps, ignore, mapping_file, save_mapping)
    job = ImportJob(
        KINDS["timetable"],
        file,
        _format(fmt),
        dry_run,
        rejects,
        term=term,
        batch_size=batch_size,
        mapping=mapped,
    )
    _run(ctx, job, as_json)


_plain(
    "bookings",
    """Import bookings, each checked like a single booking.

    A row is found again by its id, its external_id, or its room and start.

    Example: compax import bookings exams.jsonl --dry-run
    """,
)
_plain(
    "ratings",
    """Import room ratings (admins).

    A row with a user is that user's rating; one without is another system's, matched on
    external_id (or on the row itself), so a second import changes nothing.

    Example: compax import ratings finder-ratings.csv --map Stars=rating --dry-run
    """,
)
_plain(
    "issues",
    """Import problem reports (facilities staff and admins), with no one told of them.

    A row is found again by its external_id, or by the id an export wrote.

    Example: compax import issues helpdesk.csv --map Ticket=external_id --dry-run
    """,
)


@app.command()
def campus(
    ctx: typer.Context,
    directory: Annotated[
        str, typer.Argument(metavar="DIR", help="A folder compax export campus wrote.")
    ],
    passwords: PASSWORDS = None,
    as_json: JSON = False,
) -> None:
    """Import a campus folder into this server, keeping booking and series ids (admins).

    Every user it creates gets a generated password (hashes are never exported), added to the
    passwords file. Importing the folder again changes nothing. Details: docs/import.md.

    Example: compax import campus campus-2026-12 --passwords campus-passwords.csv
    """
    unfinished = "the files imported before are in: run the same import again to finish it"
    with engine(ctx) as compax, online(unfinished):
        reports = asyncio.run(import_campus(compax, directory, passwords))
    for report in reports:
        err.print(f"{report.kind}:", markup=False)
        summary(report, as_json)
    if any(report.counts[BulkStatus.REJECTED] for report in reports):
        raise typer.Exit(REFUSED)
