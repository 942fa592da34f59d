"""The ``compax`` Typer application: one sub-app per noun, each a thin layer over ``sync/``.

A command's module is imported, and its command built, only when that command runs (or when
the help lists it): a command loads neither the other commands nor an engine it does not need
(``compax tui`` draws its first screen before the engine loads), and starts about 0.1 s
sooner than with every command built up front (docs/benchmarks.md, CLI start).
"""

from __future__ import annotations

import importlib
from collections.abc import Iterator, Mapping, MutableMapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Annotated, Any

import typer
from typer.core import TyperGroup

if TYPE_CHECKING:
    # Typer vendors click and does not export its command type; it is only named here.
    from typer._click import Command


@dataclass(frozen=True)
class LazyCommand:
    """Where a command lives, as ``module:attribute`` (a command function or a Typer
    sub-app), and its help where it differs from the function's docstring."""

    target: str
    help: str | None = None

    def load(self, name: str) -> Command:
        """Import the command's module and build the click command ``name``, exactly as
        ``app.command()`` or ``app.add_typer()`` would have built it."""
        module, _, attribute = self.target.partition(":")
        found = getattr(importlib.import_module(module), attribute)
        holder = typer.Typer()
        if isinstance(found, typer.Typer):
            holder.add_typer(found, name=name)
        else:
            holder.command(name, help=self.help)(found)
        return typer.main.get_group(holder).commands[name]


#: Every command of ``compax``, in the order the help lists them.
COMMANDS: dict[str, LazyCommand] = {
    "demo": LazyCommand("compax_cli.demo:demo"),
    "tui": LazyCommand("compax_tui.command:tui"),
    "login": LazyCommand("compax_cli.session:login"),
    "logout": LazyCommand("compax_cli.session:logout"),
    "whoami": LazyCommand("compax_cli.session:whoami"),
    "status": LazyCommand("compax_cli.status:status"),
    "sync": LazyCommand("compax_cli.session:sync"),
    "book": LazyCommand(
        "compax_cli.bookings:create",
        help="Book a room: the same as `compax bookings create`.\n\n"
        'Example: compax book PB/101 --at "tomorrow 10:00" --for 2h --title "MATH 101"',
    ),
    "rooms": LazyCommand("compax_cli.rooms:app"),
    "bookings": LazyCommand("compax_cli.bookings:app"),
    "conflicts": LazyCommand("compax_cli.conflicts:app"),
    "users": LazyCommand("compax_cli.users:app"),
    "blackouts": LazyCommand("compax_cli.blackouts:app"),
    "import": LazyCommand("compax_cli.importing:app"),
    "export": LazyCommand("compax_cli.exporting:app"),
    "server": LazyCommand("compax_server.cli:server_app"),
}


class LazyCommands(MutableMapping[str, "Command"]):
    """A group's commands by name; a ``LazyCommand`` is built the first time it is read."""

    def __init__(self, entries: Mapping[str, Command | LazyCommand]) -> None:
        self._entries = dict(entries)

    def __getitem__(self, name: str) -> Command:
        entry = self._entries[name]
        if isinstance(entry, LazyCommand):
            entry = self._entries[name] = entry.load(name)
        return entry

    def __setitem__(self, name: str, command: Command) -> None:
        self._entries[name] = command

    def __delitem__(self, name: str) -> None:
        del self._entries[name]

    def __iter__(self) -> Iterator[str]:
        return iter(self._entries)

    def __len__(self) -> int:
        return len(self._entries)


class LazyGroup(TyperGroup):
    """The ``compax`` group: the commands of ``COMMANDS``, each imported on first use."""

    def __init__(self, **settings: Any) -> None:
        super().__init__(**settings)
        self.commands = LazyCommands({**self.commands, **COMMANDS})


app = typer.Typer(
    name="compax",
    cls=LazyGroup,
    help="Compax books the rooms of a university campus, offline too.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
)


@app.callback()
def main(
    ctx: typer.Context,
    profile: Annotated[
        str | None,
        typer.Option(envvar="COMPAX_PROFILE", help="Named profile (server and user) to use."),
    ] = None,
) -> None:
    """Compax books the rooms of a university campus, offline too."""
    ctx.obj = {"profile": profile}


def run() -> None:
    app()
