"""Domain errors, raised by the core and translated at each edge (problem+json, stderr line,
TUI notice).

Each error names its RFC 9457 problem ``type`` and HTTP ``status`` so that every front end
reports the same failure the same way.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from pydantic import ValidationError


@dataclass(frozen=True)
class FieldError:
    """One bad input field: its dotted path (``rows[3].capacity``) and why it was refused."""

    field: str
    message: str

    def as_dict(self) -> dict[str, str]:
        return {"field": self.field, "message": self.message}


def field_errors(exc: ValidationError, prefix: str = "") -> list[FieldError]:
    """Pydantic's errors as field paths (``rows[2].capacity``) with a sentence each."""
    errors = []
    for error in exc.errors(include_url=False, include_input=False):
        path = prefix
        for part in error["loc"]:
            if isinstance(part, int):
                path = f"{path}[{part}]"
            else:
                path = f"{path}.{part}" if path else str(part)
        message = error["msg"].removeprefix("Value error, ")
        if error["type"] == "extra_forbidden":
            message = "is not a field that can be set here"
        errors.append(FieldError(path or "body", message))
    return errors


class CompaxError(Exception):
    """Base of every expected failure; ``extra`` members are added to the problem object."""

    # Set per class; RuleBroken and RemoteProblem set them per instance.
    type: str = "error"
    status: int = 400
    title: str = "Request failed"

    def __init__(self, detail: str, **extra: Any) -> None:
        super().__init__(detail)
        self.detail = detail
        self.extra = extra


class BadRequest(CompaxError):
    type = "bad-request"
    status = 400
    title = "Bad request"


class ValidationFailed(CompaxError):
    """Input broke a schema or a rule; ``errors`` lists every bad field."""

    type = "validation"
    status = 422
    title = "Invalid input"

    def __init__(self, errors: list[FieldError], detail: str | None = None) -> None:
        fields = ", ".join(dict.fromkeys(e.field for e in errors))
        super().__init__(
            detail or f"Invalid value for {fields}", errors=[e.as_dict() for e in errors]
        )
        self.errors = errors

    @classmethod
    def single(cls, field: str, message: str) -> ValidationFailed:
        return cls([FieldError(field, message)], detail=f"{field}: {message}")


class NotAuthenticated(CompaxError):
    type = "unauthorized"
    status = 401
    title = "Authentication required"


class Forbidden(CompaxError):
    type = "forbidden"
    status = 403
    title = "Not allowed"


class NotFound(CompaxError):
    type = "not-found"
    status = 404
    title = "Not found"


class Duplicate(CompaxError):
    """A natural key (building code, room code in its building, username, term name) is taken."""

    type = "duplicate"
    status = 409
    title = "Already exists"


class InUse(CompaxError):
    """A record cannot be deleted because others still refer to it."""

    type = "in-use"
    status = 409
    title = "Still in use"


class StaleVersion(CompaxError):
    """The client edited an older version; ``current`` carries the server's row."""

    type = "stale-version"
    status = 412
    title = "The record has changed"


class PreconditionRequired(CompaxError):
    type = "precondition-required"
    status = 428
    title = "If-Match header required"


class RateLimited(CompaxError):
    type = "rate-limited"
    status = 429
    title = "Too many attempts"

    def __init__(self, detail: str, retry_after: int) -> None:
        super().__init__(detail)
        self.retry_after = retry_after


class Unavailable(CompaxError):
    """A transient failure (database unreachable or busy); the client should retry later."""

    type = "unavailable"
    status = 503
    title = "Service unavailable"

    def __init__(self, detail: str, retry_after: int = 2) -> None:
        super().__init__(detail)
        self.retry_after = retry_after


class RoomOverlap(CompaxError):
    """The room is taken; ``conflicting`` and ``alternatives`` help the user choose again."""

    type = "room-overlap"
    status = 409
    title = "The room is already booked"


class BlackoutConflict(CompaxError):
    type = "blackout"
    status = 409
    title = "The room is closed then"


class NotBookable(CompaxError):
    type = "not-bookable"
    status = 409
    title = "The room cannot be booked"


class RuleBroken(CompaxError):
    """A booking rule refused the request; ``type`` says which rule."""

    status = 422

    def __init__(self, type_: str, title: str, detail: str, **extra: Any) -> None:
        super().__init__(detail, **extra)
        self.type = type_
        self.title = title


class SeriesConflict(CompaxError):
    """Occurrences of a series clash; ``dates`` lists each clashing date with its reasons."""

    type = "series-conflict"
    status = 409
    title = "Some occurrences clash"


class IdempotencyKeyReused(CompaxError):
    type = "idempotency-key-reused"
    status = 422
    title = "Idempotency-Key already used for another request"


class MidReused(CompaxError):
    """A pushed mutation's ``mid`` was received before with another op or other arguments."""

    type = "mid-reused"
    status = 422
    title = "Mutation number already used for another change"


class InternalError(CompaxError):
    """The server failed unexpectedly on one change; the details are in its log, under the
    request id the ``detail`` gives."""

    type = "internal"
    status = 500
    title = "Internal server error"


class BookingCancelled(CompaxError):
    type = "cancelled"
    status = 409
    title = "The booking is cancelled"


class CheckinClosed(CompaxError):
    """A check-in outside its window; ``opens_at`` and ``closes_at`` name the window."""

    type = "checkin-closed"
    status = 409
    title = "Check-in is not open"


class SlotFree(CompaxError):
    """Nothing is in the way of the slot a user asked to wait for: they can book it now."""

    type = "slot-free"
    status = 409
    title = "The slot is free: book it instead"


class NotOffered(CompaxError):
    """A waitlist entry has no open offer to accept or decline, or is closed already."""

    type = "not-offered"
    status = 409
    title = "No open offer"


class NotPending(CompaxError):
    """An approval decision on a booking that waits for none; ``status`` is its status now."""

    type = "not-pending"
    status = 409
    title = "The booking is not waiting for approval"


class AuthorizationPending(CompaxError):
    """A device sign-in the person has not finished in their browser yet; ask again after
    ``interval`` seconds (RFC 8628's ``authorization_pending`` and ``slow_down``)."""

    type = "authorization-pending"
    status = 400
    title = "The sign-in is not finished yet"

    def __init__(self, detail: str, interval: int) -> None:
        super().__init__(detail, interval=interval)
        self.interval = interval


class SignInNotOffered(CompaxError):
    """A way of signing in this server does not offer: OpenID Connect is not configured, or
    its provider has no device flow (the CLI and TUI use a loopback redirect instead)."""

    type = "sign-in-not-offered"
    status = 409
    title = "That way of signing in is not offered here"


class Unreachable(CompaxError):
    """The server could not be reached; local work goes on and syncs later."""

    type = "unreachable"
    status = 0
    title = "Server unreachable"


class RemoteProblem(CompaxError):
    """A problem the server answered whose type this client has no class for."""

    def __init__(self, problem: dict[str, Any]) -> None:
        core = {"type", "title", "status", "detail", "instance"}
        super().__init__(
            str(problem.get("detail", "")), **{k: v for k, v in problem.items() if k not in core}
        )
        self.type = str(problem.get("type", "error"))
        self.title = str(problem.get("title", "Request failed"))
        self.status = int(problem.get("status", 0))
