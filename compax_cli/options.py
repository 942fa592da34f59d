"""Options that several commands take, declared once so that they read and behave alike."""

from __future__ import annotations

from typing import Annotated

import typer

from sync.permissions import Role

JSON = Annotated[bool, typer.Option("--json", help="Print JSON for scripts.")]

#: The user filters of ``compax users list`` and ``compax export users``.
ROLE = Annotated[Role | None, typer.Option(help="Only this role.")]
DEPARTMENT = Annotated[str | None, typer.Option(help="Only this department.")]
ACTIVE = Annotated[
    bool | None, typer.Option("--active/--inactive", help="Only active or inactive users.")
]
