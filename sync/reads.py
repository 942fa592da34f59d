"""What the front ends read, from the replica: server rows with pending changes laid over.

It is also where a local change is checked before it is queued, with the same pure rules the
server applies (``sync.rules``), so the user hears of a clash at once, offline too.
"""

from __future__ import annotations

import json
from bisect import bisect_left, bisect_right
from collections import defaultdict
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import UTC, date, datetime, time, timedelta
from typing import Any, Literal, TypeVar, cast
from zoneinfo import ZoneInfo

from sync import judge
from sync.checkin import CheckinRules, RoomCheckin
from sync.errors import CompaxError, RoomOverlap, ValidationFailed
from sync.judge import Campus, Closure, Held, RoomFacts
from sync.lookups import Lookups
from sync.replica import Replica, instant
from sync.rules import (
    CampusRules,
    Interval,
    free_intervals,
    local_instant,
    open_intervals,
    opening_window,
    weekday_of,
)
from sync.schemas import CampusInfo

T = TypeVar("T")
#: Candidate rooms judged at a time while looking for free ones.
_BATCH = 64


def instant_of(text: str) -> datetime:
    """An ISO 8601 instant as the replica and the server write them (``…Z`` included)."""
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


SlotState = Literal["free", "booked", "blackout", "closed"]


@dataclass(frozen=True)
class Slot:
    """One cell of an availability grid: ``[start, end)`` of one room, and what fills it;
    ``closure`` is the reason of a blackout over a booked slot, so neither hides the other."""

    start: datetime
    end: datetime
    state: SlotState
    title: str = ""
    booking_id: str | None = None
    pending: bool = False
    closure: str = ""
    #: The booking is a request waiting for approval (it holds the slot meanwhile).
    awaiting: bool = False


@dataclass(frozen=True)
class Lane:
    """One row of an availability grid: a room over one day (``day``) or over the whole grid."""

    room: dict[str, Any]
    day: date | None
    slots: tuple[Slot, ...]


@dataclass(frozen=True)
class SlotGrid:
    """Rooms cut into equal time slots, ready to draw: every lane has one slot per column.

    ``columns`` are the slots' local (day, time); the day is ``None`` when each lane is a day
    of its own (a room's week), so that the columns are the times of any day.
    """

    slot_minutes: int
    columns: tuple[tuple[date | None, time], ...]
    lanes: tuple[Lane, ...]


class Reads(Lookups):
    """Queries over one replica; every method reads one consistent snapshot.

    Free-room searches and grids are cached (in diskcache when given one) under the replica's
    data version, the cursor and the count of local changes, so a pull or a local change
    makes every older answer unreachable.
    """

    replica: Replica

    def __init__(
        self,
        replica: Replica,
        cache: Any = None,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self.replica = replica
        self.cache = cache
        self.clock = clock

    def _cached(self, key: tuple[Any, ...], compute: Callable[[], T]) -> T:
        if self.cache is None:
            return compute()
        with self.replica.read():
            version = (self.replica.state("cursor"), self.replica.state("local_version"))
        full_key = ("reads", *key, *version)
        hit = self.cache.get(full_key)
        if hit is not None:
            return cast(T, hit)
        value = compute()
        self.cache.set(full_key, value, expire=900)
        return value

    # --- campus ---------------------------------------------------------------------------

    def campus(self) -> CampusInfo | None:
        stored = self.replica.state("campus")
        return None if stored is None else CampusInfo.model_validate_json(stored)

    def zone(self) -> ZoneInfo:
        campus = self.campus()
        return ZoneInfo(campus.timezone if campus else "UTC")

    def rules_for(self, room: dict[str, Any]) -> CampusRules:
        """The rules in force for ``room``: its own, the campus's where it sets none."""
        return self.judged(self.clock()).room_from_record(room).rules

    def judged(self, now: datetime) -> Campus:
        """What the judge needs besides the request: the campus as last synced, at ``now``."""
        campus = self.campus()
        if campus is None:
            raise CompaxError("Sync once while online: the campus rules are not known yet")
        defaults = CampusRules(
            opening_hours=campus.opening_hours,
            min_duration_minutes=campus.min_duration_minutes,
            max_duration_minutes=campus.max_duration_minutes,
            max_days_ahead=campus.max_days_ahead,
            min_notice_minutes=campus.min_notice_minutes,
        )
        return Campus(defaults, ZoneInfo(campus.timezone), now)

    def checkin_for(self, room_id: int | str) -> RoomCheckin:
        """Check-in as the room has it: its own settings, its building's, the campus's."""
        campus = self.campus()
        if campus is None:
            raise CompaxError("Sync once while online: the campus rules are not known yet")
        room = self.room_or_error(int(room_id))
        with self.replica.read() as db:
            found = db.execute(
                "SELECT row FROM buildings WHERE id = ?", [str(room["building_id"])]
            ).fetchone()
        rules = CheckinRules(
            campus.checkin_required, campus.checkin_opens_minutes, campus.checkin_closes_minutes
        )
        return rules.for_records(room, None if found is None else json.loads(found[0]))

    # --- bookings -------------------------------------------------------------------------

    def bookings_in(
        self,
        room_ids: Sequence[int | str],
        start: datetime,
        end: datetime,
        exclude: Sequence[str] = (),
    ) -> list[dict[str, Any]]:
        """Bookings holding the rooms (confirmed or waiting for approval; local changes not yet
        synced included) overlapping the window."""
        if not room_ids:
            return []
        rooms = ", ".join("?" for _ in room_ids)
        sql = (
            "SELECT row, pending FROM local_bookings WHERE status IN ('confirmed', 'pending') "  # noqa: S608
            f'AND room_id IN ({rooms}) AND "end" > ? AND start < ? ORDER BY start'
        )
        with self.replica.read() as db:
            rows = db.execute(sql, [*map(str, room_ids), instant(start), instant(end)]).fetchall()
        found = [{**json.loads(row), "pending": bool(pending)} for row, pending in rows]
        return [b for b in found if str(b["id"]) not in set(map(str, exclude))]

    def my_bookings(
        self, owner_id: int, *, start: datetime | None = None, limit: int = 200, offset: int = 0
    ) -> list[dict[str, Any]]:
        """The user's bookings in start order, their pending changes included."""
        sql = "SELECT row, pending FROM local_bookings WHERE json_extract(row, '$.owner_id') = ?"
        params: list[Any] = [owner_id]
        if start is not None:
            sql += ' AND "end" > ?'
            params.append(instant(start))
        sql += " ORDER BY start LIMIT ? OFFSET ?"
        with self.replica.read() as db:
            rows = db.execute(sql, [*params, limit, offset]).fetchall()
        return [{**json.loads(row), "pending": bool(pending)} for row, pending in rows]

    def blackouts_over(
        self, rooms: Sequence[dict[str, Any]], start: datetime, end: datetime
    ) -> list[dict[str, Any]]:
        room_ids = [str(r["id"]) for r in rooms] or [""]
        building_ids = sorted({str(r["building_id"]) for r in rooms}) or [""]
        sql = (
            "SELECT row FROM blackouts WHERE "  # noqa: S608
            f"(room_id IN ({', '.join('?' for _ in room_ids)}) "
            f"OR building_id IN ({', '.join('?' for _ in building_ids)})) "
            'AND "end" > ? AND start < ? ORDER BY start'
        )
        with self.replica.read() as db:
            rows = db.execute(
                sql, [*room_ids, *building_ids, instant(start), instant(end)]
            ).fetchall()
        return [json.loads(row[0]) for row in rows]

    def closures_over(self, bookings: Sequence[dict[str, Any]]) -> dict[str, str]:
        """The reason of a blackout over each of ``bookings`` that lies in one, by booking id:
        a closure made after a booking does not cancel it, so the owner must be told."""
        if not bookings:
            return {}
        rooms = {str(b["room_id"]): self.room(b["room_id"]) for b in bookings}
        known = [room for room in rooms.values() if room is not None]
        start = min(instant_of(b["start"]) for b in bookings)
        end = max(instant_of(b["end"]) for b in bookings)
        blackouts = self.blackouts_over(known, start, end)
        found: dict[str, str] = {}
        for booking in bookings:
            room = rooms[str(booking["room_id"])]
            for blackout in blackouts:
                if room is not None and Closure.of(blackout).shuts(
                    room["id"],
                    room["building_id"],
                    instant_of(booking["start"]),
                    instant_of(booking["end"]),
                ):
                    found[str(booking["id"])] = blackout["reason"]
                    break
        return found

    # --- availability ---------------------------------------------------------------------

    def free_rooms(
        self,
        start: datetime,
        end: datetime,
        *,
        capacity: int | None = None,
        features: Sequence[str] = (),
        building: str | None = None,
        kind: str | None = None,
        limit: int = 50,
    ) -> list[dict[str, Any]]:
        """Rooms free for the whole window that the judge accepts for ``capacity`` attendees
        now, smallest that fits first."""
        now = self.clock().replace(second=0, microsecond=0)
        key = ("free", start, end, capacity, tuple(features), building, kind, limit, now)
        return self._cached(
            key,
            lambda: self._free_rooms(start, end, capacity, features, building, kind, limit, now),
        )

    def _free_rooms(
        self,
        start: datetime,
        end: datetime,
        capacity: int | None,
        features: Sequence[str],
        building: str | None,
        kind: str | None,
        limit: int,
        now: datetime,
    ) -> list[dict[str, Any]]:
        campus = self.judged(now)
        accepted = self._accepted_rooms(
            start,
            end,
            campus,
            capacity or 0,
            limit,
            building=building,
            kind=kind,
            features=features,
        )
        return [record for _, record in accepted]

    def _accepted_rooms(
        self,
        start: datetime,
        end: datetime,
        campus: Campus,
        attendees: int,
        limit: int,
        *,
        building: str | None = None,
        kind: str | None = None,
        features: Sequence[str] = (),
        near: RoomFacts | None = None,
    ) -> list[tuple[RoomFacts, dict[str, Any]]]:
        """Up to ``limit`` rooms free then (no booking, no closure) that the judge accepts for
        ``attendees``, in its order (``judge.room_rank``), with their records: read in that
        order and judged a batch at a time until enough are found."""
        sql, params = self._rooms_where(building, kind, attendees or None, features, True)
        sql += (
            " AND id NOT IN (SELECT room_id FROM local_bookings"
            " WHERE status IN ('confirmed', 'pending')"
            ' AND "end" > ? AND start < ?)'
            " AND id NOT IN (SELECT room_id FROM blackouts WHERE room_id IS NOT NULL"
            ' AND "end" > ? AND start < ?)'
            " AND CAST(json_extract(row, '$.building_id') AS TEXT) NOT IN (SELECT building_id"
            ' FROM blackouts WHERE building_id IS NOT NULL AND "end" > ? AND start < ?)'
            " ORDER BY json_extract(row, '$.building_id') IS NOT ?, capacity IS NULL, capacity,"
            " CAST(id AS INTEGER)"
        )
        window = [instant(start), instant(end)] * 3
        found: list[tuple[RoomFacts, dict[str, Any]]] = []
        with self.replica.read() as db:
            rows = db.execute(sql, [*params, *window, near.building_id if near else None])
            while len(found) < limit and (batch := rows.fetchmany(_BATCH)):
                records = {int(r["id"]): r for r in (json.loads(row[0]) for row in batch)}
                accepted = judge.best_rooms(
                    [campus.room_from_record(record) for record in records.values()],
                    start,
                    end,
                    campus,
                    attendees=attendees,
                    near=near,
                    limit=limit - len(found),
                )
                found += [(room, records[room.id]) for room in accepted]
        return found

    def room_grid(self, room_id: int | str, start: datetime, end: datetime) -> dict[str, Any]:
        room = self.room(room_id)
        if room is None:
            raise ValidationFailed.single("room", f"no room has id {room_id}")
        return self._cached(
            ("room", str(room_id), start, end), lambda: self._grids([room], start, end)
        )[0]

    def building_grid(self, code: str, start: datetime, end: datetime) -> list[dict[str, Any]]:
        """Every room of the building with its busy, free and open intervals (three queries)."""
        rooms = self.rooms(building=code, limit=10_000)
        if not rooms:
            raise ValidationFailed.single("building", f"no rooms in building {code}")
        return self._cached(
            ("building", code.upper(), start, end), lambda: self._grids(rooms, start, end)
        )

    def room_slots(
        self, room_id: int | str, first_day: date, days: int = 7, slot_minutes: int = 30
    ) -> SlotGrid:
        """A room's days as lanes (one a day) of ``slot_minutes`` slots in campus local time."""
        room = self.room(room_id)
        if room is None:
            raise ValidationFailed.single("room", f"no room has id {room_id}")
        key = ("room-slots", str(room_id), first_day, days, slot_minutes)
        return self._cached(key, lambda: self._slot_grid([room], first_day, days, slot_minutes))

    def building_slots(
        self, code: str, first_day: date, days: int = 1, slot_minutes: int = 30
    ) -> SlotGrid:
        """A building's rooms as lanes over ``days`` days of ``slot_minutes`` slots each."""
        rooms = self.rooms(building=code, limit=10_000)
        if not rooms:
            raise ValidationFailed.single("building", f"no rooms in building {code}")
        key = ("building-slots", code.upper(), first_day, days, slot_minutes)
        return self._cached(key, lambda: self._slot_grid(rooms, first_day, days, slot_minutes))

    def _slot_grid(
        self, rooms: list[dict[str, Any]], first_day: date, days: int, slot_minutes: int
    ) -> SlotGrid:
        """Slots from the earliest opening to the latest closing of the rooms on those days
        (08:00–18:00 when all are closed); a booking under a blackout keeps its title and notes
        the closure, a booking or blackout wins over closed hours, and a slot is free only if
        the room is open for all of it."""
        if not 5 <= slot_minutes <= 240 or 24 * 60 % slot_minutes:
            raise ValidationFailed.single("slot_minutes", "must divide a day, 5 to 240 minutes")
        zone = self.zone()
        dates = [first_day + timedelta(days=n) for n in range(days)]
        weeks = [self.rules_for(room).opening_hours for room in rooms]
        hours = [h for week in weeks for d in dates if (h := week.get(weekday_of(d)))]
        step = timedelta(minutes=slot_minutes)
        first = min((h.open for h in hours), default=time(8))
        last = max((h.close for h in hours), default=time(18))
        day_start = datetime.combine(first_day, first)
        day_start -= timedelta(minutes=(first.hour * 60 + first.minute) % slot_minutes)
        count = -(-(datetime.combine(first_day, last) - day_start) // step) if last > first else 0
        times = [(day_start + n * step).time() for n in range(count)]
        window = (
            local_instant(dates[0], time(0), zone),
            local_instant(dates[-1] + timedelta(days=1), time(0), zone),
        )
        grids = self._grids(rooms, *window)
        lanes: list[Lane] = []
        if len(rooms) == 1 and days > 1:
            for day in dates:
                starts = [local_instant(day, t, zone) for t in times]
                lanes.append(Lane(rooms[0], day, _slots(grids[0], starts, step)))
            columns: list[tuple[date | None, time]] = [(None, t) for t in times]
        else:
            starts = [local_instant(day, t, zone) for day in dates for t in times]
            for grid in grids:
                lanes.append(Lane(grid["room"], None, _slots(grid, starts, step)))
            columns = [(day, t) for day in dates for t in times]
        return SlotGrid(slot_minutes, tuple(columns), tuple(lanes))

    def _grids(
        self, rooms: list[dict[str, Any]], start: datetime, end: datetime
    ) -> list[dict[str, Any]]:
        bookings = defaultdict(list)
        for booking in self.bookings_in([r["id"] for r in rooms], start, end):
            bookings[str(booking["room_id"])].append(booking)
        blackouts = self.blackouts_over(rooms, start, end)
        zone, grids = self.zone(), []
        for room in rooms:
            busy = [
                {
                    "start": instant_of(b["start"]),
                    "end": instant_of(b["end"]),
                    "kind": "booking",
                    "title": b["title"],
                    "booking_id": str(b["id"]),
                    "pending": b["pending"],
                    "awaiting": b["status"] == "pending",
                }
                for b in bookings[str(room["id"])]
            ]
            busy += [
                {
                    "start": instant_of(b["start"]),
                    "end": instant_of(b["end"]),
                    "kind": "blackout",
                    "title": b["reason"],
                    "booking_id": None,
                    "pending": False,
                }
                for b in blackouts
                if Closure.of(b).shuts(room["id"], room["building_id"], start, end)
            ]
            busy.sort(key=lambda item: item["start"])
            opened = open_intervals(self.rules_for(room).opening_hours, start, end, zone)
            spans = [(item["start"], item["end"]) for item in busy]
            free = [iv for window in opened for iv in free_intervals(window, spans)]
            grids.append({"room": room, "busy": busy, "free": free, "open": opened})
        return grids

    # --- checks ---------------------------------------------------------------------------

    def check_booking(
        self,
        room_id: int,
        start: datetime,
        end: datetime,
        now: datetime,
        *,
        role: str,
        exclude: Sequence[str] = (),
        override: bool = False,
        attendees: int = 0,
        features: Sequence[str] = (),
        also: Sequence[CompaxError] = (),
    ) -> dict[str, Any]:
        """The room, if the judge accepts ``[start, end)`` in it for a user of ``role`` (rules,
        and the quota problems ``also`` found, overridden where ``override`` asks and the role
        may); else the server's error."""
        room, campus = self.room_or_error(room_id), self.judged(now)
        facts = campus.room_from_record(room)
        closures = [Closure.of(b) for b in self.blackouts_over([room], start, end)]
        broken = judge.problems(facts, start, end, campus, attendees=attendees, closures=closures)
        judge.settle([*broken, *also], role, override)
        in_the_way = self.bookings_in([room_id], start, end, exclude)
        if in_the_way:
            raise self.overlap(
                facts,
                start,
                end,
                campus,
                in_the_way,
                attendees=attendees,
                features=features,
                exclude=exclude,
            )
        return room

    def check_several(
        self,
        wanted: Mapping[int, Sequence[tuple[datetime, datetime, int]]],
        now: datetime,
        *,
        role: str,
        exclude: Sequence[str] = (),
        override: bool = False,
        also: Sequence[CompaxError] = (),
    ) -> None:
        """Whether the judge accepts moving several occurrences together, each
        ``(start, end, attendees)`` into the room it is listed under (and the quota problems
        ``also`` found are overridden); else its first quota problem or ``series-conflict``."""
        campus, destinations = self.judged(now), []
        judge.settle(also, role, override)
        for room_id, slots in sorted(wanted.items()):
            room = self.room_or_error(room_id)
            first, last = min(s[0] for s in slots), max(s[1] for s in slots)
            destinations.append(
                judge.Destination(
                    campus.room_from_record(room),
                    slots,
                    self._held([room_id], first, last, exclude),
                    [Closure.of(b) for b in self.blackouts_over([room], first, last)],
                )
            )
        judge.settle_several(destinations, campus, role=role, override=override)

    def series_clashes(
        self,
        room_id: int,
        slots: Sequence[tuple[datetime, datetime]],
        now: datetime,
        *,
        attendees: int,
        role: str,
        override: bool,
    ) -> list[dict[str, Any]]:
        """The judge's report of each date of a series that clashes here now."""
        room, campus = self.room_or_error(room_id), self.judged(now)
        first, last = slots[0][0], slots[-1][1]
        reports, _ = judge.judge_series(
            campus.room_from_record(room),
            slots,
            campus,
            held=self._held([room_id], first, last),
            closures=[Closure.of(b) for b in self.blackouts_over([room], first, last)],
            attendees=attendees,
            role=role,
            override=override,
        )
        return list(reports.values())

    def room_or_error(self, room_id: int) -> dict[str, Any]:
        """The room, or the validation error naming ``room_id``."""
        room = self.room(room_id)
        if room is None:
            raise ValidationFailed.single("room_id", f"no room has id {room_id}")
        return room

    def _held(
        self, room_ids: Sequence[int], start: datetime, end: datetime, exclude: Sequence[str] = ()
    ) -> list[Held]:
        return [
            Held(b["id"], instant_of(b["start"]), instant_of(b["end"]), b.get("title"))
            for b in self.bookings_in(room_ids, start, end, exclude)
        ]

    def overlap(
        self,
        room: RoomFacts,
        start: datetime,
        end: datetime,
        campus: Campus,
        in_the_way: list[dict[str, Any]],
        *,
        attendees: int = 0,
        features: Sequence[str] = (),
        exclude: Sequence[str] = (),
    ) -> RoomOverlap:
        """The judge's ``room-overlap`` problem, with the alternatives it accepts here."""
        busy: list[Interval] = []
        closures: list[Closure] = []
        window = opening_window(
            start.astimezone(campus.zone).date(), room.rules.opening_hours, campus.zone
        )
        if window is not None:
            busy = [(h.start, h.end) for h in self._held([room.id], *window, exclude)]
            around = {"id": room.id, "building_id": room.building_id}
            closures = [Closure.of(b) for b in self.blackouts_over([around], *window)]
        accepted = self._accepted_rooms(
            start,
            end,
            campus,
            attendees,
            judge.ROOM_ALTERNATIVES,
            features=features,
            near=room,
        )
        times = judge.free_times(
            room, start, end, campus, busy=busy, closures=closures, attendees=attendees
        )
        return judge.overlap(
            room,
            start,
            end,
            campus,
            [
                Held(b["id"], instant_of(b["start"]), instant_of(b["end"]), b["title"])
                for b in in_the_way
            ],
            judge.Alternatives([facts for facts, _ in accepted], times),
        )


def _slots(grid: dict[str, Any], starts: list[datetime], step: timedelta) -> tuple[Slot, ...]:
    """The slots starting at ``starts`` (sorted) filled from one room's busy and open
    intervals; each interval finds its slots by bisection, so the cost is cells plus
    intervals, not their product."""
    fill: list[Slot | None] = [None] * len(starts)
    ends = [start + step for start in starts]

    def covered(start: datetime, end: datetime) -> range:
        return range(bisect_right(ends, start), bisect_left(starts, end))

    blackouts = [b for b in grid["busy"] if b["kind"] == "blackout"]
    bookings = [b for b in grid["busy"] if b["kind"] == "booking"]
    for item in bookings:
        for index in covered(item["start"], item["end"]):
            if fill[index] is None:
                fill[index] = Slot(
                    starts[index],
                    ends[index],
                    "booked",
                    item["title"] or "(private)",
                    item["booking_id"],
                    item["pending"],
                    awaiting=bool(item.get("awaiting")),
                )
    for item in blackouts:
        for index in covered(item["start"], item["end"]):
            held = fill[index]
            if held is None:
                fill[index] = Slot(starts[index], ends[index], "blackout", item["title"])
            elif held.state == "booked" and not held.closure:
                fill[index] = replace(held, closure=item["title"] or "closed")
    opened = [False] * len(starts)
    for open_start, open_end in grid["open"]:
        for index in covered(open_start, open_end):
            opened[index] |= open_start <= starts[index] and ends[index] <= open_end
    return tuple(
        slot
        if slot is not None
        else Slot(starts[index], ends[index], "free" if opened[index] else "closed")
        for index, slot in enumerate(fill)
    )
