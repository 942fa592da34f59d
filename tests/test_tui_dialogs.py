"""The TUI's dialogs and forms at 80×24 on a replica the test writes (no server): each is
answered once however fast the keys come, a destructive question starts on its safe answer,
errors are shown in words under their fields, focus stands out, F1 opens help from a text
field, Esc on the first sign-in asks before quitting, and closing the app never closes the
replica under a worker thread still using it."""

from __future__ import annotations

import asyncio
import json
import sqlite3
import threading
from pathlib import Path
from typing import Any

import pytest
from rich.color import Color
from textual.pilot import Pilot
from textual.widgets import Button, Input, OptionList, Static

from compax_tui.app import CompaxApp
from compax_tui.screens.bookings import BookingsScreen
from compax_tui.screens.dialogs import ConfirmDialog, FormDialog, FormField, ScopeDialog
from compax_tui.screens.finder import FinderScreen
from compax_tui.screens.help import HelpScreen
from compax_tui.screens.sign_in import SignInScreen
from sync.engine import Engine
from sync.errors import FieldError, ValidationFailed
from sync.profiles import Profile
from sync.schemas import RoomCreate, UserCreate
from sync.vocabulary import Scope
from tests.tui_campus import fixed_clock, offline_campus, settle

SIZE = (80, 24)


@pytest.fixture
def campus(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> str:
    monkeypatch.setenv("COMPAX_DATA_DIR", str(tmp_path / "client"))
    offline_campus("dialogs")
    return "dialogs"


def app_for(profile: str) -> CompaxApp:
    return CompaxApp(profile, clock=fixed_clock, sync_interval=None)


async def open_bookings(pilot: Pilot[None]) -> BookingsScreen:
    await settle(pilot)
    await pilot.press("f4")
    await settle(pilot)
    screen = pilot.app.screen
    assert isinstance(screen, BookingsScreen)
    return screen


async def test_the_scope_dialog_is_answered_once(campus: str) -> None:
    """Two Enters read in one go both reach the option list before the first is handled."""
    app = app_for(campus)
    answers: list[Scope | None] = []
    async with app.run_test(size=SIZE) as pilot:
        below = await open_bookings(pilot)
        app.push_screen(ScopeDialog("Cancel which occurrences?"), answers.append)
        await pilot.pause()
        options = app.screen.query_one(OptionList)
        options.action_select()
        options.action_select()
        await settle(pilot)
        assert app.screen is below, "only the dialog was closed"

        dialog = ScopeDialog("Cancel which occurrences?")
        app.push_screen(dialog, answers.append)
        await pilot.pause()
        await asyncio.gather(dialog.run_action("dismiss(None)"), dialog.run_action("dismiss"))
        await settle(pilot)
        assert app.screen is below
    assert answers == [Scope.THIS, None]


async def test_a_destructive_question_starts_on_no_and_is_answered_once(campus: str) -> None:
    app = app_for(campus)
    answers: list[bool | None] = []
    async with app.run_test(size=SIZE) as pilot:
        below = await open_bookings(pilot)
        app.push_screen(ConfirmDialog("Deactivate kofi?", "Deactivate"), answers.append)
        await pilot.pause()
        assert app.focused is not None and app.focused.id == "no"
        await pilot.press("enter")
        await settle(pilot)
        assert app.screen is below
        assert answers == [False], "Enter keeps things as they are"

        app.push_screen(ConfirmDialog("Deactivate kofi?", "Deactivate"), answers.append)
        await pilot.pause()
        app.screen.query_one("#yes", Button).press()
        app.screen.query_one("#no", Button).press()
        await settle(pilot)
        assert app.screen is below and answers == [False, True]


def user_form(**kwargs: Any) -> FormDialog[UserCreate]:
    fields = [
        FormField("username", "Username"),
        FormField("full_name", "Full name"),
        FormField("department", "Department"),
        FormField("password", "Password", "a-long-enough-password"),
    ]
    return FormDialog("Add a user", fields, UserCreate.model_validate, **kwargs)


def text(screen: Any, selector: str) -> str:
    return str(screen.query_one(selector, Static).render())


async def test_a_form_shows_errors_in_words_and_closes_once(campus: str) -> None:
    app = app_for(campus)
    answers: list[UserCreate | None] = []
    async with app.run_test(size=SIZE) as pilot:
        below = await open_bookings(pilot)
        app.push_screen(user_form(), answers.append)
        await pilot.pause()
        await pilot.press("k", "ctrl+s")
        await pilot.pause()
        form = app.screen
        assert isinstance(form, FormDialog)
        username_error = text(form, "#error-username")
        assert username_error == "needs at least 2 characters"
        form.query_one("#field-full_name", Input).value = "x" * 300
        await pilot.press("ctrl+s")
        await pilot.pause()
        assert text(form, "#error-full_name").startswith("must be at most")
        assert "should" not in text(form, "#error-full_name")

        form.query_one("#field-username", Input).value = "adwoa"
        form.query_one("#field-full_name", Input).value = "Adwoa Ọ̀ṣọ́dé-Ñúñez"
        form.query_one("#field-department", Input).value = "Génie Électrique"
        form.action_save()
        form.action_save()
        await settle(pilot)
        assert app.screen is below
    assert len(answers) == 1 and answers[0] is not None
    assert answers[0].full_name == "Adwoa Ọ̀ṣọ́dé-Ñúñez"


async def test_an_error_of_a_field_the_form_lacks_is_named_in_words(campus: str) -> None:
    fields = [FormField("code", "Code"), FormField("capacity", "Seats", kind="integer")]
    app = app_for(campus)
    async with app.run_test(size=SIZE) as pilot:
        await open_bookings(pilot)
        app.push_screen(FormDialog("Add a room", fields, RoomCreate.model_validate))
        await pilot.pause()
        await pilot.press(*"101", "tab", *"99999", "ctrl+s")
        await pilot.pause()
        form = app.screen
        assert text(form, "#error-capacity") == "must be at most 10000"
        assert text(form, "#error-form") == "Building: required"


async def test_the_focused_field_stands_out(campus: str) -> None:
    app = app_for(campus)
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        app.screen.query_one("#capacity", Input).focus()
        await pilot.pause()
        screen = app.screen
        assert isinstance(screen, FinderScreen)
        focused = app.focused
        assert isinstance(focused, Input)
        other = next(field for field in screen.query(Input) if field is not focused)

        def background(widget: Input) -> Color:
            region = widget.region
            color = screen.get_style_at(region.x + region.width - 1, region.y).bgcolor
            assert color is not None
            return color

        near, far = background(focused).get_truecolor(), background(other).get_truecolor()
        distance = sum((a - b) ** 2 for a, b in zip(near, far, strict=True)) ** 0.5
        assert distance > 60, f"focused {near} against {far}"


async def test_f1_opens_help_from_inside_a_text_field(campus: str) -> None:
    app = app_for(campus)
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        app.screen.query_one("#capacity", Input).focus()
        await pilot.pause()
        await pilot.press("f1")
        await pilot.pause()
        assert isinstance(app.screen, HelpScreen)
        await pilot.press("f1")
        await pilot.pause()
        assert isinstance(app.screen, FinderScreen)
        assert isinstance(app.focused, Input) and app.focused.value == ""


async def test_escape_on_the_first_sign_in_asks_before_quitting(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("COMPAX_DATA_DIR", str(tmp_path / "client"))
    offline_campus("signed-out", signed_in=False)
    app = app_for("signed-out")
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        assert isinstance(app.screen, SignInScreen)
        await pilot.press("escape")
        await pilot.pause()
        assert isinstance(app.screen, ConfirmDialog)
        await pilot.press("enter")
        await pilot.pause()
        assert isinstance(app.screen, SignInScreen), "Enter answers no: still signing in"
        await pilot.press("escape", "y")
        await settle(pilot)
    assert app.return_code == 0


async def test_closing_the_app_waits_for_the_worker_using_the_replica(campus: str) -> None:
    app = app_for(campus)
    started, release = threading.Event(), threading.Event()
    answers: list[int] = []

    async def slow_count() -> int:
        started.set()
        await asyncio.to_thread(release.wait)
        return int(app.engine.replica.db.execute("SELECT count(*) FROM bookings").fetchone()[0])

    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        engine = app.engine
        app.call_server(app.screen, slow_count, answers.append)
        await asyncio.to_thread(started.wait)
    assert engine.replica.db.execute("SELECT 1").fetchone() == (1,), "still open under it"
    assert not app.engine_closed.is_set()
    release.set()
    assert await asyncio.to_thread(app.engine_closed.wait, 30), "closed after the last user"
    with pytest.raises(sqlite3.ProgrammingError):
        engine.replica.db.execute("SELECT 1")
    assert answers == [], "nothing is handed to an app that has stopped"


async def test_the_finder_names_a_bad_filter_by_its_label_in_words(campus: str) -> None:
    app = app_for(campus)
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        app.screen.query_one("#features", Input).value = "proj$ctor"
        await settle(pilot)
        note = text(app.screen, "#finder-note")
        assert note.startswith("Features: "), note
        assert "should" not in note and "features[0]" not in note


async def test_a_refusal_shown_as_a_notice_is_in_words(campus: str) -> None:
    app = app_for(campus)
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        refusal = FieldError("attendees", "Input should be less than or equal to 500")
        app.report(ValidationFailed([refusal]))
        await pilot.pause()
        [notice] = [n for n in app._notifications if n.title == "Check the input"]
        assert notice.message == "attendees: must be at most 500"


async def test_a_dialog_answered_under_help_closes_when_help_does(campus: str) -> None:
    app = app_for(campus)
    answers: list[bool | None] = []
    async with app.run_test(size=SIZE) as pilot:
        below = await open_bookings(pilot)
        dialog = ConfirmDialog("Remove the closure?")
        app.push_screen(dialog, answers.append)
        await pilot.press("f1")
        await pilot.pause()
        help_screen = app.screen
        assert isinstance(help_screen, HelpScreen)
        dialog.finish(True)
        await pilot.pause()
        assert app.screen is help_screen and answers == []
        await pilot.press("escape")
        await settle(pilot)
        assert app.screen is below and answers == [True]


async def test_an_admin_form_keeps_its_input_when_the_server_cannot_be_reached(
    campus: str,
) -> None:
    engine = Engine(Profile.load(campus), fixed_clock)
    try:
        user = json.loads(engine.replica.state("user") or "{}")
        engine.replica.set_state(user=json.dumps({**user, "role": "admin"}))
    finally:
        engine.close()
    app = app_for(campus)
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        await pilot.press("f6")
        await settle(pilot)
        await pilot.press("a")
        await pilot.pause()
        form = app.screen
        assert isinstance(form, FormDialog)
        await pilot.press(*"kofi", "tab", *"Kofi Mensah", "ctrl+s")
        await settle(pilot)
        assert app.screen is form
        assert text(form, "#error-form") == "Cannot reach 127.0.0.1:9: nothing answers there"
        assert form.query_one("#field-full_name", Input).value == "Kofi Mensah"
        assert not form.query_one("#save", Button).disabled, "it can be sent again"
