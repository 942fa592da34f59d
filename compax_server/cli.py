"""``compax server …``: run, migrate and bootstrap a Compax server.

These are the server's own operator commands, so they may open its database; the rest of
the ``compax`` CLI talks to the server over HTTP only.
"""

from __future__ import annotations

import asyncio
import ssl
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer
from pydantic import ValidationError
from rich.console import Console

from sync.errors import field_errors

if TYPE_CHECKING:  # the commands import these only when they run
    from compax_server.db import Database
    from compax_server.jobs.queue import JobContext
    from compax_server.settings import Settings

err = Console(stderr=True, soft_wrap=True)
server_app = typer.Typer(
    help="Run and administer a Compax server (settings come from COMPAX_* variables).",
    no_args_is_help=True,
)


def _settings(*, signs_tokens: bool = False, **flags: Any) -> Settings:
    """Settings from the environment and flags, or a clear message and exit code 2.

    Outside production mode a server that signs tokens without ``COMPAX_SECRET_KEYS`` uses a
    key made once in the data directory, also on a database of its own (a development server):
    every process on this machine shares it, and a note says what to set for more machines.
    Production mode refuses to start without keys (``Settings``)."""
    from compax_server.settings import SECRET_KEY_FILE, Settings

    # Settings validates each value, as it does the environment's strings.
    overrides: dict[str, Any] = {k: v for k, v in flags.items() if v is not None}
    try:
        settings = Settings(**overrides)
    except ValidationError as exc:
        for error in field_errors(exc):
            name = "COMPAX_" + error.field.upper() if error.field != "body" else "settings"
            err.print(f"[red]error:[/] {name}: {error.message}")
        raise typer.Exit(2) from None
    if settings.secret_keys or (settings.database_url and not signs_tokens):
        return settings
    try:
        keyed = settings.with_embedded_secret()
    except (OSError, ValueError) as exc:
        err.print(f"[red]error:[/] {exc}")
        raise typer.Exit(2) from None
    if settings.database_url:
        err.print(
            "[yellow]note:[/] COMPAX_SECRET_KEYS is not set, so tokens are signed with the key "
            f"in {settings.data_dir / SECRET_KEY_FILE}; servers on other machines sharing this "
            "database need COMPAX_SECRET_KEYS set to one key they all share (production mode "
            "requires it)"
        )
    return keyed


async def _ready_database(settings: Settings) -> Database:
    """The database, migrated if embedded; a production database must be migrated explicitly."""
    from compax_server.db import Database

    database = Database(settings.effective_database_url)
    if not settings.database_url:
        await database.migrate()
        return database
    current, head = await database.schema_revision()
    if current != head:
        await database.dispose()
        err.print(
            f"[red]error:[/] the database schema is at {current or 'nothing'}, this Compax "
            f"needs {head}; run `compax server migrate` first"
        )
        raise typer.Exit(1)
    return database


@server_app.command()
def run(
    host: Annotated[
        str | None, typer.Option(help="Address to listen on [env COMPAX_HOST].")
    ] = None,
    port: Annotated[int | None, typer.Option(help="Port to listen on [env COMPAX_PORT].")] = None,
    workers: Annotated[
        int | None,
        typer.Option(help="Server processes sharing the port [env COMPAX_WORKERS; default 1]."),
    ] = None,
    certfile: Annotated[
        Path | None,
        typer.Option(help="PEM certificate chain: serve HTTPS [env COMPAX_CERTFILE]."),
    ] = None,
    keyfile: Annotated[
        Path | None, typer.Option(help="PEM private key of --certfile [env COMPAX_KEYFILE].")
    ] = None,
) -> None:
    """Serve the API. With no COMPAX_DATABASE_URL, uses (and creates) a SQLite file.

    SIGTERM stops it gracefully: no new connections, requests in flight finish.

    Example: compax server run --host 0.0.0.0 --port 8080 --workers 2
    """
    from compax_server import serve
    from compax_server.logs import configure_logging

    settings = _settings(
        signs_tokens=True, host=host, port=port, workers=workers, certfile=certfile, keyfile=keyfile
    )
    configure_logging(settings.log_format, settings.log_level)

    async def check() -> None:
        database = await _ready_database(settings)
        await database.dispose()

    asyncio.run(check())
    where = settings.database_url and settings.effective_database_url.split("@")[-1]
    scheme = "https" if settings.certfile else "http"
    processes = f", {settings.workers} workers" if settings.workers > 1 else ""
    err.print(
        f"Compax on [bold]{scheme}://{settings.host}:{settings.port}[/] "
        f"(database: {where or settings.data_dir / 'compax.sqlite3'}{processes}); "
        "Ctrl+C stops it"
    )
    try:
        status = serve.run(settings)
    except (OSError, ssl.SSLError) as exc:
        err.print(f"[red]error:[/] cannot serve on {settings.host}:{settings.port}: {exc}")
        raise typer.Exit(1) from None
    raise typer.Exit(status)


def worker(
    concurrency: Annotated[
        int | None,
        typer.Option(help="Jobs carried out at once (env COMPAX_JOBS_CONCURRENCY, default 4)."),
    ] = None,
) -> None:
    """Carry out jobs (mail, releases, reminders, expiries) for the servers of this database.

    Run one or more beside servers started with COMPAX_JOBS=external.
    Each job, scheduled ones too, is carried out once however many workers there are.
    SIGTERM or Ctrl+C stops a worker gracefully: it claims nothing more,
    lets running jobs finish (COMPAX_SHUTDOWN_TIMEOUT_SECONDS), and exits 0.

    Example: COMPAX_DATABASE_URL=postgresql://compax@db/compax compax worker --concurrency 8
    """
    import compax_server.routes  # noqa: F401 (the modules that register job handlers)
    from compax_server.jobs.queue import JobContext
    from compax_server.logs import configure_logging
    from compax_server.services.policy import BookingPolicy

    settings = _settings(signs_tokens=True, jobs_concurrency=concurrency)
    configure_logging(settings.log_format, settings.log_level)

    async def work() -> None:
        database = await _ready_database(settings)
        context = JobContext(database, settings, BookingPolicy.from_settings(settings))
        try:
            if database.is_sqlite:
                await _work_alone(context)
            else:
                await _work_through_procrastinate(context)
        finally:
            await database.dispose()

    where = settings.database_url and settings.effective_database_url.split("@")[-1]
    err.print(
        f"Compax worker on {where or settings.data_dir / 'compax.sqlite3'}, "
        f"{settings.jobs_concurrency} jobs at once; Ctrl+C stops it"
    )
    asyncio.run(work())
    err.print("Compax worker stopped")


async def _work_alone(context: JobContext) -> None:
    """Carry out jobs with Compax's own runner (SQLite) until SIGTERM or SIGINT."""
    import signal

    from compax_server.jobs.worker import Worker

    running = Worker(lambda: context)
    loop = asyncio.get_running_loop()
    for stop_signal in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(stop_signal, running.stop)
    await running.run(context.settings.shutdown_timeout_seconds)


async def _work_through_procrastinate(context: JobContext) -> None:
    """Carry out jobs through procrastinate (Postgres) until SIGTERM or SIGINT."""
    from compax_server.jobs.relay import QueueMissing, work

    try:
        await work(context)
    except QueueMissing as exc:
        err.print(f"[red]error:[/] {exc}")
        raise typer.Exit(1) from None


@server_app.command()
def migrate() -> None:
    """Bring the database schema up to date (run once per upgrade, before starting servers).

    Example: COMPAX_DATABASE_URL=postgresql://compax@db/compax compax server migrate
    """
    from compax_server.db import Database

    settings = _settings()

    async def upgrade() -> str | None:
        database = Database(settings.effective_database_url)
        try:
            await database.migrate()
            if not database.is_sqlite:
                from compax_server.jobs.relay import install_queue

                if await install_queue(settings.effective_database_url):
                    err.print("Created the job queue's tables (procrastinate)")
            return (await database.schema_revision())[0]
        finally:
            await database.dispose()

    err.print(f"Database schema at revision {asyncio.run(upgrade())}")


@server_app.command("check-sso")
def check_sso(
    username: Annotated[
        str | None, typer.Option(help="Also try this person's sign-in, and show their groups.")
    ] = None,
    password_stdin: Annotated[
        bool,
        typer.Option("--password-stdin", help="Read their LDAP password from standard input."),
    ] = False,
) -> None:
    """Try the campus sign-in configuration (COMPAX_OIDC_*, COMPAX_LDAP_*) and say what is
    wrong in words; exit 1 if anything failed.

    Example: compax server check-sso --username ama --password-stdin < password.txt
    """
    from compax_server.directory.checks import Outcome, check_sign_in

    settings = _settings()
    password = sys.stdin.readline().rstrip("\r\n") if password_stdin else None
    findings = asyncio.run(check_sign_in(settings, username, password))
    marks = {Outcome.OK: "[green]ok[/]", Outcome.WARNING: "[yellow]warning[/]"}
    for finding in findings:
        mark = marks.get(finding.outcome, "[red]failed[/]")
        err.print(f"{mark:>18} {finding.what}: {finding.detail}", highlight=False)
    if any(finding.outcome is Outcome.FAILED for finding in findings):
        raise typer.Exit(1)


@server_app.command("create-admin")
def create_admin(
    username: Annotated[str, typer.Option(help="The new administrator's username.")],
    password_stdin: Annotated[
        bool, typer.Option("--password-stdin", help="Read the password from standard input.")
    ] = False,
    full_name: Annotated[str, typer.Option(help="Shown in the apps.")] = "",
    email: Annotated[str | None, typer.Option(help="Contact address.")] = None,
) -> None:
    """Create an administrator directly in the server's database (the first one, usually).

    Example: printf '%s' "$ADMIN_PASSWORD" | compax server create-admin --username root --password-stdin
    """  # noqa: E501 (typer shows the docstring's lines as they are: the example stays one line)
    from compax_server.security import Passwords
    from compax_server.services.users import create_user
    from sync.errors import CompaxError, ValidationFailed
    from sync.permissions import Role
    from sync.schemas import UserCreate

    if password_stdin:
        password = sys.stdin.readline().rstrip("\r\n")
    elif sys.stdin.isatty():
        password = typer.prompt("Password", hide_input=True, confirmation_prompt=True)
    else:
        err.print("[red]error:[/] standard input is not a terminal; pass --password-stdin")
        raise typer.Exit(2)
    settings = _settings()
    try:
        data = UserCreate(
            username=username, password=password, full_name=full_name, email=email, role=Role.ADMIN
        )
    except ValidationError as exc:
        for error in field_errors(exc):
            err.print(f"[red]error:[/] {error.field}: {error.message}")
        raise typer.Exit(2) from None

    async def create() -> None:
        database = await _ready_database(settings)
        try:
            password_hash = await Passwords(settings).hash(data.password)
            async with database.write() as session:
                await create_user(session, data, password_hash)
        finally:
            await database.dispose()

    try:
        asyncio.run(create())
    except (ValidationFailed, CompaxError) as exc:
        err.print(f"[red]error:[/] {exc.detail}")
        raise typer.Exit(1) from None
    err.print(f"Created administrator [bold]{data.username}[/]")
