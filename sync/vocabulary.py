"""The words of the booking domain (room kinds, weekdays, purposes, scopes, …) and how codes
and features are written, shared by the schemas and by commands that only read the replica,
so that those load no pydantic model."""

from __future__ import annotations

import re
from enum import StrEnum

_CODE = re.compile(r"^[A-Z0-9][A-Z0-9_-]*$")
_FEATURE = re.compile(r"^[a-z0-9][a-z0-9_-]*$")
#: Room and course codes as other systems write them: spaces and punctuation, never ``/``
#: (which separates a building's code from a room's in ``PB/101``).
_WRITTEN_CODE = re.compile(r"^[A-Z0-9][A-Z0-9 _.,&()'#+-]*$")


def counted(number: int, noun: str) -> str:
    """``number`` of ``noun`` as people say it: ``1 booking``, ``3 bookings``."""
    return f"{number} {noun}{'' if number == 1 else 's'}"


def normalised_code(value: str) -> str:
    """A building or room code as stored: trimmed and upper case; anything else refused."""
    code = value.strip().upper()
    if not _CODE.match(code):
        raise ValueError("use letters, digits, '-' and '_' only, starting with a letter or digit")
    return code


def normalised_features(values: list[str]) -> list[str]:
    """Features as stored: trimmed, lower case, spaces as ``_``, sorted and unique."""
    features = sorted({v.strip().lower().replace(" ", "_") for v in values if v.strip()})
    for feature in features:
        if len(feature) > 40 or not _FEATURE.match(feature):
            raise ValueError(f"feature {feature!r}: use lowercase letters, digits, '-' and '_'")
    return features


class Weekday(StrEnum):
    MON = "mon"
    TUE = "tue"
    WED = "wed"
    THU = "thu"
    FRI = "fri"
    SAT = "sat"
    SUN = "sun"


def normalised_room_code(value: str) -> str:
    """A room or course code as stored: trimmed, inner spaces collapsed to one, upper case;
    letters, digits, spaces and ``_ - . , & ( ) ' # +`` are kept, anything else refused."""
    code = " ".join(value.split()).upper()
    if not _WRITTEN_CODE.match(code):
        raise ValueError(
            "use letters, digits, spaces and - _ . , & ( ) ' # + only (no '/'), "
            "starting with a letter or digit"
        )
    return code


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


class BulkStatus(StrEnum):
    CREATED = "created"
    UPDATED = "updated"
    UNCHANGED = "unchanged"
    REJECTED = "rejected"


class Purpose(StrEnum):
    CLASS = "class"
    EXAM = "exam"
    MEETING = "meeting"
    EVENT = "event"


class BookingStatus(StrEnum):
    CONFIRMED = "confirmed"
    #: Asked for in a room that needs approval, and not yet decided: it holds its slot.
    PENDING = "pending"
    CANCELLED = "cancelled"
    RELEASED = "released"
    REJECTED = "rejected"
    #: A pending request nobody decided in time; its slot is free again.
    EXPIRED = "expired"


#: The statuses of a booking that holds its room: the database's no-overlap guarantee covers
#: exactly these, so approving a pending request can never double-book.
HOLDING = frozenset({BookingStatus.CONFIRMED, BookingStatus.PENDING})


def ical_status(status: str) -> str:
    """A booking's status as an iCalendar event's ``STATUS``: a pending request is
    ``TENTATIVE``, and a booking that holds no room (cancelled, rejected, …) ``CANCELLED``."""
    return {"confirmed": "CONFIRMED", "pending": "TENTATIVE"}.get(str(status), "CANCELLED")


class NoticeKind(StrEnum):
    """What a notification is about; each user chooses which kinds they are mailed."""

    BOOKING_CHANGED = "booking_changed"
    BOOKING_CANCELLED = "booking_cancelled"
    BLACKOUT = "blackout"
    REMINDER = "reminder"
    RELEASED = "released"
    SERIES_RELEASED = "series_released"
    WAITLIST_OFFER = "waitlist_offer"
    WAITLIST_BOOKED = "waitlist_booked"
    APPROVAL_REQUESTED = "approval_requested"
    APPROVED = "approved"
    REJECTED = "rejected"
    APPROVAL_EXPIRED = "approval_expired"
    ISSUE_REPORTED = "issue_reported"
    ISSUE_ASSIGNED = "issue_assigned"
    ISSUE_UPDATED = "issue_updated"


class IssueStatus(StrEnum):
    """Where a report of a problem with a room stands."""

    OPEN = "open"
    IN_PROGRESS = "in_progress"
    RESOLVED = "resolved"


#: The statuses of a report that still needs someone: the finder and the grid show these.
UNRESOLVED = frozenset({IssueStatus.OPEN, IssueStatus.IN_PROGRESS})


class IssueCategory(StrEnum):
    """What kind of problem a room has."""

    EQUIPMENT = "equipment"
    POWER = "power"
    CLEANLINESS = "cleanliness"
    FURNITURE = "furniture"
    CLIMATE = "climate"
    NETWORK = "network"
    SAFETY = "safety"
    OTHER = "other"


class WaitState(StrEnum):
    """Where a waitlist entry stands."""

    WAITING = "waiting"
    OFFERED = "offered"
    BOOKED = "booked"
    DECLINED = "declined"
    EXPIRED = "expired"
    CANCELLED = "cancelled"


class AuditAction(StrEnum):
    """What an audit entry records being done to its record."""

    CREATE = "create"
    UPDATE = "update"
    CANCEL = "cancel"
    DELETE = "delete"
    APPROVE = "approve"
    REJECT = "reject"
    EXPIRE = "expire"
    OVERRIDE = "override"
    IMPORT = "import"
    ROLE_CHANGE = "role_change"
    DEACTIVATE = "deactivate"
    PASSWORD_RESET = "password_reset"  # noqa: S105


class Scope(StrEnum):
    """Which occurrences of a series a change applies to."""

    THIS = "this"
    FOLLOWING = "following"
    ALL = "all"


class Frequency(StrEnum):
    DAILY = "daily"
    WEEKLY = "weekly"


class OnConflict(StrEnum):
    FAIL = "fail"
    SKIP = "skip"


class AuthSource(StrEnum):
    """Where a user's password or identity is checked."""

    LOCAL = "local"
    LDAP = "ldap"
    OIDC = "oidc"


class RoomSort(StrEnum):
    """An order a room list or free-room search may ask for instead of its own."""

    RATING = "rating"
