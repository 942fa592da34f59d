"""The finder's ratings at 80x24, on a replica written by the test (no server): each room's
rating shown, the rooms filtered and sorted by rating, and a room rated with r, offline,
queued as ``rate_room`` and shown pending."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from textual.widgets import DataTable, Input, Select

from compax_tui.app import CompaxApp
from sync.engine import Engine
from sync.profiles import Profile
from tests.tui_campus import fixed_clock, offline_campus, settle


@pytest.fixture
def campus(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> str:
    """The offline campus, with PB/101 rated 4.5 by two, PB/102 3.0 by one."""
    monkeypatch.setenv("COMPAX_DATA_DIR", str(tmp_path / "client"))
    offline_campus("rate")
    engine = Engine(Profile.load("rate"), fixed_clock)
    try:
        with engine.replica.write() as db:
            for room_id, count, total in ((1, 2, 9), (2, 1, 3)):
                (row,) = db.execute("SELECT row FROM rooms WHERE id = ?", [str(room_id)]).fetchone()
                rated = {**json.loads(row), "rating_count": count, "rating_total": total}
                db.execute(
                    "UPDATE rooms SET row = ? WHERE id = ?", [json.dumps(rated), str(room_id)]
                )
    finally:
        engine.close()
    return "rate"


def _rows(app: CompaxApp) -> list[tuple[str, str]]:
    table = app.screen.query_one("#rooms", DataTable)
    return [
        (str(row[0]), str(row[4])) for row in (table.get_row_at(i) for i in range(table.row_count))
    ]


async def test_the_finder_shows_filters_and_sorts_by_rating(campus: str) -> None:
    app = CompaxApp(campus, clock=fixed_clock, sync_interval=None)
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        assert ("PB/101", "★ 4.5 (2)") in _rows(app)
        assert ("PB/201", "unrated") in _rows(app)
        app.screen.query_one("#order", Select).value = "rating"
        await settle(pilot)
        assert [room for room, _ in _rows(app)][:2] == ["PB/101", "PB/102"]
        app.screen.query_one("#min-rating", Select).value = "4"
        await settle(pilot)
        assert _rows(app) == [("PB/101", "★ 4.5 (2)")]
        assert "1 room, best rated first" in str(app.screen.query_one("#finder-note").render())


async def test_r_rates_the_room_offline_and_queues_it(campus: str) -> None:
    app = CompaxApp(campus, clock=fixed_clock, sync_interval=None)
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        await pilot.press("ctrl+l", "r")
        await settle(pilot)
        app.screen.query_one("#field-stars", Select).value = "2"
        app.screen.query_one("#field-comment", Input).value = "Projector flickers"
        await pilot.press("ctrl+s")
        await settle(pilot)
    engine = Engine(Profile.load(campus), fixed_clock)
    try:
        with engine.replica.read() as db:
            queued = db.execute("SELECT args, status FROM outbox WHERE op = 'rate_room'").fetchall()
    finally:
        engine.close()
    assert [(json.loads(args), status) for args, status in queued] == [
        ({"room_id": 5, "stars": 2, "comment": "Projector flickers"}, "pending")
    ]
