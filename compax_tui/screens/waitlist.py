"""The waitlist in the terminal UI: your entries (from the replica) with keys to accept or
decline an offer and to leave the line, and joining from the booking form when the slot is
taken. Every change talks to the server at once, through ``sync.waiting``."""

from __future__ import annotations

from collections.abc import Callable, Coroutine
from typing import Any, ClassVar

from pydantic import ValidationError
from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Vertical
from textual.widgets import DataTable, Static

from compax_tui.screens.base import CompaxModal, span
from sync.errors import ValidationFailed, field_errors
from sync.reads import instant_of
from sync.schemas import BookingCreate, SeriesCreate
from sync.waiting import Waitlist, entries
from sync.waitlist import WaitCreate

#: How each state of an entry looks in the list.
STATE_STYLES = {
    "waiting": "#d4a72c",
    "offered": "bold green",
    "booked": "green",
}


class WaitlistDialog(CompaxModal[None]):
    """Your waitlist entries, soonest first; a accepts an offer, d declines it, x leaves the
    line."""

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("a", "accept", "Accept offer"),
        Binding("d", "decline", "Decline offer"),
        Binding("x", "withdraw", "Leave the line"),
        Binding("escape", "dismiss(None)", "Close"),
    ]

    def compose(self) -> ComposeResult:
        with Vertical(classes="dialog", id="waitlist"):
            yield Static("Your waitlist", classes="dialog-title")
            table: DataTable[str | Text] = DataTable(id="entries", cursor_type="row")
            table.add_column("When", width=22)
            table.add_column("Where", width=8)
            table.add_column("State", width=8)
            table.add_column("Ends", width=9)
            table.add_column("Title", width=28)
            yield table
            yield Static(" a accepts an offer, d declines it, x leaves the line, Esc closes",
                         classes="note")  # fmt: skip

    def on_mount(self) -> None:
        self.reload()
        self.query_one("#entries", DataTable).focus()

    def reload(self) -> None:
        """List the entries again from the replica."""
        zone, reads = self.compax.zone, self.compax.engine.reads
        table = self.query_one("#entries", DataTable)
        table.clear()
        for entry in entries(self.compax.engine):
            room = reads.room(entry["room_id"]) if entry["room_id"] else None
            where = f"{room['building']}/{room['code']}" if room else "any room"
            ends = entry["offer_expires_at"]
            state = entry["state"]
            table.add_row(
                span(instant_of(entry["start"]), instant_of(entry["end"]), zone),
                where,
                Text(state, STATE_STYLES.get(state, "dim")),
                f"{instant_of(ends).astimezone(zone):%a %H:%M}" if ends else "",
                entry["title"],
                key=str(entry["id"]),
            )

    def _chosen(self) -> str | None:
        table = self.query_one("#entries", DataTable)
        if not table.row_count:
            self.notify("No entry chosen", severity="warning")
            return None
        return str(table.coordinate_to_cell_key(table.cursor_coordinate).row_key.value)

    def _send(self, verb: str, call: Callable[[Waitlist, str], Coroutine[Any, Any, Any]]) -> None:
        entry_id = self._chosen()
        if entry_id is None:
            return
        waitlist = Waitlist(self.compax.engine)

        def done(entry: dict[str, Any]) -> None:
            self.notify(f"The entry is {entry['state']} now", title=verb)
            self.compax.changed()
            self.reload()

        self.compax.call_server(self, lambda: call(waitlist, entry_id), done)

    def action_accept(self) -> None:
        """Keep the booking offered for the chosen entry."""
        self._send("Accepted", Waitlist.accept)

    def action_decline(self) -> None:
        """Leave the booking offered for the chosen entry to the next in line."""
        self._send("Declined", Waitlist.decline)

    def action_withdraw(self) -> None:
        """Leave the line (an offer held is given up)."""
        self._send("Left the line", Waitlist.withdraw)


def join_waitlist(form: CompaxModal[Any], data: Callable[[], BookingCreate | SeriesCreate]) -> None:
    """From a booking form whose slot is taken: wait for that slot, as the form stands; the
    form closes once the server has the entry."""
    try:
        booking = data()
    except ValidationError as error:
        form.compax.report(ValidationFailed(field_errors(error)))
        return
    except ValidationFailed as error:
        form.compax.report(error)
        return
    if isinstance(booking, SeriesCreate):
        form.notify("Only a single booking can wait; untick the repeat", severity="warning")
        return
    request = WaitCreate(
        room_id=booking.room_id,
        start=booking.start,
        end=booking.end,
        title=booking.title,
        purpose=booking.purpose,
        attendees=booking.attendees,
    )

    def done(entry: dict[str, Any]) -> None:
        form.notify("You will be told when it frees (F4, then w, lists it)", title="Waiting")
        form.compax.changed()
        form.finish(None)

    form.compax.call_server(form, lambda: Waitlist(form.compax.engine).join(request), done)
