"""Signed links that act on one booking without a sign-in: the one-click cancel in a reminder,
the check-in behind the QR code on a room's door.

A link names its action and booking, signed with the server's keys and a salt per action, so a
cancel link cannot be turned into a check-in and no link can be forged. Opening a link shows
what it will do and a button; only the button (a POST) acts, so a mail scanner that follows
links changes nothing. Each action's work is registered with ``link_action`` by the module
that owns it.
"""

from __future__ import annotations

import hashlib
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from enum import StrEnum
from typing import TYPE_CHECKING

from itsdangerous import BadSignature, URLSafeTimedSerializer

if TYPE_CHECKING:
    from compax_server.jobs.queue import JobContext


class LinkAction(StrEnum):
    CANCEL = "cancel"
    CHECK_IN = "checkin"


#: Links last at most this long; each action also refuses a link once its booking is past.
LINK_LIFETIME_SECONDS = 400 * 24 * 3600


class BookingLinks:
    """Signs and reads the links of every action; the newest key signs, all keys verify."""

    def __init__(self, secret_keys: list[str], public_url: str) -> None:
        if not secret_keys:
            raise ValueError("at least one secret key is required to sign links")
        self._signers = {
            action: URLSafeTimedSerializer(
                list(reversed(secret_keys)),
                salt=f"compax.link.{action.value}",
                signer_kwargs={"digest_method": hashlib.sha256},
            )
            for action in LinkAction
        }
        self.public_url = public_url.rstrip("/")

    def token(self, action: LinkAction, booking_id: uuid.UUID) -> str:
        return str(self._signers[action].dumps(booking_id.hex))

    def url(self, action: LinkAction, booking_id: uuid.UUID) -> str:
        """The whole address to put in a mail or a QR code."""
        return f"{self.public_url}/links/{action.value}/{self.token(action, booking_id)}"

    def booking_of(self, action: LinkAction, token: str) -> uuid.UUID | None:
        """The booking a genuine link of ``action`` names, or ``None`` for any other text."""
        try:
            value = self._signers[action].loads(token, max_age=LINK_LIFETIME_SECONDS)
            return uuid.UUID(hex=value) if isinstance(value, str) else None
        except (BadSignature, ValueError):
            return None


@dataclass(frozen=True)
class LinkWork:
    """What a link of one action does: the button's words, and the work, which returns what
    happened in one sentence or raises a ``CompaxError`` saying why it cannot be done."""

    button: str
    perform: Callable[[JobContext, uuid.UUID], Awaitable[str]]


LINK_ACTIONS: dict[LinkAction, LinkWork] = {}


def link_action(
    action: LinkAction, button: str
) -> Callable[
    [Callable[[JobContext, uuid.UUID], Awaitable[str]]],
    Callable[[JobContext, uuid.UUID], Awaitable[str]],
]:
    """Register the work links of ``action`` do."""

    def register(
        perform: Callable[[JobContext, uuid.UUID], Awaitable[str]],
    ) -> Callable[[JobContext, uuid.UUID], Awaitable[str]]:
        LINK_ACTIONS[action] = LinkWork(button, perform)
        return perform

    return register
