"""Terminal UI speed: cold start to the first screen drawn, and a building's week grid.

Both run on a replica written by this script (no server: the profile points at a closed port,
so the background sync fails quietly, as offline): buildings of 50 rooms each, with a term's
worth of bookings and a blackout.

1. Cold start: ``compax tui`` in a fresh tmux session (80x24), from launching the process to
   the first screen drawn (the app's frame: status bar, screen bar, the finder's filters and
   footer), and to its data shown (the status bar's pending count and the finder's count of
   rooms); the screen is read with capture-pane every 5 ms. Each run is a new Python process.
   Beside it, the time a fresh process takes to import the engine, the CLI, and the CLI with
   the TUI (what ``compax tui`` imports before its first frame).
2. Week grid: the app in Textual's headless mode at 160x48 on the grid of a 50-room building;
   from pressing ``w`` (day to week) to the screen refreshed with the week drawn. "Cold" runs
   change the replica's data version first, so the grid is read from SQLite, not the cache;
   "warm" ones toggle back to a week already read.

    python benchmarks/bench_tui.py
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from datetime import UTC, date, datetime, timedelta

from sync.engine import Engine
from sync.profiles import Profile
from sync.rules import default_opening_week
from sync.schemas import CampusInfo

ROOMS_PER_BUILDING = 50
PROFILE = "bench"


def parse() -> argparse.Namespace:
    """The command line's options."""
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--buildings", type=int, default=10, help="buildings of 50 rooms")
    parser.add_argument("--weeks", type=int, default=14, help="weeks of bookings")
    parser.add_argument("--starts", type=int, default=10, help="cold starts to time")
    parser.add_argument("--grids", type=int, default=30, help="week grids to time")
    return parser.parse_args()


def seed(buildings: int, weeks: int, first_day: date) -> int:
    """Fill the profile's replica; the number of bookings written."""
    engine = Engine(Profile(PROFILE, server="http://127.0.0.1:9", username="bench"))
    try:
        engine.profile.save()
        changes: list[dict[str, object]] = []
        room_id = 0
        bookings = 0
        for b in range(buildings):
            code = f"B{b:02d}"
            changes.append({"op": "put", "table": "buildings", "row": {"id": b + 1, "code": code}})
            for r in range(ROOMS_PER_BUILDING):
                room_id += 1
                changes.append(
                    {
                        "op": "put",
                        "table": "rooms",
                        "row": {
                            "id": room_id,
                            "building": code,
                            "building_id": b + 1,
                            "code": f"{r // 10 + 1}{r % 10:02d}",
                            "kind": "classroom",
                            "capacity": 20 + r % 8 * 10,
                            "bookable": True,
                            "features": ["projector"] if r % 2 else [],
                            "opening_hours": None,
                            "min_duration_minutes": None,
                            "max_duration_minutes": None,
                            "max_days_ahead": None,
                            "min_notice_minutes": None,
                        },
                    }
                )
                for week in range(weeks):
                    for weekday in range(5):
                        if (r + weekday) % 3:
                            continue
                        day = first_day + timedelta(weeks=week, days=weekday)
                        hour = 8 + (r * 3 + weekday * 2) % 10
                        start = datetime(day.year, day.month, day.day, hour, tzinfo=UTC)
                        bookings += 1
                        changes.append(
                            {
                                "op": "put",
                                "table": "bookings",
                                "row": {
                                    "id": str(uuid.uuid4()),
                                    "room_id": room_id,
                                    "room": f"{code}/{r}",
                                    "start": start.isoformat(),
                                    "end": (start + timedelta(hours=2)).isoformat(),
                                    "title": f"COURSE {100 + r}",
                                    "status": "confirmed",
                                    "owner_id": 2,
                                    "series_id": None,
                                    "version": 1,
                                },
                            }
                        )
        changes.append(
            {
                "op": "put",
                "table": "blackouts",
                "row": {
                    "id": 1,
                    "room_id": 3,
                    "building_id": None,
                    "start": datetime.combine(first_day, datetime.min.time(), UTC).isoformat(),
                    "end": datetime.combine(
                        first_day + timedelta(days=2), datetime.min.time(), UTC
                    ).isoformat(),
                    "reason": "Rewiring",
                },
            }
        )
        with engine.replica.write():
            engine.replica.apply_changes(changes)
        campus = CampusInfo(
            timezone="Africa/Accra",
            opening_hours=default_opening_week(),
            min_duration_minutes=15,
            max_duration_minutes=480,
            max_days_ahead=365,
            min_notice_minutes=0,
            server_version="bench",
        )
        user = {"id": 1, "username": "bench", "role": "staff"}
        engine.replica.set_state(
            campus=campus.model_dump_json(), user=json.dumps(user), last_sync="2027-01-11T07:00:00Z"
        )
        engine.cache.set("token", "bench-token")
        return bookings
    finally:
        engine.close()


def first_frame(screen: str) -> bool:
    """Whether the app's frame is on the terminal: status bar, screen bar, filters, footer."""
    lines = screen.splitlines()
    return (
        len(lines) > 2
        and ("opening" in lines[0] or "pending" in lines[0])
        and "F2 Finder" in lines[1]
        and "Free from" in screen
        and "Quit" in screen
    )


def data_shown(screen: str) -> bool:
    """Whether the replica's data is on the terminal: the pending count and the rooms found."""
    return "pending" in screen and re.search(r"\b\d+ rooms\b", screen) is not None


def cold_starts(runs: int) -> tuple[list[float], list[float]]:
    """Seconds from launching ``compax tui`` in tmux to its first screen on the terminal, and
    to the replica's data shown on it."""
    command = f"{sys.executable} -m compax_cli --profile {PROFILE} tui"
    frames: list[float] = []
    data: list[float] = []
    # Each run gets a tmux server of its own, on a socket in a folder removed afterwards.
    with tempfile.TemporaryDirectory() as sockets:
        for run in range(runs):
            tmux = ["tmux", "-S", os.path.join(sockets, f"run-{run}")]
            started = time.perf_counter()
            framed: float | None = None
            subprocess.run(
                [*tmux, "new-session", "-d", "-s", "tui", "-x", "80", "-y", "24",
                 "-e", f"COMPAX_DATA_DIR={os.environ['COMPAX_DATA_DIR']}", command],
                check=True,
            )  # fmt: skip
            try:
                while True:
                    screen = subprocess.run(
                        [*tmux, "capture-pane", "-p", "-t", "tui"],
                        capture_output=True,
                        text=True,
                        check=False,
                    ).stdout
                    now = time.perf_counter() - started
                    if framed is None and first_frame(screen):
                        framed = now
                    if framed is not None and data_shown(screen):
                        frames.append(framed)
                        data.append(now)
                        break
                    if now > 20:
                        raise RuntimeError(f"the TUI did not start:\n{screen}")
                    time.sleep(0.005)
            finally:
                subprocess.run([*tmux, "kill-server"], check=False)
    return frames, data


def import_times(runs: int, modules: str) -> list[float]:
    """Milliseconds a fresh Python process takes to import ``modules`` (comma separated)."""
    code = (
        "import time, importlib; t = time.perf_counter(); "
        f"[importlib.import_module(m) for m in {modules!r}.split(',')]; "
        "print((time.perf_counter() - t) * 1000)"
    )
    return [
        float(
            subprocess.run(
                [sys.executable, "-c", code], capture_output=True, text=True, check=True
            ).stdout
        )
        for _ in range(runs)
    ]


async def week_grids(runs: int) -> tuple[list[float], list[float]]:
    """Milliseconds from pressing ``w`` on a building's day to its week drawn: cold and warm."""
    from compax_tui.app import CompaxApp
    from compax_tui.screens.grid import GridScreen
    from compax_tui.widgets.slot_grid import SlotGridView

    app = CompaxApp(PROFILE, sync_interval=None)
    cold: list[float] = []
    warm: list[float] = []
    async with app.run_test(size=(160, 48)) as pilot:
        while not app.ready:
            await pilot.pause()
        await pilot.press("f3")
        await app.workers.wait_for_complete()
        await pilot.pause()
        assert isinstance(app.screen, GridScreen)
        view = app.screen.query_one(SlotGridView)

        pressed: list[float] = []
        toggle_week = GridScreen.action_toggle_week

        def timed_toggle(screen: GridScreen) -> None:
            pressed.append(time.perf_counter())
            toggle_week(screen)

        GridScreen.action_toggle_week = timed_toggle  # type: ignore[method-assign,assignment]

        async def toggle(week: bool) -> float:
            """From the key's action starting to the refresh after the new grid is shown."""
            await pilot.press("w")
            while view.grid is None or (len({d for d, _ in view.grid.columns}) > 1) != week:
                await pilot.pause()
            drawn = asyncio.Event()
            app.call_after_refresh(drawn.set)
            await drawn.wait()
            return (time.perf_counter() - pressed[-1]) * 1000

        for run in range(runs):
            app.engine.replica.set_state(local_version=f"bench-{run}")
            cold.append(await toggle(week=True))
            await toggle(week=False)
            warm.append(await toggle(week=True))
            await toggle(week=False)
        assert len(view.grid.lanes) == ROOMS_PER_BUILDING if view.grid else False
    return cold, warm


def ms(seconds: list[float]) -> list[float]:
    """``seconds`` in milliseconds."""
    return [s * 1000 for s in seconds]


def summary(values: list[float], unit: str) -> str:
    """Median, p95 and maximum of ``values``."""
    ordered = sorted(values)
    p95 = ordered[min(len(ordered) - 1, round(0.95 * (len(ordered) - 1)))]
    return (
        f"p50 {statistics.median(ordered):.1f} {unit}, p95 {p95:.1f} {unit}, "
        f"max {ordered[-1]:.1f} {unit} ({len(values)} runs)"
    )


def main() -> None:
    """Seed a replica, then time the cold start and the week grid."""
    args = parse()
    with tempfile.TemporaryDirectory() as folder:
        os.environ["COMPAX_DATA_DIR"] = folder
        monday = datetime.now(UTC).date() - timedelta(days=datetime.now(UTC).weekday())
        bookings = seed(args.buildings, args.weeks, monday - timedelta(weeks=args.weeks // 2))
        print(
            f"replica: {args.buildings} buildings × {ROOMS_PER_BUILDING} rooms, "
            f"{bookings:,} bookings over {args.weeks} weeks"
        )
        if args.starts and shutil.which("tmux"):
            frames, data = cold_starts(args.starts)
            print(f"cold start to first screen (tmux 80x24): {summary(ms(frames), 'ms')}")
            print(f"cold start to its data shown (tmux 80x24): {summary(ms(data), 'ms')}")
            for modules in ("sync.engine", "compax_cli.main", "compax_cli.main,compax_tui.app"):
                spent = import_times(args.starts, modules)
                print(f"  of which importing {modules}: {summary(spent, 'ms')}")
        elif args.starts:
            print("cold start: skipped, tmux is not installed")
        if args.grids:
            cold, warm = asyncio.run(week_grids(args.grids))
            print(f"week grid, {ROOMS_PER_BUILDING} rooms, cold (read from SQLite): "
                  f"{summary(cold, 'ms')}")  # fmt: skip
            print(f"week grid, {ROOMS_PER_BUILDING} rooms, warm (cached): {summary(warm, 'ms')}")


if __name__ == "__main__":
    main()
