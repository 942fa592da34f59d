"""Signing in, for the profile the UI was started with: server URL, username and password, or
the campus sign-in in a browser where the server offers it."""

from __future__ import annotations

import asyncio
import threading
from typing import TYPE_CHECKING, Any, ClassVar, cast

from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Horizontal, Vertical
from textual.message import Message
from textual.screen import Screen
from textual.widgets import Button, Footer, Input, Label, Static
from textual.worker import get_current_worker

from compax_tui.widgets.status_bar import StatusBar
from sync.errors import CompaxError
from sync.http import server_url

if TYPE_CHECKING:
    from compax_tui.app import CompaxApp
    from sync.engine import Engine
    from sync.sso import BrowserStep

DEFAULT_SERVER = "http://127.0.0.1:8080"


class SignInFinished(Message):
    """Signing in ended: with the user, or with the error to show."""

    def __init__(self, user: dict[str, Any] | None, error: CompaxError | None) -> None:
        super().__init__()
        self.user, self.error = user, error


class BrowserStepShown(Message):
    """The campus sign-in waits for the person to do ``step`` in a browser."""

    def __init__(self, step: BrowserStep) -> None:
        super().__init__()
        self.step = step


#: How long the server address must stay unchanged before the screen asks how it signs in.
METHODS_DELAY_SECONDS = 0.4


class SignInScreen(Screen[bool]):
    """Shown when the profile has no valid token; dismissed once signed in."""

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape", "leave", "Back"),
        Binding("ctrl+q", "app.quit", "Quit", priority=True),
    ]

    def __init__(self, reason: str = "") -> None:
        super().__init__()
        self.reason = reason
        self.signing_in = self.signed_in = False
        self._campus_cancel: threading.Event | None = None

    @property
    def engine(self) -> Engine:
        """The app's engine."""
        return cast("Engine", getattr(self.app, "engine"))  # noqa: B009 (typed without a cycle)

    def compose(self) -> ComposeResult:
        profile = self.engine.profile
        yield StatusBar()
        with Vertical(classes="dialog sign-in"):
            yield Static("Sign in to Compax", classes="dialog-title")
            yield Static(
                f"Profile “{profile.name}”: {self.reason or 'not signed in on this computer'}",
                classes="note",
            )
            yield Label("Server")
            yield Input(profile.server or DEFAULT_SERVER, id="server", compact=True)
            yield Label("Username")
            yield Input(profile.username, id="username", compact=True)
            yield Label("Password")
            yield Input(id="password", password=True, compact=True)
            yield Static(id="sign-in-error", classes="field-error")
            yield Static(id="campus-step", classes="note")
            with Horizontal(classes="sign-in-buttons"):
                yield Button("Sign in", id="sign-in", variant="primary", compact=True)
                yield Button("Campus sign-in", id="campus-sign-in", compact=True)
        yield Footer(compact=True, show_command_palette=False)

    def on_mount(self) -> None:
        first_empty = next(
            (i for i in self.query(Input).results(Input) if not i.value),
            self.query_one("#password"),
        )
        first_empty.focus()
        self._look_up_methods(self.query_one("#server", Input).value)

    @on(Input.Changed, "#server")
    def _server_changed(self, event: Input.Changed) -> None:
        self._look_up_methods(event.value)

    @work(exclusive=True, group="methods", exit_on_error=False)
    async def _look_up_methods(self, server: str) -> None:
        """Show "Campus sign-in" only if the server at ``server`` offers it; the client of
        the campus sign-in is imported here, so that the first screen does not wait for it."""
        from sync.sso import sign_in_methods

        campus = self.query_one("#campus-sign-in", Button)
        if self._campus_cancel is None:
            campus.display = False
        await asyncio.sleep(METHODS_DELAY_SECONDS)
        try:
            methods = await sign_in_methods(server_url(server), client="tui", attempts=1)
        except CompaxError:
            return
        campus.display = methods.oidc is not None or self._campus_cancel is not None

    @on(Input.Submitted)
    @on(Button.Pressed, "#sign-in")
    def submit(self) -> None:
        """Sign in with what the form holds, in a worker (one at a time)."""
        if self.signing_in:
            return
        values = {name: self.query_one(f"#{name}", Input).value.strip() for name in
                  ("server", "username")}  # fmt: skip
        password = self.query_one("#password", Input).value
        missing = [name for name, value in {**values, "password": password}.items() if not value]
        error = self.query_one("#sign-in-error", Static)
        if missing:
            error.update(f"{', '.join(missing)}: required")
            self.query_one(f"#{missing[0]}", Input).focus()
            return
        error.update("Signing in…")
        self.signing_in = True
        self.query_one("#sign-in", Button).disabled = True
        self._sign_in(values["server"], values["username"], password)

    @work(thread=True, exclusive=True, group="sign-in", exit_on_error=False)
    def _sign_in(self, server: str, username: str, password: str) -> None:
        with cast("CompaxApp", self.app).engine_in_use() as usable:
            if not usable:
                return
            try:
                user = asyncio.run(self.engine.sign_in(server, username, password))
            except CompaxError as error:
                self.post_message(SignInFinished(None, error))
            else:
                self.post_message(SignInFinished(user, None))

    @on(Button.Pressed, "#campus-sign-in")
    def campus_sign_in(self) -> None:
        """Start the campus sign-in in a worker, or stop waiting for it."""
        if self._campus_cancel is not None:
            self._campus_cancel.set()
            return
        if self.signing_in:
            return
        server = self.query_one("#server", Input).value.strip()
        if not server:
            self.query_one("#sign-in-error", Static).update("server: required")
            return
        self.query_one("#sign-in-error", Static).update("")
        self._show_campus_step("Asking the campus sign-in…")
        self.signing_in = True
        self._campus_cancel = threading.Event()
        self.query_one("#sign-in", Button).disabled = True
        self.query_one("#campus-sign-in", Button).label = "Cancel"
        self._campus(server, self._campus_cancel)

    @work(thread=True, exclusive=True, group="sign-in", exit_on_error=False)
    def _campus(self, server: str, cancel: threading.Event) -> None:
        worker = get_current_worker()
        with cast("CompaxApp", self.app).engine_in_use() as usable:
            if not usable:
                return
            try:
                user = asyncio.run(
                    self.engine.sign_in_sso(
                        server_url(server),
                        show=lambda step: self.post_message(BrowserStepShown(step)),
                        cancelled=lambda: cancel.is_set() or worker.is_cancelled,
                    )
                )
            except CompaxError as error:
                self.post_message(SignInFinished(None, error))
            except Exception as error:
                self.post_message(SignInFinished(None, _stopped(error)))
            else:
                self.post_message(SignInFinished(user, None))

    @on(BrowserStepShown)
    def _step_shown(self, message: BrowserStepShown) -> None:
        step = message.step
        if step.user_code is not None:
            text = f"Open {step.url} and enter {step.user_code}"
        elif step.browser_opened:
            text = f"Sign in in the browser that opened, or open {step.url}"
        else:
            text = f"Open in a browser on this computer: {step.url}"
        self._show_campus_step(f"{text}\nWaiting for you to finish there…")

    def _show_campus_step(self, text: str) -> None:
        step = self.query_one("#campus-step", Static)
        step.update(text)
        step.display = bool(text)

    @on(SignInFinished)
    def _finished(self, message: SignInFinished) -> None:
        self.signing_in = False
        self.query_one("#sign-in", Button).disabled = False
        campus, self._campus_cancel = self._campus_cancel, None
        if campus is not None:
            self.query_one("#campus-sign-in", Button).label = "Campus sign-in"
            self._show_campus_step("")
        if message.error is not None:
            from sync.sso import SignInCancelled

            cancelled = isinstance(message.error, SignInCancelled)
            self.query_one("#sign-in-error", Static).update(
                "" if cancelled else message.error.detail
            )
            if campus is None:
                self.query_one("#password", Input).value = ""
                self.query_one("#password", Input).focus()
            return
        self.signed_in = True
        if self.is_active:
            self.dismiss(True)

    def on_screen_resume(self) -> None:
        """Close once a dialog over the screen (help) is closed, if signed in meanwhile."""
        if self.signed_in:
            self.dismiss(True)

    def action_leave(self) -> None:
        """Back to the app if an earlier sign-in is still good, else ask whether to quit."""
        from compax_tui.screens.dialogs import ConfirmDialog

        if self._campus_cancel is not None:
            self._campus_cancel.set()
            return
        if self.signing_in or self.signed_in or not self.is_active:
            return
        if self.engine.token is not None and self.engine.user is not None:
            self.dismiss(False)
        else:
            question = "Quit Compax? You are not signed in yet."
            self.app.push_screen(ConfirmDialog(question, "Quit"), self._quit_answered)

    def _quit_answered(self, quit_now: bool | None) -> None:
        if quit_now:
            self.app.exit()


def _stopped(error: Exception) -> CompaxError:
    """An unexpected failure of the campus sign-in (a server's answer it cannot read), said
    in words the sign-in screen shows."""
    first_line = str(error).strip().splitlines()[0] if str(error).strip() else ""
    why = f"{type(error).__name__}: {first_line}" if first_line else type(error).__name__
    return CompaxError(
        f"The campus sign-in stopped on something unexpected ({why}); try again, or sign in "
        "with your username and password"
    )
