"""The sync endpoints' core: client registration, idempotent push, snapshot pull, compaction.

Push applies each mutation in its own transaction through the same service functions as the
REST endpoints, and records its outcome and the client's new ``last_mutation_id`` in that
same transaction: a mutation is applied once, and a replay gets the stored outcome. A mutation
that fails unexpectedly is rejected as ``internal`` and the push goes on (invariant 6).
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import logging
import uuid
from collections import defaultdict
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any, cast

from pydantic import BaseModel, ValidationError
from pydantic_core import to_json
from sqlalchemy import (
    CursorResult,
    Row,
    bindparam,
    case,
    delete,
    exists,
    func,
    insert,
    literal_column,
    select,
)
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import SQLModel, col

from compax_server import changelog
from compax_server.db import Database
from compax_server.logs import request_id
from compax_server.models import (
    Blackout,
    Building,
    Change,
    ChangeCounter,
    Series,
    SyncClient,
    SyncMutation,
    Term,
    User,
    WaitlistEntry,
)
from compax_server.problems import problem_body
from compax_server.services import booking_batch, bookings, checkin, issues, ratings, series
from compax_server.services.access import access_of
from compax_server.services.blackouts import blackout_public
from compax_server.services.booking_views import (
    UuidOfText,
    Viewer,
    viewer_params,
    visible_booking_json,
    with_visible_bookings,
)
from compax_server.services.campus import building_public, rooms_public, term_public
from compax_server.services.common import database_unavailable, utcnow
from compax_server.services.policy import BookingPolicy
from compax_server.services.users import user_public_of
from compax_server.services.waitlist import public as waitlist_public
from compax_server.store import RoomsNotTaken, store_for, writing
from sync.errors import (
    BadRequest,
    CompaxError,
    Forbidden,
    InternalError,
    MidReused,
    ValidationFailed,
    field_errors,
)
from sync.issue_schemas import IssueCreate
from sync.permissions import Permission, allows
from sync.protocol import (
    SCHEMA_VERSION,
    CancelBookingArgs,
    ChangeItem,
    ChangeOp,
    CheckInBookingArgs,
    ClientState,
    Gap,
    Mutation,
    MutationResult,
    MutationStatus,
    Op,
    PushRequest,
    PushResponse,
    UpdateBookingArgs,
)
from sync.rating_schemas import RateRoomArgs
from sync.schemas import MAX_ID, BookingCreate, BookingUpdate, SeriesCreate
from sync.vocabulary import Scope

PUSH_PATH = "/api/v1/sync/push"


async def register_client(db: Database, user: User, client_id: uuid.UUID) -> ClientState:
    """Register ``client_id`` to ``user``; registering again is harmless, another's id is 403."""
    async with db.write() as session:
        client = await session.get(SyncClient, client_id)
        if client is None:
            now = utcnow()
            client = SyncClient(
                client_id=client_id, user_id=user.id or 0, created_at=now, last_seen_at=now
            )
            session.add(client)
        elif client.user_id != user.id:
            raise Forbidden("This client id belongs to someone else; make a new one")
        return ClientState(client_id=client_id, last_mutation_id=client.last_mutation_id)


# --- Push ------------------------------------------------------------------------------------

Apply = Callable[[AsyncSession, User, Any, BookingPolicy], Awaitable[tuple[str, int]]]


async def _create_booking(
    session: AsyncSession, user: User, args: BookingCreate, policy: BookingPolicy
) -> tuple[str, int]:
    view = await bookings.create_booking(session, user, args, policy)
    return str(view.id), view.version


async def _update_booking(
    session: AsyncSession, user: User, args: UpdateBookingArgs, policy: BookingPolicy
) -> tuple[str, int]:
    addressing = {"id", "base_version", "scope"}
    changes = BookingUpdate.model_validate(
        {name: getattr(args, name) for name in args.model_fields_set - addressing}
    )
    view = await bookings.update_booking(
        session, user, args.id, changes, args.base_version, args.scope, policy
    )
    return str(view.id), view.version


async def _cancel_booking(
    session: AsyncSession, user: User, args: CancelBookingArgs, policy: BookingPolicy
) -> tuple[str, int]:
    cancelled = await bookings.cancel_booking(session, user, args.id, args.base_version, args.scope)
    return str(args.id), cancelled[0].version


async def _create_series(
    session: AsyncSession, user: User, args: SeriesCreate, policy: BookingPolicy
) -> tuple[str, int]:
    result = await series.create_series(session, user, args, policy)
    return str(result.series.id), result.series.version


async def _check_in_booking(
    session: AsyncSession, user: User, args: CheckInBookingArgs, policy: BookingPolicy
) -> tuple[str, int]:
    booking = await checkin.check_in(session, user, args.id, policy)
    return str(booking.id), booking.version


async def _rate_room(
    session: AsyncSession, user: User, args: RateRoomArgs, policy: BookingPolicy
) -> tuple[str, int]:
    if args.delete:
        taken_back = await ratings.unrate_room(session, user, args.room_id)
        return str(taken_back.id), taken_back.version
    if args.stars is None:
        raise ValidationFailed.single("args.stars", "give 1 to 5 stars, or delete: true")
    rating, _ = await ratings.rate_room(session, user, args.room_id, args.stars, args.comment)
    return str(rating.id), rating.version


async def _report_issue(
    session: AsyncSession, user: User, args: IssueCreate, policy: BookingPolicy
) -> tuple[str, int]:
    access = await access_of(session, user)
    public, _ = await issues.report_issue(session, user, access, args)
    return str(public.id), public.version


#: Each op: its argument schema, the permission it needs, and the service call that does it.
OPS: dict[Op, tuple[type[BaseModel], Permission, Apply]] = {
    Op.CREATE_BOOKING: (BookingCreate, Permission.BOOK, _create_booking),
    Op.UPDATE_BOOKING: (UpdateBookingArgs, Permission.BOOK, _update_booking),
    Op.CANCEL_BOOKING: (CancelBookingArgs, Permission.BOOK, _cancel_booking),
    Op.CREATE_SERIES: (SeriesCreate, Permission.BOOK, _create_series),
    Op.CHECK_IN_BOOKING: (CheckInBookingArgs, Permission.BOOK, _check_in_booking),
    Op.RATE_ROOM: (RateRoomArgs, Permission.RATE_ROOMS, _rate_room),
    Op.REPORT_ISSUE: (IssueCreate, Permission.REPORT_ISSUES, _report_issue),
}


#: Mutations applied per transaction, with their recorded outcomes.
CHUNK = 500
_SYNC_MUTATIONS = SQLModel.metadata.tables["sync_mutations"]
error_log = logging.getLogger("compax.error")


async def push(
    db: Database, user: User, request: PushRequest, policy: BookingPolicy
) -> PushResponse:
    """Apply the mutations in ``mid`` order; each one's effect, outcome and the client's new
    ``last_mutation_id`` commit together or not at all.

    A chunk whose transaction fails unexpectedly (the batch core writes several bookings in
    one statement, without savepoints) is applied again one mutation per transaction, so that
    only the mutation at fault is rejected as ``internal``; a transient database failure is
    raised (503) and advances nothing.
    """
    if request.schema_version != SCHEMA_VERSION:
        raise BadRequest(
            f"This server speaks sync schema {SCHEMA_VERSION}, not {request.schema_version}; "
            "update Compax"
        )
    last = await _last_mutation_id(db, user, request.client_id)
    results: list[MutationResult] = []
    gap = None
    mutations = sorted(request.mutations, key=lambda m: m.mid)
    for first in range(0, len(mutations), CHUNK):
        group = mutations[first : first + CHUNK]
        try:
            chunks = [await _in_one_transaction(db, user, policy, request.client_id, group)]
        except Exception as error:
            if not _unexpected(error):
                raise
            error_log.warning(
                "a push by %s failed unexpectedly; applying its mutations one at a time",
                user.username,
                exc_info=True,
                extra={"request_id": request_id.get()},
            )
            chunks = await _one_at_a_time(db, user, policy, request.client_id, group)
        for chunk in chunks:
            results += chunk.results
            last, gap = chunk.client.last_mutation_id, chunk.gap
        if gap is not None:
            break
    return PushResponse(last_mutation_id=last, results=results, gap=gap)


async def _in_one_transaction(
    db: Database,
    user: User,
    policy: BookingPolicy,
    client_id: uuid.UUID,
    mutations: Sequence[Mutation],
    *,
    batch: bool = True,
    failed: bool = False,
) -> _Chunk:
    """Apply ``mutations`` in one write transaction with the client's row locked, which takes
    the rooms the new ones touch before it writes (``store``)."""

    async def work(session: AsyncSession) -> _Chunk:
        client = await session.get(SyncClient, client_id, with_for_update=True)
        assert client is not None
        new = [] if failed else [m for m in mutations if m.mid > client.last_mutation_id]
        await store_for(session).take_rooms(session, await _rooms_touched(session, new))
        chunk = _Chunk(session, user, policy, client, batch=batch, failed=failed)
        await chunk.apply(mutations)
        return chunk

    return await writing(db, work)


async def _rooms_touched(session: AsyncSession, mutations: Sequence[Mutation]) -> set[int]:
    """The rooms ``mutations`` book in, and those of the bookings they change or cancel, as
    their arguments name them (arguments too bad to name any are refused later)."""
    rooms: set[int] = set()
    changed: list[tuple[uuid.UUID, Scope]] = []
    for mutation in mutations:
        args = mutation.args
        room_id = args.get("room_id")
        if isinstance(room_id, int) and not isinstance(room_id, bool) and 0 < room_id <= MAX_ID:
            rooms.add(room_id)
        if mutation.op in (Op.UPDATE_BOOKING, Op.CANCEL_BOOKING, Op.CHECK_IN_BOOKING):
            with contextlib.suppress(ValueError, TypeError, AttributeError):
                changed.append((uuid.UUID(str(args.get("id"))), Scope(args.get("scope", "this"))))
    return rooms | await bookings.rooms_touched(session, changed)


async def _one_at_a_time(
    db: Database,
    user: User,
    policy: BookingPolicy,
    client_id: uuid.UUID,
    mutations: Sequence[Mutation],
) -> list[_Chunk]:
    """Each mutation in a transaction of its own, each op in its savepoint; a mutation whose
    transaction still fails unexpectedly is recorded, in another, as rejected ``internal``."""
    chunks = []
    for mutation in mutations:
        try:
            chunk = await _in_one_transaction(db, user, policy, client_id, [mutation], batch=False)
        except Exception as error:
            if not _unexpected(error):
                raise
            _log_fault(user, mutation)
            chunk = await _in_one_transaction(
                db, user, policy, client_id, [mutation], batch=False, failed=True
            )
        chunks.append(chunk)
        if chunk.gap is not None:
            break
    return chunks


def _unexpected(error: Exception) -> bool:
    """Whether ``error`` is a fault of the change that met it, rather than a domain answer or
    a transient database failure (which the whole push answers: 503, nothing advanced)."""
    return not isinstance(error, CompaxError | RoomsNotTaken) and not database_unavailable(error)


def _fingerprint(mutation: Mutation) -> str:
    """SHA-256 of the mutation's op and arguments as canonical JSON: equal for a replay."""
    canonical = json.dumps(
        {"op": mutation.op.value, "args": mutation.args},
        sort_keys=True,
        separators=(",", ":"),
        ensure_ascii=False,
    )
    return hashlib.sha256(canonical.encode()).hexdigest()


#: A recorded mutation: its fingerprint (``None`` if recorded before fingerprints) and outcome.
_Recorded = tuple[str | None, MutationResult]


@dataclass
class _Chunk:
    """One transaction's worth of a push: mutations applied in ``mid`` order, outcomes kept.

    Runs of ``create_booking`` go through the batch core (``booking_batch``), which answers
    each exactly as the one-by-one path would, unless ``batch`` is off; every other op runs
    alone in a savepoint. With ``failed``, new mutations are not run but rejected as
    ``internal``: their own transaction failed.
    """

    session: AsyncSession
    user: User
    policy: BookingPolicy
    client: SyncClient
    batch: bool = True
    failed: bool = False
    gap: Gap | None = None
    results: list[MutationResult] = field(default_factory=list)
    outcomes: dict[int, _Recorded] = field(default_factory=dict)
    creates: list[tuple[Mutation, BookingCreate]] = field(default_factory=list)
    recorded: list[dict[str, Any]] = field(default_factory=list)

    async def apply(self, mutations: Sequence[Mutation]) -> None:
        """Apply the mutations; stop at a gap, kept in ``gap``."""
        last = self.client.last_mutation_id
        stored = await self._stored([m.mid for m in mutations if m.mid <= last])
        for mutation in mutations:
            if mutation.mid <= last:
                await self._create_queued()
                self.results.append(
                    _replayed(mutation, self.outcomes.get(mutation.mid) or stored.get(mutation.mid))
                )
                continue
            if mutation.mid > last + 1:
                self.gap = Gap(expected=last + 1, received=mutation.mid)
                break
            last = mutation.mid
            if self.failed:
                self._record(mutation, _internal(mutation))
                continue
            booking = self._booking_to_create(mutation) if self.batch else None
            if booking is not None:
                self.creates.append((mutation, booking))
                continue
            await self._create_queued()
            self._record(mutation, await _apply(self.session, self.user, mutation, self.policy))
        await self._create_queued()
        if self.recorded:
            await self.session.execute(insert(_SYNC_MUTATIONS), self.recorded)
        self.client.last_mutation_id = last
        self.client.last_seen_at = utcnow()

    def _booking_to_create(self, mutation: Mutation) -> BookingCreate | None:
        """The booking a ``create_booking`` the user may make asks for; ``None`` for any other
        mutation, or one that will be refused (``_apply`` then says why)."""
        if mutation.op is not Op.CREATE_BOOKING or not allows(self.user.role, Permission.BOOK):
            return None
        try:
            return BookingCreate.model_validate(mutation.args)
        except ValidationError:
            return None

    async def _create_queued(self) -> None:
        queued, self.creates = self.creates, []
        if not queued:
            return
        made = await booking_batch.create_bookings(
            self.session, self.user, [booking for _, booking in queued], self.policy
        )
        for (mutation, _), outcome in zip(queued, made, strict=True):
            if isinstance(outcome, CompaxError):
                self._record(mutation, _rejected(mutation, outcome))
            else:
                result = MutationResult(
                    mid=mutation.mid,
                    status=MutationStatus.APPLIED,
                    id=str(outcome.id),
                    version=outcome.version,
                )
                self._record(mutation, result)

    def _record(self, mutation: Mutation, outcome: MutationResult) -> None:
        fingerprint = _fingerprint(mutation)
        self.results.append(outcome)
        self.outcomes[mutation.mid] = (fingerprint, outcome)
        self.recorded.append(
            {
                "client_id": self.client.client_id,
                "mid": mutation.mid,
                "op": mutation.op.value,
                "fingerprint": fingerprint,
                "status": outcome.status.value,
                "result": outcome.model_dump(mode="json"),
                "created_at": utcnow(),
            }
        )

    async def _stored(self, mids: list[int]) -> dict[int, _Recorded]:
        """The recorded mutations applied before, by ``mid``."""
        if not mids:
            return {}
        rows = await self.session.execute(
            select(
                col(SyncMutation.mid), col(SyncMutation.fingerprint), col(SyncMutation.result)
            ).where(
                col(SyncMutation.client_id) == self.client.client_id,
                col(SyncMutation.mid).in_(mids),
            )
        )
        return {
            mid: (fingerprint, MutationResult.model_validate(result))
            for mid, fingerprint, result in rows
        }


def _replayed(mutation: Mutation, recorded: _Recorded | None) -> MutationResult:
    """The answer to a mutation already received: its stored outcome if it is the same change
    (or was recorded without a fingerprint), else ``mid-reused``."""
    if recorded is None:
        return MutationResult(mid=mutation.mid, status=MutationStatus.APPLIED)
    fingerprint, outcome = recorded
    if fingerprint is None or fingerprint == _fingerprint(mutation):
        return outcome
    return _rejected(
        mutation,
        MidReused(
            f"Change {mutation.mid} was received before with another op or other arguments; "
            "this client's numbering is out of step with the server, so the change was not "
            "applied"
        ),
    )


async def _last_mutation_id(db: Database, user: User, client_id: uuid.UUID) -> int:
    async with db.read() as session:
        client = await session.get(SyncClient, client_id)
    if client is None:
        raise ValidationFailed.single(
            "client_id", "is not registered; POST /api/v1/sync/clients first"
        )
    if client.user_id != user.id:
        raise Forbidden("This client id belongs to someone else")
    return client.last_mutation_id


async def _apply(
    session: AsyncSession, user: User, mutation: Mutation, policy: BookingPolicy
) -> MutationResult:
    """Run one mutation in a savepoint: applied, or rejected with its problem and no effect
    (``internal`` when it fails unexpectedly)."""
    schema, permission, apply = OPS[mutation.op]
    try:
        if not allows(user.role, permission):
            raise Forbidden(
                f"Your role ({user.role}) may not {mutation.op.value.replace('_', ' ')}"
            )
        try:
            args = schema.model_validate(mutation.args)
        except ValidationError as exc:
            raise ValidationFailed(field_errors(exc, "args")) from None
        async with session.begin_nested():
            record_id, version = await apply(session, user, args, policy)
    except CompaxError as error:
        return _rejected(mutation, error)
    except Exception as error:
        if not _unexpected(error):
            raise
        _log_fault(user, mutation)
        return _internal(mutation)
    return MutationResult(
        mid=mutation.mid, status=MutationStatus.APPLIED, id=record_id, version=version
    )


def _log_fault(user: User, mutation: Mutation) -> None:
    """Log the exception being handled, a fault of ``user``'s ``mutation``, with the request's
    id (also on the record itself, whatever the handler)."""
    error_log.exception(
        "mutation %s (%s) pushed by %s failed unexpectedly; it is rejected as internal",
        mutation.mid,
        mutation.op.value,
        user.username,
        extra={"request_id": request_id.get()},
    )


def _internal(mutation: Mutation) -> MutationResult:
    return _rejected(
        mutation,
        InternalError(
            "The server failed unexpectedly on this change, which was not applied; it has "
            f"been logged with request id {request_id.get()}"
        ),
    )


def _rejected(mutation: Mutation, error: CompaxError) -> MutationResult:
    return MutationResult(
        mid=mutation.mid, status=MutationStatus.REJECTED, problem=problem_body(error, PUSH_PATH)
    )


# --- Pull ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class PullPage:
    """One page of a pull, as ``PullResponse`` says, with each change already JSON text."""

    cursor: int
    has_more: bool
    last_mutation_id: int | None
    reset: bool
    changes: list[str]

    def to_json(self) -> bytes:
        """The page as the JSON of a ``PullResponse``, the changes' texts spliced in as they are."""
        head = to_json(
            {
                "cursor": self.cursor,
                "has_more": self.has_more,
                "last_mutation_id": self.last_mutation_id,
                "reset": self.reset,
            }
        )
        return b'%s,"changes":[%s]}' % (head[:-1], ",".join(self.changes).encode())


async def pull_page(
    db: Database, user: User, cursor: int, limit: int, client_id: uuid.UUID | None
) -> PullPage:
    """Changes after ``cursor`` as ``user`` may see them, read from one snapshot.

    Changes committed before the pull began are numbered first (in a transaction of their
    own, committed before the snapshot is taken), so an idle client sees them at once.
    A cursor older than the newest compacted tombstone cannot be continued: the answer is a
    ``reset`` that starts again from the beginning, and the client drops its server rows.
    The entries and their bookings (the bulk of a page) are read in one statement that also
    writes each booking's JSON; rows of other tables are read and encoded here.
    """
    await number_changes(db)
    async with db.snapshot() as session:
        state = await session.execute(_PULL_STATE, {"client_id": client_id, "user_id": user.id})
        counter, purged_through, last_mutation_id = state.one()
        reset = 0 < cursor < purged_through or cursor > counter
        after = 0 if reset else cursor
        entries: Sequence[Row[int, str, str, str, str | None]] = []
        if after < counter:  # nothing in this snapshot is numbered above the counter
            parameters = {"after": after, "user_key": str(user.id), "limit": limit + 1}
            entries = (
                await session.execute(_PAGE, parameters | viewer_params(Viewer.of(user)))
            ).all()
        has_more = len(entries) > limit
        entries = entries[:limit]
        rows = await _rows_for(session, user, [entry for entry in entries if entry[4] is None])
    changes = [
        _BOOKING_PUT % booking if booking is not None else _change_json(table, key, op, rows)
        for _, table, key, op, booking in entries
    ]
    # Every number up to the counter is visible in this snapshot (docs/sync.md).
    new_cursor = entries[-1].seq if has_more else max(after, counter)
    return PullPage(new_cursor, has_more, last_mutation_id, reset, changes)


def _change_json(table: str, key: str, op: str, rows: dict[tuple[str, str], dict[str, Any]]) -> str:
    """One change as JSON text: a put of the row as the caller may see it, or a delete (also
    for a row gone since its entry was written)."""
    row = rows.get((table, key)) if op == ChangeOp.PUT else None
    change: ChangeItem = (
        {"op": ChangeOp.DELETE, "table": table, "row": {"id": key}}
        if row is None
        else {"op": ChangeOp.PUT, "table": table, "row": row}
    )
    return to_json(change).decode()


#: The change counter and, if ``:client_id`` is the caller's, its last applied mutation.
_PULL_STATE = select(
    col(ChangeCounter.value),
    col(ChangeCounter.purged_through),
    select(col(SyncClient.last_mutation_id))
    .where(
        col(SyncClient.client_id) == bindparam("client_id"),
        col(SyncClient.user_id) == bindparam("user_id"),
    )
    .scalar_subquery(),
).where(col(ChangeCounter.id) == 1)
#: A put of a booking, around the booking's JSON text.
_BOOKING_PUT = '{"op":"put","table":"bookings","row":%s}'
_CHANGES = SQLModel.metadata.tables["changes"]
_WAITLIST = SQLModel.metadata.tables["waitlist_entries"]
#: Whether the change names a waitlist entry of the caller's (``:viewer_id``).
_OWN_ENTRY = exists().where(
    _WAITLIST.c.id
    == UuidOfText(
        case((_CHANGES.c.table_name == literal_column("'waitlist_entries'"), _CHANGES.c.row_key))
    ),
    _WAITLIST.c.user_id == bindparam("viewer_id"),
)
#: The numbered entries after ``:after`` that the caller may see (of users and waitlist
#: entries, only their own),
#: each put of a booking with the booking's JSON as the viewer may see it (NULL otherwise).
_PAGE = (
    select(
        _CHANGES.c.seq,
        _CHANGES.c.table_name,
        _CHANGES.c.row_key,
        _CHANGES.c.op,
        visible_booking_json().label("booking"),
    )
    .select_from(
        with_visible_bookings(
            _CHANGES,
            case(
                (
                    (_CHANGES.c.table_name == literal_column("'bookings'"))
                    & (_CHANGES.c.op == literal_column("'put'")),
                    _CHANGES.c.row_key,
                )
            ),
        )
    )
    .where(
        _CHANGES.c.seq > bindparam("after"),
        (_CHANGES.c.table_name != "users") | (_CHANGES.c.row_key == bindparam("user_key")),
        (_CHANGES.c.table_name != "waitlist_entries") | _OWN_ENTRY,
    )
    .order_by(_CHANGES.c.seq)
    .limit(bindparam("limit"))
)


async def number_changes(db: Database, *, wait: bool = True) -> int:
    """Number the change-log entries of committed writers (Postgres; SQLite writers number
    their own), committing before anyone reads them; without ``wait``, only if no other
    numbering is under way."""
    if db.is_sqlite:
        return 0
    async with db.read() as session:
        if not await changelog.any_waiting(session):
            return 0
    async with db.write() as session:
        return await changelog.number_changes(session, wait=wait)


async def _rows_for(
    session: AsyncSession, viewer: User, entries: Sequence[Any]
) -> dict[tuple[str, str], dict[str, Any]]:
    """The current rows the entries name (bookings aside: ``_PAGE`` reads those), each table in
    one query, as ``viewer`` may see them, as plain dicts of JSON values."""
    keys: dict[str, list[str]] = defaultdict(list)
    for _, table, key, op, _ in entries:
        if op == ChangeOp.PUT and table != "bookings":
            keys[table].append(key)
    rows: dict[tuple[str, str], dict[str, Any]] = {}
    seen_by = Viewer.of(viewer)

    def keep(table: str, key: object, model: BaseModel) -> None:
        rows[(table, str(key))] = model.model_dump(mode="json")

    if ids := _ints(keys["buildings"]):
        for building in (
            await session.execute(select(Building).where(col(Building.id).in_(ids)))
        ).scalars():
            keep("buildings", building.id, building_public(building))
    if ids := _ints(keys["rooms"]):
        for room in await rooms_public(session, ids):
            keep("rooms", room.id, room)
    if ids := _ints(keys["terms"]):
        for term in (await session.execute(select(Term).where(col(Term.id).in_(ids)))).scalars():
            keep("terms", term.id, term_public(term))
    if keys["users"]:
        own = await session.get(User, viewer.id) or viewer
        keep("users", viewer.id, await user_public_of(session, own))
    if ids := _ints(keys["blackouts"]):
        for blackout in (
            await session.execute(select(Blackout).where(col(Blackout.id).in_(ids)))
        ).scalars():
            keep("blackouts", blackout.id, blackout_public(blackout))
    if series_ids := _uuids(keys["series"]):
        for item in (
            await session.execute(select(Series).where(col(Series.id).in_(series_ids)))
        ).scalars():
            keep("series", item.id, series.series_view(item, seen_by))
    if entry_ids := _uuids(keys["waitlist_entries"]):
        for entry in (
            await session.execute(
                select(WaitlistEntry).where(
                    col(WaitlistEntry.id).in_(entry_ids), col(WaitlistEntry.user_id) == viewer.id
                )
            )
        ).scalars():
            keep("waitlist_entries", entry.id, waitlist_public(entry))
    return rows


def _ints(keys: list[str]) -> list[int]:
    return [int(key) for key in keys]


def _uuids(keys: list[str]) -> list[uuid.UUID]:
    return [uuid.UUID(key) for key in keys]


# --- Compaction ------------------------------------------------------------------------------


async def compact(db: Database, retention: timedelta) -> int:
    """Drop tombstones older than ``retention``; clients behind them will get a reset.

    Entries still waiting for a number are numbered first, so that an old tombstone is never
    dropped unnumbered: its number is what tells a client it is behind the compaction.
    """
    await number_changes(db)
    async with db.write() as session:
        cutoff = utcnow() - retention
        old = (
            (col(Change.op) == ChangeOp.DELETE.value)
            & (col(Change.changed_at) < cutoff)
            & col(Change.seq).is_not(None)
        )
        newest = await session.scalar(select(func.max(col(Change.seq))).where(old))
        if newest is None:
            return 0
        # A DELETE answers a CursorResult; AsyncSession.execute is typed as returning Result.
        result = cast("CursorResult[Any]", await session.execute(delete(Change).where(old)))
        removed = result.rowcount
        counter = await session.get(ChangeCounter, 1, with_for_update=True)
        assert counter is not None
        counter.purged_through = max(counter.purged_through, newest)
        return int(removed or 0)
