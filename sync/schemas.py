"""Record schemas shared by server and clients, as SQLModel data-model families.

``XBase`` holds the fields a client may set, ``XCreate``/``XUpdate`` are request bodies
(unknown fields refused), ``XPublic`` is what the API returns. Table models live in
``compax_server.models`` and inherit only from the ``Base`` classes here.
"""

from __future__ import annotations

import re
from datetime import date, datetime, time
from enum import StrEnum
from typing import Annotated, Any, Generic, TypeVar

from pydantic import BaseModel, ConfigDict, EmailStr, StringConstraints, ValidationInfo, field_validator
from sqlmodel import Field, SQLModel

from sync.errors import FieldError
from sync.permissions import Role
from sync.sqltypes import PydanticJSON

_FORBID_EXTRA = ConfigDict(extra="forbid")
ItemT = TypeVar("ItemT")
_CODE = re.compile(r"^[A-Z0-9][A-Z0-9_-]*$")
_USERNAME = re.compile(r"^[a-z0-9][a-z0-9._-]*$")
_FEATURE = re.compile(r"^[a-z0-9][a-z0-9_-]*$")


def _normalised_code(value: str) -> str:
    code = value.strip().upper()
    if not _CODE.match(code):
        raise ValueError("use letters, digits, '-' and '_' only, starting with a letter or digit")
    return code


class Weekday(StrEnum):
    MON = "mon"
    TUE = "tue"
    WED = "wed"
    THU = "thu"
    FRI = "fri"
    SAT = "sat"
    SUN = "sun"


class BuildingKind(StrEnum):
    ACADEMIC = "academic"
    ADMINISTRATIVE = "administrative"
    LIBRARY = "library"
    LABORATORY = "laboratory"
    RESIDENTIAL = "residential"
    SPORTS = "sports"
    OTHER = "other"


class RoomKind(StrEnum):
    CLASSROOM = "classroom"
    LAB = "lab"
    LECTURE_HALL = "lecture_hall"
    SEMINAR_ROOM = "seminar_room"
    OFFICE = "office"
    AUDITORIUM = "auditorium"
    STUDIO = "studio"
    MEETING_ROOM = "meeting_room"


class OpeningHours(SQLModel):
    """One weekday's opening hours in campus local time, ``[open, close)``."""

    model_config = _FORBID_EXTRA
    open: time
    close: time

    @field_validator("close")
    @classmethod
    def _open_before_close(cls, value: time, info: ValidationInfo) -> time:
        opens = info.data.get("open")
        if opens is not None and value <= opens:
            raise ValueError("must be after open")
        return value


class Holiday(SQLModel):
    """A date range with no teaching, both days included."""

    model_config = _FORBID_EXTRA
    name: Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=100)]
    first_day: date
    last_day: date

    @field_validator("last_day")
    @classmethod
    def _ordered(cls, value: date, info: ValidationInfo) -> date:
        first = info.data.get("first_day")
        if first is not None and value < first:
            raise ValueError("must not be before first_day")
        return value


OpeningWeek = dict[Weekday, OpeningHours]


# --- Buildings -------------------------------------------------------------------------------


class BuildingBase(SQLModel):
    code: str = Field(min_length=1, max_length=16, unique=True, index=True)
    name: str = Field(min_length=1, max_length=200)
    kind: BuildingKind = Field(default=BuildingKind.ACADEMIC, max_length=32)
    floors: int = Field(default=1, ge=1, le=200)

    @field_validator("code")
    @classmethod
    def _code(cls, value: str) -> str:
        return _normalised_code(value)


class BuildingCreate(BuildingBase):
    model_config = _FORBID_EXTRA


class BuildingUpdate(SQLModel):
    model_config = _FORBID_EXTRA
    name: str | None = Field(default=None, min_length=1, max_length=200)
    kind: BuildingKind | None = None
    floors: int | None = Field(default=None, ge=1, le=200)


class BuildingPublic(BuildingBase):
    id: int
    version: int


# --- Rooms -----------------------------------------------------------------------------------


class RoomRules(SQLModel):
    """Per-room booking rules; ``None`` means the campus default applies."""

    opening_hours: OpeningWeek | None = Field(
        default=None,
        sa_type=PydanticJSON(OpeningWeek | None),
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


class RoomBase(RoomRules):
    code: str = Field(min_length=1, max_length=32)
    name: str = Field(default="", max_length=200)
    kind: RoomKind = Field(default=RoomKind.CLASSROOM, max_length=32, index=True)
    floor: int = Field(default=0, ge=-10, le=200)
    capacity: int = Field(ge=0, le=10_000, index=True)
    bookable: bool = True

    @field_validator("code")
    @classmethod
    def _code(cls, value: str) -> str:
        return _normalised_code(value)


def _normalised_features(values: list[str]) -> list[str]:
    features = sorted({v.strip().lower().replace(" ", "_") for v in values if v.strip()})
    for feature in features:
        if len(feature) > 40 or not _FEATURE.match(feature):
            raise ValueError(f"feature {feature!r}: use lowercase letters, digits, '-' and '_'")
    return features


class RoomCreate(RoomBase):
    model_config = _FORBID_EXTRA
    building: str = Field(min_length=1, max_length=16, description="Code of the room's building.")
    features: list[str] = Field(default_factory=list, max_length=50)

    @field_validator("building")
    @classmethod
    def _building(cls, value: str) -> str:
        return _normalised_code(value)

    @field_validator("features")
    @classmethod
    def _features(cls, value: list[str]) -> list[str]:
        return _normalised_features(value)


class RoomUpdate(SQLModel):
    model_config = _FORBID_EXTRA
    name: str | None = Field(default=None, max_length=200)
    kind: RoomKind | None = None
    floor: int | None = Field(default=None, ge=-10, le=200)
    capacity: int | None = Field(default=None, ge=0, le=10_000)
    bookable: bool | None = None
    features: list[str] | None = Field(default=None, max_length=50)
    opening_hours: OpeningWeek | None = None
    min_duration_minutes: int | None = Field(default=None, ge=1, le=24 * 60)
    max_duration_minutes: int | None = Field(default=None, ge=1, le=14 * 24 * 60)
    max_days_ahead: int | None = Field(default=None, ge=0, le=3 * 366)
    min_notice_minutes: int | None = Field(default=None, ge=0, le=90 * 24 * 60)

    @field_validator("features")
    @classmethod
    def _features(cls, value: list[str] | None) -> list[str] | None:
        return None if value is None else _normalised_features(value)


class RoomPublic(RoomBase):
    id: int
    building_id: int
    building: str
    features: list[str]
    version: int


# --- Terms -----------------------------------------------------------------------------------


class TermBase(SQLModel):
    name: str = Field(min_length=1, max_length=64, unique=True, index=True)
    first_day: date
    last_day: date
    holidays: list[Holiday] = Field(
        default_factory=list, sa_type=PydanticJSON(list[Holiday]), max_length=100
    )

    @field_validator("name")
    @classmethod
    def _name(cls, value: str) -> str:
        return value.strip()


def term_day_errors(first_day: date, last_day: date, holidays: list[Holiday]) -> list[FieldError]:
    """Why a term's days are wrong: ending before it starts, or a holiday outside it."""
    errors = []
    if last_day < first_day:
        errors.append(FieldError("last_day", "must not be before first_day"))
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


class TermUpdate(SQLModel):
    model_config = _FORBID_EXTRA
    name: str | None = Field(default=None, min_length=1, max_length=64)
    first_day: date | None = None
    last_day: date | None = None
    holidays: list[Holiday] | None = Field(default=None, max_length=100)


class TermPublic(TermBase):
    id: int
    version: int


# --- Users -----------------------------------------------------------------------------------

Password = Annotated[str, StringConstraints(min_length=8, max_length=256)]


class UserBase(SQLModel):
    username: str = Field(min_length=2, max_length=64, unique=True, index=True)
    full_name: str = Field(default="", max_length=200)
    email: EmailStr | None = Field(default=None, max_length=254)
    department: str = Field(default="", max_length=100, index=True)
    year_group: str = Field(default="", max_length=32)
    role: Role = Field(default=Role.STUDENT, max_length=32, index=True)
    active: bool = Field(default=True, index=True)

    @field_validator("username")
    @classmethod
    def _username(cls, value: str) -> str:
        username = value.strip().lower()
        if not _USERNAME.match(username):
            raise ValueError("use lowercase letters, digits, '.', '-' and '_' only")
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


class UserUpdate(SQLModel):
    """What an administrator may change on a user (passwords go through reset-password)."""

    model_config = _FORBID_EXTRA
    full_name: str | None = Field(default=None, max_length=200)
    email: EmailStr | None = Field(default=None, max_length=254)
    department: str | None = Field(default=None, max_length=100)
    year_group: str | None = Field(default=None, max_length=32)
    role: Role | None = None
    active: bool | None = None


class MeUpdate(SQLModel):
    """What every user may change on their own record."""

    model_config = _FORBID_EXTRA
    full_name: str | None = Field(default=None, max_length=200)
    email: EmailStr | None = Field(default=None, max_length=254)


class PasswordChange(SQLModel):
    model_config = _FORBID_EXTRA
    current_password: str = Field(max_length=256)
    new_password: Password


class PasswordReset(SQLModel):
    model_config = _FORBID_EXTRA
    new_password: Password


class UserPublic(UserBase):
    id: int
    version: int
    created_at: datetime


# --- Auth ------------------------------------------------------------------------------------


class TokenRequest(SQLModel):
    model_config = _FORBID_EXTRA
    username: str = Field(min_length=1, max_length=64)
    password: str = Field(min_length=1, max_length=256)


class TokenResponse(SQLModel):
    access_token: str
    token_type: str = "bearer"
    expires_at: datetime
    expires_in: int
    user: UserPublic


# --- Lists and bulk --------------------------------------------------------------------------


class Page(BaseModel, Generic[ItemT]):
    """One page of a list; pass ``next_cursor`` back as ``cursor`` for the next."""

    items: list[ItemT]
    next_cursor: str | None = None


class BulkRequest(SQLModel):
    """Up to 1,000 rows, each validated and upserted on its natural key on its own."""

    model_config = _FORBID_EXTRA
    rows: list[dict[str, Any]] = Field(min_length=1, max_length=1000)


class BulkStatus(StrEnum):
    CREATED = "created"
    UPDATED = "updated"
    UNCHANGED = "unchanged"
    REJECTED = "rejected"


class BulkRowResult(SQLModel):
    index: int
    status: BulkStatus
    id: int | None = None
    errors: list[dict[str, str]] = Field(default_factory=list)


class BulkResponse(SQLModel):
    results: list[BulkRowResult]
    summary: dict[BulkStatus, int]


# --- List queries ----------------------------------------------------------------------------


def _comma_list(value: object) -> object:
    if isinstance(value, str):
        return [part.strip() for part in value.split(",") if part.strip()]
    return value


class ListQuery(SQLModel):
    """Paging common to every list: at most ``limit`` items after ``cursor``."""

    model_config = _FORBID_EXTRA
    limit: int = Field(default=50, ge=1, le=500)
    cursor: str | None = Field(default=None, max_length=200)


class BuildingQuery(ListQuery):
    kind: BuildingKind | None = None


class RoomQuery(ListQuery):
    building: str | None = Field(default=None, description="Building code.", max_length=16)
    kind: RoomKind | None = None
    capacity: int | None = Field(default=None, ge=0, description="At least this many seats.")
    features: list[str] = Field(
        default_factory=list, description="Comma separated; a room must have all of them."
    )
    bookable: bool | None = None

    _features = field_validator("features", mode="before")(_comma_list)

    @field_validator("building")
    @classmethod
    def _building(cls, value: str | None) -> str | None:
        return None if value is None else _normalised_code(value)

    @field_validator("features", mode="after")
    @classmethod
    def _normalise(cls, value: list[str]) -> list[str]:
        return _normalised_features(value)


class UserQuery(ListQuery):
    role: Role | None = None
    department: str | None = Field(default=None, max_length=100)
    active: bool | None = None
