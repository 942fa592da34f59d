"""Checking a booking in from the bookings list (``i``): queued like any change, refused at
once outside its window with the window named, counted if the server gets it in time."""

from __future__ import annotations

from typing import Any

from rich.text import Text

from compax_tui.screens.base import CompaxScreen
from sync.errors import CompaxError


def checkin_text(booking: dict[str, Any]) -> Text | None:
    """A booking's check-in or release as the state column shows it; ``None`` for neither."""
    if booking["status"] == "released":
        return Text("released", "dim")
    if not booking.get("checked_in_at"):
        return None
    if booking.get("pending"):
        return Text("⧗ check-in pending", "bold #d4a72c")
    return Text("✓ checked in", "green")


def check_in(screen: CompaxScreen, booking: dict[str, Any]) -> None:
    """Check ``booking`` in from ``screen``, or say why not (outside its window: when it is)."""
    if booking.get("checked_in_at"):
        screen.notify("That booking is checked in already")
        return
    try:
        screen.compax.engine.check_in(str(booking["id"]))
    except CompaxError as error:
        screen.notify(error.detail, title=error.title, severity="warning")
        return
    screen.notify("Checked in here: pending until the next sync", title="Check in")
    screen.compax.changed()
