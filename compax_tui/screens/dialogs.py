"""Small dialogs the screens share: a yes/no question, a series scope, and a form whose values
a schema validates (errors shown under their fields, the form kept open)."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import ClassVar, Generic, Literal, TypeVar

from pydantic import ValidationError
from textual import on
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Horizontal, Vertical
from textual.widgets import Button, Checkbox, Input, Label, OptionList, Select, Static
from textual.widgets.option_list import Option

from compax_tui.screens.base import CompaxModal
from sync.errors import CompaxError, FieldError, ValidationFailed, field_errors
from sync.vocabulary import Scope

T = TypeVar("T")


class ConfirmDialog(CompaxModal[bool]):
    """A question answered yes (Enter, y) or no (Esc, n)."""

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("y", "dismiss(True)", "Yes"),
        Binding("n,escape", "dismiss(False)", "No"),
    ]

    def __init__(self, question: str, yes: str = "Yes") -> None:
        super().__init__()
        self.question, self.yes = question, yes

    def compose(self) -> ComposeResult:
        with Vertical(classes="dialog small"):
            yield Static(self.question, classes="dialog-title")
            with Horizontal(classes="buttons"):
                yield Button(self.yes, id="yes", variant="error", compact=True)
                yield Button("No", id="no", compact=True)

    def on_mount(self) -> None:
        self.query_one("#yes", Button).focus()

    @on(Button.Pressed)
    def _answer(self, event: Button.Pressed) -> None:
        self.dismiss(event.button.id == "yes")


SCOPES = (
    (Scope.THIS, "This occurrence only"),
    (Scope.FOLLOWING, "This and the following ones"),
    (Scope.ALL, "Every occurrence of the series"),
)


class ScopeDialog(CompaxModal[Scope | None]):
    """Which occurrences of a series a change applies to."""

    BINDINGS: ClassVar[list[BindingType]] = [Binding("escape", "dismiss(None)", "Back")]

    def __init__(self, question: str) -> None:
        super().__init__()
        self.question = question

    def compose(self) -> ComposeResult:
        with Vertical(classes="dialog small"):
            yield Static(self.question, classes="dialog-title")
            yield OptionList(*(Option(text, id=scope.value) for scope, text in SCOPES))

    def on_mount(self) -> None:
        self.query_one(OptionList).focus()

    @on(OptionList.OptionSelected)
    def _chosen(self, event: OptionList.OptionSelected) -> None:
        self.dismiss(Scope(str(event.option.id)))


@dataclass(frozen=True)
class FormField:
    """One input of a ``FormDialog``; ``name`` is the schema field its errors are under."""

    name: str
    label: str
    value: str = ""
    kind: Literal["text", "password", "integer", "select", "checkbox"] = "text"
    options: Sequence[tuple[str, str]] = field(default_factory=tuple)
    placeholder: str = ""


class FormDialog(CompaxModal[T | None], Generic[T]):
    """A form whose values ``build`` turns into a validated result; its field errors are
    shown under the fields and the form stays open until the input is right."""

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape", "dismiss(None)", "Cancel"),
        Binding("ctrl+s", "save", "Save", priority=True),
    ]

    def __init__(
        self,
        title: str,
        fields: Sequence[FormField],
        build: Callable[[dict[str, str | bool]], T],
        save_label: str = "Save",
    ) -> None:
        super().__init__()
        self.title_text, self.fields, self.build, self.save_label = (
            title,
            fields,
            build,
            save_label,
        )

    def compose(self) -> ComposeResult:
        with Vertical(classes="dialog"):
            yield Static(self.title_text, classes="dialog-title")
            for spec in self.fields:
                with Horizontal(classes="row"):
                    yield Label(spec.label, classes="field")
                    if spec.kind == "select":
                        yield Select[str](
                            spec.options,
                            value=spec.value or spec.options[0][1],
                            id=f"field-{spec.name}",
                            allow_blank=False,
                            compact=True,
                        )
                    elif spec.kind == "checkbox":
                        yield Checkbox("", spec.value == "yes", id=f"field-{spec.name}",
                                       compact=True)  # fmt: skip
                    else:
                        yield Input(
                            spec.value,
                            id=f"field-{spec.name}",
                            password=spec.kind == "password",
                            type="integer" if spec.kind == "integer" else "text",
                            placeholder=spec.placeholder,
                            compact=True,
                        )
                yield Static(id=f"error-{spec.name}", classes="field-error")
            yield Static(id="error-form", classes="field-error")
            with Horizontal(classes="buttons"):
                yield Button(self.save_label, id="save", variant="primary", compact=True)
                yield Button("Cancel", id="cancel", compact=True)

    def on_mount(self) -> None:
        for error in self.query(".field-error"):
            error.display = False
        self.query("Input, Select, Checkbox").first().focus()

    def values(self) -> dict[str, str | bool]:
        """What each field holds now, by field name."""
        found: dict[str, str | bool] = {}
        for spec in self.fields:
            widget = self.query_one(f"#field-{spec.name}")
            if isinstance(widget, Checkbox):
                found[spec.name] = widget.value
            elif isinstance(widget, Select):
                found[spec.name] = str(widget.value)
            else:
                assert isinstance(widget, Input)
                found[spec.name] = widget.value
        return found

    @on(Input.Submitted)
    @on(Button.Pressed, "#save")
    def action_save(self) -> None:
        """Build the result; close with it, or show what is wrong under the fields."""
        try:
            result = self.build(self.values())
        except ValidationError as error:
            self._show(field_errors(error))
        except ValidationFailed as error:
            self._show(error.errors)
        except CompaxError as error:
            self._show([FieldError("form", error.detail)])
        else:
            self.dismiss(result)

    @on(Button.Pressed, "#cancel")
    def _cancel(self) -> None:
        self.dismiss(None)

    def _show(self, errors: list[FieldError]) -> None:
        names = {spec.name for spec in self.fields}
        by_field: dict[str, list[str]] = {}
        for error in errors:
            name = error.field.split(".")[0]
            if name in names:
                by_field.setdefault(name, []).append(error.message)
            elif name == "form":
                by_field.setdefault("form", []).append(error.message)
            else:
                by_field.setdefault("form", []).append(f"{error.field}: {error.message}")
        for name in [*names, "form"]:
            widget = self.query_one(f"#error-{name}", Static)
            widget.update("; ".join(by_field.get(name, [])))
            widget.display = name in by_field
