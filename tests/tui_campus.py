"""Helpers for the TUI tests: waiting for the app to settle, and a small campus written straight
into a profile's replica, for snapshots that need no server and never change."""

from __future__ import annotations

import asyncio
import json
from datetime import UTC, datetime, time, timedelta

from textual.pilot import Pilot
from textual.widgets import DataTable, Input

from sync.engine import Engine
from sync.profiles import Profile
from sync.rules import default_opening_week, local_instant
from sync.schemas import CampusInfo

#: The snapshots' "now": Monday 11 January 2027, 08:00 in Accra (UTC+0).
NOW = datetime(2027, 1, 11, 8, 0, tzinfo=UTC)


def fixed_clock() -> datetime:
    """The snapshots' clock: always ``NOW``."""
    return NOW


async def settle(pilot: Pilot[object]) -> None:
    """Wait until no worker runs and every message has been handled (never a sleep)."""
    for _ in range(20):
        await pilot.pause()
        running = [w for w in pilot.app.workers if not w.is_finished]
        if not running:
            await pilot.pause()
            return
        await asyncio.gather(*(w.wait() for w in running), return_exceptions=True)
    raise AssertionError(f"workers still running: {list(pilot.app.workers)}")


async def steady(pilot: Pilot[object]) -> None:
    """``settle``, then stop every text cursor blinking and wait until every table has measured
    its new rows, for snapshots (a ``DataTable`` sizes its columns when it is next idle, which
    a loaded machine can put after the snapshot)."""
    await settle(pilot)
    for field in pilot.app.screen.query(Input):
        field.cursor_blink = False
    for _ in range(50):
        await pilot.pause()
        tables = pilot.app.screen.query(DataTable)
        if not any(table._require_update_dimensions or table._updated_cells for table in tables):
            break
    await pilot.pause()


def _at(day_offset: int, hour: int, minute: int = 0) -> str:
    day = NOW.date() + timedelta(days=day_offset)
    return local_instant(day, time(hour, minute), UTC).isoformat()


def _booking(
    booking_id: str, room_id: int, room: str, day: int, start: int, end: int, title: str
) -> dict[str, object]:
    return {
        "id": booking_id,
        "room_id": room_id,
        "room": room,
        "start": _at(day, start),
        "end": _at(day, end),
        "title": title,
        "purpose": "class",
        "attendees": 30,
        "private": False,
        "notes": "",
        "owner_id": 2 if title != "Staff meeting" else 1,
        "owner": "lecturer" if title != "Staff meeting" else "ama",
        "status": "confirmed",
        "series_id": None,
        "version": 1,
        "created_at": NOW.isoformat(),
        "updated_at": NOW.isoformat(),
    }


def offline_campus(profile: str, *, signed_in: bool = True) -> None:
    """Write a campus into ``profile``'s replica as if synced from a server: two buildings,
    six rooms, bookings, a blackout, one pending booking and one refused change."""
    engine = Engine(Profile(profile, server="http://127.0.0.1:9", username="ama"), fixed_clock)
    try:
        engine.profile.save()
        campus = CampusInfo(
            timezone="Africa/Accra",
            opening_hours=default_opening_week(),
            min_duration_minutes=15,
            max_duration_minutes=8 * 60,
            max_days_ahead=365,
            min_notice_minutes=0,
            server_version="test",
        )
        user = {"id": 1, "username": "ama", "full_name": "Ama Mensah", "role": "staff"}
        rooms = [
            (1, "PB", 1, "101", "classroom", 40, ["projector"]),
            (2, "PB", 1, "102", "classroom", 60, ["projector", "ac"]),
            (3, "PB", 1, "201", "seminar_room", 20, ["whiteboard"]),
            (4, "PB", 1, "301", "lab", 32, ["computers"]),
            (5, "ENG", 2, "1", "lecture_hall", 120, ["projector", "microphone"]),
            (6, "ENG", 2, "2", "classroom", 40, []),
        ]
        changes: list[dict[str, object]] = [
            {
                "op": "put",
                "table": "buildings",
                "row": {"id": 1, "code": "PB", "name": "Petroleum"},
            },
            {"op": "put", "table": "buildings", "row": {"id": 2, "code": "ENG", "name": "Eng."}},
        ]
        for room_id, building, building_id, code, kind, capacity, features in rooms:
            row = {
                "id": room_id,
                "building": building,
                "building_id": building_id,
                "code": code,
                "name": "",
                "kind": kind,
                "floor": 0,
                "capacity": capacity,
                "bookable": True,
                "features": features,
                "opening_hours": None,
                "min_duration_minutes": None,
                "max_duration_minutes": None,
                "max_days_ahead": None,
                "min_notice_minutes": None,
                "version": 1,
            }
            changes.append({"op": "put", "table": "rooms", "row": row})
        for row in (
            _booking("b-1", 1, "PB/101", 0, 9, 11, "MATH 101"),
            _booking("b-2", 1, "PB/101", 2, 14, 16, "PHYS 210"),
            _booking("b-3", 2, "PB/102", 0, 10, 12, "CHEM 120"),
            _booking("b-4", 5, "ENG/1", 1, 8, 10, "ECON 301"),
            _booking("b-5", 1, "PB/101", 1, 13, 14, "Staff meeting"),
        ):
            changes.append({"op": "put", "table": "bookings", "row": row})
        blackout = {
            "id": 1,
            "room_id": 4,
            "building_id": None,
            "start": _at(0, 7),
            "end": _at(0, 22),
            "reason": "Rewiring",
            "created_by": 1,
            "version": 1,
        }
        changes.append({"op": "put", "table": "blackouts", "row": blackout})
        with engine.replica.write():
            engine.replica.apply_changes(changes)
        engine.replica.set_state(
            campus=campus.model_dump_json(),
            user=json.dumps(user),
            last_sync="2027-01-11T07:55:00.000000Z",
            cursor=42,
        )
        if signed_in:
            engine.cache.set("token", "snapshot-token")
        engine.book(
            3, datetime.fromisoformat(_at(0, 13)), datetime.fromisoformat(_at(0, 15)), "Tutorial"
        )
        refused = engine.book(
            1, datetime.fromisoformat(_at(3, 10)), datetime.fromisoformat(_at(3, 11)), "Seminar"
        )
        problem = {
            "type": "room-overlap",
            "title": "The room is already booked",
            "status": 409,
            "detail": "PB/101 is already booked during Thu 14 Jan 10:00–11:00",
            "conflicting": [
                {"id": "b-9", "start": _at(3, 9), "end": _at(3, 12), "title": "Exam board"}
            ],
            "alternatives": {
                "rooms": [{"id": 2, "room": "PB/102", "capacity": 60}],
                "times": [{"start": _at(3, 12), "end": _at(3, 13)}],
            },
        }
        with engine.replica.write() as db:
            db.execute(
                "UPDATE outbox SET status = 'rejected', problem = ? WHERE record_id = ?",
                [json.dumps(problem), refused["id"]],
            )
            db.execute("DELETE FROM pending_bookings WHERE id = ?", [refused["id"]])
    finally:
        engine.close()
