"""``compax managers``: who manages which building, and granting and revoking it
(administrators grant; a building's managers may list theirs; these talk to the server at
once)."""

from __future__ import annotations

from typing import Annotated

import typer

from compax_cli.context import administer, engine
from compax_cli.options import JSON
from compax_cli.output import emit, err
from sync.managing import Managers

app = typer.Typer(
    help="Building managers: list, add, remove (administrators; managers list their own).",
    no_args_is_help=True,
)
BUILDING = Annotated[str, typer.Argument(help="The building's code, e.g. PB.")]
USERNAME = Annotated[str, typer.Argument(help="The user's username.")]
COLUMNS = [
    ("username", "username"),
    ("name", "full_name"),
    ("active", "active"),
    ("since", "created_at"),
]


@app.command("list")
def list_managers(ctx: typer.Context, building: BUILDING, as_json: JSON = False) -> None:
    """List the managers of a building.

    Example: compax managers list PB
    """
    with engine(ctx) as compax:
        found = administer(compax, lambda admin: Managers(admin.engine).list_named(building))
        emit(found, COLUMNS, as_json)


@app.command()
def add(ctx: typer.Context, building: BUILDING, username: USERNAME) -> None:
    """Make a user a manager of a building: they manage its rooms and closures, approve its
    requests and read its reports and audit trail. Again is harmless.

    Example: compax managers add PB alice
    """
    with engine(ctx) as compax:
        administer(compax, lambda admin: Managers(admin.engine).add_named(building, username))
        err.print(f"{username} now manages {building.upper()}")


@app.command()
def remove(ctx: typer.Context, building: BUILDING, username: USERNAME) -> None:
    """Stop a user managing a building. Again is harmless.

    Example: compax managers remove PB alice
    """
    with engine(ctx) as compax:
        administer(compax, lambda admin: Managers(admin.engine).remove_named(building, username))
        err.print(f"{username} no longer manages {building.upper()}")
