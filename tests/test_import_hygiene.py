"""Import hygiene: the shared package and the CLI load no database or network stack when
imported, each checked in a fresh interpreter so that no other test's imports count."""

from __future__ import annotations

import pkgutil
import subprocess
import sys

import pytest

import compax_cli
import sync

#: What only the server, and a command while it talks to the server, may load.
SERVER_STACK = ("sqlalchemy", "sqlmodel", "aiohttp")
SHARED = sorted(f"sync.{module.name}" for module in pkgutil.iter_modules(sync.__path__))
CLI = sorted(
    f"compax_cli.{module.name}"
    for module in pkgutil.iter_modules(compax_cli.__path__)
    if module.name != "__main__"
)


def loaded_by(modules: list[str], watched: tuple[str, ...]) -> list[str]:
    """Which of ``watched`` a fresh interpreter holds after importing ``modules``."""
    code = (
        "import importlib, sys\n"
        f"for name in {modules!r}:\n"
        "    importlib.import_module(name)\n"
        f"print(' '.join(m for m in {watched!r} if m in sys.modules))\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=False
    )
    assert result.returncode == 0, result.stderr
    return result.stdout.split()


def test_the_named_contract_modules_load_no_server_stack() -> None:
    """The contract and the client core: schemas, protocol, rules, errors, permissions,
    engine and reads, with the CLI's main module."""
    modules = [
        "sync.schemas",
        "sync.protocol",
        "sync.rules",
        "sync.errors",
        "sync.permissions",
        "sync.engine",
        "sync.reads",
        "compax_cli.main",
    ]
    assert loaded_by(modules, SERVER_STACK) == []


def test_no_module_of_sync_loads_the_server_stack_or_a_front_end() -> None:
    """``sync/`` imports neither the server nor Typer nor Textual, and aiohttp only when it
    first connects (``sync.http``)."""
    watched = (*SERVER_STACK, "compax_server", "compax_cli", "compax_tui", "typer", "textual")
    assert loaded_by(SHARED, watched) == []


@pytest.mark.parametrize("module", CLI)
def test_cli_modules_load_no_server_stack_nor_textual(module: str) -> None:
    """A CLI command's module leaves the server stack, and Textual, to the commands that
    need them."""
    assert loaded_by([module], (*SERVER_STACK, "textual")) == []


def test_status_reads_the_local_state_without_the_engine() -> None:
    """``compax status`` only reports what the profile's files say, so it loads neither the
    engine, the schemas, nor sqlite-utils (its start time is part of its contract)."""
    watched = ("sync.engine", "sync.schemas", "sync.reads", "sqlite_utils", *SERVER_STACK)
    assert loaded_by(["compax_cli.main", "compax_cli.status"], watched) == []


def test_room_lookups_read_the_replica_without_the_engine() -> None:
    """``compax rooms list`` and ``show`` read the replica file with the standard library, so
    they load neither the engine, the judge, the schemas, sqlite-utils nor asyncio."""
    watched = (
        "sync.engine",
        "sync.judge",
        "sync.schemas",
        "sync.reads",
        "sqlite_utils",
        "asyncio",
        *SERVER_STACK,
    )
    assert loaded_by(["compax_cli.main", "compax_cli.room_lookups"], watched) == []
