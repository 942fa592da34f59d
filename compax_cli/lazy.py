"""Commands imported only when they run: a command's module is loaded, and its click command
built, the first time the command is used (or listed by a help page), so that a command pays
neither for the other commands' modules nor for an engine it does not need."""

from __future__ import annotations

import importlib
from collections.abc import Iterator, Mapping, MutableMapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

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


@dataclass(frozen=True)
class LazySubcommands:
    """A group of commands (``compax rooms …``) whose commands live in several modules, each
    imported only when one of its commands runs."""

    help: str
    commands: dict[str, LazyCommand] = field(default_factory=dict)

    def load(self, name: str) -> Command:
        """The click group ``name`` with its commands still unloaded."""
        group = typer.Typer(cls=lazy_group(self.commands), help=self.help, no_args_is_help=True)
        holder = typer.Typer()
        holder.add_typer(group, name=name)
        return typer.main.get_group(holder).commands[name]


class LazyCommands(MutableMapping[str, "Command"]):
    """A group's commands by name; a lazy entry is built the first time it is read."""

    def __init__(self, entries: Mapping[str, Command | LazyCommand | LazySubcommands]) -> None:
        self._entries = dict(entries)

    def __getitem__(self, name: str) -> Command:
        entry = self._entries[name]
        if isinstance(entry, LazyCommand | LazySubcommands):
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


def lazy_group(commands: Mapping[str, LazyCommand | LazySubcommands]) -> type[TyperGroup]:
    """A click group class whose commands are ``commands``, each imported on first use."""

    class LazyGroup(TyperGroup):
        def __init__(self, **settings: Any) -> None:
            super().__init__(**settings)
            self.commands = LazyCommands({**self.commands, **commands})

    return LazyGroup
