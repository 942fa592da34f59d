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


_EVERYONE = frozenset(Role)

#: Which roles hold each permission; docs/permissions.md renders the same table for people.
PERMISSIONS: dict[Permission, frozenset[Role]] = {
    Permission.READ_CAMPUS: _EVERYONE,
    Permission.MANAGE_CAMPUS: frozenset({Role.ADMIN}),
    Permission.MANAGE_USERS: frozenset({Role.ADMIN}),
}


def allows(role: Role | str, permission: Permission) -> bool:
    """Whether ``role`` holds ``permission``; an unknown role holds nothing."""
    try:
        return Role(role) in PERMISSIONS[permission]
    except ValueError:
        return False
