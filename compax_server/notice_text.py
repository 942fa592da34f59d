"""What each kind of notification says: a subject, plain text and HTML, in campus time.

A notification's ``data`` is written when it happens and read here whenever it is shown or
mailed. The keys every kind may hold: ``title``, ``room`` (``PB/101``), ``start`` and ``end``
(ISO instants), ``booking_id``; and by kind: ``by`` (who changed or cancelled it), ``was`` (the
booking's ``room``/``start``/``end``/``title`` before a change), ``reason``, ``closed_from`` and
``closed_until`` (a blackout), ``cancel_url`` (a reminder), ``misses`` and ``cancelled`` (how
many releases in a row ended a series, and how many later occurrences that cancelled),
``offer_expires_at``, ``entry_id``, ``accept_path`` and ``decline_path`` (a waitlist offer,
answered signed in: the mail names the commands); ``issue_id``, ``summary``, ``category``,
``details``, ``status`` and ``resolution`` (a problem report). A key that is missing or
unreadable never stops a message: it is said in general words instead.
"""

from __future__ import annotations

import html
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from compax_server.mail import Letter
from sync.vocabulary import NoticeKind
from sync.when import local_span


@dataclass(frozen=True)
class _Notice:
    """A message before it is written out: its subject, its paragraphs and one link."""

    subject: str
    paragraphs: list[str]
    link: tuple[str, str] | None = None


class _Facts:
    """The notification's data read defensively, times in the campus zone."""

    def __init__(self, data: dict[str, Any], zone: ZoneInfo) -> None:
        self.data = data
        self.zone = zone

    def text(self, key: str, default: str = "") -> str:
        value = self.data.get(key)
        return str(value) if isinstance(value, str | int) and str(value) else default

    def instant(self, key: str) -> datetime | None:
        try:
            moment = datetime.fromisoformat(str(self.data.get(key)))
        except ValueError:
            return None
        return moment if moment.tzinfo is not None else None

    def when(self, start_key: str = "start", end_key: str = "end") -> str:
        start, end = self.instant(start_key), self.instant(end_key)
        if start is None or end is None or end < start:
            return "at the time you booked"
        return local_span(start, end, self.zone)

    def moment(self, key: str) -> str | None:
        found = self.instant(key)
        if found is None:
            return None
        local = found.astimezone(self.zone)
        return f"{local:%a} {local.day} {local:%b %Y}, {local:%H:%M}"

    @property
    def room(self) -> str:
        return self.text("room", "the room")

    @property
    def booking(self) -> str:
        """``"MATH 101" in PB/101``, as far as it is known."""
        title = self.text("title")
        return f"“{title}” in {self.room}" if title else f"your booking in {self.room}"

    def was(self) -> _Facts:
        earlier = self.data.get("was")
        return _Facts(earlier if isinstance(earlier, dict) else {}, self.zone)


def _changed(facts: _Facts) -> _Notice:
    by = facts.text("by", "someone else")
    before = facts.was()
    lines = [f"{by} changed {facts.booking}."]
    if before.data:
        lines.append(f"It was: {before.room}, {before.when()}.")
    lines.append(f"It is now: {facts.room}, {facts.when()}.")
    return _Notice(f"Your booking in {facts.room} was changed", lines)


def _cancelled(facts: _Facts) -> _Notice:
    by = facts.text("by", "someone else")
    lines = [f"{by} cancelled {facts.booking}, {facts.when()}.", "The room is no longer yours."]
    return _Notice(f"Your booking in {facts.room} was cancelled", lines)


def _blackout(facts: _Facts) -> _Notice:
    reason = facts.text("reason")
    closed = facts.when("closed_from", "closed_until")
    lines = [
        f"{facts.room} will be closed {closed}" + (f" ({reason})." if reason else "."),
        f"That covers {facts.booking}, {facts.when()}. The booking is kept, but you may need "
        "to find another room: ask the person who closed it, or book elsewhere.",
    ]
    return _Notice(f"{facts.room} is closed during your booking", lines)


def _reminder(facts: _Facts) -> _Notice:
    lines = [f"A reminder: {facts.booking}, {facts.when()}."]
    url = facts.text("cancel_url")
    if url:
        lines.append("If you no longer need the room, cancel it so that others can use it.")
    return _Notice(
        f"Reminder: {facts.room}, {facts.when()}",
        lines,
        ("Cancel this booking", url) if url else None,
    )


def _released(facts: _Facts) -> _Notice:
    lines = [
        f"Nobody checked in to {facts.booking}, {facts.when()}, so it was released "
        "and the room is free for others."
    ]
    return _Notice(f"Your booking in {facts.room} was released", lines)


def _series_released(facts: _Facts) -> _Notice:
    misses, cancelled = facts.text("misses"), facts.text("cancelled")
    times = f"{misses} times in a row" if misses else "several times in a row"
    rest = f"its {cancelled} later occurrences" if cancelled else "its later occurrences"
    lines = [
        f"Nobody checked in to your recurring booking {facts.booking} {times}, "
        f"so {rest} were cancelled and their rooms are free for others.",
        "Book again if you still need the room.",
    ]
    return _Notice(f"Your recurring booking in {facts.room} was cancelled", lines)


def _offer(facts: _Facts) -> _Notice:
    expires = facts.moment("offer_expires_at")
    entry = facts.text("entry_id")
    lines = [f"A slot you are waiting for is free: {facts.room}, {facts.when()}."]
    lines.append(
        f"It is held for you until {expires}." if expires else "It is held for you for a while."
    )
    if entry:
        lines.append(
            f"Accept it with `compax wait accept {entry}`, or decline with "
            f"`compax wait decline {entry}`."
        )
    return _Notice(f"A room is free for you: {facts.room}, {facts.when()}", lines, None)


def _booked(facts: _Facts) -> _Notice:
    lines = [f"A slot you were waiting for came free, and it is booked for you: {facts.booking}."]
    lines.append(f"When: {facts.when()}.")
    return _Notice(f"Booked for you: {facts.room}, {facts.when()}", lines)


def _occurrences(facts: _Facts) -> str:
    """`` and its 11 other occurrences`` for a series decided or asked for at once."""
    count = facts.data.get("occurrences")
    if isinstance(count, int) and count > 1:
        return f" and its {count - 1} other occurrence{'s' if count > 2 else ''}"
    return ""


def _approval_requested(facts: _Facts) -> _Notice:
    by, title = facts.text("by", "Someone"), facts.text("title")
    asked = f"“{title}” in {facts.room}" if title else f"a private booking in {facts.room}"
    lines = [
        f"{by} asks for {asked}, {facts.when()}{_occurrences(facts)}.",
        "It holds the room until you approve or reject it, or until it expires.",
    ]
    booking = facts.text("booking_id")
    if booking:
        lines.append(
            f"Decide with `compax approvals approve {booking}` or "
            f"`compax approvals reject {booking} --reason …`."
        )
    return _Notice(f"Waiting for your approval: {facts.room}, {facts.when()}", lines)


def _approved(facts: _Facts) -> _Notice:
    by = facts.text("by", "An approver")
    lines = [f"{by} approved {facts.booking}, {facts.when()}{_occurrences(facts)}."]
    reason = facts.text("reason")
    if reason:
        lines.append(f"They said: {reason}")
    return _Notice(f"Approved: {facts.room}, {facts.when()}", lines)


def _rejected(facts: _Facts) -> _Notice:
    by = facts.text("by", "An approver")
    reason = facts.text("reason", "no reason given")
    lines = [
        f"{by} rejected {facts.booking}, {facts.when()}{_occurrences(facts)}.",
        f"The reason: {reason}",
        "The room is not yours; book another room or time.",
    ]
    return _Notice(f"Not approved: {facts.room}, {facts.when()}", lines)


def _approval_expired(facts: _Facts) -> _Notice:
    lines = [
        f"Nobody approved {facts.booking}, {facts.when()}{_occurrences(facts)}, in time, so "
        "the request expired and the room is free for others.",
        "Book again, or ask the building's manager.",
    ]
    return _Notice(f"Request expired: {facts.room}, {facts.when()}", lines)


def _issue(facts: _Facts) -> str:
    summary = facts.text("summary", "a problem")
    category = facts.text("category")
    return (
        f"“{summary}” ({category}) in {facts.room}" if category else f"“{summary}” in {facts.room}"
    )


def _issue_reported(facts: _Facts) -> _Notice:
    by = facts.text("by", "Someone")
    lines = [f"{by} reported {_issue(facts)}."]
    details = facts.text("details")
    if details:
        lines.append(details)
    issue = facts.text("issue_id", "ID")
    lines.append(
        f"See to it with `compax issues assign {issue} me` and `compax issues start {issue}`."
    )
    return _Notice(f"Problem reported: {facts.room}, {facts.text('summary', 'a problem')}", lines)


def _issue_assigned(facts: _Facts) -> _Notice:
    by = facts.text("by", "Someone")
    issue = facts.text("issue_id", "ID")
    lines = [
        f"{by} asked you to see to {_issue(facts)}.",
        f"Read it with `compax issues show {issue}`.",
    ]
    return _Notice(f"Yours to see to: {facts.room}, {facts.text('summary', 'a problem')}", lines)


_ISSUE_STATUS = {"open": "open again", "in_progress": "being seen to", "resolved": "resolved"}


def _issue_updated(facts: _Facts) -> _Notice:
    by = facts.text("by", "Someone")
    status = _ISSUE_STATUS.get(facts.text("status"), "changed")
    lines = [f"{by} marked {_issue(facts)}, which you reported, as {status}."]
    resolution = facts.text("resolution")
    if facts.text("status") == "resolved" and resolution:
        lines.append(f"What was done: {resolution}")
    return _Notice(f"Your report is {status}: {facts.room}", lines)


_WRITERS: dict[NoticeKind, Callable[[_Facts], _Notice]] = {
    NoticeKind.BOOKING_CHANGED: _changed,
    NoticeKind.BOOKING_CANCELLED: _cancelled,
    NoticeKind.BLACKOUT: _blackout,
    NoticeKind.REMINDER: _reminder,
    NoticeKind.RELEASED: _released,
    NoticeKind.SERIES_RELEASED: _series_released,
    NoticeKind.WAITLIST_OFFER: _offer,
    NoticeKind.WAITLIST_BOOKED: _booked,
    NoticeKind.APPROVAL_REQUESTED: _approval_requested,
    NoticeKind.APPROVED: _approved,
    NoticeKind.REJECTED: _rejected,
    NoticeKind.APPROVAL_EXPIRED: _approval_expired,
    NoticeKind.ISSUE_REPORTED: _issue_reported,
    NoticeKind.ISSUE_ASSIGNED: _issue_assigned,
    NoticeKind.ISSUE_UPDATED: _issue_updated,
}


def _notice(kind: str, data: dict[str, Any], zone: ZoneInfo) -> _Notice:
    facts = _Facts(data, zone)
    try:
        return _WRITERS[NoticeKind(kind)](facts)
    except ValueError:
        return _Notice("News about your booking", [f"{facts.booking}, {facts.when()}."])


def letter(kind: str, data: dict[str, Any], zone: ZoneInfo) -> Letter:
    """The subject, plain text and HTML of a notification of ``kind`` saying ``data``."""
    notice = _notice(kind, data, zone)
    footer = f"Times are campus time ({zone.key}). You can choose which mail you get: " + (
        "compax notifications settings"
    )
    text_parts = list(notice.paragraphs)
    html_parts = [f"<p>{html.escape(line)}</p>" for line in notice.paragraphs]
    if notice.link:
        label, url = notice.link
        text_parts.append(f"{label}: {url}")
        html_parts.append(
            f'<p><a href="{html.escape(url, quote=True)}">{html.escape(label)}</a></p>'
        )
    text_parts.append(f"-- \n{footer}")
    html_parts.append(f"<hr><p style='color:#666;font-size:small'>{html.escape(footer)}</p>")
    body = "".join(html_parts)
    document = (
        "<!doctype html><html><head><meta charset=utf-8>"
        f"<title>{html.escape(notice.subject)}</title></head>"
        f"<body style='font-family:sans-serif'>{body}</body></html>"
    )
    return Letter(notice.subject, "\n\n".join(text_parts) + "\n", document)
