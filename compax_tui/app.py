"""The Compax terminal UI: one Textual app over one profile's ``sync.Engine``.

Network work (signing in, syncing, administration) runs in thread workers that never touch
widgets: they post a message or hand their result back to the UI thread, and handlers change
the widgets. Local reads and changes go straight to the engine; the replica answers them in
milliseconds. Domain errors are turned into notices here, in ``report``.

The first frame is drawn before the engine exists. Importing it (pydantic, the schemas and
sqlite-utils) takes about a quarter of a second, so a thread worker imports it and opens the
replica once the first frame is on the terminal; until then (``ready``) the status bar says
so and the screens wait, then read the replica as after any change. Only the finder, the
first screen drawn, is imported with the app; the other screens, which import the engine,
come after it.
"""

from __future__ import annotations

import asyncio
import importlib
import sqlite3
import threading
from collections.abc import Callable, Coroutine, Iterable, Iterator
from contextlib import contextmanager
from datetime import UTC, date, datetime
from functools import partial
from typing import TYPE_CHECKING, Any, ClassVar, TypeVar, cast
from urllib.parse import urlsplit
from zoneinfo import ZoneInfo

from rich.text import Text
from textual import on, work
from textual.app import App, SystemCommand
from textual.binding import Binding, BindingType
from textual.dom import DOMNode
from textual.message import Message
from textual.screen import Screen
from textual.signal import Signal
from textual.worker import Worker, WorkerState, get_current_worker

from compax_tui.screens.base import plain_message
from compax_tui.screens.finder import FinderScreen
from compax_tui.screens.help import HelpScreen
from compax_tui.screens.sign_in import SignInScreen
from sync.errors import CompaxError, NotAuthenticated, Unreachable, ValidationFailed
from sync.permissions import Access, Permission
from sync.profiles import Profile

if TYPE_CHECKING:
    from compax_tui.screens.grid import GridTarget
    from sync.engine import Engine, SyncReport

T = TypeVar("T")
Clock = Callable[[], datetime]

#: The app's screens: (mode, key, title, what it is for).
SCREENS_SHOWN = (
    ("finder", "f2", "Room finder", "Find rooms by building, kind, seats, features, free time"),
    ("grid", "f3", "Availability grid", "A room's or a building's day or week"),
    ("bookings", "f4", "My bookings", "Your bookings: move or cancel them"),
    ("attention", "f5", "Needs attention", "Changes the server refused: retry or discard"),
    ("admin", "f6", "Administration", "Users, rooms, blackouts, managers (by role)"),
)

#: The screens imported with the engine rather than before the first frame: mode -> (module,
#: class).
LATER_SCREENS = {
    "grid": ("compax_tui.screens.grid", "GridScreen"),
    "bookings": ("compax_tui.screens.bookings", "BookingsScreen"),
    "attention": ("compax_tui.screens.attention", "AttentionScreen"),
    "admin": ("compax_tui.screens.admin", "AdminScreen"),
}

#: What the app says when asked for something before the replica is open.
OPENING = "Still opening this profile's replica: a moment"


def _later_screen(module: str, name: str) -> Callable[[], Screen[Any]]:
    """A mode's screen, built from a class imported when the mode is first shown."""

    def build() -> Screen[Any]:
        return cast("Screen[Any]", getattr(importlib.import_module(module), name)())

    return build


class EngineOpened(Message):
    """The engine was imported and the profile's replica opened, in a worker."""

    def __init__(self, engine: Engine) -> None:
        super().__init__()
        self.engine = engine


class SyncFinished(Message):
    """A background sync ended, with its report or the error that stopped it."""

    def __init__(self, report: SyncReport | None, error: CompaxError | None) -> None:
        super().__init__()
        self.report, self.error = report, error


def queued_text(pending: int) -> str:
    """How many changes wait for the server: ``1 change queued``."""
    if not pending:
        return "Nothing queued"
    return f"{pending} change{'s' if pending != 1 else ''} queued"


def sent_text(report: SyncReport) -> str:
    """What a sync did, for people: ``Sent 2 changes: 2 confirmed``, or that nothing was
    waiting."""
    if not report.pushed:
        fetched = f"{report.pulled} update{'s' if report.pulled != 1 else ''} fetched"
        return f"Nothing to send; {fetched}" if report.pulled else "Nothing to send; up to date"
    outcome = [f"{report.applied} confirmed"]
    if report.rejected:
        outcome.append(f"{report.rejected} refused")
    return f"Sent {report.pushed} change{'s' if report.pushed != 1 else ''}: " + ", ".join(outcome)


class WorkerAnswered(Message):
    """A worker thread's result (or error), for ``callback`` to take on the UI thread."""

    def __init__(self, callback: Callable[[Any], None], value: object) -> None:
        super().__init__()
        self.callback, self.value = callback, value


class CompaxApp(App[None]):
    """Room finder, availability grid, booking, my bookings, conflicts and administration."""

    CSS_PATH = "compax.tcss"
    TITLE = "Compax"
    DEFAULT_MODE = "finder"
    MODES: ClassVar[dict[str, str | Callable[[], Screen[Any]]]] = {
        "finder": FinderScreen,
        **{mode: _later_screen(*where) for mode, where in LATER_SCREENS.items()},
    }
    BINDINGS: ClassVar[list[BindingType]] = [
        *(
            Binding(key, f"show('{mode}')", title, show=False)
            for mode, key, title, _ in SCREENS_SHOWN
        ),
        Binding("ctrl+r", "sync", "Sync", priority=True),
        Binding("f7", "notifications", "Notifications", show=False),
        Binding("f10", "issues", "Problems"),
        Binding("f8", "approvals", "Approvals"),
        Binding("f9", "audit", "Audit trail", show=False),
        Binding("question_mark", "help", "Help"),
        Binding("f1", "help", "Help", show=False, priority=True),
        Binding("ctrl+q", "quit", "Quit", priority=True),
    ]

    def __init__(
        self,
        profile: str | None = None,
        *,
        clock: Clock | None = None,
        sync_interval: float | None = 30.0,
    ) -> None:
        super().__init__()
        self.clock: Clock = clock or (lambda: datetime.now(UTC))
        self.profile = Profile.load(profile)
        self._engine: Engine | None = None
        self.sync_interval = sync_interval
        self.online: bool | None = None
        self.syncing = False
        self.state: dict[str, Any] = {}
        self.grid_target: GridTarget | None = None
        self.data_changed: Signal[None] = Signal(self, "data-changed")
        self.status_changed: Signal[None] = Signal(self, "status-changed")
        self._sync_again = False
        self._sync_asked = False
        self._engine_users = 0
        self._engine_closing = False
        self._engine_guard = threading.Lock()
        self.engine_closed = threading.Event()

    @property
    def ready(self) -> bool:
        """Whether the engine is open, so the screens can read the replica."""
        return self._engine is not None

    @property
    def engine(self) -> Engine:
        """The profile's engine: opened in a worker just after the first frame (``ready``)."""
        if self._engine is None:
            raise RuntimeError("The engine is not open yet: check `ready` first")
        return self._engine

    @property
    def zone(self) -> ZoneInfo:
        """The campus time zone, in which every time is shown and read."""
        return self.engine.reads.zone()

    def today(self) -> date:
        """Today's date on campus, by the app's clock."""
        return self.clock().astimezone(self.zone).date()

    @property
    def access(self) -> Access:
        """What the signed-in user may do where: their role, and the buildings they manage as
        their latest record says (``sync.managing``)."""
        if not self.ready:
            return Access.of("")
        from sync.managing import access_of_engine  # with the engine, not before the first frame

        return access_of_engine(self.engine)

    def may(self, permission: Permission) -> bool:
        """Whether the signed-in user holds ``permission`` anywhere: by role, or in a building
        they manage."""
        return self.ready and self.access.allows_somewhere(permission)

    @property
    def may_approve(self) -> bool:
        """Whether the user may decide approval requests somewhere: an admin, or a building's
        manager."""
        return self.may(Permission.APPROVE_BOOKINGS)

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        """The approvals, problems and audit keys are offered (footer, help, palette) only to
        those who may use them."""
        if action == "approvals":
            return self.may_approve
        if action == "issues":
            return self.may(Permission.MANAGE_ISSUES)
        if action == "audit":
            return self.may_read_audit
        return True

    @property
    def may_administer(self) -> bool:
        """Whether the user has any administration screen to see."""
        return any(
            self.may(p)
            for p in (
                Permission.MANAGE_USERS,
                Permission.MANAGE_CAMPUS,
                Permission.MANAGE_BLACKOUTS,
            )
        )

    # --- start and stop -------------------------------------------------------------------

    def on_mount(self) -> None:
        """Sync every ``sync_interval`` seconds (``None``: only on demand, ctrl+r)."""
        if self.sync_interval:
            self.set_interval(self.sync_interval, self.request_sync)

    def on_ready(self) -> None:
        """The first frame is on the terminal: open the engine behind it."""
        self._open_engine()

    @work(thread=True, group="engine")
    def _open_engine(self) -> None:
        """Import the engine and open the replica off the UI thread; then import the later
        screens' modules, so that switching to one does not wait for them. The app cannot go
        on without its engine: an unexpected error here ends it."""
        from sync.engine import Engine

        try:
            engine = Engine(self.profile, clock=self.clock, client="tui")
        except (OSError, sqlite3.Error) as error:
            self.call_from_thread(self._cannot_open, error)
            return
        if get_current_worker().is_cancelled:
            engine.close()
            return
        self.post_message(EngineOpened(engine))
        for module, _ in LATER_SCREENS.values():
            importlib.import_module(module)

    def _cannot_open(self, error: Exception) -> None:
        where = self.profile.replica_path
        self.exit(return_code=1, message=Text(f"error: cannot open the replica {where}: {error}"))

    @on(EngineOpened)
    def _engine_opened(self, message: EngineOpened) -> None:
        """Show the replica; sign in first if needed, else sync at once."""
        self._engine = message.engine
        if self.engine.token is None or self.engine.user is None:
            self.push_screen(SignInScreen(), self._signed_in)
        elif self.sync_interval:
            self.request_sync()
        self.changed()

    def on_unmount(self) -> None:
        """Close the engine's replica and cache with the app, or, while a worker thread still
        uses them, as soon as the last one is done (closing them under it would crash it)."""
        with self._engine_guard:
            self._engine_closing = True
            idle = self._engine_users == 0
        if idle:
            self._close_engine()

    @contextmanager
    def engine_in_use(self) -> Iterator[bool]:
        """Around a worker thread's use of the engine: yields whether it may still be used
        (not once the app is closing), and closes it after the last user if it is."""
        with self._engine_guard:
            usable = not self._engine_closing
            self._engine_users += usable
        try:
            yield usable
        finally:
            with self._engine_guard:
                self._engine_users -= usable
                last = usable and self._engine_closing and self._engine_users == 0
            if last:
                self._close_engine()

    def _close_engine(self) -> None:
        if self._engine is not None:
            self._engine.close()
        self.engine_closed.set()

    def _signed_in(self, signed_in: bool | None = None) -> None:
        if signed_in:
            self.online = True
            self.changed()
            self.request_sync()

    # --- state shared by every screen -----------------------------------------------------

    def changed(self) -> None:
        """The replica changed (a local change or a sync): redraw the status and the data."""
        self.state = self.engine.status()
        self.status_changed.publish(None)
        self.data_changed.publish(None)

    def report(self, error: CompaxError) -> None:
        """An expected failure as the user should see it: a notice, or the sign-in screen."""
        if isinstance(error, NotAuthenticated):
            self.online = None
            self.status_changed.publish(None)
            if not isinstance(self.screen, SignInScreen):
                self.push_screen(SignInScreen(reason=error.detail), self._signed_in)
        elif isinstance(error, Unreachable):
            self.online = False
            self.status_changed.publish(None)
            self.notify(self.offline_text(), title="Offline")
        elif isinstance(error, ValidationFailed):
            lines = [
                f"{e.field.replace('_', ' ')}: {plain_message(e.message)}" for e in error.errors
            ]
            self.notify("\n".join(lines), title="Check the input", severity="error")
        else:
            self.notify(error.detail, title=error.title, severity="error", timeout=8)

    # --- background work ------------------------------------------------------------------

    def request_sync(self) -> None:
        """Sync in the background now, or right after the sync already running."""
        if not self.ready or self.engine.token is None:
            return
        if self.syncing:
            self._sync_again = True
            return
        self.syncing = True
        self.status_changed.publish(None)
        self._sync_in_background()

    @work(thread=True, group="sync", exit_on_error=False)
    def _sync_in_background(self) -> None:
        with self.engine_in_use() as usable:
            if not usable:
                return
            try:
                report = asyncio.run(self.engine.sync())
            except CompaxError as error:
                self.post_message(SyncFinished(None, error))
            else:
                self.post_message(SyncFinished(report, None))

    def offline_text(self) -> str:
        """Being offline, in words: ``Cannot reach 127.0.0.1:8437. 1 change queued``."""
        profile = self._engine.profile if self._engine is not None else self.profile
        server = profile.server or ""
        text = f"Cannot reach {urlsplit(server).netloc or server or 'the server'}"
        if self._engine is None:
            return text
        return f"{text}. {queued_text(self._engine.pending_count())}"

    @on(SyncFinished)
    def _sync_finished(self, message: SyncFinished) -> None:
        """Answer a sync asked for (ctrl+r), a reconnection, confirmations and refusals in
        words; stay quiet about a background sync that changed nothing of the user's."""
        self.syncing = False
        asked, self._sync_asked = self._sync_asked, False
        was_offline = self.online is False
        if message.error is None:
            self.online = True
        elif isinstance(message.error, Unreachable):
            if self.online is not False:
                self.report(message.error)
            elif asked:
                self.notify(self.offline_text(), title="Still offline")
            self.online = False
        else:
            self.report(message.error)
        report = message.report
        if report is not None and report.rejected:
            self.notify(
                f"{sent_text(report)}: press F5 to see why",
                title="Needs attention",
                severity="warning",
                timeout=8,
            )
        elif report is not None and (asked or was_offline or report.pushed):
            title = "Back online" if was_offline else "Synced"
            self.notify(sent_text(report), title=title)
        self.changed()
        if self._sync_again:
            self._sync_again = False
            self.request_sync()

    def call_server(
        self,
        owner: DOMNode,
        call: Callable[[], Coroutine[Any, Any, T]],
        done: Callable[[T], None],
        failed: Callable[[CompaxError], None] | None = None,
    ) -> Worker[None]:
        """Run ``call`` (network I/O) in a thread worker of ``owner``; ``done`` gets its result
        on the UI thread, and a domain error goes to ``failed`` there (else to ``report``)."""

        def run() -> None:
            with self.engine_in_use() as usable:
                if not usable:
                    return
                try:
                    result = asyncio.run(call())
                except CompaxError as error:
                    self._from_worker(failed or self.report, error)
                else:
                    self._from_worker(done, result)

        return owner.run_worker(run, thread=True, group="server", exit_on_error=False)

    def _from_worker(self, callback: Callable[[Any], None], value: object) -> None:
        """Hand ``value`` to ``callback`` on the UI thread, without waiting for it (a worker
        that waited could wait for ever on an app that has stopped)."""
        self.post_message(WorkerAnswered(callback, value))

    @on(WorkerAnswered)
    def _worker_answered(self, message: WorkerAnswered) -> None:
        message.callback(message.value)

    def on_worker_state_changed(self, event: Worker.StateChanged) -> None:
        """A worker that failed unexpectedly is a bug: say so, and let a later sync run."""
        if event.state is WorkerState.ERROR:
            if event.worker.group == "sync":
                self.syncing = False
                self.status_changed.publish(None)
            self.notify(str(event.worker.error), title="Unexpected error", severity="error")

    # --- navigation -----------------------------------------------------------------------

    def action_show(self, mode: str) -> None:
        """Switch to the screen of ``mode`` (administration only for roles that may)."""
        if mode == "admin" and not self.may_administer:
            no = "Your role has no administration to do" if self.ready else OPENING
            self.notify(no, severity="warning")
            return
        self.switch_mode(mode)

    def open_grid(self, target: GridTarget) -> None:
        """Show the availability grid of ``target``."""
        from compax_tui.screens.grid import GridScreen

        self.grid_target = target
        self.switch_mode("grid")
        grid = self.screen
        if isinstance(grid, GridScreen):
            grid.load()

    def action_sync(self) -> None:
        """Sync now (ctrl+r), or ask to sign in first."""
        if not self.ready:
            self.notify(OPENING, severity="warning")
            return
        if self.engine.token is None:
            self.report(NotAuthenticated("Sign in first"))
            return
        self._sync_asked = True
        self.request_sync()

    def action_notifications(self) -> None:
        """Show your notifications and which kinds are mailed to you (F7; needs the server)."""
        from compax_tui.screens.notifications import NotificationsScreen

        if not self.ready or self.engine.token is None:
            self.notify(OPENING if not self.ready else "Sign in first", severity="warning")
            return
        if not isinstance(self.screen, NotificationsScreen):
            self.push_screen(NotificationsScreen())

    def action_approvals(self) -> None:
        """Show the requests waiting for your approval (F8; approvers only; needs the server)."""
        from compax_tui.screens.approvals import ApprovalsDialog

        if not self.may_approve or self.engine.token is None:
            self.notify("You approve no requests", severity="warning")
            return
        if not isinstance(self.screen, ApprovalsDialog):
            self.push_screen(ApprovalsDialog())

    def action_issues(self) -> None:
        """Show the problem reports you see to (F10; facilities staff, admins and building
        managers; needs the server)."""
        from compax_tui.screens.issues import IssuesDialog

        if not self.may(Permission.MANAGE_ISSUES) or self.engine.token is None:
            self.notify("You see to no problem reports", severity="warning")
            return
        if not isinstance(self.screen, IssuesDialog):
            self.push_screen(IssuesDialog())

    @property
    def may_read_audit(self) -> bool:
        """Whether the user may read the audit trail (its key is offered only then)."""
        return self.may(Permission.READ_AUDIT)

    def action_audit(self) -> None:
        """Show the audit trail (F9; needs the server)."""
        from compax_tui.screens.audit import AuditScreen

        if not self.may_read_audit or self.engine.token is None:
            return
        if not isinstance(self.screen, AuditScreen):
            self.push_screen(AuditScreen())

    def action_help(self) -> None:
        """Show the keys of the screen showing (``?``)."""
        if not isinstance(self.screen, HelpScreen):
            self.push_screen(HelpScreen(self.screen))
        else:
            self.screen.finish()

    def get_system_commands(self, screen: Screen[Any]) -> Iterable[SystemCommand]:
        """Every screen is in the command palette (ctrl+p), with sync and help."""
        for mode, key, title, help_text in SCREENS_SHOWN:
            if mode != "admin" or self.may_administer:
                yield SystemCommand(
                    title, f"{help_text} ({key.upper()})", partial(self.action_show, mode)
                )
        yield SystemCommand(
            "Notifications",
            "What you were told; which kinds are mailed to you (F7)",
            self.action_notifications,
        )
        if self.may_read_audit:
            yield SystemCommand(
                "Audit trail", "Who changed which record, when and how (F9)", self.action_audit
            )
        yield SystemCommand(
            "Sync now", "Send your changes, fetch the server's (ctrl+r)", self.action_sync
        )
        yield SystemCommand("Keys and help", "Every key of this screen (?)", self.action_help)
        if self.ready:
            yield SystemCommand(
                "Sign in again",
                "Another server or user for this profile",
                partial(self.push_screen, SignInScreen(), self._signed_in),
            )
        yield from super().get_system_commands(screen)
