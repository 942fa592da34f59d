"""Administration for the roles that may: users and building managers (admins), rooms (admins,
and building managers for their buildings) and blackouts (admins and exams officers, and
building managers for their buildings), read from and changed on the server through
``sync.admin`` and ``sync.managing``.

A form stays open until the server has taken what it sends; a refusal (a taken username, an
unknown building) is shown under the field it is about, with the input kept."""

from __future__ import annotations

from collections.abc import Callable, Coroutine
from typing import Any, ClassVar

from textual import on
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.widgets import DataTable, Footer, Static, TabbedContent, TabPane

from compax_tui.screens.admin_forms import (
    BLACKOUT_FIELDS,
    ROLES,
    blackout_fields,
    covered_text,
    grant_fields,
    grant_of,
    room_create,
    room_edit_fields,
    room_fields,
    room_update,
    user_fields,
)
from compax_tui.screens.base import CompaxScreen, cut, span
from compax_tui.screens.dialogs import ConfirmDialog, FormDialog, FormField
from compax_tui.widgets.status_bar import NavBar, StatusBar
from sync.admin import Admin, new_password
from sync.errors import CompaxError, Forbidden, NotAuthenticated, ValidationFailed
from sync.lookups import seats_text
from sync.managing import Managers
from sync.permissions import Permission, Role
from sync.reads import instant_of
from sync.schemas import BlackoutCreate, PasswordReset, UserCreate
from sync.when import parse_duration, parse_when

#: Each tab: (id, title, the permission it needs, its columns, the keys it answers).
TABS = (
    ("users", "Users", Permission.MANAGE_USERS,
     ("Username", "Name", "Role", "Department", "Active"),
     "a adds, r sets the role, p resets the password, x deactivates"),
    ("rooms", "Rooms", Permission.MANAGE_CAMPUS,
     ("Room", "Kind", "Seats", "Bookable", "Features"),
     "a adds, e changes the room"),
    ("blackouts", "Blackouts", Permission.MANAGE_BLACKOUTS,
     ("Closes", "When", "Reason"),
     "a closes a room or building for a time, x removes the closure"),
    ("managers", "Managers", Permission.MANAGE_USERS,
     ("Building", "Username", "Name"),
     "a makes a user a building's manager, x revokes it"),
)  # fmt: skip


class AdminScreen(CompaxScreen):
    """A tab for each kind of record the user may manage (by role, or in the buildings they
    manage, whose records alone are listed); lists come from the server."""

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("a", "add", "Add"),
        Binding("e", "edit", "Edit room"),
        Binding("r", "role", "Set role"),
        Binding("p", "password", "Reset password"),
        Binding("x", "remove", "Deactivate/remove"),
        Binding("l", "reload", "Reload"),
        Binding("left_square_bracket", "next_tab(-1)", "Prev tab"),
        Binding("right_square_bracket", "next_tab(1)", "Next tab"),
    ]

    def __init__(self) -> None:
        super().__init__()
        self.rows: dict[str, dict[str, dict[str, Any]]] = {tab[0]: {} for tab in TABS}

    def compose(self) -> ComposeResult:
        yield StatusBar()
        yield NavBar()
        with TabbedContent(id="admin-tabs"):
            for tab_id, title, permission, columns, keys in TABS:
                if self.compax.may(permission):
                    with TabPane(title, id=tab_id):
                        table: DataTable[str] = DataTable(id=f"{tab_id}-table", cursor_type="row")
                        table.add_columns(*columns)
                        yield table
                        yield Static(f" {keys}", classes="note")
        yield Footer(compact=True, show_command_palette=False)

    @property
    def admin(self) -> Admin:
        """The administration client over the app's engine."""
        return Admin(self.compax.engine)

    @property
    def tab(self) -> str:
        """The id of the tab showing."""
        return str(self.query_one(TabbedContent).active)

    def reload(self) -> None:
        """List every tab's records again from the server."""
        for tab_id, _, permission, _, _ in TABS:
            if self.compax.may(permission):
                self._list(tab_id)

    def action_reload(self) -> None:
        """List the records again (l)."""
        self.reload()

    def _list(self, tab_id: str) -> None:
        calls: dict[str, Callable[[], Coroutine[Any, Any, list[dict[str, Any]]]]] = {
            "users": self.admin.list_users,
            "rooms": self.admin.list_rooms,
            "blackouts": self.admin.list_blackouts,
            "managers": Managers(self.compax.engine).every_grant,
        }
        self.compax.call_server(self, calls[tab_id], lambda rows: self._fill(tab_id, rows))

    def _building_of(self, tab_id: str, row: dict[str, Any]) -> int | None:
        """The building a listed room or blackout is in (``None``: not known here)."""
        if tab_id == "rooms" or row.get("building_id") is not None:
            return int(row["building_id"])
        room = self.compax.engine.reads.room(row["room_id"]) if row.get("room_id") else None
        return None if room is None else int(room["building_id"])

    def _fill(self, tab_id: str, rows: list[dict[str, Any]]) -> None:
        """Show a list the server sent (on the UI thread): of rooms and blackouts, those in
        the buildings the user may manage them in."""
        permission = next(tab[2] for tab in TABS if tab[0] == tab_id)
        access = self.compax.access
        if tab_id in ("rooms", "blackouts") and access.buildings_for(permission) is not None:
            rows = [r for r in rows if access.allows_in(permission, self._building_of(tab_id, r))]
        table = self.query_one(f"#{tab_id}-table", DataTable)
        table.clear()
        self.rows[tab_id] = {str(row["id"]): row for row in rows}
        for row in rows:
            table.add_row(*self._cells(tab_id, row), key=str(row["id"]))

    def _cells(self, tab_id: str, row: dict[str, Any]) -> tuple[str, ...]:
        if tab_id == "users":
            return (
                row["username"],
                row["full_name"],
                row["role"],
                row["department"],
                "yes" if row["active"] else "no",
            )
        if tab_id == "managers":
            return (row["building"], row["username"], row["full_name"])
        if tab_id == "rooms":
            return (
                cut(f"{row['building']}/{row['code']}"),
                row["kind"].replace("_", " "),
                seats_text(row["capacity"]),
                "yes" if row["bookable"] else "no",
                ", ".join(row["features"]),
            )
        return (
            self._place(row),
            span(instant_of(row["start"]), instant_of(row["end"]), self.compax.zone),
            row["reason"],
        )

    def _place(self, blackout: dict[str, Any]) -> str:
        reads = self.compax.engine.reads
        if blackout["room_id"] is not None:
            room = reads.room(blackout["room_id"])
            return f"{room['building']}/{room['code']}" if room else f"room {blackout['room_id']}"
        codes = {str(b["id"]): b["code"] for b in reads.buildings()}
        return f"building {codes.get(str(blackout['building_id']), blackout['building_id'])}"

    def _selected(self, tab_id: str) -> dict[str, Any] | None:
        table = self.query_one(f"#{tab_id}-table", DataTable)
        if not table.row_count:
            self.notify("Nothing chosen", severity="warning")
            return None
        key = table.coordinate_to_cell_key(table.cursor_coordinate).row_key.value
        return self.rows[tab_id].get(str(key))

    def _changed(self, tab_id: str, message: str) -> Callable[[object], None]:
        """What to do when the server accepted a change: say so, list again, sync."""

        def done(answer: object) -> None:
            covered = answer.get("covered_bookings") if isinstance(answer, dict) else None
            if covered:
                told = covered_text(covered, self.compax.zone)
                self.notify(told, title=message, severity="warning", timeout=20)
            else:
                self.notify(message)
            self._list(tab_id)
            self.compax.request_sync()

        return done

    # --- actions --------------------------------------------------------------------------

    def action_add(self) -> None:
        """Add a user, a room or a blackout, by the tab showing."""
        if self.tab == "users":
            self._form("Add a user", user_fields(), UserCreate.model_validate, self.admin.add_user,
                       "users", "User added")  # fmt: skip
        elif self.tab == "managers":
            buildings = [(b["code"], b["code"]) for b in self.compax.engine.reads.buildings()]
            if not buildings:
                self.notify("No buildings yet (compax import buildings)", severity="warning")
                return
            managers = Managers(self.compax.engine)
            self._form("Make a building manager", grant_fields(buildings), grant_of,
                       lambda grant: managers.add_named(*grant), "managers",
                       "Granted")  # fmt: skip
        elif self.tab == "rooms":
            access = self.compax.access
            buildings = [
                (b["code"], b["code"])
                for b in self.compax.engine.reads.buildings()
                if access.allows_in(Permission.MANAGE_CAMPUS, int(b["id"]))
            ]
            if not buildings:
                self.notify("Add a building first (compax buildings)", severity="warning")
                return
            self._form("Add a room", room_fields(buildings), room_create,
                       self.admin.add_room, "rooms", "Room added")  # fmt: skip
        else:
            fields = blackout_fields(self.compax.today())
            self._form("Close a room or building", fields, self._blackout,
                       self.admin.add_blackout, "blackouts", "Closed",
                       aliases=BLACKOUT_FIELDS)  # fmt: skip

    def action_edit(self) -> None:
        """Change the chosen room."""
        if self.tab != "rooms":
            return
        room = self._selected("rooms")
        if room is None:
            return
        admin = self.admin
        self._form(
            f"Change {room['building']}/{room['code']}",
            room_edit_fields(room),
            room_update,
            lambda changes: admin.update_room(int(room["id"]), changes),
            "rooms",
            "Room changed",
        )

    def action_role(self) -> None:
        """Give the chosen user another role."""
        user = self._selected("users") if self.tab == "users" else None
        if user is None:
            return
        admin = self.admin
        self._form(
            f"Role of {user['username']}",
            [FormField("role", "Role", user["role"], "select", ROLES)],
            lambda values: Role(str(values["role"])),
            lambda role: admin.set_role(int(user["id"]), role),
            "users",
            "Role changed; they are signed out everywhere",
        )

    def action_password(self) -> None:
        """Set a new password for the chosen user."""
        user = self._selected("users") if self.tab == "users" else None
        if user is None:
            return
        admin = self.admin
        self._form(
            f"New password for {user['username']}",
            [FormField("new_password", "Password", new_password())],
            PasswordReset.model_validate,
            lambda data: admin.reset_password(int(user["id"]), data),
            "users",
            "Password set; they are signed out everywhere",
        )

    def action_remove(self) -> None:
        """Deactivate the chosen user, remove the chosen blackout or revoke the chosen
        manager."""
        if self.tab == "rooms":
            return
        chosen = self._selected(self.tab)
        if chosen is None:
            return
        tab_id, admin = self.tab, self.admin
        if tab_id == "users":
            question = f"Deactivate {chosen['username']}? They can no longer sign in."
            message = "Deactivated"
        elif tab_id == "managers":
            question = f"Stop {chosen['username']} managing {chosen['building']}?"
            message = "Revoked"
        else:
            question = f"Remove the closure of {self._place(chosen)}: {chosen['reason']}?"
            message = "Closure removed"

        async def remove() -> None:
            if tab_id == "users":
                await admin.deactivate_user(int(chosen["id"]))
            elif tab_id == "managers":
                await Managers(admin.engine).remove(chosen["building_id"], chosen["user_id"])
            else:
                await admin.remove_blackout(int(chosen["id"]))

        def answered(yes: bool | None) -> None:
            if yes:
                self.compax.call_server(self, remove, self._changed(tab_id, message))

        self.app.push_screen(ConfirmDialog(question, "Yes"), answered)

    def _form(
        self,
        title: str,
        fields: list[FormField],
        build: Callable[[dict[str, Any]], Any],
        send: Callable[[Any], Coroutine[Any, Any, Any]],
        tab_id: str,
        message: str,
        aliases: dict[str, str] | None = None,
    ) -> None:
        """Ask with a form validated by ``build``; send what it built to the server, keeping
        the form open (with the server's refusal, or the network's, under its fields) until the
        server takes it. Only a sign-in or a role that does not allow it closes the form."""
        changed = self._changed(tab_id, message)

        def submit(form: FormDialog[Any], result: Any) -> None:
            def done(answer: object) -> None:
                form.finish(result)
                changed(answer)

            def refused(error: CompaxError) -> None:
                if isinstance(error, NotAuthenticated | Forbidden) or error.status in (401, 403):
                    form.finish(None)
                    self.compax.report(error)
                else:
                    form.refused(error)

            self.compax.call_server(self, lambda: send(result), done, refused)

        self.app.push_screen(FormDialog(title, fields, build, submit=submit, aliases=aliases))

    def _blackout(self, values: dict[str, Any]) -> BlackoutCreate:
        zone, now = self.compax.zone, self.compax.clock()
        start = parse_when(str(values["start"]), zone, now, "start")
        end = start + parse_duration(str(values["length"]), "length")
        where = str(values["where"]).strip().upper()
        fields: dict[str, Any] = {"start": start, "end": end, "reason": values["reason"]}
        if "/" in where:
            building, _, code = where.partition("/")
            room = self.compax.engine.reads.room_by_code(building, code)
            if room is None:
                raise ValidationFailed.single("where", f"no room {where} here")
            fields["room_id"] = room["id"]
        else:
            fields["building"] = where or None
        return BlackoutCreate.model_validate(fields)

    def action_next_tab(self, step: int) -> None:
        """Show the previous or next tab."""
        panes = [pane.id for pane in self.query(TabPane) if pane.id]
        tabs = self.query_one(TabbedContent)
        tabs.active = panes[(panes.index(self.tab) + step) % len(panes)]

    @on(TabbedContent.TabActivated)
    def _tab_changed(self) -> None:
        self.query_one(f"#{self.tab}-table", DataTable).focus()
        self.refresh_bindings()

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        """Only the keys of the tab showing are offered (and shown in the footer)."""
        wanted = {
            "edit": "rooms",
            "role": "users",
            "password": "users",
            "remove": ("users", "blackouts", "managers"),
        }.get(action)
        if wanted is None or not self.is_mounted:
            return True
        return self.tab in wanted
