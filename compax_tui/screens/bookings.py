"""My bookings: the signed-in user's bookings from today on, pending changes marked; move,
cancel or check in one, or for a series this, the following or all occurrences."""

from __future__ import annotations

from collections.abc import Callable
from datetime import time
from typing import Any, ClassVar

from rich.text import Text
from textual import on
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.widgets import DataTable, Footer, Static
from textual.widgets.data_table import RowDoesNotExist

from compax_tui.screens.base import CompaxScreen, cut, span
from compax_tui.screens.checkin import check_in, checkin_text
from compax_tui.screens.dialogs import ConfirmDialog, ScopeDialog
from compax_tui.screens.grid import GridTarget, ShowBooking
from compax_tui.screens.move_form import MoveForm
from compax_tui.screens.waitlist import WaitlistDialog
from compax_tui.widgets.status_bar import NavBar, StatusBar
from sync import quota_local
from sync.errors import CompaxError
from sync.reads import instant_of
from sync.rules import local_instant
from sync.vocabulary import HOLDING, Scope


def state_text(booking: dict[str, Any], closed: bool = False) -> Text:
    """A booking's state as shown in lists: pending changes stand out until confirmed, and a
    confirmed booking that lies in a closure (``closed``) says so."""
    checkin = checkin_text(booking)
    if checkin is not None:
        return checkin
    if booking.get("pending"):
        what = {"cancelled": "cancel pending", "pending": "needs approval"}
        return Text(f"⧗ {what.get(booking['status'], 'pending')}", "bold #d4a72c")
    if booking["status"] == "pending":
        return Text("? awaiting approval", "bold #5f87ff")
    if booking["status"] in ("cancelled", "rejected", "expired"):
        return Text(booking["status"], "dim")
    if closed:
        return Text("! in a closure", "bold red")
    return Text("✓ confirmed", "green")


class BookingsScreen(CompaxScreen):
    """Your bookings in start order; Enter shows one in the grid."""

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("m", "move", "Move"),
        Binding("c", "cancel_booking", "Cancel booking"),
        Binding("i", "check_in", "Check in"),
        Binding("p", "toggle_past", "Show past"),
        Binding("w", "waitlist", "Waitlist"),
        Binding("r", "report_problem", "Report a problem", show=False),
    ]

    def __init__(self) -> None:
        super().__init__()
        self.bookings: dict[str, dict[str, Any]] = {}
        self.show_past = False

    def compose(self) -> ComposeResult:
        yield StatusBar()
        yield NavBar()
        yield Static(id="bookings-title", classes="title")
        yield Static(id="bookings-quota", classes="note")
        table: DataTable[str | Text] = DataTable(
            id="bookings", cursor_type="row", zebra_stripes=True
        )
        yield table
        yield Static(
            " m moves, c cancels (a series: this, following or all), i checks in", classes="note"
        )
        yield Footer(compact=True, show_command_palette=False)

    def on_mount(self) -> None:
        super().on_mount()
        table = self.query_one("#bookings", DataTable)
        table.add_column("↻", width=1)
        table.add_column("When", width=22)
        table.add_column("Room", width=8)
        table.add_column("State", width=16)
        table.add_column("Title")

    def reload(self) -> None:
        """List the user's bookings again, keeping the cursor on the same one."""
        engine, zone = self.compax.engine, self.compax.zone
        since = None
        if not self.show_past:
            since = local_instant(self.compax.today(), time(0), zone)
        table = self.query_one("#bookings", DataTable)
        selected = self._selected_id()
        table.clear()
        try:
            found = engine.my_bookings(start=since, limit=1000)
        except CompaxError as error:
            self.compax.report(error)
            return
        self.bookings = {str(b["id"]): b for b in found}
        closures = engine.reads.closures_over([b for b in found if b["status"] in HOLDING])
        for booking in found:
            start, end = instant_of(booking["start"]), instant_of(booking["end"])
            table.add_row(
                "↻" if booking.get("series_id") else "",
                span(start, end, zone),
                cut(booking["room"]),
                state_text(booking, str(booking["id"]) in closures),
                booking["title"] or "",
                key=str(booking["id"]),
            )
        pending = sum(1 for b in found if b.get("pending"))
        scope = "all your bookings" if self.show_past else "your bookings from today"
        self.query_one("#bookings-title", Static).update(
            f" {len(found)} of {scope}" + (f", {pending} pending" if pending else "")
        )
        user = engine.user
        quota = (
            "" if user is None else quota_local.summary(engine.reads, user["id"], engine.clock())
        )
        line = self.query_one("#bookings-quota", Static)
        line.update(f" {quota}")
        line.display = bool(quota)
        if selected is not None:
            self._select(selected)

    def _selected_id(self) -> str | None:
        table = self.query_one("#bookings", DataTable)
        if not table.row_count:
            return None
        return str(table.coordinate_to_cell_key(table.cursor_coordinate).row_key.value)

    def _select(self, booking_id: str) -> None:
        table = self.query_one("#bookings", DataTable)
        try:
            table.move_cursor(row=table.get_row_index(booking_id))
        except RowDoesNotExist:
            return

    @on(ShowBooking)
    def _show_booking(self, message: ShowBooking) -> None:
        self.reload()
        self._select(message.booking_id)
        self.query_one("#bookings", DataTable).focus()

    @on(DataTable.RowSelected, "#bookings")
    def _open(self, event: DataTable.RowSelected) -> None:
        booking = self.bookings[str(event.row_key.value)]
        day = instant_of(booking["start"]).astimezone(self.compax.zone).date()
        self.compax.open_grid(GridTarget(day, room_id=int(booking["room_id"])))

    def action_waitlist(self) -> None:
        """Show your waitlist entries, to accept or decline an offer or leave the line."""
        self.app.push_screen(WaitlistDialog())

    def action_toggle_past(self) -> None:
        """Show past bookings too, or from today only."""
        self.show_past = not self.show_past
        self.reload()

    # --- changes --------------------------------------------------------------------------

    def _chosen(self) -> dict[str, Any] | None:
        booking_id = self._selected_id()
        if booking_id is None:
            self.notify("No booking chosen", severity="warning")
            return None
        booking = self.bookings[booking_id]
        if booking["status"] not in HOLDING:
            self.notify(f"That booking is {booking['status']}", severity="warning")
            return None
        return booking

    def action_report_problem(self) -> None:
        """Report a problem with the chosen booking's room, naming the booking once the server
        has it; works offline."""
        from compax_tui.screens.issues import report_problem

        booking = self._chosen()
        if booking is not None:
            known = not booking.get("pending") and ":" not in str(booking["id"])
            report_problem(
                self,
                int(booking["room_id"]),
                booking["room"],
                str(booking["id"]) if known else None,
            )

    def action_check_in(self) -> None:
        """Check the chosen booking in, within the window around its start."""
        booking = self._chosen()
        if booking is not None:
            check_in(self, booking)

    def _with_scope(
        self, booking: dict[str, Any], verb: str, then: Callable[[Scope], None]
    ) -> None:
        """Ask which occurrences for a series; a single booking is just this one."""
        if not booking.get("series_id"):
            then(Scope.THIS)
            return

        def chosen(scope: Scope | None) -> None:
            if scope is not None:
                then(scope)

        self.app.push_screen(ScopeDialog(f"{verb} which occurrences of “{booking['title']}”?"),
                             chosen)  # fmt: skip

    def action_cancel_booking(self) -> None:
        """Cancel the chosen booking (for a series, asking which occurrences)."""
        booking = self._chosen()
        if booking is None:
            return
        when = span(instant_of(booking["start"]), instant_of(booking["end"]), self.compax.zone)

        def cancel(scope: Scope) -> None:
            try:
                rows = self.compax.engine.cancel(str(booking["id"]), scope)
            except CompaxError as error:
                self.compax.report(error)
                return
            self.notify(f"{len(rows)} cancelled here: pending until the next sync", title="Cancel")
            self.compax.changed()

        def confirmed(yes: bool | None) -> None:
            if yes:
                cancel(Scope.THIS)

        if booking.get("series_id"):
            self._with_scope(booking, "Cancel", cancel)
        else:
            self.app.push_screen(
                ConfirmDialog(f"Cancel “{booking['title']}”, {when}?", "Cancel it"), confirmed
            )

    def action_move(self) -> None:
        """Move the chosen booking (for a series, asking which occurrences)."""
        booking = self._chosen()
        if booking is not None:
            self._with_scope(booking, "Move", lambda scope: self._move(booking, scope))

    def _move(self, booking: dict[str, Any], scope: Scope) -> None:
        """Open the move form, which checks the move as it is typed."""

        def moved(rows: list[dict[str, Any]] | None) -> None:
            if rows:
                self.notify(f"{len(rows)} moved here: pending until the next sync", title="Move")
                self.compax.changed()

        self.app.push_screen(MoveForm(booking, scope), moved)
