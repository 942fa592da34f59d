"""The offline-first client engine that the CLI and the TUI share.

A local change is checked against the replica, then written as a pending row and an outbox
entry in one transaction. ``Engine.sync()`` pushes the outbox in order and pulls the server's
changes; a change the server refused stays in the outbox, with the reason, until the user
retries it (another room or time, as a new mutation) or discards it.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sync import judge, local, quota_local, sso
from sync.approvals import offline_status, offline_status_after_move
from sync.errors import (
    BookingCancelled,
    CompaxError,
    Forbidden,
    NotAuthenticated,
    NotFound,
    SeriesConflict,
    ValidationFailed,
)
from sync.http import Http, connect
from sync.issue_schemas import IssueCreate
from sync.managing import access_of_engine
from sync.permissions import Access, Permission, allows
from sync.profiles import Profile
from sync.protocol import SCHEMA_VERSION, Op
from sync.reads import Reads, instant_of
from sync.recurrence import Occurrence, expand
from sync.replica import PULLED_PAGE, PulledPage, Replica, instant, now_text
from sync.schemas import BookingCreate, Holiday, SeriesCreate
from sync.vocabulary import HOLDING, Scope

PUSH_BATCH = 200
PULL_PAGE = 2000


@dataclass(frozen=True)
class SyncReport:
    pushed: int
    applied: int
    rejected: int
    pulled: int
    cursor: int
    reset: bool


@dataclass(frozen=True)
class Alternative:
    """One way to retry a refused change: another room at the same time, or another time."""

    number: int
    room_id: int | None
    start: datetime | None
    end: datetime | None
    label: str


@dataclass(frozen=True)
class Conflict:
    """A change the server refused, kept until the user retries or discards it."""

    mid: int
    op: str
    summary: str
    record_id: str | None
    args: dict[str, Any]
    problem: dict[str, Any]
    created_at: str

    @property
    def reason(self) -> str:
        return str(
            self.problem.get("detail") or self.problem.get("title") or self.problem.get("type")
        )

    @property
    def conflicting(self) -> list[dict[str, Any]]:
        return list(self.problem.get("conflicting", []))

    def alternatives(self, zone: Any = UTC) -> list[Alternative]:
        """The server's suggestions, numbered from 1: rooms first, then times."""
        offered = self.problem.get("alternatives") or {}
        options: list[Alternative] = []
        for room in offered.get("rooms", []):
            options.append(
                Alternative(len(options) + 1, int(room["id"]), None, None, f"room {room['room']}")
            )
        for slot in offered.get("times", []):
            start, end = instant_of(slot["start"]), instant_of(slot["end"])
            label = f"{start.astimezone(zone):%a %d %b %H:%M}–{end.astimezone(zone):%H:%M}"
            options.append(Alternative(len(options) + 1, None, start, end, label))
        return options


class Engine:
    """One profile's replica, token and server, with every operation the front ends need."""

    def __init__(
        self,
        profile: Profile,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
        *,
        client: str | None = None,
    ) -> None:
        """``client`` names the front end to the server (``cli``, ``tui``)."""
        self.profile = profile
        self.client = client
        self.replica = Replica(profile.replica_path)
        self.cache = profile.open_cache()
        self.reads = Reads(self.replica, self.cache, clock)
        self.clock = clock
        if self.replica.state("client_id") is None:
            self.replica.set_state(client_id=uuid.uuid4(), cursor=0, next_mid=1, local_version=0)

    @classmethod
    def open(cls, profile: str | None = None) -> Engine:
        return cls(Profile.load(profile))

    def close(self) -> None:
        self.cache.close()
        self.replica.close()

    # --- identity -------------------------------------------------------------------------

    @property
    def token(self) -> str | None:
        value = self.cache.get("token")
        return None if value is None else str(value)

    @property
    def user(self) -> dict[str, Any] | None:
        stored = self.replica.state("user")
        return None if stored is None else dict(json.loads(stored))

    def my_bookings(
        self, *, start: datetime | None = None, limit: int = 200, offset: int = 0
    ) -> list[dict[str, Any]]:
        """The signed-in user's bookings in start order, pending changes included."""
        user = self._require_user()
        return self.reads.my_bookings(user["id"], start=start, limit=limit, offset=offset)

    def _require_user(self) -> dict[str, Any]:
        user = self.user
        if user is None:
            raise NotAuthenticated("Sign in first: compax login")
        return user

    def _access(self) -> Access:
        """What the signed-in user may do where, as far as this client knows (their role and
        the buildings their latest record says they manage)."""
        return access_of_engine(self)

    async def sign_in(self, server: str, username: str, password: str) -> dict[str, Any]:
        """Get a token for ``username`` on ``server`` and keep it in the profile's cache."""
        self._refuse_switch_with_changes(server, username)
        async with connect(server, client=self.client) as http:
            answer = await http.request(
                "POST", "/api/v1/auth/token", json={"username": username, "password": password}
            )
        return await self._adopt(server, answer)

    async def sign_in_sso(
        self,
        server: str,
        *,
        show: sso.Show,
        browser: bool = False,
        port: int = 0,
        cancelled: sso.Cancelled = sso.never,
    ) -> dict[str, Any]:
        """Sign in on ``server`` through the campus OpenID provider (``sync.sso``): the
        device flow where it is offered and ``browser`` is false, else a loopback redirect
        to ``port`` (0: a free one)."""
        answer = await sso.campus_token(
            server, show=show, browser=browser, port=port, cancelled=cancelled, client=self.client
        )
        return await self._adopt(server, answer)

    def _refuse_switch_with_changes(self, server: str, username: str) -> None:
        """Refuse to sign another account in while this one still has changes to sync."""
        other_account = (self.profile.server, self.profile.username) != (server, username.lower())
        if self.profile.server and other_account and self.pending_count():
            raise CompaxError(
                f"Profile {self.profile.name} has changes for {self.profile.username} on "
                f"{self.profile.server} still to sync; sync them or use another --profile"
            )

    async def _adopt(self, server: str, answer: dict[str, Any]) -> dict[str, Any]:
        """Make the token ``answer`` this profile's: a new account starts from an empty
        replica; the token is cached and the user's quota fetched."""
        username = answer["user"]["username"]
        self._refuse_switch_with_changes(server, username)
        if (self.profile.server, self.profile.username) != (server, username):
            with self.replica.write():
                self.replica.drop_server_rows()
                self.replica.db.execute("DELETE FROM outbox")
                self.replica.db.execute("DELETE FROM pending_bookings")
                self.replica.set_state(client_id=uuid.uuid4(), cursor=0, next_mid=1, registered="")
        self.profile.server, self.profile.username = server, username
        self.profile.save()
        self.cache.set("token", answer["access_token"], expire=answer["expires_in"])
        self.replica.set_state(user=json.dumps(answer["user"]))
        async with connect(server, answer["access_token"]) as http:
            quota_local.keep_quota(self.reads, await http.request("GET", "/api/v1/me/quota"))
        return dict(answer["user"])

    def sign_out(self) -> None:
        """Forget the token and who is signed in; the replica and the queued changes stay
        for the next sign-in, but nothing reads them until then."""
        self.cache.delete("token")
        with self.replica.write() as db:
            db.execute("DELETE FROM sync_state WHERE key = 'user'")

    def http(self, timeout: float = 30) -> Any:
        """A connection to the profile's server with the stored token; ``timeout`` seconds
        for each request (bulk imports allow more)."""
        if not self.profile.server:
            raise NotAuthenticated("No server yet: compax login --server URL")
        if self.token is None:
            raise NotAuthenticated("Your sign-in has expired: compax login")
        return connect(self.profile.server, self.token, timeout, client=self.client)

    # --- sync -----------------------------------------------------------------------------

    async def sync(self) -> SyncReport:
        """Push pending changes, then pull until up to date. Safe to repeat at any point."""
        async with self.http() as http:
            await self._register(http)
            campus = await http.request("GET", "/api/v1/campus")
            self.replica.set_state(campus=json.dumps(campus))
            quota_local.keep_quota(self.reads, await http.request("GET", "/api/v1/me/quota"))
            pushed, applied, rejected = await self._push(http)
            pulled, cursor, reset = await self._pull(http)
        self.replica.set_state(last_sync=now_text())
        return SyncReport(pushed, applied, rejected, pulled, cursor, reset)

    async def _register(self, http: Http) -> None:
        client_id = self.replica.state("client_id")
        if self.replica.state("registered") != client_id:
            await http.request("POST", "/api/v1/sync/clients", json={"client_id": client_id})
            self.replica.set_state(registered=client_id)

    async def _push(self, http: Http) -> tuple[int, int, int]:
        pushed = applied = rejected = 0
        while True:
            with self.replica.read() as db:
                rows = db.execute(
                    "SELECT mid, op, args FROM outbox WHERE status = 'pending' "
                    "ORDER BY mid LIMIT ?",
                    [PUSH_BATCH],
                ).fetchall()
            if not rows:
                return pushed, applied, rejected
            answer = await http.request(
                "POST",
                "/api/v1/sync/push",
                json={
                    "client_id": self.replica.state("client_id"),
                    "schema_version": SCHEMA_VERSION,
                    "mutations": [
                        {"mid": mid, "op": op, "args": json.loads(args)} for mid, op, args in rows
                    ],
                },
            )
            with self.replica.write() as db:
                for result in answer["results"]:
                    if result["status"] == "applied":
                        applied += 1
                        db.execute(
                            "UPDATE outbox SET status = 'applied' WHERE mid = ?", [result["mid"]]
                        )
                    else:
                        rejected += 1
                        db.execute(
                            "UPDATE outbox SET status = 'rejected', problem = ? WHERE mid = ?",
                            [json.dumps(result["problem"]), result["mid"]],
                        )
                        db.execute("DELETE FROM pending_bookings WHERE mid = ?", [result["mid"]])
                # A replica that lost its numbering (restored from an old copy) numbers its
                # next changes past every one the server has seen, not into ``mid-reused``.
                next_mid = max(
                    int(self.replica.state("next_mid") or 1), answer["last_mutation_id"] + 1
                )
                self.replica.set_state(acked=answer["last_mutation_id"], next_mid=next_mid)
            pushed += len(answer["results"])
            if answer.get("gap"):
                gap = answer["gap"]
                raise CompaxError(
                    f"The server expected change {gap['expected']} but got {gap['received']}; "
                    "this replica is out of step with the server"
                )
            if len(answer["results"]) < len(rows):
                return pushed, applied, rejected

    async def _pull(self, http: Http) -> tuple[int, int, bool]:
        """Pull pages until up to date; each page is applied in one transaction, or not at all.

        The next page is fetched while this one is applied (in a worker thread), so that the
        server's work and the replica's overlap; pages are still applied in order."""
        pulled, was_reset = 0, False
        client_id = self.replica.state("client_id")
        fetching = asyncio.ensure_future(
            self._pull_page(http, int(self.replica.state("cursor") or 0), client_id)
        )
        try:
            while True:
                page = await fetching
                if page.has_more:
                    fetching = asyncio.ensure_future(self._pull_page(http, page.cursor, client_id))
                pulled += await asyncio.to_thread(self._apply_page, page)
                was_reset = was_reset or page.reset
                if not page.has_more:
                    return pulled, page.cursor, was_reset
        finally:
            if not fetching.done():
                fetching.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await fetching

    async def _pull_page(self, http: Http, cursor: int, client_id: str | None) -> PulledPage:
        """One page of changes after ``cursor``, its rows left as the server's JSON text."""
        page: PulledPage = await http.request(
            "GET",
            "/api/v1/sync/pull",
            params={"cursor": cursor, "limit": PULL_PAGE, "client_id": client_id},
            decode=PULLED_PAGE.decode,
        )
        return page

    def _apply_page(self, page: PulledPage) -> int:
        """Apply one pulled page and its cursor in one replica transaction; changes applied."""
        with self.replica.write() as db:
            if page.reset:
                self.replica.drop_server_rows()
            applied = self.replica.apply_pulled(page.changes)
            if not page.has_more and page.last_mutation_id is not None:
                confirmed = [
                    row[0]
                    for row in db.execute(
                        "SELECT mid FROM outbox WHERE status = 'applied' AND mid <= ?",
                        [page.last_mutation_id],
                    )
                ]
                for mid in confirmed:
                    db.execute("DELETE FROM pending_bookings WHERE mid = ?", [mid])
                    db.execute("DELETE FROM outbox WHERE mid = ?", [mid])
            self.replica.set_state(cursor=page.cursor)
        return applied

    # --- local changes --------------------------------------------------------------------

    def book(
        self,
        room_id: int,
        start: datetime,
        end: datetime,
        title: str,
        *,
        purpose: str = "meeting",
        attendees: int = 0,
        private: bool = False,
        notes: str = "",
        features: Sequence[str] = (),
        owner: str | None = None,
        override: bool = False,
        override_reason: str | None = None,
    ) -> dict[str, Any]:
        """Book a room locally (pending until the server confirms it); refused if it clashes."""
        user = self._require_user()
        if not allows(user["role"], Permission.BOOK):
            raise Forbidden(f"Your role ({user['role']}) may not book rooms")
        args = {
            "id": str(uuid.uuid4()),
            "room_id": room_id,
            "start": start.isoformat(),
            "end": end.isoformat(),
            "title": title,
            "purpose": purpose,
            "attendees": attendees,
            "private": private,
            "notes": notes,
            "features": list(features),
            "owner": owner,
            "override": override,
            "override_reason": override_reason,
        }
        return self._queue_booking(Op.CREATE_BOOKING, args, user)

    def check_booking(
        self,
        room_id: int,
        start: datetime,
        end: datetime,
        *,
        attendees: int = 0,
        features: Sequence[str] = (),
    ) -> dict[str, Any]:
        """The room if booking ``[start, end)`` in it would pass every check here now, else the
        error ``book`` would raise (a clash with its alternatives, a rule); queues nothing."""
        user, now = self._require_user(), self.clock()
        return self.reads.check_booking(
            room_id,
            start,
            end,
            now,
            role=user["role"],
            attendees=attendees,
            features=features,
            also=quota_local.problems(self.reads, user["id"], [(start, end)], now),
        )

    def _queue_booking(self, op: Op, args: dict[str, Any], user: dict[str, Any]) -> dict[str, Any]:
        data = BookingCreate.model_validate(args)
        moment = self.clock()
        mine = data.owner is None or data.owner.lower() == user["username"]
        room = self.reads.check_booking(
            data.room_id,
            data.start,
            data.end,
            moment,
            role=user["role"],
            override=data.override,
            attendees=data.attendees,
            features=data.features,
            also=quota_local.problems(self.reads, user["id"], [(data.start, data.end)], moment)
            if mine
            else (),
        )
        now = now_text()
        row = {
            "id": str(data.id),
            "room_id": data.room_id,
            "room": f"{room['building']}/{room['code']}",
            "start": instant(data.start),
            "end": instant(data.end),
            "title": data.title,
            "purpose": data.purpose.value,
            "attendees": data.attendees,
            "private": data.private,
            "notes": data.notes,
            "owner_id": user["id"],
            "owner": data.owner or user["username"],
            "status": offline_status(self.reads, room, self._access()),
            "series_id": None,
            "version": 1,
            "created_at": now,
            "updated_at": now,
        }
        summary = f"Book {row['room']} {self._span(data.start, data.end)} “{data.title}”"
        self._queue(op, args, summary, row["id"], [row])
        return {**row, "pending": True}

    def book_series(self, data: SeriesCreate) -> list[dict[str, Any]]:
        """Book a recurring series locally: every occurrence is checked and shown pending."""
        user = self._require_user()
        if not allows(user["role"], Permission.BOOK):
            raise Forbidden(f"Your role ({user['role']}) may not book rooms")
        data = data.model_copy(update={"id": data.id or uuid.uuid4()})
        room, occurrences, clashes = self._series_plan(data)
        if clashes and data.on_conflict == "fail":
            raise SeriesConflict(f"{len(clashes)} of {len(occurrences)} dates clash", dates=clashes)
        skipped = {c["date"] for c in clashes}
        status = offline_status(self.reads, room, self._access())
        now, label = now_text(), f"{room['building']}/{room['code']}"
        rows = [
            {
                "id": f"{data.id}:{o.day}",
                "room_id": data.room_id,
                "room": label,
                "start": instant(o.start),
                "end": instant(o.end),
                "title": data.title,
                "purpose": data.purpose.value,
                "attendees": data.attendees,
                "private": data.private,
                "notes": data.notes,
                "owner_id": user["id"],
                "owner": user["username"],
                "status": status,
                "series_id": str(data.id),
                "version": 1,
                "created_at": now,
                "updated_at": now,
            }
            for o in occurrences
            if str(o.day) not in skipped
        ]
        summary = f"Book {label} {len(rows)} times from {data.first_day} “{data.title}”"
        self._queue(Op.CREATE_SERIES, data.model_dump(mode="json"), summary, str(data.id), rows)
        return [{**row, "pending": True} for row in rows]

    def check_series(self, data: SeriesCreate) -> list[dict[str, Any]]:
        """Every date of the series that would clash here now, with its problems (the
        ``dates`` of a ``series-conflict``); queues nothing."""
        return self._series_plan(data)[2]

    def _series_plan(
        self, data: SeriesCreate
    ) -> tuple[dict[str, Any], list[Occurrence], list[dict[str, Any]]]:
        """The series' room, its dates, and the dates that clash here now."""
        room = self.reads.room_or_error(data.room_id)
        occurrences = expand(data, self.reads.zone(), self._holidays(data.term_id))
        if not occurrences:
            raise ValidationFailed.single("first_day", "the pattern has no dates")
        clashes = self.reads.series_clashes(
            data.room_id,
            [(o.start, o.end) for o in occurrences],
            self.clock(),
            attendees=data.attendees,
            role=self._require_user()["role"],
            override=data.override,
        )
        self._settle_series_quota(data, occurrences, clashes)
        return room, occurrences, clashes

    def _settle_series_quota(
        self, data: SeriesCreate, occurrences: Sequence[Occurrence], clashes: list[dict[str, Any]]
    ) -> None:
        """Raise the quota problem of the series' dates that would be booked (the whole series
        is refused), unless overridden where the role may; a series for someone else is left to
        the server, which knows their quota."""
        user = self._require_user()
        if data.owner is not None and data.owner.lower() != user["username"]:
            return
        skipped = {c["date"] for c in clashes}
        kept = [(o.start, o.end) for o in occurrences if str(o.day) not in skipped]
        judge.settle(
            quota_local.problems(self.reads, user["id"], kept, self.clock()),
            user["role"],
            data.override,
        )

    def _holidays(self, term_id: int | None) -> list[Holiday]:
        if term_id is None:
            return []
        with self.replica.read() as db:
            row = db.execute("SELECT row FROM terms WHERE id = ?", [str(term_id)]).fetchone()
        if row is None:
            raise ValidationFailed.single("term_id", f"no term has id {term_id}")
        return [Holiday.model_validate(h) for h in json.loads(row[0])["holidays"]]

    def check_move(
        self,
        booking_id: str,
        *,
        start: datetime | None = None,
        end: datetime | None = None,
        room_id: int | None = None,
        scope: Scope = Scope.THIS,
    ) -> None:
        """Pass if ``move`` with these arguments would pass every check here now, else raise
        the error it would (a clash with its alternatives, a rule); queues nothing."""
        self._planned_move(booking_id, start, end, room_id, scope)

    def _planned_move(
        self,
        booking_id: str,
        start: datetime | None,
        end: datetime | None,
        room_id: int | None,
        scope: Scope,
    ) -> tuple[
        dict[str, Any],
        list[dict[str, Any]],
        list[int],
        list[tuple[datetime, datetime]],
        dict[int, dict[str, Any]],
    ]:
        """The booking, the occurrences that move, their rooms and times, once the judge has
        accepted them (or the error it raised)."""
        user = self._require_user()
        booking, targets = self._targets(booking_id, scope, user)
        new_start = start or instant_of(booking["start"])
        new_end = end or instant_of(booking["end"])
        if new_end <= new_start:
            raise ValidationFailed.single("end", "must be after start")
        times = judge.moved_times(
            (instant_of(booking["start"]), instant_of(booking["end"])),
            [(instant_of(t["start"]), instant_of(t["end"])) for t in targets],
            start,
            end,
            self.reads.zone(),
        )
        destinations = [room_id or int(target["room_id"]) for target in targets]
        rooms = {dest: self.reads.room_or_error(dest) for dest in set(destinations)}
        moving = [str(t["id"]) for t in targets]
        over_quota = (
            quota_local.problems(self.reads, user["id"], times, self.clock(), moving=moving)
            if (start or end) and int(booking["owner_id"]) == int(user["id"])
            else []
        )
        if start or end or room_id:
            wanted: dict[int, list[tuple[datetime, datetime, int]]] = {}
            for (s, e), target, dest in zip(times, targets, destinations, strict=True):
                wanted.setdefault(dest, []).append((s, e, target["attendees"]))
            if len(targets) == 1:
                [(dest, [(s, e, attendees)])] = wanted.items()
                self.reads.check_booking(
                    dest,
                    s,
                    e,
                    self.clock(),
                    role=user["role"],
                    exclude=moving,
                    attendees=attendees,
                    also=over_quota,
                )
            else:
                self.reads.check_several(
                    wanted, self.clock(), role=user["role"], exclude=moving, also=over_quota
                )
        return booking, targets, destinations, times, rooms

    def move(
        self,
        booking_id: str,
        *,
        start: datetime | None = None,
        end: datetime | None = None,
        room_id: int | None = None,
        title: str | None = None,
        scope: Scope = Scope.THIS,
    ) -> list[dict[str, Any]]:
        """Move (or retitle) a booking, or the following or all occurrences of its series; a
        move that names nothing to change is refused and queues nothing."""
        if start is None and end is None and room_id is None and title is None:
            raise ValidationFailed.single(
                "start", "nothing to change: give a new start, length, room or title"
            )
        booking, targets, destinations, times, rooms = self._planned_move(
            booking_id, start, end, room_id, scope
        )
        new_start = start or instant_of(booking["start"])
        new_end = end or instant_of(booking["end"])
        user, mover = self._require_user(), self._access()
        rows = []
        for target, dest, (target_start, target_end) in zip(
            targets, destinations, times, strict=True
        ):
            rows.append(
                {
                    **target,
                    "room_id": dest,
                    "room": f"{rooms[dest]['building']}/{rooms[dest]['code']}",
                    "start": instant(target_start),
                    "end": instant(target_end),
                    "title": title or target["title"],
                    "status": target["status"]
                    if (
                        int(target["room_id"]),
                        instant_of(target["start"]),
                        instant_of(target["end"]),
                    )
                    == (dest, target_start, target_end)
                    else offline_status_after_move(
                        self.reads,
                        rooms[dest],
                        target["status"],
                        mover if target.get("owner_id") == user["id"] else None,
                        mover,
                    ),
                    "version": target["version"] + 1,
                    "updated_at": now_text(),
                }
            )
        args: dict[str, Any] = {
            "id": str(booking["id"]),
            "base_version": booking["version"],
            "scope": scope.value,
        }
        if start is not None:
            args["start"] = new_start.isoformat()
        if end is not None or start is not None:
            args["end"] = new_end.isoformat()
        if room_id is not None:
            args["room_id"] = room_id
        if title is not None:
            args["title"] = title
        was = self._span(instant_of(booking["start"]), instant_of(booking["end"]))
        summary = f"Move {booking['room']} {was}"
        summary += f" to {rows[0]['room']} {self._span(new_start, new_end)}"
        self._queue(
            Op.UPDATE_BOOKING,
            args,
            summary,
            str(booking["id"]),
            [{k: v for k, v in r.items() if k != "pending"} for r in rows],
        )
        return [{**row, "pending": True} for row in rows]

    def cancel(self, booking_id: str, scope: Scope = Scope.THIS) -> list[dict[str, Any]]:
        """Cancel a booking, or the following or all occurrences of its series."""
        user = self._require_user()
        booking, targets = self._targets(booking_id, scope, user)
        rows = [
            {
                **{k: v for k, v in t.items() if k != "pending"},
                "status": "cancelled",
                "version": t["version"] + 1,
                "updated_at": now_text(),
            }
            for t in targets
        ]
        args = {"id": str(booking["id"]), "base_version": booking["version"], "scope": scope.value}
        what = "" if scope is Scope.THIS else f" and {len(rows) - 1} more"
        summary = (
            f"Cancel {booking['room']} "
            f"{self._span(instant_of(booking['start']), instant_of(booking['end']))}{what}"
        )
        self._queue(Op.CANCEL_BOOKING, args, summary, str(booking["id"]), rows)
        return [{**row, "pending": True} for row in rows]

    def check_in(self, booking_id: str) -> dict[str, Any]:
        """Check a booking in, queued like any change: refused here outside its window by this
        device's clock, and counted only if the server receives it within the window."""
        user = self._require_user()
        booking = self.reads.booking(booking_id)
        if booking is None:
            raise NotFound(f"No booking with id {booking_id} here; sync to see new ones")
        if booking["status"] != "confirmed":  # a pending request is checked in once approved
            raise BookingCancelled(f"The booking is {booking['status']}; it cannot be checked in")
        if booking.get("checked_in_at"):
            return booking
        if booking["owner_id"] != user["id"] and not allows(
            user["role"], Permission.MANAGE_ANY_BOOKING
        ):
            raise Forbidden("You may check in only your own bookings")
        if str(booking["id"]).count(":"):
            raise CompaxError("This occurrence is not on the server yet; sync first")
        now = self.clock()
        start = instant_of(booking["start"])
        self.reads.checkin_for(booking["room_id"]).check(start, now, self.reads.zone())
        row = {
            **{k: v for k, v in booking.items() if k != "pending"},
            "checked_in_at": instant(now),
            "version": booking["version"] + 1,
            "updated_at": now_text(),
        }
        args = {"id": str(booking["id"]), "at": now.isoformat()}
        summary = f"Check in {booking['room']} {self._span(start, instant_of(booking['end']))}"
        self._queue(Op.CHECK_IN_BOOKING, args, summary, str(booking["id"]), [row])
        return {**row, "pending": True}

    def report_issue(self, data: IssueCreate) -> dict[str, Any]:
        """Queue a report of a problem with a room like any change, with an id of its own so
        that sending it twice makes one report; it shows as pending until the server has it."""
        self._require_user()
        if data.room_id is not None:
            self.reads.room_or_error(data.room_id)
        elif self.reads.room_by_code(*(data.room or "/").split("/", 1)) is None:
            raise ValidationFailed.single("room", f"no room {data.room} here; sync to see new ones")
        report = data.model_copy(update={"id": data.id or uuid.uuid4()})
        args = report.model_dump(mode="json", exclude_none=True)
        where = report.room or f"room {report.room_id}"
        self._queue(Op.REPORT_ISSUE, args, f"Report {where}: {report.summary}", str(report.id), [])
        return {**args, "status": "open", "pending": True}

    def _targets(
        self, booking_id: str, scope: Scope, user: dict[str, Any]
    ) -> tuple[dict[str, Any], list[dict[str, Any]]]:
        booking = self.reads.booking(booking_id)
        if booking is None:
            raise NotFound(f"No booking with id {booking_id} here; sync to see new ones")
        if booking["status"] not in HOLDING:
            raise BookingCancelled(f"The booking is {booking['status']}")
        if booking["owner_id"] != user["id"] and not allows(
            user["role"], Permission.MANAGE_ANY_BOOKING
        ):
            raise Forbidden("You may change or cancel only your own bookings")
        if str(booking["id"]).count(":"):
            raise CompaxError(
                "This occurrence is not on the server yet; sync first, then change it"
            )
        if scope is Scope.THIS:
            return booking, [booking]
        if booking["series_id"] is None:
            raise ValidationFailed.single("scope", "this booking is not part of a series")
        with self.replica.read() as db:
            rows = db.execute(
                "SELECT row, pending FROM local_bookings WHERE status IN ('confirmed', 'pending')"
                " AND json_extract(row, '$.series_id') = ? AND id != ? AND start > ?"
                " ORDER BY start",
                [
                    booking["series_id"],
                    str(booking["id"]),
                    booking["start"] if scope is Scope.FOLLOWING else "",
                ],
            ).fetchall()
        return booking, [booking, *({**json.loads(r), "pending": bool(p)} for r, p in rows)]

    def _queue(
        self, op: Op, args: dict[str, Any], summary: str, record_id: str, rows: list[dict[str, Any]]
    ) -> int:
        """Write the outbox entry and its pending rows in one transaction (invariant 2)."""
        with self.replica.write() as db:
            mid = int(self.replica.state("next_mid") or 1)
            db.execute(
                "INSERT INTO outbox (mid, op, args, record_id, summary, created_at) "
                "VALUES (?, ?, ?, ?, ?, ?)",
                [mid, op.value, json.dumps(args), record_id, summary, now_text()],
            )
            db.conn.executemany(
                "INSERT OR REPLACE INTO pending_bookings "
                '(id, mid, room_id, start, "end", status, row) '
                "VALUES (?, ?, ?, ?, ?, ?, ?)",
                [
                    (
                        str(r["id"]),
                        mid,
                        str(r["room_id"]),
                        instant(r["start"]),
                        instant(r["end"]),
                        r["status"],
                        json.dumps(r),
                    )
                    for r in rows
                ],
            )
            local_version = int(self.replica.state("local_version") or 0) + 1
            self.replica.set_state(next_mid=mid + 1, local_version=local_version)
        return mid

    def _span(self, start: datetime, end: datetime) -> str:
        zone = self.reads.zone()
        return f"{start.astimezone(zone):%a %d %b %H:%M}–{end.astimezone(zone):%H:%M}"

    # --- conflicts ------------------------------------------------------------------------

    def conflicts(self) -> list[Conflict]:
        with self.replica.read() as db:
            rows = db.execute(
                "SELECT mid, op, summary, record_id, args, problem, created_at FROM outbox "
                "WHERE status = 'rejected' ORDER BY mid"
            ).fetchall()
        return [
            Conflict(mid, op, summary, record_id, json.loads(args), json.loads(problem), created)
            for mid, op, summary, record_id, args, problem, created in rows
        ]

    def conflict(self, mid: int) -> Conflict:
        for conflict in self.conflicts():
            if conflict.mid == mid:
                return conflict
        raise NotFound(f"No change {mid} needs attention")

    def retry(
        self,
        mid: int,
        *,
        alternative: int | None = None,
        room_id: int | None = None,
        start: datetime | None = None,
        end: datetime | None = None,
    ) -> list[dict[str, Any]]:
        """Send a refused change again as a new change: with one of the numbered alternatives,
        or another room or time. The refused one is resolved in the same transaction."""
        conflict = self.conflict(mid)
        if alternative is not None:
            options = {a.number: a for a in conflict.alternatives(self.reads.zone())}
            if alternative not in options:
                raise ValidationFailed.single("alternative", f"choose 1 to {len(options)}")
            chosen = options[alternative]
            room_id = chosen.room_id or room_id
            start, end = chosen.start or start, chosen.end or end
        args = conflict.args
        if conflict.op == Op.RATE_ROOM and room_id not in (None, args["room_id"]):
            # A rating is of the room it rates: sent "for another room" it would rate the first.
            raise ValidationFailed.single(
                "room", "a rating is sent again for its own room; discard it and rate the other"
            )
        with self.replica.write() as db:
            if conflict.op == Op.CREATE_BOOKING:
                rows = [
                    self.book(
                        room_id or args["room_id"],
                        start or instant_of(args["start"]),
                        end or instant_of(args["end"]),
                        args["title"],
                        purpose=args["purpose"],
                        attendees=args["attendees"],
                        private=args["private"],
                        notes=args["notes"],
                        features=args["features"],
                        owner=args["owner"],
                        override=args["override"],
                        override_reason=args["override_reason"],
                    )
                ]
            elif conflict.op == Op.UPDATE_BOOKING:
                rows = self.move(
                    args["id"],
                    start=start or _maybe(args.get("start")),
                    end=end or _maybe(args.get("end")),
                    room_id=room_id or args.get("room_id"),
                    title=args.get("title"),
                    scope=Scope(args["scope"]),
                )
            elif conflict.op == Op.CANCEL_BOOKING:
                rows = self.cancel(args["id"], Scope(args["scope"]))
            elif conflict.op == Op.CHECK_IN_BOOKING:
                rows = [self.check_in(args["id"])]
            elif conflict.op == Op.RATE_ROOM:
                self._queue(Op.RATE_ROOM, args, conflict.summary, str(args["room_id"]), [])
                rows = []
            elif conflict.op == Op.REPORT_ISSUE:
                # A report sent for another room no longer names the booking of the first.
                where = {"room_id": room_id, "room": None, "booking_id": None} if room_id else {}
                report = IssueCreate.model_validate({**args, "id": None, **where})
                rows = [self.report_issue(report)]
            else:
                series = SeriesCreate.model_validate({**args, "id": None, "on_conflict": "skip"})
                if room_id is not None:
                    series = series.model_copy(update={"room_id": room_id})
                rows = self.book_series(series)
            db.execute("DELETE FROM outbox WHERE mid = ?", [mid])
        return rows

    def discard(self, mid: int) -> None:
        """Drop a refused change; the server never applied it, so nothing else changes."""
        self.conflict(mid)
        with self.replica.write() as db:
            db.execute("DELETE FROM outbox WHERE mid = ?", [mid])

    # --- status ---------------------------------------------------------------------------

    def pending_count(self) -> int:
        with self.replica.read() as db:
            return int(
                db.execute("SELECT count(*) FROM outbox WHERE status != 'rejected'").fetchone()[0]
            )

    def status(self) -> dict[str, Any]:
        """Server, user, last sync, changes waiting and changes that need attention."""
        return local.status(self.profile)


def _maybe(value: str | None) -> datetime | None:
    return None if value is None else instant_of(value)
