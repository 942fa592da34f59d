"""How the CLI speaks: data on stdout (a table for people, ``--json`` for scripts), one line
on stderr for every expected failure, and documented exit codes."""

from __future__ import annotations

import json
import re
import sys
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from datetime import UTC, datetime
from typing import Any
from zoneinfo import ZoneInfo

import typer
from rich.console import Console
from rich.table import Table

from sync.errors import CompaxError, NotAuthenticated, Unreachable, ValidationFailed

#: Exit codes, also in docs/cli.md.
REFUSED = 1
USAGE = 2
UNREACHABLE = 3
SIGN_IN = 4
#: Stopped with Ctrl-C while waiting (the shell's code for SIGINT).
INTERRUPTED = 130

#: What a command that needs a signed-in profile says to one that is not.
SIGN_IN_FIRST = "Sign in first: compax login"

#: An instant as JSON text may hold it (with a time zone offset or ``Z``).
_INSTANT = re.compile(r"\d{4}-\d\d-\d\d[T ]\d\d:\d\d(:\d\d(\.\d+)?)?(Z|[+-]\d\d:\d\d)")

err = Console(stderr=True, soft_wrap=True)
out = Console(soft_wrap=True)


@contextmanager
def reported() -> Iterator[None]:
    """Turn every expected failure into one line on stderr and its exit code."""
    try:
        yield
    except Unreachable as error:
        err.print(f"[red]offline:[/] {error.detail}; your changes stay queued")
        raise typer.Exit(UNREACHABLE) from None
    except NotAuthenticated as error:
        err.print(f"[red]error:[/] {error.detail}")
        raise typer.Exit(SIGN_IN) from None
    except ValidationFailed as error:
        for problem in error.errors:
            err.print(f"[red]error:[/] {problem.field}: {problem.message}")
        raise typer.Exit(USAGE) from None
    except CompaxError as error:
        if error.type == "unauthorized":
            err.print(f"[red]error:[/] {error.detail}; sign in again: compax login")
            raise typer.Exit(SIGN_IN) from None
        if error.type == "validation":
            for problem in error.extra.get("errors") or [
                {"field": "input", "message": error.detail}
            ]:
                err.print(f"[red]error:[/] {problem['field']}: {problem['message']}")
            raise typer.Exit(USAGE) from None
        err.print(f"[red]refused ({error.type}):[/] {error.detail}")
        raise typer.Exit(REFUSED) from None


@contextmanager
def online(consequence: str) -> Iterator[None]:
    """For work that needs the server: an unreachable one is one line saying what that means."""
    try:
        yield
    except Unreachable as error:
        err.print(f"[red]offline:[/] {error.detail}; {consequence}")
        raise typer.Exit(UNREACHABLE) from None


def local(value: str | datetime | None, zone: ZoneInfo) -> str:
    """An instant as campus local time for people (``Wed 25 Nov 10:00``)."""
    if value is None:
        return ""
    moment = (
        datetime.fromisoformat(value.replace("Z", "+00:00")) if isinstance(value, str) else value
    )
    return f"{moment.astimezone(zone):%a %d %b %Y %H:%M}"


def rfc3339(moment: datetime) -> str:
    """An instant in the one form ``--json`` prints: UTC, ``Z``, to the second
    (``2026-11-25T10:00:00Z``), with a fraction only where the instant has one."""
    return f"{moment.astimezone(UTC).replace(tzinfo=None).isoformat()}Z"


def _json_times(value: Any, key: str = "") -> Any:
    """``value`` with every instant in it as ``rfc3339`` writes it: a ``datetime``, or the
    text of a time field (``start``, ``end``, ``…_at``, ``last_sync``); other text, titles
    included, is left as it is."""
    if isinstance(value, dict):
        return {name: _json_times(item, name) for name, item in value.items()}
    if isinstance(value, list | tuple):
        return [_json_times(item, key) for item in value]
    if isinstance(value, datetime) and value.tzinfo is not None:
        return rfc3339(value)
    if isinstance(value, str) and _is_time_field(key) and _INSTANT.fullmatch(value):
        return rfc3339(datetime.fromisoformat(value.replace("Z", "+00:00")))
    return value


def _is_time_field(key: str) -> bool:
    return key in ("start", "end", "last_sync") or key.endswith("_at")


def more_than_shown(what: str, how: str) -> None:
    """Say on stderr that a list stopped at its limit, and how to see the rest."""
    err.print(f"more {what} than shown: {how}")


def emit(
    rows: Sequence[dict[str, Any]] | dict[str, Any],
    columns: Sequence[tuple[str, str]],
    as_json: bool,
) -> None:
    """Print ``rows`` as JSON (times as ``rfc3339`` writes them) or as a table of ``columns``
    (header, key)."""
    if as_json:
        sys.stdout.write(json.dumps(_json_times(rows), default=str) + "\n")
        return
    items = [rows] if isinstance(rows, dict) else list(rows)
    if not items:
        err.print("nothing to show")
        return
    table = Table(show_edge=False, pad_edge=False)
    for header, _ in columns:
        table.add_column(header)
    for item in items:
        table.add_row(
            *(str(item.get(key, "")) if item.get(key) is not None else "" for _, key in columns)
        )
    out.print(table)
