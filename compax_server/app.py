"""The application factory: ``create_app(settings)`` builds everything, nothing at import."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator
from datetime import timedelta

from aiohttp import web

from compax_server.auth import UserLookup
from compax_server.cache import ReadCache
from compax_server.connection import drop_server_header
from compax_server.db import Database
from compax_server.directory.ldap import ldap_directory
from compax_server.directory.oidc import OpenIdProvider
from compax_server.jobs.queue import JobContext
from compax_server.jobs.worker import Worker
from compax_server.keys import (
    ACCESS_TOKENS,
    BOOKING_LINKS,
    BOOKING_POLICY,
    BOOKING_WRITER,
    DATABASE,
    ENDPOINTS,
    FEED_TOKENS,
    METRICS,
    OPENID,
    PASSWORDS,
    READ_CACHE,
    REDIS,
    SETTINGS,
    SIGN_IN,
    USER_LOOKUP,
)
from compax_server.links import BookingLinks
from compax_server.mail import mail_status
from compax_server.metrics import Metrics
from compax_server.middleware import MIDDLEWARES
from compax_server.ratelimit import sign_in_limits
from compax_server.redis_link import RedisLink
from compax_server.routes import ROUTE_TABLES
from compax_server.security import ACCESS_TOKEN_SALT, Passwords, Tokens
from compax_server.services.booking_writer import BookingWriter
from compax_server.services.calendars import feed_tokens
from compax_server.services.policy import BookingPolicy
from compax_server.services.sign_in import SignIn
from compax_server.services.sync import compact
from compax_server.settings import JobsMode, Settings

log = logging.getLogger("compax.server")


def create_app(settings: Settings) -> web.Application:
    """A ready-to-run application; the database opens on startup and closes on cleanup."""
    app = web.Application(client_max_size=settings.max_body_bytes)
    app[SETTINGS] = settings
    app[BOOKING_POLICY] = BookingPolicy.from_settings(settings)
    app[METRICS] = Metrics()
    setup_middlewares(app)
    setup_routes(app)
    app.cleanup_ctx.append(_redis)
    app.cleanup_ctx.append(_database)
    app.cleanup_ctx.append(_openid)
    app.cleanup_ctx.append(_compaction)
    app.cleanup_ctx.append(_jobs)
    app.on_startup.append(_say_where_mail_goes)
    return app


async def _say_where_mail_goes(app: web.Application) -> None:
    """One line at start: where notifications are mailed, or that mail is off and how to turn
    it on."""
    log.info("%s", mail_status(app[SETTINGS]))


def setup_middlewares(app: web.Application) -> None:
    app.middlewares.extend(MIDDLEWARES)
    app.on_response_prepare.append(drop_server_header)


def setup_routes(app: web.Application) -> None:
    for table in ROUTE_TABLES:
        table.setup(app)
    app[ENDPOINTS] = [endpoint for table in ROUTE_TABLES for endpoint in table.endpoints]


async def _redis(app: web.Application) -> AsyncIterator[None]:
    """The Redis that workers share, when ``COMPAX_REDIS_URL`` names one; closed at the end."""
    settings = app[SETTINGS]
    link = RedisLink(settings.redis_url, settings.redis_prefix) if settings.redis_url else None
    app[REDIS] = link
    yield
    if link is not None:
        await link.close()


async def _database(app: web.Application) -> AsyncIterator[None]:
    """The database and what is built on it; the pool is closed once requests have finished."""
    settings = app[SETTINGS]
    database = Database(
        settings.effective_database_url,
        pool_size=settings.db_pool_size,
        max_overflow=settings.db_max_overflow,
    )
    passwords = Passwords(settings)
    tokens = Tokens(settings.secret_keys, ACCESS_TOKEN_SALT, settings.token_lifetime_seconds)
    redis, metrics = app[REDIS], app[METRICS]
    if not database.is_sqlite:
        metrics.pool_capacity.set(settings.db_pool_size + settings.db_max_overflow)
    app[DATABASE] = database
    app[PASSWORDS] = passwords
    app[ACCESS_TOKENS] = tokens
    app[FEED_TOKENS] = feed_tokens(settings.secret_keys, settings.calendar_feed_lifetime_days)
    app[BOOKING_LINKS] = BookingLinks(settings.secret_keys, settings.links_base_url)
    directory = ldap_directory(settings)
    app[SIGN_IN] = SignIn(
        database,
        passwords,
        tokens,
        sign_in_limits(settings, redis),
        settings,
        directory,
    )
    app[READ_CACHE] = ReadCache(
        settings.read_cache_megabytes * 1024 * 1024,
        settings.read_cache_ttl_seconds,
        metrics,
        redis,
    )
    app[USER_LOOKUP] = UserLookup(database)
    app[BOOKING_WRITER] = BookingWriter(database, app[BOOKING_POLICY])
    yield
    await app[BOOKING_WRITER].close()
    await app[USER_LOOKUP].close()
    if directory is not None:
        directory.close()
    await database.dispose()


async def _openid(app: web.Application) -> AsyncIterator[None]:
    """The campus OpenID provider, when ``COMPAX_OIDC_ISSUER`` names one; its connections are
    closed at the end."""
    settings = app[SETTINGS]
    provider = OpenIdProvider(settings) if settings.oidc_issuer else None
    app[OPENID] = provider
    yield
    if provider is not None:
        await provider.close()


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


def job_context(app: web.Application) -> JobContext:
    """What the app's jobs work with: its database, settings and booking policy (its clock)."""
    return JobContext(app[DATABASE], app[SETTINGS], app[BOOKING_POLICY])


async def _jobs(app: web.Application) -> AsyncIterator[None]:
    """Carry out jobs in this process, unless ``COMPAX_JOBS=external`` leaves them to
    ``compax worker`` processes; at shutdown the running jobs get the shutdown timeout."""
    settings = app[SETTINGS]
    if settings.jobs is JobsMode.EXTERNAL:
        yield
        return
    worker = Worker(lambda: job_context(app))
    task = asyncio.create_task(worker.run(settings.shutdown_timeout_seconds))
    yield
    worker.stop()
    await task
