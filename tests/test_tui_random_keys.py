"""Random key sequences (fixed seeds) on every screen and dialog of the TUI at 80×24, on a
replica the test writes: whatever is pressed, the app never crashes, never shows a traceback
and no worker fails unexpectedly. The server it names is unreachable, so a key that reaches
for it gets the offline notice."""

from __future__ import annotations

import json
import random
from collections.abc import Awaitable, Callable
from pathlib import Path

import pytest
from textual import events
from textual.pilot import Pilot

from compax_tui.app import CompaxApp
from compax_tui.screens.dialogs import ScopeDialog
from sync.engine import Engine
from sync.profiles import Profile
from tests.tui_campus import fixed_clock, offline_campus, settle

#: Keys a user might press anywhere (no quit keys: quitting is a normal end, not a finding).
KEYS = [
    *"abcdefghijklmnopqrstuvwxyz0123456789",
    *["A", "Z", "é", "ñ", "space", "question_mark"],
    *["enter"] * 6,
    *["escape"] * 4,
    *["tab", "shift+tab", "up", "down", "left", "right", "shift+left", "shift+right"] * 2,
    *["home", "end", "pageup", "pagedown", "backspace", "delete"],
    *["f1", "f2", "f3", "f4", "f5", "f6", "ctrl+s", "ctrl+f", "ctrl+l", "ctrl+r"],
    *["left_square_bracket", "right_square_bracket"],
]
#: Keys pressed on each screen, in bursts of up to ``BURST`` keys read in one go (as a fast
#: typist's or a pasted text's are).
PRESSES = 200
BURST = 12
#: The character each named key types, where it types one.
CHARACTERS = {"space": " ", "enter": "\r", "tab": "\t", "escape": "\x1b", "backspace": "\x08",
              "question_mark": "?", "left_square_bracket": "[",
              "right_square_bracket": "]"}  # fmt: skip

Start = Callable[[Pilot[None]], Awaitable[None]]


def keys_then(*keys: str) -> Start:
    """Reach the screen to test by pressing ``keys``."""

    async def start(pilot: Pilot[None]) -> None:
        for key in keys:
            await pilot.press(key)
            await settle(pilot)

    return start


async def type_fast(pilot: Pilot[None], keys: list[str]) -> None:
    """Send ``keys`` as the terminal does when they arrive together, then wait until the app
    has handled them (``Pilot.press`` would wait for the app to go idle after each key)."""
    for key in keys:
        character = CHARACTERS.get(key, key if len(key) == 1 else None)
        pilot.app.post_message(events.Key(key, character))
    await pilot.pause(0)


async def scope_dialog(pilot: Pilot[None]) -> None:
    await keys_then("f4")(pilot)
    pilot.app.push_screen(ScopeDialog("Cancel which occurrences?"))
    await pilot.pause()


#: Where each run starts: (name, signed in, role, how to get there). The admin screen is
#: under its forms: a form closed by the keys leaves them there.
STARTS: list[tuple[str, bool, str, Start]] = [
    ("finder", True, "staff", keys_then()),
    ("grid", True, "staff", keys_then("f3")),
    ("bookings", True, "staff", keys_then("f4")),
    ("cancel dialog", True, "staff", keys_then("f4", "end", "c")),
    ("scope dialog", True, "staff", scope_dialog),
    ("needs attention", True, "staff", keys_then("f5")),
    ("add user form", True, "admin", keys_then("f6", "a")),
    ("add blackout form", True, "admin", keys_then("f6", "[", "a")),
    ("sign-in", False, "staff", keys_then()),
]


@pytest.mark.parametrize(
    ("seed", "signed_in", "role", "start"),
    [pytest.param(seed, *rest, id=name) for seed, (name, *rest) in enumerate(STARTS)],
)
async def test_random_keys_never_crash_the_app(
    seed: int,
    signed_in: bool,
    role: str,
    start: Start,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("COMPAX_DATA_DIR", str(tmp_path / "client"))
    offline_campus("keys", signed_in=signed_in)
    engine = Engine(Profile.load("keys"), fixed_clock)
    try:
        user = json.loads(engine.replica.state("user") or "{}")
        engine.replica.set_state(user=json.dumps({**user, "role": role}))
    finally:
        engine.close()
    chance = random.Random(seed)  # a reproducible key sequence
    pressed: list[str] = []
    app = CompaxApp("keys", clock=fixed_clock, sync_interval=None)
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        await start(pilot)
        while len(pressed) < PRESSES and app.is_running:
            burst = [chance.choice(KEYS) for _ in range(chance.randint(1, BURST))]
            pressed.extend(burst)
            await type_fast(pilot, burst)
        await pilot.pause()
        unexpected = [n.message for n in app._notifications if n.title == "Unexpected error"]
    assert app._exception is None, f"crashed after {pressed}"
    assert app.return_code in (None, 0), f"ended with {app.return_code} after {pressed}"
    assert unexpected == [], f"a worker failed after {pressed}"
