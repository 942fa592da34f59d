"""The booking form: title, purpose, attendees and an optional weekly repeat, checked as you
type against the replica with the server's own rules, and saved offline as pending. Its live
check (the verdict, the bookings in the way and pickable alternatives) is ``CheckedForm``,
which the move form shares."""

from __future__ import annotations

from datetime import date, datetime, timedelta
from typing import Any, ClassVar

from pydantic import ValidationError
from textual import on
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Horizontal, Vertical
from textual.widgets import Button, Checkbox, Input, Label, OptionList, Select, Static
from textual.widgets.option_list import Option

from compax_tui.screens.base import CompaxModal, span
from compax_tui.screens.waitlist import join_waitlist
from sync.errors import CompaxError, FieldError, ValidationFailed, field_errors
from sync.lookups import seats_text
from sync.reads import instant_of
from sync.rules import WEEKDAYS
from sync.schemas import BookingCreate, SeriesCreate
from sync.vocabulary import Purpose
from sync.when import parse_duration, parse_when

#: Which error line under the form shows the errors of each schema field.
ERROR_LINE = {
    "start": "when",
    "end": "when",
    "title": "title",
    "purpose": "details",
    "attendees": "details",
    "weekdays": "repeat",
    "first_day": "repeat",
    "last_day": "repeat",
    "start_time": "when",
    "end_time": "when",
    "length": "when",
    "repeat": "repeat",
    "until": "repeat",
}


def length_text(length: timedelta) -> str:
    """A duration as ``sync.when.parse_duration`` reads it back: ``1h30m``, ``2h``, ``45m``."""
    hours, minutes = divmod(int(length.total_seconds()) // 60, 60)
    return (f"{hours}h" if hours else "") + (f"{minutes}m" if minutes or not hours else "")


class CheckedForm(CompaxModal[list[dict[str, Any]] | None]):
    """A form checked as you type: the verdict under it names the bookings in the way, and
    the alternatives the judge offers (other rooms then, other times here) can be picked,
    which fills the form (``take_room``, ``take_time``)."""

    #: Whether a slot found taken can be waited for from this form.
    waits = False

    DEFAULT_CSS = """
    CheckedForm #alternatives {
        height: auto;
        margin-bottom: 1;
        border: none;
        padding: 0;
    }
    """

    def compose_verdict(self) -> ComposeResult:
        """The verdict line and the list of alternatives (hidden until there are some)."""
        yield Static(id="check", classes="check")
        yield OptionList(id="alternatives", compact=True)

    def on_mount(self) -> None:
        self.query_one("#alternatives", OptionList).display = False

    def show_verdict(self, text: str, clash: bool, offered: dict[str, Any] | None = None) -> None:
        """Show ``text`` (in the clash colour when ``clash``) and the alternatives offered."""
        check = self.query_one("#check", Static)
        check.update(text)
        check.set_class(clash, "clash")
        options = self.query_one("#alternatives", OptionList)
        choices = _alternatives(offered or {}, self.compax.zone)
        if [str(option.id) for option in options.options] != [key for key, _ in choices]:
            options.clear_options()
            options.add_options([Option(label, id=key) for key, label in choices])
        options.display = bool(choices)
        options.styles.height = min(len(choices), 4) or None

    def show_clash(self, error: CompaxError) -> None:
        """The judge's refusal: why, what is in the way, and what else is free to pick."""
        zone = self.compax.zone
        lines = [f"✗ {error.detail}"]
        for booking in error.extra.get("conflicting", []):
            title = booking.get("title") or "(private)"
            start, end = instant_of(booking["start"]), instant_of(booking["end"])
            lines.append(f"  in the way: {title}, {span(start, end, zone)}")
        waits = error.type == "room-overlap" and self.waits
        offered = error.extra.get("alternatives") or {}
        if offered.get("rooms") or offered.get("times"):
            lines.append(
                "  instead (Tab to the list, Enter fills the form"
                + ("; ctrl+w waits):" if waits else "):")
            )
        elif waits:
            lines.append("  ctrl+w waits for this slot (you are told when it frees)")
        self.show_verdict("\n".join(lines), True, offered)

    @on(OptionList.OptionSelected, "#alternatives")
    def _picked(self, event: OptionList.OptionSelected) -> None:
        kind, _, value = str(event.option.id).partition(":")
        if kind == "room":
            room = self.compax.engine.reads.room(int(value))
            if room is not None:
                self.take_room(room)
        else:
            self.take_time(instant_of(value))

    def take_room(self, room: dict[str, Any]) -> None:
        """Fill the form with another room (an alternative picked)."""

    def take_time(self, start: datetime) -> None:
        """Fill the form with another start, keeping the length (an alternative picked)."""
        local = start.astimezone(self.compax.zone)
        self.query_one("#start", Input).value = f"{local:%Y-%m-%d %H:%M}"


class BookingForm(CheckedForm):
    """Book ``room`` from ``start`` to ``end`` (both editable); dismissed with the pending
    rows saved, or ``None``."""

    waits = True
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape", "dismiss(None)", "Cancel"),
        Binding("ctrl+s", "save", "Save", priority=True),
        Binding("ctrl+w", "wait", "Join the waitlist", priority=True),
    ]

    def __init__(self, room: dict[str, Any], start: datetime, end: datetime) -> None:
        super().__init__()
        self.room, self.start, self.end = room, start, end
        self.touched: set[str] = set()

    def compose(self) -> ComposeResult:
        zone = self.compax.zone
        local = self.start.astimezone(zone)
        with Vertical(id="booking-form", classes="dialog"):
            yield Static(self._heading(), id="form-title", classes="dialog-title")
            with Horizontal(classes="row"):
                yield Label("Start", classes="field")
                yield Input(f"{local:%Y-%m-%d %H:%M}", id="start", compact=True)
                yield Label("for", classes="gap")
                yield Input(length_text(self.end - self.start), id="length", compact=True)
            yield Static(id="error-when", classes="field-error")
            with Horizontal(classes="row"):
                yield Label("Title", classes="field")
                yield Input(id="title", placeholder="what it is for", compact=True)
            yield Static(id="error-title", classes="field-error")
            with Horizontal(classes="row"):
                yield Label("Purpose", classes="field")
                purposes = [(p.value, p.value) for p in Purpose]
                yield Select[str](
                    purposes, value=Purpose.MEETING.value, id="purpose", compact=True,
                    allow_blank=False,
                )  # fmt: skip
                yield Label("Attendees", classes="gap")
                yield Input("0", id="attendees", type="integer", compact=True)
            yield Static(id="error-details", classes="field-error")
            with Horizontal(classes="row"):
                yield Checkbox("Weekly on", id="repeat", compact=True)
                for weekday in WEEKDAYS:
                    yield Checkbox(
                        weekday.value.title()[:2],
                        weekday == WEEKDAYS[local.weekday()],
                        id=f"day-{weekday.value}",
                        classes="weekday",
                        compact=True,
                    )
            with Horizontal(classes="row"):
                yield Label("until", classes="field")
                yield Input(
                    f"{local.date() + timedelta(weeks=4)}", id="until", compact=True,
                    placeholder="YYYY-MM-DD",
                )  # fmt: skip
            yield Static(id="error-repeat", classes="field-error")
            yield from self.compose_verdict()
            with Horizontal(classes="buttons"):
                yield Button("Save offline", id="save", variant="primary", compact=True)
                yield Button("Cancel", id="cancel", compact=True)

    def _heading(self) -> str:
        room = self.room
        return f"Book {room['building']}/{room['code']} · {seats_text(room['capacity'])} seats"

    def on_mount(self) -> None:
        super().on_mount()
        self.query_one("#title", Input).focus()
        self.check()

    def take_room(self, room: dict[str, Any]) -> None:
        """Book ``room`` instead, and check again."""
        self.room = room
        self.query_one("#form-title", Static).update(self._heading())
        self.check()

    @on(Input.Changed)
    @on(Select.Changed)
    @on(Checkbox.Changed)
    def _edited(self, event: Input.Changed | Select.Changed | Checkbox.Changed) -> None:
        name = event.control.id or ""
        self.touched.add("repeat" if name.startswith("day-") else ERROR_LINE.get(name, "details"))
        self.check()

    def check(self, everything: bool = False) -> bool:
        """Validate every field and check for a clash here; whether the booking may be saved.
        Errors show under the fields edited so far (under all of them with ``everything``)."""
        if not self.is_mounted:
            return False
        repeat = self.query_one("#repeat", Checkbox).value
        for widget in self.query(".weekday").results(Checkbox):
            widget.disabled = not repeat
        self.query_one("#until", Input).disabled = not repeat
        errors: list[FieldError] = []
        try:
            data = self._data()
        except ValidationError as error:
            errors = field_errors(error)
        except ValidationFailed as error:
            errors = error.errors
        self._show_errors(errors, everything)
        try:
            if not errors and isinstance(data, SeriesCreate):
                clashes = self.compax.engine.check_series(data)
                if clashes:
                    self.show_verdict(_series_clashes(clashes), True)
                    return False
            elif not self.query_one("#repeat", Checkbox).value:
                # The time can be checked while another field is still being typed.
                start, end = self._window()
                attendees = 0 if errors else data.attendees
                self.compax.engine.check_booking(self.room["id"], start, end, attendees=attendees)
            else:
                self.show_verdict("", False)
                return False
        except ValidationFailed:
            self.show_verdict("", False)
            return False
        except CompaxError as error:
            self.show_clash(error)
            return False
        self.show_verdict("✓ Nothing clashes here; saved offline, sent at the next sync", False)
        return not errors

    def _data(self) -> BookingCreate | SeriesCreate:
        """The booking (or series) as the inputs stand; pydantic or parse errors name fields."""
        zone = self.compax.zone
        start, end = self._window()
        common = {
            "room_id": self.room["id"],
            "title": self.query_one("#title", Input).value,
            "purpose": self.query_one("#purpose", Select).value,
            "attendees": self.query_one("#attendees", Input).value or 0,
        }
        if not self.query_one("#repeat", Checkbox).value:
            return BookingCreate.model_validate({**common, "start": start, "end": end})
        local_start, local_end = start.astimezone(zone), end.astimezone(zone)
        if local_end.date() != local_start.date():
            raise ValidationFailed.single("end", "a repeated booking ends on the day it starts")
        return SeriesCreate.model_validate(
            {
                **common,
                "weekdays": [
                    w.value for w in WEEKDAYS if self.query_one(f"#day-{w.value}", Checkbox).value
                ],
                "first_day": local_start.date(),
                "last_day": _date(self.query_one("#until", Input).value),
                "start_time": local_start.time(),
                "end_time": local_end.time(),
            }
        )

    def _window(self) -> tuple[datetime, datetime]:
        """The start and end typed; ``ValidationFailed`` naming the field otherwise."""
        zone, now = self.compax.zone, self.compax.clock()
        start = parse_when(self.query_one("#start", Input).value, zone, now, "start")
        return start, start + parse_duration(self.query_one("#length", Input).value, "end")

    def _show_errors(self, errors: list[FieldError], everything: bool) -> None:
        lines: dict[str, list[str]] = {}
        for error in errors:
            line = ERROR_LINE.get(error.field.split(".")[0].split("[")[0], "details")
            if everything or line in self.touched:
                lines.setdefault(line, []).append(
                    f"{error.field.replace('_', ' ')}: {error.message}"
                )
        for line in ("when", "title", "details", "repeat"):
            widget = self.query_one(f"#error-{line}", Static)
            widget.update("; ".join(lines.get(line, [])))
            widget.display = line in lines

    @on(Button.Pressed, "#cancel")
    def _cancel(self) -> None:
        self.dismiss(None)

    def action_wait(self) -> None:
        """Wait for this slot, taken now, instead of booking it (online)."""
        join_waitlist(self, self._data)

    @on(Button.Pressed, "#save")
    def action_save(self) -> None:
        """Save offline as pending, unless a field is wrong or something clashes here."""
        if not self.check(everything=True):
            self.app.bell()
            return
        data = self._data()
        engine = self.compax.engine
        try:
            if isinstance(data, SeriesCreate):
                rows = engine.book_series(data)
            else:
                rows = [
                    engine.book(
                        data.room_id,
                        data.start,
                        data.end,
                        data.title,
                        purpose=data.purpose.value,
                        attendees=data.attendees,
                    )
                ]
        except CompaxError as error:
            self.show_clash(error)
            return
        self.notify(
            f"{span(instant_of(rows[0]['start']), instant_of(rows[0]['end']), self.compax.zone)}"
            f"{f' and {len(rows) - 1} more' if len(rows) > 1 else ''}: pending until the server "
            "confirms it (ctrl+r syncs now)",
            title=f"Saved offline: {rows[0]['title']}",
        )
        self.dismiss(rows)


def _date(text: str) -> date | str:
    """A date typed as ``YYYY-MM-DD``; other text is left for the schema to refuse."""
    try:
        return date.fromisoformat(text.strip())
    except ValueError:
        return text


def _alternatives(offered: dict[str, Any], zone: Any) -> list[tuple[str, str]]:
    """The judge's alternatives as (option id, label): the two nearest rooms then, the free
    times here, then the other rooms, so that both kinds show in a short list."""
    rooms = [
        (f"room:{room['id']}", f"{room['room']} ({seats_text(room['capacity'])} seats), same time")
        for room in offered.get("rooms", [])
    ]
    times = [
        (
            f"time:{free['start']}",
            f"here, {span(instant_of(free['start']), instant_of(free['end']), zone)}",
        )
        for free in offered.get("times", [])
    ]
    return rooms[:2] + times + rooms[2:]


def _series_clashes(clashes: list[dict[str, Any]]) -> str:
    lines = [f"✗ {len(clashes)} date(s) clash; change the time or the dates:"]
    for clash in clashes[:4]:
        lines.append(f"  {clash['date']}: {clash['problems'][0]['detail']}")
    if len(clashes) > 4:
        lines.append(f"  … and {len(clashes) - 4} more")
    return "\n".join(lines)
