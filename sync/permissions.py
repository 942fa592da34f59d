"""Roles and the one permission table every endpoint and front end consults."""

from __future__ import annotations

from enum import StrEnum


class Role(StrEnum):
    ADMIN = "admin"
    EXAMS_OFFICER = "exams_officer"
    CLASS_REP = "class_rep"
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


_EVERYONE = frozenset(Role)
_BOOKERS = frozenset({Role.ADMIN, Role.EXAMS_OFFICER, Role.CLASS_REP, Role.STAFF})
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
}


def allows(role: Role | str, permission: Permission) -> bool:
    """Whether ``role`` holds ``permission``; an unknown role holds nothing."""
    try:
        return Role(role) in PERMISSIONS[permission]
    except ValueError:
        return False
