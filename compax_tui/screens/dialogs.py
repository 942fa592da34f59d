"""Small dialogs the screens share: a yes/no question, a series scope, and a form whose values
a schema validates (errors shown under their fields, in words, the form kept open).

Each is answered once (``CompaxModal.finish``); a question that destroys something starts on
its safe answer, so a stray Enter keeps things as they are."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, ClassVar, Generic, Literal, TypeVar

from pydantic import ValidationError
from textual import on
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Horizontal, Vertical
from textual.widgets import Button, Checkbox, Input, Label, OptionList, Select, Static
from textual.widgets.option_list import Option

from compax_tui.screens.base import CompaxModal, plain_message
from sync.errors import CompaxError, FieldError, ValidationFailed, field_errors
from sync.vocabulary import Scope

T = TypeVar("T")


class ConfirmDialog(CompaxModal[bool]):
    """A question answered yes (y, or Enter on the yes button) or no (Esc, n, or Enter on the
    no button, which has the focus: the safe answer is the default)."""

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
        self.query_one("#no", Button).focus()

    @on(Button.Pressed)
    def _answer(self, event: Button.Pressed) -> None:
        self.finish(event.button.id == "yes")


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
        self.finish(Scope(str(event.option.id)))


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
    shown under the fields and the form stays open until the input is right.

    Without ``submit`` the form closes with the result. With it, the form stays open while
    ``submit(form, result)`` works (the server, say): that ends with ``form.finish(result)``
    when it is done or ``form.refused(error)``, which shows the refusal under its fields.
    ``aliases`` names the form field a schema field's errors belong under (``end`` under
    ``length``, say)."""

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
        *,
        submit: Callable[[FormDialog[T], T], None] | None = None,
        aliases: Mapping[str, str] | None = None,
    ) -> None:
        super().__init__()
        self.title_text, self.fields, self.build, self.save_label = (
            title,
            fields,
            build,
            save_label,
        )
        self.submit, self.aliases = submit, dict(aliases or {})
        self.sending = False

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
        """Build the result; close with it (or submit it), or show what is wrong under the
        fields. Nothing happens while an answer is awaited or once the form is closed."""
        if self.finished or self.sending:
            return
        try:
            result = self.build(self.values())
        except ValidationError as error:
            self.show_errors(field_errors(error))
        except ValidationFailed as error:
            self.show_errors(error.errors)
        except CompaxError as error:
            self.show_errors([FieldError("form", error.detail)])
        else:
            if self.submit is None:
                self.finish(result)
                return
            self.sending = True
            self.query_one("#save", Button).disabled = True
            self.show_errors([])
            self.submit(self, result)

    def refused(self, error: CompaxError) -> None:
        """The submitted result was refused: show why under the fields and let the user
        change them (or, if the form was closed meanwhile, tell the app)."""
        self.sending = False
        if self.finished or not self.is_mounted:
            self.compax.report(error)
            return
        self.query_one("#save", Button).disabled = False
        self.show_errors(problem_errors(error))

    @on(Button.Pressed, "#cancel")
    def _cancel(self) -> None:
        self.finish(None)

    def show_errors(self, errors: Sequence[FieldError]) -> None:
        """Show each error in words under its field; errors of other fields, under the form
        with the name of what they are about."""
        labels = {spec.name: spec.label for spec in self.fields}
        by_field: dict[str, list[str]] = {}
        for error in errors:
            name = error.field.split(".")[0].split("[")[0]
            name = self.aliases.get(name, name)
            message = plain_message(error.message)
            if name in labels:
                by_field.setdefault(name, []).append(message)
            elif name in ("form", "body", ""):
                by_field.setdefault("form", []).append(message)
            else:
                about = name.replace("_", " ").capitalize()
                by_field.setdefault("form", []).append(f"{about}: {message}")
        for name in [*labels, "form"]:
            widget = self.query_one(f"#error-{name}", Static)
            widget.update("; ".join(by_field.get(name, [])))
            widget.display = name in by_field


def problem_errors(error: CompaxError) -> list[FieldError]:
    """The bad fields of a refusal: a local ``ValidationFailed``'s, or a server problem's
    ``errors`` (or its single ``field``); anything else is about the whole form."""
    if isinstance(error, ValidationFailed):
        return list(error.errors)
    listed: Any = error.extra.get("errors")
    if isinstance(listed, list) and listed:
        return [
            FieldError(str(item.get("field", "form")), str(item.get("message", error.detail)))
            for item in listed
            if isinstance(item, dict)
        ]
    named = error.extra.get("field")
    return [FieldError(str(named) if named else "form", error.detail)]
