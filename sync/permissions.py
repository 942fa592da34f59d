"""Roles and the one permission table every endpoint and front end consults."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from enum import StrEnum


class Role(StrEnum):
    ADMIN = "admin"
    EXAMS_OFFICER = "exams_officer"
    CLASS_REP = "class_rep"
    FACILITIES = "facilities"
    STAFF = "staff"
    STUDENT = "student"


class Permission(StrEnum):
    READ_CAMPUS = "campus:read"
    MANAGE_CAMPUS = "campus:manage"
    MANAGE_USERS = "users:manage"
    READ_BOOKINGS = "bookings:read"
    BOOK = "bookings:create"
    BOOK_FOR_OTHERS = "bookings:create-for-others"
    MANAGE_ANY_BOOKING = "bookings:manage-any"
    OVERRIDE_RULES = "bookings:override-rules"
    MANAGE_BLACKOUTS = "blackouts:manage"
    IMPORT_TIMETABLE = "timetable:import"
    READ_REPORTS = "reports:read"
    APPROVE_BOOKINGS = "bookings:approve"
    READ_AUDIT = "audit:read"
    MANAGE_QUOTAS = "quotas:manage"
    RATE_ROOMS = "rooms:rate"
    REPORT_ISSUES = "issues:report"
    MANAGE_ISSUES = "issues:manage"


_EVERYONE = frozenset(Role)
_BOOKERS = frozenset({Role.ADMIN, Role.EXAMS_OFFICER, Role.CLASS_REP, Role.STAFF, Role.FACILITIES})
_OFFICERS = frozenset({Role.ADMIN, Role.EXAMS_OFFICER})

#: Which roles hold each permission; docs/permissions.md renders the same table for people.
PERMISSIONS: dict[Permission, frozenset[Role]] = {
    Permission.READ_CAMPUS: _EVERYONE,
    Permission.MANAGE_CAMPUS: frozenset({Role.ADMIN}),
    Permission.MANAGE_USERS: frozenset({Role.ADMIN}),
    Permission.READ_BOOKINGS: _EVERYONE,
    Permission.BOOK: _BOOKERS,
    Permission.BOOK_FOR_OTHERS: _OFFICERS,
    Permission.MANAGE_ANY_BOOKING: _OFFICERS,
    Permission.OVERRIDE_RULES: _OFFICERS,
    Permission.MANAGE_BLACKOUTS: _OFFICERS,
    Permission.IMPORT_TIMETABLE: frozenset({Role.ADMIN}),
    Permission.READ_REPORTS: _OFFICERS,
    Permission.APPROVE_BOOKINGS: frozenset({Role.ADMIN}),
    Permission.READ_AUDIT: frozenset({Role.ADMIN}),
    Permission.MANAGE_QUOTAS: frozenset({Role.ADMIN}),
    Permission.RATE_ROOMS: _EVERYONE,
    Permission.REPORT_ISSUES: _EVERYONE,
    Permission.MANAGE_ISSUES: frozenset({Role.ADMIN, Role.FACILITIES}),
}

#: What a building manager may do in the buildings they manage, whatever their campus role:
#: manage those buildings' rooms and closures, approve requests for them, see to the problems
#: reported in their rooms, and read their reports and audit trail.
MANAGER_PERMISSIONS: frozenset[Permission] = frozenset(
    {
        Permission.MANAGE_CAMPUS,
        Permission.MANAGE_BLACKOUTS,
        Permission.APPROVE_BOOKINGS,
        Permission.READ_REPORTS,
        Permission.READ_AUDIT,
        Permission.MANAGE_ISSUES,
    }
)


def allows(role: Role | str, permission: Permission) -> bool:
    """Whether ``role`` holds ``permission``; an unknown role holds nothing."""
    try:
        return Role(role) in PERMISSIONS[permission]
    except ValueError:
        return False


@dataclass(frozen=True)
class Access:
    """Who is acting, as permissions see them: a campus-wide role and the buildings they
    manage (possibly none)."""

    role: Role | str
    manages: frozenset[int] = field(default_factory=frozenset)

    @classmethod
    def of(cls, role: Role | str, manages: Iterable[int] = ()) -> Access:
        return cls(role, frozenset(manages))

    def allows(self, permission: Permission) -> bool:
        """Whether the campus-wide role holds ``permission`` everywhere."""
        return allows(self.role, permission)

    def allows_in(self, permission: Permission, building_id: int | None) -> bool:
        """Whether ``permission`` is held for the building ``building_id``: campus-wide by
        role, or there as its manager."""
        if self.allows(permission):
            return True
        return (
            building_id is not None
            and building_id in self.manages
            and permission in MANAGER_PERMISSIONS
        )

    def allows_somewhere(self, permission: Permission) -> bool:
        """Whether ``permission`` is held anywhere: campus-wide, or in some managed building."""
        return self.allows(permission) or (bool(self.manages) and permission in MANAGER_PERMISSIONS)

    def buildings_for(self, permission: Permission) -> frozenset[int] | None:
        """The buildings ``permission`` is held in: ``None`` for all of them (campus-wide)."""
        if self.allows(permission):
            return None
        return self.manages if permission in MANAGER_PERMISSIONS else frozenset()
