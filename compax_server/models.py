"""SQLModel table models: the server's database schema (migrations in ``migrations/``), each
table's columns declared here in the migrated table's order."""

from __future__ import annotations

import uuid
from datetime import date, datetime, time
from typing import Any

from pydantic import EmailStr
from sqlalchemy import (
    JSON,
    BigInteger,
    CheckConstraint,
    Index,
    Integer,
    String,
    UniqueConstraint,
    text,
)
from sqlmodel import Field, SQLModel

from compax_server.sqltypes import PydanticJSON, UTCDateTime
from sync.schemas import Holiday, OpeningWeek
from sync.vocabulary import Frequency, Weekday

#: A generated id of a table expected to grow without end (SQLite numbers rows by INTEGER).
_ROW_NUMBER = BigInteger().with_variant(Integer(), "sqlite")

# ``role``, ``kind`` and ``purpose`` are enums in the shared schemas; the tables store them as
# VARCHAR and read them back as plain strings (an enum annotation over a String column would
# make pydantic warn when a loaded row is dumped).


#: The SQL condition of a booking that holds its room (``sync.vocabulary.HOLDING``): the one
#: the overlap constraint, its SQLite triggers and the partial index share.
HOLDING_SQL = "status IN ('confirmed', 'pending')"


class User(SQLModel, table=True):
    __tablename__ = "users"

    username: str = Field(min_length=2, max_length=64, unique=True, index=True)
    full_name: str = Field(default="", max_length=200)
    email: EmailStr | None = Field(default=None, max_length=254)
    department: str = Field(default="", max_length=100, index=True)
    year_group: str = Field(default="", max_length=32)
    active: bool = Field(default=True, index=True)
    id: int | None = Field(default=None, primary_key=True)
    role: str = Field(default="student", sa_type=String(32), index=True)
    password_hash: str = Field(max_length=255, description="Empty for directory users.")
    auth_source: str = Field(
        default="local",
        sa_type=String(16),
        sa_column_kwargs={"server_default": "local"},
        description="How the user signs in: `local`, `ldap` or `oidc` (``AuthSource``).",
    )
    external_id: str | None = Field(
        default=None,
        max_length=255,
        unique=True,
        index=True,
        description="The directory's own name for the user: `ldap:<dn>` or `oidc:<issuer>#<sub>`.",
    )
    token_generation: int = Field(default=0, description="Bumped to revoke every token issued.")
    calendar_generation: int = Field(default=0, description="Bumped to revoke calendar feed URLs.")
    version: int = 1
    created_at: datetime = Field(sa_type=UTCDateTime)
    updated_at: datetime = Field(sa_type=UTCDateTime)


class Building(SQLModel, table=True):
    __tablename__ = "buildings"

    code: str = Field(min_length=1, max_length=16, unique=True, index=True)
    name: str = Field(min_length=1, max_length=200)
    floors: int = Field(default=1, ge=1, le=200)
    id: int | None = Field(default=None, primary_key=True)
    kind: str = Field(default="academic", sa_type=String(32))
    version: int = 1
    created_at: datetime = Field(sa_type=UTCDateTime)
    updated_at: datetime = Field(sa_type=UTCDateTime)
    checkin_required: bool = Field(
        default=False, description="Bookings in its rooms must be checked in, unless a room says."
    )
    approval_roles: list[str] | None = Field(
        default=None,
        sa_type=JSON,
        description="Roles whose requests in its rooms wait for approval, unless a room says.",
    )


class Room(SQLModel, table=True):
    __tablename__ = "rooms"
    __table_args__ = (
        UniqueConstraint("building_id", "code", name="uq_rooms_building_code"),
        # Free-room answers come smallest first: in this order Postgres reads only as many
        # rooms as an answer needs; capacity filters use it too.
        Index("ix_rooms_capacity_id", "capacity", "id"),
    )

    opening_hours: OpeningWeek | None = Field(
        default=None,
        sa_type=PydanticJSON(OpeningWeek | None),
        description="Opening hours per weekday in campus local time; a weekday left out is closed.",
    )
    min_duration_minutes: int | None = Field(default=None, ge=1, le=24 * 60)
    max_duration_minutes: int | None = Field(default=None, ge=1, le=14 * 24 * 60)
    max_days_ahead: int | None = Field(default=None, ge=0, le=3 * 366)
    min_notice_minutes: int | None = Field(default=None, ge=0, le=90 * 24 * 60)
    code: str = Field(min_length=1, max_length=64)
    name: str = Field(default="", max_length=200)
    floor: int = Field(default=0, ge=-10, le=200)
    capacity: int | None = Field(
        default=None,
        ge=0,
        le=10_000,
        description="Seats; unknown rooms are left out of searches by size.",
    )
    bookable: bool = True
    id: int | None = Field(default=None, primary_key=True)
    building_id: int = Field(foreign_key="buildings.id", ondelete="RESTRICT")
    kind: str = Field(default="classroom", sa_type=String(32), index=True)
    version: int = 1
    created_at: datetime = Field(sa_type=UTCDateTime)
    updated_at: datetime = Field(sa_type=UTCDateTime)
    checkin_required: bool | None = Field(
        default=None, description="Whether bookings here must be checked in; unset: the building's."
    )
    checkin_opens_minutes: int | None = Field(
        default=None, ge=0, le=24 * 60, description="Minutes before the start check-in opens."
    )
    checkin_closes_minutes: int | None = Field(
        default=None, ge=1, le=24 * 60, description="Minutes after the start check-in closes."
    )
    approval_roles: list[str] | None = Field(
        default=None,
        sa_type=JSON,
        description="Roles whose requests here wait for approval; unset: the building's.",
    )
    rating_count: int = Field(
        default=0,
        sa_column_kwargs={"server_default": "0"},
        description="How many ratings the room has (``room_ratings``), kept with them.",
    )
    rating_total: int = Field(
        default=0,
        sa_column_kwargs={"server_default": "0"},
        description="The sum of its ratings' stars: the average is total / count.",
    )
    open_issues: int = Field(
        default=0,
        sa_column_kwargs={"server_default": "0"},
        description="How many of its problem reports are unresolved, kept with them.",
    )


class RoomFeature(SQLModel, table=True):
    """One feature of one room, normalised so that feature filters use an index."""

    __tablename__ = "room_features"
    __table_args__ = (Index("ix_room_features_feature_room", "feature", "room_id"),)

    room_id: int = Field(foreign_key="rooms.id", primary_key=True, ondelete="CASCADE")
    feature: str = Field(primary_key=True, max_length=40)


class Term(SQLModel, table=True):
    __tablename__ = "terms"

    name: str = Field(min_length=1, max_length=64, unique=True, index=True)
    first_day: date
    last_day: date
    holidays: list[Holiday] = Field(
        default_factory=list, sa_type=PydanticJSON(list[Holiday]), max_length=100
    )
    id: int | None = Field(default=None, primary_key=True)
    version: int = 1
    created_at: datetime = Field(sa_type=UTCDateTime)
    updated_at: datetime = Field(sa_type=UTCDateTime)


class Series(SQLModel, table=True):
    """A recurring booking; its occurrences are ``Booking`` rows with its ``id``."""

    __tablename__ = "series"
    __table_args__ = (
        Index(
            "uq_series_timetable_slot",
            "term_id",
            "course_code",
            "weekday_key",
            "start_time",
            unique=True,
        ),
    )

    frequency: Frequency = Field(default=Frequency.WEEKLY, sa_type=String(8))
    interval: int = Field(default=1, ge=1, le=52)
    weekdays: list[Weekday] = Field(default_factory=list, sa_type=PydanticJSON(list[Weekday]))
    first_day: date
    last_day: date
    start_time: time
    end_time: time
    exceptions: list[date] = Field(
        default_factory=list, sa_type=PydanticJSON(list[date]), description="Dates to leave out."
    )
    id: uuid.UUID = Field(default_factory=uuid.uuid4, primary_key=True)
    room_id: int = Field(foreign_key="rooms.id", ondelete="RESTRICT", index=True)
    owner_id: int = Field(foreign_key="users.id", ondelete="RESTRICT", index=True)
    title: str = Field(max_length=200)
    purpose: str = Field(sa_type=String(16))
    attendees: int = 0
    private: bool = False
    notes: str = Field(default="", max_length=2000)
    term_id: int | None = Field(default=None, foreign_key="terms.id", ondelete="SET NULL")
    course_code: str | None = Field(default=None, max_length=32)
    course_name: str | None = Field(default=None, max_length=200)
    department: str | None = Field(default=None, max_length=100)
    year_group: str | None = Field(default=None, max_length=32)
    weekday_key: str | None = Field(
        default=None, max_length=3, description="The timetable row's weekday (timetable series)."
    )
    status: str = Field(default="confirmed", sa_type=String(16))
    version: int = 1
    created_at: datetime = Field(sa_type=UTCDateTime)
    updated_at: datetime = Field(sa_type=UTCDateTime)


class Booking(SQLModel, table=True):
    """One room held for ``[start, end)``; confirmed bookings of a room never overlap."""

    __tablename__ = "bookings"
    __table_args__ = (
        CheckConstraint('"end" > start', name="ck_bookings_end_after_start"),
        Index("ix_bookings_room_end", "room_id", "end"),
        Index(
            "ix_bookings_holding_room_end",
            "room_id",
            "end",
            postgresql_where=text(HOLDING_SQL),
            sqlite_where=text(HOLDING_SQL),
        ),
        Index(
            "ix_bookings_pending_start",
            "start",
            postgresql_where=text("status = 'pending'"),
            sqlite_where=text("status = 'pending'"),
        ),
        Index("ix_bookings_owner_start", "owner_id", "start"),
        Index("ix_bookings_start", "start"),
    )

    room_id: int = Field(foreign_key="rooms.id", ondelete="RESTRICT")
    start: datetime = Field(
        sa_type=UTCDateTime, description="UTC instant; the booking includes it."
    )
    end: datetime = Field(
        sa_type=UTCDateTime, description="UTC instant; the booking ends before it."
    )
    title: str = Field(min_length=1, max_length=200)
    attendees: int = Field(default=0, ge=0, le=10_000)
    private: bool = Field(
        default=False, description="Hide the title from people other than the owner."
    )
    notes: str = Field(default="", max_length=2000)
    id: uuid.UUID = Field(default_factory=uuid.uuid4, primary_key=True)
    purpose: str = Field(default="meeting", sa_type=String(16))
    owner_id: int = Field(foreign_key="users.id", ondelete="RESTRICT")
    status: str = Field(default="confirmed", sa_type=String(16))
    series_id: uuid.UUID | None = Field(
        default=None, foreign_key="series.id", ondelete="SET NULL", index=True
    )
    version: int = 1
    created_at: datetime = Field(sa_type=UTCDateTime)
    updated_at: datetime = Field(sa_type=UTCDateTime)
    checked_in_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    checked_in_by: int | None = Field(default=None, foreign_key="users.id", ondelete="SET NULL")
    decided_by: int | None = Field(default=None, foreign_key="users.id", ondelete="SET NULL")
    decided_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    decision_reason: str = Field(default="", max_length=500)


class Blackout(SQLModel, table=True):
    """A room or a whole building closed for a time (maintenance, exams)."""

    __tablename__ = "blackouts"
    __table_args__ = (
        CheckConstraint('"end" > start', name="ck_blackouts_end_after_start"),
        CheckConstraint(
            "(room_id IS NULL) <> (building_id IS NULL)", name="ck_blackouts_one_target"
        ),
        Index("ix_blackouts_room_end", "room_id", "end"),
        Index("ix_blackouts_building_end", "building_id", "end"),
    )

    id: int | None = Field(default=None, primary_key=True)
    room_id: int | None = Field(default=None, foreign_key="rooms.id", ondelete="CASCADE")
    building_id: int | None = Field(default=None, foreign_key="buildings.id", ondelete="CASCADE")
    start: datetime = Field(sa_type=UTCDateTime)
    end: datetime = Field(sa_type=UTCDateTime)
    reason: str = Field(max_length=500)
    created_by: int = Field(foreign_key="users.id", ondelete="RESTRICT")
    version: int = 1
    created_at: datetime = Field(sa_type=UTCDateTime)
    updated_at: datetime = Field(sa_type=UTCDateTime)


class IdempotencyKey(SQLModel, table=True):
    """The stored answer to a request sent with ``Idempotency-Key``, replayed on a retry."""

    __tablename__ = "idempotency_keys"

    user_id: int = Field(foreign_key="users.id", primary_key=True, ondelete="CASCADE")
    key: str = Field(primary_key=True, max_length=200)
    request_hash: str = Field(max_length=64)
    status: int
    body: dict[str, Any] = Field(sa_type=JSON)
    created_at: datetime = Field(sa_type=UTCDateTime, index=True)


class RuleOverride(SQLModel, table=True):
    """Who set aside which booking rules, when and why."""

    __tablename__ = "rule_overrides"

    id: int | None = Field(default=None, primary_key=True)
    booking_id: uuid.UUID | None = Field(default=None, index=True)
    series_id: uuid.UUID | None = Field(default=None, index=True)
    user_id: int = Field(foreign_key="users.id", ondelete="RESTRICT")
    rules: list[str] = Field(sa_type=JSON)
    reason: str = Field(max_length=500)
    created_at: datetime = Field(sa_type=UTCDateTime)


class Change(SQLModel, table=True):
    """The latest change of one replicated row, and the number it is pulled by.

    Each row has at most one entry (a newer change replaces it), so the log is compacted by
    construction; deletions stay as tombstones until the retention period ends. ``seq`` is
    ``NULL`` until the entry is numbered: on Postgres writers leave it empty and a numbering
    pass fills it after they commit (``compax_server/changelog.py``); SQLite writers number
    their own entries.
    """

    __tablename__ = "changes"
    __table_args__ = (
        Index("uq_changes_seq", "seq", unique=True),
        Index(
            "ix_changes_unnumbered",
            "changed_at",
            postgresql_where=text("seq IS NULL"),
            sqlite_where=text("seq IS NULL"),
        ),
    )

    table_name: str = Field(max_length=32, primary_key=True)
    row_key: str = Field(max_length=64, primary_key=True)
    seq: int | None = Field(default=None, sa_type=BigInteger)
    op: str = Field(max_length=8, description="put or delete")
    changed_at: datetime = Field(sa_type=UTCDateTime, index=True)


class ChangeCounter(SQLModel, table=True):
    """One row: the last sequence number handed out, and the newest one compaction removed.

    Numbers are handed out only while this row's ``value`` is updated in the same transaction,
    by one numbering transaction at a time, so they follow commit order across every server
    process (docs/sync.md).
    """

    __tablename__ = "change_counter"

    id: int = Field(default=1, primary_key=True)
    value: int = Field(default=0, sa_type=BigInteger)
    purged_through: int = Field(default=0, sa_type=BigInteger)


class SyncClient(SQLModel, table=True):
    """A client replica registered to one user, with the last mutation it had applied."""

    __tablename__ = "sync_clients"

    client_id: uuid.UUID = Field(primary_key=True)
    user_id: int = Field(foreign_key="users.id", ondelete="CASCADE", index=True)
    last_mutation_id: int = 0
    created_at: datetime = Field(sa_type=UTCDateTime)
    last_seen_at: datetime = Field(sa_type=UTCDateTime)


class SyncMutation(SQLModel, table=True):
    """The stored outcome of one pushed mutation, returned again when it is replayed."""

    __tablename__ = "sync_mutations"

    client_id: uuid.UUID = Field(
        foreign_key="sync_clients.client_id", primary_key=True, ondelete="CASCADE"
    )
    mid: int = Field(primary_key=True)
    op: str = Field(max_length=32)
    #: SHA-256 of the mutation's op and arguments, to tell a replay from another change under
    #: the same ``mid``; outcomes recorded before fingerprints existed have none.
    fingerprint: str | None = Field(default=None, max_length=64)
    status: str = Field(max_length=16)
    result: dict[str, Any] = Field(sa_type=JSON)
    created_at: datetime = Field(sa_type=UTCDateTime)


class Job(SQLModel, table=True):
    """Work to carry out later or elsewhere, written in the transaction that causes it.

    ``key`` names the work, so the same work asked for twice is one job; a worker claims a due
    job by setting ``state`` to ``running`` and ``run_at`` to when its claim lapses, so a job
    whose worker died is claimed again then.
    """

    __tablename__ = "jobs"
    __table_args__ = (
        UniqueConstraint("key", name="uq_jobs_key"),
        Index("ix_jobs_state_run_at", "state", "run_at"),
    )

    id: int | None = Field(default=None, primary_key=True, sa_type=_ROW_NUMBER)
    kind: str = Field(max_length=40)
    key: str = Field(max_length=200)
    payload: dict[str, Any] = Field(default_factory=dict, sa_type=JSON)
    state: str = Field(default="queued", max_length=12)
    run_at: datetime = Field(sa_type=UTCDateTime)
    attempts: int = 0
    last_error: str = Field(default="", max_length=2000)
    created_at: datetime = Field(sa_type=UTCDateTime)
    finished_at: datetime | None = Field(default=None, sa_type=UTCDateTime)


class Notification(SQLModel, table=True):
    """One thing a user is told, recorded when it happens and mailed later by a job."""

    __tablename__ = "notifications"
    __table_args__ = (
        UniqueConstraint("key", name="uq_notifications_key"),
        Index("ix_notifications_user_id_id", "user_id", "id"),
        Index("ix_notifications_state_id", "state", "id"),
    )

    id: int | None = Field(default=None, primary_key=True, sa_type=_ROW_NUMBER)
    user_id: int = Field(foreign_key="users.id", ondelete="CASCADE")
    kind: str = Field(max_length=32)
    key: str = Field(max_length=200, description="The event and user, so each is told once.")
    booking_id: uuid.UUID | None = None
    data: dict[str, Any] = Field(default_factory=dict, sa_type=JSON)
    state: str = Field(default="pending", max_length=12)
    created_at: datetime = Field(sa_type=UTCDateTime)
    sent_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    read_at: datetime | None = Field(default=None, sa_type=UTCDateTime)


class NotificationMute(SQLModel, table=True):
    """A kind of notification one user chose not to be mailed."""

    __tablename__ = "notification_mutes"

    user_id: int = Field(foreign_key="users.id", primary_key=True, ondelete="CASCADE")
    kind: str = Field(primary_key=True, max_length=32)


class WaitlistEntry(SQLModel, table=True):
    """A wish for a taken slot, in one room or any room matching capacity and features."""

    __tablename__ = "waitlist_entries"
    __table_args__ = (
        CheckConstraint('"end" > start', name="ck_waitlist_end_after_start"),
        Index("ix_waitlist_state_start", "state", "start"),
        Index("ix_waitlist_user_created", "user_id", "created_at"),
    )

    id: uuid.UUID = Field(default_factory=uuid.uuid4, primary_key=True)
    user_id: int = Field(foreign_key="users.id", ondelete="CASCADE")
    room_id: int | None = Field(default=None, foreign_key="rooms.id", ondelete="CASCADE")
    building_id: int | None = Field(default=None, foreign_key="buildings.id", ondelete="CASCADE")
    min_capacity: int = Field(default=0, ge=0, le=10_000)
    features: list[str] = Field(default_factory=list, sa_type=JSON)
    start: datetime = Field(sa_type=UTCDateTime)
    end: datetime = Field(sa_type=UTCDateTime)
    title: str = Field(max_length=200)
    purpose: str = Field(default="meeting", sa_type=String(16))
    attendees: int = Field(default=0, ge=0, le=10_000)
    auto_book: bool = False
    state: str = Field(default="waiting", max_length=12)
    booking_id: uuid.UUID | None = Field(
        default=None, foreign_key="bookings.id", ondelete="SET NULL"
    )
    offer_expires_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    version: int = 1
    created_at: datetime = Field(sa_type=UTCDateTime)
    updated_at: datetime = Field(sa_type=UTCDateTime)


class BuildingManager(SQLModel, table=True):
    """A user who manages one building: its rooms, closures, approvals, reports and audit."""

    __tablename__ = "building_managers"

    user_id: int = Field(foreign_key="users.id", primary_key=True, ondelete="CASCADE")
    building_id: int = Field(
        foreign_key="buildings.id", primary_key=True, ondelete="CASCADE", index=True
    )
    created_at: datetime = Field(sa_type=UTCDateTime)
    source: str = Field(
        default="admin",
        sa_type=String(16),
        sa_column_kwargs={"server_default": "admin"},
        description="`admin` (granted by hand) or `directory` (follows the user's groups).",
    )


class Quota(SQLModel, table=True):
    """Fair-use limits for a role, or for one user as an exception to their role's; a limit
    left empty is no limit."""

    __tablename__ = "quotas"
    __table_args__ = (
        CheckConstraint("(role IS NULL) <> (user_id IS NULL)", name="ck_quotas_one_subject"),
    )

    id: int | None = Field(default=None, primary_key=True)
    role: str | None = Field(default=None, sa_type=String(32), unique=True)
    user_id: int | None = Field(
        default=None, foreign_key="users.id", ondelete="CASCADE", unique=True
    )
    max_hours_day: float | None = Field(default=None, ge=0)
    max_bookings_day: int | None = Field(default=None, ge=0)
    max_hours_week: float | None = Field(default=None, ge=0)
    max_bookings_week: int | None = Field(default=None, ge=0)
    max_hours_term: float | None = Field(default=None, ge=0)
    max_bookings_term: int | None = Field(default=None, ge=0)
    max_future_bookings: int | None = Field(default=None, ge=0)
    version: int = 1
    created_at: datetime = Field(sa_type=UTCDateTime)
    updated_at: datetime = Field(sa_type=UTCDateTime)


class AuditEntry(SQLModel, table=True):
    """One change of a record: who made it, when, from which client, and its fields before and
    after; written in the transaction that makes the change, never changed afterwards."""

    __tablename__ = "audit_entries"
    __table_args__ = (
        Index("ix_audit_record", "record_type", "record_id", "id"),
        Index("ix_audit_actor", "actor_id", "id"),
        Index("ix_audit_building", "building_id", "id"),
        Index("ix_audit_at", "at"),
    )

    id: int | None = Field(default=None, primary_key=True, sa_type=_ROW_NUMBER)
    at: datetime = Field(sa_type=UTCDateTime)
    actor_id: int | None = Field(default=None, foreign_key="users.id", ondelete="SET NULL")
    client: str = Field(default="api", max_length=16)
    action: str = Field(max_length=24)
    record_type: str = Field(max_length=24)
    record_id: str = Field(max_length=64)
    building_id: int | None = None
    before: dict[str, Any] | None = Field(default=None, sa_type=JSON)
    after: dict[str, Any] | None = Field(default=None, sa_type=JSON)
    reason: str = Field(default="", max_length=500)


class RoomRating(SQLModel, table=True):
    """One person's 1 to 5 stars for a room, with an optional comment; or, imported from
    another system, a rating under that system's key (``external_id``) and nobody's name."""

    __tablename__ = "room_ratings"
    __table_args__ = (
        CheckConstraint("stars BETWEEN 1 AND 5", name="ck_room_ratings_stars"),
        CheckConstraint(
            "(user_id IS NULL) <> (external_id IS NULL)", name="ck_room_ratings_one_author"
        ),
        UniqueConstraint("room_id", "user_id", name="uq_room_ratings_room_user"),
        UniqueConstraint("room_id", "external_id", name="uq_room_ratings_room_external"),
        Index("ix_room_ratings_user_id", "user_id", "id"),
        Index("ix_room_ratings_room_updated", "room_id", "updated_at"),
    )

    id: int | None = Field(default=None, primary_key=True)
    room_id: int = Field(foreign_key="rooms.id", ondelete="CASCADE")
    user_id: int | None = Field(default=None, foreign_key="users.id", ondelete="CASCADE")
    external_id: str | None = Field(default=None, max_length=255)
    stars: int = Field(ge=1, le=5)
    comment: str = Field(default="", max_length=1000)
    version: int = 1
    created_at: datetime = Field(sa_type=UTCDateTime)
    updated_at: datetime = Field(sa_type=UTCDateTime)


class RoomIssue(SQLModel, table=True):
    """A problem someone reported with a room (and perhaps the booking it spoiled), and where
    seeing to it stands: open, in progress (with whom) or resolved."""

    __tablename__ = "room_issues"
    __table_args__ = (
        Index("ix_room_issues_room_status", "room_id", "status"),
        Index("ix_room_issues_status_created", "status", "created_at"),
        Index("ix_room_issues_reporter_created", "reporter_id", "created_at"),
        Index("ix_room_issues_assignee_status", "assignee_id", "status"),
        Index("ix_room_issues_created", "created_at"),
        Index("ix_room_issues_resolved", "resolved_at"),
    )

    id: uuid.UUID = Field(default_factory=uuid.uuid4, primary_key=True)
    room_id: int = Field(foreign_key="rooms.id", ondelete="CASCADE")
    reporter_id: int | None = Field(default=None, foreign_key="users.id", ondelete="SET NULL")
    booking_id: uuid.UUID | None = Field(
        default=None, foreign_key="bookings.id", ondelete="SET NULL"
    )
    category: str = Field(default="other", sa_type=String(16))
    summary: str = Field(min_length=1, max_length=200)
    details: str = Field(default="", max_length=2000)
    status: str = Field(default="open", sa_type=String(16))
    assignee_id: int | None = Field(default=None, foreign_key="users.id", ondelete="SET NULL")
    resolution: str = Field(default="", max_length=2000)
    external_id: str | None = Field(default=None, max_length=255, unique=True)
    version: int = 1
    created_at: datetime = Field(sa_type=UTCDateTime)
    updated_at: datetime = Field(sa_type=UTCDateTime)
    resolved_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
