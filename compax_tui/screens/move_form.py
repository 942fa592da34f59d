"""The move form: a booking's (or a series' occurrences') new start, length and room, checked
as you type with the booking form's live check, so the clash, the booking in the way and the
alternatives show before anything is queued; an unchanged move queues nothing."""

from __future__ import annotations

from typing import Any, ClassVar

from pydantic import ValidationError
from textual import on
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Horizontal, Vertical
from textual.widgets import Button, Input, Label, Static

from compax_tui.screens.booking_form import CheckedForm, length_text
from sync.errors import CompaxError, FieldError, ValidationFailed, field_errors
from sync.reads import instant_of
from sync.vocabulary import Scope
from sync.when import parse_duration, parse_when

#: Which error line under the form shows the errors of each field.
MOVE_ERROR_LINE = {"start": "when", "end": "when", "length": "when", "room": "room"}

#: What the form says while nothing has been changed.
UNCHANGED = "Nothing changed yet: change the start, the length or the room"


class MoveForm(CheckedForm):
    """Move ``booking`` (for a series, the occurrences of ``scope``); dismissed with the
    pending rows queued, or ``None``."""

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape", "dismiss(None)", "Cancel"),
        Binding("ctrl+s", "save", "Move", priority=True),
    ]

    def __init__(self, booking: dict[str, Any], scope: Scope) -> None:
        super().__init__()
        self.booking, self.scope = booking, scope
        self.start, self.end = instant_of(booking["start"]), instant_of(booking["end"])
        self.touched: set[str] = set()

    def compose(self) -> ComposeResult:
        zone = self.compax.zone
        which = {Scope.THIS: "", Scope.FOLLOWING: ", this and the following", Scope.ALL: ", all"}
        with Vertical(id="move-form", classes="dialog"):
            yield Static(
                f"Move “{self.booking['title']}”{which[self.scope]}", classes="dialog-title"
            )
            with Horizontal(classes="row"):
                yield Label("Start", classes="field")
                yield Input(f"{self.start.astimezone(zone):%Y-%m-%d %H:%M}", id="start",
                            compact=True)  # fmt: skip
                yield Label("for", classes="gap")
                yield Input(length_text(self.end - self.start), id="length", compact=True)
            yield Static(id="error-when", classes="field-error")
            with Horizontal(classes="row"):
                yield Label("Room", classes="field")
                yield Input(self.booking["room"], id="room", placeholder="PB/101", compact=True)
            yield Static(id="error-room", classes="field-error")
            yield from self.compose_verdict()
            with Horizontal(classes="buttons"):
                yield Button("Move", id="save", variant="primary", compact=True)
                yield Button("Cancel", id="cancel", compact=True)

    def on_mount(self) -> None:
        super().on_mount()
        self.query_one("#start", Input).focus()
        self.check()

    @on(Input.Changed)
    def _edited(self, event: Input.Changed) -> None:
        self.touched.add(MOVE_ERROR_LINE.get(event.input.id or "", "when"))
        self.check()

    def changes(self) -> dict[str, Any]:
        """The move as ``Engine.move`` takes it: only what differs from the booking."""
        zone, now = self.compax.zone, self.compax.clock()
        start = parse_when(self.query_one("#start", Input).value, zone, now, "start")
        end = start + parse_duration(self.query_one("#length", Input).value, "length")
        building, _, code = self.query_one("#room", Input).value.strip().partition("/")
        room = self.compax.engine.reads.room_by_code(building, code)
        if room is None:
            raise ValidationFailed.single("room", "no such room here; write PB/101")
        return {
            "start": start if start != self.start else None,
            "end": end if (start, end) != (self.start, self.end) else None,
            "room_id": int(room["id"]) if room["id"] != self.booking["room_id"] else None,
        }

    def check(self, everything: bool = False) -> bool:
        """Check the move as it stands; whether it may be queued. Field errors show under the
        fields edited so far (all of them with ``everything``)."""
        if not self.is_mounted:
            return False
        errors: list[FieldError] = []
        changes: dict[str, Any] = {}
        try:
            changes = self.changes()
        except ValidationError as error:
            errors = field_errors(error)
        except ValidationFailed as error:
            errors = error.errors
        self._show_errors(errors, everything)
        if errors:
            self.show_verdict("", False)
            return False
        if not any(changes.values()):
            self.show_verdict(UNCHANGED, False)
            return False
        try:
            self.compax.engine.check_move(str(self.booking["id"]), scope=self.scope, **changes)
        except ValidationFailed as error:
            self._show_errors(error.errors, True)
            self.show_verdict("", False)
            return False
        except CompaxError as error:
            self.show_clash(error)
            return False
        self.show_verdict("✓ Nothing clashes there; queued offline, sent at the next sync", False)
        return True

    def _show_errors(self, errors: list[FieldError], everything: bool) -> None:
        lines: dict[str, list[str]] = {}
        for error in errors:
            line = MOVE_ERROR_LINE.get(error.field.split(".")[0], "when")
            if everything or line in self.touched:
                lines.setdefault(line, []).append(f"{error.field}: {error.message}")
        for line in ("when", "room"):
            widget = self.query_one(f"#error-{line}", Static)
            widget.update("; ".join(lines.get(line, [])))
            widget.display = line in lines

    def take_room(self, room: dict[str, Any]) -> None:
        """Move to ``room`` instead (an alternative picked); the check runs again."""
        self.query_one("#room", Input).value = f"{room['building']}/{room['code']}"

    @on(Button.Pressed, "#cancel")
    def _cancel(self) -> None:
        self.dismiss(None)

    @on(Button.Pressed, "#save")
    @on(Input.Submitted)
    def action_save(self) -> None:
        """Queue the move offline, unless a field is wrong, nothing changed or it clashes."""
        if not self.check(everything=True):
            self.app.bell()
            return
        try:
            rows = self.compax.engine.move(
                str(self.booking["id"]), scope=self.scope, **self.changes()
            )
        except CompaxError as error:
            self.show_clash(error)
            return
        self.dismiss(rows)
