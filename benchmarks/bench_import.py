"""Import benchmark: ``compax import`` of a term's timetable and single bookings (50,000 rows
by default) into a Postgres-backed server, beside ``sqlite-utils insert`` of the same files;
then a file of bookings that all clash, to set what a refused row costs beside a clean one.

    python benchmarks/bench_import.py
    python benchmarks/bench_import.py \\
        --database-url postgresql://postgres@127.0.0.1:5432/postgres \\
        --rooms 500 --timetable-rows 2000 --booking-rows 48000 --clashing-rows 20000

The run creates a database ``compax_bench_<random>`` on the Postgres server the URL names,
migrates it with ``compax server migrate``, serves it with ``compax server run`` in its own
process, creates an administrator and signs a CLI profile in (in a temporary data directory),
and drops the database at the end (unless ``--keep``).

Files, all from one random seed (dates relative to the day of the run), written before
anything is timed:

* a campus of ``--rooms`` rooms in buildings of 25, and a 14-week term from next Monday with
  a one-week break, imported with ``compax import buildings|rooms|terms`` (not timed);
* ``timetable.csv``: ``--timetable-rows`` weekly sessions of 2 h, on weekday mornings (each
  room at most one session per morning), each becoming a series of 13 class bookings;
* ``bookings.csv``: ``--booking-rows`` single bookings of 1 or 2 h on weekday afternoons and
  evenings of the term, in campus local time, never overlapping each other or the timetable;
* ``clashing.csv``: ``--clashing-rows`` of those bookings again, each half an hour later (so a
  new booking by its key) and in the way of the one imported: every row is refused.

Timed, each as its own process (``python -m compax_cli``), wall time and peak resident memory
(``ru_maxrss`` from ``wait4``): ``compax import timetable``, ``compax import bookings``, then
the bookings file again (every row unchanged), then the clashing file (every row refused;
its seconds per row over the clean import's is the cost of a refused row). Beside them, in
the same run:
``sqlite-utils insert`` of the same two files into a new local SQLite file (the limit of
writing these rows at all). The CPU time of the server, and of the Postgres backends serving
the benchmark's database (``pg_stat_activity``), is read from ``/proc`` during each import.

Results are markdown on stdout; progress on stderr.
"""

from __future__ import annotations

import argparse
import asyncio
import csv
import itertools
import json
import os
import platform
import random
import socket
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from time import perf_counter, sleep

import asyncpg
from bench_support import asyncpg_dsn, free_port, postgres_database, say

DEFAULT_SERVER = "postgresql://postgres@127.0.0.1:5432/postgres"
ADMIN = "bench-admin"
PASSWORD = "bench-password-0123"  # noqa: S105 (a throw-away database)
TERM = "Bench term"
WEEKDAYS = ["mon", "tue", "wed", "thu", "fri"]
MORNINGS = ["08:00", "10:00"]  # timetable sessions start here, 2 h each
AFTERNOONS = [13, 15, 17, 19]  # single bookings start at these hours, 1 or 2 h each
TARGET_SECONDS = 15.0
TARGET_MEGABYTES = 200.0
TARGET_REFUSED_COST = 3.0


# --- Files -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Plan:
    rooms: list[tuple[str, str]]  # (building, code)
    first_day: date
    last_day: date
    break_days: tuple[date, date]


def plan(rooms: int, today: date) -> Plan:
    monday = today + timedelta(days=7 - today.weekday())
    names = [(f"B{index // 25:02d}", f"{100 + index % 25}") for index in range(rooms)]
    first, last = monday, monday + timedelta(weeks=14) - timedelta(days=3)
    return Plan(
        names, first, last, (monday + timedelta(weeks=6), monday + timedelta(weeks=6, days=4))
    )


def write_campus(directory: Path, layout: Plan) -> dict[str, Path]:
    files = {kind: directory / f"{kind}.csv" for kind in ("buildings", "rooms", "terms")}
    buildings = sorted({building for building, _ in layout.rooms})
    with files["buildings"].open("w", newline="") as out:
        writer = csv.writer(out)
        writer.writerow(["code", "name"])
        writer.writerows([code, f"Building {code}"] for code in buildings)
    with files["rooms"].open("w", newline="") as out:
        writer = csv.writer(out)
        writer.writerow(["building", "code", "capacity", "features"])
        writer.writerows([b, c, 40, "projector, whiteboard"] for b, c in layout.rooms)
    holiday = f"Break {layout.break_days[0]}..{layout.break_days[1]}"
    with files["terms"].open("w", newline="") as out:
        writer = csv.writer(out)
        writer.writerow(["name", "first_day", "last_day", "holidays"])
        writer.writerow([TERM, layout.first_day, layout.last_day, holiday])
    return files


def write_timetable(path: Path, layout: Plan, count: int, rng: random.Random) -> None:
    slots = [(room, day, start) for room in layout.rooms for day in WEEKDAYS for start in MORNINGS]
    if count > len(slots):
        raise SystemExit(f"--timetable-rows: at most {len(slots)} with {len(layout.rooms)} rooms")
    with path.open("w", newline="") as out:
        writer = csv.writer(out)
        writer.writerow(
            ["course_code", "course_name", "department", "year_group", "weekday", "start", "end",
             "building", "room", "attendees"]
        )  # fmt: skip
        for index, ((building, room), day, start) in enumerate(rng.sample(slots, count)):
            end = f"{int(start[:2]) + 2:02d}:00"
            writer.writerow(
                [f"C{index:05d}", f"Course {index}", "Bench", str(1 + index % 4), day, start, end,
                 building, room, rng.randint(10, 40)]
            )  # fmt: skip


def write_bookings(path: Path, layout: Plan, count: int, rng: random.Random) -> None:
    days = [
        layout.first_day + timedelta(days=offset)
        for offset in range((layout.last_day - layout.first_day).days + 1)
        if (layout.first_day + timedelta(days=offset)).weekday() < 5
    ]
    slots = [(room, day, hour) for room in layout.rooms for day in days for hour in AFTERNOONS]
    if count > len(slots):
        raise SystemExit(f"--booking-rows: at most {len(slots)} with {len(layout.rooms)} rooms")
    with path.open("w", newline="") as out:
        writer = csv.writer(out)
        writer.writerow(["room", "start", "end", "title", "purpose", "attendees"])
        for index, ((building, room), day, hour) in enumerate(rng.sample(slots, count)):
            length = rng.choice([1, 2])
            writer.writerow(
                [f"{building}/{room}", f"{day} {hour:02d}:00", f"{day} {hour + length:02d}:00",
                 f"Meeting {index}", rng.choice(["meeting", "event", "exam"]), rng.randint(2, 40)]
            )  # fmt: skip


def write_clashes(path: Path, bookings: Path, count: int) -> None:
    """The first ``count`` rows of ``bookings`` moved half an hour later: each overlaps the
    booking it came from, and has a key of its own (room and start)."""
    with bookings.open(newline="") as source, path.open("w", newline="") as out:
        reader, writer = csv.reader(source), csv.writer(out)
        writer.writerow(next(reader))
        written = 0
        for room, start, end, *rest in itertools.islice(reader, count):
            writer.writerow([room, f"{start[:-2]}30", f"{end[:-2]}30", *rest])
            written += 1
    if written < count:
        raise SystemExit(f"--clashing-rows: at most {written}, the --booking-rows")


# --- Processes -------------------------------------------------------------------------------


@dataclass(frozen=True)
class Run:
    """One timed process: its wall time, CPU time, peak resident memory, exit code, output."""

    seconds: float
    cpu_seconds: float
    peak_megabytes: float
    exit_code: int
    stdout: str
    stderr: str


def timed(args: list[str], env: dict[str, str], stdin: str | None = None) -> Run:
    """Run ``args`` to the end; peak memory from ``wait4`` (``ru_maxrss``, KiB on Linux)."""
    with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
        started = perf_counter()
        process = subprocess.Popen(
            args, env={**os.environ, **env}, stdin=subprocess.PIPE if stdin else None,
            stdout=out, stderr=err,
        )  # fmt: skip
        if stdin:
            assert process.stdin is not None
            process.stdin.write(stdin.encode())
            process.stdin.close()
        _, status, usage = os.wait4(process.pid, 0)
        seconds = perf_counter() - started
        process.returncode = os.waitstatus_to_exitcode(status)
        out.seek(0)
        err.seek(0)
        return Run(
            seconds,
            usage.ru_utime + usage.ru_stime,
            usage.ru_maxrss / 1024,
            process.returncode,
            out.read().decode(),
            err.read().decode(),
        )


def compax(
    args: list[str], env: dict[str, str], stdin: str | None = None, codes: tuple[int, ...] = (0,)
) -> Run:
    run = timed([sys.executable, "-m", "compax_cli", *args], env, stdin)
    if run.exit_code not in codes:
        raise RuntimeError(f"compax {' '.join(args)} exited {run.exit_code}: {run.stderr}")
    return run


@contextmanager
def server(env: dict[str, str], log: Path) -> Iterator[tuple[str, int]]:
    """``compax server run`` on a free port; yields its URL and pid, stops it after."""
    port = free_port()
    with log.open("wb") as stderr:
        process = subprocess.Popen(
            [sys.executable, "-m", "compax_cli", "server", "run"],
            env={**os.environ, **env, "COMPAX_PORT": str(port)},
            stdout=subprocess.DEVNULL, stderr=stderr,
        )  # fmt: skip
    try:
        url = f"http://127.0.0.1:{port}"
        for _ in range(300):
            if process.poll() is not None:
                raise RuntimeError(f"server exited: {log.read_text()}")
            with socket.socket() as probe:
                if probe.connect_ex(("127.0.0.1", port)) == 0:
                    break
            sleep(0.1)
        yield url, process.pid
    finally:
        process.terminate()
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def cpu_seconds(root: int) -> float:
    """User plus system CPU time of ``root`` and its children, from ``/proc`` (Linux)."""
    total = 0
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            fields = (entry / "stat").read_text().rpartition(")")[2].split()
        except OSError:
            continue
        if int(entry.name) == root or int(fields[1]) == root:
            total += int(fields[11]) + int(fields[12])
    return total / os.sysconf("SC_CLK_TCK")


async def backend_cpu(url: str) -> dict[int, float]:
    """CPU seconds so far of each Postgres backend connected to ``url``'s database, from
    ``/proc`` (this machine's Postgres only; other databases' backends are left out)."""
    conn = await asyncpg.connect(asyncpg_dsn(url))
    try:
        pids = await conn.fetch(
            "SELECT pid FROM pg_stat_activity WHERE datname = current_database() "
            "AND pid <> pg_backend_pid()"
        )
    finally:
        await conn.close()
    return {pid: used for (pid,) in pids if (used := process_cpu(pid)) is not None}


def process_cpu(pid: int) -> float | None:
    """User plus system CPU seconds of process ``pid`` so far; ``None`` if it is gone."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()
    except OSError:
        return None
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


# --- The run ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class Measured:
    label: str
    rows: int
    run: Run
    server_cpu: float | None
    summary: str
    database_cpu: float | None = None


async def import_timed(
    label: str, args: list[str], env: dict[str, str], rows: int, pid: int, url: str
) -> Measured:
    say(f"{label} …")
    before, database_before = cpu_seconds(pid), await backend_cpu(url)
    run = compax([*args, "--json"], env, codes=(0, 1))
    used = cpu_seconds(pid) - before
    database_after = await backend_cpu(url)
    database = sum(cpu - database_before.get(p, 0.0) for p, cpu in database_after.items())
    say(f"  {run.seconds:.1f} s, {run.peak_megabytes:.0f} MB: {run.stdout.strip()}")
    return Measured(label, rows, run, used, run.stdout.strip(), database)


def sqlite_utils_timed(database: Path, table: str, path: Path, rows: int) -> Measured:
    run = timed(["sqlite-utils", "insert", str(database), table, str(path), "--csv"], {})
    if run.exit_code != 0:
        raise RuntimeError(f"sqlite-utils failed: {run.stderr}")
    return Measured(f"`sqlite-utils insert … {path.name} --csv`", rows, run, None, "")


async def main(args: argparse.Namespace) -> None:
    rng = random.Random(args.seed)
    started = perf_counter()
    load_before = os.getloadavg()
    with tempfile.TemporaryDirectory(prefix="compax-bench-import-") as scratch:
        work = Path(scratch)
        layout = plan(args.rooms, datetime.now(UTC).date())
        campus = write_campus(work, layout)
        timetable, bookings = work / "timetable.csv", work / "bookings.csv"
        clashing = work / "clashing.csv"
        write_timetable(timetable, layout, args.timetable_rows, rng)
        write_bookings(bookings, layout, args.booking_rows, rng)
        write_clashes(clashing, bookings, args.clashing_rows)
        say(f"files written to {work}")
        async with postgres_database(args.database_url, keep=args.keep) as url:
            server_env = {
                "COMPAX_DATABASE_URL": url,
                "COMPAX_SECRET_KEYS": "bench",
                "COMPAX_DATA_DIR": str(work / "server"),
                "COMPAX_LOG_LEVEL": "WARNING",
            }
            compax(["server", "migrate"], server_env)
            compax(
                ["server", "create-admin", "--username", ADMIN, "--password-stdin"],
                server_env,
                PASSWORD,
            )
            with server(server_env, work / "server.log") as (base, pid):
                client = {"COMPAX_DATA_DIR": str(work / "client"), "NO_COLOR": "1"}
                compax(
                    ["login", "--server", base, "--username", ADMIN, "--password-stdin"],
                    client,
                    PASSWORD,
                )
                for kind, path in campus.items():
                    compax(["import", kind, str(path)], client)
                term = f"{layout.first_day}..{layout.last_day}"
                say(f"campus imported: {len(layout.rooms)} rooms, term {term}")
                batch = ["--batch-size", str(args.batch_size)] if args.batch_size else []
                results = [
                    await import_timed(
                        "`compax import timetable`",
                        ["import", "timetable", str(timetable), "--term", TERM, *batch],
                        client, args.timetable_rows, pid, url,
                    ),
                    await import_timed(
                        "`compax import bookings`",
                        ["import", "bookings", str(bookings), *batch],
                        client, args.booking_rows, pid, url,
                    ),
                    await import_timed(
                        "`compax import bookings` again (all unchanged)",
                        ["import", "bookings", str(bookings), *batch],
                        client, args.booking_rows, pid, url,
                    ),
                    await import_timed(
                        "`compax import bookings` of rows that all clash",
                        ["import", "bookings", str(clashing), *batch],
                        client, args.clashing_rows, pid, url,
                    ),
                ]  # fmt: skip
        local = work / "local.sqlite3"
        limits = [
            sqlite_utils_timed(local, "timetable", timetable, args.timetable_rows),
            sqlite_utils_timed(local, "bookings", bookings, args.booking_rows),
        ]
    report(args, layout, results, limits, perf_counter() - started, load_before)


def report(
    args: argparse.Namespace,
    layout: Plan,
    results: list[Measured],
    limits: list[Measured],
    seconds: float,
    load_before: tuple[float, float, float],
) -> None:
    rows = args.timetable_rows + args.booking_rows
    print(
        f"Import of {rows:,} rows: {args.timetable_rows:,} timetable rows (weekly series of "
        f"2 h over a 14-week term with a break week) and {args.booking_rows:,} single bookings, "
        f"into {len(layout.rooms)} rooms, Postgres (asyncpg), one server process.\n"
    )
    print(
        "| step | rows | wall s | rows/s | peak MB | its CPU s | server CPU s | database CPU s "
        "| outcome |"
    )
    print("|---|---:|---:|---:|---:|---:|---:|---:|---|")
    for item in [*results, *limits]:
        cpu = "" if item.server_cpu is None else f"{item.server_cpu:.1f}"
        database = "" if item.database_cpu is None else f"{item.database_cpu:.1f}"
        print(
            f"| {item.label} | {item.rows:,} | {item.run.seconds:.1f} | "
            f"{item.rows / item.run.seconds:,.0f} | {item.run.peak_megabytes:.0f} | "
            f"{item.run.cpu_seconds:.1f} | {cpu} | {database} | "
            f"{_outcome(item.summary)} |"
        )
    first = results[:2]
    wall = sum(item.run.seconds for item in first)
    peak = max(item.run.peak_megabytes for item in first)
    limit = sum(item.run.seconds for item in limits)
    print(
        f"\nBoth imports: **{wall:.1f} s** for {rows:,} rows ({rows / wall:,.0f} rows/s; target "
        f"<= {TARGET_SECONDS:.0f} s: {'met' if wall <= TARGET_SECONDS else 'MISSED'}); peak "
        f"memory of the CLI **{peak:.0f} MB** (target <= {TARGET_MEGABYTES:.0f} MB: "
        f"{'met' if peak <= TARGET_MEGABYTES else 'MISSED'}). sqlite-utils wrote the same "
        f"rows in {limit:.1f} s."
    )
    clean, clashing = results[1], results[3]
    refused_cost = (clashing.run.seconds / clashing.rows) / (clean.run.seconds / clean.rows)
    print(
        f"\nClean rows: {clean.rows / clean.run.seconds:,.0f} rows/s; clashing rows: "
        f"{clashing.rows / clashing.run.seconds:,.0f} rows/s: a refused row costs "
        f"**{refused_cost:.1f}x** a clean one (target <= {TARGET_REFUSED_COST:.0f}x: "
        f"{'met' if refused_cost <= TARGET_REFUSED_COST else 'MISSED'})."
    )
    load_after = os.getloadavg()
    print(
        f"\nWhole run {seconds:.0f} s; Python {platform.python_version()}, {os.cpu_count()} CPUs, "
        f"load average {load_before[0]:.2f} before and {load_after[0]:.2f} after; seed {args.seed}."
    )


def _outcome(summary: str) -> str:
    if not summary:
        return ""
    counts = json.loads(summary)
    return ", ".join(
        f"{counts[k]:,} {k}" for k in ("created", "updated", "unchanged", "rejected") if counts[k]
    )


def parse() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--database-url", default=DEFAULT_SERVER, help="a Postgres server")
    parser.add_argument("--rooms", type=int, default=500)
    parser.add_argument("--timetable-rows", type=int, default=2_000)
    parser.add_argument("--booking-rows", type=int, default=48_000)
    parser.add_argument("--clashing-rows", type=int, default=20_000)
    parser.add_argument("--batch-size", type=int, default=None, help="default: per kind")
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--keep", action="store_true", help="keep the database")
    return parser.parse_args()


if __name__ == "__main__":
    asyncio.run(main(parse()))
