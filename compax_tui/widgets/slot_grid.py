"""The availability grid: rooms (or days) down the side, time slots across, drawn line by line.

It draws a ``sync.reads.SlotGrid`` through the Line API, so only the visible lines are
rendered and a building's week (50 rooms × 7 days) draws as fast as a single room's day. The
header rows and the label column stay put while the slots scroll under them.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from itertools import pairwise
from typing import ClassVar

from rich.cells import cell_len, chop_cells, set_cell_size
from rich.segment import Segment
from rich.style import Style
from textual import events
from textual.binding import Binding, BindingType
from textual.geometry import Size
from textual.message import Message
from textual.reactive import reactive
from textual.scroll_view import ScrollView
from textual.strip import Strip

from sync.reads import Lane, Slot, SlotGrid


@dataclass(frozen=True)
class Cursor:
    """Where the grid cursor is: a lane (row) and a slot (column)."""

    lane: int = 0
    slot: int = 0


class SlotGridView(ScrollView, can_focus=True):
    """Keyboard-first availability grid: arrows move, shift+arrows or space mark a range,
    Enter books the marked range (or opens the booking under the cursor)."""

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("left", "move(0, -1)", "Earlier", show=False),
        Binding("right", "move(0, 1)", "Later", show=False),
        Binding("up", "move(-1, 0)", "Up", show=False),
        Binding("down", "move(1, 0)", "Down", show=False),
        Binding("shift+left", "extend(-1)", "Select earlier", show=False),
        Binding("shift+right", "extend(1)", "Select later", show=False),
        Binding("home", "jump(0)", "First slot", show=False),
        Binding("end", "jump(-1)", "Last slot", show=False),
        Binding("pageup", "page(-1)", "Page up", show=False),
        Binding("pagedown", "page(1)", "Page down", show=False),
        Binding("space", "mark", "Mark"),
        Binding("enter", "choose", "Book"),
        Binding("escape", "unmark", "Unmark", show=False),
    ]

    COMPONENT_CLASSES: ClassVar[set[str]] = {
        "slot-grid--free",
        "slot-grid--booked",
        "slot-grid--pending",
        "slot-grid--blackout",
        "slot-grid--under-closure",
        "slot-grid--closed",
        "slot-grid--cursor",
        "slot-grid--selected",
        "slot-grid--header",
        "slot-grid--label",
        "slot-grid--label-cursor",
    }

    DEFAULT_CSS = """
    SlotGridView {
        height: 1fr;
        scrollbar-size: 1 1;
    }
    SlotGridView > .slot-grid--under-closure {
        background: #8b1e2d;
        color: #ffd166;
        text-style: bold;
    }
    """

    cursor: reactive[Cursor] = reactive(Cursor, always_update=True)
    mark_start: reactive[int | None] = reactive(None)

    class RangeChosen(Message):
        """A range of one lane was chosen for booking; the booking form checks it and shows
        any clash with its alternatives."""

        def __init__(self, lane: Lane, start: datetime, end: datetime) -> None:
            super().__init__()
            self.lane, self.start, self.end = lane, start, end

    class BookingChosen(Message):
        """A booked slot was chosen: its booking should open."""

        def __init__(self, lane: Lane, slot: Slot) -> None:
            super().__init__()
            self.lane, self.slot = lane, slot

    class CursorMoved(Message):
        """The cursor moved or the marked range changed (for the detail line)."""

        def __init__(self, lane: Lane, slot: Slot, marked: tuple[Slot, Slot] | None) -> None:
            super().__init__()
            self.lane, self.slot, self.marked = lane, slot, marked

    class Refused(Message):
        """A choice that is not one range of time (slots of two days), with why."""

        def __init__(self, reason: str) -> None:
            super().__init__()
            self.reason = reason

    def __init__(
        self, *, name: str | None = None, id: str | None = None, classes: str | None = None
    ) -> None:
        super().__init__(name=name, id=id, classes=classes)
        self.grid: SlotGrid | None = None
        self.labels: list[str] = []
        self.cell_width = 3
        self.label_width = 8
        self._styles: dict[str, Style] = {}
        self._boundaries: list[bool] = []
        # Drawn lanes by (lane, cursor slot on it, marked range on it): moving the cursor
        # redraws the one or two lanes it leaves and enters, not the whole grid.
        self._lanes: dict[tuple[int, int, int, int], Strip] = {}

    # --- data -----------------------------------------------------------------------------

    def show(
        self,
        grid: SlotGrid,
        labels: list[str],
        cell_width: int,
        cursor: Cursor | None = None,
        mark_start: int | None = None,
    ) -> None:
        """Draw ``grid`` with one label a lane; the cursor (and a marked range) as given."""
        self.grid, self.labels, self.cell_width = grid, labels, cell_width
        self._lanes.clear()
        self._boundaries = [self._boundary(column) for column in range(len(grid.columns))]
        self.label_width = max([cell_len(label) for label in labels] + [6]) + 1
        self.virtual_size = Size(
            self.label_width + len(grid.columns) * cell_width,
            self.header_height + len(grid.lanes),
        )
        self.mark_start = mark_start
        self.cursor = self._clamped(cursor or Cursor())
        self.call_after_refresh(self._scroll_to_cursor)

    @property
    def header_height(self) -> int:
        """Rows of headers: day names and hours, or hours alone."""
        return 2 if self.grid is not None and self._days_across else 1

    @property
    def _days_across(self) -> bool:
        assert self.grid is not None
        days = {day for day, _ in self.grid.columns}
        return len(days) > 1

    @property
    def current(self) -> tuple[Lane, Slot] | None:
        """The lane and slot under the cursor, if there is a grid."""
        if self.grid is None or not self.grid.lanes or not self.grid.columns:
            return None
        lane = self.grid.lanes[self.cursor.lane]
        return lane, lane.slots[self.cursor.slot]

    @property
    def marked(self) -> tuple[Slot, Slot] | None:
        """The first and last slot of the marked range in the cursor's lane, if any."""
        found = self.current
        if found is None or self.mark_start is None:
            return None
        lane = found[0]
        low, high = sorted((self.mark_start, self.cursor.slot))
        return lane.slots[low], lane.slots[high]

    def _clamped(self, cursor: Cursor) -> Cursor:
        if self.grid is None or not self.grid.lanes or not self.grid.columns:
            return Cursor()
        return Cursor(
            min(max(cursor.lane, 0), len(self.grid.lanes) - 1),
            min(max(cursor.slot, 0), len(self.grid.columns) - 1),
        )

    def watch_cursor(self, cursor: Cursor) -> None:
        self._scroll_to_cursor()
        self.refresh()
        found = self.current
        if found is not None:
            self.post_message(self.CursorMoved(found[0], found[1], self.marked))

    def watch_mark_start(self) -> None:
        self.refresh()

    # --- actions --------------------------------------------------------------------------

    def action_move(self, lanes: int, slots: int) -> None:
        """Move the cursor by lanes and slots; moving unmarks."""
        if lanes or self.mark_start is not None:
            self.mark_start = None
        self.cursor = self._clamped(Cursor(self.cursor.lane + lanes, self.cursor.slot + slots))

    def action_extend(self, slots: int) -> None:
        """Grow or shrink the marked range from where it started."""
        if self.mark_start is None:
            self.mark_start = self.cursor.slot
        self.cursor = self._clamped(Cursor(self.cursor.lane, self.cursor.slot + slots))

    def action_jump(self, slot: int) -> None:
        """The first (0) or last (-1) slot of the lane."""
        if self.grid is not None:
            target = slot if slot >= 0 else len(self.grid.columns) - 1
            self.cursor = self._clamped(Cursor(self.cursor.lane, target))

    def action_page(self, pages: int) -> None:
        """Move the cursor a screenful of lanes up or down."""
        step = max(self.size.height - self.header_height, 1)
        self.mark_start = None
        self.cursor = self._clamped(Cursor(self.cursor.lane + pages * step, self.cursor.slot))

    def action_mark(self) -> None:
        """Start a marked range at the cursor, or drop the one there is."""
        self.mark_start = None if self.mark_start is not None else self.cursor.slot
        self.cursor = self.cursor

    def action_unmark(self) -> None:
        """Drop the marked range."""
        self.mark_start = None
        self.cursor = self.cursor

    def action_choose(self) -> None:
        """Book the marked range or the slot (the form shows what clashes), or open the
        booking under the cursor."""
        found = self.current
        if found is None:
            return
        lane, slot = found
        first, last = self.marked or (slot, slot)
        if first is last and slot.state == "booked":
            self.post_message(self.BookingChosen(lane, slot))
            return
        low, high = lane.slots.index(first), lane.slots.index(last)
        chosen = lane.slots[low : high + 1]
        if any(a.end != b.start for a, b in pairwise(chosen)):
            self.post_message(self.Refused("Choose slots of one day"))
        else:
            self.post_message(self.RangeChosen(lane, first.start, last.end))

    # --- mouse ----------------------------------------------------------------------------

    def on_click(self, event: events.Click) -> None:
        """A click moves the cursor (shift extends the range; a double click chooses)."""
        offset = event.get_content_offset(self)
        if offset is None or self.grid is None:
            return
        x, y = offset
        if x < self.label_width or y < self.header_height:
            return
        lane = self.scroll_offset.y + y - self.header_height
        slot = (self.scroll_offset.x + x - self.label_width) // self.cell_width
        if lane >= len(self.grid.lanes) or slot >= len(self.grid.columns):
            return
        if event.shift and lane == self.cursor.lane:
            if self.mark_start is None:
                self.mark_start = self.cursor.slot
        else:
            self.mark_start = None
        self.cursor = Cursor(lane, slot)
        if event.chain >= 2:
            self.action_choose()

    # --- drawing --------------------------------------------------------------------------

    def _scroll_to_cursor(self) -> None:
        """Scroll so that the cursor's slot shows, above and left of any scrollbar."""
        visible = self.scrollable_content_region.size
        if self.grid is None or not visible.height:
            return
        rows = max(visible.height - self.header_height, 1)
        columns = max(visible.width - self.label_width, self.cell_width)
        x, y = self.scroll_offset
        if self.cursor.lane < y:
            y = self.cursor.lane
        elif self.cursor.lane >= y + rows:
            y = self.cursor.lane - rows + 1
        left = self.cursor.slot * self.cell_width
        if left < x:
            x = left
        elif left + self.cell_width > x + columns:
            x = left + self.cell_width - columns
        self.scroll_to(x, y, animate=False, immediate=True)

    def render_line(self, y: int) -> Strip:
        """Line ``y`` of the widget: a header, or a lane under the fixed label column."""
        width = self.size.width
        if self.grid is None or not self.grid.columns:
            return Strip.blank(width, self.rich_style)
        scroll_x, scroll_y = self.scroll_offset
        body_width = max(width - self.label_width, 0)
        if y < self.header_height:
            label = self._style("slot-grid--header")
            left = Segment(" " * self.label_width, label)
            body = self._header(y)
        else:
            index = scroll_y + y - self.header_height
            if index >= len(self.grid.lanes):
                return Strip.blank(width, self.rich_style)
            here = index == self.cursor.lane
            name = "slot-grid--label-cursor" if here else "slot-grid--label"
            text = set_cell_size(" " + self.labels[index], self.label_width)
            left = Segment(text, self._style(name))
            body = self._lane(index)
        cropped = body.crop(scroll_x, scroll_x + body_width)
        return Strip([left, *cropped], self.label_width + cropped.cell_length).adjust_cell_length(
            width, self.rich_style
        )

    def _style(self, name: str) -> Style:
        style = self._styles.get(name)
        if style is None:
            style = self._styles[name] = self.get_component_rich_style(name, partial=False)
        return style

    def notify_style_update(self) -> None:
        """The CSS or the theme changed: draw everything with the new styles."""
        self._styles.clear()
        self._lanes.clear()
        super().notify_style_update()

    def _header(self, row: int) -> Strip:
        """Day names (on the first of two rows, when days run across) or hours; a label is
        left out where it would run into the one before."""
        assert self.grid is not None
        width, columns = self.cell_width, self.grid.columns
        text = [" "] * (len(columns) * width)
        next_free, previous_day = 0, None
        per_day = len(columns) // max(len({day for day, _ in columns}), 1) * width
        for index, (day, at) in enumerate(columns):
            label = ""
            if row == 0 and self.header_height == 2:
                if day != previous_day and day is not None:
                    label = f"{day:%a %d %b}" if per_day > 11 else f"{day:%a %d}"
                previous_day = day
            elif at.minute == 0:
                label = f"{at:%H:%M}" if width * 60 // self.grid.slot_minutes >= 6 else f"{at:%H}"
            spot = index * width
            if label and spot >= next_free:
                label = label[: len(text) - spot]
                text[spot : spot + len(label)] = label
                next_free = spot + len(label) + 1
        return Strip([Segment("".join(text), self._style("slot-grid--header"))])

    def _boundary(self, column: int) -> bool:
        """Whether a free slot starts a day (days across) or an hour (wide slots): a faint
        rule there keeps the eye on the time."""
        assert self.grid is not None
        day, at = self.grid.columns[column]
        if self._days_across and self.cell_width < 3:
            return column > 0 and self.grid.columns[column - 1][0] != day
        return at.minute == 0

    def _lane(self, index: int) -> Strip:
        """One lane, drawn once for each place of the cursor and marked range on it."""
        low = high = cursor = -1
        if index == self.cursor.lane:
            cursor = self.cursor.slot
            if self.mark_start is not None:
                low, high = sorted((self.mark_start, self.cursor.slot))
        key = (index, cursor, low, high)
        strip = self._lanes.get(key)
        if strip is None:
            if len(self._lanes) > 4 * 1024:
                self._lanes.clear()
            strip = self._lanes[key] = self._draw_lane(index, cursor, low, high)
        return strip

    def _draw_lane(self, index: int, cursor: int, low: int, high: int) -> Strip:
        """One lane: runs of a booking or blackout carry its title, free slots a faint rule
        on the hour, closed hours a hatch; the cursor and a marked range drawn over them."""
        assert self.grid is not None
        lane, width = self.grid.lanes[index], self.cell_width
        bookable = lane.room.get("bookable", True)
        segments: list[Segment] = []
        texts: list[str] = []
        current = ""
        slots = lane.slots
        start = 0
        while start < len(slots):
            end = start + 1
            while end < len(slots) and _same_run(slots[end - 1], slots[end]):
                end += 1
            titled = _titled(slots[start], end - start, width)
            for column in range(start, end):
                slot = slots[column]
                if titled:
                    text = titled[column - start]
                elif slot.state == "closed":
                    text = "╱" * width
                elif not bookable:
                    text = "·" * width
                else:
                    text = ("▏" if self._boundaries[column] else " ") + " " * (width - 1)
                name = (
                    _style_name(slot) if bookable or slot.state != "free" else "slot-grid--closed"
                )
                if column == cursor:
                    name = "slot-grid--cursor"
                elif low <= column <= high:
                    name = "slot-grid--selected"
                if name != current and texts:
                    segments.append(Segment("".join(texts), self._style(current)))
                    texts = []
                current = name
                texts.append(text)
            start = end
        if texts:
            segments.append(Segment("".join(texts), self._style(current)))
        return Strip(segments, len(slots) * width)


def _same_run(previous: Slot, slot: Slot) -> bool:
    """Whether ``slot`` goes on the run of ``previous``: the same booking or blackout, and
    no gap in time between them."""
    if previous.end != slot.start or previous.state not in ("booked", "blackout"):
        return False
    return (slot.state, slot.booking_id, slot.title, slot.closure) == (
        previous.state,
        previous.booking_id,
        previous.title,
        previous.closure,
    )


def _titled(first: Slot, count: int, width: int) -> list[str]:
    """The text of each cell of a booking's or blackout's run: its title spread over them;
    nothing for free or closed runs."""
    if first.state not in ("booked", "blackout"):
        return []
    title = (
        ("! " if first.closure else "")
        + ("⧗ " if first.pending else "")
        + ("? " if first.awaiting else "")
        + first.title
    )
    parts = [set_cell_size(part, width) for part in chop_cells(" " + title, width)][:count]
    return parts + [" " * width] * (count - len(parts))


def _style_name(slot: Slot) -> str:
    if slot.state == "booked" and slot.closure:
        return "slot-grid--under-closure"
    if slot.state == "booked":
        return "slot-grid--pending" if slot.pending else "slot-grid--booked"
    return f"slot-grid--{slot.state}"
