"""The approvals queue in the terminal UI: the requests waiting for the approver's decision,
read from the server, with keys to approve one or reject it with a reason. Every decision
talks to the server at once, through ``sync.approvals``."""

from __future__ import annotations

from typing import Any, ClassVar

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Vertical
from textual.widgets import DataTable, Static

from compax_tui.screens.base import CompaxModal, cut, span
from compax_tui.screens.dialogs import FormDialog, FormField
from sync.approvals import Approvals, Reject
from sync.reads import instant_of

#: How many requests the queue shows at once (the soonest: they expire first).
QUEUE_LIMIT = 200


class ApprovalsDialog(CompaxModal[None]):
    """The requests waiting for your decision, soonest first; a approves the chosen one, r
    rejects it with a reason, g reloads."""

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("a", "approve", "Approve"),
        Binding("r", "reject", "Reject"),
        Binding("g", "reload", "Reload"),
        Binding("escape", "dismiss(None)", "Close"),
    ]

    def __init__(self) -> None:
        super().__init__()
        self.requests: dict[str, dict[str, Any]] = {}

    def compose(self) -> ComposeResult:
        with Vertical(classes="dialog", id="approvals"):
            yield Static("Waiting for your approval", classes="dialog-title")
            table: DataTable[str | Text] = DataTable(id="requests", cursor_type="row")
            table.add_column("When", width=22)
            table.add_column("Room", width=8)
            table.add_column("By", width=10)
            table.add_column("Title", width=28)
            yield table
            yield Static(" a approves, r rejects with a reason, g reloads, Esc closes",
                         classes="note")  # fmt: skip

    def on_mount(self) -> None:
        self.action_reload()
        self.query_one("#requests", DataTable).focus()

    def action_reload(self) -> None:
        """Read the queue again from the server."""
        approvals = Approvals(self.compax.engine)
        self.compax.call_server(self, lambda: approvals.queue(limit=QUEUE_LIMIT), self.show)

    def show(self, page: dict[str, Any]) -> None:
        """List the requests of ``page``."""
        zone = self.compax.zone
        table = self.query_one("#requests", DataTable)
        table.clear()
        self.requests = {str(item["id"]): item for item in page["items"]}
        for item in page["items"]:
            table.add_row(
                span(instant_of(item["start"]), instant_of(item["end"]), zone),
                cut(item["room"]),
                item.get("owner") or "",
                item.get("title") or "(private)",
                key=str(item["id"]),
            )
        if not page["items"]:
            self.notify("Nothing waits for your approval", title="Approvals")

    def _chosen(self) -> str | None:
        table = self.query_one("#requests", DataTable)
        if not table.row_count:
            self.notify("No request chosen", severity="warning")
            return None
        return str(table.coordinate_to_cell_key(table.cursor_coordinate).row_key.value)

    def _decided(self, booking: dict[str, Any]) -> None:
        self.notify(f"“{booking.get('title') or booking['room']}” is {booking['status']} now",
                    title="Approvals")  # fmt: skip
        self.compax.changed()
        self.action_reload()

    def action_approve(self) -> None:
        """Approve the chosen request."""
        booking_id = self._chosen()
        if booking_id is None:
            return
        approvals = Approvals(self.compax.engine)
        self.compax.call_server(
            self, lambda: approvals.decide(booking_id, approve=True), self._decided
        )

    def action_reject(self) -> None:
        """Ask for a reason, then reject the chosen request with it."""
        booking_id = self._chosen()
        if booking_id is None:
            return
        approvals = Approvals(self.compax.engine)

        def submit(form: FormDialog[Reject], result: Reject) -> None:
            def done(booking: dict[str, Any]) -> None:
                form.finish(result)
                self._decided(booking)

            self.compax.call_server(
                form,
                lambda: approvals.decide(booking_id, approve=False, reason=result.reason),
                done,
                form.refused,
            )

        self.app.push_screen(
            FormDialog(
                "Reject this request",
                [FormField("reason", "Reason", placeholder="told to the requester")],
                lambda values: Reject.model_validate(values),
                "Reject",
                submit=submit,
            )
        )
