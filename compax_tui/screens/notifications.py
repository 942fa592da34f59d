"""Notifications (F7): what you were told, newest first; Enter shows one and marks it read, and
the kinds on the right say which are mailed to you (space toggles one). Read from the server."""

from __future__ import annotations

from typing import ClassVar

from textual import on
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Horizontal, Vertical
from textual.widgets import DataTable, Footer, SelectionList, Static

from compax_tui.screens.base import CompaxModal
from sync.notices import Notices, NotificationPublic, NotificationSettings
from sync.vocabulary import NoticeKind

#: How many of the newest notifications the screen lists.
SHOWN = 50


class NotificationsScreen(CompaxModal[None]):
    """Your notifications on the left, the kinds mailed to you on the right, the chosen
    notification's text below."""

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape,q", "dismiss", "Close"),
        Binding("tab", "focus_next", "Next pane", show=False),
    ]
    DEFAULT_CSS = """
    #notices-panes { height: 12; }
    #notices { width: 1fr; }
    #mail-kinds { width: 26; }
    #notice-text { height: 6; overflow-y: auto; }
    """

    def __init__(self) -> None:
        super().__init__()
        self.shown: dict[str, NotificationPublic] = {}
        self._choosing = False

    def compose(self) -> ComposeResult:
        with Vertical(classes="dialog"):
            yield Static(
                "Notifications: Enter reads one; space mails a kind or not", classes="dialog-title"
            )
            with Horizontal(id="notices-panes"):
                yield DataTable(id="notices", cursor_type="row")
                yield SelectionList[str](id="mail-kinds")
            yield Static("Loading…", id="notice-text")
            yield Footer(compact=True, show_command_palette=False)

    def on_mount(self) -> None:
        table = self.query_one("#notices", DataTable)
        table.add_column("when", width=12)
        table.add_column("", width=1)
        table.add_column("subject")
        self.query_one("#mail-kinds", SelectionList).border_title = "Mailed to you"
        notices = Notices(self.compax.engine)
        self.compax.call_server(self, lambda: notices.latest(SHOWN), self._listed)
        self.compax.call_server(self, notices.settings, self._chosen)

    def _listed(self, found: list[NotificationPublic]) -> None:
        table = self.query_one("#notices", DataTable)
        table.clear()
        self.shown = {str(notice.id): notice for notice in found}
        zone = self.compax.zone
        for notice in found:
            when = f"{notice.created_at.astimezone(zone):%d %b %H:%M}"
            table.add_row(when, "" if notice.read_at else "•", notice.subject, key=str(notice.id))
        text = "No notifications yet." if not found else "Enter shows the one under the cursor."
        self.query_one("#notice-text", Static).update(text)
        table.focus()

    def _chosen(self, settings: NotificationSettings) -> None:
        kinds = self.query_one("#mail-kinds", SelectionList)
        self._choosing = True
        kinds.clear_options()
        kinds.add_options(
            (s.kind.value.replace("_", " "), s.kind.value, s.mail) for s in settings.settings
        )
        kinds.highlighted = 0
        self._choosing = False

    @on(DataTable.RowSelected, "#notices")
    def _read(self, event: DataTable.RowSelected) -> None:
        notice = self.shown.get(str(event.row_key.value))
        if notice is None:
            return
        self.query_one("#notice-text", Static).update(f"{notice.subject}\n\n{notice.text}")
        if notice.read_at is None:
            notices = Notices(self.compax.engine)
            self.compax.call_server(self, lambda: notices.mark_read(notice.id), self._marked)

    def _marked(self, notice: NotificationPublic) -> None:
        self.shown[str(notice.id)] = notice
        table = self.query_one("#notices", DataTable)
        table.update_cell(str(notice.id), table.ordered_columns[1].key, "")

    @on(SelectionList.SelectionToggled, "#mail-kinds")
    def _toggled(self, event: SelectionList.SelectionToggled[str]) -> None:
        if self._choosing:
            return
        kind = NoticeKind(event.selection.value)
        mail = kind.value in event.selection_list.selected
        notices = Notices(self.compax.engine)
        said = "are mailed to you" if mail else "are listed here, not mailed"
        self.compax.call_server(
            self,
            lambda: notices.choose(kind, mail),
            lambda _: self.compax.notify(f"Notifications of kind {kind.value} {said}"),
        )
