"""The application factory: ``create_app(settings)`` builds everything, nothing at import."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator
from datetime import timedelta

from aiohttp import web

from compax_server.db import Database
from compax_server.keys import (
    ACCESS_TOKENS,
    BOOKING_POLICY,
    DATABASE,
    ENDPOINTS,
    FEED_TOKENS,
    PASSWORDS,
    SETTINGS,
    SIGN_IN,
)
from compax_server.middleware import MIDDLEWARES
from compax_server.ratelimit import FailureLimiter
from compax_server.routes import ROUTE_TABLES
from compax_server.security import ACCESS_TOKEN_SALT, Passwords, Tokens
from compax_server.services.calendars import feed_tokens
from compax_server.services.policy import BookingPolicy
from compax_server.services.sync import compact
from compax_server.services.users import SignIn
from compax_server.settings import Settings

log = logging.getLogger("compax.server")


def create_app(settings: Settings) -> web.Application:
    """A ready-to-run application; the database opens on startup and closes on cleanup."""
    app = web.Application(client_max_size=settings.max_body_bytes)
    app[SETTINGS] = settings
    app[BOOKING_POLICY] = BookingPolicy.from_settings(settings)
    setup_middlewares(app)
    setup_routes(app)
    app.cleanup_ctx.append(_database)
    app.cleanup_ctx.append(_compaction)
    return app


def setup_middlewares(app: web.Application) -> None:
    app.middlewares.extend(MIDDLEWARES)


def setup_routes(app: web.Application) -> None:
    for table in ROUTE_TABLES:
        table.setup(app)
    app[ENDPOINTS] = [endpoint for table in ROUTE_TABLES for endpoint in table.endpoints]


async def _database(app: web.Application) -> AsyncIterator[None]:
    settings = app[SETTINGS]
    database = Database(
        settings.effective_database_url,
        pool_size=settings.db_pool_size,
        max_overflow=settings.db_max_overflow,
    )
    passwords = Passwords(settings)
    tokens = Tokens(settings.secret_keys, ACCESS_TOKEN_SALT, settings.token_lifetime_seconds)
    window = settings.login_window_seconds
    app[DATABASE] = database
    app[PASSWORDS] = passwords
    app[ACCESS_TOKENS] = tokens
    app[FEED_TOKENS] = feed_tokens(settings.secret_keys)
    app[SIGN_IN] = SignIn(
        database,
        passwords,
        tokens,
        by_username=FailureLimiter(settings.login_attempts_per_username, window),
        by_address=FailureLimiter(settings.login_attempts_per_address, window),
    )
    yield
    await database.dispose()


async def _compaction(app: web.Application) -> AsyncIterator[None]:
    """Compact the change log now and then, for as long as the app runs."""
    settings = app[SETTINGS]
    retention = timedelta(days=settings.sync_retention_days)

    async def loop() -> None:
        while True:
            await asyncio.sleep(settings.sync_compact_interval_seconds)
            try:
                removed = await compact(app[DATABASE], retention)
            except Exception:
                log.exception("change log compaction failed; will try again")
            else:
                if removed:
                    log.info("compaction removed %d tombstones", removed)

    task = asyncio.create_task(loop())
    yield
    task.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await task
