"""CLI start: replica-only commands in a cold process, beside the bare Typer and Rich import.

    python benchmarks/bench_cli.py
    python benchmarks/bench_cli.py --runs 41

The replica is the terminal UI benchmark's (``bench_tui.seed``: 10 buildings of 50 rooms,
a term's bookings), written into a temporary profile whose server is a closed port, so
nothing here touches the network. Each run is a new Python process, timed from launch to
exit; the commands take turns run by run, so that each meets the same noise from the rest
of the machine. The limit is ``python -c "import typer, rich.console"``, what any Typer CLI
that prints with Rich pays before it does anything; beside it, a one-command Typer app with
two options printing a one-row Rich table, what Typer itself costs to parse and run a
command. The result is a markdown table on stdout; progress goes to stderr.
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import subprocess
import sys
import tempfile
from datetime import UTC, datetime, timedelta
from time import perf_counter

from bench_support import say
from bench_tui import PROFILE, seed

#: The target: a replica-only command takes at most this many times the limit.
TARGET = 2.5
LIMIT = '`python -c "import typer, rich.console"` (limit)'
BARE_TYPER = '''
from typing import Annotated
import typer
from rich.console import Console
from rich.table import Table
app = typer.Typer()
@app.callback()
def main(profile: Annotated[str | None, typer.Option(help="Profile.")] = None) -> None:
    """A group, as compax is."""
@app.command()
def status(as_json: Annotated[bool, typer.Option("--json", help="JSON.")] = False) -> None:
    """One command printing one row."""
    table = Table()
    table.add_column("profile")
    table.add_row("bench")
    Console().print(table)
app()
'''


def commands() -> dict[str, list[str]]:
    """What is timed, by the label it is reported under."""
    compax = [sys.executable, "-m", "compax_cli", "--profile", PROFILE]
    return {
        LIMIT: [sys.executable, "-c", "import typer, rich.console"],
        "a bare Typer command: two options, a Rich table": [
            sys.executable, "-c", BARE_TYPER, "--profile", PROFILE, "status",
        ],
        "`compax status`": [*compax, "status"],
        "`compax rooms list --building B03 --capacity 40`": [
            *compax, "rooms", "list", "--building", "B03", "--capacity", "40",
        ],
    }  # fmt: skip


def time_runs(runs: int) -> dict[str, list[float]]:
    """Milliseconds from launch to exit of each command, ``runs`` times, taking turns."""
    timed = commands()
    for argv in timed.values():  # once each untimed: warm the file cache and .pyc files
        subprocess.run(argv, check=True, capture_output=True)
    times: dict[str, list[float]] = {label: [] for label in timed}
    for _ in range(runs):
        for label, argv in timed.items():
            started = perf_counter()
            subprocess.run(argv, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            times[label].append((perf_counter() - started) * 1000)
    return times


def report(times: dict[str, list[float]], runs: int, loads: tuple[float, float]) -> str:
    """The figures as a markdown table, each command's median beside the limit's."""
    limit = statistics.median(times[LIMIT])
    lines = [
        f"{runs} cold runs of each, taking turns; Python {platform.python_version()}, "
        f"{os.cpu_count()} CPUs, load average {loads[0]:.2f} before and {loads[1]:.2f} after:",
        "",
        "| command | p50 ms | p95 ms | p50 × limit | target |",
        "|---|---:|---:|---:|---:|",
    ]
    for label, values in times.items():
        ordered = sorted(values)
        p95 = ordered[min(len(ordered) - 1, round(0.95 * (len(ordered) - 1)))]
        median = statistics.median(ordered)
        target = f"≤ {TARGET}×" if label.startswith("`compax") else ""
        lines.append(f"| {label} | {median:,.0f} | {p95:,.0f} | {median / limit:.2f}× | {target} |")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=21, help="timed runs of each command")
    args = parser.parse_args()
    if args.runs < 3:
        parser.error("time at least 3 runs")
    with tempfile.TemporaryDirectory() as folder:
        os.environ["COMPAX_DATA_DIR"] = folder
        monday = datetime.now(UTC).date() - timedelta(days=datetime.now(UTC).weekday())
        bookings = seed(10, 14, monday - timedelta(weeks=7))
        say(f"replica: 10 buildings, {bookings:,} bookings; timing {args.runs} runs of each")
        before = os.getloadavg()[0]
        times = time_runs(args.runs)
        print(report(times, args.runs, (before, os.getloadavg()[0])))


if __name__ == "__main__":
    main()
