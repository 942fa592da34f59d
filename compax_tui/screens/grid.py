"""The availability grid screen: a room's or a building's day or week, read from the replica;
choosing a free range opens the booking form."""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import date, datetime, timedelta
from typing import Any, ClassVar

from rich.text import Text
from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.message import Message
from textual.widgets import Footer, Static
from textual.worker import get_current_worker

from compax_tui.screens.base import CompaxScreen, cut, span
from compax_tui.screens.booking_form import BookingForm
from compax_tui.screens.dialogs import FormDialog, FormField
from compax_tui.widgets.slot_grid import Cursor, SlotGridView
from compax_tui.widgets.status_bar import NavBar, StatusBar
from sync.errors import CompaxError, ValidationFailed
from sync.lookups import seats_text
from sync.reads import SlotGrid

#: Minutes a slot lasts: half hours, except a building's week, which is drawn by the hour.
SLOT_MINUTES, WEEK_OF_BUILDING_SLOT_MINUTES = 30, 60


@dataclass(frozen=True)
class GridTarget:
    """What the grid shows: a room or a building, for the day or the week (from Monday) of
    ``day``; ``mark`` pre-selects a range (the finder's "free from … for …")."""

    day: date
    room_id: int | None = None
    building: str | None = None
    week: bool = True
    mark: tuple[datetime, datetime] | None = None

    @property
    def first_day(self) -> date:
        """The first day shown: the Monday of the week, or the day."""
        return self.day - timedelta(days=self.day.weekday()) if self.week else self.day

    @property
    def days(self) -> int:
        """How many days are shown."""
        return 7 if self.week else 1


class GridLoaded(Message):
    """The grid of ``target`` was read from the replica (or could not be: ``error``)."""

    def __init__(
        self, target: GridTarget, grid: SlotGrid | None, error: CompaxError | None
    ) -> None:
        super().__init__()
        self.target, self.grid, self.error = target, grid, error


class GridScreen(CompaxScreen):
    """Title and legend above the grid, the slot under the cursor below it."""

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("w", "toggle_week", "Day/week"),
        Binding("b", "toggle_building", "Building"),
        Binding("left_square_bracket", "shift(-1)", "Prev", show=False),
        Binding("right_square_bracket", "shift(1)", "Next", show=False),
        Binding("t", "today", "Today"),
        Binding("g", "go_to", "Go to"),
        Binding("i", "room_issues", "Problems", show=False),
        Binding("p", "report_problem", "Report", show=False),
    ]

    def __init__(self) -> None:
        super().__init__()
        self.target: GridTarget | None = None
        self.grid: SlotGrid | None = None
        self.room: dict[str, Any] | None = None
        self.focus_at: tuple[int | None, datetime] | None = None

    def compose(self) -> ComposeResult:
        yield StatusBar()
        yield NavBar()
        yield Static(id="grid-title", classes="title")
        yield Static(id="legend", classes="note")
        yield SlotGridView(id="grid")
        yield Static(id="grid-detail", classes="note")
        yield Footer(compact=True, show_command_palette=False)

    def on_mount(self) -> None:
        super().on_mount()
        self.query_one("#legend", Static).update(_legend(self.query_one(SlotGridView)))

    def reload(self) -> None:
        """Read the grid again: the replica changed."""
        self.load()

    def load(self) -> None:
        """Read the grid of the app's target (a building of the campus if there is none)."""
        target = self.compax.grid_target
        if target is None:
            buildings = self.compax.engine.reads.buildings()
            if not buildings:
                self.query_one("#grid-title", Static).update(
                    "No rooms yet: sync once online (ctrl+r)"
                )
                return
            target = GridTarget(self.compax.today(), building=buildings[0]["code"], week=False)
            self.compax.grid_target = target
        self._load(target)

    @work(thread=True, exclusive=True, group="grid", exit_on_error=False)
    def _load(self, target: GridTarget) -> None:
        """Cut the target's days into slots; never touches a widget, and keeps the replica
        open while it reads (``engine_in_use``)."""
        with self.compax.engine_in_use() as usable:
            if usable:
                self._read_grid(target)

    def _read_grid(self, target: GridTarget) -> None:
        reads = self.compax.engine.reads
        try:
            if target.room_id is not None:
                grid = reads.room_slots(target.room_id, target.first_day, target.days, SLOT_MINUTES)
            else:
                minutes = WEEK_OF_BUILDING_SLOT_MINUTES if target.week else SLOT_MINUTES
                grid = reads.building_slots(
                    target.building or "", target.first_day, target.days, minutes
                )
        except CompaxError as error:
            self.post_message(GridLoaded(target, None, error))
            return
        if not get_current_worker().is_cancelled:
            self.post_message(GridLoaded(target, grid, None))

    @on(GridLoaded)
    def _show(self, message: GridLoaded) -> None:
        if message.target != self.compax.grid_target:
            return
        if message.grid is None:
            assert message.error is not None
            self.compax.report(message.error)
            return
        view = self.query_one(SlotGridView)
        same_shape = (
            self.grid is not None
            and self.target is not None
            and (self.target.room_id, self.target.building, self.target.week)
            == (message.target.room_id, message.target.building, message.target.week)
        )
        cursor, anchor = (view.cursor, view.mark_start) if same_shape else (None, None)
        self.target, self.grid = message.target, message.grid
        target, grid = message.target, message.grid
        reads = self.compax.engine.reads
        self.room = None if target.room_id is None else reads.room(target.room_id)
        if target.mark is not None:
            cursor, anchor = _marked(grid, target.room_id, *target.mark)
            self.compax.grid_target = replace(target, mark=None)
            self.target = self.compax.grid_target
        elif self.focus_at is not None:
            cursor, anchor = _at(grid, *self.focus_at), None
        elif cursor is None:
            cursor = _at(grid, target.room_id, self.compax.clock())
        self.focus_at = None
        view.show(grid, self._labels(grid), self._cell_width(grid), cursor, anchor)
        self.query_one("#grid-title", Static).update(self._title(grid), layout=False)
        if not view.has_focus:
            view.focus()

    def on_resize(self) -> None:
        """Draw the grid again at the new width (wider or narrower slots), keeping the
        cursor and the marked range."""
        if self.grid is None:
            return
        view = self.query_one(SlotGridView)
        cell_width = self._cell_width(self.grid)
        if cell_width != view.cell_width:
            view.show(self.grid, view.labels, cell_width, view.cursor, view.mark_start)

    def _labels(self, grid: SlotGrid) -> list[str]:
        """A lane's label: its day (a room's week), its room (a room's day), or its room's
        code and seats, with ✕ when the room is closed to booking and ⚠ and the count of its
        unresolved problem reports (a building); a long code is cut (``_short``; in a building,
        to keep the label within ``LANE_LABEL``), the title above the grid names it whole."""
        from compax_tui.screens.issues import issue_mark

        if self.target is not None and self.target.room_id is not None and self.target.week:
            return [f"{lane.day:%a %d}" for lane in grid.lanes]
        if self.target is not None and self.target.room_id is not None:
            return [f"{lane.room['building']}/{_short(lane.room['code'])}" for lane in grid.lanes]
        labels = []
        for lane in grid.lanes:
            rest = (
                f"{seats_text(lane.room['capacity']):>4}"
                + ("" if lane.room.get("bookable", True) else " ✕")
                + (f" {issue_mark(lane.room)}" if lane.room.get("open_issues") else "")
            )
            code = cut(lane.room["code"], max(min(LANE_CODE, LANE_LABEL - len(rest)), 3))
            labels.append(f"{code:<5}{rest}")
        return labels

    def _cell_width(self, grid: SlotGrid) -> int:
        """As wide as the screen allows: at least 2 columns a slot, so that a day fits 80
        columns (1 for a building's week)."""
        labels = max((len(label) for label in self._labels(grid)), default=6) + 2
        room = (self.size.width or 80) - labels - 1
        least = 1 if len({day for day, _ in grid.columns}) > 1 else 2
        return max(least, min(8, room // max(len(grid.columns), 1)))

    def _title(self, grid: SlotGrid) -> Text:
        target = self.target
        assert target is not None
        title = Text(no_wrap=True, overflow="ellipsis")
        if self.room is not None:
            room = self.room
            title.append(f" {room['building']}/{room['code']}", "bold")
            details = [room["kind"].replace("_", " "), f"{seats_text(room['capacity'])} seats"]
            if not room.get("bookable", True):
                details.insert(0, "✕ not bookable")
            if room.get("open_issues"):
                details.insert(0, f"⚠{room['open_issues']} open problems (i)")
            title.append(" · " + " · ".join(details + room["features"][:3]))
        else:
            title.append(f" {target.building}", "bold")
            title.append(f" · {len(grid.lanes)} rooms")
        when = (
            f"week of {target.first_day:%a %d %b %Y}"
            if target.week
            else f"{target.day:%a %d %b %Y}"
        )
        title.append(f"  │  {when}", "bold")
        return title

    # --- the cursor and choices -----------------------------------------------------------

    @on(SlotGridView.CursorMoved)
    def _describe(self, message: SlotGridView.CursorMoved) -> None:
        """Say what is under the cursor: the booking and its owner (where the replica has
        them), a closure, a room closed to booking, or the marked range."""
        zone, slot = self.compax.zone, message.slot
        room = f"{message.lane.room['building']}/{message.lane.room['code']}"
        if message.marked is not None:
            first, last = message.marked
            hours = (last.end - first.start).total_seconds() / 3600
            text = f" {room} {span(first.start, last.end, zone)} ({hours:g} h) marked:"
            text += " Enter books, Esc unmarks"
        elif slot.state == "booked":
            booking = self.compax.engine.reads.booking(slot.booking_id or "")
            owner = f" · {booking['owner']}" if booking and booking.get("owner") else ""
            text = f" {room} {span(slot.start, slot.end, zone)}: {slot.title}{owner}"
            if slot.pending:
                text += " · pending"
            if slot.awaiting:
                text += " · ? awaiting approval"
            if slot.closure:
                text += f" · ! in a closure: {slot.closure}"
        elif not message.lane.room.get("bookable", True):
            text = f" {room} {span(slot.start, slot.end, zone)}: ✕ not bookable"
        elif slot.state == "blackout":
            text = f" {room} {span(slot.start, slot.end, zone)}: closed, {slot.title}"
        elif slot.state == "closed":
            text = f" {room} {span(slot.start, slot.end, zone)}: outside opening hours"
        else:
            text = f" {room} {span(slot.start, slot.end, zone)} free: Enter books,"
            text += " space marks"
        self.query_one("#grid-detail", Static).update(text, layout=False)

    @on(SlotGridView.RangeChosen)
    def _book(self, message: SlotGridView.RangeChosen) -> None:
        form = BookingForm(message.lane.room, message.start, message.end)
        self.app.push_screen(form, self._booked)

    def _booked(self, booked: list[dict[str, Any]] | None) -> None:
        if booked:
            self.query_one(SlotGridView).mark_start = None
            self.compax.changed()

    @on(SlotGridView.BookingChosen)
    def _open_booking(self, message: SlotGridView.BookingChosen) -> None:
        booking_id = message.slot.booking_id
        booking = self.compax.engine.reads.booking(booking_id) if booking_id else None
        user = self.compax.engine.user or {}
        if booking is not None and booking.get("owner_id") == user.get("id"):
            self.compax.switch_mode("bookings")
            self.compax.screen.post_message(ShowBooking(str(booking["id"])))
        else:
            owner = f" ({booking['owner']})" if booking and booking.get("owner") else ""
            self.notify(f"{message.slot.title}{owner}", title="Booked")

    @on(SlotGridView.Refused)
    def _refused(self, message: SlotGridView.Refused) -> None:
        self.notify(message.reason, severity="warning")

    # --- views ----------------------------------------------------------------------------

    def _retarget(self, shift: timedelta = timedelta(0), **changes: Any) -> None:
        """Show another view of the grid, with the cursor on the same room and time (moved
        by ``shift``) when the new view has them."""
        if self.target is None:
            return
        view = self.query_one(SlotGridView)
        if view.current is not None:
            lane, slot = view.current
            self.focus_at = (int(lane.room["id"]), slot.start + shift)
        self.compax.grid_target = replace(self.target, mark=None, **changes)
        self.load()

    def action_toggle_week(self) -> None:
        """Switch between the day and its week."""
        if self.target is not None:
            self._retarget(week=not self.target.week)

    def action_toggle_building(self) -> None:
        """From a room to its building's rooms, and back to the room under the cursor."""
        view = self.query_one(SlotGridView)
        if self.target is None or view.current is None:
            return
        room = view.current[0].room
        if self.target.room_id is not None:
            self._retarget(room_id=None, building=room["building"])
        else:
            self._retarget(room_id=int(room["id"]), building=None)

    def _room_here(self) -> tuple[int, str] | None:
        """The room under the cursor: its id and label."""
        view = self.query_one(SlotGridView)
        if view.current is None:
            return None
        room = view.current[0].room
        return int(room["id"]), f"{room['building']}/{room['code']}"

    def action_room_issues(self) -> None:
        """Show the open problems of the room under the cursor (from the server)."""
        from compax_tui.screens.issues import RoomIssuesDialog

        here = self._room_here()
        if here is not None:
            self.app.push_screen(RoomIssuesDialog(*here))

    def action_report_problem(self) -> None:
        """Report a problem with the room under the cursor; works offline."""
        from compax_tui.screens.issues import report_problem

        here = self._room_here()
        if here is not None:
            report_problem(self, *here)

    def action_shift(self, steps: int) -> None:
        """Show the previous or next day or week."""
        if self.target is not None:
            days = timedelta(days=steps * self.target.days)
            self._retarget(days, day=self.target.day + days)

    def action_today(self) -> None:
        """Show today (or this week)."""
        self._retarget(day=self.compax.today())

    def action_go_to(self) -> None:
        """Ask for a room (``PB/101``) or a building (``PB``) and show it, on the same day
        or week and at the same time."""
        if self.target is None:
            return
        reads = self.compax.engine.reads

        def find(values: dict[str, str | bool]) -> dict[str, Any]:
            typed = str(values["place"]).strip()
            building, slash, code = typed.partition("/")
            if slash:
                room = reads.room_by_code(building, code)
                if room is None:
                    raise ValidationFailed.single("place", f"no room {typed.upper()} here")
                return {"room_id": int(room["id"]), "building": None}
            codes = {b["code"].upper() for b in reads.buildings()}
            if typed.upper() not in codes:
                known = ", ".join(sorted(codes)) or "none yet"
                raise ValidationFailed.single("place", f"no building {typed!r}; known: {known}")
            return {"room_id": None, "building": typed.upper()}

        def chosen(changes: dict[str, Any] | None) -> None:
            if changes is not None:
                self._retarget(**changes)

        field = FormField("place", "Room", placeholder="PB/101, or PB for a building")
        self.app.push_screen(FormDialog("Go to a room or building", [field], find, "Go"), chosen)


class ShowBooking(Message):
    """Ask the bookings screen to put its cursor on one booking."""

    def __init__(self, booking_id: str) -> None:
        super().__init__()
        self.booking_id = booking_id


def _marked(
    grid: SlotGrid, room_id: int | None, start: datetime, end: datetime
) -> tuple[Cursor, int | None]:
    """The cursor on the last slot of ``[start, end)`` and the anchor on its first."""
    for lane_index, lane in enumerate(grid.lanes):
        if room_id is not None and lane.room["id"] != room_id:
            continue
        first = [i for i, s in enumerate(lane.slots) if s.start <= start < s.end]
        last = [i for i, s in enumerate(lane.slots) if s.start < end <= s.end]
        if first and last:
            return Cursor(lane_index, last[0]), first[0]
    return _at(grid, room_id, start), None


def _at(grid: SlotGrid, room_id: int | None, moment: datetime) -> Cursor:
    """The cursor on the slot holding ``moment`` in the room's lane (in the first lane when
    the grid has no such room), else the first slot."""
    for lane_index, lane in enumerate(grid.lanes):
        if room_id is not None and lane.room["id"] != room_id:
            continue
        for slot_index, slot in enumerate(lane.slots):
            if slot.start <= moment < slot.end:
                return Cursor(lane_index, slot_index)
    if room_id is not None and all(lane.room["id"] != room_id for lane in grid.lanes):
        return _at(grid, None, moment)
    return Cursor()


def _legend(view: SlotGridView) -> Text:
    """What the grid's colours mean, drawn in the grid's own styles."""
    legend = Text(no_wrap=True, overflow="ellipsis")
    legend.append(" ")
    for swatch, name, words in (
        ("  ", "booked", " booked "),
        (" ⧗ ", "pending", " pending "),
        ("  ", "blackout", " closure "),
        (" ! ", "under-closure", " booked+closed "),
        ("╱╱", "closed", " not open "),
        ("··", "closed", " not bookable"),
    ):
        legend.append(swatch, view.get_component_rich_style(f"slot-grid--{name}", partial=False))
        legend.append(words)
    return legend


#: The most of a room code a lane's label shows, so that the slots keep their room.
LANE_CODE = 12
#: The most a building lane's label (code, seats, ✕, ⚠ count) takes, so that a day's slots at
#: 2 columns each still fit 80 columns: the code is cut further when the rest is long.
LANE_LABEL = 17


def _short(code: str) -> str:
    """``code`` cut to ``LANE_CODE`` characters, with an ellipsis when cut."""
    return cut(code, LANE_CODE)
