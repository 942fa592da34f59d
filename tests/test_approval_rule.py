"""The approval rule of the judge, as a pure function: which roles' requests wait where, and
that whoever may approve in a building never waits for themselves."""

from __future__ import annotations

import pytest
from pydantic import TypeAdapter, ValidationError

from sync.approval_rule import ApprovalRoles, request_status, roles_in_force, waits_for_approval
from sync.permissions import Access, Role
from sync.vocabulary import BookingStatus

PB, ENG = 1, 2


@pytest.mark.parametrize(
    ("room", "building", "expected"),
    [
        (None, None, frozenset()),
        (None, ["staff"], frozenset({"staff"})),
        (["class_rep"], ["staff"], frozenset({"class_rep"})),
        ([], ["staff"], frozenset()),
    ],
)
def test_a_room_follows_its_building_unless_it_says(
    room: list[str] | None, building: list[str] | None, expected: frozenset[str]
) -> None:
    assert roles_in_force(room, building) == expected


def test_listed_roles_wait_unless_they_may_approve_there() -> None:
    roles = frozenset({"staff", "class_rep", "admin"})
    assert waits_for_approval(roles, Access.of(Role.STAFF), PB)
    assert not waits_for_approval(roles, Access.of(Role.EXAMS_OFFICER), PB)
    assert not waits_for_approval(roles, Access.of(Role.ADMIN), PB), "admins approve anywhere"
    manager = Access.of(Role.STAFF, {PB})
    assert not waits_for_approval(roles, manager, PB), "a manager approves in their building"
    assert waits_for_approval(roles, manager, ENG), "but waits like anyone elsewhere"
    assert request_status(roles, Access.of(Role.CLASS_REP), PB) is BookingStatus.PENDING
    assert request_status(frozenset(), Access.of(Role.CLASS_REP), PB) is BookingStatus.CONFIRMED


@pytest.mark.parametrize("roles", [["dean"], ["staff", "staff"], ["*"]])
def test_lists_hold_known_roles_once(roles: list[str]) -> None:
    with pytest.raises(ValidationError):
        TypeAdapter(ApprovalRoles).validate_python(roles)
