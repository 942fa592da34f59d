"""What every screen of the app shares: access to the app, reloading when data change, and
refusals in the words of the form rather than pydantic's."""

from __future__ import annotations

import re
from datetime import datetime
from typing import TYPE_CHECKING, TypeVar, cast
from zoneinfo import ZoneInfo

from textual.screen import ModalScreen, Screen

if TYPE_CHECKING:
    from compax_tui.app import CompaxApp

ResultT = TypeVar("ResultT")


#: Pydantic's sentences (as the server sends them too) and the words a form shows instead.
PLAIN_WORDS: tuple[tuple[re.Pattern[str], str], ...] = tuple(
    (re.compile(pattern), words)
    for pattern, words in (
        (r"^(Value|Assertion) error, ", ""),
        (r"^Field required$", "required"),
        (r"^Input should be a valid integer.*", "must be a whole number"),
        (r"^Input should be a valid (number|decimal).*", "must be a number"),
        (r"^Input should be a valid (datetime|date|time).*", "must be a \\1"),
        (r"^Input should be greater than or equal to ", "must be at least "),
        (r"^Input should be less than or equal to ", "must be at most "),
        (r"^Input should be (greater|less) than (.+)$", "must be \\1 than \\2"),
        (r"^Input should be ", "must be "),
        (r"^String should have at least (\d+) characters?$", "needs at least \\1 characters"),
        (r"^String should have at most (\d+) characters?$", "must be at most \\1 characters"),
        (r"^String should match pattern .*", "has characters that are not allowed here"),
        (r"^List should have at most (\d+) items?.*", "at most \\1 of them"),
        (r"^Extra inputs are not permitted$", "is not a field that can be set here"),
    )
)


def plain_message(message: str) -> str:
    """``message`` in the words of the form, without pydantic's ``Value error, …`` or
    ``Input should be …``."""
    for pattern, words in PLAIN_WORDS:
        message = pattern.sub(words, message, count=1)
    return message


#: The most of a room's name (``BUILDING/CODE``) a table column shows at 80 columns.
ROOM_COLUMN = 24


def cut(text: str, width: int = ROOM_COLUMN) -> str:
    """``text`` cut to ``width`` characters, with an ellipsis when cut: a long room code
    (up to 64 characters) must not push a table's other columns off an 80-column screen."""
    return text if len(text) <= width else text[: width - 1] + "…"


def span(start: datetime, end: datetime, zone: ZoneInfo) -> str:
    """``Mon 12 Jan 10:00–11:30`` in campus local time."""
    return f"{start.astimezone(zone):%a %d %b %H:%M}–{end.astimezone(zone):%H:%M}"


class CompaxScreen(Screen[None]):
    """A screen of the app, read again from the replica whenever it changes: at once when
    the screen is showing, else when it is shown next (first once the replica is open)."""

    def __init__(self) -> None:
        super().__init__()
        self._stale = True

    @property
    def compax(self) -> CompaxApp:
        return cast("CompaxApp", self.app)

    def on_mount(self) -> None:
        self.compax.data_changed.subscribe(self, self._data_changed)

    def on_screen_resume(self) -> None:
        from compax_tui.widgets.status_bar import NavBar

        for nav in self.query(NavBar):
            nav.redraw()
        if self._stale and self.compax.ready:
            self._stale = False
            self.reload()

    def _data_changed(self, _: None) -> None:
        if self.is_current:
            self.reload()
        else:
            self._stale = True

    def reload(self) -> None:
        """Read what the screen shows from the replica again."""


class CompaxModal(ModalScreen[ResultT]):
    """A dialog over a screen of the app, answered once: every way of closing it goes through
    ``finish``, so a second key or click that arrives after the answer changes nothing."""

    def __init__(self) -> None:
        super().__init__()
        self.finished = False
        self._deferred: tuple[ResultT | None] | None = None

    @property
    def compax(self) -> CompaxApp:
        return cast("CompaxApp", self.app)

    def finish(self, result: ResultT | None = None) -> None:
        """Close the dialog with ``result``, unless it was answered already. Under another
        dialog (help), it closes when it is on top again: closing now would close that one."""
        if self.finished:
            return
        if not self.is_active:
            if self in self.app.screen_stack:
                self._deferred = (result,)
            return
        self.finished = True
        self.dismiss(result)

    def on_screen_resume(self) -> None:
        """On top again: close now if the dialog was answered while under another."""
        if self._deferred is not None:
            (result,), self._deferred = self._deferred, None
            self.finish(result)

    async def action_dismiss(self, result: ResultT | None = None) -> None:
        """The ``dismiss(...)`` action of key bindings, through ``finish``."""
        self.finish(result)
