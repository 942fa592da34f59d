"""The status bar every screen shows: server, user and role, online or offline, last sync,
changes pending and changes that need attention; until the replica is open, that it is
opening."""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING, Any, cast
from urllib.parse import urlsplit
from zoneinfo import ZoneInfo

from rich.text import Text
from textual.content import Content
from textual.widgets import Static

if TYPE_CHECKING:
    from compax_tui.app import CompaxApp


def status_text(
    state: dict[str, Any],
    online: bool | None,
    syncing: bool,
    zone: ZoneInfo,
    now: datetime,
    width: int = 200,
) -> Text:
    """The status line for ``state`` (``Engine.status()``) in ``width`` cells: when it is
    too narrow, the server goes first, then the role; the counts always stay."""
    from sync.reads import instant_of  # with the engine, not before the first frame

    if syncing:
        connection = (" ⟳ syncing", "bold")
    elif online:
        connection = (" ● online", "bold green")
    elif online is False:
        connection = (" ○ offline", "bold red")
    else:
        connection = (" ○ not synced", "bold yellow")
    user = state.get("user")
    last = state.get("last_sync")
    if last:
        moment = instant_of(last).astimezone(zone)
        today = moment.date() == now.astimezone(zone).date()
        synced = f"synced {moment:%H:%M}" if today else f"synced {moment:%d %b %H:%M}"
    else:
        synced = "never synced"
    pending, attention = state.get("pending", 0), state.get("needs_attention", 0)
    # (text, style, drop order: higher goes first when the line is too long)
    parts: list[tuple[str, str, int]] = [
        (*connection, 0),
        (f"{user}" if user else "not signed in", "bold", 0),
        (f" ({state.get('role')})" if user else "", "", 2),
        (f" @ {urlsplit(state['server']).netloc}" if state.get("server") else "", "dim", 3),
        (f" │ {synced}", "", 1),
        (" │ ", "", 0),
        (f"{pending} pending", "bold yellow" if pending else "dim", 0),
    ]
    parts.insert(1, (" │ ", "", 0))
    if attention:
        parts += [(" │ ", "", 0), (f"{attention} need{'s' if attention == 1 else ''} attention",
                                    "bold red", 0)]  # fmt: skip
    for level in (3, 2, 1):
        if sum(len(text) for text, _, _ in parts) <= width:
            break
        parts = [part for part in parts if part[2] < level]
    line = Text(no_wrap=True, overflow="ellipsis")
    for text, style, _ in parts:
        line.append(text, style)
    return line


def opening_text(profile: str) -> Text:
    """The status line while the profile's replica is being opened, before the first read."""
    line = Text(no_wrap=True, overflow="ellipsis")
    line.append(" ◌ opening", "bold yellow")
    line.append(f" │ profile {profile}", "dim")
    return line


class StatusBar(Static):
    """One line at the top of every screen, redrawn whenever the app's status changes."""

    DEFAULT_CSS = """
    StatusBar {
        height: 1;
        background: $panel;
    }
    """

    def on_mount(self) -> None:
        compax = cast("CompaxApp", self.app)
        compax.status_changed.subscribe(self, lambda _: self._redraw())
        self._redraw()

    def _redraw(self) -> None:
        compax = cast("CompaxApp", self.app)
        if not compax.ready:
            self.update(opening_text(compax.profile.name), layout=False)
            return
        line = status_text(
            compax.state,
            compax.online,
            compax.syncing,
            compax.zone,
            compax.clock(),
            self.size.width or 80,
        )
        self.update(line, layout=False)

    def on_resize(self) -> None:
        self._redraw()


#: The screens' names in the bar, short enough that all five and a count fit 80 columns.
SHORT_TITLES = {
    "finder": "Finder",
    "grid": "Grid",
    "bookings": "My bookings",
    "attention": "Attention",
    "admin": "Admin",
}


class NavBar(Static):
    """The screens, each with its key; the one showing is highlighted, a click switches."""

    DEFAULT_CSS = """
    NavBar {
        height: 1;
        background: $boost;
    }
    """

    def on_mount(self) -> None:
        compax = cast("CompaxApp", self.app)
        compax.status_changed.subscribe(self, lambda _: self.redraw())
        self.redraw()

    def redraw(self) -> None:
        """Draw the screens' names again (after a switch or a status change)."""
        from compax_tui.app import SCREENS_SHOWN

        compax = cast("CompaxApp", self.app)
        line = Content()
        for mode, key, title, _ in SCREENS_SHOWN:
            if mode == "admin" and not compax.may_administer:
                continue
            label = SHORT_TITLES.get(mode, title)
            if mode == "attention" and compax.state.get("needs_attention"):
                label += f" ({compax.state['needs_attention']})"
            style = "reverse bold " if compax.current_mode == mode else ""
            line += Content.from_markup(
                f" [bold $accent]{key.upper()}[/][{style}@click=app.show('{mode}')] $label [/]",
                label=label,
            )
        self.update(line, layout=False)
