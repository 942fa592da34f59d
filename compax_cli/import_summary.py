"""How ``compax import`` shows an import: a progress bar while it runs, then its counts, what
the file needed mapped, and where rejects and new passwords went."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager

from rich.progress import BarColumn, Progress, TaskProgressColumn, TextColumn, TimeElapsedColumn

from compax_cli.output import emit, err, out
from sync.import_report import MappingReport, given_twice, unknown_column
from sync.transfer import ImportJob, ImportProgress, ImportReport
from sync.vocabulary import BulkStatus, counted


@contextmanager
def progress(job: ImportJob) -> Iterator[Callable[[ImportProgress], None]]:
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
    ) as bar:
        task = bar.add_task("import", total=None, rows=0)

        def advance(done: ImportProgress) -> None:
            bar.update(task, completed=done.bytes_read or 0, total=done.total_bytes, rows=done.rows)

        yield advance


def summary(report: ImportReport, as_json: bool) -> None:
    """The counts and what the file needed mapped on stdout (all in the JSON with
    ``as_json``); where the rejects and new passwords went on stderr."""
    would = "would be " if report.dry_run else ""
    emit(
        report.as_dict(),
        [(f"{would}{status.value}", status.value) for status in BulkStatus],
        as_json,
    )
    if not as_json:
        shape(report.mapping)
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


def shape(report: MappingReport) -> None:
    """What the file needed mapped and what could not be read, on stdout after the counts."""
    lines = [unknown_column(column, found) for column, found in report.unknown_columns.items()]
    lines += [f"missing column {column}" for column in report.missing_columns]
    lines += [given_twice(column, headers) for column, headers in report.twice.items()]
    for title, table in (("to map", report.unmapped), (None, report.unresolved)):
        for column, values in table.items():
            for value, seen in values.items():
                what = title or ("names more than one" if seen.shared else "not found")
                lines.append(
                    f"{column} {value!r} {what}: {counted(seen.rows, 'row')}, first on line "
                    f"{seen.line}: {seen.message}"
                )
    if report.derived_codes:
        lines.append(f"{counted(report.derived_codes, 'room code')} made from the room's name")
    if report.unknown_capacity:
        lines.append(
            f"{counted(report.unknown_capacity, 'room')} of unknown capacity: found only by "
            "searches that ask no capacity"
        )
    for line in lines:
        out.print(line, markup=False, highlight=False)
