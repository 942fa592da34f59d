"""The booking policy: what the rules need besides the request."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from zoneinfo import ZoneInfo

from compax_server.services.common import utcnow
from compax_server.settings import Settings
from sync.rules import CampusRules


@dataclass(frozen=True)
class BookingPolicy:
    """What the rules need besides the request: the campus zone, defaults and the clock."""

    zone: ZoneInfo
    campus: CampusRules
    clock: Callable[[], datetime] = field(default=utcnow)

    @classmethod
    def from_settings(cls, settings: Settings) -> BookingPolicy:
        return cls(zone=settings.zone, campus=settings.campus_rules())
