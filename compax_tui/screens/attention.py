"""Needs attention: each change the server refused, why in words, the bookings in the way and
the alternatives; pick one to send the change again, or discard it."""

from __future__ import annotations

from typing import ClassVar

from rich.text import Text
from textual import on
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Horizontal, Vertical
from textual.widgets import DataTable, Footer, OptionList, Static
from textual.widgets.option_list import Option

from compax_tui.screens.base import CompaxScreen, span
from compax_tui.screens.dialogs import ConfirmDialog
from compax_tui.widgets.status_bar import NavBar, StatusBar
from sync.engine import Conflict
from sync.errors import CompaxError
from sync.reads import instant_of
from sync.vocabulary import counted


class AttentionScreen(CompaxScreen):
    """Refused changes on the left, the chosen one's reason and alternatives on the right."""

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("d", "discard", "Discard"),
        Binding("r", "retry", "Retry with choice"),
        Binding("tab", "focus_next", "Next pane", show=False),
    ]

    def __init__(self) -> None:
        super().__init__()
        self.conflicts: dict[int, Conflict] = {}

    def compose(self) -> ComposeResult:
        yield StatusBar()
        yield NavBar()
        with Horizontal(id="attention"):
            table: DataTable[str] = DataTable(id="conflicts", cursor_type="row")
            yield table
            with Vertical(id="conflict-detail"):
                yield Static(id="conflict-reason")
                yield Static("Alternatives: Enter sends the change again with one", classes="note")
                yield OptionList(id="alternatives")
        yield Footer(compact=True, show_command_palette=False)

    def on_mount(self) -> None:
        super().on_mount()
        table = self.query_one("#conflicts", DataTable)
        table.add_column("#", width=3)
        table.add_column("Refused change")

    def reload(self) -> None:
        """List the refused changes again."""
        table = self.query_one("#conflicts", DataTable)
        self.conflicts = {c.mid: c for c in self.compax.engine.conflicts()}
        table.clear()
        for conflict in self.conflicts.values():
            table.add_row(str(conflict.mid), conflict.summary, key=str(conflict.mid))
        if not self.conflicts:
            self.query_one("#conflict-reason", Static).update(
                "Nothing needs attention: every change was accepted or is still pending."
            )
            self.query_one("#alternatives", OptionList).clear_options()
        else:
            self._describe(next(iter(self.conflicts.values())))
            table.focus()

    @property
    def chosen(self) -> Conflict | None:
        """The refused change under the cursor, if any."""
        table = self.query_one("#conflicts", DataTable)
        if not table.row_count:
            return None
        key = table.coordinate_to_cell_key(table.cursor_coordinate).row_key.value
        return self.conflicts.get(int(str(key)))

    @on(DataTable.RowHighlighted, "#conflicts")
    def _highlighted(self) -> None:
        if self.chosen is not None:
            self._describe(self.chosen)

    @on(DataTable.RowSelected, "#conflicts")
    def _to_alternatives(self) -> None:
        options = self.query_one("#alternatives", OptionList)
        options.focus()
        if options.highlighted is None and options.option_count:
            options.highlighted = 0

    def _describe(self, conflict: Conflict) -> None:
        zone = self.compax.zone
        text = Text()
        text.append(f"{conflict.summary}\n", "bold")
        text.append(f"{conflict.problem.get('title', 'Refused')}: ", "bold red")
        text.append(f"{conflict.reason}\n")
        for booking in conflict.conflicting:
            title = booking.get("title") or "(private)"
            when = span(instant_of(booking["start"]), instant_of(booking["end"]), zone)
            text.append(f"  in the way: {title}, {when}\n")
        self.query_one("#conflict-reason", Static).update(text)
        options = self.query_one("#alternatives", OptionList)
        options.clear_options()
        options.add_options(
            Option(f"[{a.number}] {a.label}", id=str(a.number)) for a in conflict.alternatives(zone)
        )
        if not conflict.alternatives(zone):
            options.add_option(Option("No alternative offered: discard it (d)", disabled=True))

    @on(OptionList.OptionSelected, "#alternatives")
    def _retry_with(self, event: OptionList.OptionSelected) -> None:
        conflict = self.chosen
        if conflict is None or event.option.id is None:
            return
        try:
            rows = self.compax.engine.retry(conflict.mid, alternative=int(event.option.id))
        except CompaxError as error:
            self.compax.report(error)
            return
        self.notify(
            f"Queued again as {counted(len(rows), 'pending booking')}; ctrl+r sends it now",
            title=f"Change {conflict.mid}",
        )
        self.compax.changed()

    def action_retry(self) -> None:
        """Send the change again with the highlighted alternative (the first if none is)."""
        self._to_alternatives()
        self.query_one("#alternatives", OptionList).action_select()

    def action_discard(self) -> None:
        """Drop the chosen refused change, after asking."""
        conflict = self.chosen
        if conflict is None:
            return

        def answered(yes: bool | None) -> None:
            if yes and conflict is not None:
                self.compax.engine.discard(conflict.mid)
                self.notify(f"Discarded: {conflict.summary}")
                self.compax.changed()

        self.app.push_screen(
            ConfirmDialog(f"Discard “{conflict.summary}”? It was never applied.", "Discard"),
            answered,
        )
