"""``compax import``: buildings, rooms, users, terms, timetables and bookings from CSV, JSON or
JSON Lines files (or standard input), in batches through the server's bulk endpoints."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Annotated

import typer
from rich.progress import BarColumn, Progress, TaskProgressColumn, TextColumn, TimeElapsedColumn

from compax_cli.context import engine
from compax_cli.output import REFUSED, emit, err, online
from sync.campus_move import import_campus
from sync.formats import Format, InputFormat
from sync.kinds import KINDS
from sync.transfer import ImportJob, ImportProgress, ImportReport, import_file
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
PASSWORDS = Annotated[
    str | None,
    typer.Option(
        "--passwords",
        metavar="FILE",
        help="Add generated passwords of new users to this file (0600); "
        "default: compax-passwords-<time>.csv here.",
    ),
]


def _run(ctx: typer.Context, job: ImportJob, as_json: bool) -> None:
    """Import ``job``, print the summary, and exit 1 if any row was rejected."""
    unfinished = "the batches sent before are in: run the same import again to finish it"
    with engine(ctx) as compax, _progress(job) as advance, online(unfinished):
        report = asyncio.run(import_file(compax, job, advance))
    _summary(report, as_json)
    if report.counts[BulkStatus.REJECTED]:
        raise typer.Exit(REFUSED)


@contextmanager
def _progress(job: ImportJob) -> Iterator[Callable[[ImportProgress], None]]:
    """A progress bar on stderr when it is a terminal (none when piped), fed by the import."""
    with Progress(
        TextColumn(f"Importing {job.kind.name}"),
        BarColumn(),
        TaskProgressColumn(),
        TextColumn("{task.fields[rows]:,} rows"),
        TimeElapsedColumn(),
        console=err,
        transient=True,
        disable=not err.is_terminal,
    ) as progress:
        task = progress.add_task("import", total=None, rows=0)

        def advance(done: ImportProgress) -> None:
            progress.update(
                task, completed=done.bytes_read or 0, total=done.total_bytes, rows=done.rows
            )

        yield advance


def _summary(report: ImportReport, as_json: bool) -> None:
    """The counts on stdout; where the rejects and new passwords went on stderr."""
    would = "would be " if report.dry_run else ""
    emit(
        report.as_dict(),
        [(f"{would}{status.value}", status.value) for status in BulkStatus],
        as_json,
    )
    if report.dry_run:
        err.print("Dry run: nothing was changed")
    rejected = report.counts[BulkStatus.REJECTED]
    if rejected and report.rejects_file:
        err.print(
            f"{rejected} rejected row(s) written to {report.rejects_file} with their line, field "
            "and reason: fix them and import that file",
            markup=False,
        )
    elif rejected:
        for line, errors in report.first_rejects:
            reasons = "; ".join(f"{e.field}: {e.message}" for e in errors)
            err.print(f"line {line}: {reasons}", markup=False, highlight=False)
        if rejected > len(report.first_rejects):
            err.print(
                f"… and {rejected - len(report.first_rejects)} more; --rejects FILE lists all"
            )
    if report.passwords_file:
        err.print(
            f"Initial passwords of {report.passwords} new user(s) added to "
            f"{report.passwords_file} (readable by you alone)",
            markup=False,
        )


def _format(fmt: InputFormat | None) -> Format | None:
    return None if fmt is None else Format(fmt.value)


@app.command()
def buildings(
    ctx: typer.Context,
    file: FILE,
    fmt: FORMAT = None,
    dry_run: DRY_RUN = False,
    rejects: REJECTS = None,
    batch_size: BATCH = None,
    as_json: JSON = False,
) -> None:
    """Import buildings, matched on their code (admins).

    Example: compax import buildings buildings.csv --dry-run
    """
    job = ImportJob(KINDS["buildings"], file, _format(fmt), dry_run, rejects, batch_size=batch_size)
    _run(ctx, job, as_json)


@app.command()
def rooms(
    ctx: typer.Context,
    file: FILE,
    fmt: FORMAT = None,
    dry_run: DRY_RUN = False,
    rejects: REJECTS = None,
    batch_size: BATCH = None,
    as_json: JSON = False,
) -> None:
    """Import rooms, matched on building and room code (admins).

    Example: compax import rooms rooms.csv --rejects rooms-rejected.csv
    """
    job = ImportJob(KINDS["rooms"], file, _format(fmt), dry_run, rejects, batch_size=batch_size)
    _run(ctx, job, as_json)


@app.command()
def users(
    ctx: typer.Context,
    file: FILE,
    passwords: PASSWORDS = None,
    fmt: FORMAT = None,
    dry_run: DRY_RUN = False,
    rejects: REJECTS = None,
    batch_size: BATCH = None,
    as_json: JSON = False,
) -> None:
    """Import users, matched on username (admins).

    A new user gets the password column's value, or a generated password that is added to the
    passwords file.

    Example: compax import users staff.csv --passwords new-staff-passwords.csv
    """
    job = ImportJob(
        KINDS["users"], file, _format(fmt), dry_run, rejects, passwords, batch_size=batch_size
    )
    _run(ctx, job, as_json)


@app.command()
def terms(
    ctx: typer.Context,
    file: FILE,
    fmt: FORMAT = None,
    dry_run: DRY_RUN = False,
    rejects: REJECTS = None,
    batch_size: BATCH = None,
    as_json: JSON = False,
) -> None:
    """Import terms with their holidays, matched on the term name (admins).

    Example: compax import terms terms.json
    """
    job = ImportJob(KINDS["terms"], file, _format(fmt), dry_run, rejects, batch_size=batch_size)
    _run(ctx, job, as_json)


@app.command()
def timetable(
    ctx: typer.Context,
    file: FILE,
    term: Annotated[str, typer.Option(help="The term (its name or id) the timetable is for.")],
    fmt: FORMAT = None,
    dry_run: DRY_RUN = False,
    rejects: REJECTS = None,
    batch_size: BATCH = None,
    as_json: JSON = False,
) -> None:
    """Import a term's timetable: each row becomes a weekly series over the term (admins).

    Example: compax import timetable timetable.csv --term "2026/2027 S1" --rejects fix-me.csv
    """
    job = ImportJob(
        KINDS["timetable"], file, _format(fmt), dry_run, rejects, term=term, batch_size=batch_size
    )
    _run(ctx, job, as_json)


@app.command()
def bookings(
    ctx: typer.Context,
    file: FILE,
    fmt: FORMAT = None,
    dry_run: DRY_RUN = False,
    rejects: REJECTS = None,
    batch_size: BATCH = None,
    as_json: JSON = False,
) -> None:
    """Import bookings, each checked like a single booking.

    A row is found again by its id, its external_id, or its room and start.

    Example: compax import bookings exams.jsonl --dry-run
    """
    job = ImportJob(KINDS["bookings"], file, _format(fmt), dry_run, rejects, batch_size=batch_size)
    _run(ctx, job, as_json)


@app.command()
def issues(
    ctx: typer.Context,
    file: FILE,
    fmt: FORMAT = None,
    dry_run: DRY_RUN = False,
    rejects: REJECTS = None,
    batch_size: BATCH = None,
    as_json: JSON = False,
) -> None:
    """Import problem reports (facilities staff and admins), with no one told of them.

    A row is found again by its external_id, or by the id an export wrote.

    Example: compax import issues helpdesk.csv --dry-run
    """
    job = ImportJob(KINDS["issues"], file, _format(fmt), dry_run, rejects, batch_size=batch_size)
    _run(ctx, job, as_json)


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
        _summary(report, as_json)
    if any(report.counts[BulkStatus.REJECTED] for report in reports):
        raise typer.Exit(REFUSED)
