"""The booking policy: what the rules need besides the request."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from zoneinfo import ZoneInfo

from compax_server.services.common import utcnow
from compax_server.settings import Settings
from sync.checkin import CheckinRules
from sync.judge import Campus
from sync.rules import CampusRules


@dataclass(frozen=True)
class BookingPolicy:
    """What the rules need besides the request: the campus zone, defaults, check-in and the
    clock."""

    zone: ZoneInfo
    campus: CampusRules
    clock: Callable[[], datetime] = field(default=utcnow)
    checkin: CheckinRules = field(default_factory=CheckinRules)

    def campus_now(self) -> Campus:
        """What the judge needs besides the request, at this moment."""
        return Campus(self.campus, self.zone, self.clock())

    @classmethod
    def from_settings(cls, settings: Settings) -> BookingPolicy:
        return cls(
            zone=settings.zone, campus=settings.campus_rules(), checkin=settings.checkin_rules()
        )
