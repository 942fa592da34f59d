"""Problem reports in the terminal UI: a room's open reports (read from the server), a form to
report a problem (queued like any change, so it works offline), and the reports facilities
staff and building managers see to, with keys to take, start and resolve them. Everything
goes through ``sync.issue_client``."""

from __future__ import annotations

from typing import Any, ClassVar

from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Vertical
from textual.widgets import DataTable, Static

from compax_tui.screens.base import CompaxModal
from compax_tui.screens.dialogs import FormDialog, FormField
from sync.errors import CompaxError
from sync.issue_client import Issues
from sync.issue_schemas import IssueCreate, IssueUpdate
from sync.vocabulary import IssueCategory, IssueStatus

#: How many reports the list shows at once (the newest).
LIST_LIMIT = 200


def issue_mark(room: dict[str, Any]) -> str:
    """``⚠2`` for a room with two unresolved reports, as its replicated row counts them."""
    count = room.get("open_issues") or 0
    return f"⚠{count}" if count else ""


def report_problem(
    owner: CompaxModal[Any] | Any, room_id: int, label: str, booking_id: str | None = None
) -> None:
    """Open the form to report a problem with the room (and the booking it spoiled, if one is
    named); a report is queued, pending until the next sync sends it."""
    compax = owner.compax

    def build(values: dict[str, str | bool]) -> IssueCreate:
        return IssueCreate.model_validate({**values, "room_id": room_id, "booking_id": booking_id})

    def saved(report: IssueCreate | None) -> None:
        if report is None:
            return
        try:
            compax.engine.report_issue(report)
        except CompaxError as error:
            compax.report(error)
            return
        compax.notify(f"Reported for {label}: pending until the server has it", title="Problem")
        compax.changed()
        compax.request_sync()

    categories = [(c.value, c.value) for c in IssueCategory]
    owner.app.push_screen(
        FormDialog(
            f"Report a problem with {label}",
            [
                FormField("category", "Category", "other", kind="select", options=categories),
                FormField("summary", "Summary", placeholder="what is wrong, in a line"),
                FormField("details", "Details", placeholder="optional"),
            ],
            build,
            "Report",
        ),
        saved,
    )


class RoomIssuesDialog(CompaxModal[None]):
    """A room's unresolved reports, oldest first, naming nobody; p reports another."""

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("p", "report", "Report a problem"),
        Binding("escape", "dismiss(None)", "Close"),
    ]

    def __init__(self, room_id: int, label: str) -> None:
        super().__init__()
        self.room_id, self.label = room_id, label

    def compose(self) -> ComposeResult:
        with Vertical(classes="dialog", id="room-issues"):
            yield Static(f"Open problems in {self.label}", classes="dialog-title")
            table: DataTable[str] = DataTable(id="room-issue-rows", cursor_type="row")
            table.add_column("Since", width=12)
            table.add_column("Kind", width=11)
            table.add_column("Status", width=11)
            table.add_column("Summary", width=30)
            yield table
            yield Static(" p reports a problem, Esc closes", classes="note")

    def on_mount(self) -> None:
        issues = Issues(self.compax.engine)
        self.compax.call_server(self, lambda: issues.of_room(self.room_id), self.show)
        self.query_one(DataTable).focus()

    def show(self, briefs: list[dict[str, Any]]) -> None:
        from sync.reads import instant_of

        table = self.query_one(DataTable)
        table.clear()
        for brief in briefs:
            since = instant_of(brief["since"]).astimezone(self.compax.zone)
            table.add_row(
                f"{since:%d %b %H:%M}",
                brief["category"],
                brief["status"].replace("_", " "),
                brief["summary"],
                key=str(brief["id"]),
            )
        if not briefs:
            self.notify(f"No open problems in {self.label}", title="Problems")

    def action_report(self) -> None:
        """Report a problem with this room."""
        report_problem(self, self.room_id, self.label)


class IssuesDialog(CompaxModal[None]):
    """The unresolved reports you see to, newest first; m takes the chosen one, s starts it,
    r resolves it with a note, g reloads."""

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("m", "take", "Assign to me"),
        Binding("s", "start", "Start"),
        Binding("r", "resolve", "Resolve"),
        Binding("g", "reload", "Reload"),
        Binding("escape", "dismiss(None)", "Close"),
    ]

    def __init__(self) -> None:
        super().__init__()
        self.reports: dict[str, dict[str, Any]] = {}

    def compose(self) -> ComposeResult:
        with Vertical(classes="dialog", id="issues"):
            yield Static("Problems to see to", classes="dialog-title")
            table: DataTable[str] = DataTable(id="issue-rows", cursor_type="row")
            table.add_column("Room", width=10)
            table.add_column("Status", width=11)
            table.add_column("Who", width=10)
            table.add_column("Summary", width=32)
            yield table
            yield Static(" m takes it, s starts, r resolves, g reloads, Esc closes",
                         classes="note")  # fmt: skip

    def on_mount(self) -> None:
        self.action_reload()
        self.query_one(DataTable).focus()

    def action_reload(self) -> None:
        """Read the reports again from the server."""
        issues = Issues(self.compax.engine)
        self.compax.call_server(self, lambda: issues.page(limit=LIST_LIMIT), self.show)

    def show(self, page: dict[str, Any]) -> None:
        """List the unresolved reports; the cursor stays on the report it was on (a change
        reloads the list, and the next key must act on the same report), if still listed."""
        table = self.query_one(DataTable)
        chosen = self._chosen(quiet=True)
        table.clear()
        open_ones = [i for i in page["items"] if i["status"] != IssueStatus.RESOLVED]
        self.reports = {str(item["id"]): item for item in open_ones}
        for item in open_ones:
            table.add_row(
                item["room"],
                item["status"].replace("_", " "),
                item.get("assignee") or "",
                item["summary"],
                key=str(item["id"]),
            )
        if chosen in self.reports:
            table.move_cursor(row=table.get_row_index(chosen))
        if not open_ones:
            self.notify("No open problems", title="Problems")

    def _chosen(self, *, quiet: bool = False) -> str | None:
        table = self.query_one(DataTable)
        if not table.row_count:
            if not quiet:
                self.notify("No report chosen", severity="warning")
            return None
        return str(table.coordinate_to_cell_key(table.cursor_coordinate).row_key.value)

    def _change(self, change: IssueUpdate, form: FormDialog[Any] | None = None) -> None:
        issue_id = self._chosen()
        if issue_id is None:
            return
        issues = Issues(self.compax.engine)

        def done(report: dict[str, Any]) -> None:
            if form is not None:
                form.finish(change)
            status = str(report["status"]).replace("_", " ")
            self.notify(f"{report['room']}: {report['summary']} is {status}",
                        title="Problems")  # fmt: skip
            self.action_reload()

        self.compax.call_server(
            self,
            lambda: issues.change(issue_id, change),
            done,
            form.refused if form is not None else None,
        )

    def action_take(self) -> None:
        """Assign the chosen report to yourself."""
        me = (self.compax.engine.user or {}).get("username")
        self._change(IssueUpdate(assignee=me))

    def action_start(self) -> None:
        """Mark the chosen report in progress."""
        self._change(IssueUpdate(status=IssueStatus.IN_PROGRESS))

    def action_resolve(self) -> None:
        """Ask what was done, then resolve the chosen report with it."""
        chosen = self._chosen()
        if chosen is None:
            return
        report = self.reports.get(chosen, {})
        self.app.push_screen(
            FormDialog(
                f"Resolve {report.get('room', 'this report')}: {report.get('summary', '')}",
                [FormField("resolution", "Done", placeholder="what was done")],
                lambda values: IssueUpdate.model_validate(
                    {"status": IssueStatus.RESOLVED, **values}
                ),
                "Resolve",
                submit=lambda form, change: self._change(change, form),
            )
        )
