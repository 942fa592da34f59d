"""Record schemas shared by server and clients, as plain pydantic model families.

``XBase`` holds the fields a client may set, ``XCreate``/``XUpdate`` are request bodies
(unknown fields refused), ``XPublic`` is what the API returns. The server's table models
(``compax_server.models``) declare their columns themselves, so that importing these schemas
loads neither SQLAlchemy nor SQLModel.
"""

from __future__ import annotations

import re
import uuid
from datetime import UTC, date, datetime, time, timedelta
from typing import Annotated, Any, ClassVar, Generic, TypeVar

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    EmailStr,
    Field,
    StringConstraints,
    ValidationError,
    ValidationInfo,
    WithJsonSchema,
    field_validator,
    model_validator,
)
from pydantic_core import InitErrorDetails, PydanticCustomError

from sync.approval_rule import ApprovalRoles
from sync.errors import FieldError
from sync.permissions import Role
from sync.vocabulary import (
    AuthSource,
    BookingStatus,
    BuildingKind,
    BulkStatus,
    Frequency,
    OnConflict,
    Purpose,
    RoomKind,
    RoomSort,
    Scope,
    Weekday,
    normalised_code,
    normalised_features,
    normalised_room_code,
)

_FORBID_EXTRA = ConfigDict(extra="forbid")
ItemT = TypeVar("ItemT")
_USERNAME = re.compile(r"^[a-z0-9][a-z0-9._@-]*$")
#: The largest record id: ids are 32-bit integers on Postgres, so anything above names nothing.
MAX_ID = 2**31 - 1
#: The first and last years of an instant or a day: far from the ends of what Python, SQLite
#: and Postgres represent, so that no conversion or date arithmetic on them can overflow.
FIRST_YEAR, LAST_YEAR = 1970, 9000
#: The years allowed, as the document's pattern for the start of a date or date-time.
YEARS_PATTERN = r"^(19[7-9][0-9]|[2-8][0-9]{3}|9000)-"
_ID_DIGITS = len(str(MAX_ID))
#: The longest a series, and so a term (whose timetable's courses each become one), may last.
MAX_SPAN_DAYS = 2 * 366
SPAN_MESSAGE = "a series, or a term, may span at most two years"

#: A record id (or a version, or a mutation number): 1 to 2**31 - 1, the range of the integer
#: columns on both databases.
Id = Annotated[int, Field(ge=1, le=MAX_ID)]


def id_from_text(text: str) -> int | None:
    """The id that ``text`` (a path segment, a header, a cursor) names, or ``None``.

    Only ASCII digits count: ``"²".isdigit()`` holds though ``int("²")`` fails, and
    ``int("٣")`` is 3, so neither may pass for an id.
    """
    if not (text.isascii() and text.isdigit() and len(text) <= _ID_DIGITS):
        return None
    value = int(text)
    return value if 1 <= value <= MAX_ID else None


def _instant(value: datetime) -> datetime:
    """``value`` as a UTC instant, refused without an offset or outside the years allowed."""
    if value.tzinfo is None:
        raise ValueError("must include a UTC offset, e.g. 2026-11-25T10:00:00+00:00")
    if not FIRST_YEAR <= value.year <= LAST_YEAR:
        raise ValueError(f"must lie in the years {FIRST_YEAR} to {LAST_YEAR}")
    return value.astimezone(UTC)


def _day(value: date) -> date:
    if not FIRST_YEAR <= value.year <= LAST_YEAR:
        raise ValueError(f"must lie in the years {FIRST_YEAR} to {LAST_YEAR}")
    return value


#: An instant given with its UTC offset, kept in UTC; its year as written is ``FIRST_YEAR``
#: to ``LAST_YEAR`` (in UTC it may be a year either side, which every database holds).
Instant = Annotated[
    datetime,
    AfterValidator(_instant),
    WithJsonSchema({"type": "string", "format": "date-time", "pattern": YEARS_PATTERN}),
]
#: A calendar day in the years ``FIRST_YEAR`` to ``LAST_YEAR``.
Day = Annotated[
    date,
    AfterValidator(_day),
    WithJsonSchema({"type": "string", "format": "date", "pattern": YEARS_PATTERN}),
]
#: What the validators (and ``sync.vocabulary`` for codes and features) accept, as JSON Schema
#: patterns for the OpenAPI document: codes and usernames are trimmed and upper- or
#: lower-cased before their check, features also have their inner spaces turned into ``_``.
CODE_PATTERN = r"^\s*[A-Za-z0-9][A-Za-z0-9_-]*\s*$"
ROOM_CODE_PATTERN = r"^\s*[A-Za-z0-9][A-Za-z0-9 _.,&()'#+-]*\s*$"
USERNAME_PATTERN = r"^\s*[A-Za-z0-9][A-Za-z0-9._@-]+\s*$"
FEATURE_PATTERN = r"^\s*([A-Za-z0-9][A-Za-z0-9 _-]{0,39})?\s*$"
LOCAL_TIME_PATTERN = r"^([01][0-9]|2[0-3]):[0-5][0-9](:[0-5][0-9](\.[0-9]{1,6})?)?$"


class Schema(BaseModel):
    """Base of the shared schemas: fields are also read from attributes, so that a public
    schema validates straight from a table row, and each validator is built on first use, so
    that a client command pays only for the few schemas it uses.

    No string may hold a NUL character (Postgres cannot store one): refused here, where client
    and server both validate, a change holding one is refused when it is made, offline too,
    and a pushed change or an imported row holding one is refused on its own.
    """

    model_config = ConfigDict(from_attributes=True, defer_build=True)

    @field_validator("*", mode="after")
    @classmethod
    def _no_nul(cls, value: object) -> object:
        texts = value if isinstance(value, list) else (value,)
        if any(isinstance(text, str) and "\x00" in text for text in texts):
            raise ValueError("must not contain NUL characters")
        return value


def _strip(value: object) -> object:
    """Surrounding white space removed before length checks, so blank names are refused."""
    return value.strip() if isinstance(value, str) else value


def _refuse_null(value: object) -> object:
    """An explicit ``null`` refused, for a field that may be left out but never cleared."""
    if value is None:
        raise ValueError("must not be null")
    return value


def _without_null(schema: dict[str, Any]) -> None:
    """A field's JSON schema with ``null`` taken out of the types it allows (and so out of
    its default: left out, the field has none)."""
    schema.pop("default", None)
    allowed = [option for option in schema.pop("anyOf", []) if option.get("type") != "null"]
    if len(allowed) == 1:
        schema.update(allowed[0])
    elif allowed:
        schema["anyOf"] = allowed


def _kept_if_left_out(**constraints: Any) -> Any:
    """A field of an update that the record must always hold: left out, the record keeps its
    value; given, it must not be ``null`` (pair it with ``_refuse_null``)."""
    return Field(
        default=None, validate_default=False, json_schema_extra=_without_null, **constraints
    )


def _local(value: time) -> time:
    if value.tzinfo is not None:
        raise ValueError("a campus local time has no UTC offset: write 08:00, not 08:00Z")
    return value


#: A time of day in campus local time (``08:00`` or ``08:00:00``), never with an offset.
LocalTime = Annotated[
    time,
    AfterValidator(_local),
    WithJsonSchema({"type": "string", "pattern": LOCAL_TIME_PATTERN, "examples": ["08:00"]}),
]


def _code_field(**constraints: Any) -> Any:
    """A building or room code: the document's pattern is what ``normalised_code`` accepts."""
    return Field(json_schema_extra={"pattern": CODE_PATTERN}, **constraints)


#: The longest room label ``BUILDING/CODE``: a building code of 16, a room code of 64.
ROOM_LABEL_LENGTH = 16 + 1 + 64


def room_label(value: str) -> str:
    """A room named ``BUILDING/CODE`` as stored: each part normalised, the code's inner spaces
    collapsed (``pb/lecture  theatre 1`` is ``PB/LECTURE THEATRE 1``)."""
    building, slash, code = value.partition("/")
    if not slash:
        raise ValueError("write the building and room code as PB/101")
    return f"{normalised_code(building)}/{normalised_room_code(code)}"


def _room_code_field(**constraints: Any) -> Any:
    """A room or course code, which may hold spaces and punctuation (``normalised_room_code``)."""
    return Field(json_schema_extra={"pattern": ROOM_CODE_PATTERN}, **constraints)


#: A building code a list or report is filtered by, written as the buildings' own are.
BuildingFilter = Annotated[str, AfterValidator(normalised_code)]


def _building_filter() -> Any:
    return _code_field(default=None, max_length=16, description="Building code.")


def _feature_items(schema: dict[str, Any]) -> None:
    """Each feature of a list (or of a list that may be ``null``) carries its pattern."""
    for option in [schema, *schema.get("anyOf", [])]:
        if option.get("type") == "array":
            option["items"] = {"type": "string", "pattern": FEATURE_PATTERN}


class OpeningHours(Schema):
    """One weekday's opening hours in campus local time, ``[open, close)``."""

    model_config = _FORBID_EXTRA
    open: LocalTime
    close: LocalTime

    @field_validator("close")
    @classmethod
    def _open_before_close(cls, value: time, info: ValidationInfo) -> time:
        opens = info.data.get("open")
        if opens is not None and value <= opens:
            raise ValueError("must be after open")
        return value


class Holiday(Schema):
    """A date range with no teaching, both days included."""

    model_config = _FORBID_EXTRA
    name: Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=100)]
    first_day: Day
    last_day: Day

    @field_validator("last_day")
    @classmethod
    def _ordered(cls, value: date, info: ValidationInfo) -> date:
        first = info.data.get("first_day")
        if first is not None and value < first:
            raise ValueError("must not be before first_day")
        return value


OpeningWeek = dict[Weekday, OpeningHours]


# --- Buildings -------------------------------------------------------------------------------


class BuildingBase(Schema):
    code: str = _code_field(min_length=1, max_length=16)
    name: str = Field(min_length=1, max_length=200)
    kind: BuildingKind = Field(default=BuildingKind.ACADEMIC, max_length=32)
    floors: int = Field(default=1, ge=1, le=200)
    checkin_required: bool = Field(
        default=False,
        description="Bookings in its rooms must be checked in, unless a room says otherwise.",
    )
    approval_roles: ApprovalRoles | None = Field(
        default=None,
        description="Roles whose requests in its rooms wait for approval, unless a room says; "
        "unset: none.",
    )

    _name = field_validator("name", mode="before")(_strip)

    @field_validator("code")
    @classmethod
    def _code(cls, value: str) -> str:
        return normalised_code(value)


class BuildingCreate(BuildingBase):
    model_config = _FORBID_EXTRA


class BuildingUpdate(Schema):
    model_config = _FORBID_EXTRA
    name: str | None = Field(default=None, min_length=1, max_length=200)

    _name = field_validator("name", mode="before")(_strip)
    kind: BuildingKind | None = None
    floors: int | None = Field(default=None, ge=1, le=200)
    checkin_required: bool | None = None
    approval_roles: ApprovalRoles | None = None


class BuildingPublic(BuildingBase):
    id: int
    version: int


# --- Rooms -----------------------------------------------------------------------------------


class RoomRules(Schema):
    """Per-room booking rules; ``None`` means the campus default applies."""

    opening_hours: OpeningWeek | None = Field(
        default=None,
        description="Opening hours per weekday in campus local time; a weekday left out is closed.",
    )
    min_duration_minutes: int | None = Field(default=None, ge=1, le=24 * 60)
    max_duration_minutes: int | None = Field(default=None, ge=1, le=14 * 24 * 60)
    max_days_ahead: int | None = Field(default=None, ge=0, le=3 * 366)
    min_notice_minutes: int | None = Field(default=None, ge=0, le=90 * 24 * 60)

    @field_validator("max_duration_minutes")
    @classmethod
    def _durations_ordered(cls, value: int | None, info: ValidationInfo) -> int | None:
        low = info.data.get("min_duration_minutes")
        if value is not None and low is not None and low > value:
            raise ValueError("must not be less than min_duration_minutes")
        return value


class RoomCheckin(Schema):
    """Per-room check-in; ``None`` means the building's (whether) or the campus's (window)."""

    checkin_required: bool | None = Field(
        default=None, description="Whether bookings here must be checked in; unset: the building's."
    )
    checkin_opens_minutes: int | None = Field(
        default=None, ge=0, le=24 * 60, description="Minutes before the start check-in opens."
    )
    checkin_closes_minutes: int | None = Field(
        default=None, ge=1, le=24 * 60, description="Minutes after the start check-in closes."
    )
    approval_roles: ApprovalRoles | None = Field(
        default=None,
        description="Roles whose requests here wait for approval; unset: the building's.",
    )


class RoomBase(RoomRules, RoomCheckin):
    code: str = _room_code_field(min_length=1, max_length=64)
    name: str = Field(default="", max_length=200)
    kind: RoomKind = Field(default=RoomKind.CLASSROOM, max_length=32)
    floor: int = Field(default=0, ge=-10, le=200)
    capacity: int | None = Field(
        default=None,
        ge=0,
        le=10_000,
        description="Seats; unset when unknown (searches that ask a capacity leave it out).",
    )
    bookable: bool = True

    @field_validator("code")
    @classmethod
    def _code(cls, value: str) -> str:
        return normalised_room_code(value)


class RoomCreate(RoomBase):
    model_config = _FORBID_EXTRA
    building: str = _code_field(
        min_length=1, max_length=16, description="Code of the room's building."
    )
    features: list[str] = Field(
        default_factory=list, max_length=50, json_schema_extra=_feature_items
    )

    @field_validator("building")
    @classmethod
    def _building(cls, value: str) -> str:
        return normalised_code(value)

    @field_validator("features")
    @classmethod
    def _features(cls, value: list[str]) -> list[str]:
        return normalised_features(value)


class RoomUpdate(RoomCheckin):
    model_config = _FORBID_EXTRA
    name: str | None = Field(default=None, max_length=200)
    kind: RoomKind | None = None
    floor: int | None = Field(default=None, ge=-10, le=200)
    capacity: int | None = Field(default=None, ge=0, le=10_000)
    bookable: bool | None = None
    features: list[str] | None = Field(
        default=None, max_length=50, json_schema_extra=_feature_items
    )
    opening_hours: OpeningWeek | None = None
    min_duration_minutes: int | None = Field(default=None, ge=1, le=24 * 60)
    max_duration_minutes: int | None = Field(default=None, ge=1, le=14 * 24 * 60)
    max_days_ahead: int | None = Field(default=None, ge=0, le=3 * 366)
    min_notice_minutes: int | None = Field(default=None, ge=0, le=90 * 24 * 60)

    @field_validator("features")
    @classmethod
    def _features(cls, value: list[str] | None) -> list[str] | None:
        return None if value is None else normalised_features(value)


class RoomPublic(RoomBase):
    id: int
    building_id: int
    building: str
    features: list[str]
    version: int
    rating_average: float | None = Field(
        default=None, description="Average stars to one decimal; null while unrated."
    )
    rating_count: int = 0
    rating_total: int = Field(default=0, description="The sum of the ratings' stars.")
    open_issues: int = Field(default=0, description="Problem reports not yet resolved.")


# --- Terms -----------------------------------------------------------------------------------


class TermBase(Schema):
    name: str = Field(min_length=1, max_length=64)
    first_day: Day
    last_day: Day
    holidays: list[Holiday] = Field(default_factory=list, max_length=100)

    _name = field_validator("name", mode="before")(_strip)


def term_day_errors(first_day: date, last_day: date, holidays: list[Holiday]) -> list[FieldError]:
    """Why a term's days are wrong: ending before it starts, lasting longer than a series may
    (each course of its timetable becomes one), or a holiday outside it."""
    errors = []
    if last_day < first_day:
        errors.append(FieldError("last_day", "must not be before first_day"))
    elif (last_day - first_day).days > MAX_SPAN_DAYS:
        errors.append(FieldError("last_day", SPAN_MESSAGE))
    for i, holiday in enumerate(holidays):
        if holiday.first_day < first_day or holiday.last_day > last_day:
            errors.append(FieldError(f"holidays[{i}]", "must lie within the term"))
    return errors


class TermCreate(TermBase):
    model_config = _FORBID_EXTRA

    @field_validator("last_day")
    @classmethod
    def _last_day(cls, value: date, info: ValidationInfo) -> date:
        first = info.data.get("first_day")
        if first is not None and value < first:
            raise ValueError("must not be before first_day")
        if first is not None and (value - first).days > MAX_SPAN_DAYS:
            raise ValueError(SPAN_MESSAGE)
        return value

    @field_validator("holidays")
    @classmethod
    def _holidays_within(cls, value: list[Holiday], info: ValidationInfo) -> list[Holiday]:
        first, last = info.data.get("first_day"), info.data.get("last_day")
        if first is not None and last is not None:
            for holiday in value:
                if holiday.first_day < first or holiday.last_day > last:
                    raise ValueError(f"holiday {holiday.name!r} must lie within the term")
        return value


class TermUpdate(Schema):
    model_config = _FORBID_EXTRA
    name: str | None = Field(default=None, min_length=1, max_length=64)

    _name = field_validator("name", mode="before")(_strip)
    first_day: Day | None = None
    last_day: Day | None = None
    holidays: list[Holiday] | None = Field(default=None, max_length=100)


class TermPublic(TermBase):
    id: int
    version: int


# --- Users -----------------------------------------------------------------------------------

Password = Annotated[str, StringConstraints(min_length=8, max_length=256)]


class UserBase(Schema):
    username: str = Field(
        min_length=2, max_length=64, json_schema_extra={"pattern": USERNAME_PATTERN}
    )
    full_name: str = Field(default="", max_length=200)
    email: EmailStr | None = Field(default=None, max_length=254)
    department: str = Field(default="", max_length=100)
    year_group: str = Field(default="", max_length=32)
    role: Role = Field(default=Role.STUDENT, max_length=32)
    active: bool = True

    @field_validator("username")
    @classmethod
    def _username(cls, value: str) -> str:
        username = value.strip().lower()
        if len(username) < 2:
            raise ValueError("must be at least 2 characters long, white space aside")
        if not _USERNAME.match(username):
            raise ValueError("use lowercase letters, digits, '.', '-', '_' and '@' only")
        return username


class UserCreate(UserBase):
    model_config = _FORBID_EXTRA
    password: Password

    @field_validator("password")
    @classmethod
    def _password_not_username(cls, value: str, info: ValidationInfo) -> str:
        if value.lower() == info.data.get("username"):
            raise ValueError("must not equal the username")
        return value


class UserUpdate(Schema):
    """What an administrator may change on a user (passwords go through reset-password)."""

    model_config = _FORBID_EXTRA
    full_name: str | None = Field(default=None, max_length=200)
    email: EmailStr | None = Field(default=None, max_length=254)
    department: str | None = Field(default=None, max_length=100)
    year_group: str | None = Field(default=None, max_length=32)
    role: Role | None = None
    active: bool | None = None


class MeUpdate(Schema):
    """What every user may change on their own record."""

    model_config = _FORBID_EXTRA
    full_name: str | None = Field(default=None, max_length=200)
    email: EmailStr | None = Field(default=None, max_length=254)


class PasswordChange(Schema):
    model_config = _FORBID_EXTRA
    current_password: str = Field(max_length=256)
    new_password: Password


class PasswordReset(Schema):
    model_config = _FORBID_EXTRA
    new_password: Password


class UserPublic(UserBase):
    id: int
    version: int
    created_at: datetime
    #: The ids of the buildings the user manages (docs/permissions.md), in ascending order.
    manages: list[int] = Field(default_factory=list)
    #: Where they sign in: a Compax password, or the campus directory (docs/sign-in.md).
    auth_source: AuthSource = AuthSource.LOCAL


# --- Auth ------------------------------------------------------------------------------------


class TokenRequest(Schema):
    model_config = _FORBID_EXTRA
    username: str = Field(min_length=1, max_length=64)
    password: str = Field(min_length=1, max_length=256)


class TokenResponse(Schema):
    access_token: str
    token_type: str = "bearer"  # noqa: S105 (the OAuth 2 token type, not a secret)
    expires_at: datetime
    expires_in: int
    user: UserPublic


class CalendarFeed(Schema):
    """A private calendar feed: subscribe to ``url``; it stops working at ``expires_at``, or
    sooner when its owner makes a new one, signs out everywhere or changes password."""

    url: str
    path: str
    expires_at: datetime


# --- Lists and bulk --------------------------------------------------------------------------


class Page(BaseModel, Generic[ItemT]):
    """One page of a list; pass ``next_cursor`` back as ``cursor`` for the next."""

    items: list[ItemT]
    next_cursor: str | None = None


class BulkRequest(Schema):
    """Up to 1,000 rows, each validated and upserted on its natural key on its own."""

    model_config = _FORBID_EXTRA
    rows: list[dict[str, Any]] = Field(min_length=1, max_length=1000)


class BulkRowResult(Schema):
    index: int
    status: BulkStatus
    id: int | None = None
    errors: list[dict[str, str]] = Field(default_factory=list)


class BulkResponse(Schema):
    dry_run: bool = False
    results: list[BulkRowResult]
    summary: dict[BulkStatus, int]


class BulkQuery(Schema):
    """``dry_run=true`` checks and applies every row in a transaction that is then rolled back:
    the answer says what would happen, and nothing changes."""

    model_config = _FORBID_EXTRA
    dry_run: bool = False


# --- List queries ----------------------------------------------------------------------------


def _comma_list(value: object) -> object:
    """A list from a query parameter given once or repeated, each value comma separated."""
    if isinstance(value, str):
        value = [value]
    if isinstance(value, list) and all(isinstance(item, str) for item in value):
        return [part.strip() for item in value for part in item.split(",") if part.strip()]
    return value


def _min_rating_field() -> Any:
    return Field(
        default=None,
        ge=1,
        le=5,
        multiple_of=0.1,
        description="Only rooms rated at least this on average (unrated rooms are left out).",
    )


def _sort_field() -> Any:
    return Field(
        default=None, description="``rating``: best rated first, unrated last, ties as usual."
    )


class ListQuery(Schema):
    """Paging common to every list: at most ``limit`` items after ``cursor``."""

    model_config = _FORBID_EXTRA
    limit: int = Field(default=50, ge=1, le=500)
    cursor: str | None = Field(default=None, max_length=200)


class BuildingQuery(ListQuery):
    kind: BuildingKind | None = None


class RoomQuery(ListQuery):
    building: str | None = _code_field(default=None, description="Building code.", max_length=16)
    code: str | None = _room_code_field(default=None, description="Room code.", max_length=64)
    kind: RoomKind | None = None
    capacity: int | None = Field(
        default=None, ge=0, le=10_000, description="At least this many seats."
    )
    features: list[str] = Field(
        default_factory=list,
        description="A room must have all of them; repeat the parameter or separate by commas.",
        json_schema_extra=_feature_items,
    )
    bookable: bool | None = None
    min_rating: float | None = _min_rating_field()
    sort: RoomSort | None = _sort_field()

    _features = field_validator("features", mode="before")(_comma_list)

    @field_validator("building")
    @classmethod
    def _building(cls, value: str | None) -> str | None:
        return None if value is None else normalised_code(value)

    @field_validator("code")
    @classmethod
    def _code(cls, value: str | None) -> str | None:
        return None if value is None else normalised_room_code(value)

    @field_validator("features", mode="after")
    @classmethod
    def _normalise(cls, value: list[str]) -> list[str]:
        return normalised_features(value)


class UserQuery(ListQuery):
    username: str | None = Field(default=None, max_length=64, description="Exactly this user.")
    role: Role | None = None
    department: str | None = Field(default=None, max_length=100)
    active: bool | None = None


# --- Bookings --------------------------------------------------------------------------------


#: The queries with a ``from`` and ``to`` window.
_Window = TypeVar("_Window", "BookingQuery", "BlackoutQuery", "WindowQuery")


def _from_before_to(query: _Window) -> _Window:
    """Where a list or report query gives both ``from`` and ``to``, ``from`` must come before
    ``to``: one 422 naming ``from`` on every endpoint that takes them."""
    if query.start is not None and query.end is not None and query.end <= query.start:
        detail = InitErrorDetails(
            type=PydanticCustomError("value_error", "must be before to"),
            loc=("from",),
            input=query.start,
        )
        raise ValidationError.from_exception_data(type(query).__name__, [detail])
    return query


class BookingBase(Schema):
    room_id: Id
    start: Instant = Field(description="UTC instant; the booking includes it.")
    end: Instant = Field(description="UTC instant; the booking ends before it.")
    title: str = Field(min_length=1, max_length=200)
    purpose: Purpose = Purpose.MEETING

    _title = field_validator("title", mode="before")(_strip)
    attendees: int = Field(default=0, ge=0, le=10_000)
    private: bool = Field(
        default=False, description="Hide the title from people other than the owner."
    )
    notes: str = Field(default="", max_length=2000)


class Override(Schema):
    """Admins and exams officers may set aside the booking rules (never an overlap)."""

    model_config = ConfigDict(validate_default=True)
    override: bool = False
    override_reason: str | None = Field(default=None, max_length=500)

    @field_validator("override_reason")
    @classmethod
    def _reason(cls, value: str | None, info: ValidationInfo) -> str | None:
        value = value.strip() if value else None
        if info.data.get("override") and not value:
            raise ValueError("say why the rules are overridden")
        return value


def _end_after_start(value: datetime, info: ValidationInfo) -> datetime:
    start = info.data.get("start")
    if start is not None and value <= start:
        raise ValueError("must be after start")
    return value


class BookingCreate(BookingBase, Override):
    model_config = _FORBID_EXTRA
    id: uuid.UUID | None = Field(default=None, description="A client-made id (UUID), optional.")
    owner: str | None = Field(
        default=None, max_length=64, description="Username to book for (admins, exams officers)."
    )
    features: list[str] = Field(
        default_factory=list,
        max_length=20,
        description="Features alternatives must have.",
        json_schema_extra=_feature_items,
    )

    _end = field_validator("end")(_end_after_start)
    _features = field_validator("features")(classmethod(lambda cls, v: normalised_features(v)))


class BookingUpdate(Override):
    """The fields to change; a field left out keeps its value, and none can be cleared."""

    model_config = _FORBID_EXTRA
    room_id: Id | None = _kept_if_left_out()
    start: Instant | None = _kept_if_left_out()
    end: Instant | None = _kept_if_left_out()
    title: str | None = _kept_if_left_out(min_length=1, max_length=200)
    purpose: Purpose | None = _kept_if_left_out()
    attendees: int | None = _kept_if_left_out(ge=0, le=10_000)
    private: bool | None = _kept_if_left_out()
    notes: str | None = _kept_if_left_out(max_length=2000)

    _title = field_validator("title", mode="before")(_strip)
    _not_null = field_validator(
        "room_id",
        "start",
        "end",
        "title",
        "purpose",
        "attendees",
        "private",
        "notes",
        mode="after",
    )(_refuse_null)


class BookingPublic(Schema):
    """A booking as a given caller may see it: hidden fields are ``None``."""

    id: uuid.UUID
    room_id: int
    room: str = Field(description="Building and room code, e.g. PB/101.")
    start: datetime
    end: datetime
    title: str | None
    purpose: Purpose
    attendees: int
    private: bool
    notes: str | None
    owner_id: int | None
    owner: str | None
    status: BookingStatus
    series_id: uuid.UUID | None
    version: int
    created_at: datetime
    updated_at: datetime
    checked_in_at: datetime | None = Field(
        default=None, description="When it was checked in; unset: not (yet)."
    )
    decided_by: int | None = Field(
        default=None, description="Who approved or rejected it; unset: nobody (yet)."
    )
    decided_at: datetime | None = Field(default=None, description="When it was decided.")
    decision_reason: str | None = Field(
        default=None, description="The approver's reason, shown to its owner."
    )


class CheckinLink(Schema):
    """The signed link that checks a booking in without a sign-in, for a QR code on the door."""

    url: str
    booking_id: uuid.UUID


class BookingQuery(ListQuery):
    room_id: Id | None = None
    building: BuildingFilter | None = _building_filter()
    owner: str | None = Field(default=None, max_length=64, description="Username; `me` for yours.")
    status: BookingStatus | None = BookingStatus.CONFIRMED
    purpose: Purpose | None = None
    series_id: uuid.UUID | None = None
    start: Instant | None = Field(default=None, alias="from", description="Ends after this.")
    end: Instant | None = Field(default=None, alias="to", description="Starts before this.")

    model_config = ConfigDict(extra="forbid", populate_by_name=True)

    _window = model_validator(mode="after")(_from_before_to)


#: Namespace of the booking ids an import derives from an ``external_id`` or a room and start.
IMPORT_NAMESPACE = uuid.UUID("6f1d4c2e-8b0a-5e3f-9a57-3c2d1b0e4f68")


class BookingImportRow(Override):
    """One row of a bookings import, named by a key that a re-import of the row finds again.

    The key is ``id`` when given, else a UUID derived from ``external_id``, else one derived
    from the room and the start (no two confirmed bookings of a room start at the same
    instant). Fields left out keep their value on a booking that exists; ``title`` is needed
    only for a new one.
    """

    model_config = _FORBID_EXTRA
    id: uuid.UUID | None = Field(default=None, description="The booking's id (UUID).")
    external_id: str | None = Field(
        default=None, min_length=1, max_length=200, description="Another system's id for it."
    )
    room: str = Field(
        min_length=3, max_length=ROOM_LABEL_LENGTH, description="Building and room, e.g. PB/101."
    )
    start: Instant
    end: Instant
    title: str | None = Field(default=None, min_length=1, max_length=200)
    purpose: Purpose | None = None
    attendees: int | None = Field(default=None, ge=0, le=10_000)
    private: bool | None = None
    notes: str | None = Field(default=None, max_length=2000)
    owner: str | None = Field(default=None, max_length=64)
    status: BookingStatus | None = None
    series_id: uuid.UUID | None = Field(
        default=None,
        description="The series a new booking is an occurrence of (a campus move); the series "
        "must exist. Ignored for a booking that exists.",
    )

    _title = field_validator("title", mode="before")(_strip)
    _end = field_validator("end")(_end_after_start)

    @field_validator("external_id")
    @classmethod
    def _one_key(cls, value: str | None, info: ValidationInfo) -> str | None:
        if value is not None and info.data.get("id") is not None:
            raise ValueError("give id or external_id, not both")
        return value

    _room = field_validator("room")(classmethod(lambda cls, v: room_label(v)))

    def key(self) -> uuid.UUID:
        """The booking's id: given, or derived from ``external_id``, or from room and start."""
        if self.id is not None:
            return self.id
        if self.external_id is not None:
            return uuid.uuid5(IMPORT_NAMESPACE, f"external:{self.external_id}")
        return uuid.uuid5(IMPORT_NAMESPACE, f"slot:{self.room}@{self.start.isoformat()}")


class BookingBulkRowResult(Schema):
    index: int
    status: BulkStatus
    id: uuid.UUID | None = None
    errors: list[dict[str, str]] = Field(default_factory=list)


class BookingBulkResponse(Schema):
    dry_run: bool = False
    results: list[BookingBulkRowResult]
    summary: dict[BulkStatus, int]


class ScopeQuery(Schema):
    model_config = _FORBID_EXTRA
    scope: Scope = Scope.THIS


# --- Series ----------------------------------------------------------------------------------


class SeriesPattern(Schema):
    """When a series recurs, in campus local time: weekly on ``weekdays`` or daily, every
    ``interval`` weeks or days, from ``first_day`` to ``last_day`` (both included)."""

    frequency: Frequency = Frequency.WEEKLY
    interval: int = Field(default=1, ge=1, le=52)
    weekdays: list[Weekday] = Field(default_factory=list)
    first_day: Day
    last_day: Day
    start_time: LocalTime
    end_time: LocalTime
    exceptions: list[Day] = Field(default_factory=list, description="Dates to leave out.")

    @field_validator("last_day")
    @classmethod
    def _last_day(cls, value: date, info: ValidationInfo) -> date:
        first = info.data.get("first_day")
        if first is not None and value < first:
            raise ValueError("must not be before first_day")
        if first is not None and (value - first).days > MAX_SPAN_DAYS:
            raise ValueError(SPAN_MESSAGE)
        return value

    @field_validator("end_time")
    @classmethod
    def _end_time(cls, value: time, info: ValidationInfo) -> time:
        start = info.data.get("start_time")
        if start is not None and value <= start:
            raise ValueError("must be after start_time")
        return value

    @field_validator("weekdays")
    @classmethod
    def _weekdays(cls, value: list[Weekday], info: ValidationInfo) -> list[Weekday]:
        if info.data.get("frequency") == Frequency.WEEKLY and not value:
            raise ValueError("name at least one weekday for a weekly series")
        return sorted(set(value), key=list(Weekday).index)


class SeriesCreate(SeriesPattern, Override):
    model_config = _FORBID_EXTRA
    id: uuid.UUID | None = Field(default=None, description="A client-made id (UUID), optional.")
    room_id: Id
    title: str = Field(min_length=1, max_length=200)
    purpose: Purpose = Purpose.CLASS

    _title = field_validator("title", mode="before")(_strip)
    attendees: int = Field(default=0, ge=0, le=10_000)
    private: bool = False
    notes: str = Field(default="", max_length=2000)
    owner: str | None = Field(default=None, max_length=64)
    term_id: Id | None = Field(default=None, description="Skip this term's holidays.")
    on_conflict: OnConflict = OnConflict.FAIL


class SeriesPublic(SeriesPattern):
    id: uuid.UUID
    room_id: int
    title: str | None
    purpose: Purpose
    owner_id: int | None
    term_id: int | None
    course_code: str | None
    status: BookingStatus
    version: int


class SkippedDate(Schema):
    date: date
    problems: list[dict[str, Any]]


class SeriesRecord(SeriesPattern):
    """A series as a campus export writes it and ``POST /api/v1/series:bulk`` restores it: its
    pattern, what its occurrences share, and its timetable course, with the room, owner and term
    by name; its occurrences are bookings, which name it by ``series_id``."""

    model_config = _FORBID_EXTRA
    id: uuid.UUID
    room: str = Field(
        min_length=3, max_length=ROOM_LABEL_LENGTH, description="Building and room, e.g. PB/101."
    )
    owner: str = Field(min_length=1, max_length=64)
    title: str = Field(min_length=1, max_length=200)
    purpose: Purpose = Purpose.CLASS
    attendees: int = Field(default=0, ge=0, le=10_000)
    private: bool = False
    notes: str = Field(default="", max_length=2000)
    status: BookingStatus = BookingStatus.CONFIRMED
    term: str | None = Field(default=None, min_length=1, max_length=64)
    course_code: str | None = Field(default=None, max_length=32)
    course_name: str | None = Field(default=None, max_length=200)
    department: str | None = Field(default=None, max_length=100)
    year_group: str | None = Field(default=None, max_length=32)
    weekday_key: str | None = Field(default=None, max_length=3)

    _room = field_validator("room")(classmethod(lambda cls, v: room_label(v)))


class SeriesResult(Schema):
    series: SeriesPublic
    created: list[BookingPublic]
    skipped: list[SkippedDate]


# --- Blackouts -------------------------------------------------------------------------------


class BlackoutCreate(Schema):
    model_config = ConfigDict(extra="forbid", validate_default=True)
    room_id: Id | None = None
    building: str | None = _code_field(
        default=None, max_length=16, description="Close a whole building."
    )
    start: Instant
    end: Instant
    reason: str = Field(min_length=1, max_length=500)

    _reason = field_validator("reason", mode="before")(_strip)
    _end = field_validator("end")(_end_after_start)

    @field_validator("building")
    @classmethod
    def _one_target(cls, value: str | None, info: ValidationInfo) -> str | None:
        if (value is None) == (info.data.get("room_id") is None):
            raise ValueError("give either room_id or building, not both or neither")
        return None if value is None else normalised_code(value)


class BlackoutPublic(Schema):
    id: int
    room_id: int | None
    building_id: int | None
    start: datetime
    end: datetime
    reason: str
    created_by: int
    version: int


class BlackoutResult(Schema):
    blackout: BlackoutPublic
    covered_bookings: list[BookingPublic] = Field(
        description="Confirmed bookings inside the blackout; they are kept, not cancelled."
    )


class BlackoutQuery(ListQuery):
    room_id: Id | None = None
    building: BuildingFilter | None = _building_filter()
    start: Instant | None = Field(default=None, alias="from")
    end: Instant | None = Field(default=None, alias="to")

    model_config = ConfigDict(extra="forbid", populate_by_name=True)

    _window = model_validator(mode="after")(_from_before_to)


# --- Timetables ------------------------------------------------------------------------------


class TimetableRow(Schema):
    """One weekly course session of a term, in campus local time."""

    model_config = _FORBID_EXTRA
    course_code: str = _room_code_field(min_length=1, max_length=32)
    course_name: str = Field(default="", max_length=200)
    department: str = Field(default="", max_length=100)
    year_group: str = Field(default="", max_length=32)
    weekday: Weekday
    start: LocalTime
    end: LocalTime
    building: str = _code_field(min_length=1, max_length=16)
    room: str = _room_code_field(min_length=1, max_length=64)
    attendees: int = Field(default=0, ge=0, le=10_000)

    _end = field_validator("end")(classmethod(lambda cls, v, info: _time_after(v, info, "start")))
    _building = field_validator("building")(classmethod(lambda cls, v: normalised_code(v)))
    _written_codes = field_validator("room", "course_code")(
        classmethod(lambda cls, v: normalised_room_code(v))
    )


def _time_after(value: time, info: ValidationInfo, other: str) -> time:
    earlier = info.data.get(other)
    if earlier is not None and value <= earlier:
        raise ValueError(f"must be after {other}")
    return value


class TimetableRequest(Schema):
    model_config = _FORBID_EXTRA
    rows: list[dict[str, Any]] = Field(min_length=1, max_length=1000)


class TimetableQuery(Schema):
    model_config = _FORBID_EXTRA
    dry_run: bool = False


class TimetableRowResult(Schema):
    index: int
    status: str = Field(description="created, unchanged, would_create or rejected")
    series_id: uuid.UUID | None = None
    occurrences: int = 0
    errors: list[dict[str, str]] = Field(default_factory=list)
    clashes: list[dict[str, Any]] = Field(default_factory=list)


class TimetableResult(Schema):
    dry_run: bool
    results: list[TimetableRowResult]
    summary: dict[str, int]


class TimetableEntry(Schema):
    """One course session of a term's timetable, as it was imported (a ``TimetableRow``)."""

    course_code: str
    course_name: str
    department: str
    year_group: str
    weekday: Weekday
    start: LocalTime
    end: LocalTime
    building: str
    room: str
    attendees: int
    series_id: uuid.UUID


# --- Availability ----------------------------------------------------------------------------


class WindowQuery(Schema):
    """A time window ``[from, to)`` of an availability grid, at most ``MAX_DAYS`` long."""

    MAX_DAYS: ClassVar[int] = 31
    model_config = ConfigDict(extra="forbid", populate_by_name=True)
    start: Instant = Field(alias="from")
    end: Instant = Field(alias="to")

    _window = model_validator(mode="after")(_from_before_to)

    @field_validator("end")
    @classmethod
    def _span(cls, value: datetime, info: ValidationInfo) -> datetime:
        start = info.data.get("start")
        if start is not None and value - start > timedelta(days=cls.MAX_DAYS):
            raise ValueError(f"the window may span at most {cls.MAX_DAYS} days")
        return value


class UtilisationQuery(WindowQuery):
    """A utilisation report's window: up to a year, so that a whole term fits."""

    MAX_DAYS: ClassVar[int] = 366
    building: BuildingFilter | None = _building_filter()


class FreeRoomQuery(ListQuery):
    """Rooms free for all of ``[start, end)``, paged like every list."""

    start: Instant
    end: Instant
    capacity: int | None = Field(default=None, ge=0, le=10_000)
    features: list[str] = Field(
        default_factory=list,
        description="All required; repeat the parameter or separate by commas.",
        json_schema_extra=_feature_items,
    )
    building: BuildingFilter | None = _building_filter()
    kind: RoomKind | None = None
    min_rating: float | None = _min_rating_field()
    sort: RoomSort | None = _sort_field()

    _end = field_validator("end")(_end_after_start)
    _features_list = field_validator("features", mode="before")(_comma_list)
    _features = field_validator("features")(classmethod(lambda cls, v: normalised_features(v)))


class FreeRoom(Schema):
    """A room free for the whole window asked about, that the booking judge accepts then."""

    id: int
    room: str = Field(description="Building and room code, e.g. PB/101.")
    building: str
    code: str
    name: str
    kind: RoomKind
    capacity: int | None
    rating_average: float | None = None
    rating_count: int = 0
    open_issues: int = Field(default=0, description="Problem reports not yet resolved.")


class Interval(Schema):
    start: datetime
    end: datetime


class BusyInterval(Interval):
    kind: str = Field(description="booking or blackout")
    booking: dict[str, Any] | None = None
    blackout: dict[str, Any] | None = None


class RoomAvailability(Schema):
    room_id: int
    room: str
    capacity: int | None
    busy: list[BusyInterval]
    free: list[Interval] = Field(description="Free time within opening hours.")
    open: list[Interval] = Field(description="Opening hours within the window.")


class BuildingAvailability(Schema):
    building: str
    rooms: list[RoomAvailability]


class UtilisationRow(Schema):
    room_id: int | None = None
    room: str | None = None
    building: str
    booked_hours: float
    open_hours: float
    utilisation: float
    released_hours: float = Field(default=0.0, description="Hours released for no-show.")
    no_show_rate: float | None = Field(
        default=None,
        description="Released bookings per booking whose check-in window closed; unset: none.",
    )
    capacity: int | None = Field(
        default=None,
        description="A room's seats (unset: unknown); a building's, over its rooms of known "
        "capacity.",
    )
    capacity_unknown: int = Field(
        default=0, description="How many of the row's rooms have an unknown capacity (0 or 1)."
    )
    seat_occupancy: float | None = Field(
        default=None,
        description="Attendee hours per seat hour booked, over rooms of known capacity; unset: "
        "no such room was booked.",
    )


class UtilisationReport(Schema):
    rooms: list[UtilisationRow]
    buildings: list[UtilisationRow]


class CampusInfo(Schema):
    """What a client needs to check bookings offline exactly as the server will."""

    timezone: str
    opening_hours: OpeningWeek
    min_duration_minutes: int
    max_duration_minutes: int
    max_days_ahead: int
    min_notice_minutes: int
    checkin_required: bool = False
    checkin_opens_minutes: int = 15
    checkin_closes_minutes: int = 15
    server_version: str
