"""What every screen of the app shares: access to the app, and reloading when data change."""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING, TypeVar, cast
from zoneinfo import ZoneInfo

from textual.screen import ModalScreen, Screen

if TYPE_CHECKING:
    from compax_tui.app import CompaxApp

ResultT = TypeVar("ResultT")


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

    @property
    def compax(self) -> CompaxApp:
        return cast("CompaxApp", self.app)

    def finish(self, result: ResultT | None = None) -> None:
        """Close the dialog with ``result``, unless it was answered already or is not the
        screen on top (a late event must not close the screen below it)."""
        if self.finished or not self.is_active:
            return
        self.finished = True
        self.dismiss(result)

    async def action_dismiss(self, result: ResultT | None = None) -> None:
        """The ``dismiss(...)`` action of key bindings, through ``finish``."""
        self.finish(result)
