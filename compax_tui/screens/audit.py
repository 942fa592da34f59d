"""The audit trail (F9, for those who may read it): the newest changes, filtered by record,
user, action and time; Enter shows one change's fields before and after. Read from the
server."""

from __future__ import annotations

import json
from typing import ClassVar

from textual import on
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Horizontal, Vertical
from textual.widgets import DataTable, Footer, Input, Static

from compax_tui.screens.base import CompaxModal
from sync.audit import AuditEntryPublic, AuditTrail, audit_query
from sync.errors import CompaxError
from sync.vocabulary import AuditAction

#: How many of the newest entries the screen lists.
SHOWN = 100
#: The filter fields: (id, placeholder).
FILTERS = (
    ("audit-record", "record: rooms/12"),
    ("audit-user", "user id"),
    ("audit-action", "action"),
    ("audit-since", "since: today 00:00"),
)


def describe(entry: AuditEntryPublic) -> str:
    """One entry in full: who, when, from where, and each field before → after."""
    who = entry.actor.username if entry.actor else "a job"
    lines = [
        f"{entry.action} {entry.record_type}/{entry.record_id} by {who} ({entry.client})",
    ]
    if entry.reason:
        lines.append(f"reason: {entry.reason}")
    before, after = entry.before or {}, entry.after or {}
    for key in dict.fromkeys([*before, *after]):
        old = json.dumps(before[key]) if key in before else "—"
        new = json.dumps(after[key]) if key in after else "—"
        lines.append(f"  {key}: {old} → {new}")
    return "\n".join(lines)


class AuditScreen(CompaxModal[None]):
    """Filters on top, the entries in the middle, the chosen entry's changes below."""

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape", "dismiss", "Close"),
        Binding("tab", "focus_next", "Next field", show=False),
    ]
    DEFAULT_CSS = """
    #audit-filters { height: 3; }
    #audit-filters Input { width: 1fr; }
    #audit-entries { height: 10; }
    #audit-detail { height: 7; overflow-y: auto; }
    """

    def __init__(self) -> None:
        super().__init__()
        self.shown: dict[str, AuditEntryPublic] = {}

    def compose(self) -> ComposeResult:
        with Vertical(classes="dialog"):
            yield Static(
                "Audit trail: Enter in a filter applies it; Enter on an entry shows it",
                classes="dialog-title",
            )
            with Horizontal(id="audit-filters"):
                for key, placeholder in FILTERS:
                    yield Input(placeholder=placeholder, id=key, compact=True)
            yield DataTable(id="audit-entries", cursor_type="row")
            yield Static("Loading…", id="audit-detail")
            yield Footer(compact=True, show_command_palette=False)

    def on_mount(self) -> None:
        table = self.query_one("#audit-entries", DataTable)
        table.add_column("when", width=12)
        table.add_column("who", width=10)
        table.add_column("action", width=12)
        table.add_column("record")
        self.load()

    def _value(self, key: str) -> str | None:
        return self.query_one(f"#{key}", Input).value.strip() or None

    def load(self) -> None:
        """Read the newest entries the filters select."""
        try:
            user = self._value("audit-user")
            action = self._value("audit-action")
            query = audit_query(
                record=self._value("audit-record"),
                actor=int(user) if user else None,
                action=AuditAction(action) if action else None,
                since=self._value("audit-since"),
                zone=self.compax.zone,
                now=self.compax.clock(),
            )
        except ValueError:
            names = ", ".join(a.value for a in AuditAction)
            self._refused(CompaxError(f"The user is a number; an action one of {names}"))
            return
        except CompaxError as error:
            self._refused(error)
            return
        trail = AuditTrail(self.compax.engine)
        self.compax.call_server(self, lambda: trail.entries(query, SHOWN), self._listed)

    def _refused(self, error: CompaxError) -> None:
        self.query_one("#audit-detail", Static).update(error.detail)

    def _listed(self, found: list[AuditEntryPublic]) -> None:
        table = self.query_one("#audit-entries", DataTable)
        table.clear()
        self.shown = {str(entry.id): entry for entry in found}
        zone = self.compax.zone
        for entry in found:
            table.add_row(
                f"{entry.at.astimezone(zone):%d %b %H:%M}",
                entry.actor.username if entry.actor else "(job)",
                entry.action,
                f"{entry.record_type}/{entry.record_id}",
                key=str(entry.id),
            )
        text = "No entries." if not found else "Enter shows the entry under the cursor."
        self.query_one("#audit-detail", Static).update(text)
        table.focus()

    @on(Input.Submitted)
    def _filtered(self) -> None:
        self.load()

    @on(DataTable.RowSelected, "#audit-entries")
    def _show(self, event: DataTable.RowSelected) -> None:
        entry = self.shown.get(str(event.row_key.value))
        if entry is not None:
            self.query_one("#audit-detail", Static).update(describe(entry))
