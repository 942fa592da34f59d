"""The approval rule of the booking judge: whether a request waits for an approver.

A room lists the roles whose requests there wait for approval (``approval_roles``); a room
that lists nothing follows its building, and a building that lists nothing needs no approval.
"Everyone" is every booking role listed. Whoever may approve requests in the building (an
admin, or the building's manager) never waits for themselves.
"""

from __future__ import annotations

from collections.abc import Collection, Sequence
from typing import Annotated

from pydantic import AfterValidator, Field

from sync.permissions import Access, Permission, Role
from sync.vocabulary import BookingStatus


def _unique(roles: list[Role]) -> list[Role]:
    if len(set(roles)) != len(roles):
        raise ValueError("lists a role twice")
    return roles


#: The roles whose requests wait for approval: known role names, each once.
ApprovalRoles = Annotated[
    list[Role],
    Field(max_length=len(Role), description="Roles whose requests wait for approval."),
    AfterValidator(_unique),
]


def roles_in_force(
    room_roles: Sequence[str] | None, building_roles: Sequence[str] | None
) -> frozenset[str]:
    """The roles whose requests in a room wait for approval: the room's list, or when it has
    none its building's, or none at all."""
    chosen = room_roles if room_roles is not None else building_roles
    return frozenset(str(role) for role in chosen or ())


def may_wait(roles: Collection[str], role: str) -> bool:
    """Whether a request by ``role`` can wait for approval at all under ``roles``: the cheap
    test that says whether the requester's managed buildings need reading."""
    return str(role) in roles


def waits_for_approval(roles: Collection[str], access: Access, building_id: int) -> bool:
    """Whether a request by ``access`` in a room of ``building_id`` whose roles in force are
    ``roles`` waits for approval: its role is listed and it may not approve there itself."""
    return may_wait(roles, str(access.role)) and not access.allows_in(
        Permission.APPROVE_BOOKINGS, building_id
    )


def request_status(roles: Collection[str], access: Access, building_id: int) -> BookingStatus:
    """The status a new booking (or a moved one) starts with: ``pending`` when it waits for
    approval, else ``confirmed``."""
    if waits_for_approval(roles, access, building_id):
        return BookingStatus.PENDING
    return BookingStatus.CONFIRMED


def status_after_move(
    current: BookingStatus | str,
    roles: Collection[str],
    owner: Access,
    mover: Access,
    building_id: int,
) -> BookingStatus:
    """The status of a booking moved (to another room or time) into a room of ``building_id``
    whose roles in force are ``roles``: a pending request stays pending (only a decision
    approves it); a confirmed one waits again when its owner would wait there, unless the
    mover may approve there."""
    if BookingStatus(current) is BookingStatus.PENDING:
        return BookingStatus.PENDING
    if waits_for_approval(roles, owner, building_id) and not mover.allows_in(
        Permission.APPROVE_BOOKINGS, building_id
    ):
        return BookingStatus.PENDING
    return BookingStatus.CONFIRMED
