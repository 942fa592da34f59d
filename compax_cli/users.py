"""``compax users``: list, add, change the role of, deactivate and reset the password of users
(administrators only; these talk to the server at once)."""

from __future__ import annotations

import sys
from typing import Annotated, Any

import typer

from compax_cli.context import administer, engine, validated
from compax_cli.options import ACTIVE, DEPARTMENT, JSON, ROLE
from compax_cli.output import emit, err
from sync.admin import Admin, new_password
from sync.schemas import PasswordReset, Role, UserCreate, UserQuery

app = typer.Typer(
    help="Manage users: list, add, set-role, deactivate, reset-password (administrators).",
    no_args_is_help=True,
)
PASSWORD_STDIN = Annotated[
    bool,
    typer.Option(
        "--password-stdin", help="Read the password from standard input; else one is generated."
    ),
]
USERNAME = Annotated[str, typer.Argument(help="The user's username.")]
COLUMNS = [
    ("username", "username"),
    ("name", "full_name"),
    ("role", "role"),
    ("department", "department"),
    ("year", "year_group"),
    ("email", "email"),
    ("active", "active"),
    ("sign-in", "auth_source"),
]


def _password(from_stdin: bool) -> tuple[str, bool]:
    """The password read from stdin, or a generated one (and whether it was generated)."""
    if from_stdin:
        return sys.stdin.readline().rstrip("\r\n"), False
    return new_password(), True


async def _set_role(admin: Admin, username: str, role: Role) -> dict[str, Any]:
    return await admin.set_role((await admin.user_named(username))["id"], role)


async def _deactivate(admin: Admin, username: str) -> None:
    await admin.deactivate_user((await admin.user_named(username))["id"])


async def _reset(admin: Admin, username: str, password: str) -> None:
    new = validated(PasswordReset, new_password=password)
    await admin.reset_password((await admin.user_named(username))["id"], new)


@app.command("list")
def list_users(
    ctx: typer.Context,
    role: ROLE = None,
    department: DEPARTMENT = None,
    active: ACTIVE = None,
    limit: Annotated[int, typer.Option(min=1, max=500, help="Users per page.")] = 50,
    cursor: Annotated[str | None, typer.Option(help="The page after this cursor.")] = None,
    as_json: JSON = False,
) -> None:
    """List users, a page at a time (the next page's --cursor is printed on stderr).

    Example: compax users list --role staff --department Physics
    """
    with engine(ctx) as compax:
        query = validated(
            UserQuery, role=role, department=department, active=active, limit=limit, cursor=cursor
        )
        page = administer(compax, lambda admin: admin.users_page(query))
        emit(page["items"], COLUMNS, as_json)
        if page["next_cursor"]:
            err.print(f"more: compax users list --cursor {page['next_cursor']}")


@app.command()
def add(
    ctx: typer.Context,
    username: USERNAME,
    role: Annotated[Role, typer.Option(help="The user's role.")] = Role.STUDENT,
    full_name: Annotated[str | None, typer.Option(help="Full name.")] = None,
    email: Annotated[str | None, typer.Option(help="Email address.")] = None,
    department: Annotated[str | None, typer.Option(help="Department.")] = None,
    year_group: Annotated[str | None, typer.Option(help="Year group (students).")] = None,
    password_stdin: PASSWORD_STDIN = False,
    as_json: JSON = False,
) -> None:
    """Add a user; without --password-stdin a password is generated and printed once.

    Example: compax users add kofi --role staff --full-name "Kofi Mensah" --department Physics
    """
    with engine(ctx) as compax:
        password, generated = _password(password_stdin)
        data = validated(
            UserCreate,
            username=username,
            role=role,
            full_name=full_name,
            email=email,
            department=department,
            year_group=year_group,
            password=password,
        )
        user = administer(compax, lambda admin: admin.add_user(data))
        if generated and as_json:
            user["password"] = password
        emit(user, COLUMNS, as_json)
        if generated and not as_json:
            sys.stdout.write(f"password: {password}\n")
        if generated:
            err.print("Give the user this password; it is not shown again")


@app.command("set-role")
def set_role(
    ctx: typer.Context,
    username: USERNAME,
    role: Annotated[Role, typer.Argument(help="The new role.")],
    as_json: JSON = False,
) -> None:
    """Change a user's role; it takes effect at their next request.

    Example: compax users set-role kofi exams_officer
    """
    with engine(ctx) as compax:
        emit(administer(compax, lambda admin: _set_role(admin, username, role)), COLUMNS, as_json)


@app.command()
def deactivate(ctx: typer.Context, username: USERNAME) -> None:
    """Deactivate a user: they can no longer sign in; their bookings stay.

    Example: compax users deactivate kofi
    """
    with engine(ctx) as compax:
        administer(compax, lambda admin: _deactivate(admin, username))
        err.print(f"Deactivated {username}")


@app.command("reset-password")
def reset_password(
    ctx: typer.Context, username: USERNAME, password_stdin: PASSWORD_STDIN = False
) -> None:
    """Set a new password for a user; without --password-stdin one is generated and printed.

    Example: compax users reset-password kofi
    """
    with engine(ctx) as compax:
        password, generated = _password(password_stdin)
        administer(compax, lambda admin: _reset(admin, username, password))
        if generated:
            sys.stdout.write(password + "\n")
        err.print(f"New password set for {username}; they are signed out everywhere")
