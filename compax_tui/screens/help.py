"""The help screen (``?``, or F1 even inside a text field): every key of the screen below it,
and what the grid shows."""

from __future__ import annotations

from typing import Any, ClassVar

from rich.table import Table
from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import VerticalScroll
from textual.screen import Screen
from textual.widgets import Static

from compax_tui.screens.base import CompaxModal

ABOUT = """\
Compax keeps a copy of what you may see, so you can find rooms and book them offline.
A booking is checked here at once with the server's own rules and shown ⧗ pending until a
sync has the server confirm it; a change the server refuses waits under Needs attention (F5)
with the reason and alternatives. Times are campus local time: 2027-01-11 10:00,
tomorrow 9:30, mon 14:00; lengths 90m, 2h, 1h30m. ctrl+p opens the command palette.

In the grid, a row is a room (or a day of one room) and each column a slot of time:
coloured runs are bookings (amber: pending) or blackouts, ! a booking under a blackout, ╱╱
is outside opening hours, ·· a room closed to booking, the rest is free. Mark a range with
space or shift+arrows, then Enter to book it (a clash shows its alternatives); g goes to a
room or building, [ ] to the previous or next day or week.

F1 opens this help from anywhere, a text field included; ? does where you are not typing."""


class HelpScreen(CompaxModal[None]):
    """Keys of ``below`` (the screen help was asked on) with what each does."""

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape,question_mark,q", "dismiss", "Close"),
    ]

    def __init__(self, below: Screen[Any]) -> None:
        super().__init__()
        self.below = below

    def compose(self) -> ComposeResult:
        keys = Table.grid(padding=(0, 2))
        keys.add_column(style="bold")
        keys.add_column()
        seen: set[str] = set()
        bindings = [active.binding for active in self.below.active_bindings.values()]
        # The keys the footer shows come first, then the rest (the app's and the widgets').
        for binding in sorted(bindings, key=lambda b: not b.show):
            if not binding.description or binding.description in seen:
                continue
            seen.add(binding.description)
            keys.add_row(self.app.get_key_display(binding), binding.description)
        with VerticalScroll(classes="dialog help"):
            yield Static(Text("Keys on this screen", "bold"))
            yield Static(keys)
            yield Static(Text("\n" + ABOUT))
            yield Static(Text("\nEsc (or F1) closes this help.", "dim"))
