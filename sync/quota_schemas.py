"""Quota records as the API, the CLI, the TUI and the offline replica exchange them."""

from __future__ import annotations

import math
from datetime import datetime
from typing import Literal

from pydantic import Field, field_validator

from sync.permissions import Role
from sync.schemas import _FORBID_EXTRA, Schema

#: The limits a quota may set, in the order they are shown and checked.
LIMIT_NAMES = (
    "max_hours_day",
    "max_bookings_day",
    "max_hours_week",
    "max_bookings_week",
    "max_hours_term",
    "max_bookings_term",
    "max_future_bookings",
)
#: The largest number of hours or bookings a limit may name (ten years of hours).
LIMIT_CEILING = 100_000


class QuotaLimits(Schema):
    """Fair-use limits: hours and bookings a day, an ISO week and a term, and bookings not yet
    ended; an empty limit is no limit. Hours are any non-negative number (``1.5`` is 90 min)."""

    model_config = _FORBID_EXTRA

    max_hours_day: float | None = Field(default=None, ge=0, le=LIMIT_CEILING)
    max_bookings_day: int | None = Field(default=None, ge=0, le=LIMIT_CEILING)
    max_hours_week: float | None = Field(default=None, ge=0, le=LIMIT_CEILING)
    max_bookings_week: int | None = Field(default=None, ge=0, le=LIMIT_CEILING)
    max_hours_term: float | None = Field(default=None, ge=0, le=LIMIT_CEILING)
    max_bookings_term: int | None = Field(default=None, ge=0, le=LIMIT_CEILING)
    max_future_bookings: int | None = Field(default=None, ge=0, le=LIMIT_CEILING)

    @field_validator("max_hours_day", "max_hours_week", "max_hours_term")
    @classmethod
    def _finite(cls, value: float | None) -> float | None:
        if value is not None and not math.isfinite(value):
            raise ValueError("must be a finite number of hours")
        return value

    def limits_anything(self) -> bool:
        """Whether any limit is set."""
        return any(getattr(self, name) is not None for name in LIMIT_NAMES)


class QuotaPublic(QuotaLimits):
    """A quota as the API shows it: for a role (``role``) or one user (``user_id``,
    ``username``), whose row replaces their role's as a whole."""

    model_config = {"extra": "ignore"}

    id: int
    role: Role | None = None
    user_id: int | None = None
    username: str | None = None
    version: int
    updated_at: datetime


class QuotaUse(Schema):
    """One limit of a quota with what is used of it now: ``limit`` (e.g. ``hours-day``), the
    maximum, the use in its ``period`` (``Mon 7 Dec``, ``week of Mon 7 Dec``, a term's name,
    ``now``) and what is left."""

    limit: str
    maximum: float
    used: float
    left: float
    period: str


class MyQuota(Schema):
    """What the caller may still book: where their quota comes from (their own exception, their
    role's, or none), its limits, and each limit's use now."""

    source: Literal["user", "role", "none"]
    role: str
    limits: QuotaLimits
    use: list[QuotaUse] = Field(default_factory=list)
