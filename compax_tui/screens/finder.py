"""The room finder: filter rooms by building, kind, seats, features and rating, or find the
rooms free for a time, best rated first if asked; Enter opens the chosen room's availability
grid, and r rates it.

It is the first screen drawn, before the engine is open (see ``compax_tui.app``), so it
imports the engine's modules (the schemas, time parsing, the grid) only where it uses them,
which is after the replica is open.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any, ClassVar

from pydantic import ValidationError
from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Horizontal
from textual.message import Message
from textual.suggester import SuggestFromList
from textual.widgets import DataTable, Footer, Input, Label, Select, Static
from textual.worker import get_current_worker

from compax_tui.screens.base import CompaxScreen, cut, plain_message, span
from compax_tui.widgets.status_bar import NavBar, StatusBar
from sync.errors import CompaxError, FieldError, ValidationFailed, field_errors
from sync.lookups import seats_text
from sync.rating_rules import rating_label


@dataclass(frozen=True)
class Filters:
    """The finder's inputs as typed."""

    building: str | None
    kind: str | None
    capacity: str
    features: str
    free_from: str
    free_for: str
    min_rating: str | None = None
    order: str | None = None


class RoomsFound(Message):
    """A search finished: the rooms, the window searched (if any), a line to show, and the
    number of the search (an older one's answer may arrive after a newer one's)."""

    def __init__(
        self,
        rooms: list[dict[str, Any]],
        window: tuple[datetime, datetime] | None,
        note: str,
        search: int,
    ) -> None:
        super().__init__()
        self.rooms, self.window, self.note, self.search = rooms, window, note, search


class FinderScreen(CompaxScreen):
    """Filters above, matching rooms below; the search reruns as you type."""

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("ctrl+f", "focus_filters", "Filters"),
        Binding("ctrl+l", "focus_results", "Results"),
        Binding("r", "rate", "Rate room"),
        Binding("i", "room_issues", "Problems"),
        Binding("p", "report_problem", "Report"),
    ]

    def __init__(self) -> None:
        super().__init__()
        self.window: tuple[datetime, datetime] | None = None
        self._kinds_offered = False
        self._searches = 0

    def compose(self) -> ComposeResult:
        yield StatusBar()
        yield NavBar()
        with Horizontal(classes="filters"):
            yield Label("Building")
            yield Select[str]([], prompt="any", id="building", compact=True)
            yield Label("Kind")
            yield Select[str]([], prompt="any", id="kind", compact=True)
            yield Label("Seats ≥")
            yield Input(id="capacity", type="integer", placeholder="any", compact=True)
        with Horizontal(classes="filters"):
            yield Label("Features")
            yield Input(id="features", placeholder="projector, ac", compact=True)
            yield Label("Free from")
            yield Input(id="free-from", placeholder="tomorrow 10:00", compact=True)
            yield Label("for")
            yield Input(id="free-for", placeholder="1h", compact=True)
        with Horizontal(classes="filters"):
            yield Label("Rating ≥")
            yield Select[str](MIN_RATINGS, prompt="any", id="min-rating", compact=True)
            yield Label("Order")
            yield Select[str](
                [("best rated first", "rating")], prompt="as usual", id="order", compact=True
            )
        yield Static("Opening this profile's replica…", id="finder-note", classes="note")
        table: DataTable[str] = DataTable(id="rooms", cursor_type="row", zebra_stripes=True)
        yield table
        yield Footer(compact=True, show_command_palette=False)

    def on_mount(self) -> None:
        super().on_mount()
        table = self.query_one("#rooms", DataTable)
        table.add_column("Room", width=FINDER_ROOM)
        table.add_column("Kind", width=13)
        table.add_column("Seats", width=5)
        table.add_column("Features", width=23)
        table.add_column("Rating", width=12)
        table.add_column("!", width=3)
        table.focus()

    def reload(self) -> None:
        """Offer the kinds of room, the replica's buildings and features, and search again."""
        from sync.vocabulary import RoomKind

        if not self._kinds_offered:
            kinds = [(kind.value.replace("_", " "), kind.value) for kind in RoomKind]
            self.query_one("#kind", Select).set_options(kinds)
            self._kinds_offered = True
        reads = self.compax.engine.reads
        buildings = self.query_one("#building", Select)
        chosen = buildings.value
        buildings.set_options([(b["code"], b["code"]) for b in reads.buildings()])
        if chosen is not Select.NULL:
            buildings.value = chosen
        self.query_one("#features", Input).suggester = SuggestFromList(
            reads.features(), case_sensitive=False
        )
        self.search()

    @on(Input.Changed)
    @on(Select.Changed)
    def search(self) -> None:
        """Search again with the filters as they are now (once the replica is open)."""
        if not self.is_mounted or not self.compax.ready:
            return

        def value(selector: str) -> str | None:
            chosen = self.query_one(selector, Select).value
            return None if chosen is Select.NULL else str(chosen)

        self._searches += 1
        self._search(
            self._searches,
            Filters(
                value("#building"),
                value("#kind"),
                self.query_one("#capacity", Input).value,
                self.query_one("#features", Input).value,
                self.query_one("#free-from", Input).value,
                self.query_one("#free-for", Input).value,
                value("#min-rating"),
                value("#order"),
            ),
        )

    @work(thread=True, exclusive=True, group="finder", exit_on_error=False)
    def _search(self, number: int, filters: Filters) -> None:
        """Read the matching rooms from the replica, unless the app is closing it; never
        touches a widget."""
        with self.compax.engine_in_use() as usable:
            if usable:
                self._search_replica(number, filters)

    def _search_replica(self, number: int, filters: Filters) -> None:
        from sync.rating_rules import by_rating
        from sync.schemas import RoomQuery

        engine = self.compax.engine
        try:
            query = RoomQuery.model_validate(
                {
                    "building": filters.building,
                    "kind": filters.kind,
                    "capacity": filters.capacity or None,
                    "features": filters.features,
                }
            )
            window = self._window(filters)
            if window is None:
                rooms = engine.reads.rooms(
                    building=query.building,
                    kind=query.kind,
                    capacity=query.capacity,
                    features=query.features,
                    limit=500,
                )
                where = ""
            else:
                rooms = engine.reads.free_rooms(
                    *window,
                    building=query.building,
                    kind=query.kind,
                    capacity=query.capacity,
                    features=query.features,
                    limit=500,
                )
                where = f" free {span(*window, engine.reads.zone())}, smallest first"
            best_first = filters.order == "rating"
            rooms = by_rating(
                rooms,
                min_rating=float(filters.min_rating) if filters.min_rating else None,
                best_first=best_first,
            )
            if best_first:
                where = where.replace(", smallest first", "") + ", best rated first"
            note = f"{len(rooms)} room{'s' if len(rooms) != 1 else ''}{where}"
        except ValidationError as error:
            rooms, window = [], None
            note = _in_words(field_errors(error))
        except ValidationFailed as error:
            rooms, window = [], None
            note = _in_words(error.errors)
        except CompaxError as error:
            rooms, window, note = [], None, error.detail
        if not get_current_worker().is_cancelled:
            self.post_message(RoomsFound(rooms, window, note, number))

    def _window(self, filters: Filters) -> tuple[datetime, datetime] | None:
        """The "free from … for …" window, or ``None`` when neither is given."""
        from sync.when import parse_duration, parse_when

        if not filters.free_from.strip() and not filters.free_for.strip():
            return None
        zone, now = self.compax.engine.reads.zone(), self.compax.clock()
        start = parse_when(filters.free_from or "", zone, now, "free from")
        return start, start + parse_duration(filters.free_for or "", "for")

    @on(RoomsFound)
    def _show(self, message: RoomsFound) -> None:
        if message.search != self._searches:
            return
        self.window = message.window
        note = self.query_one("#finder-note", Static)
        note.update(message.note)
        note.set_class(not message.rooms and ":" in message.note, "error")
        from compax_tui.screens.issues import issue_mark

        table = self.query_one("#rooms", DataTable)
        table.clear()
        for room in message.rooms:
            table.add_row(
                cut(f"{room['building']}/{room['code']}", FINDER_ROOM),
                room["kind"].replace("_", " "),
                seats_text(room["capacity"]),
                ", ".join(room["features"]),
                rating_label(room.get("rating_count", 0), room.get("rating_total", 0)),
                issue_mark(room),
                key=str(room["id"]),
            )

    @on(Input.Submitted)
    def action_focus_results(self) -> None:
        """Go to the results table."""
        self.query_one("#rooms", DataTable).focus()

    def action_focus_filters(self) -> None:
        """Go to the first filter."""
        self.query_one("#building", Select).focus()

    def action_rate(self) -> None:
        """Rate the room under the cursor (queued, offline too)."""
        from compax_tui.screens.rating import rate_room

        table = self.query_one("#rooms", DataTable)
        if not self.compax.ready or table.row_count == 0:
            return
        row_key, _ = table.coordinate_to_cell_key(table.cursor_coordinate)
        room = self.compax.engine.reads.room(str(row_key.value))
        if room is not None:
            rate_room(self, room)

    def _chosen_room(self) -> tuple[int, str] | None:
        """The room under the results' cursor: its id and label."""
        table = self.query_one("#rooms", DataTable)
        if not table.row_count:
            self.notify("No room chosen", severity="warning")
            return None
        row = table.coordinate_to_cell_key(table.cursor_coordinate).row_key
        return int(str(row.value)), str(table.get_row(row)[0])

    def action_room_issues(self) -> None:
        """Show the chosen room's open problems (from the server)."""
        from compax_tui.screens.issues import RoomIssuesDialog

        chosen = self._chosen_room()
        if chosen is not None:
            self.app.push_screen(RoomIssuesDialog(*chosen))

    def action_report_problem(self) -> None:
        """Report a problem with the chosen room; works offline."""
        from compax_tui.screens.issues import report_problem

        chosen = self._chosen_room()
        if chosen is not None:
            report_problem(self, *chosen)

    @on(DataTable.RowSelected, "#rooms")
    def _open(self, event: DataTable.RowSelected) -> None:
        from compax_tui.screens.grid import GridTarget

        room_id = int(str(event.row_key.value))
        day = (self.window[0] if self.window else self.compax.clock()).astimezone(self.compax.zone)
        self.compax.open_grid(GridTarget(day.date(), room_id=room_id, mark=self.window))


#: The least average ratings the finder offers to filter by.
MIN_RATINGS = [(f"★ {value}", value) for value in ("3", "3.5", "4", "4.5")]

#: The finder's filter labels, by the field names its errors carry.
FILTER_LABELS = {"capacity": "Seats", "features": "Features", "building": "Building",
                 "kind": "Kind", "free from": "Free from", "for": "For"}  # fmt: skip


def _in_words(errors: list[FieldError]) -> str:
    """Bad filters as the finder shows them: ``Seats: must be a whole number``."""
    return "; ".join(
        f"{FILTER_LABELS.get(e.field.split('[')[0], e.field)}: {plain_message(e.message)}"
        for e in errors
    )


#: The width of the finder's Room column, at 80 columns beside the rating and problem marks;
#: a longer label is cut to it with an ellipsis (the grid's title names the room whole).
FINDER_ROOM = 10
